"""Losses on unlabelled frames (Lightning Pose, Biderman et al. 2024), each zero below a tolerance ε.

Each loss is a pure function of predicted keypoints in pixels plus fitted parameters, differentiable
in the keypoints, and ε-insensitive: a body part's error ``e`` costs ``max(e - ε, 0)``, averaged over
body parts and frames, so predictions that are already plausible within ε give no gradient.

* :func:`temporal_loss`: ``(T, K, 2)`` keypoints of consecutive frames; the error is each body part's
  displacement between neighbouring frames.
* :func:`pose_pca_loss`: ``(B, K, 2)``; the error is each body part's distance from its reconstruction
  in the pose subspace fitted to the labelled poses (:func:`pose_pca_parameters`).
* :func:`multiview_pca_loss`: ``(B, K, 2)``; the error is each view's distance from its reconstruction
  in the 3-dimensional subspace of views of the same points (:func:`multiview_pca_parameters`).

The fits are the NumPy ones of :mod:`markerless.results.plausibility` (the same subspaces measure
plausibility after analysis); :class:`PCAParameters` holds them as tensors. Too few labelled frames
for a fit raise :class:`~markerless.errors.ProjectError` naming the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from markerless.results.plausibility import (
    VARIANCE_KEPT,
    PCAFit,
    fit_multiview_pca,
    fit_pose_pca,
    multiview_error,
    pose_pca_error,
    view_pairs,
)


@dataclass(frozen=True)
class PCAParameters:
    """A fitted subspace as tensors: ``mean (D,)``, ``components (C, D)``; ``pairs (P, V)`` for views."""

    mean: torch.Tensor
    components: torch.Tensor
    pairs: torch.Tensor | None = None
    epsilon: float = 0.0
    """Suggested ε (pixels): the given percentile of the labelled poses' own reconstruction errors."""

    def to(self, device: torch.device | str) -> PCAParameters:
        """The same parameters on ``device``."""
        return PCAParameters(
            self.mean.to(device),
            self.components.to(device),
            None if self.pairs is None else self.pairs.to(device),
            self.epsilon,
        )


def _tensors(fit: PCAFit, pairs: np.ndarray | None, epsilon: float) -> PCAParameters:
    return PCAParameters(
        torch.as_tensor(fit.mean, dtype=torch.float32),
        torch.as_tensor(fit.components, dtype=torch.float32),
        None if pairs is None else torch.as_tensor(pairs, dtype=torch.long),
        float(epsilon),
    )


def _percentile(errors: np.ndarray, percentile: float) -> float:
    finite = errors[np.isfinite(errors)]
    return float(np.percentile(finite, percentile)) if finite.size else 0.0


def pose_pca_parameters(
    labelled: np.ndarray,
    *,
    variance_kept: float = VARIANCE_KEPT,
    epsilon_percentile: float = 99.0,
    source: str = "the labelled frames",
) -> PCAParameters:
    """Pose PCA of labelled poses ``(frames, K, 2)`` for :func:`pose_pca_loss` (see ``fit_pose_pca``)."""
    fit = fit_pose_pca(labelled, variance_kept=variance_kept, source=source)
    return _tensors(fit, None, _percentile(pose_pca_error(fit, labelled), epsilon_percentile))


def multiview_pca_parameters(
    labelled: np.ndarray,
    bodyparts: Sequence[str],
    pairs: Sequence[Sequence[str]],
    *,
    epsilon_percentile: float = 99.0,
    source: str = "the labelled frames",
) -> PCAParameters:
    """Multi-view PCA of labelled poses ``(frames, K, 2)`` for named views (``[("nose_top", "nose_bot"), ...]``)."""
    index = view_pairs(bodyparts, pairs, source=source)
    fit = fit_multiview_pca(labelled, index, source=source)
    return _tensors(fit, index, _percentile(multiview_error(fit, labelled, index), epsilon_percentile))


def _insensitive(errors: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Mean of ``max(error - ε, 0)``."""
    return torch.clamp(errors - epsilon, min=0.0).mean()


def temporal_loss(keypoints: torch.Tensor, epsilon: float) -> torch.Tensor:
    """ε-insensitive loss on the displacement of each body part between consecutive frames ``(T, K, 2)``.

    A leading batch of clips ``(N, T, K, 2)`` is accepted too. Zero for fewer than 2 frames.
    """
    if keypoints.shape[-3] < 2:
        return keypoints.sum() * 0.0
    step = torch.linalg.vector_norm(keypoints[..., 1:, :, :] - keypoints[..., :-1, :, :], dim=-1)
    return _insensitive(step, epsilon)


def _reconstruct(vectors: torch.Tensor, params: PCAParameters) -> torch.Tensor:
    centred = vectors - params.mean
    return centred @ params.components.T @ params.components + params.mean


def pose_pca_loss(keypoints: torch.Tensor, params: PCAParameters, epsilon: float) -> torch.Tensor:
    """ε-insensitive loss on each body part's distance from its pose-PCA reconstruction, ``(B, K, 2)``."""
    flat = keypoints.reshape(*keypoints.shape[:-2], -1)
    recon = _reconstruct(flat, params).reshape(keypoints.shape)
    return _insensitive(torch.linalg.vector_norm(keypoints - recon, dim=-1), epsilon)


def multiview_pca_loss(keypoints: torch.Tensor, params: PCAParameters, epsilon: float) -> torch.Tensor:
    """ε-insensitive loss on each view's distance from its multi-view reconstruction, ``(B, K, 2)``."""
    if params.pairs is None:
        raise ValueError("multi-view parameters need their view pairs (use multiview_pca_parameters)")
    views = keypoints[..., params.pairs, :]  # (B, P, V, 2)
    vectors = views.reshape(*views.shape[:-2], -1)
    recon = _reconstruct(vectors, params).reshape(views.shape)
    return _insensitive(torch.linalg.vector_norm(views - recon, dim=-1), epsilon)


__all__ = [
    "PCAParameters",
    "multiview_pca_loss",
    "multiview_pca_parameters",
    "pose_pca_loss",
    "pose_pca_parameters",
    "temporal_loss",
]
