"""Pose-estimation metrics on arrays: pixel error (DeepLabCut's "RMSE"), error above the p-cutoff, PCK."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PCK_THRESHOLDS_PX = (2.0, 5.0, 10.0)

#: A test error above this fraction of the animal's labelled size means the model did not learn the set-up
#: (openfield, 1.9 px on a ~110 px mouse: 2 %; a side view whose body parts did not fit the crop: 16 %).
LARGE_ERROR_FRACTION = 0.1


# --- pure metrics -----------------------------------------------------------------------------
def pixel_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(...,)`` between predicted and true points ``(..., 2+)``; NaN where either is missing."""
    pred = np.asarray(pred, dtype=np.float64)[..., :2]
    gt = np.asarray(gt, dtype=np.float64)[..., :2]
    return np.sqrt(((pred - gt) ** 2).sum(axis=-1))


def mean_error(errors: np.ndarray, keep: np.ndarray | None = None) -> float:
    """Mean of the finite errors (restricted to ``keep``); NaN when there are none (DeepLabCut's "RMSE")."""
    errors = np.asarray(errors, dtype=np.float64)
    ok = np.isfinite(errors) if keep is None else np.isfinite(errors) & keep
    return float(errors[ok].mean()) if ok.any() else float("nan")


def pck(
    errors: np.ndarray, gt_labelled: np.ndarray, thresholds: Sequence[float] = PCK_THRESHOLDS_PX
) -> dict[str, float]:
    """Percentage of labelled points predicted within each threshold (a missing prediction counts as a miss)."""
    n = int(gt_labelled.sum())
    out = {}
    for t in thresholds:
        hits = int((np.nan_to_num(errors, nan=np.inf)[gt_labelled] <= t).sum())
        out[f"{t:g}"] = 100.0 * hits / n if n else float("nan")
    return out


def error_summary(
    pred: np.ndarray, gt: np.ndarray, pcutoff: float, thresholds: Sequence[float] = PCK_THRESHOLDS_PX
) -> dict[str, Any]:
    """Errors of predictions ``(N, K, 3)`` against ground truth ``(N, K, 2)``: mean, with p-cutoff, per part, PCK."""
    err = pixel_errors(pred, gt)
    above = np.asarray(pred)[..., 2] >= pcutoff
    return {
        "error_px": mean_error(err),
        "error_px_pcutoff": mean_error(err, above),
        "per_keypoint": [mean_error(err[:, k]) for k in range(err.shape[1])],
        "pck": pck(err, np.isfinite(gt).all(axis=-1), thresholds),
        "n": len(gt),
    }


def labelled_extent(gt: np.ndarray) -> float:
    """The animal's labelled size: the median over images ``(N, K, 2)`` of the diagonal of the box around
    its labelled points, in pixels; NaN when no image has two labelled points."""
    gt = np.asarray(gt, dtype=np.float64)[..., :2]
    ok = np.asarray(np.isfinite(gt).all(axis=-1))
    lo = np.where(ok[..., None], gt, np.inf).min(axis=1)
    hi = np.where(ok[..., None], gt, -np.inf).max(axis=1)
    keep = ok.sum(axis=1) >= 2
    if not keep.any():
        return float("nan")
    return float(np.median(np.hypot(*(hi[keep] - lo[keep]).T)))
