"""Global stitching: tracklets joined into exactly the known number of animals.

Joining is a min-cost assignment of tracklet ends to later tracklet starts (the linear assignment
form of a unit-capacity min-cost flow, Jaqaman et al. 2008), repeated on the joined chains: a
link's cost is how far the motion of the earlier piece misses the start of the later one, plus the
gap and the difference between the pose shapes either side of the gap (and in identity votes, when the tracklets carry them), all in
units of the animal's size. Links costlier than ``max_link_cost`` are taken only while there are
more chains than animals, cheapest first. Chains that still overlap in time when the animals run
out are placed, piece by piece, into the animal free at those frames and closest in position;
observations no animal has room for are dropped and counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from markerless.model.poses import Poses
from markerless.tracking.settings import TrackingSettings, check_n_animals
from markerless.tracking.tracklets import Tracklets


@dataclass
class _Chains:
    """Per chain of tracklets: first/last frame, centre, velocity and pose shape at both ends, mean votes."""

    start: np.ndarray
    end: np.ndarray
    first: np.ndarray
    last: np.ndarray
    v_first: np.ndarray
    v_last: np.ndarray
    shape_first: np.ndarray
    shape_last: np.ndarray
    votes: np.ndarray | None


def _summaries(
    chain: np.ndarray, frame: np.ndarray, centre: np.ndarray, shape: np.ndarray, votes: np.ndarray | None, n: int
) -> _Chains:
    """Summaries of ``n`` chains from per-observation chain numbers (observations sorted by frame)."""
    order = np.lexsort((frame, chain))
    c, f, x = chain[order], frame[order], centre[order]
    starts = np.searchsorted(c, np.arange(n))
    ends = np.searchsorted(c, np.arange(n), side="right") - 1
    # velocity over up to 5 observations at each end
    s2 = np.minimum(starts + 4, ends)
    e2 = np.maximum(ends - 4, starts)
    v_first = (x[s2] - x[starts]) / np.maximum(f[s2] - f[starts], 1)[:, None]
    v_last = (x[ends] - x[e2]) / np.maximum(f[ends] - f[e2], 1)[:, None]
    sh = shape[order]
    mean_votes = None
    if votes is not None:
        mean_votes = np.zeros((n, votes.shape[1]))
        np.add.at(mean_votes, c, votes[order])
        mean_votes /= np.maximum(np.bincount(c, minlength=n), 1)[:, None]
    return _Chains(
        f[starts],
        f[ends],
        x[starts],
        x[ends],
        v_first,
        v_last,
        sh[starts],
        sh[ends],
        mean_votes,
    )


def _candidates(ch: _Chains, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` where chain j starts 1 to ``window`` frames after chain i ends."""
    order = np.argsort(ch.start, kind="stable")
    starts = ch.start[order]
    lo = np.searchsorted(starts, ch.end, side="right")
    hi = np.searchsorted(starts, ch.end + min(window, 2**62), side="right")
    counts = hi - lo
    i = np.repeat(np.arange(len(ch.start)), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return i, order[np.repeat(lo, counts) + within]


def _link_costs(ch: _Chains, i: np.ndarray, j: np.ndarray, size: float, settings: TrackingSettings) -> np.ndarray:
    """Cost of joining the end of chain ``i`` to the start of chain ``j``, per pair."""
    gap = (ch.start[j] - ch.end[i]).astype(np.float64)
    half = np.maximum(gap, 1.0)[:, None] / 2  # both ends extrapolated to the middle of the gap
    meet = (ch.last[i] + ch.v_last[i] * half) - (ch.first[j] - ch.v_first[j] * half)
    cost = np.hypot(meet[:, 0], meet[:, 1]) / size + settings.gap_cost * gap
    diff = ch.shape_last[i] - ch.shape_first[j]  # (pairs, keypoints, 2): the poses either side of the gap
    dist = np.hypot(diff[..., 0], diff[..., 1])
    known = np.isfinite(dist)
    shape = np.where(known, dist, 0.0).sum(axis=1) / np.maximum(known.sum(axis=1), 1)
    cost += settings.shape_weight * shape / size
    if ch.votes is not None:
        cost += settings.identity_weight * (1.0 - (ch.votes[i] * ch.votes[j]).sum(axis=1))
    return cost


def _link_round(ch: _Chains, size: float, settings: TrackingSettings, forced: int, window: float) -> np.ndarray:
    """Successor of each chain (-1: none) from one assignment of chain ends to later chain starts.

    Only starts up to ``window`` frames after an end are candidates. The assignment is sparse: ends x
    starts plus a "no link" option for each end and each start (Jaqaman et al.'s augmented matrix).
    With ``forced == 0`` not linking costs ``max_link_cost`` and every link taken is under it;
    otherwise linking is preferred at any cost and the ``forced`` cheapest links are taken.
    """
    n = len(ch.start)
    i, j = _candidates(ch, window)
    successor = np.full(n, -1, dtype=np.int64)
    if len(i) == 0:
        return successor
    cost = _link_costs(ch, i, j, size, settings)
    no_link = settings.max_link_cost if not forced else 2.0 * float(cost.max()) + 1.0
    eps = 1e-9  # explicit entries must be non-zero to stay in the sparse matrix
    diag = np.arange(n)
    rows = np.concatenate([i, diag, n + diag, n + j])
    cols = np.concatenate([j, n + diag, diag, n + i])
    weights = np.concatenate([cost, np.full(2 * n, no_link), cost]) + eps
    matrix = csr_matrix((weights, (rows, cols)), shape=(2 * n, 2 * n))
    matched_rows, matched_cols = min_weight_full_bipartite_matching(matrix)
    match = np.full(2 * n, -1, dtype=np.int64)
    match[matched_rows] = matched_cols
    linked = np.flatnonzero((match[:n] >= 0) & (match[:n] < n))
    keys = i * n + j  # the cost of each link taken, looked up among the candidate pairs
    order = np.argsort(keys, kind="stable")
    c = cost[order[np.searchsorted(keys[order], linked * n + match[linked])]]
    if forced:
        keep = np.argsort(c, kind="stable")[:forced]
    else:
        keep = np.flatnonzero(c <= settings.max_link_cost)
    successor[linked[keep]] = match[linked[keep]]
    return successor


def _relabel(successor: np.ndarray) -> np.ndarray:
    """New chain number of each chain after following ``successor`` links."""
    n = len(successor)
    has_pred = np.zeros(n, dtype=bool)
    has_pred[successor[successor >= 0]] = True
    new = np.full(n, -1, dtype=np.int64)
    for k, head in enumerate(np.flatnonzero(~has_pred)):  # one step per chain piece, not per frame
        node = head
        while node >= 0:
            new[node] = k
            node = successor[node]
    return new


def _place_overflow(
    chain: np.ndarray, frame: np.ndarray, centre: np.ndarray, n_animals: int, n_frames: int
) -> tuple[np.ndarray, int]:
    """Animal number of each observation when more chains than animals remain: the longest chains are
    the animals, each other chain goes, per frame, to the free animal nearest its last position."""
    n = int(chain.max()) + 1
    length = np.bincount(chain, minlength=n)
    order = np.argsort(-length, kind="stable")
    animal_of_chain = np.full(n, -1, dtype=np.int64)
    animal_of_chain[order[:n_animals]] = np.arange(n_animals)
    animal = animal_of_chain[chain]
    occupied = np.zeros((n_animals, n_frames), dtype=bool)
    pos = np.full((n_animals, n_frames, 2), np.nan)
    placed = animal >= 0
    occupied[animal[placed], frame[placed]] = True
    pos[animal[placed], frame[placed]] = centre[placed]
    for k in order[n_animals:]:
        obs = np.flatnonzero(chain == k)
        free = ~occupied[:, frame[obs]]  # (animals, obs)
        first = frame[obs].min()
        before = pos[:, : first + 1]
        seen = np.isfinite(before[..., 0])
        last_idx = np.where(seen.any(axis=1), first - np.argmax(seen[:, ::-1], axis=1), -1)
        anchor = np.where((last_idx >= 0)[:, None], before[np.arange(n_animals), np.maximum(last_idx, 0)], np.inf)
        dist = np.hypot(*(anchor - centre[obs[0]]).T)
        dist = np.where(np.isfinite(dist), dist, 1e12)
        pick = np.argmin(np.where(free, dist[:, None], np.inf), axis=0)
        ok = free[pick, np.arange(len(obs))]
        animal[obs[ok]] = pick[ok]
        occupied[pick[ok], frame[obs[ok]]] = True
        pos[pick[ok], frame[obs[ok]]] = centre[obs[ok]]
    return animal, int((animal < 0).sum())


def stitch(tracklets: Tracklets, n_animals: int | None = None, settings: TrackingSettings | None = None) -> Poses:
    """Poses with persistent identities: the tracklets joined into ``n_animals`` animals.

    ``n_animals`` defaults to the number of individuals of the source layout and may not exceed it.
    Animals fill the layout's individuals in order of first appearance; with fewer animals visible the
    remaining individuals stay empty (NaN). Observations no animal has room for (more animals in a
    frame than ``n_animals``) are dropped with a warning naming how many.
    """
    settings = settings or TrackingSettings()
    layout = tracklets.source.layout
    n_ind, n_kp = len(layout.individuals), len(layout.bodyparts)
    n_animals = check_n_animals(n_animals, layout.individuals, tracklets.source.source or "the layout")
    out = tracklets.source.with_data(tracklets.source.data.copy())
    out.data[:, :n_ind] = np.nan
    if tracklets.count == 0:
        return out
    pose = tracklets.pose.astype(np.float64)
    seen = np.isfinite(pose).all(axis=-1) & (pose[..., 2] >= settings.pcutoff)
    xy = np.where(seen[..., None], pose[..., :2], np.nan)
    centre = np.nansum(xy, axis=1) / np.maximum(seen.sum(axis=1), 1)[:, None]
    shape = xy - centre[:, None]
    size = settings.size or float(tracklets.metadata.get("size") or 0) or 10.0
    chain = tracklets.tracklet.copy()
    n = tracklets.count
    forced = False
    window = float(max(4 * settings.max_gap, 100))
    while n > 1:
        ch = _summaries(chain, tracklets.frame, centre, shape, _votes(tracklets), n)
        successor = _link_round(ch, size, settings, max(n - n_animals, 0) if forced else 0, window)
        if not (successor >= 0).any():
            if n <= n_animals or (forced and window > tracklets.n_frames):
                break
            if forced:
                window *= 4  # no possible link so close: look further
            forced = True  # no cheap link left: join the cheapest possible ones until the animals suffice
            continue
        relabel = _relabel(successor)
        chain, n = relabel[chain], int(relabel.max()) + 1
    if n > n_animals:
        animal, dropped = _place_overflow(chain, tracklets.frame, centre, n_animals, tracklets.n_frames)
        if dropped:
            warnings.warn(
                f"{dropped} poses dropped: more than {n_animals} animals at once in their frames "
                "(raise the number of animals if more are in the video).",
                stacklevel=2,
            )
    else:
        animal = chain
    # animals numbered by first appearance
    first = np.full(max(n_animals, n), np.iinfo(np.int64).max)
    keep = animal >= 0
    np.minimum.at(first, animal[keep], tracklets.frame[keep])
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    out.data[tracklets.frame[keep], rank[animal[keep]], :n_kp] = tracklets.pose[keep]
    return out


def _votes(tracklets: Tracklets) -> np.ndarray | None:
    return None if tracklets.identity is None else tracklets.identity.astype(np.float64)
