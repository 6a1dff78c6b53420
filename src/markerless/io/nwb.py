"""Poses <-> Neurodata Without Borders (NWB) files with the ``ndx-pose`` extension.

Layout written (ndx-pose 0.4), readable by ``movement.io.load_poses.from_nwb_file``:

* processing module ``behavior`` holding a ``Skeletons`` container with one ``Skeleton`` per
  individual (its body parts as nodes, the project's skeleton as edges) and one ``PoseEstimation``
  per individual with one ``PoseEstimationSeries`` per body part (x, y in pixels; likelihood as
  confidence; timestamps in seconds);
* single-animal poses: one ``PoseEstimation`` named ``PoseEstimation`` (movement's default) and the
  file's identifier is the individual's name (movement names the individual after it);
* multi-animal poses: ``PoseEstimation_<individual>`` per individual (``..._single`` for unique body
  parts); load one with ``from_nwb_file(path, pose_estimation_key="PoseEstimation_<individual>")``;
* the video, when given, as an external ``ImageSeries`` in acquisition linked as ``source_video``.

When the frame rate is unknown, timestamps are frame numbers and the series' ``comments`` say so.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from markerless.errors import LabelFileError
from markerless.io.atomic import atomic_path
from markerless.model.poses import Poses
from markerless.model.skeleton import UNIQUE_INDIVIDUAL, PoseLayout, Skeleton

MODULE = "behavior"
PREFIX = "PoseEstimation"
_FRAME_TIME = "timestamps are frame numbers (frame rate unknown)"
_REFERENCE_FRAME = "(0,0) is the centre of the top-left pixel of the video; x to the right, y down"


def _estimation_name(layout: PoseLayout, individual: str) -> str:
    return PREFIX if not layout.multi_animal else f"{PREFIX}_{individual}"


def _series(
    poses: Poses,
    individual_index: int,
    keypoints: np.ndarray,
    names: list[str],
    individual: str,
    timestamps: np.ndarray,
) -> list:
    """One ``PoseEstimationSeries`` per keypoint; all but the first link the first one's timestamps."""
    import ndx_pose

    out: list = []
    for k, name in zip(keypoints, names, strict=True):
        out.append(
            ndx_pose.PoseEstimationSeries(
                name=name,
                description=f"{name} of {individual}",
                data=poses.data[:, individual_index, k, :2].astype(np.float64),
                confidence=poses.data[:, individual_index, k, 2].astype(np.float64),
                confidence_definition="likelihood of the estimate (0 to 1)",
                unit="pixels",
                reference_frame=_REFERENCE_FRAME,
                timestamps=out[0] if out else timestamps,
                comments=_FRAME_TIME if not poses.fps else "no comments",
            )
        )
    return out


def write_nwb(
    poses: Poses,
    path: str | os.PathLike[str],
    *,
    video: str | os.PathLike[str] | None = None,
    video_size: tuple[int, int] | None = None,
    session_description: str = "markerless pose estimation",
    session_start_time: datetime.datetime | None = None,
    identifier: str | None = None,
    subject_id: str | None = None,
) -> Path:
    """Write poses to an NWB file (atomically); returns ``path``.

    Args:
        poses: the poses; their layout's skeleton gives each ``Skeleton``'s edges.
        path: the ``.nwb`` file to write.
        video: the analysed video, stored as an external ``ImageSeries`` linked to the estimates.
        video_size: ``(width, height)`` of that video, when known.
        session_start_time: defaults to now (UTC); NWB requires one.
        identifier: the file's identifier; defaults to the individual's name for single-animal poses
            (what ``movement`` names the individual) and to the file name otherwise.
        subject_id: when given, a ``Subject`` is added and linked to every skeleton.
    """
    import ndx_pose
    import pynwb
    from pynwb.image import ImageSeries

    path = Path(path)
    layout = poses.layout
    if identifier is None:
        identifier = layout.individual_names[0] if not layout.multi_animal else path.stem
    start = session_start_time or datetime.datetime.now(datetime.UTC)
    nwbfile = pynwb.NWBFile(session_description=session_description, identifier=identifier, session_start_time=start)
    subject = None
    if subject_id is not None:
        subject = pynwb.file.Subject(subject_id=subject_id)
        nwbfile.subject = subject

    timestamps = poses.frames / poses.fps if poses.fps else poses.frames.astype(np.float64)
    source_video = None
    if video is not None:
        source_video = ImageSeries(
            name="video",
            external_file=[str(video)],
            format="external",
            starting_frame=[0],
            num_samples=int(poses.frames.max()) + 1 if len(poses) else 0,
            rate=float(poses.fps or 1.0),
            dimension=list(video_size) if video_size else None,
            description="the video the poses were estimated from",
        )
        nwbfile.add_acquisition(source_video)

    module = nwbfile.create_processing_module(name=MODULE, description="estimated poses (markerless)")
    skeletons, estimations = [], []
    valid = layout.valid
    for i, individual in enumerate(layout.individual_names):
        kps = np.flatnonzero(valid[i])
        names = [layout.keypoint_names[k] for k in kps]
        edges = layout.skeleton.edge_indices if individual != UNIQUE_INDIVIDUAL else np.zeros((0, 2), np.int64)
        skeleton = ndx_pose.Skeleton(
            name=f"skeleton_{individual}",
            nodes=names,
            edges=edges.astype(np.uint8 if len(names) < 256 else np.uint16),
            subject=subject,
        )
        skeletons.append(skeleton)
        series = _series(poses, i, kps, names, individual, timestamps)
        estimations.append(
            ndx_pose.PoseEstimation(
                name=_estimation_name(layout, individual),
                pose_estimation_series=series,
                description=f"Estimated positions of {', '.join(names)} of {individual} by {poses.scorer}.",
                scorer=poses.scorer,
                source_software="markerless",
                skeleton=skeleton,
                source_video=source_video,
            )
        )
    module.add(ndx_pose.Skeletons(skeletons=skeletons))
    for estimation in estimations:
        module.add(estimation)
    with atomic_path(path) as tmp, pynwb.NWBHDF5IO(str(tmp), mode="w") as io:
        io.write(nwbfile)
    return path


