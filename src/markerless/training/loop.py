"""The training loop: AdamW with warm-up + cosine over epochs or a wall-clock budget, snapshots, resume.

``train`` reads the shuffle's recipe, loads its labelled images once into memory, builds batches in the
main thread and trains. Every few epochs (and at the caller's ``evaluate_at_minutes``) it measures the
pixel error on the test split, for the learning curve only: no snapshot is chosen by it (a choice made on
the test images would flatter the test error), and the model deployed is the last one, whose learning rate
has annealed to its end. Snapshots ``snapshot-<EEE>.pt``
hold everything needed to continue (model, optimizer, epoch, step, elapsed training time, RNG state),
written atomically, so a run killed mid-epoch (even with SIGKILL) resumes from its last snapshot; the
snapshot stores the recipe the run trains with, so a resumed run keeps its budget, schedule and seed.
Evaluation and saving time are left out of the wall-clock budget.

When the recipe's ``unlabelled`` weights are on, each ``every_steps``-th step once the run is
``start_fraction`` done also reads clips of the project's videos
(:mod:`markerless.training.unlabelled`) and passes them through the network in the same batch as the
labelled crops; the weighted unlabelled losses on their keypoints (:mod:`markerless.training.soft_keypoints`)
join the loss, and each is logged in its own column (``temporal_loss``, ``pca_loss``, ``multiview_loss``;
NaN when off, like ``paf_loss`` of a single-animal net). ``images_per_s`` counts labelled images only.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import io
import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from markerless.errors import ModelError, RecipeError, TrainingError
from markerless.io.atomic import write_text
from markerless.nets import PoseNet, create_model, save_checkpoint
from markerless.nets.denormals import flush_denormals
from markerless.nets.device import resolve_device
from markerless.project.project import ProjectSource
from markerless.project.recipe import Recipe
from markerless.project.shuffle import Shuffle
from markerless.training.augment import Augmenter
from markerless.training.batches import BatchSampler, ImageSet, to_tensor
from markerless.training.evaluation import predict_images
from markerless.training.metrics import error_summary
from markerless.training.multi_animal import animal_errors, predict_animals
from markerless.training.paf_targets import paf_edges, paf_targets
from markerless.training.soft_keypoints import soft_keypoints
from markerless.training.targets import make_targets, pose_loss
from markerless.training.unlabelled import LOSS_NAMES, Clips, ClipSampler, UnlabelledObjective

log = logging.getLogger(__name__)

STATS_FILE = "learning_stats.csv"
STATS_COLUMNS = [
    "epoch",
    "step",
    "elapsed_s",
    "lr",
    "loss",
    "heatmap_loss",
    "locref_loss",
    "paf_loss",
    "temporal_loss",
    "pca_loss",
    "multiview_loss",
    "images_per_s",
    "test_error_px",
    "test_error_px_pcutoff",
    "train_error_px",
    "test_map",  # multi-animal: OKS mAP (sigma 0.1) of the test images, percent
    "test_error_px_unique",  # multi-animal with unique body parts: their test pixel error
]


@dataclass
class TrainState:
    """Where a run is: counters and elapsed training seconds (evaluation excluded)."""

    epoch: int = 0
    step: int = 0
    elapsed_s: float = 0.0
    resumed_from: list[int] = field(default_factory=list)


class WeightAverage:
    """An exponential moving average of a network's weights and batch-norm statistics.

    Evaluated and saved in place of the raw weights: it smooths out the noise of small batches.
    The decay warms up as ``(1 + n) / (10 + n)`` over the first updates, so early averages do not
    drag the random initial head along.
    """

    def __init__(self, net: PoseNet, decay: float) -> None:
        """Start the average at ``net``'s current weights."""
        if not 0.0 < decay < 1.0:
            raise TrainingError(f"ema_decay must be between 0 and 1 (0 turns it off), got {decay}.")
        self.module = copy.deepcopy(net).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = float(decay)
        self.updates = 0

    @torch.no_grad()
    def update(self, net: torch.nn.Module) -> None:
        """Move the average towards ``net``'s weights (integer buffers are copied)."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        averaged, current = [], []
        for avg, cur in zip(self.module.state_dict().values(), net.state_dict().values(), strict=True):
            if avg.dtype.is_floating_point:
                averaged.append(avg)
                current.append(cur)
            else:
                avg.copy_(cur)
        torch._foreach_lerp_(averaged, current, 1.0 - decay)


def validation_interval(every: int, validation_s: float, epoch_s: float, share: float) -> int:
    """Epochs until the next validation: ``every``, or more when one validation takes longer than ``share``
    of the training time of ``every`` epochs (``share`` 0: always ``every``)."""
    if share <= 0 or epoch_s <= 0:
        return every
    return max(every, math.ceil(validation_s / (share * epoch_s)))


def lr_factor(progress: float, warmup_fraction: float, final_fraction: float) -> float:
    """Learning-rate multiplier at ``progress`` in [0, 1]: linear warm-up, then cosine down to ``final_fraction``."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup_fraction > 0 and progress < warmup_fraction:
        return max(progress / warmup_fraction, 0.01)
    rest = (progress - warmup_fraction) / max(1.0 - warmup_fraction, 1e-9)
    return final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * rest))


