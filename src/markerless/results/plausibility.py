"""Jitter and plausibility of predictions on unlabelled video (no ground truth needed).

* **jumps**: a body part that moves more than ``threshold`` pixels between consecutive frames;
  :func:`jump_fraction` is the fraction of observed (frame pair, body part) cells that jump.
* **pose PCA** (Lightning Pose's single-view PCA): the poses of the labelled frames, each flattened to
  ``(x0, y0, x1, y1, ...)``, span a subspace; the components explaining ``variance_kept`` (99 %) of
  their variance are kept (:func:`fit_pose_pca`). A prediction's distance from its reconstruction in
  that subspace, per body part, is its pose-PCA error (:func:`pose_pca_error`).
* **multi-view consistency** (Lightning Pose's multi-view PCA): the same point seen in ``V`` views
  (``nose_top`` / ``nose_bot`` in a mirrored image, or the same body part in ``V`` cameras) is one
  ``2V``-vector per frame and body part; for (near-)affine views all of them lie in a 3-dimensional
  subspace, fitted to every labelled pair at once (:func:`fit_multiview_pca`). The distance of each
  view's point from its reconstruction is the consistency error (:func:`multiview_error`).

The fits are plain NumPy (:class:`PCAFit`); the training losses on unlabelled frames use the same
fits (``markerless.training.unlabelled_losses``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from markerless.errors import ConfigError, ProjectError, did_you_mean

JUMP_THRESHOLD = 20.0
"""Pixels between consecutive frames above which a body part counts as jumping."""
VARIANCE_KEPT = 0.99
"""Fraction of the labelled poses' variance the pose PCA keeps."""
MULTIVIEW_COMPONENTS = 3
"""Dimensions of the multi-view subspace: a 3D point seen by affine views."""
MIN_FRAMES_PER_KEYPOINT = 2
"""Fewest fully labelled frames per keypoint for a pose PCA (Lightning Pose asks for more frames than dimensions)."""


