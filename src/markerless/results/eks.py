"""Ensemble Kalman smoother (EKS): one smoothed track from the predictions of an ensemble of networks.

The model is that of Biderman et al. 2024 (Lightning Pose) and of the ``ensemble-kalman-smoother``
package, for each coordinate series (one body part's x or y) on its own:

* **observation** ``y_t`` = the members' mean at frame ``t``, with **observation noise** ``R_t`` = the
  members' variance at that frame (members that are NaN or under ``p_bound`` do not count: on a
  project's files the bound is its ``pcutoff``, so points no member is sure of are bridged from the
  frames around; where fewer than two members see the point, ``R_t`` is that series' median ensemble
  variance; floor :data:`MIN_VARIANCE`);
* **state**: ``"position"`` (random walk ``z_t = z_{t-1} + w_t``, ``w_t ~ N(0, s)``, as the package's
  default) or ``"velocity"`` (position and velocity, white random acceleration of variance ``s``);
* **prior** of the first state: the series' mean and variance (velocity 0, variance of the
  frame-to-frame steps);
* **smoothing parameter** ``s`` (pixels², per body part, shared by its x and y): the value that
  maximises the model's marginal likelihood, searched on a log grid then refined around the best
  value; every grid value is filtered at once (no Python work per value or body part);
* a Kalman filter forward and a Rauch-Tung-Striebel smoother backward, vectorised over every series
  and grid value (the only Python loop is the scan over frames); frames no member observes get the
  smoother's interpolation and a larger posterior variance.

:func:`ensemble_kalman_smoother` works on arrays, :func:`eks_poses` on members' :class:`Poses`,
:func:`smooth_predictions` on a project's prediction files (``markerless smooth``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from markerless.errors import LabelFileError, ProjectError
from markerless.io.dlc import write_predictions
from markerless.io.video import find_videos
from markerless.model.poses import Poses
from markerless.project.prediction_files import (
    eks_path,
    load_predictions,
    prediction_file,
    prediction_suffixes,
    shuffle_scorer,
)
from markerless.project.project import Project

StateModel = Literal["position", "velocity"]
STATES: tuple[str, ...] = ("position", "velocity")
MIN_VARIANCE = 1e-4
"""Floor of the observation variance (pixels²): members that agree exactly still leave some noise."""
COARSE_GRID = np.logspace(-3.0, 4.0, 29)
"""Smoothing parameters tried first (pixels² per frame); the best is then refined on a finer grid."""
_REFINE = np.linspace(-0.125, 0.125, 9)  # log10 offsets around the best coarse value
_VELOCITY_Q = np.array([[0.25, 0.5], [0.5, 1.0]])  # white acceleration over one frame


@dataclass(frozen=True)
class EksResult:
    """Output of :func:`ensemble_kalman_smoother` for ``T`` frames and ``N`` series."""

    mean: np.ndarray
    """``(T, N)`` smoothed positions (NaN for a series no member ever observed)."""
    variance: np.ndarray
    """``(T, N)`` posterior variance of the positions (pixels²)."""
    smoothing: np.ndarray
    """``(N,)`` smoothing parameter ``s`` used for each series."""
    observation: np.ndarray
    """``(T, N)`` the members' mean (the observations)."""
    observation_variance: np.ndarray
    """``(T, N)`` the observation noise ``R_t`` used."""


# --- the Kalman filter and smoother on (..., N) batches ----------------------------------------------
def _model_matrices(state: str, smoothing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Transition ``F (d, d)`` and process noise ``Q (..., d, d)`` for smoothing parameters ``(...)``."""
    if state == "position":
        return np.eye(1), smoothing[..., None, None] * np.ones((1, 1))
    return np.array([[1.0, 1.0], [0.0, 1.0]]), smoothing[..., None, None] * _VELOCITY_Q


def _prior(y: np.ndarray, state: str) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean ``(N, d)`` and covariance ``(N, d, d)`` of the first state of each series."""
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):  # all-NaN series
        mean = np.nan_to_num(np.nanmean(y, axis=0))
        var = np.nan_to_num(np.nanvar(y, axis=0), nan=1.0)
        step = np.nan_to_num(np.nanvar(np.diff(y, axis=0), axis=0), nan=1.0) if len(y) > 1 else np.ones_like(var)
    var = np.maximum(var, MIN_VARIANCE)
    if state == "position":
        return mean[:, None], var[:, None, None]
    cov = np.zeros((y.shape[1], 2, 2))
    cov[:, 0, 0], cov[:, 1, 1] = var, np.maximum(step, MIN_VARIANCE)
    return np.stack([mean, np.zeros_like(mean)], axis=1), cov


