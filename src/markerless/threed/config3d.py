"""The 3D project: a folder with a ``config.yaml`` in DeepLabCut 3D's layout plus markerless' own keys.

DeepLabCut 3D keys (kept so the file opens in both tools): ``Task``, ``scorer``, ``date``,
``project_path``, ``num_cameras``, ``camera_names``, ``scorername_3d``, ``pcutoff``, ``skeleton``,
``config_file_<camera>``, ``shuffle_<camera>``, ``trainingsetindex_<camera>`` and plot settings.
markerless adds::

    pcutoff_<camera>: 0.2                       # cut-off of one camera's 2D scores (default: pcutoff)
    pcutoff_sleap: 0.2                          # cut-off of SLEAP .slp files (their scores are not likelihoods)

    calibration_board: {kind: checkerboard, rows: 6, cols: 9, square_size: 30.0, unit: mm}   # or kind: charuco
                                                # (with dictionary: DICT_4X4_50)
    calibration_images: calibration_images      # folder of images/videos named after the cameras
    calibration_file: calibration.toml          # written by `markerless calibrate`
    calibration_every: 5                        # look at every n-th frame of calibration videos
    triangulation: {ransac_threshold: 20.0, smooth: null, min_views: 2}

Paths are relative to the project folder (absolute ones are used as they are).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markerless.errors import ConfigError
from markerless.io.dlc import read_config, write_config
from markerless.threed.boards import Board
from markerless.threed.naming import match_camera, without_camera

DEFAULT_TRIANGULATION = {"ransac_threshold": 20.0, "smooth": None, "min_views": 2}


@dataclass
class Config3D:
    """A loaded 3D project config."""

    path: Path
    data: dict[str, Any]

    @property
    def root(self) -> Path:
        """The project folder (where ``config.yaml`` lives)."""
        return self.path.parent

    @property
    def camera_names(self) -> list[str]:
        """Camera names in order."""
        return [str(c) for c in self.data["camera_names"]]

    def resolve(self, value: str | os.PathLike[str]) -> Path:
        """A path from the config: relative ones are taken from the project folder."""
        p = Path(value)
        return p if p.is_absolute() else self.root / p

    @property
    def board(self) -> Board:
        """The calibration board."""
        spec = dict(self.data.get("calibration_board") or {})
        try:
            return Board(**spec)
        except TypeError as err:
            raise ConfigError(
                f"calibration_board in {self.path} has an unknown key ({err}); use kind, rows, cols, "
                "square_size, marker_size, dictionary, legacy_pattern, unit."
            ) from None

    @property
    def calibration_path(self) -> Path:
        """Where the calibration is (to be) saved."""
        return self.resolve(self.data.get("calibration_file") or "calibration.toml")

    @property
    def calibration_images(self) -> Path:
        """Folder of calibration images or videos."""
        return self.resolve(self.data.get("calibration_images") or "calibration_images")

    @property
    def cache_dir(self) -> Path:
        """Folder of cached board detections."""
        return self.root / "calibration_cache"

    @property
    def pcutoff(self) -> float:
        """Likelihood below which a 2D point is not triangulated."""
        return self._number("pcutoff", 0.4)

    def pcutoff_for(self, camera: str, suffix: str = ".h5") -> float:
        """The cut-off for one camera's 2D file: ``pcutoff_<camera>``, else ``pcutoff_sleap`` for SLEAP ``.slp``
        files (SLEAP scores are not likelihoods and can exceed 1), else ``pcutoff``."""
        if f"pcutoff_{camera}" in self.data:
            return self._number(f"pcutoff_{camera}", 0.4)
        if suffix == ".slp" and "pcutoff_sleap" in self.data:
            return self._number("pcutoff_sleap", 0.4)
        return self.pcutoff

    def _number(self, key: str, default: float) -> float:
        value = self.data.get(key, default)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} in {self.path} is {value!r}; set it to a number (e.g. {key}: 0.4).") from None

    @property
    def scorer_3d(self) -> str:
        """Scorer name written into 3D files."""
        return str(self.data.get("scorername_3d") or "markerless_3D")

    @property
    def triangulation(self) -> dict[str, Any]:
        """Triangulation options (``ransac_threshold``, ``smooth``, ``min_views``)."""
        return {**DEFAULT_TRIANGULATION, **(self.data.get("triangulation") or {})}

    def project_config(self, camera: str) -> Path | None:
        """The 2D project (``config.yaml``) analysing ``camera``'s videos, when set."""
        value = self.data.get(f"config_file_{camera}")
        return self.resolve(value) if value else None

    def shuffle(self, camera: str) -> int:
        """The 2D shuffle used for ``camera``."""
        return int(self.data.get(f"shuffle_{camera}", 1))

    def save(self) -> None:
        """Write ``config.yaml`` back (atomically)."""
        write_config(self.data, self.path)