def param_groups(net: torch.nn.Module, backbone_lr_factor: float = 1.0) -> list[dict[str, Any]]:
    """Optimizer parameter groups, each with ``lr_factor``: its multiple of the scheduled learning rate.

    The backbone's factor is ``backbone_lr_factor``, the head's 1 (one group when they are equal).
    """
    if not backbone_lr_factor > 0:
        raise TrainingError(f"optimizer.backbone_lr_factor must be > 0, got {backbone_lr_factor}.")
    backbone = getattr(net, "backbone", None)
    if backbone is None or backbone_lr_factor == 1.0:
        return [{"params": list(net.parameters()), "lr_factor": 1.0}]
    inside = {id(p) for p in backbone.parameters()}
    rest = [p for p in net.parameters() if id(p) not in inside]
    return [
        {"params": list(backbone.parameters()), "lr_factor": backbone_lr_factor},
        {"params": rest, "lr_factor": 1.0},
    ]


def train(
    config: ProjectSource,
    shuffle: int = 1,
    *,
    max_minutes: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    seed: int | None = None,
    resume: bool = True,
    evaluate_at_minutes: Sequence[float] = (),
) -> Path:
    """Train shuffle ``shuffle`` of a project; returns the path of its last snapshot, the model to use.

    A new run takes its choices from the shuffle's recipe (``train/markerless.yaml``) with the arguments
    given here replacing its values. A resumed run continues what its last snapshot stored: budget,
    schedule, seed, batch size and every choice that shapes the model (edits of those in the recipe wait
    for a run with ``resume=False``; the ``runtime`` and ``checkpoints`` sections are read afresh). Giving
    ``max_minutes`` or ``epochs`` on resume changes the budget, and the learning-rate schedule is
    stretched (or shrunk) to the new budget; a line says so.

    Args:
        config: the project's ``config.yaml`` (or folder, or a ``Project``).
        shuffle: the shuffle number (created by ``create_training_dataset``).
        max_minutes: wall-clock training budget (evaluation excluded); the schedule follows elapsed time.
            Replaces the recipe's ``epochs`` unless ``epochs`` is also given (then whichever ends first).
        epochs: number of epochs (replaces the recipe's budget when ``max_minutes`` is not given).
        batch_size: images per batch (default: the recipe's; a resumed run keeps its own).
        device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``.
        seed: seed of initialisation and augmentation (default: the recipe's; a resumed run keeps its own).
        resume: continue from the last ``snapshot-<EEE>.pt`` when there is one (else start over).
        evaluate_at_minutes: extra test-error measurements at these training minutes (benchmarks),
            each with its own row in ``learning_stats.csv``.

    Raises:
        RecipeError: a recipe value or an argument is invalid (``epochs < 1``, ``max_minutes <= 0``,
            ``batch_size < 1``...).
        TrainingError: no data, a multi-animal project without two body parts labelled together, an unreadable
            snapshot, a seed or batch size that differs from the resumed run's, or a budget that the resumed run
            has already spent.
    """
    sh = Shuffle(config, shuffle)
    budget: dict[str, Any] = {}
    if max_minutes is not None:
        budget = {"max_minutes": max_minutes, "epochs": epochs}
    elif epochs is not None:
        budget = {"epochs": epochs, "max_minutes": None}
    given = {k: v for k, v in (("batch_size", batch_size), ("seed", seed)) if v is not None}
    recipe = sh.recipe.with_overrides(budget, **given)  # checks the arguments like recipe values
    where = resolve_device(device)
    snapshot = _last_snapshot(sh) if resume else None
    payload = _load_snapshot(snapshot, where) if snapshot is not None else None
    if snapshot is not None and payload is not None:
        recipe = _resumed_recipe(sh, snapshot, payload, budget, given)
    with flush_denormals():
        run = _Run(sh, recipe, where, snapshot, payload, evaluate_at_minutes)
        if snapshot is not None and budget and run.done():
            raise TrainingError(
                f"Shuffle {sh.index} has already trained {run.trained()}, the whole budget of {recipe.schedule.budget}; "
                "give a larger --epochs/--max-minutes to extend it, or --no-resume to start over."
            )
        return run.run()


