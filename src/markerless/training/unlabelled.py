"""Unlabelled video in training: clips of consecutive frames and the losses the recipe turns on.

:class:`ClipSampler` reads ``clips_per_step`` clips of ``clip_frames`` consecutive frames per step from the
project's videos (one seek per clip, then sequential decoding; one open reader per video, the few most
recent kept). Frames are cut to the recipe's crop at its input scale, the network's input size for the
labelled batches too, so both go through the network in one batch:

* a frame that fits the crop at the input scale is used whole, centred in the crop (black around it, as
  the labelled crops are padded);
* a larger frame is cut around the animal: the moving-average network predicts the clip's first frame
  (one extra forward pass without gradients) and the crop centres on the median of its confident body
  parts; while nothing is confident (early in training) the centre is random. The crop stays put for the
  clip, so the animal's motion inside it is the motion the temporal loss sees.

Unlabelled frames are not augmented: the losses judge the network on frames as analysis will see them.
Cropping and resizing are per clip, vectorised over its frames (PyTorch's bilinear resize, as
:class:`~markerless.nets.InferenceModel` resizes). Keypoints come back in pixels of the original frames
(:meth:`Clips.to_frame`), so every ε is in video pixels.

:class:`UnlabelledObjective` fits the pose and multi-view PCA to the training labels once and computes
the enabled losses (:mod:`markerless.training.unlabelled_losses`) from the clips' keypoints.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from markerless.errors import ConfigError, ProjectError, RecipeError, TrainingError, VideoError
from markerless.io.video import VideoReader, video_info
from markerless.project.recipe import UnlabelledSection
from markerless.results.plausibility import mirrored_pairs, view_pairs
from markerless.training.unlabelled_losses import (
    PCAParameters,
    multiview_pca_loss,
    multiview_pca_parameters,
    pose_pca_loss,
    pose_pca_parameters,
    temporal_loss,
)

#: Open video readers kept between steps (the least recently used one is closed beyond this).
OPEN_READERS = 4

#: A locator: first frames of clips (list of RGB ``(H, W, 3)``) -> predictions ``(N, K, 3)`` x, y, score in frame pixels.
Locator = Callable[[list[np.ndarray]], np.ndarray]

#: Names of the losses as they appear in ``learning_stats.csv`` (``<name>_loss``).
LOSS_NAMES = ("temporal", "pca", "multiview")


@dataclass(frozen=True)
class Clips:
    """One step's unlabelled clips as network input, and the way back to frame pixels.

    Attributes:
        images: float ``(N*T, 3, h, w)`` in 0..255 (not normalised), clip after clip.
        origins: ``(N, 2)`` frame pixel (x, y) of each clip's crop origin.
        frames: ``T``, frames per clip.
        scale: the input scale the frames were resized by.
        sources: ``(video, first frame)`` of each clip.
    """

    images: torch.Tensor
    origins: torch.Tensor
    frames: int
    scale: float
    sources: list[tuple[Path, int]]

    @property
    def count(self) -> int:
        """Number of clips ``N``."""
        return len(self.sources)

    def to_frame(self, keypoints: torch.Tensor) -> torch.Tensor:
        """Keypoints ``(N*T, K, 2)`` in crop pixels -> ``(N, T, K, 2)`` in pixels of the original frames."""
        xy = (keypoints + 0.5) / self.scale - 0.5 if self.scale != 1.0 else keypoints
        xy = xy.reshape(self.count, self.frames, *keypoints.shape[1:])
        return xy + self.origins.to(xy.device, xy.dtype)[:, None, None, :]


class ClipSampler:
    """Random clips of consecutive frames from videos whose frames match the labelled ones in size.

    Args:
        videos: the project's videos.
        label_sizes: ``(width, height)`` of the labelled images; every video must have one of them.
        crop_size: the network input ``(width, height)``.
        input_scale: frames are resized by this (the recipe's ``model.input_scale``).
        clip_frames, clips_per_step: the recipe's ``unlabelled`` values.
        pcutoff: likelihood above which a located body part counts.

    Raises:
        TrainingError: no video, or none with ``clip_frames`` frames.
        VideoError: a video that does not open, or whose frames differ in size from the labelled ones.
    """

    def __init__(
        self,
        videos: Sequence[Path],
        label_sizes: set[tuple[int, int]],
        crop_size: tuple[int, int],
        input_scale: float,
        clip_frames: int,
        clips_per_step: int,
        pcutoff: float = 0.5,
    ) -> None:
        if not videos:
            raise TrainingError(
                "The unlabelled losses read the project's videos, and it has none; add videos "
                "(`markerless add-videos`) or set the unlabelled weights to 0 in the recipe."
            )
        sizes = " or ".join(f"{w}x{h}" for w, h in sorted(label_sizes))
        self.videos: list[Path] = []
        self.lengths: list[int] = []
        self.sizes: list[tuple[int, int]] = []
        for video in videos:
            info = video_info(video)
            if info.size not in label_sizes:
                raise VideoError(
                    f"Video {video} has {info.width}x{info.height} frames, the labelled frames are {sizes}: the "
                    "unlabelled losses need frames of the labelled size; re-encode it at that size or remove it "
                    "from video_sets in config.yaml (or set the unlabelled weights to 0)."
                )
            if info.n_frames >= clip_frames:
                self.videos.append(Path(video))
                self.lengths.append(info.n_frames)
                self.sizes.append(info.size)
        if not self.videos:
            raise TrainingError(
                f"No video of the project has {clip_frames} frames for one unlabelled clip; lower "
                "unlabelled.clip_frames in the recipe or add longer videos."
            )
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scale = float(input_scale)
        self.clip_frames = int(clip_frames)
        self.clips_per_step = int(clips_per_step)
        self.pcutoff = float(pcutoff)
        self._readers: OrderedDict[Path, VideoReader] = OrderedDict()

    def fits_whole(self, size: tuple[int, int]) -> bool:
        """Whether a frame of ``size`` (width, height) fits the crop at the input scale."""
        return all(s * self.scale <= c for s, c in zip(size, self.crop_size, strict=True))

    @property
    def window(self) -> tuple[int, int]:
        """Width and height in frame pixels of the region resized into one crop (at least the crop once resized)."""
        sides = []
        for crop in self.crop_size:
            side = math.ceil(crop / self.scale)
            sides.append(side + 1 if math.floor(side * self.scale) < crop else side)
        return sides[0], sides[1]

    def _reader(self, video: Path) -> VideoReader:
        reader = self._readers.pop(video, None) or VideoReader(video)
        self._readers[video] = reader
        while len(self._readers) > OPEN_READERS:
            self._readers.popitem(last=False)[1].close()
        return reader

    def close(self) -> None:
        """Close the open videos."""
        while self._readers:
            self._readers.popitem()[1].close()

    def _decode(self, video: Path, start: int) -> np.ndarray:
        """Frames ``start .. start + clip_frames - 1`` (RGB), read in a row after one seek."""
        batch = next(self._reader(video).iter_batches(self.clip_frames, start, start + self.clip_frames), None)
        if batch is None or len(batch[1]) < self.clip_frames:
            raise VideoError(
                f"Video {video} ends before frame {start + self.clip_frames - 1} although its header counts more "
                f"frames; re-encode it (e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`) or remove it from config.yaml."
            )
        return batch[1].copy()

    def _centre(self, size: tuple[int, int], located: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """Frame-pixel centre of a clip's crop: the frame's centre, the located animal's or a random one."""
        w, h = size
        if self.fits_whole(size):
            return np.array([(w - 1) / 2, (h - 1) / 2])
        if located is not None:
            good = located[:, 2] >= self.pcutoff
            if good.any():
                return np.median(located[good, :2], axis=0)
        return rng.uniform([0.0, 0.0], [w - 1.0, h - 1.0])

    def _cut(self, frames: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The window around ``centre`` of every frame (black outside the frame) and its origin (x, y)."""
        ww, wh = self.window
        origin = np.round(centre - np.array([ww - 1, wh - 1]) / 2).astype(np.int64)
        t, h, w = frames.shape[:3]
        out = np.zeros((t, wh, ww, 3), dtype=np.uint8)
        x0, y0 = max(origin[0], 0), max(origin[1], 0)
        x1, y1 = min(origin[0] + ww, w), min(origin[1] + wh, h)
        if x1 > x0 and y1 > y0:
            out[:, y0 - origin[1] : y1 - origin[1], x0 - origin[0] : x1 - origin[0]] = frames[:, y0:y1, x0:x1]
        return out, origin

    def sample(self, rng: np.random.Generator, locate: Locator | None, device: torch.device) -> Clips:
        """This step's clips: random videos (weighted by length), random starts, crops as the module says."""
        lengths = np.asarray(self.lengths, dtype=np.float64)
        picks = rng.choice(len(self.videos), self.clips_per_step, p=lengths / lengths.sum())
        starts = [int(rng.integers(0, self.lengths[v] - self.clip_frames + 1)) for v in picks]
        order = np.lexsort(
            (np.asarray(starts), picks)
        )  # per video in frame order: decoding forward instead of seeking back
        decoded: list[np.ndarray] = [np.empty(0)] * len(picks)
        for i in order:
            decoded[i] = self._decode(self.videos[picks[i]], starts[i])
        need = [i for i, v in enumerate(picks) if not self.fits_whole(self.sizes[v])]
        located: list[np.ndarray | None] = [None] * len(picks)
        if need and locate is not None:
            predictions = locate([decoded[i][0] for i in need])
            for i, p in zip(need, predictions, strict=True):
                located[i] = p
        windows, origins = [], []
        for i, v in enumerate(picks):
            window, origin = self._cut(decoded[i], self._centre(self.sizes[v], located[i], rng))
            windows.append(window)
            origins.append(origin)
        x = torch.from_numpy(np.concatenate(windows)).to(device).permute(0, 3, 1, 2).float()
        cw, ch = self.crop_size
        if self.scale != 1.0:
            x = F.interpolate(
                x, scale_factor=self.scale, mode="bilinear", align_corners=False, recompute_scale_factor=False
            )
        return Clips(
            images=x[..., :ch, :cw],
            origins=torch.as_tensor(np.stack(origins), dtype=torch.float32),
            frames=self.clip_frames,
            scale=self.scale,
            sources=[(self.videos[v], s) for v, s in zip(picks, starts, strict=True)],
        )


class UnlabelledObjective:
    """The recipe's enabled unlabelled losses, with their PCA fits and ε values resolved.

    Args:
        settings: the recipe's ``unlabelled`` section.
        labelled: training keypoints ``(N, K, 2)`` in frame pixels (NaN unlabelled).
        bodyparts: names of the K body parts.
        recipe_file: the recipe (named in messages).

    A PCA that too few labelled frames support is turned off with a one-line warning. Raises
    :class:`RecipeError` when view groups name body parts that do not exist, or when the multi-view loss
    is on and no groups are given or found (``*_top`` / ``*_bot``).
    """

    def __init__(
        self, settings: UnlabelledSection, labelled: np.ndarray, bodyparts: Sequence[str], recipe_file: Path | str
    ) -> None:
        self.settings = settings
        self.weights = {
            "temporal": settings.temporal_weight,
            "pca": settings.pca_weight,
            "multiview": settings.multiview_weight,
        }
        self.epsilons: dict[str, float] = {"temporal": settings.temporal_epsilon}
        self.pose_pca: PCAParameters | None = None
        self.multiview: PCAParameters | None = None
        source = f"the training labels of {Path(recipe_file).parent.parent.name}"
        if settings.pca_weight > 0:
            try:
                self.pose_pca = pose_pca_parameters(labelled, source=source)
            except ProjectError as err:
                self._turn_off("pca", err)
            else:
                self.epsilons["pca"] = _epsilon(settings.pca_epsilon, self.pose_pca)
        if settings.multiview_weight > 0:
            groups = [list(g) for g in settings.view_pairs] or [list(g) for g in mirrored_pairs(bodyparts)]
            if not groups:
                raise RecipeError(
                    f"{recipe_file}: 'unlabelled.multiview_weight' is on but no body parts end in _top/_bot; name "
                    "the views of each point in 'unlabelled.view_pairs' (e.g. [[nose_top, nose_bot]]) or set the weight to 0."
                )
            try:
                view_pairs(bodyparts, groups, source=f"{recipe_file}: 'unlabelled.view_pairs'")
            except ConfigError as err:
                raise RecipeError(f"{err} Use body parts of config.yaml.") from None
            try:
                self.multiview = multiview_pca_parameters(labelled, bodyparts, groups, source=source)
            except ProjectError as err:
                self._turn_off("multiview", err)
            else:
                self.epsilons["multiview"] = _epsilon(settings.multiview_epsilon, self.multiview)

    def _turn_off(self, name: str, err: ProjectError) -> None:
        self.weights[name] = 0.0
        warnings.warn(f"{err} The {name} loss is off for this run.", stacklevel=3)

    @property
    def active(self) -> bool:
        """Whether any loss is left on."""
        return any(w > 0 for w in self.weights.values())

    def to(self, device: torch.device) -> UnlabelledObjective:
        """Move the fitted parameters to ``device`` (in place); returns self."""
        self.pose_pca = self.pose_pca.to(device) if self.pose_pca is not None else None
        self.multiview = self.multiview.to(device) if self.multiview is not None else None
        return self

    def losses(self, keypoints: torch.Tensor) -> dict[str, torch.Tensor]:
        """The enabled losses (unweighted) of clips' keypoints ``(N, T, K, 2)`` in frame pixels."""
        out: dict[str, torch.Tensor] = {}
        keypoints = keypoints.float()
        frames = keypoints.reshape(-1, *keypoints.shape[-2:])
        if self.weights["temporal"] > 0:
            out["temporal"] = temporal_loss(keypoints, self.epsilons["temporal"])
        if self.weights["pca"] > 0 and self.pose_pca is not None:
            out["pca"] = pose_pca_loss(frames, self.pose_pca, self.epsilons["pca"])
        if self.weights["multiview"] > 0 and self.multiview is not None:
            out["multiview"] = multiview_pca_loss(frames, self.multiview, self.epsilons["multiview"])
        return out

    def total(self, losses: dict[str, torch.Tensor]) -> torch.Tensor | float:
        """The weighted sum of ``losses``."""
        return sum((self.weights[name] * value for name, value in losses.items()), 0.0)

    def describe(self) -> str:
        """The enabled losses, their weights and ε, in one line."""
        return ", ".join(
            f"{name} (weight {w:g}, epsilon {self.epsilons[name]:.2f} px)" for name, w in self.weights.items() if w > 0
        )


def _epsilon(given: float | None, params: PCAParameters) -> float:
    return float(given) if given is not None else params.epsilon


__all__ = ["LOSS_NAMES", "ClipSampler", "Clips", "UnlabelledObjective"]