def load_config3d(config: str | os.PathLike[str]) -> Config3D:
    """Load a 3D project config (``config.yaml`` path or the project folder)."""
    path = Path(config)
    if path.is_dir():
        path = path / "config.yaml"
    data = read_config(path)
    names = data.get("camera_names")
    if not isinstance(names, list) or len(names) < 1:
        raise ConfigError(
            f"{path} has no camera_names list; is it a 3D project config? Add `camera_names: [cam1, cam2]`."
        )
    if len({str(n) for n in names}) != len(names):
        raise ConfigError(f"camera_names in {path} repeat a name: {names}.")
    return Config3D(path.resolve(), data)


def create_project_3d(
    task: str,
    experimenter: str,
    camera_names: list[str],
    working_directory: str | os.PathLike[str] | None = None,
    *,
    board: Board | None = None,
    project_configs: dict[str, str | os.PathLike[str]] | None = None,
    shuffles: dict[str, int] | None = None,
) -> Path:
    """Create ``<task>-<experimenter>-<date>-3d/`` with ``config.yaml`` and ``calibration_images/``; returns the config.

    Put the calibration images or videos (file names containing the camera names, e.g.
    ``cam1-01.jpg`` or ``calib_cam1.mp4``) into ``calibration_images/`` and run ``markerless calibrate``.
    """
    if len(camera_names) < 2:
        raise ConfigError(f"A 3D project needs at least two cameras; got {camera_names}.")
    if len(set(camera_names)) != len(camera_names):
        raise ConfigError(f"Camera names must be unique; got {camera_names}.")
    date = _dt.date.today().isoformat()
    root = Path(working_directory or ".").resolve() / f"{task}-{experimenter}-{date}-3d"
    if (root / "config.yaml").exists():
        raise ConfigError(f"A 3D project already exists at {root}; pick another task name or remove it.")
    (root / "calibration_images").mkdir(parents=True, exist_ok=True)
    board = board or Board()
    data: dict[str, Any] = {
        "Task": task,
        "scorer": experimenter,
        "date": date,
        "project_path": str(root),
        "num_cameras": len(camera_names),
        "camera_names": list(camera_names),
        "scorername_3d": "markerless_3D",
        "pcutoff": 0.4,
        "skeleton": [],
        "skeleton_color": "black",
        "colormap": "jet",
        "dotsize": 15,
        "alphaValue": 0.8,
        "markerType": "*",
        "markerColor": "r",
    }
    for cam in camera_names:
        cfg = (project_configs or {}).get(cam)
        data[f"config_file_{cam}"] = str(cfg) if cfg else None
        data[f"shuffle_{cam}"] = int((shuffles or {}).get(cam, 1))
        data[f"trainingsetindex_{cam}"] = 0
    data["calibration_board"] = board.to_dict()
    data["calibration_images"] = "calibration_images"
    data["calibration_file"] = "calibration.toml"
    data["calibration_every"] = 5
    data["triangulation"] = dict(DEFAULT_TRIANGULATION)
    path = root / "config.yaml"
    write_config(data, path)
    return path


__all__ = ["Config3D", "create_project_3d", "load_config3d", "match_camera", "without_camera"]
