"""The training recipe: every choice that shapes a model (net, crops, augmentation, schedule), typed.

A shuffle's recipe lives in ``<model_dir>/train/markerless.yaml``; edit it to change a choice before
training. :class:`Recipe` is a frozen dataclass with one section per topic; every default is written once,
as a field default below, with the reason it was chosen beside it (the measurements behind them are in
``docs/recipe-experiments.md``). :meth:`Recipe.from_dict` rejects unknown or misspelt keys (naming the
closest valid one), wrong types and out-of-range values. Files written by earlier versions, with flat
keys (``net``, ``epochs``, ``ema_decay``... at the top), still load; their keys ``device``, ``pcutoff``
and ``eval_at_minutes`` no longer mean anything and are dropped with a warning.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from markerless.errors import RecipeError, did_you_mean
from markerless.io.atomic import write_text
from markerless.project.data_shape import DataShape

#: File name of the recipe in a shuffle's ``train`` folder.
RECIPE_FILE = "markerless.yaml"

_HEADER = (
    "# markerless training recipe: edit before `markerless train` to change a choice.\n"
    "# Sections and their defaults: markerless.project.recipe.Recipe; unknown keys are refused.\n"
)


def _fail(key: str, must: str, value: Any) -> typing.NoReturn:
    raise RecipeError(f"'{key}' must be {must}, got {value!r}.")


def _check_fraction(section: str, obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not 0.0 <= value <= 1.0:
            _fail(f"{section}.{name}", "a probability from 0 to 1", value)


@dataclass(frozen=True)
class ModelSection:
    """The network: backbone, weights, input and heatmap resolution, head width."""

    _name: ClassVar[str] = "model"
    net: str = "mobilenetv2"  # fast on CPUs; any name of markerless.nets.list_models()
    pretrained: bool = True  # ImageNet weights (shipped offline) when the net has them: far faster to train
    input_scale: float = 1.0  # images are resized by this before cropping (and at inference); 0.5 gave 3.10 px
    output_stride: int = 8  # input pixels per heatmap cell; stride 4 was no better at 30 minutes, 1.3x slower
    head_channels: int | tuple[int, ...] = 128  # deconvolution head width, or one width per deconvolution

    def __post_init__(self) -> None:
        if not self.net:
            _fail("model.net", "a model name (see markerless.nets.list_models())", self.net)
        if not self.input_scale > 0:
            _fail("model.input_scale", "a number > 0", self.input_scale)
        if self.output_stride < 1:
            _fail("model.output_stride", "an integer >= 1", self.output_stride)
        widths = self.head_channels if isinstance(self.head_channels, tuple) else (self.head_channels,)
        if not widths or any(w < 1 for w in widths):
            _fail("model.head_channels", "a width >= 1 or a list of widths >= 1", self.head_channels)


@dataclass(frozen=True)
class OptimizerSection:
    """AdamW and the moving average of the weights."""

    _name: ClassVar[str] = "optimizer"
    lr: float = 1e-3  # peak learning rate of AdamW for batches of 8
    weight_decay: float = 1e-4  # 0.05 was worse (1.86 vs 1.81 px)
    backbone_lr_factor: float = 1.0  # the backbone's rate relative to the head's; 0.3 let the head overfit sooner
    ema_decay: float = 0.999  # moving average of the weights, evaluated and saved (0: off); far better early

    def __post_init__(self) -> None:
        if not self.lr > 0:
            _fail("optimizer.lr", "a number > 0", self.lr)
        if self.weight_decay < 0:
            _fail("optimizer.weight_decay", "a number >= 0", self.weight_decay)
        if not self.backbone_lr_factor > 0:
            _fail("optimizer.backbone_lr_factor", "a number > 0", self.backbone_lr_factor)
        if not 0.0 <= self.ema_decay < 1.0:
            _fail("optimizer.ema_decay", "a number from 0 (off) to below 1", self.ema_decay)


@dataclass(frozen=True)
class ScheduleSection:
    """The budget (epochs or wall-clock minutes) and the learning-rate curve over it."""

    _name: ClassVar[str] = "schedule"
    epochs: int | None = 400  # used when there is no time budget (then whichever ends first)
    max_minutes: float | None = None  # wall-clock budget (evaluation excluded); the schedule follows elapsed time
    warmup_fraction: float = 0.03  # linear warm-up over this fraction of the budget: the random head settles
    final_lr_fraction: float = 0.01  # the cosine ends at this fraction of the peak; 0.05 was no better

    def __post_init__(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            _fail("schedule.epochs", "an integer >= 1", self.epochs)
        if self.max_minutes is not None and not self.max_minutes > 0:
            _fail("schedule.max_minutes", "a number of minutes > 0", self.max_minutes)
        if self.epochs is None and self.max_minutes is None:
            raise RecipeError("Give the schedule a budget: 'schedule.epochs' or 'schedule.max_minutes'.")
        _check_fraction("schedule", self, "warmup_fraction", "final_lr_fraction")

    @property
    def budget(self) -> str:
        """The budget in words (``"400 epochs"``, ``"10 min"``, ``"10 min or 400 epochs"``)."""
        parts = []
        if self.max_minutes is not None:
            parts.append(f"{self.max_minutes:g} min")
        if self.epochs is not None:
            parts.append(f"{self.epochs} epochs")
        return " or ".join(parts)


@dataclass(frozen=True)
class TargetsSection:
    """Heatmap and location-refinement targets, in pixels of the (scaled) input."""

    _name: ClassVar[str] = "targets"
    sigma: float = 10.0  # heatmap Gaussian; sigma 6 with locref weight 0.05 never left the background prior
    locref_radius: float = 17.0  # offsets are learnt within this distance of a keypoint
    locref_weight: float = 1.0  # weight of the offset loss; 1.0 reached 2.6 px on training crops
    paf_weight: float = 1.0  # weight of the part-affinity fields' loss (multi-animal nets)

    def __post_init__(self) -> None:
        for name in ("sigma", "locref_radius"):
            if not getattr(self, name) > 0:
                _fail(f"targets.{name}", "a number of pixels > 0", getattr(self, name))
        for name in ("locref_weight", "paf_weight"):
            if getattr(self, name) < 0:
                _fail(f"targets.{name}", "a number >= 0", getattr(self, name))


@dataclass(frozen=True)
class AugmentationSection:
    """Random changes of the training crops (probabilities from 0 to 1)."""

    _name: ClassVar[str] = "augmentation"
    rotation: float = 180.0  # degrees, uniform in +-: any heading (animals filmed from above; 1.83 vs 1.875 px)
    rotation_p: float = 0.7  # probability of a rotation
    scale: tuple[float, float] = (0.7, 1.4)  # random zoom; wider than 0.8-1.25 overfits less (1.75 vs 1.81 px)
    crop_jitter: float = 0.35  # the crop centre moves up to this fraction of the crop size off the animal
    hflip: float = 0.5  # left/right body parts are swapped (skeleton symmetric pairs)
    vflip: float = 0.0  # off: a top-bottom mirror is a left-right mirror plus a half turn, which rotation covers
    motion_blur: float = 0.15  # fast movements blur in real videos
    noise: float = 0.25  # sensor noise of dim recordings
    brightness_contrast: float = 0.5  # lighting changes between sessions

    def __post_init__(self) -> None:
        if self.rotation < 0:
            _fail("augmentation.rotation", "a number of degrees >= 0", self.rotation)
        if not 0 < self.scale[0] <= self.scale[1]:
            _fail("augmentation.scale", "[min, max] zoom with 0 < min <= max", list(self.scale))
        if self.crop_jitter < 0:
            _fail("augmentation.crop_jitter", "a fraction of the crop size >= 0", self.crop_jitter)
        _check_fraction(
            "augmentation", self, "rotation_p", "hflip", "vflip", "motion_blur", "noise", "brightness_contrast"
        )


@dataclass(frozen=True)
class RuntimeSection:
    """How the computation runs; none of it changes what is learnt."""

    _name: ClassVar[str] = "runtime"
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # auto: bf16 on CUDA; fp32 on CPU (bf16 gained little)
    channels_last: bool = True  # the memory layout fast convolutions prefer
    eval_batch_size: int = 8  # images per batch when measuring errors

    def __post_init__(self) -> None:
        if self.eval_batch_size < 1:
            _fail("runtime.eval_batch_size", "an integer >= 1", self.eval_batch_size)


@dataclass(frozen=True)
class CheckpointsSection:
    """When the run measures its test error and writes snapshots."""

    _name: ClassVar[str] = "checkpoints"
    eval_every_epochs: int = 20  # test-split pixel error (time excluded from the budget); 0: only at the end
    # validations may take at most this share of the training time: after a slower one the next waits
    # longer than eval_every_epochs (validating the flies' 1024x1024 multi-animal images takes as long as
    # 33 epochs of training on crops); 0: exactly every eval_every_epochs
    eval_time_share: float = 0.1
    save_every_epochs: int = 10  # a snapshot to resume from; 0: only by time and at the end
    save_every_minutes: float = 2.0  # also save when this much training time passed since the last snapshot
    keep_snapshots: int = 3  # regular snapshots kept (the best one is kept besides)

    def __post_init__(self) -> None:
        for name in ("eval_every_epochs", "save_every_epochs"):
            if getattr(self, name) < 0:
                _fail(f"checkpoints.{name}", "an integer >= 0 (0: off)", getattr(self, name))
        if self.save_every_minutes < 0:
            _fail("checkpoints.save_every_minutes", "a number >= 0 (0: off)", self.save_every_minutes)
        if not 0 <= self.eval_time_share <= 1:
            _fail("checkpoints.eval_time_share", "a number from 0 to 1 (0: off)", self.eval_time_share)
        if self.keep_snapshots < 1:
            _fail("checkpoints.keep_snapshots", "an integer >= 1", self.keep_snapshots)


@dataclass(frozen=True)
class UnlabelledSection:
    """Losses on clips of unlabelled video frames (Lightning Pose's), each zero below its tolerance ε (pixels).

    A weight of 0 turns its loss off; with every weight 0 no video is read. ε values are pixels of the
    original frames; ``null`` takes the ε the fit suggests (the 99th percentile of the labelled poses' own
    errors).
    """

    _name: ClassVar[str] = "unlabelled"
    temporal_weight: float = 0.0  # off until measured to help; penalises frame-to-frame jumps over temporal_epsilon
    temporal_epsilon: float = 20.0  # px a body part may move between frames for free (a fast step at 30 fps)
    pca_weight: float = 0.0  # off until measured to help; pose PCA (99 % of the labelled poses' variance)
    pca_epsilon: float | None = None  # null: the fit's suggestion, the labelled poses' 99th-percentile error
    multiview_weight: float = 0.0  # off until measured to help; views of the same points (nose_top/nose_bot)
    multiview_epsilon: float | None = None  # null: the fit's suggestion, as for pca_epsilon
    view_pairs: tuple[tuple[str, ...], ...] = ()  # groups of body parts seen in several views; empty: *_top/*_bot
    clip_frames: int = 8  # consecutive frames per clip: as many unlabelled frames as a labelled batch of 8
    clips_per_step: int = 1  # clips per training step; each costs a seek and clip_frames decodes
    every_steps: int = 1  # clips on every k-th step only: each clip step costs about a labelled batch more
    start_fraction: float = 0.0  # share of the run before the losses start (early predictions mean nothing)
    keypoint_window: int | None = 3  # cells around each peak giving the judged position; null: the whole map

    def __post_init__(self) -> None:
        for name in ("temporal_weight", "pca_weight", "multiview_weight", "temporal_epsilon"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                _fail(f"unlabelled.{name}", "a number >= 0 (0: off)" if "weight" in name else "pixels >= 0", value)
        for name in ("pca_epsilon", "multiview_epsilon"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                _fail(f"unlabelled.{name}", "pixels >= 0, or null for the fit's suggestion", value)
        if self.clip_frames < 1:
            _fail("unlabelled.clip_frames", "an integer >= 1", self.clip_frames)
        if self.temporal_weight > 0 and self.clip_frames < 2:
            _fail("unlabelled.clip_frames", "at least 2 for the temporal loss (or temporal_weight 0)", self.clip_frames)
        if self.clips_per_step < 1:
            _fail("unlabelled.clips_per_step", "an integer >= 1", self.clips_per_step)
        if self.every_steps < 1:
            _fail("unlabelled.every_steps", "an integer >= 1 (1: every step)", self.every_steps)
        if not (math.isfinite(self.start_fraction) and 0.0 <= self.start_fraction < 1.0):
            _fail("unlabelled.start_fraction", "a number in [0, 1) (0: from the start)", self.start_fraction)
        if self.keypoint_window is not None and (self.keypoint_window < 1 or self.keypoint_window % 2 == 0):
            _fail(
                "unlabelled.keypoint_window",
                "an odd number of cells >= 1, or null for the whole map",
                self.keypoint_window,
            )
        for group in self.view_pairs:
            if len(group) < 2 or len(set(group)) != len(group) or len(group) != len(self.view_pairs[0]):
                _fail(
                    "unlabelled.view_pairs",
                    "groups of 2 or more different body parts, all of one size, like [[nose_top, nose_bot]]",
                    [list(g) for g in self.view_pairs],
                )

    @property
    def enabled(self) -> bool:
        """Whether any unlabelled loss is on."""
        return self.temporal_weight > 0 or self.pca_weight > 0 or self.multiview_weight > 0


@dataclass(frozen=True)
class Recipe:
    """A training recipe: top-level choices plus one section per topic (see the module notes)."""

    model: ModelSection = field(default_factory=ModelSection)
    crop_size: tuple[int, int] = (192, 192)  # width, height; 1.7x the images/s of 256 and better (1.91 vs 2.08 px)
    analysis_window: tuple[int, int] | None = None  # tracking window (network px); null: crop x 7/6 (animals: none)
    batch_size: int = 8  # small batches suit 2-core CPUs; the moving average smooths their noise
    seed: int = 42  # initialisation and augmentation; the split has its own seed
    optimizer: OptimizerSection = field(default_factory=OptimizerSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    targets: TargetsSection = field(default_factory=TargetsSection)
    augmentation: AugmentationSection = field(default_factory=AugmentationSection)
    runtime: RuntimeSection = field(default_factory=RuntimeSection)
    checkpoints: CheckpointsSection = field(default_factory=CheckpointsSection)
    unlabelled: UnlabelledSection = field(default_factory=UnlabelledSection)

    def __post_init__(self) -> None:
        if len(self.crop_size) != 2 or any(v < 1 for v in self.crop_size):
            _fail("crop_size", "[width, height] in pixels >= 1", list(self.crop_size))
        if self.analysis_window is not None and (
            len(self.analysis_window) != 2 or any(v < 1 for v in self.analysis_window)
        ):
            _fail("analysis_window", "[width, height] in pixels >= 1, or null", list(self.analysis_window))
        if self.batch_size < 1:
            _fail("batch_size", "an integer >= 1", self.batch_size)

    # --- conversion ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists, no tuples) in the layout of ``markerless.yaml``."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | Path = "recipe") -> Recipe:
        """A checked recipe from ``data`` (missing keys take their defaults; old flat layouts are mapped).

        Raises:
            RecipeError: an unknown key (with the closest valid name), a wrong type or a value out of
                range; the message starts with ``source`` (the file).
        """
        try:
            if not isinstance(data, Mapping):
                raise RecipeError(f"must be a mapping of keys to values, got {type(data).__name__}.")
            return _build(cls, _unflatten(data, source), "")
        except RecipeError as err:
            raise RecipeError(f"{source}: {err}") from None

    def with_overrides(self, changes: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Recipe:
        """A copy with values replaced, checked like a file.

        Keys are field names (``net``, ``batch_size``, ``epochs``, ``lr``: each is unique across the
        sections) or dotted paths (``"targets.sigma"``); a value ``None`` is a value (``max_minutes=None``
        removes the time budget).
        """
        data = self.to_dict()
        for key, value in {**(changes or {}), **kwargs}.items():
            path = _FIELD_PATHS.get(key) or _dotted_path(key)
            node = data
            for name in path[:-1]:
                node = node[name]
            node[path[-1]] = _plain(value)
        return Recipe.from_dict(data, source="recipe overrides")


def _plain(value: Any) -> Any:
    """Tuples become lists, recursively (what YAML and JSON write)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(Recipe)[f.name]
    for f in dataclasses.fields(Recipe)
    if dataclasses.is_dataclass(typing.get_type_hints(Recipe)[f.name])
}
_TOP_FIELDS = [f.name for f in dataclasses.fields(Recipe) if f.name not in _SECTIONS]