def _filter(
    y: np.ndarray, r: np.ndarray, m0: np.ndarray, p0: np.ndarray, f: np.ndarray, q: np.ndarray, store: bool
) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
    """Kalman filter of ``(T, N)`` observations for a batch of process noises ``q (..., N, d, d)``.

    Returns the log marginal likelihood ``(..., N)`` and, with ``store``, the predicted and filtered
    means and covariances ``(T, ..., N, d[, d])`` the smoother needs. NaN observations are skipped.
    """
    n_t = y.shape[0]
    batch = q.shape[:-2]
    x = np.broadcast_to(m0, (*batch, m0.shape[-1])).copy()
    p = np.broadcast_to(p0, q.shape).copy()
    loglik = np.zeros(batch)
    seen_all = np.isfinite(y)
    y0 = np.where(seen_all, y, 0.0)
    if store:
        xs_pred = np.empty((n_t, *x.shape))
        ps_pred = np.empty((n_t, *p.shape))
        xs_filt = np.empty_like(xs_pred)
        ps_filt = np.empty_like(ps_pred)
    for t in range(n_t):
        if t > 0:
            x = x @ f.T
            p = f @ p @ f.T + q
        if store:
            xs_pred[t], ps_pred[t] = x, p
        seen = seen_all[t]
        s = p[..., 0, 0] + r[t]
        innovation = np.where(seen, y0[t] - x[..., 0], 0.0)
        gain = p[..., :, 0] / s[..., None]
        x = x + gain * innovation[..., None]
        p = np.where(seen[:, None, None], p - gain[..., :, None] * p[..., None, 0, :], p)
        loglik += np.where(seen, -0.5 * (np.log(2.0 * np.pi * s) + innovation**2 / s), 0.0)
        if store:
            xs_filt[t], ps_filt[t] = x, p
    return loglik, ((xs_pred, ps_pred, xs_filt, ps_filt) if store else None)


