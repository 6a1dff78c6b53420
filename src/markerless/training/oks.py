"""Multi-animal metrics: OKS mAP / mAR as DeepLabCut computes them, and pixel error after matching animals.

Inputs are arrays over images: ground truth ``(images, individuals, keypoints, 2)`` with NaN for
unlabelled points, predictions ``(images, animals, keypoints, 3)`` = x, y, score with NaN for missing
points, and optionally one score per predicted animal (else the mean of its keypoint scores).

**OKS** (DeepLabCut's ``calc_object_keypoint_similarity``): over the keypoints labelled in the ground
truth animal (at least 2), with ``s² = (range_x + ε)(range_y + ε)`` the area of the box around them and
``k = 2σ``, each keypoint scores ``exp(-d² / (2 s² k²))`` (0 when the prediction misses it); OKS is the
mean. DeepLabCut uses σ = 0.1 for every keypoint; SLEAP's OKS is the same formula with σ = 0.025.

**mAP / mAR** (DeepLabCut's ``core/metrics/distance_metrics.compute_oks``): animals (labelled or
predicted) with fewer than 2 complete points are left out; per image, predictions ranked by score are
matched greedily to the ground truth animal of highest OKS if that animal is still free and the OKS
reaches the threshold (unlike pycocotools, a prediction whose best animal is taken stays unmatched
rather than trying the next best); then over all images, in score order, cumulative true/false
positives give precision and recall, precision is made monotone and read at 101 recall points.
mAP = 100 × mean precision over the thresholds 0.50:0.05:0.95, mAR = 100 × mean final recall.

**Pixel error** after matching: per image, predicted and labelled animals are paired by the
assignment (Hungarian) that minimises the sum of mean distances over the keypoints both have; the
error of each labelled point is its distance to the paired prediction (NaN when unpaired).
DeepLabCut's own multi-animal "RMSE" pairs animals greedily by OKS instead (``match="oks"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from markerless.training.metrics import pck

DLC_OKS_SIGMA = 0.1
"""DeepLabCut's OKS sigma, the same for every keypoint."""
SLEAP_OKS_SIGMA = 0.025
"""SLEAP's (stricter) OKS sigma."""
OKS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
"""OKS thresholds over which precision and recall are averaged (COCO's 0.50:0.05:0.95)."""
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
"""Recall values at which precision is read (COCO's 101 points)."""
_DLC_RMSE_OKS_THRESHOLD = 1e-6
"""DeepLabCut pairs animals for its multi-animal pixel error by greedy OKS above this value."""
_MAX_ENUMERATED_ANIMALS = 6
"""Up to this many animals per image the assignment is found by trying every permutation at once."""