#: Every field name (unique across sections) -> its path in the recipe.
_FIELD_PATHS: dict[str, tuple[str, ...]] = {name: (name,) for name in _TOP_FIELDS}
for _section, _cls in _SECTIONS.items():
    for _f in dataclasses.fields(_cls):
        assert _f.name not in _FIELD_PATHS, f"recipe field {_f.name} is not unique"
        _FIELD_PATHS[_f.name] = (_section, _f.name)

#: Keys of old flat recipe files that now live in a section (read from old files, never written).
FLAT_KEYS = frozenset(
    {
        *("net", "pretrained", "input_scale", "output_stride", "head_channels", "epochs", "max_minutes"),
        *("ema_decay", "amp", "channels_last", "eval_batch_size", "eval_every_epochs", "save_every_epochs"),
        *("save_every_minutes", "keep_snapshots"),
    }
)

#: Keys of old flat recipe files that are dropped (with a warning): nothing reads them any more.
OBSOLETE_KEYS = {
    "device": "pass --device to `markerless train`",
    "pcutoff": "training evaluation uses the project's pcutoff in config.yaml",
    "eval_at_minutes": "pass evaluate_at_minutes to train()",
}


def _dotted_path(key: str) -> tuple[str, ...]:
    path = tuple(key.split("."))
    if len(path) == 2 and path[0] in _SECTIONS and path[1] in _FIELD_PATHS and _FIELD_PATHS[path[1]] == path:
        return path
    if len(path) == 1 and path[0] in _SECTIONS:
        raise RecipeError(f"'{key}' is a section; override its fields ('{key}.<name>') one by one.")
    raise RecipeError(f"unknown recipe key '{key}'{_closest(key, [*_FIELD_PATHS, *_dotted_names()])}")