def _last_snapshot(sh: Shuffle) -> Path | None:
    """The last regular snapshot (the one a run resumes from); None when there is none."""
    regular = [p for p in sh.snapshots() if not p.name.startswith("snapshot-best-")]
    return regular[-1] if regular else None


def _load_snapshot(path: Path, device: torch.device) -> dict[str, Any]:
    try:
        payload: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise TrainingError(
            f"Cannot resume from {path} ({type(err).__name__}: {err}); delete it or train with --no-resume."
        ) from None
    return payload


#: Recipe values a resumed run may not change (it keeps those it started with).
_KEPT_ON_RESUME = ("batch_size", "seed")


def _resumed_recipe(
    sh: Shuffle, snapshot: Path, payload: dict[str, Any], budget: dict[str, Any], given: dict[str, Any]
) -> Recipe:
    """The recipe a resumed run continues: the stored one, its budget changed only when asked.

    The ``runtime`` and ``checkpoints`` sections (how the run computes, measures and saves; not what it
    learns) come from the shuffle's recipe file.
    """
    current = sh.recipe
    if "recipe" not in payload:  # written before snapshots stored their recipe
        return current.with_overrides(budget, **given)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # obsolete keys of an older stored recipe: nothing to act on
        stored = Recipe.from_dict(payload["recipe"], source=f"{snapshot} (its stored recipe)")
    for key, value in given.items():
        if getattr(stored, key) != value:
            raise TrainingError(
                f"{snapshot.name} was trained with {key} {getattr(stored, key)}, and a resumed run keeps it; "
                f"leave out --{key.replace('_', '-')} to continue, or train with --no-resume to start over with {value}."
            )
    free = {"runtime", "checkpoints", "schedule.epochs", "schedule.max_minutes", *_KEPT_ON_RESUME}
    edited = [
        k for k in _differences(stored.to_dict(), current.to_dict()) if k not in free and k.split(".")[0] not in free
    ]
    if edited:
        warnings.warn(
            f"{sh.recipe_file}: {', '.join(edited)} changed since {snapshot.name}; the resumed run keeps the values "
            "it started with (train with --no-resume to use the new ones).",
            stacklevel=3,
        )
    recipe = dataclasses.replace(stored, runtime=current.runtime, checkpoints=current.checkpoints)
    if budget:
        extended = recipe.with_overrides(budget)
        if extended.schedule != recipe.schedule:
            message = (
                f"Budget of {sh.name} changed from {recipe.schedule.budget} to {extended.schedule.budget}: "
                "the learning-rate schedule now spans the new budget (warm-up and cosine rescaled)."
            )
            log.info(message)
            tqdm.write(message)
        recipe = extended
    return recipe


