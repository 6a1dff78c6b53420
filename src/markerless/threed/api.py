"""3D workflow on a 3D project: calibrate the cameras, triangulate per-camera 2D predictions."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from markerless.analysis.analyze import analyze
from markerless.errors import CalibrationError, ConfigError, LabelFileError, ProjectError
from markerless.io.atomic import atomic_path
from markerless.io.dlc import read_predictions
from markerless.io.video import VIDEO_SUFFIXES
from markerless.model.poses import Poses
from markerless.model.tables import array_to_frame
from markerless.threed.boards import IMAGE_SUFFIXES, Board, align_detections, detect_board
from markerless.threed.calibration import calibrate_cameras
from markerless.threed.calibration_io import load_calibration, save_calibration
from markerless.threed.config3d import Config3D, load_config3d, match_camera
from markerless.threed.triangulation import Triangulation
from markerless.threed.triangulation import triangulate as triangulate_points

ERROR_KEY = "reprojection_error"


def _board_with_overrides(
    cfg: Config3D,
    kind: str | None,
    rows: int | None,
    cols: int | None,
    square_size: float | None,
    marker_size: float | None,
    legacy_pattern: bool | None = None,
) -> Board:
    spec = dict(cfg.data.get("calibration_board") or {})
    for key, value in (
        ("kind", kind),
        ("rows", rows),
        ("cols", cols),
        ("square_size", square_size),
        ("marker_size", marker_size),
        ("legacy_pattern", legacy_pattern),
    ):
        if value is not None:
            spec[key] = value
    return Board(**spec)


def calibration_sources(cfg: Config3D) -> dict[str, list[Path]]:
    """Calibration images or videos of each camera (file names containing the camera's name)."""
    folder = cfg.calibration_images
    if not folder.is_dir():
        raise ProjectError(f"Calibration folder {folder} does not exist; put the board images or videos there.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | set(VIDEO_SUFFIXES))
    sources: dict[str, list[Path]] = {c: [] for c in cfg.camera_names}
    for path in files:
        cam = match_camera(path.name, cfg.camera_names)
        if cam is not None:
            sources[cam].append(path)
    missing = [c for c, p in sources.items() if not p]
    if missing:
        raise ProjectError(
            f"No calibration images or videos in {folder} for cameras {missing}; their file names must contain "
            "the camera name (e.g. cam1-01.jpg)."
        )
    return sources


def calibrate(
    config3d: str | os.PathLike[str],
    *,
    board: str | None = None,
    rows: int | None = None,
    cols: int | None = None,
    square_size: float | None = None,
    marker_size: float | None = None,
    legacy_pattern: bool | None = None,
    every: int | None = None,
    bundle_adjustment: bool = True,
) -> Path:
    """Calibrate the 3D project's cameras from ``calibration_images/``; writes and returns ``calibration.toml``.

    The board comes from the config's ``calibration_board`` unless given here (``board`` is the kind,
    ``"checkerboard"`` or ``"charuco"``). Per-camera mean reprojection errors are stored in the file's
    ``[metadata]`` (``camera_errors``, pixels).
    """
    cfg = load_config3d(config3d)
    spec = _board_with_overrides(cfg, board, rows, cols, square_size, marker_size, legacy_pattern)
    stride = int(every or cfg.data.get("calibration_every") or 1)
    sources = calibration_sources(cfg)
    detections = [
        detect_board(sources[c], spec, camera=c, every=stride, cache_dir=cfg.cache_dir) for c in cfg.camera_names
    ]
    for cam, det in zip(cfg.camera_names, detections):
        if not det.found.any():
            raise CalibrationError(
                f"The {spec.kind} board ({spec.cols} x {spec.rows}) was not found in any calibration image of camera "
                f"{cam!r}; check the board type and size (checkerboards count inner corners, ChArUco boards squares)."
            )
    _, corners = align_detections(detections)
    group = calibrate_cameras(
        corners, spec, [d.size for d in detections], cfg.camera_names, bundle_adjustment=bundle_adjustment
    )
    group.metadata["unit"] = "square_size units"
    return save_calibration(group, cfg.calibration_path)


# --- triangulation of a project's predictions ------------------------------------------------------
def _read_poses(path: Path) -> Poses:
    return read_predictions(path)


def recording_name(path: Path, camera: str, scorer: str | None = None) -> str:
    """Name shared by the files of one recording: the file stem without the 2D scorer and the camera name."""
    stem = path.stem
    if scorer and stem.endswith(scorer):
        stem = stem[: -len(scorer)]
    else:
        stem = re.sub(r"(DLC|markerless)_.*$", "", stem)
    stem = stem.replace(camera, "")
    stem = re.sub(r"[-_. ]{2,}", lambda m: m.group(0)[0], stem).strip("-_. ")
    return stem or "recording"


def group_prediction_files(
    files: Sequence[str | os.PathLike[str]], camera_names: list[str], scorers: Sequence[str | None] | None = None
) -> dict[str, dict[str, Path]]:
    """Prediction files grouped by recording: ``{name: {camera: file}}`` (camera matched by name)."""
    groups: dict[str, dict[str, Path]] = {}
    for i, f in enumerate(files):
        path = Path(f)
        cam = match_camera(path.name, camera_names)
        if cam is None:
            raise ConfigError(f"{path.name} names none of the cameras {camera_names}; rename it to contain one.")
        name = recording_name(path, cam, scorers[i] if scorers else None)
        if cam in groups.setdefault(name, {}):
            raise ConfigError(
                f"Two prediction files of camera {cam!r} for recording {name!r}: "
                f"{groups[name][cam].name} and {path.name}; pass one per camera."
            )
        groups[name][cam] = path
    return groups


def stack_poses(poses: Sequence[Poses], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, Poses]:
    """Per-camera poses -> ``(points (C, F, I, K, 2), scores (C, F, I, K), frames (F,), first poses)`` on shared frames."""
    first = poses[0]
    for name, p in zip(names, poses):
        if (
            p.layout.keypoint_names != first.layout.keypoint_names
            or p.layout.individual_names != first.layout.individual_names
        ):
            raise LabelFileError(
                f"The 2D predictions of camera {name!r} track {list(p.layout.keypoint_names)} of "
                f"{list(p.layout.individual_names)}, unlike camera {names[0]!r}; use models with the same body parts."
            )
    frames = first.frames
    for p in poses[1:]:
        frames = np.intersect1d(frames, p.frames)
    if len(frames) == 0:
        raise LabelFileError(f"The 2D predictions of cameras {list(names)} share no frame numbers.")
    rows = []
    for p in poses:
        order = np.argsort(p.frames)
        rows.append(order[np.searchsorted(p.frames[order], frames)])
    data = np.stack([p.data[r] for p, r in zip(poses, rows)])
    return data[..., :2], data[..., 2], frames, first


def write_3d(
    result: Triangulation, template: Poses, frames: np.ndarray, scorer: str, path: Path, save_as_csv: bool = False
) -> Path:
    """Write ``<name>_3D.h5``: key ``df_with_missing`` (x, y, z per body part) and ``reprojection_error``."""
    layout = template.layout
    index = pd.Index(frames)
    df = array_to_frame(result.points3d, layout, scorer, ("x", "y", "z"), index)
    err = np.moveaxis(np.where(result.used, result.reprojection_error, np.nan), 0, -1)
    err_df = array_to_frame(err, layout, scorer, tuple(result.camera_names), index)
    if save_as_csv:
        with atomic_path(path.with_suffix(".csv")) as tmp:
            df.to_csv(tmp)
    with atomic_path(path) as tmp:
        df.to_hdf(tmp, key="df_with_missing", mode="w", format="table")
        err_df.to_hdf(tmp, key=ERROR_KEY, mode="a", format="fixed")
    return path


def read_3d(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The 3D table and (when present) the reprojection-error table of a ``_3D.h5`` file."""
    path = Path(path)
    try:
        df = pd.read_hdf(path, "df_with_missing")
        try:
            err = pd.read_hdf(path, ERROR_KEY)
        except KeyError:
            err = None
    except (OSError, KeyError, ValueError) as err_:
        raise LabelFileError(f"Cannot read the 3D file {path}: {err_}") from None
    return df, err  # type: ignore[return-value]


def triangulate_project(
    config3d: str | os.PathLike[str],
    pred_files: Sequence[str | os.PathLike[str]] | None = None,
    videos: Sequence[str | os.PathLike[str]] | None = None,
    *,
    dest: str | os.PathLike[str] | None = None,
    pcutoff: float | None = None,
    ransac_threshold: float | None = ...,  # type: ignore[assignment]
    smooth: int | None = ...,  # type: ignore[assignment]
    save_as_csv: bool = False,
) -> list[Path]:
    """Triangulate per-camera 2D predictions of each recording; returns the ``<name>_3D.h5`` files.

    Args:
        config3d: the 3D project config.
        pred_files: 2D prediction files (``.h5``), one per camera and recording, each naming its camera.
        videos: videos to analyse first with each camera's 2D project (``config_file_<camera>``).
        dest: output folder (default: beside the first camera's file).
        pcutoff: likelihood cut-off (default: the config's ``pcutoff``).
        ransac_threshold, smooth: override the config's ``triangulation`` options (None disables).
        save_as_csv: also write ``<name>_3D.csv``.
    """
    cfg = load_config3d(config3d)
    files = [Path(p) for p in pred_files or []]
    if videos:
        files += _analyze_videos(cfg, [Path(v) for v in videos])
    if not files:
        raise ConfigError("Give 2D prediction files or videos to triangulate.")
    group = load_calibration(cfg.calibration_path)
    options = cfg.triangulation
    if ransac_threshold is not ...:
        options["ransac_threshold"] = ransac_threshold
    if smooth is not ...:
        options["smooth"] = smooth
    outputs = []
    loaded = {f: _read_poses(f) for f in files}
    groups = group_prediction_files(files, cfg.camera_names, [loaded[f].scorer for f in files])
    for name, by_cam in groups.items():
        cams = [c for c in cfg.camera_names if c in by_cam]
        if len(cams) < 2:
            raise ConfigError(
                f"Recording {name!r} has predictions of only {cams}; triangulation needs two cameras or more."
            )
        poses = [loaded[by_cam[c]] for c in cams]
        points, scores, frames, first = stack_poses(poses, cams)
        result = triangulate_points(
            points,
            group.subset(cams),
            scores,
            min_score=cfg.pcutoff if pcutoff is None else pcutoff,
            min_views=int(options.get("min_views") or 2),
            ransac_threshold=options.get("ransac_threshold"),
            smooth=options.get("smooth"),
            full_output=True,
        )
        out_dir = Path(dest) if dest else by_cam[cams[0]].parent
        outputs.append(write_3d(result, first, frames, cfg.scorer_3d, out_dir / f"{name}_3D.h5", save_as_csv))  # type: ignore[arg-type]
    return outputs


def _analyze_videos(cfg: Config3D, videos: list[Path]) -> list[Path]:
    """Run each camera's 2D model on its videos; returns the prediction files."""
    out = []
    for video in videos:
        cam = match_camera(video.name, cfg.camera_names)
        if cam is None:
            raise ConfigError(f"Video {video.name} names none of the cameras {cfg.camera_names}.")
        project = cfg.project_config(cam)
        if project is None:
            raise ConfigError(f"Set config_file_{cam} in {cfg.path} to the 2D project that analyses camera {cam!r}.")
        out += [Path(p) for p in analyze(project, [video], shuffle=cfg.shuffle(cam))]
    return out


__all__ = [
    "calibrate",
    "calibration_sources",
    "group_prediction_files",
    "read_3d",
    "recording_name",
    "stack_poses",
    "triangulate_project",
    "write_3d",
]


def triangulate(data: str | os.PathLike[str] | np.ndarray, *args: object, **kwargs: object) -> object:
    """Triangulate, as ``markerless triangulate`` does or on plain arrays.

    * ``triangulate(config3d, pred_files=None, videos=None, ...)``: a 3D project and per-camera 2D
      prediction files -> ``<name>_3D.h5`` files (see :func:`triangulate_project`);
    * ``triangulate(points2d, calibration, scores=None, ...)``: arrays ``(cameras, frames, [individuals,]
      keypoints, 2)`` -> a :class:`~markerless.threed.triangulation.Triangulation` (see
      :func:`markerless.threed.triangulation.triangulate`).
    """
    if isinstance(data, str | os.PathLike):
        return triangulate_project(data, *args, **kwargs)  # type: ignore[arg-type]
    return triangulate_points(data, *args, **kwargs)  # type: ignore[arg-type]
