"""Tests of markerless.training.unlabelled_losses: ε-insensitive losses on unlabelled frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from markerless.errors import ConfigError, ProjectError
from markerless.training.unlabelled_losses import (
    multiview_pca_loss,
    multiview_pca_parameters,
    pose_pca_loss,
    pose_pca_parameters,
    temporal_loss,
)


def _trajectory(n_frames: int = 50, n_kp: int = 4) -> torch.Tensor:
    """A smooth trajectory ``(T, K, 2)`` moving at most ~2.5 px per frame."""
    t = torch.arange(n_frames, dtype=torch.float32)[:, None]
    k = torch.arange(n_kp, dtype=torch.float32)[None, :]
    return torch.stack([100 + 40 * torch.sin(t / 20 + k), 80 + 30 * torch.cos(t / 15 + k)], dim=-1)


def test_smooth_trajectory_gives_zero_temporal_loss_and_a_jump_a_positive_one() -> None:
    smooth = _trajectory()
    assert temporal_loss(smooth, epsilon=5.0).item() == 0.0
    jumped = smooth.clone()
    jumped[20, 1] += torch.tensor([30.0, 0.0])
    jumped.requires_grad_(True)
    loss = temporal_loss(jumped, epsilon=5.0)
    assert loss.item() > 0.0
    loss.backward()
    assert jumped.grad is not None
    moved = jumped.grad.abs().sum(dim=-1) > 0
    assert moved[20, 1] and moved.sum() <= 3  # only the jumping point and its neighbours
    # (T - 1) * K = 49 * 4 cells; two steps of ~30 px exceed ε by ~25 px
    assert loss.item() == pytest.approx(2 * 25.0 / (49 * 4), rel=0.15)
    assert temporal_loss(smooth[:1], epsilon=0.0).item() == 0.0  # one frame: nothing to compare
    clips = torch.stack([smooth, jumped.detach()])
    assert temporal_loss(clips, epsilon=5.0).item() > 0.0


def _labelled(n_frames: int = 60, n_kp: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = rng.normal(size=(n_kp, 2)) * 20
    shift = rng.normal(size=(n_frames, 1, 2)) * 20 + 200
    scale = rng.uniform(0.5, 1.5, size=(n_frames, 1, 1))
    return shift + scale * shape[None]


def test_pose_outside_the_fitted_subspace_gives_a_positive_pca_loss() -> None:
    labelled = _labelled()
    params = pose_pca_parameters(labelled)
    inside = torch.as_tensor(labelled[:8], dtype=torch.float32)
    assert pose_pca_loss(inside, params, epsilon=0.5).item() == 0.0
    outside = inside.clone()
    outside[3, 2] += torch.tensor([25.0, -10.0])
    outside.requires_grad_(True)
    loss = pose_pca_loss(outside, params, epsilon=0.5)
    assert loss.item() > 0.1
    loss.backward()
    assert outside.grad is not None and outside.grad[3, 2].abs().sum() > 0
    assert outside.grad[[0, 1, 2, 4, 5, 6, 7]].abs().sum() == 0  # other poses are plausible
    assert params.epsilon < 1e-3  # labelled poses reconstruct exactly: a suggested ε near 0


def test_pca_loss_refuses_too_few_labelled_frames() -> None:
    with pytest.raises(ProjectError, match="Pose PCA needs at least 10 frames"):
        pose_pca_parameters(_labelled(n_frames=6))


def test_multiview_loss_zero_for_consistent_views_positive_otherwise() -> None:
    rng = np.random.default_rng(2)
    points = rng.normal(size=(80, 2, 3)) * 30
    xy = np.concatenate([points[..., [0, 1]] + 100, points[..., [0, 2]] * [1.0, -0.8] + 300], axis=1)
    names = ["nose_top", "tail_top", "nose_bot", "tail_bot"]
    params = multiview_pca_parameters(xy, names, [("nose_top", "nose_bot"), ("tail_top", "tail_bot")])
    batch = torch.as_tensor(xy[:4], dtype=torch.float32)
    assert multiview_pca_loss(batch, params, epsilon=0.1).item() == 0.0
    batch[1, 2, 0] += 20.0  # bottom nose disagrees with the top view
    assert multiview_pca_loss(batch, params, epsilon=0.1).item() > 0.5
    with pytest.raises(ConfigError, match="does not exist"):
        multiview_pca_parameters(xy, names, [("nose_top", "nose_bottom")])