@dataclass(frozen=True)
class PCAFit:
    """A linear subspace: ``mean (D,)``, orthonormal ``components (C, D)`` and their variances ``(C,)``."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    samples: int
    """How many samples (frames, or frame x pair) it was fitted to."""

    def reconstruct(self, vectors: np.ndarray) -> np.ndarray:
        """Projection of ``(..., D)`` vectors onto the subspace (NaN rows stay NaN)."""
        centred = np.asarray(vectors, dtype=np.float64) - self.mean
        return (centred @ self.components.T) @ self.components + self.mean


def fit_pca(
    samples: np.ndarray, *, variance_kept: float | None = VARIANCE_KEPT, n_components: int | None = None
) -> PCAFit:
    """PCA of ``(S, D)`` samples (rows with a NaN are left out), keeping ``n_components`` components or
    the fewest that explain ``variance_kept`` of the variance."""
    x = np.asarray(samples, dtype=np.float64)
    x = x[np.isfinite(x).all(axis=1)]
    if len(x) < 2:
        raise ValueError(f"a PCA needs at least 2 complete samples, got {len(x)}")
    mean = x.mean(axis=0)
    _, sing, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = sing**2 / (len(x) - 1)
    if n_components is None:
        total = var.sum()
        ratio = np.cumsum(var) / total if total > 0 else np.ones_like(var)
        keep = float(VARIANCE_KEPT if variance_kept is None else variance_kept)
        n_components = int(np.searchsorted(ratio, keep - 1e-12) + 1)
    n_components = min(n_components, len(var))
    return PCAFit(mean, vt[:n_components], var[:n_components], len(x))


def _flat(xy: np.ndarray) -> np.ndarray:
    """``(..., K, 2)`` poses as ``(..., 2K)`` vectors ``x0, y0, x1, y1, ...``."""
    xy = np.asarray(xy, dtype=np.float64)
    return xy.reshape(*xy.shape[:-2], xy.shape[-2] * 2)


def fit_pose_pca(
    labelled: np.ndarray, *, variance_kept: float = VARIANCE_KEPT, source: str = "the labelled frames"
) -> PCAFit:
    """Pose PCA of labelled poses ``(frames, K, 2)``; frames with an unlabelled body part are left out.

    Raises :class:`~markerless.errors.ProjectError` (naming ``source`` and the fix) when fewer than
    :data:`MIN_FRAMES_PER_KEYPOINT` fully labelled frames per keypoint are left.
    """
    labelled = np.asarray(labelled, dtype=np.float64)
    if labelled.ndim != 3 or labelled.shape[-1] != 2:
        raise ValueError(f"labelled poses must be (frames, keypoints, 2), got shape {labelled.shape}")
    n_k = labelled.shape[1]
    complete = int(np.isfinite(labelled).all(axis=(1, 2)).sum())
    needed = MIN_FRAMES_PER_KEYPOINT * n_k
    if complete < needed:
        raise ProjectError(
            f"Pose PCA needs at least {needed} frames with all {n_k} keypoints labelled "
            f"({MIN_FRAMES_PER_KEYPOINT} per keypoint); {source} have {complete}. Label more frames "
            "completely, or leave the pose-PCA loss off."
        )
    return fit_pca(_flat(labelled), variance_kept=variance_kept)


def pose_pca_error(fit: PCAFit, xy: np.ndarray) -> np.ndarray:
    """Distance in pixels of each body part from its pose-PCA reconstruction: ``(..., K, 2)`` -> ``(..., K)``."""
    xy = np.asarray(xy, dtype=np.float64)
    recon = fit.reconstruct(_flat(xy)).reshape(xy.shape)
    return np.linalg.norm(xy - recon, axis=-1)


# --- views --------------------------------------------------------------------------------------
def view_pairs(bodyparts: Sequence[str], pairs: Sequence[Sequence[str]], *, source: str = "the pairs") -> np.ndarray:
    """Indices ``(P, V)`` of named views of the same points, e.g. ``[("nose_top", "nose_bot"), ...]``.

    Raises :class:`~markerless.errors.ConfigError` for a body part that does not exist or a group
    whose size differs from the first.
    """
    names = list(bodyparts)
    index = {name: i for i, name in enumerate(names)}
    if not pairs:
        raise ConfigError(f"{source}: no view pairs given; name them as nose_top/nose_bot, ...")
    width = len(pairs[0])
    out = []
    for group in pairs:
        if len(group) != width or width < 2:
            raise ConfigError(
                f"{source}: view group {'/'.join(group)} has {len(group)} body parts; every group needs the "
                f"same number of views (at least 2), like {'/'.join(pairs[0])}."
            )
        for name in group:
            if name not in index:
                raise ConfigError(f"{source}: body part '{name}' does not exist; {did_you_mean(name, names)}")
        out.append([index[name] for name in group])
    return np.asarray(out, dtype=np.int64)


def mirrored_pairs(bodyparts: Sequence[str], suffixes: Sequence[str] = ("_top", "_bot")) -> list[tuple[str, ...]]:
    """Groups of body parts that differ only by a view suffix (``nose_top`` / ``nose_bot``), in order."""
    names = set(bodyparts)
    first = suffixes[0]
    groups = []
    for name in bodyparts:
        if name.endswith(first):
            stem = name[: -len(first)]
            group = tuple(stem + s for s in suffixes)
            if all(g in names for g in group):
                groups.append(group)
    return groups


def _view_vectors(xy: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """``(..., K, 2)`` poses -> ``(..., P, 2V)`` vectors of each point's views side by side."""
    xy = np.asarray(xy, dtype=np.float64)
    picked = xy[..., pairs, :]  # (..., P, V, 2)
    return picked.reshape(*picked.shape[:-2], picked.shape[-2] * 2)


