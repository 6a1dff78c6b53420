"""The training recipe: every choice that shapes a model (net, crops, augmentation, schedule), in one dict.

A shuffle's recipe lives in ``<model_dir>/train/markerless.yaml``; edit it to change a choice before
training. :data:`DEFAULT_RECIPE` is the CPU-first default, chosen by measurement on a 2-core CPU with
``bench/accuracy_openfield.py`` (openfield, fixed 50 % split, 10-minute budget, test error):

* crops of 256x256: 21 images/s, 2.08 px; crops of 192x192: 36 images/s, 1.91 px (1.875 px with the
  vote-averaging decoder). The mouse (at most ~140 px long) still fits, and 1.7x more images per
  second is worth more than the context.
* rotations of up to +-180 degrees instead of +-25 (as SLEAP does for animals filmed from above): worse
  for the first 3 minutes, then better: 1.93 vs 2.14 px at 5 minutes, 1.83 vs 1.875 px at 10.
* a moving average of the weights, ``ema_decay`` 0.999 (the default): with +-180-degree rotations far
  better early and as good at the end, in a 30-minute run 1.94 vs 2.36 px at 5 minutes, 1.81 vs 2.01 at 8,
  1.82 vs 2.01 at 10, best 1.81 px (at 15 minutes; 1.82 at 30) vs 1.81 px. (0.998 with +-25 degrees:
  2.01 vs 2.14 px at 5 minutes, no better at 10.)
* heatmap targets sigma 6 px / locref weight 0.05 never left the background prior; sigma 10 /
  weight 1.0 trains (see ``targets`` below).
* input scale 0.5 with a 64-channel head: 3.10 px; bf16 autocast on this CPU: 5-20 % faster steps,
  not adopted (depthwise convolutions dominate and gain little).
* random zoom of 0.7-1.4 instead of 0.8-1.25: the net overfits the few training images less (train
  error 0.86 vs 0.94 px at 15 minutes). 30-minute runs, test error at 5 / 10 / 15 / 20 / 30 minutes:
  2.00 / 1.80 / 1.75 / 1.78 / 1.80 px (seed 42) and 1.95 / 1.81 / 1.78 / 1.80 / 1.84 px (seed 7)
  against 1.94 / 1.82 / 1.81 / 1.83 / 1.82 px with 0.8-1.25 (seed 42); a narrower 0.9-1.1 overfits more
  (1.86 px at 10 and 15 minutes, train error 0.81 px). The best snapshots (1.75, 1.78 px) analyse
  the video as fast as before (235 frames/s) and OpenVINO bf16 agrees with PyTorch fp32 to 0.19 px.

Tried on the 30-minute budget and not adopted (best test error within 30 minutes; the recipe they
changed, with zoom 0.8-1.25, reached 1.81 px, with or without the moving average):

* AdamW weight decay 0.05 instead of 1e-4 (no moving average): 1.86 px.
* EfficientNet-Lite0 (ImageNet) instead of MobileNetV2 (no moving average): 31 vs 35-38 images/s, 1.91 px.
* the cosine ending at 5 % instead of 1 % of the peak rate (with the moving average): 1.87 vs 1.94 px at
  5 minutes, best 1.80 px (at 15 minutes), 1.84 vs 1.82 px at 30: within run-to-run noise.
* heatmaps at stride 4 instead of 8 (``output_stride: 4``; with the moving average). Test error at
  5 / 10 / 15 / 20 / 30 minutes, against 1.94 / 1.82 / 1.81 / 1.83 / 1.82 px at stride 8:
  head 128 wide: 2.20 / 1.83 / 1.76 / 1.78 / 1.80 px, 32 vs 38 images/s, video analysis 178 vs 233
  frames/s; head 128-64-32 wide (``head_channels: [128, 64, 32]``, as cheap to train as stride 8):
  2.21 / 1.82 / 1.76 / 1.82 / 1.83 px, 42 images/s, analysis 205 frames/s, but OpenVINO bf16 then
  differs from PyTorch fp32 by up to 0.56 px (0.18 px at stride 8; the backbone's bf16 causes it, an
  fp32 head after a bf16 backbone changes nothing). Both reach 1.76 px at 15 minutes, below any stride-8
  checkpoint, but the narrow head with another seed (``seed: 7``) gave 2.18 / 1.88 / 1.85 / 1.83 /
  1.84 px (best 1.83): the 1.76 was the seed's luck, and 5-minute models are worse: not adopted.
* a backbone learning rate 0.3 times the head's (``optimizer.backbone_lr_factor``): 2.00 / 1.93 / 1.89 px
  at 5 / 10 / 15 minutes (stopped there), train error lower: the head overfits sooner.
* screened two at a time with one thread each (half the images of a real run, so only comparable
  with each other): input scale 1.25 with 240x240 crops reached 1.80 / 1.75 / 1.79 px at 15 / 20 / 30
  minutes, stride 4 (head 128) 1.92 / 1.77 / 1.75 px; the input scale costs 1.6x in training and in
  analysis.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from markerless.errors import TrainingError
from markerless.io.atomic import write_text

#: File name of the recipe in a shuffle's ``train`` folder.
RECIPE_FILE = "markerless.yaml"

DEFAULT_RECIPE: dict[str, Any] = {
    "net": "mobilenetv2",  # a name of markerless.nets.list_models()
    "pretrained": True,  # ImageNet weights (shipped offline) when the net has them
    "input_scale": 1.0,  # images are resized by this factor before cropping (and at inference)
    "crop_size": [192, 192],  # width, height of the training crops around the animal
    "batch_size": 8,
    "epochs": 400,  # used when no wall-clock budget is given
    "max_minutes": None,  # wall-clock training budget; the schedule follows elapsed time
    # backbone_lr_factor: the backbone's learning rate relative to the head's (the pretrained features move less)
    "optimizer": {"lr": 1e-3, "weight_decay": 1e-4, "backbone_lr_factor": 1.0},
    "schedule": {"warmup_fraction": 0.03, "final_lr_fraction": 0.01},  # linear warm-up then cosine
    "ema_decay": 0.999,  # exponential moving average of the weights (evaluated and saved); 0: off
    "output_stride": 8,  # input pixels per heatmap cell
    "head_channels": 128,  # width of the deconvolution head (64 halves its cost), or one width per deconvolution
    # px of the (scaled) input. Measured on openfield (MobileNetV2, 256 crops, 150 augmented steps):
    # sigma 6 / radius 12 / weight 0.05 never left the background prior (~70 px error);
    # sigma 10 / radius 17 / weight 1.0 reached 2.6 px on training crops.
    "targets": {"sigma": 10.0, "locref_radius": 17.0, "locref_weight": 1.0},
    "augmentation": {
        "rotation": 180.0,  # degrees, uniform in +- (any heading: animals filmed from above)
        "rotation_p": 0.7,
        "scale": [0.7, 1.4],  # random zoom; wider regularises (see the module notes)
        "crop_jitter": 0.35,  # crop centre moves up to this fraction of the crop size off the animal
        "hflip": 0.5,  # left/right body parts are swapped (skeleton symmetric pairs)
        "vflip": 0.0,
        "motion_blur": 0.15,
        "noise": 0.25,
        "brightness_contrast": 0.5,
    },
    "device": "auto",
    "amp": "auto",  # "auto": bf16 autocast on CUDA, fp32 on CPU; or "bf16", "fp16", "off"
    "channels_last": True,
    "seed": 42,
    "eval_every_epochs": 20,  # validation pixel error on the test split (time excluded from the budget)
    "eval_at_minutes": [],  # extra validations at these training minutes (benchmarks)
    "save_every_epochs": 10,
    "save_every_minutes": 2.0,  # also save when this much training time passed since the last snapshot
    "keep_snapshots": 3,
    "eval_batch_size": 8,
    "pcutoff": None,  # None: the project's config pcutoff
}


def default_recipe(**overrides: Any) -> dict[str, Any]:
    """A copy of the default recipe with top-level keys replaced."""
    recipe = copy.deepcopy(DEFAULT_RECIPE)
    unknown = set(overrides) - set(recipe)
    if unknown:
        raise TrainingError(f"Unknown recipe keys {sorted(unknown)}; known keys: {sorted(recipe)}.")
    recipe.update(overrides)
    return recipe


def merge_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """``recipe`` completed with defaults for missing keys (nested dicts merged key by key)."""
    merged = copy.deepcopy(DEFAULT_RECIPE)
    for key, value in recipe.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def read_recipe(path: str | Path) -> dict[str, Any]:
    """Read a ``markerless.yaml`` recipe, completing missing keys with the defaults."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise TrainingError(f"The recipe {path} is missing; run `markerless create-training-dataset` again.") from None
    except yaml.YAMLError as err:
        raise TrainingError(f"The recipe {path} is not valid YAML ({err}); fix or delete it.") from None
    if not isinstance(data, dict):
        raise TrainingError(f"The recipe {path} must be a mapping of keys to values.")
    return merge_recipe(data)


def write_recipe(path: str | Path, recipe: dict[str, Any]) -> None:
    """Write a recipe atomically (with a header saying what the file is)."""
    header = "# markerless training recipe: edit before `markerless train` to change a choice.\n"
    write_text(path, header + yaml.safe_dump(recipe, sort_keys=False))
