"""Bottom-up assembly: detected body parts grouped into animals with part-affinity fields.

Three steps, each vectorised over frames (and peaks, candidate pairs and edges):

1. :func:`find_peaks` (PyTorch, fixed shapes, so it can run inside an exported graph): per frame and
   body part the ``max_peaks`` strongest local maxima of the heatmap's probability (a max-pool of
   ``2*nms_radius + 1`` cells; lower peaks closer than that to a stronger one are dropped) at
   least ``min_score``, placed where the location-refinement offsets of the 3x3 cells around it
   vote (votes that disagree with the peak cell's by more than a cell are left out).
2. :func:`paf_affinities` (PyTorch, fixed shapes): for every edge ``(a, b)`` and every pair of
   peaks, the mean over ``n_samples`` points on the segment a→b of the affinity field's vector
   (layout of :mod:`markerless.training.paf_targets`) projected on the segment's direction: 1 for a
   limb drawn along the segment, about 0 across background.
3. :func:`assemble` (NumPy, small arrays): per edge, pairs are linked greedily by affinity (best
   first, each peak once, affinity at least ``min_affinity``); the links of a spanning forest of
   the edges make connected components, which hold at most one peak per body part (a tree with
   one-to-one links cannot reach a part twice). Components are merged, best first, where the
   remaining (cycle-closing) edges link them and they share no body part; duplicates (a component
   whose points nearly all lie on a better one's) are dropped; the ``max_individuals`` best by
   summed keypoint score are kept, and a smaller leftover joins the nearest kept animal it shares
   no body part with, within one animal length (so an animal split by an undetected joint is made
   whole). Animals with fewer than ``min_keypoints`` points are dropped.

Result: ``(frames, max_individuals, keypoints, 3)`` x, y, score with NaN for parts not found (never
invented), animals ordered by score, and per-animal scores ``(frames, max_individuals)`` = the sum
of their keypoint scores over the number of keypoints (NaN for empty slots).

Unique body parts (the last ``n_unique`` channels: a landmark, a food port; DeepLabCut's
``uniquebodyparts``) are not assembled: each takes its best peak in the frame (:func:`unique_parts`; NaN
where no peak reaches the detection floor, never invented) and goes into one more row after the
animals, the pseudo-individual ``single``, so the result is in a ``PoseLayout``'s order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from markerless.nets.decode import LOCREF_STDEV, VOTE_WINDOW

DEFAULT_MIN_SCORE = 0.1
"""Lowest heatmap probability of a peak (DeepLabCut's assembler keeps detections above 0.1)."""
DEFAULT_NMS_RADIUS = 1
"""Peaks of one body part within this many cells of a stronger one are dropped (3x3 local maxima:
same parts of two animals two cells apart stay apart)."""
DEFAULT_MIN_AFFINITY = 0.2
"""Lowest mean projected affinity for a link; a wrong pair crossing background scores about 0."""
DEFAULT_SAMPLES = 10
"""Points read along each candidate segment (DeepLabCut reads 10)."""
DUPLICATE_FRACTION = 0.8
"""An animal is a duplicate when this fraction of its points lie on a better animal's same parts ..."""
DUPLICATE_DISTANCE = 0.1
"""... within this fraction of the better animal's size (the diagonal of the box around its points)."""


# --- 1. peaks ---------------------------------------------------------------------------------
def _local_max(maps: torch.Tensor, radius: int) -> torch.Tensor:
    """The maximum over the ``(2*radius + 1)``-cell square around each cell of ``(B, K, h, w)`` maps:
    separable shifted maxima, several times faster on CPUs than ``max_pool2d`` with stride 1."""
    h, w = maps.shape[-2:]
    padded = F.pad(maps, (radius, radius, radius, radius), value=-math.inf)
    rows = padded[..., :, 0:w]
    for i in range(1, 2 * radius + 1):
        rows = torch.maximum(rows, padded[..., :, i : i + w])
    out = rows[..., 0:h, :]
    for i in range(1, 2 * radius + 1):
        out = torch.maximum(out, rows[..., i : i + h, :])
    return out


def find_peaks(
    heatmap_logits: torch.Tensor,
    offsets: torch.Tensor | None,
    stride: int,
    *,
    max_peaks: int,
    min_score: float = DEFAULT_MIN_SCORE,
    nms_radius: int = DEFAULT_NMS_RADIUS,
    locref_stdev: float = LOCREF_STDEV,
    window: int = VOTE_WINDOW,
) -> torch.Tensor:
    """Peaks ``(B, K, max_peaks, 3)`` = x, y (input pixels), probability; NaN rows where there is none.

    ``heatmap_logits`` ``(B, K, h, w)``, ``offsets`` ``(B, 2K, h, w)`` in ``locref_stdev`` units
    or None for cell centres. A peak is placed where the offsets of the ``window`` x ``window`` cells
    around it vote, weighted by probability, as :func:`markerless.nets.decode.decode_heatmaps` places
    a single animal's keypoint, leaving out votes more than a cell from the peak cell's own (another
    animal's); ``window=1``: the peak cell's vote alone. See docs/multianimal-flies.md for the gain.
    """
    b, k, h, w = heatmap_logits.shape
    logits = heatmap_logits.to(torch.float32)  # maxima and thresholds on logits: the sigmoid is monotonic
    if not 0 < min_score < 1:
        raise ValueError(f"min_score must lie between 0 and 1, got {min_score}")
    floor = math.log(min_score) - math.log1p(-min_score)
    peak = (logits >= _local_max(logits, nms_radius)) & (logits >= floor)
    m = min(max_peaks, h * w)
    value, index = logits.masked_fill(~peak, -math.inf).reshape(b, k, h * w).topk(m, dim=2)  # strongest first
    value = torch.sigmoid(value)  # 0 where there is no peak
    row = torch.div(index, w, rounding_mode="floor")
    col = index - row * w
    # plateaus give several equal maxima: keep the first of any group closer than the radius
    near = ((row[..., :, None] - row[..., None, :]).abs() <= nms_radius) & (
        (col[..., :, None] - col[..., None, :]).abs() <= nms_radius
    )
    earlier = torch.ones(m, m, dtype=torch.bool, device=logits.device).tril(-1)  # [i, j]: j ranks before i
    shadowed = (near & earlier & (value[..., None, :] > 0)).any(dim=-1)
    keep = (value > 0) & ~shadowed
    x = col.to(torch.float32) * stride + stride / 2
    y = row.to(torch.float32) * stride + stride / 2
    if offsets is not None:
        x, y = _voted_positions(logits, offsets, stride, row, col, locref_stdev, window)
    nan = torch.full_like(x, float("nan"))
    return torch.stack([torch.where(keep, x, nan), torch.where(keep, y, nan), torch.where(keep, value, nan)], -1)


def _voted_positions(
    logits: torch.Tensor,
    offsets: torch.Tensor,
    stride: int,
    row: torch.Tensor,
    col: torch.Tensor,
    locref_stdev: float,
    window: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y ``(B, K, M)`` of the peaks at cells ``row``, ``col``: the probability-weighted mean of the votes
    (cell centre + offset) of the ``window`` x ``window`` cells around each peak that agree with the peak
    cell's own vote to within one cell (so a close animal's votes are left out). Only the cells around
    the peaks are read (no whole-map arithmetic)."""
    b, k, h, w = logits.shape
    flat_logits = logits.reshape(b, k, h * w)
    off = offsets.to(torch.float32).reshape(b, k, 2, h * w)

    def vote(r: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = r.clamp(0, h - 1) * w + c.clamp(0, w - 1)
        vx = c.to(torch.float32) * stride + stride / 2 + torch.gather(off[:, :, 0], 2, index) * locref_stdev
        vy = r.to(torch.float32) * stride + stride / 2 + torch.gather(off[:, :, 1], 2, index) * locref_stdev
        return vx, vy, torch.sigmoid(torch.gather(flat_logits, 2, index))

    own_x, own_y, own_p = vote(row, col)
    if window <= 1:
        return own_x, own_y
    sum_x, sum_y, total = own_p * own_x, own_p * own_y, own_p
    reach = window // 2
    for dr, dc in itertools.product(range(-reach, reach + 1), repeat=2):  # 8 neighbours, each over all peaks
        if dr == 0 and dc == 0:
            continue
        r, c = row + dr, col + dc
        vx, vy, p = vote(r, c)
        agree = (
            (r >= 0) & (r < h) & (c >= 0) & (c < w) & ((vx - own_x).abs() <= stride) & ((vy - own_y).abs() <= stride)
        )
        weight = torch.where(agree, p, torch.zeros_like(p))
        sum_x, sum_y, total = sum_x + weight * vx, sum_y + weight * vy, total + weight
    total = total.clamp_min(1e-12)
    return sum_x / total, sum_y / total


# --- 2. affinities ----------------------------------------------------------------------------
def paf_affinities(
    pafs: torch.Tensor,
    peaks: torch.Tensor,
    edges: Sequence[Sequence[int]] | np.ndarray,
    stride: int,
    n_samples: int = DEFAULT_SAMPLES,
) -> torch.Tensor:
    """Affinity ``(B, E, M, M)`` of every pair (peak i of part a, peak j of part b) of every edge.

    ``pafs`` ``(B, 2E, h, w)`` in the layout of :func:`markerless.training.paf_targets.paf_targets`;
    ``peaks`` ``(B, K, M, 3)`` from :func:`find_peaks`. NaN where a peak is missing or both coincide.
    """
    b, _, h, w = pafs.shape
    edge = torch.as_tensor(np.asarray(edges, dtype=np.int64).reshape(-1, 2), device=pafs.device)
    n_edges, m = edge.shape[0], peaks.shape[2]
    start = peaks[:, edge[:, 0], :, None, :2]  # (B, E, M, 1, 2)
    seg = peaks[:, edge[:, 1], None, :, :2] - start  # (B, E, M, M, 2)
    length = seg.norm(dim=-1, keepdim=True)
    unit = seg / length.clamp_min(1e-6)
    t = torch.linspace(0.0, 1.0, n_samples, device=pafs.device).view(n_samples, 1)
    points = start[..., None, :] + t * seg[..., None, :]  # (B, E, M, M, S, 2)
    cell = torch.nan_to_num((points - stride / 2) / stride).round().long()
    col = cell[..., 0].clamp(0, w - 1)
    row = cell[..., 1].clamp(0, h - 1)
    flat = (row * w + col).reshape(b, n_edges, m * m * n_samples)
    field = pafs.to(torch.float32).reshape(b, n_edges, 2 * h * w)  # per edge: the x map then the y map
    both = torch.gather(field, 2, torch.cat([flat, flat + h * w], dim=2))  # one gather, no copy of the maps
    fx, fy = both.reshape(b, n_edges, 2, m, m, n_samples).unbind(dim=2)
    score = (fx * unit[..., 0:1] + fy * unit[..., 1:2]).mean(dim=-1)
    valid = torch.isfinite(length[..., 0]) & (length[..., 0] > 1e-6)
    return torch.where(valid, score, torch.full_like(score, float("nan")))


# --- 3. grouping ------------------------------------------------------------------------------
def _forest(edges: np.ndarray, n_parts: int) -> np.ndarray:
    """Which edges form a spanning forest (the first edge to join two groups of parts wins)."""
    parent = list(range(n_parts))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    tree = np.zeros(len(edges), dtype=bool)
    for e, (a, b) in enumerate(edges):  # a handful of edges, once per call
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[rb] = ra
            tree[e] = True
    return tree


def _link(affinity: np.ndarray, min_affinity: float) -> np.ndarray:
    """Greedy one-to-one links per edge ``(B, E, M)``: the b-peak linked to each a-peak, -1 if none."""
    b, e, m, _ = affinity.shape
    score = np.where(np.isfinite(affinity) & (affinity >= min_affinity), affinity, -np.inf).reshape(b, e, m * m)
    links = np.full((b, e, m), -1, dtype=np.int64)
    bi, ei = np.meshgrid(np.arange(b), np.arange(e), indexing="ij")
    for _ in range(m):  # at most M links per edge, each step vectorised over frames and edges
        best = score.argmax(axis=2)
        active = np.isfinite(score[bi, ei, best])
        if not active.any():
            break
        i, j = np.divmod(best, m)
        links[bi[active], ei[active], i[active]] = j[active]
        view = score.reshape(b, e, m, m)
        view[bi[active], ei[active], i[active], :] = -np.inf
        view[bi[active], ei[active], :, j[active]] = -np.inf
    return links


def _components(links: np.ndarray, edges: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, int]:
    """Candidate animals ``(B, C, K)`` (peak index per part, -1 none) from links along forest edges."""
    b, k, m = valid.shape
    n = b * k * m
    label = np.arange(n)
    bi, ei, i = np.nonzero(links >= 0)
    src = (bi * k + edges[ei, 0]) * m + i
    dst = (bi * k + edges[ei, 1]) * m + links[bi, ei, i]
    while True:  # label propagation with pointer jumping: a few rounds for a skeleton's depth
        low = np.minimum(label[src], label[dst])
        new = label.copy()
        np.minimum.at(new, src, low)
        np.minimum.at(new, dst, low)
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    node = np.flatnonzero(valid.ravel())
    roots, local = np.unique(label[node], return_inverse=True)
    frame_of_root = roots // (k * m)
    first = np.searchsorted(frame_of_root, np.arange(b))
    slot = np.arange(len(roots)) - first[frame_of_root]  # index of each component within its frame
    n_slots = int(slot.max()) + 1 if len(slot) else 0
    cand = np.full((b, max(n_slots, 1), k), -1, dtype=np.int64)
    frame, part, peak = np.unravel_index(node, (b, k, m))
    cand[frame, slot[local], part] = peak
    return cand, n_slots


def _points(cand: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """x, y, score ``(B, C, K, 3)`` of candidate animals; NaN where a part is missing."""
    got = np.take_along_axis(peaks[:, None], np.maximum(cand, 0)[..., None, None], axis=3)[..., 0, :]
    return np.where((cand >= 0)[..., None], got, np.nan)


def _merge_by_affinity(cand: np.ndarray, affinity: np.ndarray, edges: np.ndarray, min_affinity: float) -> None:
    """Merge candidates (in place) linked by affinity and sharing no body part, strongest evidence first;
    ``affinity`` ``(B, E, M, M)`` holds the affinities of ``edges`` ``(E, 2)``."""
    b, c, _k = cand.shape
    if c < 2 or not len(edges):
        return
    pa = cand[:, :, edges[:, 0]]  # (B, C, E)
    pb = cand[:, :, edges[:, 1]]
    bi = np.arange(b)[:, None, None, None]
    ei = np.arange(len(edges))[None, None, None, :]
    aff = affinity[bi, ei, np.maximum(pa, 0)[:, :, None, :], np.maximum(pb, 0)[:, None, :, :]]  # (B, C, C, E)
    ok = (pa >= 0)[:, :, None, :] & (pb >= 0)[:, None, :, :] & (aff >= min_affinity)
    evidence = np.where(ok, aff, 0.0).sum(axis=-1)
    evidence = evidence + evidence.transpose(0, 2, 1)
    evidence[:, np.arange(c), np.arange(c)] = 0.0
    rows = np.arange(b)
    for _ in range(c - 1):
        present = (cand >= 0).astype(np.int64)
        clash = np.einsum("bck,bdk->bcd", present, present) > 0
        score = np.where(clash, 0.0, evidence).reshape(b, c * c)
        best = score.argmax(axis=1)
        active = score[rows, best] > 0
        if not active.any():
            return
        keep, drop = np.divmod(best, c)
        f, keep, drop = rows[active], keep[active], drop[active]
        cand[f, keep] = np.where(cand[f, keep] >= 0, cand[f, keep], cand[f, drop])
        cand[f, drop] = -1
        evidence[f, keep, :] += evidence[f, drop, :]
        evidence[f, :, keep] += evidence[f, :, drop]
        evidence[f, keep, keep] = 0.0
        evidence[f, drop, :] = 0.0
        evidence[f, :, drop] = 0.0


def _size(points: np.ndarray) -> np.ndarray:
    """Diagonal of the box around each candidate's points ``(B, C)``; 0 for fewer than 2 points."""
    xy = points[..., :2]
    has = np.isfinite(xy[..., 0])
    lo = np.where(has[..., None], xy, np.inf).min(axis=-2)
    hi = np.where(has[..., None], xy, -np.inf).max(axis=-2)
    return np.where(has.sum(axis=-1) >= 2, np.hypot(*np.moveaxis(hi - lo, -1, 0)), 0.0)


def _drop_duplicates(cand: np.ndarray, points: np.ndarray, total: np.ndarray) -> None:
    """Empty (in place) candidates whose points nearly all lie on a better candidate's same parts."""
    dist = np.sqrt(((points[:, :, None, :, :2] - points[:, None, :, :, :2]) ** 2).sum(axis=-1))  # (B, C, C, K)
    close = dist <= DUPLICATE_DISTANCE * _size(points)[:, :, None, None]  # [c1, c2]: c2's part near c1's
    n_points = (cand >= 0).sum(axis=-1)  # (B, C)
    share = close.sum(axis=-1) / np.maximum(n_points, 1)[:, None, :]
    better = total[:, :, None] > total[:, None, :]
    duplicate = ((share >= DUPLICATE_FRACTION) & better & (n_points[:, :, None] >= 2)).any(axis=1)
    cand[duplicate] = -1


def _merge_leftovers(cand: np.ndarray, peaks: np.ndarray, order: np.ndarray, n_keep: int) -> None:
    """Leftover candidates (beyond the ``n_keep`` best in ``order``) join, in place, the nearest kept
    animal they share no part with, when that animal's nearest point is within one animal length."""
    b, c, _k = cand.shape
    rows = np.arange(b)
    kept = order[:, :n_keep]  # (B, N)
    for r in range(n_keep, c):  # one leftover rank at a time, vectorised over frames
        points = _points(cand, peaks)
        length = _size(points).max(axis=1)  # the frame's largest animal
        left = order[:, r]
        piece = points[rows, left]  # (B, K, 3)
        animals = points[rows[:, None], kept]  # (B, N, K, 3)
        d = np.sqrt(((piece[:, None, :, None, :2] - animals[:, :, None, :, :2]) ** 2).sum(axis=-1))
        nearest = np.nanmin(np.where(np.isfinite(d), d, np.inf).reshape(b, n_keep, -1), axis=-1)  # (B, N)
        clash = ((cand[rows, left] >= 0)[:, None] & (cand[rows[:, None], kept] >= 0)).any(axis=-1)
        nearest = np.where(clash, np.inf, nearest)
        target = nearest.argmin(axis=1)
        go = (nearest[rows, target] <= length) & (cand[rows, left] >= 0).any(axis=-1)
        f, into, src = rows[go], kept[rows[go], target[go]], left[go]
        cand[f, into] = np.where(cand[f, into] >= 0, cand[f, into], cand[f, src])
        cand[f, src] = -1


def unique_parts(peaks: np.ndarray | torch.Tensor) -> np.ndarray:
    """Each unique body part's best peak ``(B, U, 3)`` (x, y, score) of peaks ``(B, U, M, 3)``; NaN where the
    part has no peak (none reached the detection floor of :func:`find_peaks`)."""
    peaks = np.asarray(peaks.detach().cpu() if isinstance(peaks, torch.Tensor) else peaks, dtype=np.float64)
    found = np.isfinite(peaks).all(axis=-1)
    best = np.where(found, peaks[..., 2], -np.inf).argmax(axis=-1)  # a part without peaks: a NaN row
    return np.take_along_axis(peaks, best[..., None, None], axis=2)[:, :, 0].astype(np.float32)


def assemble(
    peaks: np.ndarray | torch.Tensor,
    affinities: np.ndarray | torch.Tensor,
    edges: Sequence[Sequence[int]] | np.ndarray,
    max_individuals: int,
    *,
    n_unique: int = 0,
    min_affinity: float = DEFAULT_MIN_AFFINITY,
    min_keypoints: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Animals ``(B, max_individuals, K, 3)`` and their scores ``(B, max_individuals)`` from peaks
    ``(B, K, M, 3)`` and pair affinities ``(B, E, M, M)`` of ``edges`` ``(E, 2)`` (see the module notes).

    With ``n_unique`` the last ``n_unique`` of the ``K`` parts are unique body parts: the animals are
    assembled from the others, and the poses ``(B, max_individuals + 1, K, 3)`` end with the row ``single``
    holding the unique parts (NaN where a row has no such part, as a ``PoseLayout``); scores stay per animal.
    """
    peaks = np.asarray(peaks.detach().cpu() if isinstance(peaks, torch.Tensor) else peaks, dtype=np.float64)
    aff = affinities.detach().cpu() if isinstance(affinities, torch.Tensor) else affinities
    affinity = np.asarray(aff, dtype=np.float64)
    edge = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if n_unique:
        return _with_unique(peaks, affinity, edge, max_individuals, n_unique, min_affinity, min_keypoints)
    b, k, _m, _ = peaks.shape
    if not len(edge) and k > 1:
        raise ValueError(
            "Assembly needs edges between the body parts; without a skeleton use the spanning tree of "
            "markerless.training.paf_targets.paf_edges (the edges the affinity fields were trained on)."
        )
    min_keypoints = min(min_keypoints, k)  # one body part per animal: each peak is an animal
    valid = np.isfinite(peaks).all(axis=-1)
    poses = np.full((b, max_individuals, k, 3), np.nan, dtype=np.float32)
    scores = np.full((b, max_individuals), np.nan, dtype=np.float32)
    if b == 0 or not valid.any():
        return poses, scores
    tree = _forest(edge, k)
    links = _link(affinity, min_affinity) if len(edge) else np.full((b, 0, _m), -1, dtype=np.int64)
    cand, _n = _components(np.where(tree[None, :, None], links, -1), edge, valid)
    _merge_by_affinity(cand, affinity[:, ~tree], edge[~tree], min_affinity)
    points = _points(cand, peaks)
    total = np.nansum(points[..., 2], axis=-1)  # (B, C)
    _drop_duplicates(cand, points, total)
    total = np.where((cand >= 0).any(axis=-1), total, -np.inf)
    order = np.argsort(-total, axis=1, kind="stable")
    n_keep = min(max_individuals, cand.shape[1])
    _merge_leftovers(cand, peaks, order, n_keep)
    points = _points(cand, peaks)
    total = np.where((cand >= 0).sum(axis=-1) >= min_keypoints, np.nansum(points[..., 2], axis=-1), -np.inf)
    order = np.argsort(-total, axis=1, kind="stable")[:, :n_keep]
    rows = np.arange(b)[:, None]
    chosen = total[rows, order] > -np.inf  # (B, n_keep)
    poses[:, :n_keep] = np.where(chosen[..., None, None], points[rows, order], np.nan)
    scores[:, :n_keep] = np.where(chosen, total[rows, order] / k, np.nan)
    return poses, scores


def _with_unique(
    peaks: np.ndarray,
    affinity: np.ndarray,
    edge: np.ndarray,
    max_individuals: int,
    n_unique: int,
    min_affinity: float,
    min_keypoints: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`assemble` of the animal parts, then the unique parts' best peaks in the row ``single``."""
    b, k = peaks.shape[:2]
    n_parts = k - n_unique
    if not 0 < n_parts < k or (len(edge) and edge.max() >= n_parts):
        raise ValueError(
            f"n_unique must leave some of the {k} parts to the animals and no edge may touch a unique part; "
            f"got n_unique {n_unique} and edges {edge.tolist()}."
        )
    animals, scores = assemble(
        peaks[:, :n_parts], affinity, edge, max_individuals, min_affinity=min_affinity, min_keypoints=min_keypoints
    )
    poses = np.full((b, max_individuals + 1, k, 3), np.nan, dtype=np.float32)
    poses[:, :max_individuals, :n_parts] = animals
    poses[:, max_individuals, n_parts:] = unique_parts(peaks[:, n_parts:])
    return poses, scores


def assemble_maps(
    heatmap_logits: torch.Tensor,
    offsets: torch.Tensor | None,
    pafs: torch.Tensor,
    edges: Sequence[Sequence[int]] | np.ndarray,
    stride: int,
    max_individuals: int,
    *,
    max_peaks: int | None = None,
    min_score: float = DEFAULT_MIN_SCORE,
    nms_radius: int = DEFAULT_NMS_RADIUS,
    min_affinity: float = DEFAULT_MIN_AFFINITY,
    min_keypoints: int = 2,
    locref_stdev: float = LOCREF_STDEV,
    n_unique: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Animals and scores (as :func:`assemble`, the last ``n_unique`` channels unique body parts) straight
    from a batch of network outputs.

    ``max_peaks`` per body part defaults to twice ``max_individuals``.
    """
    with torch.no_grad():
        peaks = find_peaks(
            heatmap_logits,
            offsets,
            stride,
            max_peaks=max_peaks or 2 * max_individuals,
            min_score=min_score,
            nms_radius=nms_radius,
            locref_stdev=locref_stdev,
        )
        affinity = paf_affinities(pafs, peaks, edges, stride)
    return assemble(
        peaks,
        affinity,
        edges,
        max_individuals,
        n_unique=n_unique,
        min_affinity=min_affinity,
        min_keypoints=min_keypoints,
    )
