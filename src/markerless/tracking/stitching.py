"""Global stitching: tracklets joined into exactly the known number of animals.

Joining is a min-cost assignment of tracklet ends to later tracklet starts (the linear assignment
form of a unit-capacity min-cost flow, Jaqaman et al. 2008), repeated on the joined chains: a
link's cost is how far the motion of the earlier piece misses the start of the later one, plus the
gap and the difference in pose shape (and in identity votes, when the tracklets carry them), all in
units of the animal's size. Links costlier than ``max_link_cost`` are taken only while there are
more chains than animals, cheapest first. Chains that still overlap in time when the animals run
out are placed, piece by piece, into the animal free at those frames and closest in position;
observations no animal has room for are dropped and counted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from markerless.model.poses import Poses
from markerless.tracking.settings import TrackingSettings, check_n_animals
from markerless.tracking.tracklets import Tracklets

_BIG = 1e9


@dataclass
class _Chains:
    """Per chain of tracklets: first/last frame, centre and velocity at both ends, mean shape, votes."""

    start: np.ndarray
    end: np.ndarray
    first: np.ndarray
    last: np.ndarray
    v_first: np.ndarray
    v_last: np.ndarray
    shape: np.ndarray
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
    counts = np.bincount(c, minlength=n)[:, None, None]
    sh = np.zeros((n, *shape.shape[1:]))
    known = np.zeros_like(sh)
    np.add.at(sh, c, np.nan_to_num(shape[order]))
    np.add.at(known, c, np.isfinite(shape[order]))
    mean_votes = None
    if votes is not None:
        mean_votes = np.zeros((n, votes.shape[1]))
        np.add.at(mean_votes, c, votes[order])
        mean_votes /= np.maximum(counts[:, :, 0], 1)
    return _Chains(
        f[starts],
        f[ends],
        x[starts],
        x[ends],
        v_first,
        v_last,
        np.where(known > 0, sh / np.maximum(known, 1), np.nan),
        mean_votes,
    )


def _link_costs(ch: _Chains, size: float, settings: TrackingSettings) -> np.ndarray:
    """Cost ``(n, n)`` of joining the end of chain i to the start of chain j (``_BIG`` when impossible)."""
    gap = (ch.start[None, :] - ch.end[:, None]).astype(np.float64)
    # both ends extrapolated to the middle of the gap
    half = np.maximum(gap, 1.0)[..., None] / 2
    meet_i = ch.last[:, None] + ch.v_last[:, None] * half
    meet_j = ch.first[None, :] - ch.v_first[None, :] * half
    cost = np.hypot(*np.moveaxis(meet_i - meet_j, -1, 0)) / size
    cost += settings.gap_cost * gap
    d = ch.shape[:, None] - ch.shape[None, :]
    dist = np.sqrt(np.nansum(d**2, axis=-1))
    n_known = np.isfinite(d).all(axis=-1).sum(axis=-1)
    cost += settings.shape_weight * np.where(n_known > 0, np.nansum(dist, axis=-1) / np.maximum(n_known, 1), 0) / size
    if ch.votes is not None:
        cost += settings.identity_weight * (1.0 - ch.votes @ ch.votes.T)
    return np.where(gap > 0, cost, _BIG)


def _link_round(ch: _Chains, size: float, settings: TrackingSettings, forced: int) -> np.ndarray:
    """Successor of each chain (-1: none) from one assignment of chain ends to later chain starts.

    With ``forced == 0`` every link cheaper than ``max_link_cost`` is taken (ends and starts may stay
    unlinked at that cost); otherwise the ``forced`` cheapest links of the best full assignment are taken.
    """
    n = len(ch.start)
    cost = _link_costs(ch, size, settings)
    if forced:
        rows, cols = linear_sum_assignment(cost)
        c = cost[rows, cols]
        take = np.argsort(c, kind="stable")[:forced]
        take = take[c[take] < _BIG]
        i, j = rows[take], cols[take]
    else:
        full = np.full((2 * n, 2 * n), _BIG)
        full[:n, :n] = cost
        full[np.arange(n), n + np.arange(n)] = settings.max_link_cost  # end i not linked
        full[n + np.arange(n), np.arange(n)] = settings.max_link_cost  # start j not linked
        full[n:, n:] = cost.T
        rows, cols = linear_sum_assignment(full)
        link = (rows < n) & (cols < n)
        i, j = rows[link], cols[link]
        ok = cost[i, j] <= settings.max_link_cost
        i, j = i[ok], j[ok]
    successor = np.full(n, -1, dtype=np.int64)
    successor[i] = j
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
    while n > 1:
        ch = _summaries(chain, tracklets.frame, centre, shape, _votes(tracklets), n)
        successor = _link_round(ch, size, settings, forced=max(n - n_animals, 0) if forced else 0)
        if not (successor >= 0).any():
            if forced or n <= n_animals:
                break
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