def _smooth(
    f: np.ndarray, xs_pred: np.ndarray, ps_pred: np.ndarray, xs_filt: np.ndarray, ps_filt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rauch-Tung-Striebel smoother: smoothed positions and their variances ``(T, N)``."""
    n_t = xs_filt.shape[0]
    mean = np.empty(xs_filt.shape[:2])
    var = np.empty(xs_filt.shape[:2])
    x, p = xs_filt[-1], ps_filt[-1]
    mean[-1], var[-1] = x[..., 0], p[..., 0, 0]
    for t in range(n_t - 2, -1, -1):
        gain = ps_filt[t] @ f.T @ np.linalg.inv(ps_pred[t + 1])
        x = xs_filt[t] + np.einsum("nij,nj->ni", gain, x - xs_pred[t + 1])
        p = ps_filt[t] + gain @ (p - ps_pred[t + 1]) @ np.swapaxes(gain, -1, -2)
        mean[t], var[t] = x[..., 0], p[..., 0, 0]
    return mean, var


def _group_loglik(
    y: np.ndarray, r: np.ndarray, m0: np.ndarray, p0: np.ndarray, state: str, log_s: np.ndarray, one_hot: np.ndarray
) -> np.ndarray:
    """Marginal log-likelihood ``(G, groups)`` for ``log10 s`` values ``(G, N)``, summed within groups."""
    f, q = _model_matrices(state, 10.0**log_s)
    loglik, _ = _filter(y, r, m0, p0, f, q, store=False)
    return loglik @ one_hot


def _best_smoothing(
    y: np.ndarray, r: np.ndarray, m0: np.ndarray, p0: np.ndarray, state: str, groups: np.ndarray
) -> np.ndarray:
    """Per series, the ``s`` maximising the marginal likelihood summed over its group (grid, then refined)."""
    n = groups.size
    n_groups = int(groups.max()) + 1
    one_hot = np.zeros((n, n_groups))
    one_hot[np.arange(n), groups] = 1.0
    coarse = np.log10(COARSE_GRID)
    pick = np.argmax(_group_loglik(y, r, m0, p0, state, np.repeat(coarse[:, None], n, axis=1), one_hot), axis=0)
    fine = coarse[pick][None, :] + _REFINE[:, None]  # (G, groups)
    pick = np.argmax(_group_loglik(y, r, m0, p0, state, fine[:, groups], one_hot), axis=0)
    return 10.0 ** fine[pick, np.arange(n_groups)][groups]


def kalman_smooth_observations(
    observation: np.ndarray,
    observation_variance: np.ndarray,
    *,
    state: StateModel | str = "position",
    smoothing: float | np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> EksResult:
    """Kalman smoother of ``(T, N)`` observations with per-frame noise variances ``(T, N)``.

    ``smoothing``: ``s`` for every series (a number or ``(N,)``); None chooses it by marginal
    likelihood, one value per group of series (``groups``: ``(N,)`` integer labels; default one
    group per series). NaN observations are missing.
    """
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}; use one of {', '.join(STATES)}")
    y = np.asarray(observation, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"observations must be (frames, series), got shape {y.shape}")
    r = np.maximum(np.asarray(observation_variance, dtype=np.float64), MIN_VARIANCE)
    n_t, n = y.shape
    if n_t == 0 or n == 0:
        empty = np.zeros((n_t, n))
        return EksResult(empty, empty, np.ones(n), y, r)
    m0, p0 = _prior(y, state)
    if smoothing is None:
        labels = np.arange(n) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
        s = _best_smoothing(y, r, m0, p0, state, labels.reshape(-1))
    else:
        s = np.broadcast_to(np.asarray(smoothing, dtype=np.float64), (n,)).copy()
        if not np.all(s > 0):
            raise ValueError(f"the smoothing parameter must be positive, got {smoothing}")
    f, q = _model_matrices(state, s)
    _, stored = _filter(y, r, m0, p0, f, q, store=True)
    assert stored is not None
    mean, var = _smooth(f, *stored)
    never = ~np.isfinite(y).any(axis=0)
    mean[:, never] = np.nan
    var[:, never] = np.nan
    return EksResult(mean, var, s, y, r)


def ensemble_statistics(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The members' mean and observation variance ``(T, N)`` of ``(M, T, N)`` predictions (NaN = missing).

    Where fewer than two members see a point, the variance is the series' median ensemble variance
    (that of all series when the series has none).
    """
    members = np.asarray(members, dtype=np.float64)
    count = np.isfinite(members).sum(axis=0)
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning), np.errstate(all="ignore"):
        mean = np.nanmean(members, axis=0)
        var = np.where(count >= 2, np.nanvar(members, axis=0), np.nan)
        typical = np.nanmedian(var, axis=0)
        overall = np.nanmedian(var)
    typical = np.where(np.isfinite(typical), typical, overall if np.isfinite(overall) else 1.0)
    var = np.where(np.isfinite(var), var, typical[None, :])
    return mean, np.maximum(var, MIN_VARIANCE)


