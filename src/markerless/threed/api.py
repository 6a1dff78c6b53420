"""3D workflow on a 3D project: calibrate the cameras, triangulate per-camera 2D predictions."""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sleap_io

from markerless.analysis.analyze import analyze
from markerless.errors import CalibrationError, ConfigError, LabelFileError, ProjectError
from markerless.io.atomic import atomic_path
from markerless.io.dlc import read_predictions
from markerless.io.video import VIDEO_SUFFIXES
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout, Skeleton
from markerless.model.tables import array_to_frame
from markerless.threed.boards import IMAGE_SUFFIXES, Board, align_detections, detect_board
from markerless.threed.calibration import calibrate_cameras
from markerless.threed.calibration_io import load_calibration, save_calibration
from markerless.threed.config3d import Config3D, load_config3d, match_camera, without_camera
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
    dictionary: str | None = None,
    unit: str | None = None,
) -> Board:
    spec = dict(cfg.data.get("calibration_board") or {})
    for key, value in (
        ("kind", kind),
        ("rows", rows),
        ("cols", cols),
        ("square_size", square_size),
        ("marker_size", marker_size),
        ("legacy_pattern", legacy_pattern),
        ("dictionary", dictionary),
        ("unit", unit),
    ):
        if value is not None:
            spec[key] = value
    try:
        return Board(**spec)
    except TypeError as err:
        raise ConfigError(
            f"calibration_board in {cfg.path} has an unknown key ({err}); use kind, rows, cols, square_size, "
            "marker_size, dictionary, legacy_pattern, unit."
        ) from None


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
    dictionary: str | None = None,
    unit: str | None = None,
) -> Path:
    """Calibrate the 3D project's cameras from ``calibration_images/``; writes and returns ``calibration.toml``.

    The board comes from the config's ``calibration_board`` unless given here (``board`` is the kind,
    ``"checkerboard"`` or ``"charuco"``; ``dictionary`` the ChArUco board's ArUco dictionary; ``unit`` the
    length unit of ``square_size``). A camera may have images, videos or both. The file's ``[metadata]``
    holds per-camera mean reprojection errors (``camera_errors``, pixels), the ``unit`` and ``square_size``
    of the board and, when videos were thinned, ``video_every`` (every n-th frame was looked at).
    """
    cfg = load_config3d(config3d)
    spec = _board_with_overrides(
        cfg, board, rows, cols, square_size, marker_size, legacy_pattern, dictionary=dictionary, unit=unit
    )
    stride = int(every or cfg.data.get("calibration_every") or 1)
    if stride < 1:
        raise ConfigError(f"every (calibration_every in {cfg.path}) must be 1 or more; got {stride}.")
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
    group.metadata["unit"] = spec.unit
    group.metadata["square_size"] = spec.square_size
    if stride > 1 and any(p.suffix.lower() not in IMAGE_SUFFIXES for paths in sources.values() for p in paths):
        group.metadata["video_every"] = stride
    return save_calibration(group, cfg.calibration_path)


# --- triangulation of a project's predictions ------------------------------------------------------
PREDICTION_SUFFIXES = (".h5", ".csv", ".slp")
"""2D prediction files triangulate reads: DeepLabCut/markerless tables and SLEAP files."""


def read_sleap_predictions(path: str | os.PathLike[str]) -> Poses:
    """Poses from a SLEAP ``.slp`` file of one video (tracks as individuals, instance scores as scores).

    SLEAP's point scores are not likelihoods (they can exceed 1): set the 3D config's ``pcutoff_sleap``
    or ``pcutoff_<camera>`` for these files.
    """
    path = Path(path)
    try:
        labels = sleap_io.load_slp(str(path))
    except (OSError, KeyError, ValueError) as err:
        raise LabelFileError(f"Cannot read the SLEAP file {path}: {err}") from None
    if len(labels.videos) != 1 or len(labels.skeletons) != 1:
        raise LabelFileError(
            f"{path} holds {len(labels.videos)} videos and {len(labels.skeletons)} skeletons; triangulation needs "
            "one file per camera with one video and one skeleton (export each camera's predictions separately)."
        )
    tracked = bool(labels.tracks)
    data = labels.numpy(untracked=not tracked, return_confidence=True, user_instances=False)
    if data.ndim != 4 or len(data) == 0:
        raise LabelFileError(f"{path} holds no predicted instances; run SLEAP inference on this camera first.")
    names = [t.name for t in labels.tracks] if tracked else [f"animal{i + 1}" for i in range(data.shape[1])]
    skeleton = Skeleton.from_names(labels.skeletons[0].node_names)
    layout = PoseLayout(skeleton, tuple(names), multi_animal=True) if len(names) > 1 else PoseLayout(skeleton)
    frames = np.arange(len(data))
    seen = np.isfinite(data[..., :2]).all(axis=-1).any(axis=(1, 2))
    return Poses(data[seen].astype(np.float32), layout, scorer="sleap", frames=frames[seen], source=str(path))