def _individual_of(estimation_name: str, identifier: str) -> str:
    match = re.fullmatch(rf"{PREFIX}_(.+)", estimation_name)
    return match.group(1) if match else identifier


def read_nwb(path: str | os.PathLike[str]) -> Poses:
    """Poses from an NWB file written by :func:`write_nwb` (or any ndx-pose file with 2D estimates).

    Every ``PoseEstimation`` of the ``behavior`` module is one individual (named after the part of its
    name following ``PoseEstimation_``, else after the file's identifier); ``PoseEstimation_single``
    holds unique body parts. Skeleton edges come from the linked ``Skeleton``.
    """
    import ndx_pose
    import pynwb

    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"NWB file {path} does not exist; check the path.")
    try:
        with pynwb.NWBHDF5IO(str(path), mode="r") as io:
            nwbfile = io.read()
            return _poses_from_nwb(nwbfile, path, ndx_pose)
    except LabelFileError:
        raise
    except Exception as err:
        raise LabelFileError(f"Cannot read poses from NWB file {path} ({type(err).__name__}: {err}).") from None


def _poses_from_nwb(nwbfile: Any, path: Path, ndx_pose: ModuleType) -> Poses:
    if MODULE not in nwbfile.processing:
        raise LabelFileError(f"{path} has no '{MODULE}' processing module with pose estimates.")
    module = nwbfile.processing[MODULE]
    estimations = [obj for obj in module.data_interfaces.values() if isinstance(obj, ndx_pose.PoseEstimation)]
    if not estimations:
        raise LabelFileError(f"{path} holds no ndx-pose PoseEstimation in its '{MODULE}' module.")
    multi = any(e.name.startswith(f"{PREFIX}_") for e in estimations)
    per_individual: dict[str, tuple[list[str], dict[str, np.ndarray], Any]] = {}
    timestamps: np.ndarray | None = None
    scorer = "markerless"
    comments = ""
    for est in estimations:
        individual = _individual_of(est.name, nwbfile.identifier) if multi else nwbfile.identifier
        names, values = _estimation_values(est, path)
        if timestamps is None and names:
            first = est.pose_estimation_series[names[0]]
            timestamps = np.asarray(first.timestamps[:], dtype=np.float64)
            comments = first.comments or ""
        per_individual[individual] = (names, values, est.skeleton)
        scorer = est.scorer or scorer

    unique = per_individual.pop(UNIQUE_INDIVIDUAL, None) if multi else None
    individuals = tuple(per_individual)
    first_names, _, first_skeleton = per_individual[individuals[0]]
    edges = (
        [(first_names[a], first_names[b]) for a, b in np.asarray(first_skeleton.edges[:]).reshape(-1, 2)]
        if (first_skeleton is not None and first_skeleton.edges is not None)
        else []
    )
    skeleton = Skeleton.from_names(first_names, edges)
    unique_names = tuple(unique[0]) if unique else ()
    layout = (
        PoseLayout(skeleton, individuals, unique_names, multi_animal=True)
        if multi
        else PoseLayout(skeleton, individuals)
    )
    if timestamps is None:
        timestamps = np.zeros(0)
    n_frames = len(timestamps)
    data = np.full((n_frames, *layout.shape, 3), np.nan)
    for i, individual in enumerate(layout.individuals):
        names, values, _ = per_individual[individual]
        for name in names:
            data[:, i, layout.keypoint_index(name)] = values[name]
    if unique:
        for name in unique_names:
            data[:, -1, layout.keypoint_index(name)] = unique[1][name]
    frames, fps = _frames_and_fps(timestamps, comments)
    return Poses(data, layout, scorer=scorer, frames=frames, fps=fps, source=str(path))


def _estimation_values(est: Any, path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Body-part names of one PoseEstimation (skeleton order) and each one's ``(frames, 3)`` x, y, confidence."""
    names = list(est.skeleton.nodes[:]) if est.skeleton is not None else list(est.pose_estimation_series)
    values = {}
    for name in names:
        pes = est.pose_estimation_series[name]
        data = np.asarray(pes.data[:], dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != 2:
            raise LabelFileError(f"{path}: series {name!r} of {est.name} is not 2D (shape {data.shape}).")
        conf = (
            np.asarray(pes.confidence[:], dtype=np.float64)
            if pes.confidence is not None
            else np.full(len(data), np.nan)
        )
        values[name] = np.concatenate([data, conf[:, None]], axis=1)
    return names, values


def _frames_and_fps(timestamps: np.ndarray, comments: str) -> tuple[np.ndarray, float | None]:
    """Frame numbers and frame rate of series timestamps (seconds, or frame numbers when the comment says so)."""
    if _FRAME_TIME in comments or len(timestamps) < 2:
        return np.rint(timestamps).astype(np.int64), None
    fps = round(float(1.0 / np.median(np.diff(timestamps))), 6)
    return np.rint(timestamps * fps).astype(np.int64), fps


__all__ = ["read_nwb", "write_nwb"]
