"""Analysis on a Dask distributed cluster: one task per range of frames of a video.

The client (:func:`markerless.analysis.analyze.analyze`) splits each video's missing frames into
ranges, submits :func:`analyze_range` tasks and records their results as they arrive, into the same
crash-safe chunks and final files as a local run. Workers need the videos and the model files at the
same paths (a shared file system, as on a SLURM cluster); each worker loads the model once and
reuses it for every task (cache keyed by the model path, backend and device).
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from markerless.analysis.model_source import BackendSpec, cached_backend
from markerless.analysis.pipeline import run_pipeline
from markerless.analysis.tracking_crop import AnimalGroup, CropSettings, CropTracker, GroupCropTracker
from markerless.errors import MarkerlessError
from markerless.io.video import VideoReader

DEFAULT_RANGE_FRAMES = 2000


class TrackingCrop(NamedTuple):
    """A tracking crop's settings and the backend spec of its window network; for a multi-animal net, its
    animals (then the crop is a :class:`GroupCropTracker`, which hands out animals already assembled)."""

    settings: CropSettings
    window: BackendSpec
    group: AnimalGroup | None = None


@dataclass(frozen=True)
class RangeTask:
    """Frames ``[start, stop)`` of one video to analyse with one backend."""

    video: str
    start: int
    stop: int
    spec: BackendSpec
    batch_size: int
    key: str = ""  # who asked (the output file), to route the result back
    crop: TrackingCrop | None = None
    frame_size: tuple[int, int] = (0, 0)  # (width, height), needed with a tracking crop


def frames_backend(spec: BackendSpec, crop: TrackingCrop | None, frame_size: tuple[int, int]) -> Any:
    """The backend for one run of consecutive frames: the cached model, or a new tracking crop around it (a
    multi-animal crop's outputs are assembled animals, see :class:`TrackingCrop`)."""
    whole = cached_backend(spec)
    if crop is None:
        return whole
    window = cached_backend(crop.window)
    if crop.group is None:
        return CropTracker(whole, window, crop.settings, frame_size)
    return GroupCropTracker(whole, window, crop.group, crop.settings, frame_size)


def analyze_range(task: RangeTask) -> tuple[RangeTask, np.ndarray, np.ndarray]:
    """Run on a worker: ``(task, frame indices (N,), predictions float32 (N, K, 3))`` of the task's frames."""

    backend = frames_backend(task.spec, task.crop, task.frame_size)
    indices, values = [], []
    with VideoReader(task.video, color=task.spec.color) as reader:
        for idx, out in run_pipeline(reader, backend, task.batch_size, task.start, task.stop):
            indices.append(idx)
            values.append(out)
    if not indices:
        return task, np.zeros(0, np.int64), np.zeros((0, 0, 3), np.float32)
    return task, np.concatenate(indices), np.concatenate(values)


def split_ranges(ranges: list[tuple[int, int]], max_frames: int) -> list[tuple[int, int]]:
    """Ranges cut into pieces of at most ``max_frames`` frames (of near-equal length)."""
    pieces: list[tuple[int, int]] = []
    for start, stop in ranges:
        n = max(1, math.ceil((stop - start) / max_frames))
        edges = np.linspace(start, stop, n + 1).round().astype(int)
        pieces.extend((int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a)
    return pieces


@contextlib.contextmanager
def dask_client(scheduler: str, n_workers: int | None = None) -> Iterator[Any]:
    """A Dask client: ``"local"`` starts a LocalCluster on this machine, else connects to the address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - distributed is a dependency
        raise MarkerlessError("Dask distributed is not installed; pip install distributed.") from err
    if scheduler == "local":
        with (
            LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as err:
        raise MarkerlessError(
            f"Cannot reach the Dask scheduler at {scheduler} ({err}); start it (`dask scheduler`) and its "
            "workers first (see docs/cluster.md), or use --scheduler local."
        ) from None
    with client:
        yield client


def run_tasks(client: Any, tasks: list[RangeTask]) -> Iterator[tuple[RangeTask, np.ndarray, np.ndarray]]:
    """Results of ``tasks`` in the order they finish."""
    from distributed import as_completed

    futures = client.map(analyze_range, tasks, pure=False)
    for future in as_completed(futures):
        yield future.result()
