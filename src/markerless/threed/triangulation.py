"""Triangulation of 2D keypoints seen by several calibrated cameras.

Everything is vectorised over frames x individuals x keypoints: the two linear (DLT) rows of every view
are stacked and all points are solved at once in closed form. RANSAC draws a bounded number of camera
pairs (every pair on small rigs; the best-scored, then random ones on large rigs) and stops each point
once its consensus is confirmed; points go through in chunks, so memory does not grow with the recording.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import pandas as pd

from markerless.errors import CalibrationError
from markerless.threed.calibration_io import load_calibration
from markerless.threed.cameras import CameraGroup


@dataclass
class Triangulation:
    """Result of :func:`triangulate` with ``full_output=True``.

    Attributes:
        points3d: ``(frames, [individuals,] keypoints, 3)`` world coordinates; NaN where fewer than
            ``min_views`` usable views saw the point.
        reprojection_error: ``(cameras, frames, [individuals,] keypoints)`` pixel distance between each
            camera's 2D point and the projection of the 3D point (NaN where the camera had no point).
        used: bool, same shape as ``reprojection_error``: the views that entered the final solve.
        camera_names: names of the cameras along the first axis.
    """

    points3d: np.ndarray
    reprojection_error: np.ndarray
    used: np.ndarray
    camera_names: list[str]

    @property
    def error(self) -> np.ndarray:
        """Mean reprojection error over the views used, per point ``(frames, [individuals,] keypoints)``."""
        err = np.where(self.used, self.reprojection_error, np.nan)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points
            return np.nanmean(err, axis=0)

    @property
    def n_views(self) -> np.ndarray:
        """Number of views used per point."""
        return self.used.sum(axis=0)

    def per_camera_error(self) -> dict[str, float]:
        """Median reprojection error of each camera over the points it contributed to (pixels)."""
        out = {}
        for name, err, used in zip(self.camera_names, self.reprojection_error, self.used):
            vals = err[used]
            out[name] = float(np.median(vals)) if vals.size else float("nan")
        return out


def _load_calibration(calibration: CameraGroup | str | os.PathLike[str]) -> CameraGroup:
    if isinstance(calibration, CameraGroup):
        calibration.validate()
        return calibration

    return load_calibration(calibration)


def dlt_rows(normalized: np.ndarray, extrinsics: np.ndarray) -> tuple[np.ndarray, float]:
    """The two DLT rows of every view ``(cameras, points, 2, 4)``, and the length scale used.

    Translations are divided by the scale (the cameras' mean distance from the origin) so that the
    four unknowns have similar magnitudes; :func:`solve_dlt` multiplies it back.
    """
    scale = _length_scale(extrinsics)
    p = _scaled(extrinsics, scale)
    xy = np.nan_to_num(normalized)
    p0, p1, p2 = p[:, None, 0, :], p[:, None, 1, :], p[:, None, 2, :]  # (C, 1, 4)
    return np.stack([xy[..., 0:1] * p2 - p0, xy[..., 1:2] * p2 - p1], axis=2), scale


def _length_scale(extrinsics: np.ndarray) -> float:
    return float(np.mean(np.linalg.norm(extrinsics[:, :, 3], axis=1))) or 1.0


def _scaled(extrinsics: np.ndarray, scale: float) -> np.ndarray:
    p = extrinsics.copy()
    p[:, :, 3] /= scale
    return p


def _solve_normal(m: np.ndarray) -> np.ndarray:
    """Minimiser ``X`` of ``[X, 1] M [X, 1]^T`` for normal matrices ``(points, 4, 4)`` (3x3 inverses in closed form)."""
    b_mat, rhs = m[:, :3, :3], -m[:, :3, 3]
    cof = np.cross(b_mat[:, [1, 2, 0]], b_mat[:, [2, 0, 1]])  # rows: cofactors (adjugate of symmetric B)
    det = np.einsum("ni,ni->n", b_mat[:, 0], cof[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.einsum("nij,nj->ni", cof, rhs) / det[:, None]


def solve_dlt(rows: np.ndarray, weights: np.ndarray, scale: float) -> np.ndarray:
    """3D points ``(points, 3)`` from the DLT rows of :func:`dlt_rows` weighted by ``weights (cameras, points)``.

    NaN where fewer than two views have weight.
    """
    n_cams, n_points = weights.shape
    if n_points == 0:
        return np.zeros((0, 3))
    a = (rows * weights[..., None, None]).transpose(1, 0, 2, 3).reshape(n_points, 2 * n_cams, 4)
    pts = _solve_normal(np.matmul(a.transpose(0, 2, 1), a)) * scale
    pts[(weights > 0).sum(axis=0) < 2] = np.nan
    return pts


def dlt(normalized: np.ndarray, weights: np.ndarray, extrinsics: np.ndarray) -> np.ndarray:
    """Weighted linear triangulation of many points at once.

    Args:
        normalized: ``(cameras, points, 2)`` undistorted normalised image coordinates (any value
            where the weight is 0).
        weights: ``(cameras, points)`` non-negative weight of each view (0 = not used).
        extrinsics: ``(cameras, 3, 4)`` ``[R | t]`` of each camera.

    Returns:
        ``(points, 3)`` world coordinates (NaN where fewer than two views have weight).
    """
    rows, scale = dlt_rows(normalized, extrinsics)
    return solve_dlt(rows, weights, scale)


def _reprojection_errors(group: CameraGroup, points3d: np.ndarray, points2d: np.ndarray) -> np.ndarray:
    proj = group.project(points3d)  # (C, N, 2)
    return np.linalg.norm(proj - points2d, axis=-1)


def _smooth(points3d: np.ndarray, window: int) -> np.ndarray:
    """NaN-aware centred rolling median over frames (axis 0)."""
    flat = points3d.reshape(len(points3d), -1)
    smoothed = pd.DataFrame(flat).rolling(window, center=True, min_periods=1).median().to_numpy().copy()
    smoothed[~np.isfinite(flat)] = np.nan  # do not invent points where none were triangulated
    return smoothed.reshape(points3d.shape)


RANSAC_CHUNK = 4096
"""Points triangulated together: bounds the working memory (about 30 MB for a chunk at 31 cameras)."""
RANSAC_MAX_HYPOTHESES = 24
"""Camera pairs tried per point at most: all pairs when a rig has no more, else the best-scored then random ones."""
RANSAC_CONFIDENCE = 0.999
"""A point stops drawing pairs once a better consensus would have been found with this probability."""


def _hypothesis_ranks(n_cams: int, n_points: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per hypothesis, the ranks ``(points,)`` of its two cameras among each point's views sorted by score.

    A rig with at most :data:`RANSAC_MAX_HYPOTHESES` pairs tries every pair (top-scored first); a larger
    one tries the pairs among the three best-scored views, then random pairs (ranks beyond a point's number
    of usable views are drawn again by :func:`_ransac_inliers`).
    """
    all_pairs = sorted(itertools.combinations(range(n_cams), 2), key=lambda p: (p[1], p[0]))
    if len(all_pairs) <= RANSAC_MAX_HYPOTHESES:
        return [(np.full(n_points, a), np.full(n_points, b)) for a, b in all_pairs]
    fixed = [(np.full(n_points, a), np.full(n_points, b)) for a, b in all_pairs[:3]]
    u = rng.random((RANSAC_MAX_HYPOTHESES - len(fixed), 2, n_points))
    return fixed + [(u[h, 0], u[h, 1]) for h in range(len(u))]  # fractions, turned into ranks per point


def _ransac_inliers(
    rows: np.ndarray,
    weights: np.ndarray,
    valid: np.ndarray,
    scale: float,
    extrinsics: np.ndarray,
    normalized: np.ndarray,
    focal: np.ndarray,
    threshold: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The views ``(cameras, points)`` agreeing with the best two-view hypothesis of each point.

    Hypotheses are scored in undistorted normalised coordinates scaled by each camera's focal length
    (pixels up to the lens distortion); a view counts when it is within ``threshold`` and in front of the
    camera. Each point stops once its best consensus is confirmed (adaptive RANSAC stopping rule).
    """
    n_cams, n_points = valid.shape
    n_valid = valid.sum(axis=0)
    key = np.where(valid, weights, -1.0)
    order = np.argsort(-key, axis=0, kind="stable")  # views of each point, best score first
    p = _scaled(extrinsics, scale)
    rot, trans = p[:, :, :3], p[:, :, 3:]  # (C, 3, 3), (C, 3, 1)
    observed = np.ascontiguousarray(normalized.transpose(0, 2, 1))  # (C, 2, N)
    focal2, threshold2 = (focal**2)[:, None], threshold**2
    best_count = np.zeros(n_points, dtype=np.int64)
    best_err = np.full(n_points, np.inf)
    best = valid.copy()
    done = n_valid < 2
    log_miss = np.log(1 - RANSAC_CONFIDENCE)
    for h, (first, second) in enumerate(_hypothesis_ranks(n_cams, n_points, rng)):
        if first.dtype.kind == "f":  # random draw: two distinct ranks below each point's number of views
            r1 = np.minimum((first * n_valid).astype(np.int64), np.maximum(n_valid - 1, 0))
            r2 = (r1 + 1 + (second * np.maximum(n_valid - 1, 1)).astype(np.int64)) % np.maximum(n_valid, 1)
        else:
            r1, r2 = first, second
        idx = np.flatnonzero(~done & (np.maximum(r1, r2) < n_valid))
        if idx.size == 0:
            continue
        sel: slice | np.ndarray = slice(None) if idx.size == n_points else idx  # a view when every point is left
        c1, c2 = order[r1[idx], idx], order[r2[idx], idx]
        a = np.concatenate(
            [rows[c1, idx] * weights[c1, idx, None, None], rows[c2, idx] * weights[c2, idx, None, None]], axis=1
        )
        x = _solve_normal(np.matmul(a.transpose(0, 2, 1), a))  # (n, 3), scaled units
        cam = np.matmul(rot, x.T) + trans  # (C, 3, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = cam[:, :2] / cam[:, 2:3] - observed[:, :, sel]
            err = (diff[:, 0] ** 2 + diff[:, 1] ** 2) * focal2  # squared pixels
            inl = valid[:, sel] & (err < threshold2) & (cam[:, 2] > 0)
        count = inl.sum(axis=0)
        mean_err = (err * inl).sum(axis=0) / np.maximum(count, 1)
        better = (count > best_count[idx]) | ((count == best_count[idx]) & (mean_err < best_err[idx]))
        upd = idx[better]
        best_count[upd] = count[better]
        best_err[upd] = mean_err[better]
        best[:, upd] = inl[:, better]
        # adaptive stop: enough pairs drawn to have met an all-inlier pair at the best inlier ratio found
        w = best_count[idx] / np.maximum(n_valid[idx], 1)
        with np.errstate(divide="ignore"):
            needed = np.where(w >= 1, 0.0, log_miss / np.log1p(-np.minimum(w * w, 1 - 1e-12)))
        done[idx] = h + 1 >= needed
    no_hypothesis = n_valid >= 2
    no_hypothesis &= best_count == 0
    best[:, no_hypothesis] = False
    return best


def _triangulate_chunk(
    group: CameraGroup,
    flat: np.ndarray,
    normalized: np.ndarray,
    valid: np.ndarray,
    weights: np.ndarray,
    extr: np.ndarray,
    ransac_threshold: float | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(n, 3)`` and views used ``(cameras, n)`` of one chunk of points."""
    rows, scale = dlt_rows(normalized, extr)
    if ransac_threshold is None or len(group) < 3:
        return solve_dlt(rows, weights, scale), valid.copy()
    focal = np.array([(c.matrix[0, 0] + c.matrix[1, 1]) / 2 for c in group.cameras])
    used = _ransac_inliers(rows, weights, valid, scale, extr, normalized, focal, ransac_threshold, rng)
    points = solve_dlt(rows, weights * used, scale)
    # one local refinement in true (distorted) pixels: keep every view within the threshold of the re-solved point
    with np.errstate(invalid="ignore"):
        refined = valid & (_reprojection_errors(group, points, flat) < ransac_threshold)
    grow = (refined.sum(axis=0) >= used.sum(axis=0)) & (refined != used).any(axis=0)
    if grow.any():
        used[:, grow] = refined[:, grow]
        points[grow] = solve_dlt(rows[:, grow], (weights * used)[:, grow], scale)
    return points, used


@overload
def triangulate(
    points2d: np.ndarray,
    calibration: CameraGroup | str | os.PathLike[str],
    scores: np.ndarray | None = None,
    *,
    min_score: float | Sequence[float] | np.ndarray = 0.0,
    min_views: int = 2,
    ransac_threshold: float | None = None,
    smooth: int | None = None,
    undistort: bool = True,
    full_output: Literal[False] = False,
) -> np.ndarray: ...


@overload
def triangulate(
    points2d: np.ndarray,
    calibration: CameraGroup | str | os.PathLike[str],
    scores: np.ndarray | None = None,
    *,
    min_score: float | Sequence[float] | np.ndarray = 0.0,
    min_views: int = 2,
    ransac_threshold: float | None = None,
    smooth: int | None = None,
    undistort: bool = True,
    full_output: Literal[True],
) -> Triangulation: ...


def triangulate(
    points2d: np.ndarray,
    calibration: CameraGroup | str | os.PathLike[str],
    scores: np.ndarray | None = None,
    *,
    min_score: float | Sequence[float] | np.ndarray = 0.0,
    min_views: int = 2,
    ransac_threshold: float | None = None,
    smooth: int | None = None,
    undistort: bool = True,
    full_output: bool = False,
) -> np.ndarray | Triangulation:
    """3D positions of 2D keypoints seen by calibrated cameras.

    Args:
        points2d: ``(cameras, frames, keypoints, 2)`` or ``(cameras, frames, individuals, keypoints, 2)``
            pixel positions; NaN where a camera did not see the point.
        calibration: the cameras (a :class:`CameraGroup` or a ``calibration.toml`` path), in the order
            of the first axis of ``points2d``.
        scores: likelihoods ``points2d.shape[:-1]``; each view's DLT rows are weighted by its score.
        min_score: views scoring below this are ignored (DeepLabCut's 3D ``pcutoff``); one value, or one
            per camera (e.g. when cameras' 2D predictions come from tools with different score scales).
        min_views: points seen by fewer usable views stay NaN.
        ransac_threshold: when set (pixels) and there are at least 3 cameras, two-view hypotheses are
            tried per point (every camera pair on small rigs; the best-scored pairs then random ones on
            large rigs, stopping once the consensus is confirmed), the hypothesis with the most views
            within this reprojection error wins, and the point is re-solved from those inlier views only
            (outlier views dropped). Points are processed in chunks of :data:`RANSAC_CHUNK`, so memory
            stays bounded; the random draws are seeded, so results are reproducible.
        smooth: when set, a centred running median over this many frames is applied to the 3D tracks.
        undistort: undistort the 2D points with each camera's distortion first (leave True unless the
            points are already undistorted pixels).
        full_output: return a :class:`Triangulation` (points, reprojection errors, views used)
            instead of the points alone.

    Returns:
        ``(frames, [individuals,] keypoints, 3)`` world coordinates, or a :class:`Triangulation`.
    """
    group = _load_calibration(calibration)
    pts = np.asarray(points2d, dtype=np.float64)
    if pts.ndim < 3 or pts.shape[-1] != 2:
        raise CalibrationError(f"points2d must be (cameras, frames, ..., 2); got shape {pts.shape}.")
    if len(pts) != len(group):
        raise CalibrationError(
            f"points2d has {len(pts)} cameras but the calibration has {len(group)} ({group.names}); "
            "give one 2D array per calibrated camera, in the calibration's order."
        )
    if ransac_threshold is not None and not (np.isfinite(ransac_threshold) and ransac_threshold > 0):
        raise CalibrationError(f"ransac_threshold must be a positive number of pixels; got {ransac_threshold}.")
    out_shape = pts.shape[1:-1]
    n_cams = len(group)
    flat = pts.reshape(n_cams, -1, 2)
    sc = None
    if scores is not None:
        sc = np.asarray(scores, dtype=np.float64)
        if sc.shape != pts.shape[:-1]:
            raise CalibrationError(f"scores must have shape {pts.shape[:-1]}; got {sc.shape}.")
        sc = sc.reshape(n_cams, -1)
    cutoff = np.asarray(min_score, dtype=np.float64)
    if cutoff.ndim == 1 and len(cutoff) == n_cams:
        cutoff = cutoff[:, None]
    elif cutoff.ndim != 0:
        raise CalibrationError(f"min_score must be one number or one per camera ({n_cams}); got {min_score}.")
    extr = np.stack([c.extrinsics for c in group.cameras])
    n_points = flat.shape[1]
    points3d = np.empty((n_points, 3))
    used = np.empty((n_cams, n_points), dtype=bool)
    seen = np.empty((n_cams, n_points), dtype=bool)  # views above the cut-off
    rng = np.random.default_rng(0)
    for lo in range(0, n_points, RANSAC_CHUNK):
        sl = slice(lo, lo + RANSAC_CHUNK)
        chunk = flat[:, sl]
        valid = np.asarray(np.isfinite(chunk).all(axis=-1))
        weights: np.ndarray
        if sc is None:
            weights = valid.astype(np.float64)
        else:
            valid &= np.isfinite(sc[:, sl]) & (sc[:, sl] >= cutoff)
            weights = np.where(valid, np.clip(np.nan_to_num(sc[:, sl]), 1e-6, None), 0.0)
        seen[:, sl] = valid
        observed = np.where(valid[..., None], chunk, np.nan)
        normalized = group.undistort_points(observed) if undistort else _pixels_to_normalized(group, observed)
        points3d[sl], used[:, sl] = _triangulate_chunk(
            group, observed, normalized, valid, weights, extr, ransac_threshold, rng
        )
    enough = used.sum(axis=0) >= max(min_views, 2)
    points3d[~enough] = np.nan
    used &= enough[None]
    points3d = points3d.reshape(*out_shape, 3)
    if smooth and smooth > 1:
        points3d = _smooth(points3d, int(smooth))
    if not full_output:
        return points3d
    err = np.concatenate(
        [
            _reprojection_errors(group, points3d.reshape(-1, 3)[sl], np.where(seen[:, sl, None], flat[:, sl], np.nan))
            for sl in (slice(lo, lo + RANSAC_CHUNK) for lo in range(0, n_points, RANSAC_CHUNK))
        ],
        axis=1,
    )
    return Triangulation(points3d, err.reshape(n_cams, *out_shape), used.reshape(n_cams, *out_shape), group.names)


def _pixels_to_normalized(group: CameraGroup, flat: np.ndarray) -> np.ndarray:
    out = np.empty_like(flat)
    for i, cam in enumerate(group.cameras):
        k = cam.matrix
        y = (flat[i, :, 1] - k[1, 2]) / k[1, 1]
        x = (flat[i, :, 0] - k[0, 2] - k[0, 1] * y) / k[0, 0]
        out[i] = np.stack([x, y], axis=-1)
    return out


__all__ = ["Triangulation", "dlt", "dlt_rows", "solve_dlt", "triangulate"]