def _dotted_names() -> list[str]:
    return [".".join(p) for p in _FIELD_PATHS.values() if len(p) == 2]


def _closest(key: str, valid: list[str], prefix: str = "") -> str:
    """The closest valid name to ``key`` as the end of an error message."""
    return "; " + did_you_mean(key, {name: f"{prefix}{name}" for name in valid})


def _closest_top(key: str) -> str:
    """The closest section or field to a top-level ``key``, a field named by its path (``schedule.epochs``)."""
    paths = {name: ".".join(path) for name, path in _FIELD_PATHS.items()} | {name: name for name in _SECTIONS}
    return "; " + did_you_mean(key, paths)


def _unflatten(data: Mapping[str, Any], source: str | Path) -> dict[str, Any]:
    """``data`` in the sectioned layout: flat keys of older files moved into their sections."""
    out: dict[str, Any] = {}
    obsolete = []
    for key, value in data.items():
        key = str(key)
        if key in _SECTIONS or key in _TOP_FIELDS:
            if key in _SECTIONS and isinstance(value, Mapping) and isinstance(out.get(key), dict):
                out[key].update(value)  # a flat key of this section came first
            else:
                out[key] = dict(value) if isinstance(value, Mapping) else value
        elif key in OBSOLETE_KEYS:
            obsolete.append(key)
        elif key in FLAT_KEYS:  # a key of the old flat layout: net, epochs, ema_decay...
            section, name = _FIELD_PATHS[key]
            node = out.setdefault(section, {})
            if not isinstance(node, dict):
                raise RecipeError(f"'{section}' must be a section of keys and values, got {node!r}.")
            node.setdefault(name, value)
        else:
            raise RecipeError(f"unknown recipe key '{key}'{_closest_top(key)}")
    if obsolete:
        warnings.warn(
            f"{source}: recipe keys {obsolete} of an older markerless are no longer used and were dropped ("
            + "; ".join(f"{k}: {OBSOLETE_KEYS[k]}" for k in obsolete)
            + "); save the recipe again to remove them.",
            stacklevel=4,
        )
    return out


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    """An instance of dataclass ``cls`` from ``data``, every value checked against the field's type."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise RecipeError(f"unknown recipe key '{prefix}{key}'{_closest(str(key), names, prefix)}")
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, Mapping):
                raise RecipeError(f"'{prefix}{key}' must be a section of keys and values, got {value!r}.")
            kwargs[key] = _build(kind, value, f"{prefix}{key}.")  # type: ignore[arg-type]
        else:
            kwargs[key] = _convert(value, kind, f"{prefix}{key}")
    return cls(**kwargs)


#: Scalar field types -> (Python types accepted from YAML, how the message names them).
_SCALARS: dict[Any, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"),
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
    str: ((str,), "a text"),
}


def _convert(value: Any, kind: Any, key: str) -> Any:
    """``value`` as type ``kind`` (ints accepted for floats, lists for tuples), else a RecipeError."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, key)
            except RecipeError:
                continue
        _fail(key, " or ".join(_describe(a) for a in args), value)
    if origin is Literal:
        if value not in args:
            _fail(key, "one of " + ", ".join(map(str, args)), value)
        return value
    if origin is tuple:
        return _convert_tuple(value, kind, key)
    accepted, words = _SCALARS[kind]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accepted):
        _fail(key, words, value)
    return kind(value)


