"""The data's shape and the recipe fitted to it: crop, input scale, rotation and flips follow the labels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.cli import main
from markerless.errors import ProjectError
from markerless.project.data_shape import measure_labels
from markerless.project.recipe import (
    FIT_GROUP_GROWTH,
    FIT_MARGIN_PX,
    FIT_MAX_CROP,
    FIT_OVERHANG,
    WINDOW_GROWTH,
    WINDOW_MAX_FRACTION,
    fit_recipe,
    read_recipe,
)
from markerless.project.shuffle import Shuffle

BODY = np.array([[0, 0], [30, -8], [30, 8], [45, 0], [80, 0], [120, 0], [170, 0]], dtype=float)  # snout..tail


def poses(n: int, *, heading_deg: float, size: float, image: tuple[int, int], travel: float, seed: int = 0):
    """``n`` poses of BODY scaled to ``size`` px long, headings uniform in +-heading_deg, centres spread over
    ``travel`` body lengths around the image centre; returns (xy (n, 1, K, 2), image sizes (n, 2))."""
    rng = np.random.default_rng(seed)
    angle = np.deg2rad(rng.uniform(-heading_deg, heading_deg, n))
    rot = np.stack([np.stack([np.cos(angle), -np.sin(angle)], -1), np.stack([np.sin(angle), np.cos(angle)], -1)], 1)
    body = (BODY - BODY.mean(0)) * size / 170
    centre = np.array(image) / 2 + rng.uniform(-0.5, 0.5, (n, 2)) * travel * size
    xy = np.einsum("nij,kj->nki", rot, body) + centre[:, None] + rng.normal(0, 1, (n, len(BODY), 2))
    return xy[:, None], np.tile(image, (n, 1))


def test_an_animal_roaming_an_arena_rotates_freely_and_flips() -> None:
    xy, sizes = poses(100, heading_deg=180, size=100, image=(640, 480), travel=3)
    shape = measure_labels(xy, sizes, has_pairs=True)
    assert shape.heading_spread_deg > 90 and shape.travel > 1
    recipe, notes = fit_recipe(shape)
    assert recipe.augmentation.rotation == 180 and recipe.augmentation.hflip == 0.5
    assert recipe.model.input_scale == 1.0
    typical = math.sqrt(shape.extent_median[0] * shape.extent_median[1])
    assert recipe.crop_size[0] == recipe.crop_size[1] >= typical + 2 * FIT_MARGIN_PX
    assert any("rotation +-180" in line for line in notes)
    assert fit_recipe(shape.__class__(**{**shape.__dict__, "has_pairs": False}))[0].augmentation.hflip == 0.0


def test_a_fixed_close_up_is_scaled_to_fit_and_neither_rotates_freely_nor_flips() -> None:
    xy, sizes = poses(60, heading_deg=4, size=700, image=(832, 747), travel=0.1)
    shape = measure_labels(xy, sizes, has_pairs=True)
    assert shape.heading_spread_deg < 5 and shape.fill > 0.8
    recipe, notes = fit_recipe(shape)
    scale = recipe.model.input_scale
    assert scale < 1
    w, h = recipe.crop_size
    assert max(w, h) <= FIT_MAX_CROP
    assert w * FIT_OVERHANG >= min(shape.extent[0] * scale, 832 * scale)
    assert h * FIT_OVERHANG >= min(shape.extent[1] * scale, 747 * scale)
    assert 0 < recipe.augmentation.rotation < 30 and recipe.augmentation.hflip == 0.0
    assert any("fixed view" in line for line in notes)


def test_a_small_animal_roaming_a_large_image_rotates_freely_even_when_its_headings_were_few() -> None:
    """Flies in a dish whose labelled frames happen to face one way still turn later."""
    xy, sizes = poses(100, heading_deg=10, size=95, image=(1024, 1024), travel=1.0)
    shape = measure_labels(xy, sizes, has_pairs=True)
    assert shape.heading_spread_deg < 10
    assert fit_recipe(shape)[0].augmentation.rotation == 180


@settings(max_examples=40, deadline=None)
@given(
    size=st.floats(20, 900),
    width=st.integers(100, 1400),
    height=st.integers(100, 1400),
    heading=st.sampled_from([3.0, 180.0]),
)
def test_the_fitted_crop_holds_the_animal_or_the_whole_image(size: float, width: int, height: int, heading: float):
    """The crop holds a typical animal (a fixed view: its box, but for a thin animal's tips); the analysis
    window holds its whole length."""
    xy, sizes = poses(30, heading_deg=heading, size=size, image=(width, height), travel=0.2)
    shape = measure_labels(xy, sizes, has_pairs=False)
    recipe, _ = fit_recipe(shape)
    scale = recipe.model.input_scale
    longest = max(shape.extent)
    typical = math.sqrt(shape.extent_median[0] * shape.extent_median[1])
    window = recipe.analysis_window or [c * WINDOW_GROWTH for c in recipe.crop_size]
    for crop, win, extent, full in zip(recipe.crop_size, window, shape.extent, (width, height), strict=True):
        assert crop % 32 == 0 and crop <= FIT_MAX_CROP
        free = recipe.augmentation.rotation == 180
        if free:
            assert crop >= min(typical * scale, full * scale) - 1e-6
        else:
            assert crop * FIT_OVERHANG >= min(extent * scale, full * scale) - 1e-6
        assert win >= min((longest if free else extent) * scale, full * scale) - 1e-6


def test_a_long_thin_animal_keeps_full_resolution() -> None:
    """A body five times longer than wide, whose length a 256 crop almost holds, is not scaled down."""
    xy, sizes = poses(40, heading_deg=180, size=290, image=(480, 360), travel=0.2)
    xy[..., 1] = (xy[..., 1] - 180) * 0.2 + 180  # flatten it: long and thin
    shape = measure_labels(xy, sizes, has_pairs=True)
    assert max(shape.extent) > FIT_MAX_CROP - 2 * FIT_MARGIN_PX
    recipe, notes = fit_recipe(shape)
    assert recipe.model.input_scale == 1.0
    assert recipe.crop_size == (192, 192)  # a typical animal's size, not its length: more images per second
    assert recipe.analysis_window is not None and min(recipe.analysis_window) >= max(shape.extent)
    assert any("analysis window" in line for line in notes)


def two_animals(spread: float, image: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two small roaming animals per image, the second up to ``spread`` px from the first in x and y."""
    xy, sizes = poses(80, heading_deg=180, size=95, image=image, travel=1.0, seed=seed)
    other, _ = poses(80, heading_deg=180, size=95, image=image, travel=0.0, seed=seed + 1)
    offset = np.random.default_rng(seed).uniform(-spread, spread, (80, 1, 1, 2))
    second = other - np.array(image) / 2 + xy.reshape(80, -1, 2).mean(axis=1)[:, None, None] + offset
    return np.concatenate([xy, second], axis=1), sizes


def test_several_animals_get_an_analysis_window_holding_all_of_them() -> None:
    """Two flies in a 1024x1024 dish: the window holds the widest labelled pair, grown, with margins."""
    xy, sizes = two_animals(120, (1024, 1024))
    shape = measure_labels(xy, sizes, has_pairs=True)
    assert shape.group_extent is not None
    points = xy.reshape(len(xy), -1, 2)
    widest = (np.nanmax(points, axis=1) - np.nanmin(points, axis=1)).max(axis=0)
    np.testing.assert_allclose(shape.group_extent, widest)
    assert max(widest) > max(shape.extent) * 1.5  # the pair spans more than one animal
    recipe, notes = fit_recipe(shape)
    scale = recipe.model.input_scale
    side = math.ceil((max(widest) * FIT_GROUP_GROWTH * scale + 2 * FIT_MARGIN_PX) / 32) * 32
    assert recipe.analysis_window == (side, side)  # square: the animals take any direction
    assert side * side <= WINDOW_MAX_FRACTION * (1024 * scale) ** 2
    assert any(f"analysis window {side}x{side}: holds all animals" in line and "grown by 10%" in line for line in notes)
    assert measure_labels(xy[:, :1], sizes, has_pairs=True).group_extent is None  # one individual: no group


def test_animals_spread_over_most_of_the_image_get_no_analysis_window() -> None:
    xy, sizes = two_animals(250, (400, 400), seed=3)
    shape = measure_labels(xy, sizes, has_pairs=True)
    recipe, notes = fit_recipe(shape)
    assert recipe.analysis_window is None
    assert any("no analysis window" in line and f"over {WINDOW_MAX_FRACTION:.0%}" in line for line in notes)


def test_missing_points_and_rarely_visible_parts_are_measured_from_what_is_visible() -> None:
    xy, sizes = poses(40, heading_deg=5, size=300, image=(400, 400), travel=0.1)
    xy[::2, 0, 6] = np.nan  # the tail tip is labelled in half the images
    xy[5, 0, :5] = np.nan  # one image shows two points only
    shape = measure_labels(xy, sizes, has_pairs=False)
    assert shape.n_poses == 40 and np.isfinite(shape.heading_spread_deg) and shape.heading_spread_deg < 10
    xy[:, 0, 1:] = np.nan
    with pytest.raises(ProjectError, match="two visible body parts"):
        measure_labels(xy, sizes, has_pairs=False)


def test_the_dataset_writes_the_fitted_recipe_with_its_reasons(tiny_config: Path, capsys) -> None:
    assert main(["create-training-dataset", str(tiny_config), "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "input scale" in out and "rotation +-" in out and "measured:" in out
    sh = Shuffle(tiny_config, 1)
    text = sh.recipe_file.read_text(encoding="utf-8")
    assert "# chosen from the training labels:" in text and "# crop " in text
    recipe = read_recipe(sh.recipe_file)
    w, h = recipe.crop_size
    assert f"# crop {w}x{h} at input scale {recipe.model.input_scale:g}" in text
    assert f"rotation +-{recipe.augmentation.rotation:g} deg" in text
    assert sh.recipe_choices() and sh.recipe_choices()[0].startswith("measured:")
