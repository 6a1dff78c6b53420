"""Chunked predictions survive reopening, never mix runs, and report what is missing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.analysis.results_writer import PartialResults, partial_dir, ranges_of
from markerless.errors import LabelFileError

FP = {"scorer": "DLC_x", "backend": "torch"}


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 59), max_size=6, unique=True), chunk=st.integers(1, 20), data=st.data())
def test_chunks_round_trip_in_any_order(tmp_path_factory, cuts, chunk, data):
    out = tmp_path_factory.mktemp("w") / "v.h5"
    n, k = 60, 2
    expected = np.random.default_rng(len(cuts)).normal(size=(n, k, 3)).astype(np.float32)
    edges = [0, *sorted(cuts), n]
    pieces = data.draw(st.permutations(list(itertools.pairwise(edges))))
    kept = pieces[: len(pieces) // 2 + 1]
    writer = PartialResults(out, n, k, FP, chunk_frames=chunk)
    for a, b in kept:
        writer.add(np.arange(a, b), expected[a:b])
    writer.flush()
    reopened = PartialResults(out, n, k, FP, chunk_frames=chunk)
    done = np.zeros(n, bool)
    for a, b in kept:
        done[a:b] = True
    assert reopened.resumed_frames == done.sum()
    assert reopened.missing() == ranges_of(~done)
    for a, b in reopened.missing():
        reopened.add(np.arange(a, b), expected[a:b])
    assert reopened.complete()
    np.testing.assert_array_equal(reopened.result(), expected)


def test_a_different_run_starts_afresh(tmp_path):
    out = tmp_path / "v.h5"
    writer = PartialResults(out, 10, 1, FP, chunk_frames=1)
    writer.add(np.arange(5), np.zeros((5, 1, 3)))
    assert PartialResults(out, 10, 1, FP).resumed_frames == 5
    other = PartialResults(out, 10, 1, {**FP, "backend": "openvino"})
    assert other.resumed_frames == 0 and other.missing() == [(0, 10)]
    assert partial_dir(out).name == ".v.h5.partial"


def test_truncated_video_end_and_errors(tmp_path):
    writer = PartialResults(tmp_path / "v.h5", 10, 1, FP)
    writer.add(np.arange(7), np.ones((7, 1, 3)))
    with pytest.raises(LabelFileError, match="missing"):
        writer.result()
    writer.mark_end(7)
    assert writer.complete() and writer.result().shape == (7, 1, 3)
    with pytest.raises(LabelFileError, match="do not match"):
        writer.add(np.arange(2), np.ones((2, 3, 3)))
    writer.flush()
    assert PartialResults(tmp_path / "v.h5", 10, 1, FP).complete()
    writer.discard()
    assert not writer.dir.exists()


def test_ranges_of():
    assert ranges_of(np.array([1, 1, 0, 1, 0, 0, 1], bool)) == [(0, 2), (3, 4), (6, 7)]
    assert ranges_of(np.zeros(3, bool)) == []