def fit_multiview_pca(
    labelled: np.ndarray, pairs: np.ndarray, *, n_components: int = MULTIVIEW_COMPONENTS, source: str = "the labels"
) -> PCAFit:
    """The multi-view subspace of labelled poses ``(frames, K, 2)``, fitted to every ``(frame, pair)`` at once."""
    pairs = np.asarray(pairs, dtype=np.int64)
    vectors = _view_vectors(labelled, pairs).reshape(-1, 2 * pairs.shape[1])
    complete = int(np.isfinite(vectors).all(axis=1).sum())
    if complete <= n_components:
        raise ProjectError(
            f"Multi-view PCA needs more than {n_components} labelled points seen in every view; {source} have "
            f"{complete}. Label the body parts in every view, or leave the multi-view loss off."
        )
    return fit_pca(vectors, variance_kept=None, n_components=n_components)


def multiview_error(fit: PCAFit, xy: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Distance in pixels of each view's point from its multi-view reconstruction: ``(..., P, V)``."""
    pairs = np.asarray(pairs, dtype=np.int64)
    vectors = _view_vectors(xy, pairs)
    diff = (vectors - fit.reconstruct(vectors)).reshape(*vectors.shape[:-1], pairs.shape[1], 2)
    return np.linalg.norm(diff, axis=-1)


# --- jitter -------------------------------------------------------------------------------------
def jumps(xy: np.ndarray, threshold: float = JUMP_THRESHOLD) -> np.ndarray:
    """Which points move more than ``threshold`` px between consecutive frames: ``(T, ..., 2)`` -> ``(T-1, ...)``.

    A pair of frames where either position is NaN does not jump.
    """
    xy = np.asarray(xy, dtype=np.float64)
    step = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    with np.errstate(invalid="ignore"):
        return step > threshold


def jump_fraction(xy: np.ndarray, threshold: float = JUMP_THRESHOLD, *, per_keypoint: bool = False) -> Any:
    """Fraction of observed (frame pair, point) cells of ``(T, ..., K, 2)`` poses that jump.

    ``per_keypoint``: one fraction per body part ``(..., K)`` instead of one number. NaN when nothing
    was observed in two consecutive frames.
    """
    xy = np.asarray(xy, dtype=np.float64)
    observed = np.isfinite(np.diff(xy, axis=0)).all(axis=-1)
    jumped = jumps(xy, threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        if per_keypoint:
            return jumped.sum(axis=0) / observed.sum(axis=0)
        total = observed.sum()
        return float(jumped.sum() / total) if total else float("nan")


def _summary(values: np.ndarray) -> dict[str, float]:
    """Median, 95th percentile and maximum of the finite values (NaN when none)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return {"median": float("nan"), "p95": float("nan"), "max": float("nan")}
    p50, p95 = np.percentile(finite, [50, 95])
    return {"median": float(p50), "p95": float(p95), "max": float(finite.max())}


def plausibility_report(
    xy: np.ndarray,
    *,
    threshold: float = JUMP_THRESHOLD,
    pose_pca: PCAFit | None = None,
    multiview: tuple[PCAFit, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Jitter and plausibility of predictions ``(T, K, 2)`` of one animal on an unlabelled video.

    Returns ``jump_fraction`` (and ``jump_threshold``), and with the fits the pose-PCA and multi-view
    error distributions in pixels (``median``, ``p95``, ``max``).
    """
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):
        report: dict[str, Any] = {"jump_threshold": float(threshold), "jump_fraction": jump_fraction(xy, threshold)}
        if pose_pca is not None:
            report["pose_pca_error"] = _summary(pose_pca_error(pose_pca, xy))
        if multiview is not None:
            report["multiview_error"] = _summary(multiview_error(multiview[0], xy, multiview[1]))
    return report


__all__ = [
    "JUMP_THRESHOLD",
    "MIN_FRAMES_PER_KEYPOINT",
    "MULTIVIEW_COMPONENTS",
    "VARIANCE_KEPT",
    "PCAFit",
    "fit_multiview_pca",
    "fit_pca",
    "fit_pose_pca",
    "jump_fraction",
    "jumps",
    "mirrored_pairs",
    "multiview_error",
    "plausibility_report",
    "pose_pca_error",
    "view_pairs",
]
