"""Poses with known identities for tracking tests: synthetic animals walking (and crossing) in an arena."""

from __future__ import annotations

import numpy as np

from markerless.model.poses import Poses
from markerless.synthetic.animals import make_scene


def scene_poses(n_frames: int = 600, n_animals: int = 3, seed: int = 1) -> Poses:
    """True poses (identity = individual) of a generated scene, likelihood 1."""
    scene = make_scene(n_frames, size=(320, 240), n_animals=n_animals, seed=seed)
    xy = scene.keypoints()[..., :2]
    data = np.concatenate([xy, np.ones((*xy.shape[:-1], 1))], axis=-1)
    return Poses(data, scene.layout)


def strip_identities(poses: Poses, seed: int = 0, noise_px: float = 0.0, drop: float = 0.0) -> tuple[Poses, np.ndarray]:
    """The poses with the individuals shuffled in every frame; also ``order`` (row f, slot i = true animal)."""
    rng = np.random.default_rng(seed)
    data = poses.data.copy()
    n_frames, n_ind = data.shape[:2]
    data[..., :2] += rng.normal(0.0, noise_px, data[..., :2].shape).astype(np.float32) if noise_px else 0
    if drop:
        data[rng.random((n_frames, n_ind)) < drop] = np.nan
    order = np.argsort(rng.random((n_frames, n_ind)), axis=1)
    return poses.with_data(np.take_along_axis(data, order[:, :, None, None], axis=1)), order


def identity_of_tracks(tracked: Poses, truth: Poses) -> np.ndarray:
    """``(frames, tracked individuals)`` the true animal whose keypoints are nearest to each tracked one (-1: empty)."""
    t = truth.data[..., :2].astype(np.float64)  # (F, T, K, 2)
    p = tracked.data[..., :2].astype(np.float64)  # (F, P, K, 2)
    d = np.linalg.norm(p[:, :, None] - t[:, None], axis=-1)  # (F, P, T, K)
    both = np.isfinite(d)
    mean = np.where(both.any(axis=-1), np.where(both, d, 0).sum(axis=-1) / np.maximum(both.sum(axis=-1), 1), np.inf)
    return np.where(np.isfinite(mean).any(axis=-1), np.argmin(mean, axis=-1), -1)


def close_encounters(truth: Poses, distance: float) -> int:
    """How many times two animals' centres come closer than ``distance`` (entries into closeness)."""
    c = np.nanmean(truth.data[..., :2], axis=2)
    d = np.linalg.norm(c[:, :, None] - c[:, None], axis=-1)
    iu = np.triu_indices(c.shape[1], 1)
    close = d[:, iu[0], iu[1]] < distance  # (F, pairs)
    return int((np.diff(close.astype(int), axis=0) == 1).sum())
