"""The frame pipeline: decode -> infer -> record, with decoding overlapped with inference.

A background thread decodes batches (OpenCV releases the GIL while decoding) into a small bounded
queue; the calling thread runs the backend on each batch (PyTorch, OpenVINO and ONNX Runtime release
the GIL too) and hands the predictions on. The frames go to the backend exactly as decoded (BGR
``uint8``): no per-frame work in Python.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

_DONE = object()


class FrameSource(Protocol):
    """What the pipeline needs of a video reader (:class:`markerless.io.video.VideoReader`)."""

    def iter_batches(
        self, batch_size: int = 32, start: int = 0, stop: int | None = None, *, fresh: bool = False
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(frame indices (B,), frames uint8 (B, H, W, 3))`` batches of ``[start, stop)``, each in a new array if ``fresh``."""
        ...


def prefetch(*producers: Iterator[Any], depth: int = 3) -> Iterator[Any]:
    """Items of the ``producers``, each run in its own background thread, at most ``depth`` ahead.

    Items of different producers interleave in the order they are ready. Exceptions of a producer are
    re-raised in the consumer; closing the consumer stops the producers.
    """
    buffer: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce(items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as err:  # handed to the consumer
            put(err)

    threads = [
        threading.Thread(target=produce, args=(p,), name=f"markerless-decode-{i}", daemon=True)
        for i, p in enumerate(producers)
    ]
    for thread in threads:
        thread.start()
    try:
        running = len(threads)
        while running:
            item = buffer.get()
            if item is _DONE:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def _batches(
    source: FrameSource, batch_size: int, ranges: list[tuple[int, int]]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    # batches go to another thread while the next is decoded: each is decoded into its own array
    for start, stop in ranges:
        for indices, frames in source.iter_batches(batch_size, start, stop, fresh=True):
            yield np.asarray(indices, dtype=np.int64), frames


def _opened(
    open_source: Callable[[], Any], batch_size: int, ranges: list[tuple[int, int]]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    with open_source() as source:
        yield from _batches(source, batch_size, ranges)


def split_evenly(ranges: list[tuple[int, int]], parts: int) -> list[list[tuple[int, int]]]:
    """``ranges`` cut into ``parts`` groups of contiguous frames with near-equal frame counts."""
    total = sum(b - a for a, b in ranges)
    if parts <= 1 or total == 0:
        return [list(ranges)] if total else []
    bounds = np.linspace(0, total, parts + 1).round().astype(int)
    groups: list[list[tuple[int, int]]] = [[] for _ in range(parts)]
    offset = 0
    for a, b in ranges:
        for g in range(parts):
            lo, hi = max(a, a + bounds[g] - offset), min(b, a + bounds[g + 1] - offset)
            if hi > lo:
                groups[g].append((int(lo), int(hi)))
        offset += b - a
    return [g for g in groups if g]


def run_pipeline(
    source: FrameSource,
    backend: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
    start: int = 0,
    stop: int | None = None,
    *,
    depth: int = 3,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(frame indices (B,), predictions float32 (B, K, 3))`` for the frames ``[start, stop)``, in order."""
    end = stop if stop is not None else np.iinfo(np.int64).max
    for indices, frames in prefetch(_batches(source, batch_size, [(start, end)]), depth=depth):
        yield indices, backend(frames)


def run_ranges(
    open_source: Callable[[], Any],
    backend: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
    ranges: list[tuple[int, int]],
    *,
    decoders: int = 1,
    depth: int = 3,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Predictions for frame ``ranges``, decoded by ``decoders`` threads with a reader each.

    ``open_source()`` opens a new reader (a context manager). With several decoders the batches come
    in no particular order (each carries its frame indices); one decoder keeps frame order. More
    decoders help when inference is faster than one decoding thread (GPUs, many cores).
    """
    groups = split_evenly(ranges, max(1, decoders))
    producers = [_opened(open_source, batch_size, g) for g in groups]
    for indices, frames in prefetch(*producers, depth=depth * max(1, len(producers))):
        yield indices, backend(frames)
