"""Part-affinity-field targets (unit vectors on limbs, zero elsewhere) and edges for skeletons without any."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from markerless.model.labels import Labels
from markerless.model.skeleton import PoseLayout, Skeleton
from markerless.training.paf_targets import paf_edges, paf_targets, spanning_tree_edges


def _cell(x: float, y: float, stride: int = 8) -> tuple[int, int]:
    return int((y - stride / 2) // stride), int((x - stride / 2) // stride)


def test_unit_vector_on_the_limb_zero_elsewhere() -> None:
    kp = np.array([[[20.0, 20.0], [100.0, 80.0], [np.nan, np.nan]]])  # one animal, limb 0->1 of length 100
    fields = paf_targets(kp, [[0, 1], [1, 2]], (16, 16), stride=8, width=8.0)
    assert fields.shape == (4, 16, 16)
    row, col = _cell(60.0, 52.0)  # the cell centre (60, 52) lies on the segment's midline region
    assert fields[0, row, col] == pytest.approx(0.8)
    assert fields[1, row, col] == pytest.approx(0.6)
    assert torch.allclose(fields[:2].norm(dim=0)[fields[:2].norm(dim=0) > 0], torch.tensor(1.0))
    assert float(fields[:2, 15, 0].abs().sum()) == 0.0  # far corner: off the limb
    row, col = _cell(4.0, 4.0)  # behind the start point: off the limb
    assert float(fields[:2, row, col].abs().sum()) == 0.0
    assert float(fields[2:].abs().sum()) == 0.0  # an edge with a missing end draws nothing
    # cells within the width, measured across the segment
    centres = torch.arange(16) * 8 + 4.0
    cx, cy = centres.view(1, 16), centres.view(16, 1)
    across = ((cx - 20) * 0.6 - (cy - 20) * 0.8).abs()
    along = (cx - 20) * 0.8 + (cy - 20) * 0.6
    beyond = torch.where(along < 0, -along, torch.where(along > 100, along - 100, 0.0))
    expected = across.square() + beyond.square() <= 64.0  # a capsule of radius 8 around the segment
    assert torch.equal(fields[0] != 0, expected)


def test_overlapping_limbs_are_averaged_and_batches_kept() -> None:
    a = [[0.0, 36.0], [120.0, 36.0]]  # left to right along row 4
    b = [[36.0, 0.0], [36.0, 120.0]]  # top to bottom along column 4
    fields = paf_targets(np.array([[a, b]]), [[0, 1]], (16, 16), stride=8, width=4.0)
    assert fields.shape == (1, 2, 16, 16)
    assert fields[0, :, 4, 4].tolist() == pytest.approx([0.5, 0.5])  # the crossing: mean of (1, 0) and (0, 1)
    assert fields[0, :, 4, 10].tolist() == pytest.approx([1.0, 0.0])
    padded = np.concatenate([np.array([[a, b]]), np.full((1, 1, 2, 2), np.nan)], axis=1)  # an all-NaN animal
    assert torch.equal(paf_targets(padded, [[0, 1]], (16, 16), 8, 4.0), fields)


def _labels(xy: np.ndarray, parts: list[str], edges: tuple = ()) -> Labels:
    layout = PoseLayout(Skeleton(tuple(parts), edges), individuals=("a", "b"), multi_animal=True)
    return Labels(layout, [f"labeled-data/v/img{i}.png" for i in range(len(xy))], xy)


def test_spanning_tree_joins_close_parts_seen_together() -> None:
    rng = np.random.default_rng(0)
    # a chain nose - neck - back - tail, 20 px apart, plus a 'hat' that is never labelled
    base = np.array([[0.0, 0.0], [20.0, 0.0], [40.0, 0.0], [60.0, 0.0], [np.nan, np.nan]])
    xy = base + rng.normal(0, 1, (6, 2, 5, 2))
    labels = _labels(xy, ["nose", "neck", "back", "tail", "hat"])
    tree = spanning_tree_edges(labels)
    assert set(tree) == {("nose", "neck"), ("neck", "back"), ("back", "tail")}
    edges, note = paf_edges(labels)
    assert edges == tree and note is not None and "spanning tree" in note and "skeleton" in note
    with_skeleton = _labels(xy, ["nose", "neck", "back", "tail", "hat"], (("nose", "tail"),))
    assert paf_edges(with_skeleton) == ((("nose", "tail"),), None)


def test_spanning_tree_prefers_parts_labelled_together() -> None:
    xy = np.full((10, 2, 3, 2), np.nan)
    xy[:, :, 0] = [0.0, 0.0]  # p: labelled on one animal in ten
    xy[1:, :, 0] = np.nan
    xy[:, :, 1] = [30.0, 0.0]  # q
    xy[:, :, 2] = [10.0, 0.0]  # r: 10 px from p but seen with it once; 20 px from q, always seen with it
    tree = spanning_tree_edges(_labels(xy, ["p", "q", "r"]))
    assert set(tree) == {("q", "r"), ("p", "r")}
