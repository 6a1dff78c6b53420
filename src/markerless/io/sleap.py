"""SLEAP ``.slp`` files (through ``sleap-io``): user labels and predictions in, labels and predictions out.

SLEAP's tracks are our individuals (``individual_0``, ``individual_1``... when a file has no tracks), its
skeleton's nodes our body parts and its edges our skeleton's edges. A point SLEAP marks as not visible
but placed is an occluded label; a point without coordinates is unlabelled. SLEAP has no unique body
parts: we write them as extra nodes carried by an instance of the track ``single`` (DeepLabCut's
pseudo-individual) and name them in the file's provenance, so that they come back as unique parts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sleap_io as sio

from markerless.errors import LabelFileError
from markerless.io.atomic import atomic_path
from markerless.model.labels import Labels
from markerless.model.poses import Poses
from markerless.model.skeleton import SINGLE_ANIMAL_INDIVIDUAL, UNIQUE_INDIVIDUAL, PoseLayout, Skeleton

PathLike = str | os.PathLike[str]

#: Suffix of SLEAP label and prediction files.
SLEAP_SUFFIX = ".slp"
#: Provenance key naming the nodes that are unique body parts (carried by the track ``single``).
_UNIQUE_KEY = "markerless_unique_bodyparts"


@dataclass(frozen=True)
class SleapVideoLabels:
    """The user-labelled frames of one video of a ``.slp`` file.

    Attributes:
        video: the video file as resolved (absolute; it may not exist on this machine).
        stored_video: the video's file name as the ``.slp`` file stores it.
        frames: int64 ``(n,)`` frame index of each labelled frame in the video, ascending.
        xy: float64 ``(n, individuals, keypoints, 2)`` in the file's layout; NaN where unlabelled.
        occluded: bool ``(n, individuals, keypoints)``: placed but marked not visible.
    """

    video: Path
    stored_video: str
    frames: np.ndarray
    xy: np.ndarray
    occluded: np.ndarray

    def to_labels(self, layout: PoseLayout, images: Sequence[str], scorer: str) -> Labels:
        """These frames as :class:`Labels` with one image path per frame (``images[i]`` shows ``frames[i]``)."""
        return Labels(layout, list(images), self.xy, self.occluded, scorer)


@dataclass(frozen=True)
class SleapFile:
    """The user labels of a ``.slp`` file: one layout, the labelled frames of each video."""

    path: Path
    layout: PoseLayout
    videos: list[SleapVideoLabels]


def _load(path: Path) -> Any:
    if not path.is_file():
        raise LabelFileError(f"SLEAP file {path} does not exist.")
    try:
        return sio.load_slp(str(path), open_videos=False)
    except Exception as err:  # h5py/json/attrs raise many types for damaged or foreign files
        raise LabelFileError(
            f"Cannot read {path} as a SLEAP .slp file ({type(err).__name__}: {err}); is it a SLEAP labels file?"
        ) from None


def _stored_name(video: Any) -> str:
    name = video.filename
    return str(name[0] if isinstance(name, list) else name)


def _resolve_video(slp: Path, stored: str) -> Path:
    """The stored video path as a file: as given when it exists, else relative to the ``.slp`` file's folder,
    else its file name beside the ``.slp`` file (SLEAP's own fallback); the first candidate when none exists."""
    stored_path = Path(stored.replace("\\", "/"))
    candidates = [stored_path] if stored_path.is_absolute() else []
    candidates += [slp.parent / stored_path, slp.parent / stored_path.name]
    found = next((c for c in candidates if c.is_file()), candidates[0])
    return Path(os.path.abspath(found))


def _layout(path: Path, slp: Any, predicted: bool = False) -> PoseLayout:
    """The layout of a loaded ``.slp`` file: tracks (or as many ``individual_<i>`` as the most user instances,
    or predicted ones, in a frame) and the one skeleton."""
    if len(slp.skeletons) != 1:
        raise LabelFileError(
            f"{path} holds {len(slp.skeletons)} skeletons; a project has one. Export one skeleton's labels from SLEAP."
        )
    skel = slp.skeletons[0]
    nodes = list(skel.node_names)
    unique = [str(n) for n in (slp.provenance or {}).get(_UNIQUE_KEY, []) if n in nodes]
    parts = [n for n in nodes if n not in unique]
    edges = [(e.source.name, e.destination.name) for e in skel.edges]
    edges = [e for e in edges if e[0] in parts and e[1] in parts]
    pairs = [tuple(n.name for n in s.nodes) for s in skel.symmetries]
    pairs = [p for p in pairs if len(p) == 2 and set(p) <= set(parts)]
    skeleton = Skeleton.from_names(parts, edges, pairs if pairs else None)
    names = [t.name for t in slp.tracks if t.name != UNIQUE_INDIVIDUAL]
    if len(set(names)) != len(names):
        raise LabelFileError(f"{path} has tracks with the same name {names}; rename them in SLEAP.")
    if not names:
        counts = [len(lf.predicted_instances if predicted else _user_instances(lf)) for lf in slp.labeled_frames]
        most = max(counts, default=1)
        names = [f"individual_{i}" for i in range(max(1, most))]
    if len(names) == 1 and not unique:
        return PoseLayout(skeleton, (names[0],), multi_animal=names[0] != SINGLE_ANIMAL_INDIVIDUAL)
    return PoseLayout(skeleton, tuple(names), tuple(unique), multi_animal=True)


def _user_instances(frame: Any) -> list[Any]:
    return [inst for inst in frame.instances if not isinstance(inst, sio.PredictedInstance)]


def _frame_slots(path: Path, frame: Any, instances: list[Any], layout: PoseLayout) -> list[int]:
    """The individual (row) each instance of a frame goes to: its track, else the first free individual."""
    names = layout.individual_names
    slots: list[int | None] = []
    for inst in instances:
        track = inst.track.name if inst.track is not None else None
        slots.append(names.index(track) if track in names else None)
    taken = [s for s in slots if s is not None]
    if len(set(taken)) != len(taken):
        raise LabelFileError(
            f"{path}: frame {frame.frame_idx} of {Path(_stored_name(frame.video)).name} has two instances of one "
            "track; fix the tracks in SLEAP."
        )
    free = [i for i in range(len(layout.individuals)) if i not in taken]
    untracked = [k for k, s in enumerate(slots) if s is None]
    if len(untracked) > len(free):
        raise LabelFileError(
            f"{path}: frame {frame.frame_idx} of {Path(_stored_name(frame.video)).name} holds {len(instances)} "
            f"animals but the file names {len(layout.individuals)} individuals {list(layout.individuals)}; "
            "assign tracks in SLEAP (or delete the extra instances)."
        )
    for k, slot in zip(untracked, free, strict=False):
        slots[k] = slot
    return [int(s) for s in slots if s is not None]


def read_slp_labels(path: PathLike) -> SleapFile:
    """The user (human) labels of a ``.slp`` file, per video; predicted instances are left out."""
    path = Path(path)
    slp = _load(path)
    layout = _layout(path, slp)
    nodes = list(slp.skeletons[0].node_names)
    order = [nodes.index(k) for k in layout.keypoint_names]
    out = []
    for video in slp.videos:
        frames = sorted(
            (lf for lf in slp.labeled_frames if lf.video is video and _user_instances(lf)), key=lambda f: f.frame_idx
        )
        xy = np.full((len(frames), *layout.shape, 2), np.nan)
        occluded = np.zeros((len(frames), *layout.shape), dtype=bool)
        for row, frame in enumerate(frames):
            instances = _user_instances(frame)
            for inst, slot in zip(instances, _frame_slots(path, frame, instances, layout), strict=True):
                points = inst.points[order]
                xy[row, slot] = points["xy"]
                occluded[row, slot] = ~points["visible"] & np.isfinite(points["xy"]).all(axis=-1)
        xy[:, ~layout.valid] = np.nan
        occluded &= layout.valid[None] & np.isfinite(xy).all(axis=-1)
        stored = _stored_name(video)
        out.append(
            SleapVideoLabels(
                _resolve_video(path, stored),
                stored,
                np.array([f.frame_idx for f in frames], dtype=np.int64),
                xy,
                occluded,
            )
        )
    return SleapFile(path, layout, out)


def read_slp_predictions(path: PathLike, video: int = 0) -> Poses:
    """Predicted instances of one video of a ``.slp`` file as :class:`Poses` (one row per frame with predictions).

    Tracks are the individuals (untracked instances fill free individuals in file order); SLEAP's point
    scores are the likelihoods (they are not probabilities and may exceed 1).
    """
    path = Path(path)
    slp = _load(path)
    layout = _layout(path, slp, predicted=True)
    if not 0 <= video < len(slp.videos):
        raise LabelFileError(f"{path} has {len(slp.videos)} videos; there is no video number {video}.")
    nodes = list(slp.skeletons[0].node_names)
    order = [nodes.index(k) for k in layout.keypoint_names]
    target = slp.videos[video]
    frames = sorted(
        (lf for lf in slp.labeled_frames if lf.video is target and lf.predicted_instances), key=lambda f: f.frame_idx
    )
    data = np.full((len(frames), *layout.shape, 3), np.nan, dtype=np.float32)
    for row, frame in enumerate(frames):
        instances = list(frame.predicted_instances)
        for inst, slot in zip(instances, _frame_slots(path, frame, instances, layout), strict=True):
            points = inst.points[order]
            data[row, slot, :, :2] = points["xy"]
            data[row, slot, :, 2] = np.where(np.isfinite(points["xy"]).all(axis=-1), points["score"], np.nan)
    data[:, ~layout.valid] = np.nan
    stored = _stored_name(target)
    return Poses(
        data,
        layout,
        scorer="sleap",
        frames=np.array([f.frame_idx for f in frames], dtype=np.int64),
        source=str(_resolve_video(path, stored)),
    )


def _sleap_skeleton(layout: PoseLayout) -> Any:
    skel = layout.skeleton
    return sio.Skeleton(
        nodes=list(layout.keypoint_names),
        edges=[list(e) for e in skel.edges],
        symmetries=[list(p) for p in skel.symmetric_pairs],
    )


def _video_reference(video: PathLike, slp_path: Path) -> str:
    """The video's path relative to the ``.slp`` file's folder (POSIX), so the pair can move together."""
    try:
        return Path(os.path.relpath(Path(video).absolute(), slp_path.absolute().parent)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(video).absolute().as_posix()


@dataclass(frozen=True)
class SleapVideoData:
    """What to write for one video: labels (user instances) and/or poses (predicted instances).

    Attributes:
        video: the video file (referenced relative to the ``.slp`` file).
        labels: ground truth; ``label_frames[i]`` is the video frame of ``labels`` row ``i``.
        label_frames: one video frame number per row of ``labels``.
        poses: predictions; ``poses.frames`` are their video frames. NaN points are left out.
    """

    video: PathLike
    labels: Labels | None = None
    label_frames: Sequence[int] | np.ndarray | None = None
    poses: Poses | None = None


def _user_instance_list(
    data: SleapVideoData, layout: PoseLayout, skeleton: Any, tracks: dict[str, Any]
) -> dict[int, list[Any]]:
    """``{frame: [Instance]}`` of the labels of one video."""
    out: dict[int, list[Any]] = {}
    labels, valid = data.labels, layout.valid
    if labels is None or data.label_frames is None:
        return out
    for row, frame in enumerate(np.asarray(data.label_frames, dtype=np.int64).tolist()):
        for ind, name in enumerate(layout.individual_names):
            xy = np.where(valid[ind, :, None], labels.xy[row, ind], np.nan)
            placed = np.isfinite(xy).all(axis=-1)
            if not placed.any():
                continue
            points = np.column_stack([xy, ~labels.occluded[row, ind] & placed])
            out.setdefault(frame, []).append(sio.Instance.from_numpy(points, skeleton=skeleton, track=tracks[name]))
    return out


def _predicted_instance_list(
    data: SleapVideoData, layout: PoseLayout, skeleton: Any, tracks: dict[str, Any]
) -> dict[int, list[Any]]:
    """``{frame: [PredictedInstance]}`` of the poses of one video."""
    out: dict[int, list[Any]] = {}
    poses, valid = data.poses, layout.valid
    if poses is None:
        return out
    for row, frame in enumerate(poses.frames.tolist()):
        for ind, name in enumerate(layout.individual_names):
            values = np.where(valid[ind, :, None], poses.data[row, ind].astype(np.float64), np.nan)
            placed = np.isfinite(values[:, :2]).all(axis=-1)
            if not placed.any():
                continue
            score = np.where(placed, np.nan_to_num(values[:, 2]), 0.0)
            out.setdefault(int(frame), []).append(
                sio.PredictedInstance.from_numpy(
                    values[:, :2],
                    skeleton=skeleton,
                    point_scores=score,
                    score=float(score[placed].mean()),
                    track=tracks[name],
                )
            )
    return out


def write_slp(path: PathLike, layout: PoseLayout, videos: Sequence[SleapVideoData]) -> Path:
    """Write labels (as user instances) and poses (as predicted instances) of some videos to one ``.slp`` file.

    Individuals become tracks, body parts nodes, the skeleton's edges and left/right pairs its edges and
    symmetries; occluded labels are placed points marked not visible. Written atomically; returns ``path``.
    """
    path = Path(path)
    for data in videos:
        if data.labels is not None and (data.label_frames is None or len(data.label_frames) != len(data.labels)):
            raise LabelFileError(f"Writing {path}: give one video frame number per labelled image of {data.video}.")
        for what in (data.labels, data.poses):
            if what is not None and what.layout.shape != layout.shape:
                raise LabelFileError(f"Writing {path}: the labels or poses of {data.video} are not in this layout.")
    skeleton = _sleap_skeleton(layout)
    tracks = {name: sio.Track(name=name) for name in layout.individual_names}
    sio_videos, frames = [], []
    for data in videos:
        sio_video = sio.Video(filename=_video_reference(data.video, path), open_backend=False)
        sio_videos.append(sio_video)
        user = _user_instance_list(data, layout, skeleton, tracks)
        predicted = _predicted_instance_list(data, layout, skeleton, tracks)
        for frame in sorted(set(user) | set(predicted)):
            instances = user.get(frame, []) + predicted.get(frame, [])
            frames.append(sio.LabeledFrame(video=sio_video, frame_idx=frame, instances=instances))
    provenance = {_UNIQUE_KEY: list(layout.unique_bodyparts)} if layout.unique_bodyparts else {}
    slp = sio.Labels(
        labeled_frames=frames,
        videos=sio_videos,
        skeletons=[skeleton],
        tracks=list(tracks.values()),
        provenance=provenance,
    )
    with atomic_path(path) as tmp:
        sio.save_slp(slp, str(tmp), restore_original_videos=False, verbose=False)
    return path


def read_slp_poses(path: PathLike, video: int = 0) -> Poses:
    """The instances of one video of a ``.slp`` file as ``Poses``.

    Individuals are the file's track names (in the file's order), or ``instance_0, instance_1, ...``
    when it has no tracks (then the individuals axis is the instance order within each frame, not an
    identity). Keypoints are the skeleton's node names, edges its edges. Row ``i`` is video frame ``i``
    (all frames of the video, NaN where nothing is labelled); the likelihood is 1 for user
    (human) instances and the point score, clipped to [0, 1], for predicted ones.
    """
    path = Path(path)
    try:
        labels = sio.load_slp(str(path))
    except FileNotFoundError:
        raise LabelFileError(f"{path} does not exist; give the path of a SLEAP .slp file.") from None
    except Exception as err:
        raise LabelFileError(f"{path} is not a readable SLEAP file ({type(err).__name__}: {err}).") from None
    if not labels.videos or not labels.skeletons:
        raise LabelFileError(f"{path} has no video or no skeleton; it holds no poses to read.")
    if not 0 <= video < len(labels.videos):
        raise LabelFileError(f"{path} has {len(labels.videos)} video(s); video {video} does not exist.")
    tracked = bool(labels.tracks)
    data = labels.numpy(video=labels.videos[video], untracked=not tracked, return_confidence=True)
    data = np.asarray(data, dtype=np.float32)
    skeleton = labels.skeletons[0]
    names = [str(n) for n in skeleton.node_names]
    if tracked:
        individuals = [str(t.name) for t in labels.tracks]
    else:
        individuals = [f"instance_{i}" for i in range(data.shape[1])]
    if data.shape[1] == 0:  # no instance at all: one empty individual keeps the layout valid
        data = np.full((data.shape[0], 1, len(names), 3), np.nan, dtype=np.float32)
        individuals = ["instance_0"]
    missing = ~np.isfinite(data[..., :2]).all(axis=-1)
    data[..., 2] = np.clip(data[..., 2], 0.0, 1.0)
    data[missing] = np.nan
    edges = [(str(e.source.name), str(e.destination.name)) for e in skeleton.edges]
    layout = PoseLayout(
        Skeleton.from_names(names, edges, symmetric_pairs=()),
        individuals=tuple(individuals),
        multi_animal=True,
    )
    return Poses(data, layout, scorer="sleap", source=str(path))


__all__ = [
    "SLEAP_SUFFIX",
    "SleapFile",
    "SleapVideoData",
    "SleapVideoLabels",
    "read_slp_labels",
    "read_slp_poses",
    "read_slp_predictions",
    "write_slp",
]