def _convert_tuple(value: Any, kind: Any, key: str) -> tuple[Any, ...]:
    args = typing.get_args(kind)
    if not isinstance(value, list | tuple):
        _fail(key, _describe(kind), value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(v, args[0], key) for v in value)
    if len(value) != len(args):
        _fail(key, _describe(kind), value)
    return tuple(_convert(v, a, key) for v, a in zip(value, args, strict=True))


def _describe(kind: Any) -> str:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is type(None):
        return "null"
    if origin is tuple:
        if typing.get_origin(args[0]) is tuple:
            return "a list of lists"
        item = _SCALARS[args[0]][1].removeprefix("a ").removeprefix("an ")
        count = "" if len(args) == 2 and args[1] is Ellipsis else f"{len(args)} "
        return f"a list of {count}{item}s"
    return _SCALARS[kind][1] if kind in _SCALARS else str(kind)


def read_recipe(path: str | Path) -> Recipe:
    """Read and check a ``markerless.yaml`` recipe (missing keys take their defaults)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise RecipeError(f"The recipe {path} is missing; run `markerless create-training-dataset` again.") from None
    except yaml.YAMLError as err:
        raise RecipeError(f"The recipe {path} is not valid YAML ({err}); fix or delete it.") from None
    return Recipe.from_dict(data, source=path)


def write_recipe(path: str | Path, recipe: Recipe, notes: list[str] | tuple[str, ...] = ()) -> None:
    """Write a recipe atomically, every key spelled out, with a header saying what the file is (and ``notes``:
    why its values were chosen, as comment lines)."""
    why = "".join(f"# {line}\n" for line in notes)
    write_text(path, _HEADER + why + yaml.safe_dump(recipe.to_dict(), sort_keys=False))


# --- the recipe fitted to the data ---------------------------------------------------------------
# The field defaults above suit a small animal roaming a top-down arena (openfield). fit_recipe keeps
# them there and changes the crop, scale and geometric augmentation where the labels say otherwise.

FIT_MARGIN_PX = 24  # network pixels between the animal's box and the crop's edge (the analysis window's margin too)
FIT_MAX_CROP = 256  # largest crop side in network pixels; a larger animal is scaled down to fit
FIT_MIN_CROP = 192  # smallest crop side (unless the image is smaller): the one tuned on openfield; no smaller measured
WINDOW_GROWTH = 7 / 6  # the analysis window is the crop plus a sixth: room for the animal to move within a batch
WINDOW_MAX_FRACTION = 0.6  # a tracking window covering more of the frame than this is not worth its fallbacks
FIT_GROUP_GROWTH = 1.1  # several animals: the window holds the widest labelled group grown by a tenth (see fit_recipe)
FIT_OVERHANG = 1.5  # a thin animal keeps full resolution while its length is at most this many times the crop's inside
FREE_HEADING_DEG = 25.0  # poses turning this much (circular std) take any heading: rotate freely
ROAMING_TRAVEL = 0.5  # ... so do animals that move this many body sizes across the image
ROAMING_FILL = 0.4  # ... while spanning at most this fraction of it (a fixed close-up may still shift)
HEADING_MARGIN = 3.0  # otherwise rotations reach this many heading spreads
MIN_ROTATION_DEG = 15.0  # ... and at least this much (small camera and posture changes)
WHOLE_IMAGE_JITTER = 0.1  # a crop that holds the whole image only shifts it a little
_ALIGN = 32  # crop sides are multiples of the backbone stride


def fit_recipe(shape: DataShape, recipe: Recipe | None = None) -> tuple[Recipe, list[str]]:
    """``recipe`` (default: the defaults) with crop size, input scale, crop jitter, rotation and flips fitted
    to the labelled data, and one line per choice saying why.

    The input scale brings the animal's size (the square root of its box's area at the 95th percentile,
    the scale OKS uses) inside a :data:`FIT_MAX_CROP` crop less its margins, and its length within
    :data:`FIT_OVERHANG` times that, never below what fits the whole image: a long thin animal keeps full
    resolution. A fixed view's crop holds the animal's box at that scale with a margin (both views of a
    mirror rig together); an animal that turns gets a square crop holding a typical animal's size
    (the square root of the median box area) with a margin: smaller crops train on more images in the
    same time, which won on openfield (192 vs 256: 1.91 vs 2.08 px) and on the close-up (0.30 vs 0.37 px).
    Sides stay within :data:`FIT_MIN_CROP` and :data:`FIT_MAX_CROP`. Where the crop does not hold the
    animal's longer extent, ``analysis_window`` does, so analysis never cuts the animal.

    Several animals (``shape.group_extent``): ``analysis_window`` holds all of them instead (a square of the
    group's longer side where the animals turn or roam), grown by :data:`FIT_GROUP_GROWTH` with the
    margin on each side, or is None where such a window would cover more than :data:`WINDOW_MAX_FRACTION`
    of the image (then whole frames are analysed).

    Animals that take any heading (or roam a larger image) rotate freely and flip when the skeleton
    has left/right pairs to swap; a fixed view (side, head-fixed) rotates a few times its heading spread
    and never flips.
    """
    recipe = recipe or Recipe()
    extent, image = shape.extent, shape.image_size
    need = max(max(extent), 1.0)
    size = max(math.sqrt(extent[0] * extent[1]), need / FIT_OVERHANG, 1.0)
    scale = min(1.0, max((FIT_MAX_CROP - 2 * FIT_MARGIN_PX) / size, FIT_MAX_CROP / max(max(image), 1)))
    scale = math.floor(scale * 100) / 100

    def side(length: float, full: int) -> int:
        fitted = max(_round_up(length * scale + 2 * FIT_MARGIN_PX), FIT_MIN_CROP)
        return int(min(fitted, _round_up(full * scale), FIT_MAX_CROP))

    roams = shape.travel >= ROAMING_TRAVEL and shape.fill <= ROAMING_FILL
    turns = shape.heading_spread_deg >= FREE_HEADING_DEG
    held = extent  # what the analysis window must hold
    if turns or roams:  # any heading: a square crop holding a typical animal's size
        typical = max(math.sqrt(shape.extent_median[0] * shape.extent_median[1]), 1.0)
        extent, held = (typical, typical), (need, need)
        rotation = AugmentationSection.rotation
        hflip = AugmentationSection.hflip if shape.has_pairs else 0.0
        why = (
            f"the poses take many headings (spread {shape.heading_spread_deg:.0f} deg)"
            if turns
            else f"the animal roams the image (travel {shape.travel:.1f} body sizes, spans {shape.fill:.0%} of it)"
        )
        flips = "flips swap left/right pairs" if hflip else "no flips: no left/right pairs to swap"
    else:
        rotation = min(max(round(HEADING_MARGIN * shape.heading_spread_deg), MIN_ROTATION_DEG), 180.0)
        hflip = 0.0
        why = (
            f"a fixed view: heading spread {shape.heading_spread_deg:.0f} deg, the animal moves "
            f"{shape.travel:.1f} body sizes and spans {shape.fill:.0%} of the image"
        )
        flips = "no flips: the camera never shows the mirrored scene"
    crop = (side(extent[0], image[0]), side(extent[1], image[1]))
    window = tuple(
        int(min(_round_up(length * scale + 2 * FIT_MARGIN_PX), _round_up(full * scale)))
        for length, full in zip(held, image, strict=True)
    )
    default_window = [c * WINDOW_GROWTH for c in crop]
    analysis_window = window if any(w > d for w, d in zip(window, default_window, strict=True)) else None
    window_note = (
        f"analysis window {analysis_window[0]}x{analysis_window[1]}: holds the animal's {need:.0f} px length at p95"
        if analysis_window
        else ""
    )
    if shape.group_extent is not None:
        analysis_window, window_note = _group_window(shape.group_extent, image, scale, turns or roams)
    whole = all(c >= full * scale for c, full in zip(crop, image, strict=True))
    jitter = min(WHOLE_IMAGE_JITTER, recipe.augmentation.crop_jitter) if whole else recipe.augmentation.crop_jitter
    fitted = recipe.with_overrides(
        crop_size=list(crop),
        analysis_window=analysis_window,
        input_scale=scale,
        crop_jitter=jitter,
        rotation=float(rotation),
        hflip=hflip,
    )
    notes = [
        f"measured: {shape.describe()}",
        f"crop {crop[0]}x{crop[1]} at input scale {scale:g}: holds "
        + (
            f"a typical animal ({shape.extent_median[0]:.0f}x{shape.extent_median[1]:.0f} px, any heading)"
            if held[0] == held[1] == need and extent != held
            else f"the animal ({shape.extent[0]:.0f}x{shape.extent[1]:.0f} px at p95)"
        )
        + f" with a {FIT_MARGIN_PX} px margin, or the whole image"
        + (f"; {window_note}" if window_note else ""),
        f"crop jitter {jitter:g} of the crop"
        + (": the crop holds the whole image, jitter only shifts it" if whole else ": the crop follows the animal"),
        f"rotation +-{rotation:g} deg: {why}; {flips}",
    ]
    return fitted, notes


def _group_window(
    group: tuple[float, float], image: tuple[int, int], scale: float, any_direction: bool
) -> tuple[tuple[int, int] | None, str]:
    """The analysis window (network pixels) holding every animal of an image, or None when it is not worth it,
    and the line saying why.

    The window holds the widest box of all animals over the labelled frames, grown by :data:`FIT_GROUP_GROWTH`:
    the labelled frames are a sample of the videos, whose animals now and then spread wider; a frame where
    they spread past the window is analysed whole (never cut), so the growth only needs to cover most
    frames, and each tenth more window costs a fifth more pixels on every frame.
    """
    longest = max(group)
    held = (longest, longest) if any_direction else group
    window = tuple(_round_up(length * FIT_GROUP_GROWTH * scale + 2 * FIT_MARGIN_PX) for length in held)
    worth = window_worth((window[0], window[1]), (image[0] * scale, image[1] * scale))
    what = (
        f"all animals within {group[0]:.0f}x{group[1]:.0f} px (the widest labelled group"
        + (", any direction" if any_direction else "")
        + f") grown by {FIT_GROUP_GROWTH - 1:.0%} (the videos' animals may spread wider than the labelled frames'; "
        f"a frame where they spread past the window is analysed whole) with a {FIT_MARGIN_PX} px margin"
    )
    if not worth:
        return None, f"no analysis window: one holding {what} would cover over {WINDOW_MAX_FRACTION:.0%} of the image"
    return (int(window[0]), int(window[1])), f"analysis window {window[0]}x{window[1]}: holds {what}"


def window_worth(
    window: tuple[float, float], frame: tuple[float, float], max_fraction: float = WINDOW_MAX_FRACTION
) -> bool:
    """Whether a tracking window (width, height) is small enough against a frame (width, height) to be worth
    analysing in: smaller on both sides, and at most ``max_fraction`` of its area."""
    return window[0] < frame[0] and window[1] < frame[1] and window[0] * window[1] <= max_fraction * frame[0] * frame[1]


def _round_up(value: float) -> int:
    return int(math.ceil(value / _ALIGN - 1e-9) * _ALIGN)