def _check(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt = np.asarray(gt, dtype=np.float64)[..., :2]
    pred = np.asarray(pred, dtype=np.float64)
    if gt.ndim != 4 or pred.ndim != 4 or pred.shape[-1] < 3:
        raise ValueError(
            f"Expected ground truth (images, individuals, keypoints, 2) and predictions (images, animals, "
            f"keypoints, 3); got {gt.shape} and {pred.shape}."
        )
    if gt.shape[0] != pred.shape[0] or gt.shape[2] != pred.shape[2]:
        raise ValueError(f"Ground truth {gt.shape} and predictions {pred.shape} differ in images or keypoints.")
    return gt, pred[..., :3]


def oks_matrix(gt: np.ndarray, pred: np.ndarray, sigma: float | np.ndarray = DLC_OKS_SIGMA) -> np.ndarray:
    """OKS ``(images, animals, individuals)`` of every predicted animal against every labelled one.

    ``sigma`` is one value or one per keypoint. NaN where the labelled animal has fewer than 2
    labelled points or a box of zero area (DeepLabCut's rule).
    """
    gt, pred = _check(gt, pred)
    visible = np.isfinite(gt).all(axis=-1)  # (N, G, K)
    lo = np.where(visible[..., None], gt, np.inf).min(axis=2)
    hi = np.where(visible[..., None], gt, -np.inf).max(axis=2)
    with np.errstate(invalid="ignore"):
        area = np.prod(hi - lo + np.spacing(1), axis=-1)  # (N, G)
    usable = (visible.sum(axis=2) >= 2) & ~np.isclose(area, 0)
    k2 = (2 * np.broadcast_to(np.asarray(sigma, dtype=np.float64), gt.shape[2:3])) ** 2  # (K,)
    d2 = ((pred[:, :, None, :, :2] - gt[:, None]) ** 2).sum(axis=-1)  # (N, P, G, K)
    d2 = np.where(np.isnan(d2), np.inf, d2)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_point = np.exp(-d2 / (2 * area[:, None, :, None] * k2))
    per_point = np.where(visible[:, None], per_point, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        oks = per_point.sum(axis=-1) / visible.sum(axis=-1)[:, None, :]
    return np.where(usable[:, None, :], oks, np.nan)


def animal_scores(pred: np.ndarray) -> np.ndarray:
    """Score ``(images, animals)`` of each predicted animal: the mean of its keypoint scores (DeepLabCut's)."""
    score = np.asarray(pred, dtype=np.float64)[..., 2]
    count = np.isfinite(score).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.nansum(score, axis=-1) / count, np.nan)


def _ranked(gt: np.ndarray, pred: np.ndarray, scores: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Predictions and their scores sorted by score per image, which predicted and labelled animals
    count (at least 2 complete points) and the sorting order ``(images, animals)``."""
    scores = animal_scores(pred) if scores is None else np.asarray(scores, dtype=np.float64)
    if scores.shape != pred.shape[:2]:
        raise ValueError(f"Animal scores have shape {scores.shape}; expected {pred.shape[:2]}.")
    pred_ok = (np.isfinite(pred).all(axis=-1).sum(axis=-1) >= 2) & np.isfinite(scores)
    order = np.argsort(np.where(pred_ok, -scores, np.inf), axis=1, kind="stable")
    pred = np.take_along_axis(pred, order[..., None, None], axis=1)
    scores = np.take_along_axis(scores, order, axis=1)
    pred_ok = np.take_along_axis(pred_ok, order, axis=1)
    gt_ok = np.isfinite(gt).all(axis=-1).sum(axis=-1) >= 2
    return pred, scores, pred_ok, gt_ok, order


def greedy_oks_match(oks: np.ndarray, pred_ok: np.ndarray, gt_ok: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """OKS of each ranked prediction's match ``(thresholds, images, animals)``; 0 where unmatched.

    ``oks`` ``(images, animals, individuals)`` with predictions in score order. DeepLabCut's greedy
    rule (``match_greedy_oks``): each prediction takes its best labelled animal if that one is free
    and the OKS reaches the threshold.
    """
    t, (n, p, g) = len(thresholds), oks.shape
    oks = np.where(pred_ok[:, :, None] & gt_ok[:, None, :], oks, np.nan)
    taken = np.zeros((t, n, g), dtype=bool)
    out = np.zeros((t, n, p))
    rows = np.arange(n)
    for j in range(p):  # one pass per rank (a handful of animals), vectorised over thresholds and images
        row = oks[:, j]  # (N, G)
        has = np.isfinite(row).any(axis=1)
        best = np.argmax(np.where(np.isfinite(row), row, -np.inf), axis=1) if g else np.zeros(n, dtype=np.int64)
        best_oks = row[rows, best] if g else np.full(n, np.nan)
        free = ~taken[:, rows, best] if g else np.zeros((t, n), dtype=bool)
        hit = has[None] & free & (best_oks[None] >= thresholds[:, None])
        out[:, :, j] = np.where(hit, best_oks[None], 0.0)
        if g:
            taken[:, rows, best] |= hit
    return out


def oks_map(
    gt: np.ndarray,
    pred: np.ndarray,
    scores: np.ndarray | None = None,
    *,
    sigma: float | np.ndarray = DLC_OKS_SIGMA,
    thresholds: Sequence[float] | np.ndarray = OKS_THRESHOLDS,
    recall_points: Sequence[float] | np.ndarray = RECALL_POINTS,
) -> dict[str, float]:
    """``{"mAP", "mAR"}`` (percent) of predictions against ground truth, exactly as DeepLabCut computes them.

    ``scores`` ``(images, animals)`` ranks the predicted animals (default: mean keypoint score).
    Both are 0 without any prediction, NaN without any labelled animal.
    """
    gt, pred = _check(gt, pred)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    recall_points = np.asarray(recall_points, dtype=np.float64)
    pred, scores, pred_ok, gt_ok, _order = _ranked(gt, pred, scores)
    matched = greedy_oks_match(oks_matrix(gt, pred, sigma), pred_ok, gt_ok, thresholds)  # (T, N, P)
    keep = pred_ok.ravel()
    if not keep.any():
        return {"mAP": 0.0, "mAR": 0.0}
    total_gt = int(gt_ok.sum())
    if total_gt == 0:
        return {"mAP": float("nan"), "mAR": float("nan")}
    order = np.argsort(-scores.ravel()[keep], kind="stable")  # images in order, then rank: DeepLabCut's list order
    values = matched.reshape(len(thresholds), -1)[:, keep][:, order]  # (T, M)
    hit = values >= thresholds[:, None]
    tp = np.cumsum(hit, axis=1)
    fp = np.cumsum(~hit, axis=1)
    recall = tp / total_gt
    precision = tp / (tp + fp + np.spacing(1))
    precision = np.flip(np.maximum.accumulate(np.flip(precision, axis=1), axis=1), axis=1)
    read = np.zeros((len(thresholds), len(recall_points)))
    for i in range(len(thresholds)):  # ten thresholds
        idx = np.searchsorted(recall[i], recall_points, side="left")
        ok = idx < recall.shape[1]
        read[i, ok] = precision[i, idx[ok]]
    return {"mAP": 100.0 * float(read.mean()), "mAR": 100.0 * float(recall[:, -1].mean())}


# --- pixel error after matching ------------------------------------------------------------
def _mean_distances(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Mean distance ``(images, animals, individuals)`` over keypoints present in both; NaN if none."""
    d = np.sqrt(((pred[:, :, None, :, :2] - gt[:, None]) ** 2).sum(axis=-1))  # (N, P, G, K)
    count = np.isfinite(d).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.nansum(d, axis=-1) / count, np.nan)


def hungarian_match(cost: np.ndarray) -> np.ndarray:
    """For costs ``(images, animals, individuals)`` (NaN: cannot pair), the animal paired with each
    individual ``(images, individuals)`` by the assignment of least total cost; -1 where unpaired."""
    n, p, g = cost.shape
    size = max(p, g)
    out = np.full((n, g), -1, dtype=np.int64)
    if size == 0 or min(p, g) == 0:
        return out
    finite = np.isfinite(cost)
    big = (np.nanmax(np.where(finite, cost, np.nan)) if finite.any() else 0.0) * size + 1.0
    square = np.full((n, size, size), big)  # padding costs the same in every assignment
    square[:, :p, :g] = np.where(finite, cost, 2 * big)
    if size <= _MAX_ENUMERATED_ANIMALS:
        perms = np.array(list(itertools.permutations(range(size))))  # (P!, size): column of each row
        total = square[:, np.arange(size)[None, :], perms].sum(axis=-1)  # (N, P!)
        cols = perms[np.argmin(total, axis=1)]  # (N, size)
    else:  # many animals: scipy per image
        cols = np.stack([linear_sum_assignment(c)[1] for c in square])
    rows = np.broadcast_to(np.arange(size), cols.shape)
    img = np.broadcast_to(np.arange(n)[:, None], cols.shape)
    pairable = np.zeros((n, size, size), dtype=bool)
    pairable[:, :p, :g] = finite
    real = pairable[img, rows, cols]
    out[img[real], cols[real]] = rows[real]
    return out


def _oks_match(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """DeepLabCut's RMSE pairing: greedy by OKS (σ 0.1) above 1e-6, predictions by score; -1 unpaired."""
    ranked, _scores, pred_ok, gt_ok, order = _ranked(gt, pred, None)
    oks = np.where(pred_ok[:, :, None] & gt_ok[:, None, :], oks_matrix(gt, ranked), np.nan)
    n, p, g = oks.shape
    out = np.full((n, g), -1, dtype=np.int64)
    rows = np.arange(n)
    for j in range(p):
        row = oks[:, j]
        if not g:
            break
        best = np.argmax(np.where(np.isfinite(row), row, -np.inf), axis=1)
        hit = np.isfinite(row).any(axis=1) & (out[rows, best] < 0) & (row[rows, best] >= _DLC_RMSE_OKS_THRESHOLD)
        out[rows[hit], best[hit]] = order[hit, j]
    return out


def matched_errors(
    gt: np.ndarray, pred: np.ndarray, match: Literal["hungarian", "oks"] = "hungarian"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel errors ``(images, individuals, keypoints)`` of each labelled point against its paired
    prediction, that prediction's scores (same shape) and the pairing ``(images, individuals)`` (-1: none)."""
    gt, pred = _check(gt, pred)
    pairs = hungarian_match(_mean_distances(gt, pred)) if match == "hungarian" else _oks_match(gt, pred)
    nan_animal = np.full((pred.shape[0], 1, *pred.shape[2:]), np.nan)
    padded = np.concatenate([pred, nan_animal], axis=1)  # unpaired individuals get the NaN animal
    index = np.where(pairs >= 0, pairs, pred.shape[1])
    paired = np.take_along_axis(padded, index[:, :, None, None], axis=1)  # (N, G, K, 3)
    errors = np.sqrt(((paired[..., :2] - gt) ** 2).sum(axis=-1))
    return errors, paired[..., 2], pairs


def multi_animal_summary(
    gt: np.ndarray,
    pred: np.ndarray,
    scores: np.ndarray | None = None,
    *,
    pcutoff: float = 0.6,
    bodyparts: Sequence[str] | None = None,
    match: Literal["hungarian", "oks"] = "hungarian",
) -> dict[str, Any]:
    """mAP/mAR with DeepLabCut's and SLEAP's sigma, pixel error after matching (all points, points
    scored at least ``pcutoff``, per body part), PCK after matching (an unmatched labelled point is a
    miss) and the number of images and labelled animals."""
    errors, point_scores, _pairs = matched_errors(gt, pred, match)
    dlc = oks_map(gt, pred, scores, sigma=DLC_OKS_SIGMA)
    sleap = oks_map(gt, pred, scores, sigma=SLEAP_OKS_SIGMA)
    per_part = [_mean(errors[:, :, k]) for k in range(errors.shape[2])]
    return {
        "map": dlc["mAP"],
        "mar": dlc["mAR"],
        "map_sleap": sleap["mAP"],
        "mar_sleap": sleap["mAR"],
        "error_px": _mean(errors),
        "error_px_pcutoff": _mean(np.where(point_scores >= pcutoff, errors, np.nan)),
        "per_keypoint": dict(zip(bodyparts, per_part, strict=True)) if bodyparts is not None else per_part,
        "pck": pck(errors, np.isfinite(np.asarray(gt)).all(axis=-1)),
        "n_images": int(errors.shape[0]),
        "n_animals": int((np.isfinite(np.asarray(gt)).all(axis=-1).sum(axis=-1) >= 1).sum()),
    }


def _mean(values: np.ndarray) -> float:
    ok = np.isfinite(values)
    return float(values[ok].mean()) if ok.any() else float("nan")