def _read_poses(path: Path) -> Poses:
    if path.suffix == ".slp":
        return read_sleap_predictions(path)
    return read_predictions(path)


def _without_scorer(path: Path, scorer: str | None = None) -> str:
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    if path.suffix == ".slp":  # SLEAP names predictions <video file name>.predictions.slp
        stem = re.sub(r"\.predictions$", "", stem)
        return stem[: -len(Path(stem).suffix)] if Path(stem).suffix.lower() in VIDEO_SUFFIXES else stem
    if scorer and stem.endswith(scorer):
        return stem[: -len(scorer)]
    return re.sub(r"(DLC|markerless)_.*$", "", stem)


def recording_name(path: Path, camera: str, scorer: str | None = None) -> str:
    """Name shared by the files of one recording: the file stem without the 2D scorer and the camera's name."""
    return without_camera(_without_scorer(path, scorer), camera) or "recording"


def group_prediction_files(
    files: Sequence[str | os.PathLike[str]], camera_names: list[str], scorers: Sequence[str | None] | None = None
) -> dict[str, dict[str, Path]]:
    """Prediction files grouped by recording: ``{name: {camera: file}}``.

    The camera is the one named in the file name as a whole word (``trial1_cam1DLC_....h5``,
    ``trial1-cam1.predictions.slp``); a name naming none or several cameras is an error.
    """
    groups: dict[str, dict[str, Path]] = {}
    for i, f in enumerate(files):
        path = Path(f)
        stem = _without_scorer(path, scorers[i] if scorers else None)
        cam = match_camera(stem, camera_names)
        if cam is None:
            raise ConfigError(
                f"{path.name} names none of the cameras {camera_names} as a word; rename it to contain one "
                "between separators (e.g. trial1_cam1.h5)."
            )
        name = without_camera(stem, cam) or "recording"
        if cam in groups.setdefault(name, {}):
            raise ConfigError(
                f"Two prediction files of camera {cam!r} for recording {name!r}: "
                f"{groups[name][cam].name} and {path.name}; pass one per camera."
            )
        groups[name][cam] = path
    return groups


def stack_poses(poses: Sequence[Poses], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, Poses]:
    """Per-camera poses -> ``(points (C, F, I, K, 2), scores (C, F, I, K), frames (F,), first poses)``.

    The frames are those of any camera (a camera without a frame has NaN there), so frames that only
    some cameras have are triangulated from those cameras.
    """
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
    frames = np.unique(np.concatenate([p.frames for p in poses]))
    data = np.full((len(poses), len(frames), *first.data.shape[1:]), np.nan)
    for c, p in enumerate(poses):
        data[c, np.searchsorted(frames, p.frames)] = p.data
    return data[..., :2], data[..., 2], frames, first


def write_3d(
    result: Triangulation, template: Poses, frames: np.ndarray, scorer: str, path: Path, save_as_csv: bool = False
) -> Path:
    """Write ``<name>_3D.h5``: key ``df_with_missing`` (x, y, z per body part) and ``reprojection_error``.

    With ``save_as_csv`` also ``<name>_3D.csv``; both files appear only once both are written.
    """
    layout = template.layout
    index = pd.Index(frames)
    df = array_to_frame(result.points3d, layout, scorer, ("x", "y", "z"), index)
    err = np.moveaxis(np.where(result.used, result.reprojection_error, np.nan), 0, -1)
    err_df = array_to_frame(err, layout, scorer, tuple(result.camera_names), index)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(path))
        if save_as_csv:
            df.to_csv(stack.enter_context(atomic_path(path.with_suffix(".csv"))))
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
    return df, err


@dataclass
class _Recording:
    name: str
    cameras: list[str]
    result: Triangulation
    template: Poses
    frames: np.ndarray
    path: Path


