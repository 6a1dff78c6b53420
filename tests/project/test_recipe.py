"""The typed training recipe: round trips, misspelt keys, types and ranges, old flat files, overrides."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.errors import RecipeError, TrainingError
from markerless.project.recipe import (
    FLAT_KEYS,
    OBSOLETE_KEYS,
    AugmentationSection,
    CheckpointsSection,
    ModelSection,
    OptimizerSection,
    Recipe,
    RuntimeSection,
    ScheduleSection,
    TargetsSection,
    read_recipe,
    write_recipe,
)

SECTIONS = (
    ModelSection,
    OptimizerSection,
    ScheduleSection,
    TargetsSection,
    AugmentationSection,
    RuntimeSection,
    CheckpointsSection,
)

#: A recipe file as markerless wrote it before the recipe had sections (flat keys).
OLD_FLAT = """\
net: resnet50
pretrained: true
input_scale: 1.0
crop_size: [256, 256]
batch_size: 16
epochs: 200
max_minutes: null
optimizer: {lr: 0.002, weight_decay: 0.0001, backbone_lr_factor: 1.0}
schedule: {warmup_fraction: 0.05, final_lr_fraction: 0.01}
ema_decay: 0.99
output_stride: 8
head_channels: [128, 64]
targets: {sigma: 8.0, locref_radius: 17.0, locref_weight: 1.0}
augmentation: {rotation: 25.0, rotation_p: 0.7, scale: [0.8, 1.25], crop_jitter: 0.35, hflip: 0.5, vflip: 0.0,
  motion_blur: 0.15, noise: 0.25, brightness_contrast: 0.5}
