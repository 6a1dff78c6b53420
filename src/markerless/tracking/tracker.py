"""Frame-to-frame tracking: a constant-velocity Kalman filter per animal, OKS-like pose similarity, Hungarian matching.

The tracker cuts the poses of a multi-animal video (individuals not consistent over time, e.g. one
assembly per frame) into tracklets: pieces that surely belong to one animal. Identities across
tracklets are decided by :mod:`markerless.tracking.stitching`.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from markerless.model.poses import Poses
from markerless.tracking.settings import TrackingSettings
from markerless.tracking.tracklets import Tracklets

_INIT_VELOCITY_VAR = 100.0  # px²/frame², a new track's velocity is unknown


def animal_size(xy: np.ndarray, seen: np.ndarray) -> float:
    """Median bounding-box diagonal (pixels) of the animals in ``xy`` ``(..., keypoints, 2)`` seen by ``seen``."""
    lo = np.where(seen[..., None], xy, np.inf).min(axis=-2)
    hi = np.where(seen[..., None], xy, -np.inf).max(axis=-2)
    diag = np.hypot(*(hi - lo).reshape(-1, 2).T)
    diag = diag[np.isfinite(diag) & (diag > 0)]
    return float(np.median(diag)) if len(diag) else 10.0


def _detections(poses: Poses, n_animals: int, settings: TrackingSettings) -> tuple[np.ndarray, np.ndarray]:
    """Seen points ``(F, I, K)`` and the animals kept in each frame ``(F, I)`` (the ``n_animals`` best)."""
    n_ind, n_kp = len(poses.layout.individuals), len(poses.layout.bodyparts)
    data = poses.data[:, :n_ind, :n_kp]
    seen = np.isfinite(data).all(axis=-1) & (data[..., 2] >= settings.pcutoff)
    count = seen.sum(axis=-1)
    score = np.where(count >= settings.min_keypoints, np.where(seen, data[..., 2], 0).sum(axis=-1), -np.inf)
    rank = np.argsort(np.argsort(-score, axis=1, kind="stable"), axis=1, kind="stable")
    return seen, np.isfinite(score) & (rank < n_animals)


class _Tracks:
    """The live tracks: Kalman state of each centre (x, y, vx, vy) and the pose shape around it."""

    def __init__(self, n_kp: int, settings: TrackingSettings, size: float) -> None:
        self.id = np.zeros(0, dtype=np.int64)
        self.x = np.zeros((0, 4))
        self.p = np.zeros((0, 4, 4))
        self.shape = np.zeros((0, n_kp, 2))
        self.last = np.zeros(0, dtype=np.int64)
        self.q = settings.motion_noise**2
        self.r = (settings.position_noise * size) ** 2  # how far a detected centre strays from the true one
        self.sigma2 = (settings.kappa * size) ** 2

    def predict(self, frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted state, covariance and pose ``(A, K, 2)`` of every track at ``frame``."""
        dt = (frame - self.last).astype(np.float64)
        n = len(dt)
        f = np.broadcast_to(np.eye(4), (n, 4, 4)).copy()
        f[:, 0, 2] = f[:, 1, 3] = dt
        x = np.einsum("aij,aj->ai", f, self.x)
        p = f @ self.p @ f.transpose(0, 2, 1)
        # white-noise acceleration over dt frames
        d2, d3, d4 = dt**2 / 2, dt**3 / 2, dt**4 / 4
        for i in (0, 1):
            p[:, i, i] += self.q * d4
            p[:, i, i + 2] += self.q * d3
            p[:, i + 2, i] += self.q * d3
            p[:, i + 2, i + 2] += self.q * d2 * 2
        return x, p, x[:, None, :2] + self.shape

    def similarity(self, pose: np.ndarray, p: np.ndarray, xy: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """OKS-like similarity ``(A, D)`` of predicted poses and detections ``xy`` ``(D, K, 2)``."""
        sigma2 = self.sigma2 + (p[:, 0, 0] + p[:, 1, 1]) / 2  # wider while the track is uncertain
        diff = pose[:, None] - xy[None]  # (A, D, K, 2)
        d2 = np.einsum("adkc,adkc->adk", diff, diff)
        both = np.isfinite(d2) & seen[None]
        e = np.exp(-np.where(both, d2, 0.0) / (2 * sigma2[:, None, None]))
        n = both.sum(axis=-1)
        return np.where(n > 0, (e * both).sum(axis=-1) / np.maximum(n, 1), 0.0)

    def update(
        self, rows: np.ndarray, x: np.ndarray, p: np.ndarray, z: np.ndarray, shape: np.ndarray, frame: int
    ) -> None:
        """Kalman update of tracks ``rows`` with measured centres ``z`` ``(m, 2)``."""
        innov = z - x[:, :2]
        s = p[:, :2, :2] + np.eye(2) * self.r
        gain = p[:, :, :2] @ np.linalg.inv(s)  # (m, 4, 2)
        self.x[rows] = x + np.einsum("aij,aj->ai", gain, innov)
        self.p[rows] = p - gain @ p[:, :2, :]
        known = np.isfinite(shape)
        self.shape[rows] = np.where(known, shape, self.shape[rows])
        self.last[rows] = frame

    def add(self, ids: np.ndarray, z: np.ndarray, shape: np.ndarray, frame: int) -> None:
        """Start tracks at centres ``z`` ``(m, 2)``, at rest and with an unknown velocity."""
        m = len(ids)
        p = np.zeros((m, 4, 4))
        p[:, 0, 0] = p[:, 1, 1] = self.r
        p[:, 2, 2] = p[:, 3, 3] = _INIT_VELOCITY_VAR
        self.id = np.concatenate([self.id, ids])
        self.x = np.concatenate([self.x, np.concatenate([z, np.zeros((m, 2))], axis=1)])
        self.p = np.concatenate([self.p, p])
        self.shape = np.concatenate([self.shape, np.nan_to_num(shape)])
        self.last = np.concatenate([self.last, np.full(m, frame, dtype=np.int64)])

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the tracks in ``mask``."""
        self.id, self.x, self.p = self.id[mask], self.x[mask], self.p[mask]
        self.shape, self.last = self.shape[mask], self.last[mask]


def _ambiguous(sim: np.ndarray, rows: np.ndarray, cols: np.ndarray, margin: float) -> np.ndarray:
    """Matches ``(rows, cols)`` for which another detection or track is within ``margin`` of the match."""
    if margin <= 0 or len(rows) == 0:
        return np.zeros(len(rows), dtype=bool)
    matched = sim[rows, cols]
    other = sim.copy()
    other[rows, cols] = -np.inf
    best_other = np.maximum(other[rows].max(axis=1, initial=-np.inf), other[:, cols].max(axis=0, initial=-np.inf))
    return best_other > matched - margin


def track(poses: Poses, n_animals: int | None = None, settings: TrackingSettings | None = None) -> Tracklets:
    """Tracklets of the animals in ``poses`` (individuals need not be consistent over time).

    At most ``n_animals`` animals (default: the layout's individuals) are taken from each frame, those
    with the highest summed likelihood. A track pauses while its animal is hidden, for up to
    ``settings.max_gap`` frames; a detection no track predicts well starts a new tracklet.
    """
    settings = settings or TrackingSettings()
    n_kp = len(poses.layout.bodyparts)
    n_animals = len(poses.layout.individuals) if n_animals is None else n_animals
    seen, kept = _detections(poses, n_animals, settings)
    xy_all = np.where(seen[..., None], poses.data[:, : seen.shape[1], :n_kp, :2], np.nan).astype(np.float64)
    size = settings.size or animal_size(xy_all, seen)
    counts = seen.sum(axis=-1, keepdims=True)
    centres = np.where(seen[..., None], xy_all, 0.0).sum(axis=-2) / np.maximum(counts, 1)
    tracks = _Tracks(n_kp, settings, size)
    label = np.full(kept.shape, -1, dtype=np.int64)
    next_id = 0
    for f in np.flatnonzero(kept.any(axis=1)):
        dets = np.flatnonzero(kept[f])
        xy, z = xy_all[f, dets], centres[f, dets]
        shape = xy - z[:, None]
        matched_d = np.zeros(len(dets), dtype=bool)
        if len(tracks.id):
            x, p, pred = tracks.predict(int(f))
            sim = tracks.similarity(pred, p, xy, seen[f, dets])
            rows, cols = linear_sum_assignment(sim, maximize=True)
            ok = sim[rows, cols] >= settings.min_similarity
            rows, cols = rows[ok], cols[ok]
            ambiguous = _ambiguous(sim, rows, cols, settings.ambiguity_margin)
            alive = np.ones(len(tracks.id), dtype=bool)
            alive[rows[ambiguous]] = False
            rows, cols = rows[~ambiguous], cols[~ambiguous]
            tracks.update(rows, x[rows], p[rows], z[cols], shape[cols], int(f))
            label[f, dets[cols]] = tracks.id[rows]
            matched_d[cols] = True
            alive &= (f - tracks.last) <= settings.max_gap
            tracks.keep(alive)
        new = np.flatnonzero(~matched_d)
        if len(new):
            ids = np.arange(next_id, next_id + len(new))
            next_id += len(new)
            tracks.add(ids, z[new], shape[new], int(f))
            label[f, dets[new]] = ids
    frame, animal = np.nonzero(label >= 0)
    return Tracklets(
        frame,
        label[frame, animal],
        poses.data[frame, animal, :n_kp],
        len(poses),
        poses,
        metadata={"size": size, "n_animals": n_animals},
    )
