"""Part-affinity-field targets along the skeleton's edges, and the edges to use when a skeleton has none.

Layout (what :mod:`markerless.analysis.assembly` reads): two channels per edge ``e = (a, b)``,
``2e`` = x and ``2e + 1`` = y of the unit vector from body part ``a`` to ``b``, on the cells whose
centre lies on the limb (at most ``width`` input pixels from the segment: a capsule, so the cells
of both ends are on it and even a limb shorter than a cell is read) and zero elsewhere. Where limbs of several animals cover a cell, the vectors are
averaged (OpenPose's rule). Cell ``(i, j)`` stands for the input point
``(j*stride + stride/2, i*stride + stride/2)``, the grid of :mod:`markerless.nets.decode`. Edges
with a missing (NaN) end contribute nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import minimum_spanning_tree

from markerless.model.labels import Labels
from markerless.nets.decode import cell_centres

DEFAULT_PAF_WIDTH = 8.0
"""Half-width of a limb in input pixels: one stride-8 cell either side of the segment."""


def paf_targets(
    keypoints: torch.Tensor | np.ndarray,
    edges: Sequence[Sequence[int]] | np.ndarray,
    shape: tuple[int, int],
    stride: int,
    width: float = DEFAULT_PAF_WIDTH,
) -> torch.Tensor:
    """Part-affinity fields ``(..., 2E, h, w)`` for animals ``(..., N, K, 2)`` (x, y input pixels, NaN missing).

    ``edges`` ``(E, 2)`` are body-part indices; ``shape`` is the map's ``(h, w)``. Leading batch
    dimensions are kept; an all-NaN animal (padding) contributes nothing.
    """
    kp = torch.as_tensor(keypoints, dtype=torch.float32)
    if kp.ndim < 3 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (..., animals, keypoints, 2), got {tuple(kp.shape)}")
    edge = torch.as_tensor(np.asarray(edges, dtype=np.int64).reshape(-1, 2), device=kp.device)
    h, w = shape
    start = kp[..., edge[:, 0], :]  # (..., N, E, 2)
    vector = kp[..., edge[:, 1], :] - start
    length = vector.norm(dim=-1)  # (..., N, E)
    ok = torch.isfinite(length) & (length > 0)
    unit = torch.where(ok[..., None], vector / length.clamp_min(1e-12)[..., None], 0.0)
    start = torch.where(ok[..., None], start, 0.0)
    length = torch.where(ok, length, -1.0)
    cx = cell_centres(w, stride, device=kp.device).view(1, w)
    cy = cell_centres(h, stride, device=kp.device).view(h, 1)
    rel_x = cx - start[..., 0, None, None]  # (..., N, E, 1, w)
    rel_y = cy - start[..., 1, None, None]  # (..., N, E, h, 1)
    ux, uy = unit[..., 0, None, None], unit[..., 1, None, None]
    along = rel_x * ux + rel_y * uy  # (..., N, E, h, w)
    across = rel_x * uy - rel_y * ux
    beyond = (along - along.clamp(0.0, None).minimum(length[..., None, None].clamp_min(0.0))).abs()
    on = ((beyond.square() + across.square() <= width * width) & ok[..., None, None]).to(torch.float32)
    count = on.sum(dim=-4).clamp_min(1.0)  # (..., E, h, w): over animals
    fx = (on * ux).sum(dim=-4) / count
    fy = (on * uy).sum(dim=-4) / count
    out = torch.stack([fx, fy], dim=-3)  # (..., E, 2, h, w)
    return out.reshape(*out.shape[:-4], 2 * edge.shape[0], h, w)


def spanning_tree_edges(labels: Labels) -> tuple[tuple[str, str], ...]:
    """Edges between the animal's body parts for affinity fields when the skeleton has none.

    The tree that joins every body part with the least total cost, where linking two parts costs
    their median labelled distance divided by how often both are labelled on the same animal:
    parts close together and seen together are joined, so each limb is short and usually visible.
    Parts never labelled together are not joined (a forest). Unique body parts are left out.
    """
    layout = labels.layout
    n_parts = len(layout.bodyparts)
    xy = labels.xy[:, : len(layout.individuals), :n_parts].reshape(-1, n_parts, 2)
    seen = np.isfinite(xy).all(axis=-1)  # (animals, K)
    xy = xy[seen.any(axis=1)]
    seen = seen[seen.any(axis=1)]
    if len(xy) == 0 or n_parts < 2:
        return ()
    together = (seen[:, :, None] & seen[:, None, :]).mean(axis=0)  # (K, K)
    dist = np.sqrt(((xy[:, :, None] - xy[:, None, :]) ** 2).sum(axis=-1))  # (animals, K, K)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs never labelled together: all-NaN medians
        median = np.nanmedian(dist, axis=0)
        cost = (median + 1e-6) / together  # + epsilon: parts labelled on the same spot still get an edge
    cost = np.where(np.isfinite(cost) & (together > 0), cost, 0.0)  # 0: no edge in a sparse graph
    tree = minimum_spanning_tree(csr_matrix(np.triu(cost, 1))).tocoo()
    pairs = sorted(zip(tree.row.tolist(), tree.col.tolist(), strict=True))
    return tuple((layout.bodyparts[a], layout.bodyparts[b]) for a, b in pairs)


def paf_edges(labels: Labels) -> tuple[tuple[tuple[str, str], ...], str | None]:
    """The edges affinity fields follow: the skeleton's, or a derived spanning tree and a note saying so.

    Edges that touch unique body parts are dropped (those parts are not assembled).
    """
    bodyparts = set(labels.layout.bodyparts)
    edges = tuple(e for e in labels.layout.skeleton.edges if set(e) <= bodyparts)
    if edges:
        return edges, None
    tree = spanning_tree_edges(labels)
    note = (
        "config.yaml has no skeleton between the animal's body parts; the part-affinity fields follow a "
        f"spanning tree derived from the labels (close parts labelled together): {[list(e) for e in tree]}. "
        "Add a 'skeleton' to config.yaml to choose the edges."
    )
    return tree, note