def ensemble_kalman_smoother(
    members: np.ndarray,
    *,
    state: StateModel | str = "position",
    smoothing: float | np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> EksResult:
    """EKS of ``(M, T, N)`` member predictions (NaN = missing): see the module docstring."""
    members = np.asarray(members, dtype=np.float64)
    if members.ndim != 3:
        raise ValueError(f"members must be (members, frames, series), got shape {members.shape}")
    mean, var = ensemble_statistics(members)
    return kalman_smooth_observations(mean, var, state=state, smoothing=smoothing, groups=groups)


# --- poses and files --------------------------------------------------------------------------------
def eks_poses(
    members: Sequence[Poses],
    *,
    state: StateModel | str = "position",
    smoothing: float | None = None,
    p_bound: float = 0.0,
) -> tuple[Poses, np.ndarray]:
    """EKS of members' poses (same frames and body parts): the smoothed poses and posterior variance.

    Points under ``p_bound`` or NaN count as missing for that member. The likelihood of the result is
    the members' mean likelihood (0 where no member saw the point). Returns the poses (layout, frames
    and fps of the first member; ``metadata["eks"]`` records the state model and smoothing parameters) and
    the posterior variance ``(frames, individuals, keypoints, 2)``.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    first = members[0]
    for other in members[1:]:
        if other.data.shape != first.data.shape:
            raise LabelFileError(
                f"ensemble members differ in shape: {first.source or 'member 1'} {first.data.shape} vs "
                f"{other.source or 'another member'} {other.data.shape}; analyse the same video with every member."
            )
    data = np.stack([np.asarray(m.data, dtype=np.float64) for m in members])  # (M, T, I, K, 3)
    n_m, n_t = data.shape[:2]
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(data[..., :2]).all(axis=-1) & ~(data[..., 2] < p_bound)
    xy = np.where(keep[..., None], data[..., :2], np.nan)
    n_pts = int(np.prod(data.shape[2:4]))
    result = ensemble_kalman_smoother(
        xy.reshape(n_m, n_t, 2 * n_pts), state=state, smoothing=smoothing, groups=np.arange(2 * n_pts) // 2
    )
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):
        like = np.nan_to_num(np.nanmean(np.where(keep, data[..., 2], np.nan), axis=0))
    out = np.concatenate([result.mean.reshape(*data.shape[1:-1], 2), like[..., None]], axis=-1)
    out[:, ~first.layout.valid] = np.nan
    record = {
        "method": "eks",
        "state": str(state),
        "members": [m.source for m in members],
        "smoothing": [float(v) for v in result.smoothing[::2]],
    }
    poses = first.with_data(out.astype(np.float32), metadata={**first.metadata, "eks": record})
    return poses, result.variance.reshape(*data.shape[1:-1], 2)


def _members_of(video: Path, videos: Sequence[Path], predictions: Sequence[Path]) -> list[Path]:
    """The given prediction files that belong to ``video``: all of them for a single video, else those
    whose names start with its stem (the longest matching stem wins: ``clip2...`` is not ``clip``'s)."""
    if len(videos) == 1:
        return list(predictions)
    stems = sorted({v.stem for v in videos}, key=len, reverse=True)
    owner = {p: next((stem for stem in stems if p.name.startswith(stem)), None) for p in predictions}
    return [p for p in predictions if owner[p] == video.stem]


def smooth_predictions(
    config: str | os.PathLike[str],
    videos: Sequence[str | os.PathLike[str]] | str,
    *,
    method: str = "eks",
    shuffles: Sequence[int] | None = None,
    predictions: Sequence[str | os.PathLike[str]] | None = None,
    state: StateModel | str = "position",
    smoothing: float | None = None,
    p_bound: float | None = None,
    dest: str | os.PathLike[str] | None = None,
    save_as_csv: bool = False,
) -> list[Path]:
    """Smooth the predictions of an ensemble for each video; write ``<first member's stem>_eks.h5``.

    The members are the prediction files of ``shuffles`` (one shuffle per member, found as every
    command finds a shuffle's file, in ``dest`` or beside the video), or the given ``predictions``
    files (all of them for one video; for several, those whose names start with the video's name).
    A member's points under ``p_bound`` (default: the project's ``pcutoff``) are not observations: where
    no member is that sure, the smoother bridges from the frames around. Returns the files written, one
    per video.
    """
    if method != "eks":
        raise ValueError(f"unknown smoothing method {method!r}; use eks")
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}; use one of {', '.join(STATES)}")
    if (shuffles is None) == (predictions is None):
        raise ProjectError("Pass the ensemble's members: either --shuffles K... or --predictions H5... (not both).")
    project = Project.load(config)
    if p_bound is None:
        p_bound = project.pcutoff
    found = find_videos(videos)
    if not found:
        raise ProjectError(f"No videos given or found in {videos}; pass video files or folders holding videos.")
    suffixes = prediction_suffixes(project.multi_animal)
    given = [Path(p) for p in predictions or ()]
    for path in given:
        if not path.is_file():
            raise ProjectError(f"Prediction file {path} does not exist; pass the members' .h5 files.")
    written = []
    for video in found:
        if shuffles is not None:
            files = [
                prediction_file(video, k, scorer=shuffle_scorer(project, k), suffix=suffixes, dest=dest)
                for k in dict.fromkeys(shuffles)
            ]
        else:
            files = _members_of(video, found, given)
        if len(files) < 2:
            raise ProjectError(
                f"EKS of {video.name} needs at least 2 members, found {len(files)} "
                f"({', '.join(p.name for p in files) or 'none'}); analyse the video with each member's shuffle."
            )
        members = [load_predictions(project, path) for path in files]
        poses, _ = eks_poses(members, state=state, smoothing=smoothing, p_bound=p_bound)
        written.append(write_predictions(poses, eks_path(files[0]), save_as_csv=save_as_csv))
    return written


__all__ = [
    "COARSE_GRID",
    "MIN_VARIANCE",
    "STATES",
    "EksResult",
    "eks_poses",
    "ensemble_kalman_smoother",
    "ensemble_statistics",
    "kalman_smooth_observations",
    "smooth_predictions",
]