device: auto
amp: auto
channels_last: true
seed: 7
eval_every_epochs: 20
eval_at_minutes: []
save_every_epochs: 10
save_every_minutes: 2.0
keep_snapshots: 3
eval_batch_size: 8
pcutoff: null
"""


def test_defaults_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "markerless.yaml"
    write_recipe(path, Recipe())
    text = path.read_text()
    assert text.startswith("# markerless training recipe")
    assert read_recipe(path) == Recipe()
    assert list(yaml.safe_load(text)) == [f.name for f in dataclasses.fields(Recipe)]
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically


def test_the_defaults_are_the_measured_ones() -> None:
    """The values the openfield benchmark chose (docs/recipe-experiments.md); changing one changes results."""
    r = Recipe()
    assert (r.model.net, r.model.pretrained, r.model.input_scale) == ("mobilenetv2", True, 1.0)
    assert (r.model.output_stride, r.model.head_channels, r.crop_size, r.batch_size) == (8, 128, (192, 192), 8)
    assert (r.optimizer.lr, r.optimizer.weight_decay, r.optimizer.ema_decay) == (1e-3, 1e-4, 0.999)
    assert (r.schedule.epochs, r.schedule.max_minutes, r.schedule.warmup_fraction) == (400, None, 0.03)
    assert (r.targets.sigma, r.targets.locref_radius, r.targets.locref_weight) == (10.0, 17.0, 1.0)
    assert (r.augmentation.rotation, r.augmentation.scale, r.seed) == (180.0, (0.7, 1.4), 42)


def test_missing_keys_take_the_dataclass_defaults() -> None:
    """Every default lives once, in the dataclasses: a partial file is completed from them."""
    r = Recipe.from_dict({"schedule": {"epochs": 5}, "model": {"net": "resnet50"}})
    assert r.schedule == dataclasses.replace(ScheduleSection(), epochs=5)
    assert r.augmentation == AugmentationSection()
    assert Recipe.from_dict({}) == Recipe()


_fraction = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def recipes(draw: st.DrawFn) -> Recipe:
    lo = draw(st.floats(0.1, 2.0, allow_nan=False))
    minutes = draw(st.none() | st.floats(0.01, 1e4, allow_nan=False))
    return Recipe().with_overrides(
        net=draw(st.sampled_from(["mobilenetv2", "resnet50", "efficientnet_lite0"])),
        pretrained=draw(st.booleans()),
        head_channels=draw(st.integers(1, 512) | st.lists(st.integers(1, 512), min_size=1, max_size=3)),
        crop_size=draw(st.lists(st.integers(1, 1024), min_size=2, max_size=2)),
        batch_size=draw(st.integers(1, 256)),
        seed=draw(st.integers(0, 2**31)),
        epochs=draw(st.integers(1, 10_000)) if minutes is None else draw(st.none() | st.integers(1, 10_000)),
        max_minutes=minutes,
        warmup_fraction=draw(_fraction),
        hflip=draw(_fraction),
        scale=[lo, lo + draw(st.floats(0.0, 1.0, allow_nan=False))],
        amp=draw(st.sampled_from(["auto", "bf16", "fp16", "off"])),
        ema_decay=draw(st.floats(0.0, 0.9999, allow_nan=False)),
    )


@given(recipes())
@settings(max_examples=60, deadline=None)
def test_any_recipe_round_trips_through_dict_and_yaml(recipe: Recipe) -> None:
    data = recipe.to_dict()
    assert Recipe.from_dict(data) == recipe
    assert Recipe.from_dict(yaml.safe_load(yaml.safe_dump(data))) == recipe


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("batchsize: 32\n", "'batchsize'; did you mean 'batch_size'?"),
        ("schedule: {epoch: 3}\n", "'schedule.epoch'; did you mean 'schedule.epochs'?"),
        ("augmentation: {hlfip: 0.5}\n", "did you mean 'augmentation.hflip'?"),
        ("optimiser: {lr: 0.1}\n", "did you mean 'optimizer'?"),
        ("epoch: 3\n", "'epoch'; did you mean 'schedule.epochs'?"),
        ("batch_sise: 3\n", "did you mean 'batch_size'?"),
        ("lr: 0.1\n", "'lr'; did you mean 'optimizer.lr'?"),
    ],
)
def test_misspelt_keys_name_the_file_and_the_closest_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "markerless.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as err:
        read_recipe(path)
    assert str(err.value).startswith(f"{path}: unknown recipe key ")
    assert message in str(err.value)
    assert isinstance(err.value, TrainingError)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"batch_size": 0}, "'batch_size' must be an integer >= 1, got 0"),
        ({"batch_size": "8"}, "'batch_size' must be an integer"),
        ({"batch_size": 8.5}, "'batch_size' must be an integer"),
        ({"schedule": {"epochs": -2}}, "'schedule.epochs' must be an integer >= 1"),
        ({"schedule": {"max_minutes": -1}}, "'schedule.max_minutes' must be a number of minutes > 0"),
        ({"schedule": {"epochs": None}}, "Give the schedule a budget"),
        ({"augmentation": {"hflip": 1.5}}, "'augmentation.hflip' must be a probability from 0 to 1"),
        ({"augmentation": {"scale": [1.4, 0.7]}}, "'augmentation.scale' must be [min, max] zoom"),
        ({"crop_size": [192]}, "'crop_size' must be a list of 2 integers"),
        ({"crop_size": [192, 0]}, "'crop_size' must be [width, height] in pixels >= 1"),
        ({"model": {"pretrained": "yes"}}, "'model.pretrained' must be true or false"),
        ({"model": {"head_channels": [128, 0]}}, "'model.head_channels' must be a width >= 1"),
        ({"model": "mobilenetv2"}, "'model' must be a section"),
        ({"runtime": {"amp": "fp8"}}, "'runtime.amp' must be one of auto, bf16, fp16, off"),
        ({"optimizer": {"ema_decay": 1.0}}, "'optimizer.ema_decay' must be a number from 0"),
    ],
)
def test_wrong_types_and_ranges_are_refused(data: dict, message: str) -> None:
    with pytest.raises(RecipeError) as err:
        Recipe.from_dict(data, source="here.yaml")
    assert str(err.value).startswith("here.yaml: ")
    assert message in str(err.value)


def test_ints_are_accepted_for_floats_and_lists_for_pairs() -> None:
    r = Recipe.from_dict({"optimizer": {"lr": 1}, "augmentation": {"scale": [1, 2]}, "crop_size": [64, 48]})
    assert r.optimizer.lr == 1.0 and isinstance(r.optimizer.lr, float)
    assert r.augmentation.scale == (1.0, 2.0) and r.crop_size == (64, 48)


def test_an_old_flat_file_loads_with_one_warning_about_the_dropped_keys(tmp_path: Path) -> None:
    path = tmp_path / "markerless.yaml"
    path.write_text(OLD_FLAT)
    with pytest.warns(UserWarning) as caught:
        r = read_recipe(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(f"{path}: ") and all(k in message for k in ("device", "pcutoff", "eval_at_minutes"))
    assert r.model.net == "resnet50" and r.model.head_channels == (128, 64)
    assert r.crop_size == (256, 256) and r.batch_size == 16 and r.seed == 7
    assert r.schedule == ScheduleSection(epochs=200, max_minutes=None, warmup_fraction=0.05, final_lr_fraction=0.01)
    assert r.optimizer.lr == 0.002 and r.optimizer.ema_decay == 0.99
    assert r.targets.sigma == 8.0 and r.augmentation.rotation == 25.0 and r.augmentation.scale == (0.8, 1.25)
    write_recipe(path, r)  # saved again: sectioned, nothing to warn about
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_recipe(path) == r


def test_every_old_flat_key_has_a_place() -> None:
    old = set(yaml.safe_load(OLD_FLAT))
    assert old >= FLAT_KEYS
    assert old == FLAT_KEYS | set(OBSOLETE_KEYS) | {f.name for f in dataclasses.fields(Recipe)} - {
        "model",
        "runtime",
        "checkpoints",
        "unlabelled",
        "analysis_window",  # newer than the flat layout
    }
    for key in FLAT_KEYS:  # each lands in a section, under its own name
        assert any(key in {f.name for f in dataclasses.fields(section)} for section in SECTIONS)


def test_overrides_take_field_names_or_dotted_keys() -> None:
    r = Recipe().with_overrides(net="resnet50", batch_size=4, epochs=None, max_minutes=10, **{"targets.sigma": 8})
    assert (r.model.net, r.batch_size, r.schedule.epochs, r.schedule.max_minutes) == ("resnet50", 4, None, 10.0)
    assert r.targets.sigma == 8.0
    assert Recipe().with_overrides({"augmentation.vflip": 0.5}).augmentation.vflip == 0.5
    assert Recipe().with_overrides() == Recipe()
    with pytest.raises(RecipeError, match="did you mean 'batch_size'"):
        Recipe().with_overrides(batchsize=4)
    with pytest.raises(RecipeError, match=r"'schedule\.epochs' must be an integer >= 1"):
        Recipe().with_overrides(epochs=0)
    with pytest.raises(RecipeError, match="is a section"):
        Recipe().with_overrides(targets={"sigma": 8})


def test_a_recipe_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Recipe().batch_size = 4  # type: ignore[misc]


def test_missing_and_broken_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="create-training-dataset"):
        read_recipe(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        read_recipe(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(RecipeError, match="must be a mapping"):
        read_recipe(tmp_path / "list.yaml")
