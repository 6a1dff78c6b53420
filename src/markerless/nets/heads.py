"""The pose head: stride-2 deconvolutions with lateral skips, then heatmap and offset convolutions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from markerless.errors import ModelError

HEATMAP_PRIOR_LOGIT = -4.0
"""Initial heatmap bias: sigmoid(-4) ~ 0.018, close to the background fraction, so training starts calm."""


def stage_widths(channels: int | Sequence[int], stages: int) -> list[int]:
    """Width of each of ``stages`` deconvolutions (of the one 1x1 projection when ``stages`` is 0).

    ``channels`` is one width for all stages or a sequence of one width per stage, deepest first.
    """
    count = max(stages, 1)
    widths = [channels] * count if isinstance(channels, int) else channels
    if (
        isinstance(widths, str)
        or not isinstance(widths, Sequence)
        or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in widths)
    ):
        raise ModelError(f"head_channels must be a positive integer or a list of them, got {channels!r}.")
    if len(widths) != count:
        raise ModelError(
            f"head_channels lists {len(widths)} widths but this output stride needs {count} "
            f"(one per deconvolution, deepest first); give {count} widths or one number."
        )
    return list(widths)


class DeconvHead(nn.Module):
    """Upsamples the deepest feature map with stride-2 deconvolutions to the output stride.

    After each deconvolution the backbone feature map of the same stride (if any) is added through
    a 1x1 projection (a light U-Net/FPN skip that restores spatial detail). Ends in 1x1 convolutions:
    ``K`` heatmap logits, ``2K`` location-refinement offsets (dx, dy per keypoint) and, with ``limbs``
    > 0, ``2E`` part-affinity fields (the unit vector along each skeleton edge).
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: list[int | None],
        num_keypoints: int,
        channels: int | Sequence[int] = 128,
        limbs: int = 0,
    ) -> None:
        """``skip_channels[i]`` is the channel count of the feature added after deconv ``i`` (None: no skip).

        ``channels`` is the width of every deconvolution, or one width per deconvolution (deepest first).
        """
        super().__init__()
        widths = stage_widths(channels, len(skip_channels))
        self.deconvs = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.norms = nn.ModuleList()
        c = in_channels
        for skip, width in zip(skip_channels, widths if skip_channels else [], strict=True):
            self.deconvs.append(nn.ConvTranspose2d(c, width, kernel_size=4, stride=2, padding=1, bias=False))
            self.skips.append(nn.Conv2d(skip, width, 1, bias=False) if skip else nn.Identity())
            self.norms.append(nn.BatchNorm2d(width))
            c = width
        self.has_skip = [bool(s) for s in skip_channels]
        if skip_channels:
            self.project: nn.Module = nn.Identity()
        else:  # the output stride is the backbone's: a 1x1 projection instead of deconvolutions
            c = widths[0]
            self.project = nn.Sequential(
                nn.Conv2d(in_channels, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)
            )
        self.heatmap = nn.Conv2d(c, num_keypoints, 1)
        self.offsets = nn.Conv2d(c, 2 * num_keypoints, 1)
        assert self.heatmap.bias is not None and self.offsets.bias is not None  # both built with a bias
        nn.init.normal_(self.heatmap.weight, std=0.001)
        nn.init.constant_(self.heatmap.bias, HEATMAP_PRIOR_LOGIT)
        nn.init.normal_(self.offsets.weight, std=0.001)
        nn.init.zeros_(self.offsets.bias)
        self.pafs: nn.Conv2d | None = None
        if limbs > 0:
            self.pafs = nn.Conv2d(c, 2 * limbs, 1)
            nn.init.normal_(self.pafs.weight, std=0.001)
            assert self.pafs.bias is not None
            nn.init.zeros_(self.pafs.bias)

    def forward(self, deepest: torch.Tensor, skips: list[torch.Tensor | None]) -> tuple[torch.Tensor, ...]:
        """Heatmap logits and offsets (and part-affinity fields) from the deepest feature map and the skip
        features (one per deconv)."""
        x = self.project(deepest)
        for deconv, skip_conv, norm, has_skip, skip in zip(
            self.deconvs, self.skips, self.norms, self.has_skip, skips, strict=True
        ):
            x = deconv(x)
            if has_skip and skip is not None:
                lateral = skip_conv(skip)
                if lateral.shape[-2:] != x.shape[-2:]:
                    x = x[..., : lateral.shape[-2], : lateral.shape[-1]]
                x = x + lateral
            x = F.relu(norm(x), inplace=True)
        if self.pafs is None:
            return self.heatmap(x), self.offsets(x)
        return self.heatmap(x), self.offsets(x), self.pafs(x)
