"""Forward prediction: the pose at the time a result is used, not the time its frame was taken.

A closed-loop experiment acts some milliseconds after the camera exposed the frame (transfer,
inference, the processor's own delay). :class:`ForwardPredictor` runs a constant-velocity Kalman
filter on every keypoint coordinate (state: position and velocity) and extrapolates the filtered
state to the time of use, as DeepLabCut-Live's ``KalmanFilterPredictor`` does. Coordinates are
filtered independently (x and y of each keypoint), vectorised over all of them.
"""

from __future__ import annotations

import time

import numpy as np

from markerless.errors import ConfigError


class ForwardPredictor:
    """Constant-velocity Kalman filter per keypoint coordinate, predicting ahead to the time of use.

    ``forward_s``: how far past the frame time to predict (None: to the moment :meth:`__call__`
    runs, i.e. the measured latency). ``process_noise``: acceleration noise (px/s²) of the motion
    model; ``measurement_noise``: the keypoint's positional noise (px). Keypoints below
    ``threshold`` likelihood are not used to update the filter (their prediction coasts on the last
    velocity); a keypoint unseen for ``max_gap_s`` starts afresh when it reappears.
    """

    def __init__(
        self,
        forward_s: float | None = None,
        *,
        process_noise: float = 2000.0,
        measurement_noise: float = 2.0,
        threshold: float = 0.1,
        max_gap_s: float = 0.5,
    ) -> None:
        if forward_s is not None and forward_s < 0:
            raise ConfigError(f"forward_s must be 0 or more seconds, got {forward_s}.")
        if process_noise <= 0 or measurement_noise <= 0:
            raise ConfigError("process_noise and measurement_noise must be positive.")
        self.forward_s = forward_s
        self.q, self.r = float(process_noise) ** 2, float(measurement_noise) ** 2
        self.threshold, self.max_gap_s = threshold, max_gap_s
        self._x: np.ndarray | None = None  # (M, 2): position, velocity of each coordinate
        self._p: np.ndarray | None = None  # (M, 2, 2) covariances
        self._seen: np.ndarray | None = None  # (M,) time of the last update
        self._time: float | None = None

    def reset(self) -> None:
        """Forget the state (the next pose starts the filter afresh)."""
        self._x = self._p = self._seen = None
        self._time = None

    def __call__(self, pose: np.ndarray, frame_time: float, now: float | None = None) -> np.ndarray:
        """``pose`` (individuals, keypoints, 3) of the frame taken at ``frame_time`` (``time.perf_counter`` s) ->
        the pose predicted at ``frame_time + forward_s`` (or at ``now``); likelihoods are kept."""
        pose = np.asarray(pose, dtype=np.float32)
        z = pose[..., :2].reshape(-1).astype(np.float64)  # (M,)
        ok = np.repeat((pose[..., 2] >= self.threshold).reshape(-1), 2) & np.isfinite(z)
        self._update(z, ok, float(frame_time))
        assert self._x is not None
        ahead = self.forward_s if self.forward_s is not None else max(0.0, (now or time.perf_counter()) - frame_time)
        predicted = self._x[:, 0] + self._x[:, 1] * ahead
        out = pose.copy()
        out[..., :2] = predicted.reshape((*pose.shape[:-1], 2)).astype(np.float32)
        return out

    def _update(self, z: np.ndarray, ok: np.ndarray, t: float) -> None:
        m = len(z)
        if self._x is None or self._x.shape[0] != m or self._time is None or self._seen is None:
            self._x = np.stack([np.where(ok, z, np.nan), np.zeros(m)], axis=1)
            self._p = np.broadcast_to(np.diag([self.r, 1e6]), (m, 2, 2)).copy()
            self._seen = np.where(ok, t, -np.inf)
            self._time = t
            return
        assert self._p is not None
        dt = max(t - self._time, 0.0)
        self._time = t
        x, p = self._x, self._p
        # predict: x <- F x, P <- F P F' + Q (white-acceleration model)
        x[:, 0] += x[:, 1] * dt
        p00 = p[:, 0, 0] + dt * (p[:, 0, 1] + p[:, 1, 0]) + dt * dt * p[:, 1, 1] + self.q * dt**4 / 4
        p01 = p[:, 0, 1] + dt * p[:, 1, 1] + self.q * dt**3 / 2
        p11 = p[:, 1, 1] + self.q * dt**2
        # start afresh where a coordinate was never seen or unseen for too long
        fresh = ok & (~np.isfinite(x[:, 0]) | (t - self._seen > self.max_gap_s))
        # update with the measured positions (H = [1, 0])
        s = p00 + self.r
        k0, k1 = p00 / s, p01 / s
        innovation = z - x[:, 0]
        upd = ok & ~fresh
        x[upd, 0] += k0[upd] * innovation[upd]
        x[upd, 1] += k1[upd] * innovation[upd]
        n00 = np.where(upd, (1 - k0) * p00, p00)
        n01 = np.where(upd, (1 - k0) * p01, p01)
        n11 = np.where(upd, p11 - k1 * p01, p11)
        x[fresh, 0], x[fresh, 1] = z[fresh], 0.0
        n00[fresh], n01[fresh], n11[fresh] = self.r, 0.0, 1e6
        p[:, 0, 0], p[:, 0, 1], p[:, 1, 0], p[:, 1, 1] = n00, n01, n01, n11
        self._seen[ok] = t
