"""Differentiable keypoints: a sharp heatmap gives its peak to a fraction of a pixel, and gradients flow."""

from __future__ import annotations

import pytest
import torch

from markerless.nets.decode import LOCREF_STDEV, cell_centres, decode_heatmaps
from markerless.training.soft_keypoints import soft_keypoints

STRIDE = 8


def _maps(points: torch.Tensor, h: int = 12, w: int = 16, sharpness: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits peaked at ``points (B, K, 2)`` (input pixels) and offsets from every cell to its point."""
    cx = cell_centres(w, STRIDE).view(1, 1, 1, w)
    cy = cell_centres(h, STRIDE).view(1, 1, h, 1)
    dx = points[..., 0, None, None] - cx
    dy = points[..., 1, None, None] - cy
    logits = 10.0 - sharpness * (dx**2 + dy**2) / STRIDE**2
    b, k = points.shape[:2]
    offsets = torch.stack([dx.expand(b, k, h, w), dy.expand(b, k, h, w)], dim=2).reshape(b, 2 * k, h, w)
    return logits, offsets / LOCREF_STDEV


def test_sharp_heatmap_gives_its_peak_within_a_fraction_of_a_pixel() -> None:
    points = torch.tensor([[[37.3, 21.8], [100.6, 70.1], [5.2, 90.9]]])
    logits, offsets = _maps(points)
    found = soft_keypoints(logits, offsets, STRIDE)
    assert found.shape == (1, 3, 2)
    assert (found - points).abs().max() < 0.05
    decoded = decode_heatmaps(logits, offsets, STRIDE)[..., :2]
    assert (found - decoded).abs().max() < 0.05  # the same point as analysis decodes


def test_without_offsets_a_sharp_peak_is_its_cell_centre() -> None:
    points = torch.tensor([[[4 * STRIDE + STRIDE / 2, 2 * STRIDE + STRIDE / 2]]])  # a cell centre
    logits, _ = _maps(points, sharpness=40.0)
    found = soft_keypoints(logits, None, STRIDE)
    assert found[0, 0].tolist() == pytest.approx(points[0, 0].tolist(), abs=1e-3)


def test_gradients_reach_the_logits_and_the_offsets_near_the_peak() -> None:
    points = torch.tensor([[[40.0, 30.0]]])
    logits, offsets = _maps(points, sharpness=1.0)
    logits.requires_grad_(True)
    offsets.requires_grad_(True)
    soft_keypoints(logits, offsets, STRIDE)[..., 0].sum().backward()
    assert logits.grad is not None and offsets.grad is not None
    assert torch.isfinite(offsets.grad).all() and torch.isfinite(logits.grad).all()  # no 0/0 far from the peak
    assert offsets.grad[0, 0].abs().sum() > 0
    assert offsets.grad[0, 0, 10:, :].abs().sum() == 0  # cells far from the peak are not used
    logits.grad = None
    soft_keypoints(logits, None, STRIDE)[..., 0].sum().backward()  # the cells' votes differ: weights matter
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="odd"):
        soft_keypoints(logits, offsets, STRIDE, window=2)


def test_whole_map_gives_a_sharp_peak_and_a_second_peak_pulls_it() -> None:
    points = torch.tensor([[[37.3, 21.8], [100.6, 70.1]]])
    logits, offsets = _maps(points)
    found = soft_keypoints(logits, offsets, STRIDE, window=None)
    assert (found - points).abs().max() < 0.05  # one sharp peak: the decoder's point
    far = torch.tensor([[[100.0, 76.0], [20.0, 20.0]]])
    second, second_offsets = _maps(far)
    nearer = second - 2.0 > logits  # cells where the weaker second peak is the higher one
    both = torch.where(nearer, second - 2.0, logits)
    votes = torch.where(nearer.repeat_interleave(2, dim=1), second_offsets, offsets)
    local = soft_keypoints(both, votes, STRIDE)
    whole = soft_keypoints(both, votes, STRIDE, window=None)
    assert (local - points).abs().max() < 0.05  # the window sees only the highest peak
    way = far - points
    pull = ((whole - points) * way).sum(-1) / (way * way).sum(-1)  # share of the way to the second peak
    assert ((pull > 0.05) & (pull < 0.5)).all()  # pulled towards it (about e^-2 of the weight), not onto it
    both.requires_grad_(True)
    soft_keypoints(both, votes, STRIDE, window=None)[..., 0].sum().backward()
    assert both.grad is not None and both.grad[0, 0, 9, 12] != 0  # the far peak's cell gets a gradient
