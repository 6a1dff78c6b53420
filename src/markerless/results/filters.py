"""Post-processing of predicted poses: likelihood threshold, gap filling and smoothing filters.

:func:`filter_poses` works on a :class:`~markerless.model.poses.Poses` in memory, vectorised over every
individual and keypoint at once; :func:`filter_predictions` applies it to the prediction files of a
project's videos and writes ``<stem><scorer>_filtered.h5`` beside them (``_el_filtered.h5`` from multi-animal
tracks ``_el.h5``), as DeepLabCut does.

How missing points are handled (all methods):

* a point whose likelihood is under ``p_bound`` (or whose x/y is NaN) is *missing*;
* a run of at most ``max_gap`` missing frames with observed points on both sides is *filled*
  (linearly for ``median``/``savgol``/``none``, by the smoother's estimate for ``kalman``); a filled
  point's likelihood is the smaller of the likelihoods of the two observed points around the gap;
* longer runs, and runs at the start or end of the video, stay missing: x and y are NaN and the
  likelihood keeps its original value.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import savgol_filter

from markerless.errors import MarkerlessError
from markerless.io.dlc import write_predictions
from markerless.io.nwb import write_nwb
from markerless.io.video import video_info
from markerless.model.poses import Poses
from markerless.project.prediction_files import filtered_path, load_predictions, project_prediction_files
from markerless.results.filter_settings import METHODS, FilterSettings, filter_settings

Method = Literal["median", "savgol", "kalman", "none"]


# --- gaps ----------------------------------------------------------------------------------------
def _neighbours(missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the previous and next observed sample for every sample of ``(T, N)`` series.

    ``-1`` where there is no previous observed sample, ``T`` where there is no next one.
    """
    n_t = missing.shape[0]
    idx = np.arange(n_t)[:, None]
    prev = np.maximum.accumulate(np.where(missing, -1, idx), axis=0)
    nxt = np.minimum.accumulate(np.where(missing, n_t, idx)[::-1], axis=0)[::-1]
    return prev, nxt


