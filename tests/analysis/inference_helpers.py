"""Helpers of the inference tests (importable by subprocesses): a hand-built model, tiny videos, a fake model source."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from markerless.analysis.model_source import AnalysisModel
from markerless.model.skeleton import PoseLayout

BODYPARTS = ("snout", "leftear", "rightear", "tailbase")


class SpotModel(nn.Module):
    """A stand-in for a trained InferenceModel: frames (B, H, W, 3) BGR -> (B, K, 3) x, y, score.

    Each keypoint's heatmap is a random conv stack (to exercise the backends' arithmetic) plus a strong
    bowl centred at a different place, decoded by soft-argmax: peaks are unambiguous and the output
    varies smoothly with the numbers, as a trained network's does.
    """

    def __init__(self, n_keypoints: int = len(BODYPARTS), stride: int = 4, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.stride = stride
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, n_keypoints, 3, padding=1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        self.register_buffer("centres", torch.rand(n_keypoints, 2, generator=gen) * 0.6 + 0.2)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.to(torch.float32).permute(0, 3, 1, 2)[:, [2, 1, 0]] / 255.0
        x = F.avg_pool2d(x, self.stride)
        heat = self.conv2(F.relu(self.conv1(x)))  # (B, K, h, w)
        b, k, h, w = heat.shape
        ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w
        bowl = -(
            (xs[None, None, :] - self.centres[:, 0, None, None]) ** 2
            + (ys[None, :, None] - self.centres[:, 1, None, None]) ** 2
        )
        logits = (heat + 40.0 * bowl).reshape(b, k, h * w)
        prob = torch.softmax(logits, dim=-1)
        gx = ((torch.arange(w, dtype=torch.float32) + 0.5) * self.stride - 0.5).repeat(h)
        gy = ((torch.arange(h, dtype=torch.float32) + 0.5) * self.stride - 0.5).repeat_interleave(w)
        x_out = (prob * gx).sum(-1)
        y_out = (prob * gy).sum(-1)
        score = torch.sigmoid(logits.max(dim=-1).values)
        return torch.stack([x_out, y_out, score], dim=-1)


def write_video(path: Path, n_frames: int = 45, size: tuple[int, int] = (96, 64), fps: float = 25.0) -> Path:
    """An MJPG .avi of a dark disc moving over a textured light background."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    rng = np.random.default_rng(0)
    background = (180 + rng.integers(0, 40, (h, w, 3))).astype(np.uint8)
    for i in range(n_frames):
        frame = background.copy()
        cv2.circle(frame, (int(10 + i * (w - 20) / n_frames), h // 2), 7, (30, 40, 60), -1)
        writer.write(frame)
    writer.release()
    return path


def fake_model(root: Path, snapshot: Path, scale: float = 1.0) -> AnalysisModel:
    """An AnalysisModel of a project-like folder (no config needed) with ``snapshot``."""
    project = SimpleNamespace(root=root, task="tiny", date="Nov24", iteration=0)
    return AnalysisModel(
        project=project,
        shuffle=1,
        snapshot=snapshot,
        scorer="DLC_Mobilenetv2_tinyNov24shuffle1_snapshot_5",
        layout=PoseLayout.single_animal(BODYPARTS),
        scale=scale,
        net_name="mobilenetv2",
        recipe={"net": "mobilenetv2", "input_scale": scale},
        train_fraction=0.8,
    )