def triangulate_project(
    config3d: str | os.PathLike[str],
    pred_files: Sequence[str | os.PathLike[str]] | None = None,
    videos: Sequence[str | os.PathLike[str]] | None = None,
    *,
    dest: str | os.PathLike[str] | None = None,
    pcutoff: float | dict[str, float] | None = None,
    ransac_threshold: float | None = ...,  # type: ignore[assignment]
    smooth: int | None = ...,  # type: ignore[assignment]
    save_as_csv: bool = False,
) -> list[Path]:
    """Triangulate per-camera 2D predictions of each recording; returns the ``<name>_3D.h5`` files.

    Every recording is triangulated before any file is written, so an error leaves no output behind.
    A recording where no point could be triangulated (e.g. nothing passed the cut-off) warns
    (:class:`UserWarning`) naming the cut-off used.

    Args:
        config3d: the 3D project config.
        pred_files: 2D prediction files (DeepLabCut ``.h5``/``.csv`` or SLEAP ``.slp``), one per camera and
            recording, each naming its camera as a word.
        videos: videos to analyse first with each camera's 2D project (``config_file_<camera>``).
        dest: output folder (default: beside the first camera's file).
        pcutoff: score cut-off for every camera, or per camera ``{camera: cut-off}`` (``"*"``: the other
            cameras); default: the config's ``pcutoff_<camera>``, ``pcutoff_sleap`` for ``.slp`` files, else
            ``pcutoff``.
        ransac_threshold, smooth: override the config's ``triangulation`` options (None disables).
        save_as_csv: also write ``<name>_3D.csv``.
    """
    cfg = load_config3d(config3d)
    files = [Path(p) for p in pred_files or []]
    if videos:
        files += _analyze_videos(cfg, [Path(v) for v in videos])
    if not files:
        raise ConfigError("Give 2D prediction files or videos to triangulate.")
    for f in files:
        if f.suffix.lower() not in PREDICTION_SUFFIXES:
            raise ConfigError(f"{f} is not a 2D prediction file; give {', '.join(PREDICTION_SUFFIXES)} files.")
    if isinstance(pcutoff, dict):
        unknown = sorted(set(pcutoff) - {*cfg.camera_names, "*"})
        if unknown:
            raise ConfigError(f"pcutoff names cameras {unknown} that {cfg.path} does not have ({cfg.camera_names}).")
    group = load_calibration(cfg.calibration_path)
    options = cfg.triangulation
    if ransac_threshold is not ...:
        options["ransac_threshold"] = ransac_threshold
    if smooth is not ...:
        options["smooth"] = smooth
    loaded = {f: _read_poses(f) for f in files}
    groups = group_prediction_files(files, cfg.camera_names, [loaded[f].scorer for f in files])
    recordings = []
    for name, by_cam in groups.items():
        cams = [c for c in cfg.camera_names if c in by_cam]
        if len(cams) < 2:
            raise ConfigError(
                f"Recording {name!r} has predictions of only {cams}; triangulation needs two cameras or more."
            )
        missing = [c for c in cams if c not in group.names]
        if missing:
            raise CalibrationError(
                f"{cfg.calibration_path} has no camera {missing[0]!r} (it has {group.names}); recalibrate with "
                f"every camera of {cfg.path}."
            )
        cutoffs = [_cutoff(cfg, pcutoff, c, by_cam[c]) for c in cams]
        points, scores, frames, first = stack_poses([loaded[by_cam[c]] for c in cams], cams)
        result = triangulate_points(
            points,
            group.subset(cams),
            scores,
            min_score=np.asarray(cutoffs),
            min_views=int(options.get("min_views") or 2),
            ransac_threshold=options.get("ransac_threshold"),
            smooth=options.get("smooth"),
            full_output=True,
        )
        if not np.isfinite(result.points3d).any():
            shown = ", ".join(f"{c} {v:g}" for c, v in zip(cams, cutoffs))
            warnings.warn(
                f"Recording {name!r}: no point was triangulated (no point seen by two cameras above the cut-off; "
                f"cut-offs {shown}); lower pcutoff (e.g. --pcutoff 0.1) or check the 2D predictions.",
                UserWarning,
                stacklevel=2,
            )
        out_dir = Path(dest) if dest else by_cam[cams[0]].parent
        recordings.append(_Recording(name, cams, result, first, frames, out_dir / f"{name}_3D.h5"))
    return [write_3d(r.result, r.template, r.frames, cfg.scorer_3d, r.path, save_as_csv) for r in recordings]


def _cutoff(cfg: Config3D, pcutoff: float | dict[str, float] | None, camera: str, path: Path) -> float:
    if isinstance(pcutoff, dict) and (camera in pcutoff or "*" in pcutoff):
        return float(pcutoff[camera] if camera in pcutoff else pcutoff["*"])
    if pcutoff is not None and not isinstance(pcutoff, dict):
        return float(pcutoff)
    return cfg.pcutoff_for(camera, path.suffix.lower())


def summarize_3d(path: str | os.PathLike[str]) -> str:
    """One line about a ``_3D.h5`` file: points triangulated, cameras used, mean reprojection error."""
    df, err = read_3d(path)
    xyz = df.to_numpy().reshape(len(df), -1, 3)
    ok = np.isfinite(xyz).all(axis=-1)
    line = f"{path}: {int(ok.sum())} of {ok.size} points triangulated ({len(df)} frames)"
    if err is not None:
        cams = list(dict.fromkeys(err.columns.get_level_values(-1)))
        values = err.to_numpy().reshape(len(err), -1, len(cams))
        used = [c for i, c in enumerate(cams) if np.isfinite(values[..., i]).any()]
        mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        line += f", cameras used {used}, mean reprojection error {mean:.2f} px"
    if not ok.any():
        line += "; warning: nothing triangulated, lower the cut-off (--pcutoff) or check the 2D predictions"
    return line


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
    "PREDICTION_SUFFIXES",
    "calibrate",
    "calibration_sources",
    "group_prediction_files",
    "read_3d",
    "read_sleap_predictions",
    "recording_name",
    "stack_poses",
    "summarize_3d",
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
    return triangulate_points(data, *args, **kwargs)  # type: ignore[call-overload]
