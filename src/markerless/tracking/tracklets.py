"""Tracklets: the frame-to-frame tracker's output, kept on disk so stitching can be rerun."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from markerless.errors import LabelFileError
from markerless.io.atomic import atomic_path
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout, Skeleton

PathLike = str | os.PathLike[str]
TRACKLETS_SUFFIX = "_tracklets.npz"
_VERSION = 1


@dataclass
class Tracklets:
    """Pieces of one animal's track, each certain to be one animal, with unknown identity.

    Attributes:
        frame: int64 ``(M,)`` row of the source poses of each observation.
        tracklet: int64 ``(M,)`` tracklet number of each observation (0, 1, ...).
        pose: float32 ``(M, keypoints, 3)`` x, y, likelihood of the observation (animal body parts only).
        n_frames: rows of the source poses.
        source: the ``Poses`` the tracklets came from, all axes but the pose data (layout, frames, fps...).
        identity: optional float32 ``(M, n_identities)`` identity votes (probabilities) of each observation.
    """

    frame: np.ndarray
    tracklet: np.ndarray
    pose: np.ndarray
    n_frames: int
    source: Poses
    identity: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.frame = np.asarray(self.frame, dtype=np.int64)
        self.tracklet = np.asarray(self.tracklet, dtype=np.int64)
        self.pose = np.asarray(self.pose, dtype=np.float32)
        m = len(self.frame)
        if self.tracklet.shape != (m,) or self.pose.ndim != 3 or len(self.pose) != m:
            raise LabelFileError(
                f"Tracklets need frame (M,), tracklet (M,) and pose (M, K, 3); got {self.frame.shape}, "
                f"{self.tracklet.shape}, {self.pose.shape}."
            )
        if self.identity is not None:
            self.identity = np.asarray(self.identity, dtype=np.float32)
            if self.identity.ndim != 2 or len(self.identity) != m:
                raise LabelFileError(f"Identity votes need shape (M, n_identities); got {self.identity.shape}.")

    @property
    def count(self) -> int:
        """Number of tracklets."""
        return int(self.tracklet.max()) + 1 if len(self.tracklet) else 0


def tracklets_path(prediction: PathLike) -> Path:
    """The tracklets file of a prediction file: ``<its stem>_tracklets.npz`` beside it."""
    prediction = Path(prediction)
    return prediction.with_name(f"{prediction.stem}{TRACKLETS_SUFFIX}")


def write_tracklets(tracklets: Tracklets, path: PathLike) -> Path:
    """Write tracklets (and the empty source layout) to an ``.npz`` file atomically; returns ``path``."""
    path = Path(path)
    src = tracklets.source
    header = {
        "version": _VERSION,
        "n_frames": tracklets.n_frames,
        "bodyparts": list(src.layout.bodyparts),
        "edges": [list(e) for e in src.layout.skeleton.edges],
        "symmetric_pairs": [list(p) for p in src.layout.skeleton.symmetric_pairs],
        "individuals": list(src.layout.individuals),
        "unique_bodyparts": list(src.layout.unique_bodyparts),
        "scorer": src.scorer,
        "fps": src.fps,
        "source": src.source,
        "metadata": tracklets.metadata,
    }
    arrays: dict[str, np.ndarray] = {
        "frame": tracklets.frame,
        "tracklet": tracklets.tracklet,
        "pose": tracklets.pose,
        "frames": src.frames,
        "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
    }
    if src.layout.unique_bodyparts:  # the unique body parts are not tracked: kept as they are
        arrays["unique"] = src.data[:, -1, len(src.layout.bodyparts) :]
    if tracklets.identity is not None:
        arrays["identity"] = tracklets.identity
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)  # type: ignore[arg-type]
    return path


def read_tracklets(path: PathLike) -> Tracklets:
    """Tracklets written by :func:`write_tracklets`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    except FileNotFoundError:
        raise LabelFileError(f"{path} does not exist; analyse the video (multi-animal) to make tracklets.") from None
    except Exception as err:
        raise LabelFileError(
            f"{path} is not a tracklets file ({type(err).__name__}: {err}); analyse the video again."
        ) from None
    if header.get("version") != _VERSION:
        raise LabelFileError(f"{path} has tracklets version {header.get('version')}; analyse the video again.")
    layout = PoseLayout(
        Skeleton.from_names(header["bodyparts"], header["edges"], header["symmetric_pairs"]),
        individuals=tuple(header["individuals"]),
        unique_bodyparts=tuple(header["unique_bodyparts"]),
        multi_animal=True,
    )
    source = Poses.empty(int(header["n_frames"]), layout, scorer=header["scorer"], fps=header["fps"])
    source.frames = arrays["frames"].astype(np.int64)
    source.source = header["source"]
    if "unique" in arrays:
        source.data[:, -1, len(layout.bodyparts) :] = arrays["unique"]
    return Tracklets(
        arrays["frame"],
        arrays["tracklet"],
        arrays["pose"],
        int(header["n_frames"]),
        source,
        arrays.get("identity"),
        dict(header.get("metadata") or {}),
    )
