"""Choosing frames to label and writing them as ``labeled-data/<video>/img<N>.png`` (DeepLabCut's naming).

Two ways to choose: ``uniform`` (a random sample of the [start, stop] window) and ``kmeans``
(cluster small grey thumbnails of the window's frames and take one frame per cluster, so the
choice covers the different-looking moments of the video).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from markerless.errors import ProjectError, VideoError
from markerless.io.atomic import atomic_path
from markerless.io.video import VideoReader
from markerless.project.project import Project

ALGORITHMS = ("uniform", "kmeans")
_IMAGE_NAME = re.compile(r"^img(\d+)\.png$")


def frame_window(n_frames: int, start: float = 0.0, stop: float = 1.0) -> range:
    """Frame indices of the ``[start, stop]`` window, given as fractions of the video (DeepLabCut's rule)."""
    if not 0 <= start < stop <= 1:
        raise ProjectError(
            f"The frame window start={start}, stop={stop} must satisfy 0 <= start < stop <= 1 (fractions of the video)."
        )
    return range(math.floor(start * n_frames), min(math.ceil(stop * n_frames), n_frames))


def image_name(index: int, n_frames: int) -> str:
    """``img<index>.png`` with the index zero-padded to ``ceil(log10(n_frames))`` digits, as DeepLabCut names it."""
    width = math.ceil(math.log10(n_frames)) if n_frames > 1 else 1
    return f"img{int(index):0{width}d}.png"


def existing_frame_indices(folder: str | os.PathLike[str]) -> set[int]:
    """Frame numbers of the ``img<N>.png`` files already in a ``labeled-data`` folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return set()
    return {int(m.group(1)) for p in folder.iterdir() if (m := _IMAGE_NAME.match(p.name))}


def _free(candidates: np.ndarray, exclude: Iterable[int]) -> np.ndarray:
    exclude = np.fromiter((int(e) for e in exclude), dtype=np.int64)
    return candidates[~np.isin(candidates, exclude)] if len(exclude) else candidates


def select_frames_uniform(
    n_frames: int,
    k: int,
    start: float = 0.0,
    stop: float = 1.0,
    rng: np.random.Generator | int | None = None,
    exclude: Iterable[int] = (),
) -> np.ndarray:
    """``k`` distinct frame indices drawn at random (without replacement) from the window, sorted.

    Frames in ``exclude`` are never chosen; fewer than ``k`` come back when the window has fewer
    free frames.
    """
    rng = np.random.default_rng(rng)
    free = _free(
        np.arange(frame_window(n_frames, start, stop).start, frame_window(n_frames, start, stop).stop), exclude
    )
    if k >= len(free):
        return free
    return np.sort(rng.choice(free, size=k, replace=False))


def thumbnails(frames: np.ndarray, width: int = 30) -> np.ndarray:
    """Grey ``float32 (B, h, width)`` thumbnails of ``uint8 (B, H, W, 3)`` frames (area-averaged).

    Two OpenCV resizes over the whole batch (rows, then columns), so frames never mix.
    """
    b, h_full, w_full, _ = frames.shape
    height = max(1, round(h_full * width / w_full))
    narrow = cv2.resize(frames.reshape(b * h_full, w_full, 3), (width, b * h_full), interpolation=cv2.INTER_AREA)
    columns = np.ascontiguousarray(narrow.reshape(b, h_full, width, 3).transpose(1, 0, 2, 3)).reshape(
        h_full, b * width, 3
    )
    small = cv2.resize(columns, (b * width, height), interpolation=cv2.INTER_AREA)
    grey = small.reshape(height, b, width, 3).mean(axis=-1, dtype=np.float32)
    return np.ascontiguousarray(grey.transpose(1, 0, 2))


def select_frames_kmeans(
    reader: VideoReader,
    k: int,
    start: float = 0.0,
    stop: float = 1.0,
    rng: np.random.Generator | int | None = None,
    exclude: Iterable[int] = (),
    candidates: Sequence[int] | np.ndarray | None = None,
    resize_width: int = 30,
    batch_size: int = 32,
    progress: bool = True,
) -> np.ndarray:
    """Up to ``k`` frame indices that look different from each other, sorted.

    Thumbnails (``resize_width`` pixels wide, grey) of the candidate frames (the window's frames, or
    ``candidates``, minus ``exclude``) are clustered with MiniBatchKMeans into ``k`` clusters; one
    random member of each non-empty cluster is returned. All candidates come back when there are
    no more than ``k``.
    """
    from sklearn.cluster import MiniBatchKMeans

    rng = np.random.default_rng(rng)
    if candidates is None:
        window = frame_window(reader.n_frames, start, stop)
        pool = np.arange(window.start, window.stop, dtype=np.int64)
    else:
        pool = np.unique(np.asarray(candidates, dtype=np.int64))
        pool = pool[(pool >= 0) & (pool < reader.n_frames)]
    pool = _free(pool, exclude)
    if k <= 0:
        return pool[:0]
    if len(pool) <= k:
        return pool
    features, got = _thumbnails_of(reader, pool, resize_width, batch_size, progress)
    features = features.reshape(len(features), -1)
    features -= features.mean(axis=0)
    kmeans = MiniBatchKMeans(
        n_clusters=min(k, len(got)),
        tol=1e-3,
        batch_size=max(1, min(256, len(got) // 2)),
        max_iter=50,
        n_init=3,
        random_state=int(rng.integers(2**31 - 1)),
    )
    assignment = kmeans.fit_predict(features)
    # one random member per non-empty cluster: shuffle, then take each cluster's first occurrence
    order = rng.permutation(len(got))
    _, first = np.unique(assignment[order], return_index=True)
    return np.sort(got[order[first]])


def _thumbnails_of(
    reader: VideoReader, pool: np.ndarray, width: int, batch_size: int, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Thumbnails of the frames in ``pool`` (sorted), and the indices that decoded."""
    contiguous = len(pool) and pool[-1] - pool[0] + 1 <= 2 * len(pool)
    parts, indices = [], []
    with tqdm(
        total=len(pool), desc=f"Reading {reader.path.name}", unit="frame", disable=None if progress else True
    ) as bar:
        if contiguous:  # decode the span sequentially, keep the pool's frames
            for idx, frames in reader.iter_batches(batch_size, int(pool[0]), int(pool[-1]) + 1):
                keep = np.isin(idx, pool)
                if keep.any():
                    parts.append(thumbnails(frames[keep], width))
                    indices.append(idx[keep])
                    bar.update(int(keep.sum()))
        else:
            for chunk in np.array_split(pool, max(1, math.ceil(len(pool) / batch_size))):
                parts.append(thumbnails(reader.read_frames(chunk), width))
                indices.append(chunk)
                bar.update(len(chunk))
    if not parts:
        raise VideoError(f"No frame of {reader.path} in the requested range could be decoded.")
    return np.concatenate(parts), np.concatenate(indices)


def write_frames(
    reader: VideoReader, indices: Sequence[int] | np.ndarray, folder: str | os.PathLike[str], progress: bool = True
) -> list[Path]:
    """Write frames as ``folder/img<N>.png`` (atomically); returns the paths in index order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    indices = np.sort(np.asarray(indices, dtype=np.int64))
    paths = []
    bgr = VideoReader(reader.path, color="bgr") if reader.color != "bgr" else reader
    try:
        for chunk in tqdm(
            np.array_split(indices, max(1, math.ceil(len(indices) / 16))),
            desc=f"Writing {folder.name}",
            unit="batch",
            disable=None if progress else True,
        ):
            for index, frame in zip(chunk.tolist(), bgr.read_frames(chunk), strict=True):
                target = folder / image_name(index, reader.n_frames)
                with atomic_path(target) as tmp:
                    if not cv2.imwrite(str(tmp), frame):
                        raise ProjectError(
                            f"Could not write {target}; check that the folder is writable and the disk has space."
                        )
                paths.append(target)
    finally:
        if bgr is not reader:
            bgr.close()
    return paths


def extract_frames(
    config: str | os.PathLike[str],
    algo: str = "kmeans",
    num_frames: int | None = None,
    start: float | None = None,
    stop: float | None = None,
    videos: Sequence[str | os.PathLike[str]] | None = None,
    seed: int = 0,
) -> dict[str, list[Path]]:
    """Choose frames of the project's videos and write them into ``labeled-data/<video>/`` for labelling.

    ``num_frames``, ``start`` and ``stop`` default to the config's ``numframes2pick``, ``start`` and
    ``stop``; ``videos`` limits the work to some videos (paths or file stems). Frames already
    extracted are kept and never chosen again, so each run adds up to ``num_frames`` new frames
    per video. Returns the new image paths per video stem.
    """

    if algo not in ALGORITHMS:
        raise ProjectError(f"Unknown frame selection algorithm {algo!r}; use one of {list(ALGORITHMS)}.")
    project = Project.load(config)
    cfg = project.config
    k = int(num_frames if num_frames is not None else cfg.get("numframes2pick", 20))
    start = float(start if start is not None else cfg.get("start", 0) or 0)
    stop = float(stop if stop is not None else cfg.get("stop", 1) or 1)
    if k < 1:
        raise ProjectError(f"The number of frames to extract must be at least 1, not {k}.")
    targets = _videos_to_use(project.videos, videos, project.config_path)
    rng = np.random.default_rng(seed)
    written: dict[str, list[Path]] = {}
    for video in targets:
        folder = project.labeled_data_dir(video.stem)
        existing = existing_frame_indices(folder)
        with VideoReader(video, color="bgr") as reader:
            if algo == "uniform":
                chosen = select_frames_uniform(reader.n_frames, k, start, stop, rng, existing)
            else:
                chosen = select_frames_kmeans(reader, k, start, stop, rng, existing)
            written[video.stem] = write_frames(reader, chosen, folder)
    return written


def _videos_to_use(
    project_videos: list[Path], wanted: Sequence[str | os.PathLike[str]] | None, config_path: Path
) -> list[Path]:
    if wanted is None:
        if not project_videos:
            raise ProjectError(f"The project {config_path} has no videos; add some with `markerless add-videos`.")
        return project_videos
    chosen = []
    for item in wanted:
        path = Path(item)
        match = next(
            (v for v in project_videos if v == path.absolute() or v.name == path.name or v.stem == str(item)), None
        )
        if match is None:
            if path.is_file():
                match = path.absolute()
            else:
                raise ProjectError(f"Video {item} is neither in the project {config_path} nor an existing file.")
        chosen.append(match)
    return chosen


__all__ = [
    "ALGORITHMS",
    "existing_frame_indices",
    "extract_frames",
    "frame_window",
    "image_name",
    "select_frames_kmeans",
    "select_frames_uniform",
    "thumbnails",
    "write_frames",
]
