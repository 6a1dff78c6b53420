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
        self, batch_size: int = 32, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(frame indices (B,), frames uint8 (B, H, W, 3))`` batches of ``[start, stop)``."""
        ...


def prefetch(batches: Iterator[Any], depth: int = 3) -> Iterator[Any]:
    """Items of ``batches`` produced in a background thread, at most ``depth`` ahead of the consumer.

    Exceptions of the producer are re-raised in the consumer; closing the consumer stops the producer.
    """
    buffer: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item = _DONE
        except BaseException as err:  # handed to the consumer
            item = err
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name="markerless-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def run_pipeline(
    source: FrameSource,
    backend: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
    start: int = 0,
    stop: int | None = None,
    *,
    depth: int = 3,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(frame indices (B,), predictions float32 (B, K, 3))`` for the frames ``[start, stop)``."""
    # the reader reuses its frame buffer between batches: the decoding thread hands out copies
    batches = ((indices, frames.copy()) for indices, frames in source.iter_batches(batch_size, start, stop))
    for indices, frames in prefetch(batches, depth):
        yield np.asarray(indices, dtype=np.int64), backend(frames)
