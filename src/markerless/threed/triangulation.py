"""Triangulation of 2D keypoints seen by several calibrated cameras.

Everything is vectorised over frames x individuals x keypoints: the linear (DLT) systems of all points
are stacked (as 4x4 normal matrices per view) and solved in closed form for all points at once; RANSAC loops only over the few camera subsets.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

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
        with np.errstate(invalid="ignore"), _no_nan_warnings():
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


class _no_nan_warnings:
    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def _load_calibration(calibration: CameraGroup | str | os.PathLike[str]) -> CameraGroup:
    if isinstance(calibration, CameraGroup):
        return calibration

    return load_calibration(calibration)


def dlt_systems(normalized: np.ndarray, extrinsics: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-view normal matrices ``(cameras, points, 4, 4)`` of the DLT rows, and the length scale used.

    Translations are divided by the scale (the cameras' mean distance from the origin) so that the
    four unknowns have similar magnitudes; :func:`solve_dlt` multiplies it back.
    """
    scale = float(np.mean(np.linalg.norm(extrinsics[:, :, 3], axis=1))) or 1.0
    p = extrinsics.copy()
    p[:, :, 3] /= scale
    xy = np.nan_to_num(normalized)
    p0, p1, p2 = p[:, None, 0, :], p[:, None, 1, :], p[:, None, 2, :]  # (C, 1, 4)
    row_x = xy[..., 0:1] * p2 - p0  # (C, N, 4)
    row_y = xy[..., 1:2] * p2 - p1
    normal = row_x[..., :, None] * row_x[..., None, :] + row_y[..., :, None] * row_y[..., None, :]
    return normal, scale


def solve_dlt(normal: np.ndarray, weights: np.ndarray, scale: float) -> np.ndarray:
    """3D points ``(points, 3)`` from per-view normal matrices weighted by ``weights (cameras, points)``.

    NaN where fewer than two views have weight.
    """
    if normal.shape[1] == 0:
        return np.zeros((0, 3))
    m = np.einsum("cn,cnij->nij", weights**2, normal)
    # minimise |A [X, 1]|^2: B X = -b with B = M[:3, :3], b = M[:3, 3]; 3x3 inverses in closed form
    b_mat, rhs = m[:, :3, :3], -m[:, :3, 3]
    cof = np.cross(b_mat[:, [1, 2, 0]], b_mat[:, [2, 0, 1]])  # rows: cofactors (adjugate of symmetric B)
    det = np.einsum("ni,ni->n", b_mat[:, 0], cof[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        pts = np.einsum("nij,nj->ni", cof, rhs) / det[:, None] * scale
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
    normal, scale = dlt_systems(normalized, extrinsics)
    return solve_dlt(normal, weights, scale)


def _reprojection_errors(group: CameraGroup, points3d: np.ndarray, points2d: np.ndarray) -> np.ndarray:
    proj = group.project(points3d)  # (C, N, 2)
    return np.linalg.norm(proj - points2d, axis=-1)


def _smooth(points3d: np.ndarray, window: int) -> np.ndarray:
    """NaN-aware centred rolling median over frames (axis 0)."""
    flat = points3d.reshape(len(points3d), -1)
    smoothed = pd.DataFrame(flat).rolling(window, center=True, min_periods=1).median().to_numpy().copy()
    smoothed[~np.isfinite(flat)] = np.nan  # do not invent points where none were triangulated
    return smoothed.reshape(points3d.shape)


def triangulate(
    points2d: np.ndarray,
    calibration: CameraGroup | str | os.PathLike[str],
    scores: np.ndarray | None = None,
    *,
    min_score: float = 0.0,
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
        min_score: views scoring below this are ignored (DeepLabCut's 3D ``pcutoff``).
        min_views: points seen by fewer usable views stay NaN.
        ransac_threshold: when set (pixels) and there are at least 3 cameras, every pair of cameras
            is tried, the pair whose 3D point has the most views within this reprojection error
            wins, and the point is re-solved from those inlier views only (outlier views dropped).
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
    out_shape = pts.shape[1:-1]
    n_cams = len(group)
    flat = pts.reshape(n_cams, -1, 2)
    valid = np.isfinite(flat).all(axis=-1)
    if scores is None:
        weights = valid.astype(np.float64)
    else:
        sc = np.asarray(scores, dtype=np.float64)
        if sc.shape != pts.shape[:-1]:
            raise CalibrationError(f"scores must have shape {pts.shape[:-1]}; got {sc.shape}.")
        sc = sc.reshape(n_cams, -1)
        valid &= np.isfinite(sc) & (sc >= min_score)
        weights = np.where(valid, np.clip(np.nan_to_num(sc), 1e-6, None), 0.0)
    normalized = group.undistort_points(flat) if undistort else _pixels_to_normalized(group, flat)
    extr = np.stack([c.extrinsics for c in group.cameras])

    used = valid.copy()
    normal, scale = dlt_systems(normalized, extr)
    points3d = solve_dlt(normal, weights, scale)
    observed = np.where(valid[..., None], flat, np.nan)
    if ransac_threshold is not None and n_cams >= 3:
        best_count = np.full(flat.shape[1], -1)
        best_err = np.full(flat.shape[1], np.inf)
        best_inliers = valid.copy()
        for pair in itertools.combinations(range(n_cams), 2):
            mask = np.zeros(n_cams, dtype=bool)
            mask[list(pair)] = True
            cand = solve_dlt(normal, weights * mask[:, None], scale)
            err = _reprojection_errors(group, cand, observed)
            inl = valid & (err < ransac_threshold)
            count = inl.sum(axis=0)
            mean_err = np.where(count > 0, np.where(inl, err, 0).sum(axis=0) / np.maximum(count, 1), np.inf)
            better = (count > best_count) | ((count == best_count) & (mean_err < best_err))
            best_count = np.where(better, count, best_count)
            best_err = np.where(better, mean_err, best_err)
            best_inliers[:, better] = inl[:, better]
        used = best_inliers
        points3d = solve_dlt(normal, weights * used, scale)
    enough = used.sum(axis=0) >= max(min_views, 2)
    points3d[~enough] = np.nan
    used &= enough[None]
    points3d = points3d.reshape(*out_shape, 3)
    if smooth and smooth > 1:
        points3d = _smooth(points3d, int(smooth))
    if not full_output:
        return points3d
    err = _reprojection_errors(group, points3d.reshape(-1, 3), observed)
    return Triangulation(points3d, err.reshape(n_cams, *out_shape), used.reshape(n_cams, *out_shape), group.names)


def _pixels_to_normalized(group: CameraGroup, flat: np.ndarray) -> np.ndarray:
    out = np.empty_like(flat)
    for i, cam in enumerate(group.cameras):
        k = cam.matrix
        y = (flat[i, :, 1] - k[1, 2]) / k[1, 1]
        x = (flat[i, :, 0] - k[0, 2] - k[0, 1] * y) / k[0, 0]
        out[i] = np.stack([x, y], axis=-1)
    return out


__all__ = ["Triangulation", "dlt", "dlt_systems", "solve_dlt", "triangulate"]
