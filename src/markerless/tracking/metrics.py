"""Tracking metrics (MOTA, IDF1, identity switches) with ``motmetrics``, predicted animals matched to true ones by pose distance."""

from __future__ import annotations

from typing import Any

import numpy as np

from markerless.errors import LabelFileError
from markerless.model.poses import Poses


def _shared_keypoints(pred: Poses, truth: Poses) -> tuple[list[int], list[int], list[str]]:
    """Indices in ``pred`` and ``truth`` of the animal body parts both have, and their names."""
    truth_parts = list(truth.layout.bodyparts)
    names = [name for name in pred.layout.bodyparts if name in truth_parts]
    if not names:
        raise LabelFileError(
            f"The predictions ({list(pred.layout.bodyparts)}) and the ground truth ({truth_parts}) share no "
            "body part; score predictions of the labelled skeleton."
        )
    return [pred.layout.bodyparts.index(n) for n in names], [truth_parts.index(n) for n in names], names


def pose_distances(pred_xy: np.ndarray, truth_xy: np.ndarray) -> np.ndarray:
    """Mean distance ``(frames, truth animals, predicted animals)`` over the points both have (NaN: none)."""
    diff = truth_xy[:, :, None] - pred_xy[:, None]  # (F, T, P, K, 2)
    dist = np.hypot(diff[..., 0], diff[..., 1])
    both = np.isfinite(dist)
    n = both.sum(axis=-1)
    return np.where(n > 0, np.where(both, dist, 0.0).sum(axis=-1) / np.maximum(n, 1), np.nan)


def tracking_metrics(
    pred: Poses, truth: Poses, *, max_distance: float | None = None, pcutoff: float = 0.0
) -> dict[str, Any]:
    """Identity switches, IDF1, MOTA (and their parts) of ``pred`` against ``truth`` with identities.

    Frames are paired by frame number; only the frames of ``truth`` count (a labelled subset is
    fine). Animals are compared on the body parts both files have (names need not match between the
    individuals: identities are scored as consistency over time). A predicted animal matches a true one
    when their mean point distance is under ``max_distance`` pixels (default: half the median size of
    the true animals). Predicted points with a likelihood under ``pcutoff`` are left out.
    """
    import motmetrics as mm

    pk, tk, names = _shared_keypoints(pred, truth)
    common, p_rows, t_rows = np.intersect1d(pred.frames, truth.frames, return_indices=True)
    if len(common) == 0:
        raise LabelFileError(
            f"The predictions (frames {pred.frames.min(initial=0)}-{pred.frames.max(initial=0)}) and the ground truth "
            "share no frame number; check that both belong to the same video."
        )
    n_pi, n_ti = len(pred.layout.individuals), len(truth.layout.individuals)
    p = pred.data[p_rows][:, :n_pi][:, :, pk]
    p_xy = np.where((p[..., 2:3] >= pcutoff) & np.isfinite(p[..., :2]), p[..., :2], np.nan).astype(np.float64)
    t_xy = truth.data[t_rows][:, :n_ti][:, :, tk, :2].astype(np.float64)
    if max_distance is None:
        all_parts = truth.data[t_rows][:, :n_ti, : len(truth.layout.bodyparts), :2].astype(np.float64)
        span = np.nanmax(all_parts, axis=2) - np.nanmin(all_parts, axis=2) if all_parts.size else np.zeros((0, 2))
        diag = np.hypot(span[..., 0], span[..., 1])
        diag = diag[np.isfinite(diag) & (diag > 0)]
        max_distance = 0.5 * float(np.median(diag)) if len(diag) else 10.0
    dist = pose_distances(p_xy, t_xy)
    t_has = np.asarray(np.isfinite(t_xy).all(axis=-1).any(axis=-1))
    p_has = np.asarray(np.isfinite(p_xy).all(axis=-1).any(axis=-1))
    dist = np.where(dist <= max_distance, dist, np.nan)
    acc = mm.MOTAccumulator(auto_id=True)
    for f in range(len(common)):
        ti, pi = np.flatnonzero(t_has[f]), np.flatnonzero(p_has[f])
        acc.update(ti, pi, dist[f][np.ix_(ti, pi)])
    summary = mm.metrics.create().compute(
        acc,
        metrics=["num_frames", "num_objects", "num_switches", "idf1", "mota", "num_misses", "num_false_positives"],
    )
    row = summary.iloc[0]
    frames = int(row["num_frames"])
    switches = int(row["num_switches"])
    return {
        "id_switches": switches,
        "id_switches_per_1000_frames": 1000.0 * switches / max(frames, 1),
        "idf1": float(row["idf1"]),
        "mota": float(row["mota"]),
        "misses": int(row["num_misses"]),
        "false_positives": int(row["num_false_positives"]),
        "true_animals": int(row["num_objects"]),
        "frames": frames,
        "max_distance": float(max_distance),
        "keypoints": names,
    }
