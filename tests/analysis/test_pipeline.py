"""The frame pipeline: ordered single-decoder output, several decoders, errors reach the caller."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from markerless.analysis.pipeline import prefetch, run_pipeline, run_ranges, split_evenly


class ArrayReader:
    """An in-memory reader that, like VideoReader, reuses one buffer between batches unless ``fresh``."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames

    def iter_batches(self, batch_size=32, start=0, stop=None, *, fresh=False):
        stop = len(self.frames) if stop is None else min(stop, len(self.frames))
        buffer = np.empty((batch_size, *self.frames.shape[1:]), self.frames.dtype)
        for a in range(start, stop, batch_size):
            b = min(a + batch_size, stop)
            if fresh:
                buffer = np.empty_like(buffer)
            buffer[: b - a] = self.frames[a:b]
            yield np.arange(a, b), buffer[: b - a]


def _mean_backend(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(len(frames), 1, -1).mean(axis=2, keepdims=True).repeat(3, axis=2).astype(np.float32)


FRAMES = np.arange(50 * 2 * 2 * 3, dtype=np.float64).reshape(50, 2, 2, 3) % 251


def test_single_decoder_keeps_order_and_never_shares_buffers():
    out = list(run_pipeline(ArrayReader(FRAMES), _mean_backend, 7, 3, 40))
    indices = np.concatenate([i for i, _ in out])
    np.testing.assert_array_equal(indices, np.arange(3, 40))
    np.testing.assert_allclose(np.concatenate([v for _, v in out]), _mean_backend(FRAMES[3:40]))


def test_several_decoders_cover_every_frame_once():
    ranges = [(0, 10), (20, 50)]
    out = list(run_ranges(lambda: contextlib.nullcontext(ArrayReader(FRAMES)), _mean_backend, 4, ranges, decoders=3))
    indices = np.concatenate([i for i, _ in out])
    values = np.concatenate([v for _, v in out])
    order = np.argsort(indices)
    np.testing.assert_array_equal(indices[order], np.r_[0:10, 20:50])
    np.testing.assert_allclose(values[order], _mean_backend(FRAMES[np.r_[0:10, 20:50]]))


def test_split_evenly():
    groups = split_evenly([(0, 10), (20, 50)], 4)
    assert groups == [[(0, 10)], [(20, 30)], [(30, 40)], [(40, 50)]]
    assert split_evenly([(5, 8)], 5) == [[(5, 6)], [(6, 7)], [(7, 8)]]
    assert split_evenly([], 3) == []


def test_decoder_errors_reach_the_consumer():
    def broken():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetch(broken(), iter([2, 3])))