def _interpolate(values: np.ndarray, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``(T, N)`` values between observed neighbours (nearest at the edges)."""
    n_t = values.shape[0]
    lo = np.clip(np.where(prev < 0, nxt, prev), 0, n_t - 1)
    hi = np.clip(np.where(nxt >= n_t, prev, nxt), 0, n_t - 1)
    v_lo = np.take_along_axis(values, lo, axis=0)
    v_hi = np.take_along_axis(values, hi, axis=0)
    span = np.maximum(hi - lo, 1)
    frac = np.clip((np.arange(n_t)[:, None] - lo) / span, 0.0, 1.0)
    return v_lo + (v_hi - v_lo) * frac


# --- smoothers on (T, N) series without missing values -------------------------------------------------
def _median(series: np.ndarray, window: int) -> np.ndarray:
    return median_filter(series, size=(window, 1), mode="nearest")


def _savgol(series: np.ndarray, window: int, polyorder: int) -> np.ndarray:
    mode = "interp" if series.shape[0] >= window else "nearest"
    return savgol_filter(series, window, polyorder, axis=0, mode=mode)


def _robust_noise(observed: np.ndarray) -> np.ndarray:
    """Robust standard deviation of the second differences of each ``(T, N)`` series (NaN = missing)."""
    d2 = np.diff(observed, n=2, axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings(action="ignore", category=RuntimeWarning):  # all-NaN
        med = np.nanmedian(d2, axis=0)
        sigma = 1.4826 * np.nanmedian(np.abs(d2 - med), axis=0)
    return np.where(np.isfinite(sigma) & (sigma > 1e-3), sigma, 1.0)


def kalman_smooth(
    observed: np.ndarray,
    measurement_noise: float | np.ndarray | None = None,
    process_noise: float | np.ndarray | None = None,
    gate: float | None = 5.0,
) -> np.ndarray:
    """Constant-velocity Kalman filter + Rauch-Tung-Striebel smoother of ``(T, N)`` series at once.

    NaN samples are missing (no update). ``measurement_noise`` (pixels, standard deviation) and
    ``process_noise`` (random acceleration, pixels/frame²) default to estimates from each series'
    second differences. A sample whose innovation exceeds ``gate`` standard deviations of its
    prediction is treated as an outlier (missing); as the prediction's uncertainty grows with every
    skipped sample, and the track restarts from the observation after more than 3 rejected samples
    in a row, a real jump is followed within a few frames. ``gate=None`` accepts every sample.
    Returns the smoothed positions ``(T, N)``; series without any observation come back NaN.
    """
    obs = np.asarray(observed, dtype=np.float64)
    n_t, n = obs.shape
    if n_t == 0 or n == 0:
        return obs.copy()
    sigma = _robust_noise(obs)
    r2 = np.broadcast_to(
        (sigma / np.sqrt(6.0)) ** 2
        if measurement_noise is None
        else np.asarray(measurement_noise, dtype=np.float64) ** 2,
        (n,),
    )
    q = np.broadcast_to(sigma / 2.0 if process_noise is None else np.asarray(process_noise, dtype=np.float64), (n,))
    # discrete white-noise acceleration model, one frame per step
    qm = (q**2)[:, None, None] * np.array([[0.25, 0.5], [0.5, 1.0]])
    f = np.array([[1.0, 1.0], [0.0, 1.0]])
    valid = np.isfinite(obs)
    prev, nxt = _neighbours(~valid)
    start = _interpolate(np.where(valid, obs, 0.0), prev, nxt)[0]

    x = np.stack([start, np.zeros(n)], axis=1)  # (N, 2)
    p0 = np.zeros((n, 2, 2))
    p0[:, 0, 0] = r2 + 1e-6
    p0[:, 1, 1] = 4.0 * sigma**2 + 1.0
    p = p0.copy()
    rejected = np.zeros(n, dtype=np.int64)
    max_rejected = 3
    xs_pred = np.empty((n_t, n, 2))
    ps_pred = np.empty((n_t, n, 2, 2))
    xs_filt = np.empty((n_t, n, 2))
    ps_filt = np.empty((n_t, n, 2, 2))
    for t in range(n_t):
        if t > 0:
            x = x @ f.T
            p = f @ p @ f.T + qm
        xs_pred[t], ps_pred[t] = x, p
        s = p[:, 0, 0] + r2
        innovation = np.where(valid[t], obs[t] - x[:, 0], 0.0)
        seen = valid[t] if gate is None else valid[t] & (innovation**2 <= gate**2 * s)
        innovation = np.where(seen, innovation, 0.0)
        gain = p[:, :, 0] / s[:, None]  # (N, 2)
        x = x + gain * innovation[:, None]
        p_upd = p - gain[:, :, None] * p[:, None, 0, :]
        p = np.where(seen[:, None, None], p_upd, p)
        rejected = np.where(valid[t] & ~seen, rejected + 1, 0)
        restart = rejected > max_rejected  # the track really moved: start again from the observation
        if restart.any():
            x[restart] = np.stack([obs[t, restart], np.zeros(restart.sum())], axis=1)
            p[restart] = p0[restart]
            rejected[restart] = 0
        xs_filt[t], ps_filt[t] = x, p

    smoothed = np.empty((n_t, n))
    xs = xs_filt[-1]
    smoothed[-1] = xs[:, 0]
    for t in range(n_t - 2, -1, -1):
        gain = ps_filt[t] @ f.T @ np.linalg.inv(ps_pred[t + 1])  # (N, 2, 2)
        xs = xs_filt[t] + np.einsum("nij,nj->ni", gain, xs - xs_pred[t + 1])
        smoothed[t] = xs[:, 0]
    smoothed[:, ~valid.any(axis=0)] = np.nan
    return smoothed


# --- public API -----------------------------------------------------------------------------------
def filter_poses(
    poses: Poses, method: Method | str | None = None, *, settings: FilterSettings | None = None, **overrides: Any
) -> Poses:
    """Smoothed poses: likelihood threshold, gaps of up to ``max_gap`` frames filled, then a filter.

    Args:
        poses: the predictions to filter (not modified).
        method: the filter (see :class:`~markerless.results.filter_settings.FilterSettings`); None:
            that of ``settings``.
        settings: the filter settings (default :class:`FilterSettings`'s defaults).
        overrides: settings changed from ``settings`` (``window=7``, ``p_bound=0.1``...); an unknown
            name raises a :class:`~markerless.errors.ConfigError` naming the closest one.

    Returns:
        New poses with the same layout, frames and scorer (see the module docstring for missing
        points); ``metadata["filter"]`` records the settings.
    """
    s = filter_settings(settings, **overrides, **({} if method is None else {"method": method}))
    method, window, polyorder, p_bound, max_gap = s.method, s.window, s.polyorder, s.p_bound, s.max_gap
    data = np.asarray(poses.data, dtype=np.float64)
    n_t, n_pts = data.shape[0], int(np.prod(data.shape[1:3]))
    if n_t == 0:
        return poses.with_data(poses.data.copy(), metadata={**poses.metadata, "filter": {"method": method}})
    xy = data[..., :2].reshape(n_t, 2 * n_pts)  # (T, individuals*keypoints*2): x and y series side by side
    like = data[..., 2].reshape(n_t, n_pts)
    with np.errstate(invalid="ignore"):
        missing_pt = ~np.isfinite(data[..., :2]).all(axis=-1) | ~(data[..., 2] >= p_bound)
    missing_pt = missing_pt.reshape(n_t, n_pts)
    missing = np.repeat(missing_pt, 2, axis=1)

    prev, nxt = _neighbours(missing_pt)
    filled_pt = missing_pt & (prev >= 0) & (nxt < n_t) & (nxt - prev - 1 <= max_gap)
    keep_pt = ~missing_pt | filled_pt

    if method == "kalman":
        smoothed = kalman_smooth(np.where(missing, np.nan, xy), s.measurement_noise, s.process_noise)
    else:
        prev2, nxt2 = np.repeat(prev, 2, axis=1), np.repeat(nxt, 2, axis=1)
        dense = _interpolate(np.where(missing, 0.0, xy), prev2, nxt2)  # every gap bridged for filtering
        if method == "median":
            smoothed = _median(dense, window)
        elif method == "savgol":
            smoothed = _savgol(dense, window, polyorder)
        else:
            smoothed = dense

    out_xy = np.where(np.repeat(keep_pt, 2, axis=1), smoothed, np.nan)
    like_lo = np.take_along_axis(like, np.clip(prev, 0, n_t - 1), axis=0)
    like_hi = np.take_along_axis(like, np.clip(nxt, 0, n_t - 1), axis=0)
    out_like = np.where(filled_pt, np.minimum(like_lo, like_hi), like)
    out = np.concatenate([out_xy.reshape(*data.shape[:-1], 2), out_like.reshape(*data.shape[:-1], 1)], axis=-1)
    out[:, ~poses.layout.valid] = np.nan
    return poses.with_data(out.astype(np.float32), metadata={**poses.metadata, "filter": s.record()})


def _write_nwb(poses: Poses, path: Path, video: Path) -> None:
    """NWB export of ``poses`` linked to ``video`` (its frame size when it can be read)."""

    try:
        size: tuple[int, int] | None = video_info(video).size
    except MarkerlessError:
        size = None
    write_nwb(poses, path, video=video, video_size=size)


def filter_predictions(
    config: str | os.PathLike[str],
    videos: Sequence[str | os.PathLike[str]] | str,
    shuffle: int = 1,
    method: Method | str | None = None,
    *,
    settings: FilterSettings | None = None,
    save_as_csv: bool = False,
    nwb: bool = False,
    dest: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> list[Path]:
    """Filter the predictions of each video and write ``<stem><scorer>_filtered.h5`` (+ ``.csv``).

    With ``nwb`` the filtered poses are also written as ``<stem><scorer>_filtered.nwb`` (NWB with
    ndx-pose, see :mod:`markerless.io.nwb`; ``method="none", p_bound=0, max_gap=0`` exports the
    predictions unchanged).

    The shuffle's prediction file (see :mod:`markerless.project.prediction_files`) is looked for in
    ``dest`` or beside the video; the filtered file goes beside it with the same columns (multi-animal
    tracks ``<stem><scorer>_el.h5`` give ``<stem><scorer>_el_filtered.h5``).
    ``method``, ``settings`` and ``overrides`` as for :func:`filter_poses`. Returns the written ``.h5`` paths.
    """

    chosen = filter_settings(settings, **overrides, **({} if method is None else {"method": method}))
    project, pairs = project_prediction_files(config, videos, shuffle, dest=dest)
    written = []
    for video, source in pairs:
        poses = load_predictions(project, source)  # raises LabelFileError naming the file
        filtered = filter_poses(poses, settings=chosen)
        target = filtered_path(source)
        write_predictions(filtered, target, save_as_csv=save_as_csv)
        written.append(target)
        if nwb:
            _write_nwb(filtered, target.with_suffix(".nwb"), video)
    return written


__all__ = [
    "METHODS",
    "FilterSettings",
    "filter_poses",
    "filter_predictions",
    "kalman_smooth",
]
