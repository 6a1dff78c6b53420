"""Our EKS (markerless.results.eks) against the reference ``ensemble-kalman-smoother`` (JAX) on one ensemble.

The reference is not a dependency of markerless (it pulls in JAX). Install it apart and point at it:

    pip install --target /tmp/eks_ref ensemble-kalman-smoother
    EKS_REFERENCE=/tmp/eks_ref .venv/bin/python bench/eks_reference.py

Both get the same synthetic ensemble (3 noisy members of a known trajectory, 17 body parts, 994
frames), with the reference set to our observation model (``avg_mode="mean"``, ``var_mode="var"``).
Prints, for a fixed smoothing parameter and for each one's own choice of it, the largest difference
between the smoothed tracks and each one's error against the truth.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from markerless.results.eks import ensemble_kalman_smoother


def synthetic_ensemble(seed: int = 0, frames: int = 994, keypoints: int = 17, members: int = 3):
    """Truth ``(T, K, 2)`` and members ``(M, T, K, 2)`` with frame-varying noise and a few outliers."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, size=(1, keypoints, 2))
    truth = 200 + 60 * np.sin(t / 40.0 + phase) + 15 * np.cos(t / 9.0 + 2 * phase)
    sd = rng.uniform(0.5, 4.0, size=(frames, keypoints, 2))
    noisy = truth[None] + rng.normal(size=(members, frames, keypoints, 2)) * sd[None]
    hits = rng.integers(0, frames, size=(members, 20)), rng.integers(0, keypoints, size=(members, 20))
    for m in range(members):
        noisy[m, hits[0][m], hits[1][m]] += 40.0
    return truth, noisy


def reference(members: np.ndarray, smooth_param: float | None):
    """The package's single-camera EKS: smoothed ``(T, K, 2)`` and its per-keypoint smoothing parameters."""
    from eks.marker_array import MarkerArray  # type: ignore[import-not-found]
    from eks.singlecam_smoother import ensemble_kalman_smoother_singlecam  # type: ignore[import-not-found]

    n_m, n_t, n_k, _ = members.shape
    arr = np.concatenate([members, np.ones((n_m, n_t, n_k, 1))], axis=-1)[:, None]  # (M, 1, T, K, 3)
    marker_array = MarkerArray(arr, data_fields=["x", "y", "likelihood"])
    df, s = ensemble_kalman_smoother_singlecam(
        marker_array, [f"kp{k}" for k in range(n_k)], smooth_param=smooth_param, avg_mode="mean", var_mode="var"
    )
    values = df.to_numpy().reshape(n_t, n_k, -1)[..., :2]
    return values, np.asarray(s)


def ours(members: np.ndarray, smoothing: float | None):
    n_m, n_t, n_k, _ = members.shape
    result = ensemble_kalman_smoother(
        members.reshape(n_m, n_t, 2 * n_k), smoothing=smoothing, groups=np.arange(2 * n_k) // 2
    )
    return result.mean.reshape(n_t, n_k, 2), result.smoothing[::2]


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def main() -> None:
    sys.path.append(os.environ.get("EKS_REFERENCE", "/tmp/eks_ref"))  # after the venv: its numpy wins
    truth, members = synthetic_ensemble()
    print(f"ensemble mean: RMSE {rmse(members.mean(axis=0), truth):.3f} px")
    for fixed in (4.0, None):
        t0 = time.perf_counter()
        mine, s_mine = ours(members, fixed)
        t1 = time.perf_counter()
        ref, s_ref = reference(members, fixed)
        t2 = time.perf_counter()
        label = f"s={fixed:g}" if fixed is not None else "s chosen by each"
        print(
            f"{label}: max |ours - reference| {np.max(np.abs(mine - ref)):.2e} px; RMSE vs truth ours "
            f"{rmse(mine, truth):.3f} px ({t1 - t0:.2f} s), reference {rmse(ref, truth):.3f} px ({t2 - t1:.2f} s); "
            f"s median ours {np.median(s_mine):.3g}, reference {np.median(s_ref):.3g}"
        )


if __name__ == "__main__":
    main()
