"""Decoding heatmaps and location-refinement offsets into keypoint coordinates.

Grid convention (DeepLabCut's, reference §3.1): output cell ``(i, j)`` of a map with total stride ``s``
stands for the input-image point ``(j*s + s/2, i*s + s/2)`` (x, y), with the centre of the top-left
pixel at (0, 0). Offsets are stored per keypoint as two channels ``(2k, 2k+1) = (dx, dy)`` in units of
``locref_stdev`` pixels: keypoint = cell centre + offset * locref_stdev. The target generator
(:mod:`markerless.training.targets`) uses the same convention, so encoding then decoding is exact.
"""

from __future__ import annotations

import torch

LOCREF_STDEV = 7.2801
"""DeepLabCut's scale of location-refinement offsets (pixels per offset unit)."""


def cell_centres(size: int, stride: int, *, device: torch.device | None = None) -> torch.Tensor:
    """Input-pixel coordinates of the centres of ``size`` consecutive grid cells: ``j*stride + stride/2``."""
    return torch.arange(size, device=device, dtype=torch.float32) * stride + stride / 2


def decode_heatmaps(
    heatmap_logits: torch.Tensor,
    offsets: torch.Tensor | None,
    stride: int,
    *,
    locref_stdev: float = LOCREF_STDEV,
) -> torch.Tensor:
    """Keypoints ``(B, K, 3)`` = x, y (input pixels) and score from logits ``(B, K, h, w)`` and offsets ``(B, 2K, h, w)``.

    Per keypoint the arg-max cell is taken; the score is the sigmoid of its logit and the position is
    the cell centre plus the offset stored at that cell (times ``locref_stdev``). Without offsets the
    cell centre is returned. Traceable (ONNX/OpenVINO): no Python loops, no data-dependent shapes.
    """
    b, k, h, w = heatmap_logits.shape
    flat = heatmap_logits.reshape(b, k, h * w)
    peak_logit, index = flat.max(dim=2)  # (B, K)
    row = torch.div(index, w, rounding_mode="floor")
    col = index - row * w
    x = col.to(torch.float32) * stride + stride / 2
    y = row.to(torch.float32) * stride + stride / 2
    if offsets is not None:
        off = offsets.reshape(b, k, 2, h * w)
        picked = torch.gather(off, 3, index[:, :, None, None].expand(b, k, 2, 1))[..., 0]  # (B, K, 2)
        x = x + picked[..., 0].to(torch.float32) * locref_stdev
        y = y + picked[..., 1].to(torch.float32) * locref_stdev
    score = torch.sigmoid(peak_logit.to(torch.float32))
    return torch.stack([x, y, score], dim=-1)
