"""InferenceModel: raw decoded frames in, keypoints out, with all pre/post-processing inside the graph.

Exporting this module (``torch.onnx.export``, ``openvino.convert_model``) yields a network that takes
frames straight from the video decoder (``(B, H, W, 3)`` uint8, BGR from OpenCV or RGB) and returns
``(B, K, 3)`` = x, y, score in pixels of those frames: no NumPy colour conversion, normalisation or
decoding outside it.

Export notes: the frame height and width are fixed when exporting (the padding to the backbone stride
is resolved at trace time), the batch axis can be dynamic; ``torch.onnx.export(..., dynamo=False,
opset_version=17+)`` works without extra packages (the dynamo exporter needs ``onnxscript``). OpenVINO's
CPU plugin defaults to bf16 on CPUs with AVX512-BF16/AMX (this one): that is ~2x faster but moves
keypoints by up to ~1 px on an untrained net; pass ``{"INFERENCE_PRECISION_HINT": "f32"}`` for exact
agreement with PyTorch.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from markerless.errors import ModelError
from markerless.nets.decode import decode_heatmaps
from markerless.nets.posenet import PoseNet


class InferenceModel(nn.Module):
    """Wraps a :class:`PoseNet`: ``forward(frames (B, H, W, 3) uint8-valued) -> (B, K, 3)`` x, y, score.

    ``color`` is the channel order of the frames ("bgr" for OpenCV, "rgb"); ``scale`` resizes the
    frames (bilinear) before the network and maps coordinates back to frame pixels;
    ``channels_last`` runs the network in NHWC memory layout (faster in eager PyTorch on CPU).
    """

    gain: torch.Tensor  # buffers (1, 3, 1, 1): normalised = frame * gain + bias, per frame channel
    bias: torch.Tensor

    def __init__(
        self,
        net: PoseNet,
        color: Literal["bgr", "rgb"] = "bgr",
        scale: float = 1.0,
        *,
        channels_last: bool = True,
    ) -> None:
        """Wrap ``net`` (put in eval mode) for frames of channel order ``color`` resized by ``scale``."""
        super().__init__()
        if color not in ("bgr", "rgb"):
            raise ModelError(f"color must be 'bgr' or 'rgb', got {color!r}.")
        if not scale > 0:
            raise ModelError(f"scale must be positive, got {scale}.")
        self.net = net.eval()
        self.color = color
        self.scale = float(scale)
        self.channels_last = channels_last
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        mean = torch.tensor(net.spec.mean, dtype=torch.float32)
        std = torch.tensor(net.spec.std, dtype=torch.float32)
        if color == "bgr":  # normalise in frame order, then swap channels
            mean, std = mean.flip(0), std.flip(0)
        self.register_buffer("gain", (1.0 / (255.0 * std)).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("bias", (-mean / std).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> InferenceModel:
        """Always eval mode: exporters that restore the "previous" mode must not put the net in training."""
        return super().train(False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Keypoints ``(B, K, 3)`` (x, y in frame pixels, score in [0, 1]) for frames ``(B, H, W, 3)``."""
        heatmaps, offsets = self.net(self.preprocess(frames))[:2]
        keypoints = decode_heatmaps(heatmaps, offsets, self.net.stride, locref_stdev=self.net.spec.locref_stdev)
        return self.to_frame(keypoints)

    def to_frame(self, points: torch.Tensor) -> torch.Tensor:
        """Points ``(..., 2 + n)`` (x, y in network-input pixels, then scores) in frame pixels."""
        if self.scale == 1.0:
            return points
        xy = (points[..., :2] + 0.5) / self.scale - 0.5
        return torch.cat([xy, points[..., 2:]], dim=-1)

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """The network's normalised, scaled input ``(B, 3, h, w)`` for frames ``(B, H, W, 3)``."""
        x = frames.to(self.gain.dtype).permute(0, 3, 1, 2)
        x = x * self.gain + self.bias
        if self.color == "bgr":
            x = x[:, [2, 1, 0]]
        if self.scale != 1.0:
            x = F.interpolate(
                x, scale_factor=self.scale, mode="bilinear", align_corners=False, recompute_scale_factor=False
            )
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @torch.inference_mode()
    def predict(self, frames: np.ndarray | torch.Tensor, *, bf16: bool = False) -> np.ndarray:
        """Keypoints float32 ``(B, K, 3)`` for a NumPy/torch batch of frames, on the model's device.

        ``bf16`` runs under bfloat16 autocast on CUDA (ignored on CPU, where it is slower here).
        """
        device = self.gain.device
        batch = torch.as_tensor(frames).to(device, non_blocking=True)
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16) if bf16 and device.type == "cuda" else contextlib.nullcontext()
        )
        with autocast:
            out = self(batch)
        return out.float().cpu().numpy()
