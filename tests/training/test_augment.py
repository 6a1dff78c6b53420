"""Augmentation: crops around the animal, mirror flips that swap left/right, keypoints leaving the crop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.model import PoseLayout
from markerless.project.recipe import Recipe
from markerless.training.augment import Augmenter

LAYOUT = PoseLayout.single_animal(["snout", "leftear", "rightear", "tailbase"])
PERM = LAYOUT.skeleton.flip_permutation


def _plain(**kw) -> Augmenter:
    return Augmenter(crop_size=(65, 49), flip_permutation=PERM, **kw)


def _image_with_dots(kps: np.ndarray, size=(200, 150)) -> np.ndarray:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for k, (x, y) in enumerate(kps):
        if np.isfinite(x):
            image[int(y), int(x)] = (50 * (k + 1), 0, 0)
    return image


def test_identity_crop_is_a_translation_centred_on_the_animal() -> None:
    kps = np.array([[[100.0, 70.0], [96.0, 76.0], [104.0, 76.0], [100.0, 90.0]]])
    crops, out = _plain()([_image_with_dots(kps[0])], kps, np.random.default_rng(0))
    centre = kps[0].mean(axis=0)
    np.testing.assert_allclose(out[0], kps[0] - centre + [32, 24])
    for k, (x, y) in enumerate(np.round(out[0]).astype(int)):  # the pixels moved with the points
        assert crops[0, y, x, 0] == 50 * (k + 1)


def test_horizontal_flip_mirrors_and_swaps_left_and_right() -> None:
    kps = np.array([[[100.0, 70.0], [96.0, 76.0], [108.0, 76.0], [100.0, 90.0]]])
    image = _image_with_dots(kps[0])
    _, plain = _plain()([image], kps, np.random.default_rng(0))
    crops, flipped = _plain(hflip=1.0)([image], kps, np.random.default_rng(0))
    mirror = plain[0].copy()
    mirror[:, 0] = 64 - mirror[:, 0]
    # the point now called "leftear" is where the mirrored right ear is, and vice versa
    np.testing.assert_allclose(flipped[0, 1], mirror[2])
    np.testing.assert_allclose(flipped[0, 2], mirror[1])
    np.testing.assert_allclose(flipped[0, [0, 3]], mirror[[0, 3]])
    x, y = np.round(flipped[0, 1]).astype(int)
    assert crops[0, y, x, 0] == 50 * 3  # the pixel of the original right ear
    # flipping both ways is a rotation by 180 degrees: no swap
    _, both = _plain(hflip=1.0, vflip=1.0)([image], kps, np.random.default_rng(0))
    np.testing.assert_allclose(both[0], [64, 48] - plain[0], atol=1e-9)


def test_keypoints_leaving_the_crop_become_unlabelled_not_clipped() -> None:
    kps = np.array([[[100.0, 70.0], [100.0, 71.0], [np.nan, np.nan], [190.0, 140.0]]])
    aug = _plain()
    matrices, swap = aug.sample_transforms(kps, np.array([[200, 150]]), np.random.default_rng(0))
    out = aug.transform_keypoints(kps, matrices, swap)
    assert matrices.shape == (1, 2, 3) and not swap[0]
    assert np.isfinite(out[0, :2]).all()
    assert np.isnan(out[0, 2]).all()  # unlabelled stays unlabelled
    assert np.isnan(out[0, 3]).all()  # outside the 65x49 crop: unlabelled, not on the border


@settings(max_examples=40, deadline=None)
@given(
    kps=st.lists(st.tuples(st.floats(0, 199), st.floats(0, 149)), min_size=4, max_size=4),
    missing=st.lists(st.booleans(), min_size=4, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_full_augmentation_keeps_points_inside_or_unlabelled(kps, missing, seed) -> None:
    xy = np.array([kps], dtype=np.float64)
    xy[0, np.array(missing)] = np.nan
    recipe = Recipe().with_overrides(crop_size=[64, 48], vflip=0.5)
    aug = Augmenter.from_recipe(recipe, PERM)
    crops, out = aug([_image_with_dots(xy[0])], xy, np.random.default_rng(seed))
    assert crops.shape == (1, 48, 64, 3) and crops.dtype == np.uint8
    finite = np.isfinite(out[0]).all(axis=-1)
    assert (np.isnan(out[0][~finite])).all()
    assert ((out[0][finite] >= 0) & (out[0][finite] <= [63, 47])).all()
    # a point labelled before can only lose its label, never gain one: count of labelled points can only drop
    assert finite.sum() <= (~np.array(missing)).sum()


def test_same_rng_same_batch() -> None:
    recipe = Recipe().with_overrides(crop_size=[64, 48])
    aug = Augmenter.from_recipe(recipe, PERM)
    kps = np.array([[[100.0, 70.0], [96.0, 76.0], [104.0, 76.0], [100.0, 90.0]]] * 3)
    images = [np.random.default_rng(i).integers(0, 255, (150, 200, 3), dtype=np.uint8) for i in range(3)]
    a = aug(images, kps, np.random.default_rng(5))
    b = aug(images, kps, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_several_animals_keep_their_shape_and_flip_within_each_animal() -> None:
    image = np.zeros((200, 300, 3), dtype=np.uint8)
    aug = Augmenter((300, 200), np.array([1, 0, 2]), hflip=1.0)  # parts 0/1 a left/right pair; always flip
    animals = np.array([[[100, 50], [120, 50], [110, 70]], [[200, 150], [220, 150], [210, 170]]], float)
    animals[1, 2] = np.nan
    crops, out = aug([image], animals[None], np.random.default_rng(0))
    assert out.shape == (1, 2, 3, 2) and crops.shape == (1, 200, 300, 3)
    assert np.isnan(out[0, 1, 2]).all() and np.isfinite(out[0, 0]).all()
    # mirrored (x -> c - x) then swapped within each animal: part 0 is the mirror of the same animal's part 1
    assert np.allclose(out[0, :, 0, 0] - out[0, :, 1, 0], [-20, -20])
    assert np.allclose(out[0, 1, 0] - out[0, 0, 0], [-100, 100])  # animals are not mixed


def test_each_crop_is_centred_on_one_labelled_animal() -> None:
    image = np.zeros((400, 400, 3), dtype=np.uint8)
    aug = Augmenter((64, 64), np.arange(2))
    animals = np.array([[[50, 50], [60, 60]], [[300, 300], [310, 310]], [[np.nan, np.nan]] * 2])
    rng = np.random.default_rng(1)
    centres = set()
    for _ in range(20):
        _, out = aug([image], animals[None], rng)
        inside = np.flatnonzero(np.isfinite(out[0]).all(axis=(-1, -2)))
        assert len(inside) == 1 and inside[0] in (0, 1)  # the unlabelled animal is never the anchor
        centres.add(int(inside[0]))
    assert centres == {0, 1}


def test_unique_parts_never_place_the_crop_and_stay_unpaired_in_a_flip() -> None:
    image = np.zeros((400, 400, 3), dtype=np.uint8)
    keypoints = np.full((1, 3, 3, 2), np.nan)  # two animals (parts 0/1 a left/right pair) and "single" (part 2)
    keypoints[0, 0, :2] = [[50, 50], [60, 60]]
    keypoints[0, 1, :2] = [[300, 300], [310, 310]]
    keypoints[0, 2, 2] = [200, 120]
    small = Augmenter((64, 64), np.array([1, 0, 2]), anchor_parts=2)
    rng = np.random.default_rng(1)
    for _ in range(20):
        _, out = small([image], keypoints, rng)
        inside = np.flatnonzero(np.isfinite(out[0]).all(axis=-1).any(axis=-1))
        assert len(inside) == 1 and inside[0] in (0, 1)  # a crop around an animal, never around the port
    whole = Augmenter((800, 800), np.array([1, 0, 2]), hflip=1.0, anchor_parts=2)
    _, out = whole([image], keypoints, rng)
    assert np.isnan(out[0, 2, :2]).all() and np.isnan(out[0, :2, 2]).all()  # no cell appears from nowhere
    np.testing.assert_allclose(out[0, 0, 0] - out[0, 0, 1], [-10, 10])  # mirrored, the pair swapped
    np.testing.assert_allclose(out[0, 2, 2] - out[0, 0, 1], [-150, 70])  # mirrored, in its own channel