def _differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts of the same layout."""
    out = []
    for key, value in a.items():
        other = b.get(key)
        if isinstance(value, dict) and isinstance(other, dict):
            out += _differences(value, other, f"{prefix}{key}.")
        elif value != other:
            out.append(f"{prefix}{key}")
    return out


class _Run:
    """One training run of a shuffle (state kept between its steps)."""

    def __init__(
        self,
        sh: Shuffle,
        recipe: Recipe,
        device: torch.device,
        snapshot: Path | None,
        payload: dict[str, Any] | None,
        evaluate_at_minutes: Sequence[float] = (),
    ) -> None:
        sched = recipe.schedule
        self.sh, self.recipe, self.device = sh, recipe, device
        self.budget_s = sched.max_minutes * 60 if sched.max_minutes is not None else None
        self.max_epochs = sched.epochs
        self.seed = recipe.seed
        self.evaluate_at_s = sorted(float(m) * 60 for m in evaluate_at_minutes)
        project = sh.project
        labels = project.load_labels()
        self.train_data = ImageSet.load(project.root, labels.select(sh.train_images()))
        test = sh.test_images()
        self.test_data = ImageSet.load(project.root, labels.select(test)) if test else None
        if not np.isfinite(self.train_data.keypoints).any():
            raise TrainingError(
                f"The training images of shuffle {sh.index} have no visible labelled points; label some."
            )
        self.pcutoff = project.pcutoff
        layout = project.layout  # keypoints: the animal's body parts, then any unique body parts (of "single")
        augmenter = Augmenter.from_recipe(recipe, layout.flip_permutation, anchor_parts=len(layout.bodyparts))
        self.sampler = BatchSampler(self.train_data, augmenter, recipe.batch_size)
        torch.manual_seed(self.seed)
        n_kp = len(layout.keypoint_names)
        self.multi_animal = project.layout.multi_animal
        self.edges: tuple[tuple[str, str], ...] = ()
        if self.multi_animal:
            self.edges, note = paf_edges(labels)
            if note:
                warnings.warn(f"{project.config_path}: {note}", stacklevel=3)
            if not self.edges:
                raise TrainingError(
                    f"{project.config_path}: no two body parts are labelled together, so no part-affinity field can "
                    "link them; label more body parts per animal."
                )
        names = list(project.layout.bodyparts)
        self.edge_index = np.array([[names.index(a), names.index(b)] for a, b in self.edges], dtype=np.int64).reshape(
            -1, 2
        )
        spec = recipe.model
        try:
            self.net = create_model(
                spec.net,
                n_kp,
                pretrained=spec.pretrained,
                output_stride=spec.output_stride,
                head_channels=list(spec.head_channels) if isinstance(spec.head_channels, tuple) else spec.head_channels,
                limbs=len(self.edges),
            )
        except ModelError as err:
            raise TrainingError(f"{sh.recipe_file}: {err}") from None
        self.channels_last = recipe.runtime.channels_last
        self.net.to(device)
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        opt = recipe.optimizer
        self.base_lr = opt.lr
        groups = param_groups(self.net, opt.backbone_lr_factor)
        self.lr_factors = [g.pop("lr_factor") for g in groups]  # the recipe's, also after a resume
        self.optimizer = torch.optim.AdamW(groups, lr=self.base_lr, weight_decay=opt.weight_decay)
        self.autocast = _autocast(recipe.runtime.amp, device)
        self.ema = WeightAverage(self.net, opt.ema_decay) if opt.ema_decay else None
        self.objective, self.clips = self._unlabelled(sh, recipe)
        self.state = TrainState()
        self.stats: list[dict[str, Any]] = []
        self._last_validation: tuple[int, dict[str, Any]] = (-1, {})
        self._epoch_start = 0.0
        self._said_stretched = False
        sh.train_dir.mkdir(parents=True, exist_ok=True)
        if snapshot is not None and payload is not None:
            self._resume(snapshot, payload)
        else:
            self._clear_snapshots()

    def _unlabelled(self, sh: Shuffle, recipe: Recipe) -> tuple[UnlabelledObjective | None, ClipSampler | None]:
        """The unlabelled losses and their clip reader, when the recipe turns any on (else None, None)."""
        settings = recipe.unlabelled
        if not settings.enabled:
            return None, None
        if self.multi_animal:
            raise RecipeError(
                f"{sh.recipe_file}: the unlabelled losses are for single-animal projects for now; set "
                "unlabelled.temporal_weight, pca_weight and multiview_weight to 0."
            )
        names = list(sh.project.layout.bodyparts)
        objective = UnlabelledObjective(settings, self.train_data.keypoints, names, sh.recipe_file)
        if not objective.active:
            return None, None
        sizes = {(im.shape[1], im.shape[0]) for im in self.train_data.images}
        clips = ClipSampler(
            sh.project.videos,
            sizes,
            recipe.crop_size,
            recipe.model.input_scale,
            settings.clip_frames,
            settings.clips_per_step,
            pcutoff=self.pcutoff,
        )
        message = f"Unlabelled losses on {len(clips.videos)} video(s): {objective.describe()}"
        log.info(message)
        tqdm.write(message)
        return objective.to(self.device), clips

    def _clip_step(self) -> bool:
        """Whether this step reads the unlabelled clips (when on): the run past ``start_fraction``, an ``every_steps``-th step."""
        settings = self.recipe.unlabelled
        return self.progress() >= settings.start_fraction and self.state.step % settings.every_steps == 0

    def _locate(self, frames: list[np.ndarray]) -> np.ndarray:
        """Predictions ``(N, K, 3)`` of the weights evaluated, on whole frames (where to crop unlabelled clips)."""
        with self._paused():
            return predict_images(
                self.eval_net,
                frames,
                scale=self.recipe.model.input_scale,
                batch_size=self.recipe.runtime.eval_batch_size,
                device=self.device,
            )

    def _unlabelled_losses(self, outputs: tuple[torch.Tensor, ...], clips: Clips) -> dict[str, torch.Tensor]:
        """The enabled unlabelled losses of the clips' network outputs."""
        assert self.objective is not None
        keypoints = soft_keypoints(
            outputs[0],
            outputs[1],
            self.net.stride,
            locref_stdev=self.net.spec.locref_stdev,
            window=self.recipe.unlabelled.keypoint_window,
        )
        return self.objective.losses(clips.to_frame(keypoints))

    # --- schedule ------------------------------------------------------------------------------
    @property
    def total_steps(self) -> int | None:
        return self.max_epochs * self.sampler.batches_per_epoch if self.max_epochs else None

    def progress(self) -> float:
        """Fraction of the run done (time budget when given, else steps)."""
        if self.budget_s:
            return self.state.elapsed_s / self.budget_s
        return self.state.step / max(self.total_steps or 1, 1)

    def done(self) -> bool:
        time_up = self.budget_s is not None and self.state.elapsed_s >= self.budget_s
        epochs_up = self.max_epochs is not None and self.state.epoch >= self.max_epochs
        return time_up or epochs_up

    def trained(self) -> str:
        """What the run has trained so far, in words."""
        return f"{self.state.epoch} epochs ({self.state.elapsed_s / 60:.1f} min)"

    def lr(self) -> float:
        sched = self.recipe.schedule
        return self.base_lr * lr_factor(self.progress(), sched.warmup_fraction, sched.final_lr_fraction)

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> Path:
        eval_every = self.recipe.checkpoints.eval_every_epochs
        next_eval = (self.state.epoch // eval_every + 1) * eval_every if eval_every else None
        started = (self.state.epoch, self.state.elapsed_s)
        save_every = self.recipe.checkpoints.save_every_epochs
        save_every_s = self.recipe.checkpoints.save_every_minutes * 60
        marks = [m for m in self.evaluate_at_s if m > self.state.elapsed_s]
        if self.done():
            tqdm.write(
                f"{self.sh.name} has trained its whole budget ({self.recipe.schedule.budget}); "
                "give --epochs/--max-minutes to extend it, or --no-resume to start over."
            )
        last_save = self.state.elapsed_s
        total = self.budget_s if self.budget_s else self.total_steps
        bar = tqdm(
            total=round(total or 0),
            initial=round(self.state.elapsed_s if self.budget_s else self.state.step),
            unit="s" if self.budget_s else "step",
            desc=f"train {self.sh.name}",
            disable=None,
            dynamic_ncols=True,
        )
        self.net.train()
        while not self.done():
            rng = np.random.default_rng([self.seed, self.state.epoch])
            clip_rng = np.random.default_rng([self.seed, self.state.epoch, 1])
            losses, parts = [], []
            self._epoch_start = self.state.elapsed_s
            t0 = time.perf_counter()
            for crops, keypoints in self.sampler.epoch(rng):
                lr = self.lr()
                for group, factor in zip(self.optimizer.param_groups, self.lr_factors, strict=True):
                    group["lr"] = lr * factor
                loss, part = self._loss(crops, keypoints, clip_rng)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                if self.ema is not None:
                    self.ema.update(self.net)
                now = time.perf_counter()
                self.state.elapsed_s += now - t0
                self.state.step += 1
                losses.append(float(loss.detach()))
                parts.append([float(part.get(name, math.nan)) for name in ("heatmap", "locref", "paf", *LOSS_NAMES)])
                bar.update(round(self.state.elapsed_s) - bar.n if self.budget_s else 1)
                bar.set_postfix(epoch=self.state.epoch + 1, loss=f"{losses[-1]:.4f}", lr=f"{lr:.2e}")
                if marks and self.state.elapsed_s >= marks[0]:
                    while marks and self.state.elapsed_s >= marks[0]:
                        marks.pop(0)
                    self._validate(with_train=True, epoch_loss=losses, parts=parts, lr=lr)
                if self.budget_s is not None and self.state.elapsed_s >= self.budget_s:
                    break
                t0 = time.perf_counter()
            self.state.epoch += 1
            row = self._stats_row(losses, parts, self.lr())
            final = self.done()
            if self._last_validation[0] == self.state.step:  # validated at a mark in this very step
                row.update(self._last_validation[1])
            elif final or (next_eval is not None and self.state.epoch >= next_eval):
                t_validation = time.perf_counter()
                row.update(self._validate(with_train=final))
                if next_eval is not None:
                    next_eval = self.state.epoch + self._validation_interval(
                        time.perf_counter() - t_validation, started
                    )
            if self.stats and self.stats[-1]["step"] == row["step"]:
                self.stats[-1] = row  # the mark's row of this very step becomes the epoch's row
            else:
                self.stats.append(row)
            self._write_stats()
            if (
                final
                or (save_every and self.state.epoch % save_every == 0)
                or (save_every_s and self.state.elapsed_s - last_save >= save_every_s)
            ):
                self._save()
                last_save = self.state.elapsed_s
        bar.close()
        if self.clips is not None:
            self.clips.close()
        return self.sh.train_dir / f"snapshot-{self.state.epoch:03d}.pt"

    def _validation_interval(self, validation_s: float, started: tuple[int, float]) -> int:
        """Epochs to the next validation after one that took ``validation_s`` (the run began at ``started``:
        epoch, training seconds); said once when longer than the recipe's."""
        checkpoints = self.recipe.checkpoints
        epoch_s = (self.state.elapsed_s - started[1]) / max(self.state.epoch - started[0], 1)
        every = validation_interval(checkpoints.eval_every_epochs, validation_s, epoch_s, checkpoints.eval_time_share)
        if every > checkpoints.eval_every_epochs and not self._said_stretched:
            self._said_stretched = True
            tqdm.write(
                f"Validating every {every} epochs instead of {checkpoints.eval_every_epochs}: one validation takes "
                f"{validation_s:.0f} s, as long as {validation_s / epoch_s:.0f} epochs of training (recipe "
                f"checkpoints.eval_time_share {checkpoints.eval_time_share:g})."
            )
        return every

    def _loss(
        self, crops: np.ndarray, keypoints: np.ndarray, clip_rng: np.random.Generator
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One step's loss and its parts: the labelled batch's, plus the unlabelled clips' when enabled."""
        tgt = self.recipe.targets
        stride = self.net.stride
        x = self.net.normalize(to_tensor(crops, self.device, self.channels_last))
        clips = (
            self.clips.sample(clip_rng, self._locate, self.device)
            if self.clips is not None and self._clip_step()
            else None
        )
        if clips is not None:
            x = torch.cat([x, self.net.normalize(clips.images.to(x.dtype))])
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        kp = torch.from_numpy(keypoints).to(self.device, torch.float32)
        with self.autocast:
            outputs = self.net(x)
        unlabelled: dict[str, torch.Tensor] = {}
        if clips is not None:
            n = len(crops)
            unlabelled = self._unlabelled_losses(tuple(o[n:] for o in outputs), clips)
            outputs = tuple(o[:n] for o in outputs)
        h, w = outputs[0].shape[-2:]
        targets = make_targets(
            kp,
            torch.ones(kp.shape[:-1], device=self.device),
            (h, w),
            stride,
            sigma=tgt.sigma,
            locref_radius=tgt.locref_radius,
            locref_stdev=self.net.spec.locref_stdev,
        )
        if self.multi_animal:
            targets["pafs"] = paf_targets(kp, self.edge_index, (h, w), stride)
        loss, part = pose_loss(outputs, targets, locref_weight=tgt.locref_weight, paf_weight=tgt.paf_weight)
        if unlabelled and self.objective is not None:
            loss = loss + self.objective.total(unlabelled)
        return loss, {**part, **{name: value.detach() for name, value in unlabelled.items()}}

    def _stats_row(self, losses: list[float], parts: list[list[float]], lr: float) -> dict[str, Any]:
        with warnings.catch_warnings():  # a loss that was off all epoch (or on no step of it) stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            part = np.nanmean(parts, axis=0) if parts else [math.nan] * (3 + len(LOSS_NAMES))
        spent = self.state.elapsed_s - self._epoch_start
        return {
            "epoch": self.state.epoch,
            "step": self.state.step,
            "elapsed_s": round(self.state.elapsed_s, 3),
            "lr": lr,
            "loss": float(np.mean(losses)) if losses else math.nan,
            "heatmap_loss": float(part[0]),
            "locref_loss": float(part[1]),
            "paf_loss": float(part[2]),
            **{f"{name}_loss": float(part[3 + i]) for i, name in enumerate(LOSS_NAMES)},
            "images_per_s": round(len(losses) * self.sampler.batch_size / spent, 2) if spent > 0 else math.nan,
        }

    # --- validation and snapshots --------------------------------------------------------------
    @property
    def eval_net(self) -> PoseNet:
        """The weights that are evaluated and deployed: the moving average when the recipe keeps one."""
        return self.ema.module if self.ema is not None else self.net

    @contextlib.contextmanager
    def _paused(self):
        """Model in eval mode for the duration (training mode restored after)."""
        try:
            yield
        finally:
            self.net.train()
            if self.channels_last:
                self.net.to(memory_format=torch.channels_last)

    def _predict_errors(self, data: ImageSet) -> dict[str, Any]:
        if self.multi_animal:
            layout = self.sh.project.layout
            animals, scores = predict_animals(
                self.eval_net,
                data.images,
                self.edge_index,
                len(layout.individuals),
                scale=self.recipe.model.input_scale,
                batch_size=self.recipe.runtime.eval_batch_size,
                device=self.device,
                n_unique=len(layout.unique_bodyparts),
            )
            names, unique = list(layout.bodyparts), list(layout.unique_bodyparts)
            return animal_errors(animals, scores, data.ground_truth, self.pcutoff, names, unique)
        pred = predict_images(
            self.eval_net,
            data.images,
            scale=self.recipe.model.input_scale,
            batch_size=self.recipe.runtime.eval_batch_size,
            device=self.device,
        )
        return error_summary(pred, data.ground_truth, self.pcutoff)

    def _validate(
        self,
        *,
        with_train: bool = False,
        epoch_loss: list[float] | None = None,
        parts: list[list[float]] | None = None,
        lr: float | None = None,
    ) -> dict[str, Any]:
        """Test-split pixel error (train error too when asked), for the learning curve. Time not counted."""
        with self._paused():
            result: dict[str, Any] = {}
            if self.test_data is not None and len(self.test_data):
                test = self._predict_errors(self.test_data)
                result.update(test_error_px=test["error_px"], test_error_px_pcutoff=test["error_px_pcutoff"])
                if "map" in test:
                    result["test_map"] = test["map"]
                if "unique" in test:
                    result["test_error_px_unique"] = test["unique"]["error_px"]
            if with_train or self.test_data is None:
                result["train_error_px"] = self._predict_errors(self.train_data)["error_px"]
        self._last_validation = (self.state.step, result)
        if epoch_loss is not None:  # a validation inside an epoch (benchmark marks) gets its own stats row
            row = self._stats_row(epoch_loss, parts or [], lr or self.lr())
            row["epoch"] = self.state.epoch + 1
            row.update(result)
            self.stats.append(row)
            self._write_stats()
        tqdm.write(
            f"epoch {self.state.epoch}, {self.state.elapsed_s / 60:.1f} min: "
            + ", ".join(f"{k} {v:.2f}" for k, v in result.items())
        )
        return result

    def _extra(self) -> dict[str, Any]:
        return {
            "epoch": self.state.epoch,
            "state": asdict(self.state),
            "recipe": self.recipe.to_dict(),
            "bodyparts": list(self.sh.project.layout.keypoint_names),
            "edges": [list(e) for e in self.edges],
            "individuals": list(self.sh.project.layout.individuals),
        }

    def _save(self) -> None:
        extra = self._extra()
        extra["optimizer"] = self.optimizer.state_dict()
        extra["torch_rng"] = torch.get_rng_state()
        extra["stats"] = self.stats
        if self.ema is not None:  # the snapshot deploys the average; training resumes from the raw weights
            extra["train_model"] = self.net.state_dict()
            extra["ema_updates"] = self.ema.updates
        save_checkpoint(self.sh.train_dir / f"snapshot-{self.state.epoch:03d}.pt", self.eval_net, extra=extra)
        keep = self.recipe.checkpoints.keep_snapshots
        regular = [p for p in self.sh.snapshots() if not p.name.startswith("snapshot-best-")]
        for old in regular[:-keep]:
            old.unlink(missing_ok=True)

    def _resume(self, path: Path, payload: dict[str, Any]) -> None:
        try:
            self.net.load_state_dict(payload.get("train_model", payload["model"]))
            self.optimizer.load_state_dict(payload["optimizer"])
            if self.ema is not None:
                self.ema.module.load_state_dict(payload["model"])
                self.ema.updates = int(payload.get("ema_updates", self.ema.updates))
        except Exception as err:
            raise TrainingError(
                f"Cannot resume from {path} ({type(err).__name__}: {err}); delete it or train with --no-resume."
            ) from None
        known = {f.name for f in dataclasses.fields(TrainState)}  # older runs also kept a best test error
        self.state = TrainState(**{k: v for k, v in payload["state"].items() if k in known})
        self.state.resumed_from.append(self.state.epoch)
        torch.set_rng_state(payload["torch_rng"])
        self.stats = [r for r in payload.get("stats", []) if r["epoch"] <= self.state.epoch]
        log.info(
            "Resuming %s from %s (epoch %d, %.1f min trained)",
            self.sh.name,
            path.name,
            self.state.epoch,
            self.state.elapsed_s / 60,
        )
        tqdm.write(f"Resuming from {path.name} (epoch {self.state.epoch}, {self.state.elapsed_s / 60:.1f} min trained)")

    def _clear_snapshots(self) -> None:
        for old in self.sh.snapshots():
            old.unlink(missing_ok=True)
        (self.sh.train_dir / STATS_FILE).unlink(missing_ok=True)

    def _write_stats(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=STATS_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.stats)
        write_text(self.sh.train_dir / STATS_FILE, buf.getvalue())


def _autocast(amp: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision where it helps: bf16 (or fp16) autocast on CUDA; fp32 on CPU unless asked."""
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return contextlib.nullcontext()
    if amp == "fp16":
        return torch.autocast(device.type, dtype=torch.float16)
    if amp in ("auto", "bf16"):
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.float16)
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise TrainingError(f"Unknown amp setting {amp!r} in the recipe; use auto, bf16, fp16 or off.")
