"""Differentiable keypoints from heatmap logits and offsets, for losses on predicted positions.

:func:`soft_keypoints` finds each keypoint's arg-max cell like :func:`markerless.nets.decode.decode_heatmaps`,
then returns the softmax-weighted mean of the votes (cell centre + offset) of the ``window`` x ``window``
cells around it. The arg-max only picks the place; the position is a smooth function of the logits and the
offsets there, so gradients reach both heads, but only near the chosen peak: a loss can move a point by
a cell, not move it to another peak. ``window=None`` weighs every cell of the map instead (Lightning
Pose's spatial soft arg-max): a second peak then pulls the point towards it, so a loss on the position
lowers the implausible peak and raises the plausible one; a broad background (an untrained net) pulls it
towards the map's centre. Positions are pixels of the network input under the decoder's grid convention
(cell ``j`` is at ``j*stride + stride/2``), so a sharp heatmap gives the same point as the decoder.
"""

from __future__ import annotations

import torch

from markerless.nets.decode import LOCREF_STDEV, cell_centres


def soft_keypoints(
    heatmap_logits: torch.Tensor,
    offsets: torch.Tensor | None,
    stride: int,
    *,
    locref_stdev: float = LOCREF_STDEV,
    window: int | None = 3,
) -> torch.Tensor:
    """Keypoints ``(B, K, 2)`` (x, y in input pixels) from logits ``(B, K, h, w)`` and offsets ``(B, 2K, h, w)``.

    Differentiable in the logits and offsets near each peak, or over the whole map with ``window=None``
    (see the module notes); ``window`` must be odd. Without offsets the votes are the cell centres.
    """
    if window is not None and (window < 1 or window % 2 == 0):
        raise ValueError(f"window must be an odd number >= 1 or None (the whole map), got {window}")
    b, k, h, w = heatmap_logits.shape
    device = heatmap_logits.device
    flat = heatmap_logits.to(torch.float32).reshape(b, k, h * w)
    if window is None:
        return _whole_map(flat, offsets, stride, (h, w), locref_stdev)
    index = flat.detach().argmax(dim=2)  # (B, K): only the place, no gradient
    step = torch.arange(window, device=device) - window // 2
    rows = torch.div(index, w, rounding_mode="floor")[..., None, None] + step[:, None]  # (B, K, win, 1)
    cols = (index % w)[..., None, None] + step[None, :]  # (B, K, 1, win)
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).reshape(b, k, -1)
    cells = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).reshape(b, k, -1)  # (B, K, win*win)
    logits = torch.gather(flat, 2, cells).masked_fill(~inside, -torch.inf)
    weight = torch.softmax(logits, dim=2)  # the arg-max cell is always inside: no empty window
    x = cells % w * stride + stride / 2
    y = torch.div(cells, w, rounding_mode="floor") * stride + stride / 2
    votes = torch.stack([x, y], dim=-1).to(torch.float32)  # (B, K, win*win, 2)
    if offsets is not None:
        shifts = offsets.to(torch.float32).reshape(b, k, 2, h * w)
        picked = torch.gather(shifts, 3, cells[:, :, None, :].expand(b, k, 2, cells.shape[-1]))
        votes = votes + picked.transpose(2, 3) * locref_stdev
    return (weight[..., None] * votes).sum(dim=2)


def _whole_map(
    flat: torch.Tensor, offsets: torch.Tensor | None, stride: int, size: tuple[int, int], locref_stdev: float
) -> torch.Tensor:
    """Softmax-weighted mean of every cell's vote: logits ``(B, K, h*w)`` of ``(h, w)`` maps -> ``(B, K, 2)``."""
    b, k, cells = flat.shape
    h, w = size
    weight = torch.softmax(flat, dim=2)
    grid = weight.view(b, k, h, w)
    xy = torch.stack(
        [
            grid.sum(dim=2) @ cell_centres(w, stride, device=flat.device),  # column marginals . x centres
            grid.sum(dim=3) @ cell_centres(h, stride, device=flat.device),  # row marginals . y centres
        ],
        dim=-1,
    )
    if offsets is not None:
        shifts = offsets.to(torch.float32).reshape(b, k, 2, cells)
        xy = xy + (shifts * weight[:, :, None, :]).sum(dim=3) * locref_stdev
    return xy


__all__ = ["soft_keypoints"]
