"""Training augmentation: random crops around the animal with rotation, scale, translation and mirror flips,
then photometric changes (motion blur, noise, brightness/contrast) with albumentations.

The geometric part is one affine warp per image straight into the crop (one interpolation, and only the
crop's pixels are computed); keypoints go through the same matrices, vectorised over the batch. Mirror
flips swap left/right body parts (the layout's ``flip_permutation``). Keypoints that leave the crop,
and keypoints that were unlabelled (NaN), come out NaN: unlabelled, never clipped onto the border.
A multi-animal project's unique body parts (a landmark, a food port) ride along in the pseudo-individual
``single`` but never place a crop: only the first ``anchor_parts`` keypoints (the animals' parts) do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import albumentations as A
import cv2
import numpy as np

from markerless.project.recipe import Recipe


@dataclass
class Augmenter:
    """Random training crops of size ``crop_size`` (width, height) around the animal.

    Args:
        crop_size: output (width, height).
        flip_permutation: keypoint index array that swaps left/right parts (identity when none).
        input_scale: images are scaled by this before augmentation (the model's input scale).
        rotation: maximum rotation in degrees (applied with probability ``rotation_p``).
        scale: (min, max) random zoom.
        crop_jitter: the crop centre moves up to this fraction of the crop size away from the animal.
        hflip, vflip: probabilities of mirroring left-right and top-bottom.
        motion_blur, noise, brightness_contrast: probabilities of the photometric changes.
        anchor_parts: how many leading keypoints place the crop (None: all); a multi-animal project with
            unique body parts gives its animal parts, so a crop never centres on a landmark.
    """

    crop_size: tuple[int, int]
    flip_permutation: np.ndarray
    input_scale: float = 1.0
    rotation: float = 0.0
    rotation_p: float = 1.0
    scale: tuple[float, float] = (1.0, 1.0)
    crop_jitter: float = 0.0
    hflip: float = 0.0
    vflip: float = 0.0
    motion_blur: float = 0.0
    noise: float = 0.0
    brightness_contrast: float = 0.0
    anchor_parts: int | None = None
    _photometric: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.flip_permutation = np.asarray(self.flip_permutation, dtype=np.int64)
        steps = []
        if self.motion_blur > 0:
            steps.append(A.MotionBlur(blur_limit=(3, 7), p=self.motion_blur))
        if self.noise > 0:
            steps.append(A.GaussNoise(std_range=(0.01, 0.05), p=self.noise))
        if self.brightness_contrast > 0:
            steps.append(
                A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.25, p=self.brightness_contrast)
            )
        self._photometric = A.Compose(steps) if steps else None

    @classmethod
    def from_recipe(cls, recipe: Recipe, flip_permutation: np.ndarray, anchor_parts: int | None = None) -> Augmenter:
        """The augmenter a training recipe asks for (``anchor_parts``: see the class)."""
        return cls(
            crop_size=recipe.crop_size,
            flip_permutation=flip_permutation,
            anchor_parts=anchor_parts,
            input_scale=recipe.model.input_scale,
            **asdict(recipe.augmentation),
        )

    def sample_transforms(
        self, keypoints: np.ndarray, image_sizes: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Random affine matrices ``(B, 2, 3)`` (image -> crop pixels) and flip-swap flags ``(B,)``.

        Args:
            keypoints: ``(B, K, 2)`` image coordinates, NaN unlabelled.
            image_sizes: ``(B, 2)`` width, height of each image.
        """
        n = len(keypoints)
        cw, ch = self.crop_size
        labelled = np.isfinite(keypoints).all(axis=-1)
        count = labelled.sum(axis=1)[:, None]
        total = np.where(labelled[..., None], keypoints, 0.0).sum(axis=1)
        centre = np.asarray(image_sizes, dtype=np.float64) / 2 - 0.5
        centre = np.where(count > 0, total / np.maximum(count, 1), centre)
        angle = np.where(rng.random(n) < self.rotation_p, rng.uniform(-self.rotation, self.rotation, n), 0.0)
        zoom = rng.uniform(self.scale[0], self.scale[1], n) * self.input_scale
        jitter = rng.uniform(-self.crop_jitter, self.crop_jitter, (n, 2)) * np.array([cw, ch]) / zoom[:, None]
        centre = centre + jitter
        fx = np.where(rng.random(n) < self.hflip, -1.0, 1.0)
        fy = np.where(rng.random(n) < self.vflip, -1.0, 1.0)
        theta = np.deg2rad(angle)
        cos, sin = np.cos(theta) * zoom, np.sin(theta) * zoom
        linear = np.stack([np.stack([cos * fx, -sin * fy], -1), np.stack([sin * fx, cos * fy], -1)], 1)  # (B,2,2)
        out_centre = np.array([(cw - 1) / 2, (ch - 1) / 2])
        shift = out_centre - np.einsum("bij,bj->bi", linear, centre)
        matrices = np.concatenate([linear, shift[..., None]], axis=-1)
        return matrices, (fx * fy) < 0

    def transform_keypoints(
        self, keypoints: np.ndarray, matrices: np.ndarray, swap: np.ndarray, permutation: np.ndarray | None = None
    ) -> np.ndarray:
        """Keypoints ``(B, K, 2)`` mapped into the crops; outside or unlabelled -> NaN; left/right swapped
        (by ``permutation``, default the augmenter's)."""
        mapped = np.einsum("bij,bkj->bki", matrices[:, :, :2], keypoints) + matrices[:, None, :, 2]
        cw, ch = self.crop_size
        inside = (mapped[..., 0] >= 0) & (mapped[..., 0] <= cw - 1) & (mapped[..., 1] >= 0) & (mapped[..., 1] <= ch - 1)
        mapped = np.where(inside[..., None], mapped, np.nan)
        swapped = mapped[:, self.flip_permutation if permutation is None else permutation]
        return np.where(swap[:, None, None], swapped, mapped)

    def __call__(
        self, images: list[np.ndarray], keypoints: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Augmented crops ``(B, h, w, 3)`` uint8 and their keypoints ``(B, K, 2)`` (NaN = unlabelled).

        Keypoints ``(B, A, K, 2)`` of several animals (and the pseudo-individual ``single``) come back in that
        shape: each crop is centred on one animal labelled among the first ``anchor_parts`` keypoints, picked at
        random, and flips swap left/right parts within each animal.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64)
        sizes = np.array([(im.shape[1], im.shape[0]) for im in images], dtype=np.float64)
        placing = keypoints[..., : self.anchor_parts, :]  # the keypoints that place a crop
        anchor, flat, permutation = placing, keypoints, None
        if keypoints.ndim == 4:
            b, a, k, _ = keypoints.shape
            seen = np.isfinite(placing).all(axis=-1).any(axis=-1)  # (B, A)
            pick = np.argmax(rng.random((b, a)) * seen, axis=1)
            anchor = placing[np.arange(b), pick]
            flat = keypoints.reshape(b, a * k, 2)
            permutation = (np.arange(a)[:, None] * k + self.flip_permutation[None]).ravel()
        matrices, swap = self.sample_transforms(anchor, sizes, rng)
        cw, ch = self.crop_size
        crops = np.empty((len(images), ch, cw, 3), dtype=np.uint8)
        if self._photometric is not None:
            self._photometric.set_random_seed(int(rng.integers(2**31)))
        for b, (image, m) in enumerate(zip(images, matrices)):
            crops[b] = cv2.warpAffine(image, m, (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            if self._photometric is not None:
                crops[b] = self._photometric(image=crops[b])["image"]
        return crops, self.transform_keypoints(flat, matrices, swap, permutation).reshape(keypoints.shape)
