"""Labelled images held in memory and the training batches built from them (in the main thread).

On a 2-core CPU a batch-producing thread or DataLoader workers beside PyTorch's own threads made
training more than 10x slower; building batches in the main thread cost about 4%. So images are
decoded once, and each batch is one affine warp per image plus vectorised keypoint maths.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from markerless.errors import ProjectError
from markerless.model.labels import Labels
from markerless.training.augment import Augmenter


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 ``(H, W, 3)``."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ProjectError(f"Cannot read the labelled image {path}; restore it or remove its labels.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass
class ImageSet:
    """Labelled images in memory, with the keypoints of one animal or of several.

    Attributes:
        paths: project-relative image paths.
        images: RGB uint8 arrays ``(H, W, 3)`` (sizes may differ).
        keypoints: float64 ``(N, K, 2)``, or for a multi-animal project ``(N, I, K, 2)`` in its layout: the
            individuals then, with unique body parts, the pseudo-individual ``single`` (keypoints: the animals'
            parts then the unique ones; cells that cannot exist are NaN); NaN where a point is unlabelled or
            occluded (not trained on).
        ground_truth: the same shape; NaN where unlabelled (occluded guesses kept, for evaluation).
    """

    paths: list[str]
    images: list[np.ndarray]
    keypoints: np.ndarray
    ground_truth: np.ndarray

    @classmethod
    def load(cls, root: str | Path, labels: Labels) -> ImageSet:
        """Read the images of ``labels`` (paths relative to the project ``root``); a multi-animal layout keeps
        its individuals, their body parts and the unique body parts of ``single``."""
        root = Path(root)
        images = [read_image(root / p) for p in labels.images]
        if labels.layout.multi_animal:
            gt = np.where(labels.layout.valid[..., None], labels.xy, np.nan)  # no cell that cannot exist
            trainable = labels.trainable
        else:
            gt = labels.xy[:, 0].copy()
            trainable = labels.trainable[:, 0]
        keypoints = np.where(trainable[..., None], gt, np.nan)
        return cls(list(labels.images), images, keypoints, gt)

    def __len__(self) -> int:
        return len(self.images)


def same_size_batches(images: Sequence[np.ndarray], batch_size: int) -> Iterator[list[int]]:
    """Indices of ``images`` in batches of at most ``batch_size`` images of one size (the order kept within a size)."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(image.shape, []).append(i)
    for rows in by_shape.values():
        for start in range(0, len(rows), batch_size):
            yield rows[start : start + batch_size]


def to_tensor(images: np.ndarray, device: torch.device, channels_last: bool = True) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, H, W)`` in 0..255 on ``device`` (normalisation is the net's)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


class BatchSampler:
    """Epochs of shuffled, augmented training batches from an :class:`ImageSet`."""

    def __init__(self, data: ImageSet, augmenter: Augmenter, batch_size: int) -> None:
        if len(data) == 0:
            raise ProjectError("The training split has no images; create the training dataset with more labels.")
        self.data = data
        self.augmenter = augmenter
        self.batch_size = max(1, min(int(batch_size), len(data)))

    @property
    def batches_per_epoch(self) -> int:
        """Full batches per epoch (a last partial batch is dropped; the shuffle varies which images)."""
        return max(1, len(self.data) // self.batch_size)

    def epoch(self, rng: np.random.Generator):
        """Yield ``(crops uint8 (B, h, w, 3), keypoints (B, K, 2))`` for one epoch."""
        order = rng.permutation(len(self.data))
        for b in range(self.batches_per_epoch):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield self.augmenter([self.data.images[i] for i in idx], self.data.keypoints[idx], rng)
