"""PoseNet: a timm feature backbone plus a deconvolution heatmap/offset head, and its spec."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from markerless.errors import ModelError
from markerless.nets.decode import LOCREF_STDEV, decode_heatmaps
from markerless.nets.heads import DeconvHead

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a PoseNet by name (serialisable with :meth:`to_dict`).

    ``stride`` is input pixels per output cell; ``backbone_stride`` the stride of the deepest
    backbone feature map (32, or 16 with dilated last stage); ``mean``/``std`` the per-channel
    normalisation of RGB input scaled to [0, 1]; ``keypoints`` the number of output keypoints;
    ``limbs`` the number of skeleton edges with part-affinity fields (0: a single-animal net).
    """

    name: str
    keypoints: int
    stride: int = 8
    backbone_stride: int = 32
    head_channels: int | tuple[int, ...] = 128
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    locref_stdev: float = LOCREF_STDEV
    extra: dict[str, Any] = field(default_factory=dict)
    limbs: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python (YAML/JSON/torch ``weights_only``-safe) form."""
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        if isinstance(self.head_channels, tuple):
            d["head_channels"] = list(self.head_channels)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ModelError`."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ModelError(f"Unknown model spec keys {sorted(unknown)}: was this written by a newer markerless?")
        data = dict(data)
        for key in ("mean", "std"):
            if key in data:
                data[key] = tuple(float(v) for v in data[key])
        if isinstance(data.get("head_channels"), list):
            data["head_channels"] = tuple(int(v) for v in data["head_channels"])
        return cls(**data)


class PoseNet(nn.Module):
    """Heatmap pose network: ``forward(x)`` with ``x`` normalised float ``(B, 3, H, W)`` RGB.

    Returns ``(heatmap_logits (B, K, h, w), offsets (B, 2K, h, w))`` with ``h = ceil(H / stride)``, and
    part-affinity fields ``(B, 2E, h, w)`` third when the spec has ``limbs`` (E > 0; see
    :mod:`markerless.training.paf_targets` for their layout).
    Inputs whose sides are not multiples of ``backbone_stride`` are zero-padded at the right/bottom
    (which leaves the grid convention of :mod:`markerless.nets.decode` unchanged).
    """

    mean: torch.Tensor  # buffers (1, 3, 1, 1) of the backbone's input normalisation
    std: torch.Tensor

    def __init__(self, spec: ModelSpec, backbone: nn.Module, feature_strides: list[int], feature_channels: list[int]):
        """``backbone`` returns a list of feature maps with the given strides/channels (deepest last)."""
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        deepest = feature_strides[-1]
        if deepest != spec.backbone_stride:
            raise ModelError(f"{spec.name}: backbone stride is {deepest}, spec says {spec.backbone_stride}.")
        if spec.stride > deepest or deepest % spec.stride or (deepest // spec.stride) & (deepest // spec.stride - 1):
            raise ModelError(
                f"{spec.name}: output stride {spec.stride} must be a power-of-two divisor of the backbone "
                f"stride {deepest} (e.g. 4, 8 or 16)."
            )
        by_stride = {s: i for i, s in enumerate(feature_strides[:-1])}
        self._skip_index: list[int | None] = []
        skip_channels: list[int | None] = []
        s = deepest // 2
        while s >= spec.stride:
            idx = by_stride.get(s)
            self._skip_index.append(idx)
            skip_channels.append(feature_channels[idx] if idx is not None else None)
            s //= 2
        self.head = DeconvHead(feature_channels[-1], skip_channels, spec.keypoints, spec.head_channels, spec.limbs)
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    @property
    def stride(self) -> int:
        """Input pixels per output cell."""
        return self.spec.stride

    @property
    def num_keypoints(self) -> int:
        """Number of keypoints (heatmap channels)."""
        return self.spec.keypoints

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Float RGB ``(B, 3, H, W)`` in 0..255 to the network's normalised input."""
        return (images / 255.0 - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Heatmap logits ``(B, K, h, w)``, offsets ``(B, 2K, h, w)`` (and part-affinity fields ``(B, 2E, h, w)``
        with limbs) for normalised input ``x``."""
        h, w = x.shape[-2:]
        m = self.spec.backbone_stride
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        features = self.backbone(x)
        skips = [features[i] if i is not None else None for i in self._skip_index]
        maps = self.head(features[-1], skips)
        if pad_h or pad_w:
            out_h, out_w = -(-h // self.stride), -(-w // self.stride)
            maps = tuple(m[..., :out_h, :out_w] for m in maps)
        return maps

    @torch.inference_mode()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoints ``(B, K, 3)`` = x, y (input pixels), score for normalised input ``x``."""
        heatmaps, offsets = self(x)[:2]
        return decode_heatmaps(heatmaps, offsets, self.stride, locref_stdev=self.spec.locref_stdev)
