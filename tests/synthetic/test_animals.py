"""Tests of the synthetic animals: determinism, exact keypoints on the drawn animal, left/right, occlusion."""

from __future__ import annotations

import numpy as np
import pytest

from markerless.synthetic import BODYPARTS, make_scene, render_animals
from markerless.synthetic.render import draw_frames, render_scene, render_view

SIZE = (160, 120)


def test_same_seed_same_video_other_seed_other_video() -> None:
    frames, poses, occluded = render_animals(12, SIZE, n_animals=2, seed=3)
    again = render_animals(12, SIZE, n_animals=2, seed=3)
    np.testing.assert_array_equal(frames, again[0])
    np.testing.assert_array_equal(poses.data, again[1].data)
    np.testing.assert_array_equal(occluded, again[2])
    other = render_animals(12, SIZE, n_animals=2, seed=4)
    assert not np.array_equal(poses.data, other[1].data)
    assert frames.shape == (12, SIZE[1], SIZE[0], 3) and frames.dtype == np.uint8
    assert poses.data.shape == (12, 2, len(BODYPARTS), 3) and occluded.shape == (12, 2, len(BODYPARTS))
    assert poses.layout.multi_animal and poses.layout.keypoint_names == BODYPARTS
    assert np.all(poses.likelihood == 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_keypoints_stay_inside_the_image(seed: int) -> None:
    scene = make_scene(300, SIZE, n_animals=3, seed=seed)
    xy = scene.keypoints()[..., :2]
    assert np.isfinite(xy).all()
    assert xy[..., 0].min() >= 0 and xy[..., 0].max() <= SIZE[0] - 1
    assert xy[..., 1].min() >= 0 and xy[..., 1].max() <= SIZE[1] - 1
    for shape in scene.shapes():  # whole outlines too, not only the keypoints
        assert shape.points[..., 0].min() >= -0.5 and shape.points[..., 0].max() <= SIZE[0] - 0.5
        assert shape.points[..., 1].min() >= -0.5 and shape.points[..., 1].max() <= SIZE[1] - 0.5


def test_keypoints_lie_on_their_body_part() -> None:
    scene = make_scene(40, (320, 240), n_animals=1, seed=5)
    frames, occluded = render_scene(scene, noise=False)
    assert not occluded.any()
    xy = np.rint(scene.keypoints()[:, 0, :, :2]).astype(int)
    look = scene.looks[0]
    f = np.arange(len(frames))
    expected = {
        "snout": look.head_color,
        "leftear": look.ear_color,
        "rightear": look.ear_color,
        "tailtip": look.tailtip_color,
    }
    for part, colour in expected.items():
        k = BODYPARTS.index(part)
        pixels = frames[f, xy[:, k, 1], xy[:, k, 0]]
        np.testing.assert_array_equal(pixels, np.broadcast_to(colour, pixels.shape), err_msg=part)
    # body parts on the trunk are on the body: its colour, a stripe's, or an anti-aliased mix of both
    for part, other in (("neck", look.head_color), ("spine", look.stripe_color), ("tailbase", look.stripe_color)):
        k = BODYPARTS.index(part)
        pixels = frames[f, xy[:, k, 1], xy[:, k, 0]].astype(float)
        body, stripe = np.array(look.body_color, float), np.array(other, float)  # the neck: head meets body
        t = np.clip(((pixels - body) @ (stripe - body)) / ((stripe - body) @ (stripe - body)), 0, 1)
        distance = np.linalg.norm(pixels - (body + t[:, None] * (stripe - body)), axis=-1)
        assert distance.max() < 4, part


def test_left_ear_is_on_the_animals_left() -> None:
    kp = make_scene(100, (320, 240), n_animals=2, seed=7).keypoints()[..., :2]
    neck = kp[..., 3, :]
    facing = kp[..., 0, :] - neck
    for k, sign in ((1, -1), (2, 1)):  # image y points down: the left of the facing direction has cross < 0
        side = kp[..., k, :] - neck
        cross = facing[..., 0] * side[..., 1] - facing[..., 1] * side[..., 0]
        assert np.all(np.sign(cross) == sign)


def test_world_frame_has_heights_below_zero() -> None:
    scene = make_scene(5, SIZE, seed=0)
    z = scene.keypoints()[..., 2]
    assert np.all(z < 0)
    assert all(np.all(s.points[..., 2] < 0) for s in scene.shapes())


def _square(x: float, y: float, n: int) -> np.ndarray:
    corners = np.array([[x, y], [x + 20, y], [x + 20, y + 20], [x, y + 20]], dtype=float)
    return np.broadcast_to(corners, (n, 4, 2))


def test_draw_frames_flags_points_covered_by_the_animal_on_top() -> None:
    background = np.zeros((60, 60, 3), np.uint8)
    polygons = [_square(5, 5, 2), _square(15, 15, 2)]
    order = np.array([[0, 1], [1, 0]])  # frame 0: animal 1 on top; frame 1: animal 0 on top
    keypoints = np.array([[[[20, 20], [8, 8]], [[30, 30], [30, 30]]]] * 2, dtype=float)  # (F, I, K, 2)
    frames, occluded = draw_frames(background, polygons, [(255, 0, 0), (0, 0, 255)], [0, 1], order, keypoints)
    assert occluded[0].tolist() == [[True, False], [False, False]]
    assert occluded[1].tolist() == [[False, False], [False, False]]
    np.testing.assert_array_equal(frames[0, 20, 20], (0, 0, 255))
    np.testing.assert_array_equal(frames[1, 20, 20], (255, 0, 0))


def test_animals_sometimes_occlude_each_other() -> None:
    scene = make_scene(200, SIZE, n_animals=3, seed=0)
    _, occluded = render_scene(scene, noise=False)
    assert 0 < occluded.mean() < 0.3
    kp = scene.keypoints()[..., :2]
    order = scene.depth_order()
    rank = np.argsort(order, axis=1)  # position of each animal in the drawing order
    f, i, k = np.nonzero(occluded)
    # an occluded point is near some other animal that is drawn later (on top)
    others = np.linalg.norm(kp[f] - kp[f, i, k][:, None, None, :], axis=-1).min(axis=-1)  # (n, I)
    above = rank[f] > rank[f, i][:, None]
    near = others < scene.looks[0].length
    assert np.all((above & near).any(axis=1))
    top = order[:, -1]
    assert not occluded[np.arange(len(top)), top].any()


def test_render_view_top_down_matches_render_scene() -> None:
    scene = make_scene(10, SIZE, n_animals=2, seed=4)
    frames, keypoints, occluded = render_view(scene, lambda p: p[..., :2], SIZE, noise=False)
    expected, expected_occluded = render_scene(scene, noise=False)
    np.testing.assert_array_equal(keypoints, scene.keypoints()[..., :2])
    np.testing.assert_array_equal(occluded, expected_occluded)
    assert np.abs(frames.astype(int) - expected).mean() < 1.0


def test_render_view_through_a_pinhole_camera_above() -> None:
    scene = make_scene(8, (320, 240), n_animals=1, seed=6)
    f, cam_height, size = 300.0, 600.0, (200, 150)

    def depth(p: np.ndarray) -> np.ndarray:
        return cam_height + p[..., 2]  # the camera looks straight down; z points down

    def project(p: np.ndarray) -> np.ndarray:
        d = depth(p)[..., None]
        return f * (p[..., :2] - np.array([160.0, 120.0])) / d + np.array([100.0, 75.0])

    frames, keypoints, occluded = render_view(scene, project, size, depth=depth, noise=False)
    assert frames.shape == (8, 150, 200, 3) and not occluded.any()
    snout = np.rint(keypoints[:, 0, BODYPARTS.index("snout")]).astype(int)
    pixels = frames[np.arange(8), snout[:, 1], snout[:, 0]]
    np.testing.assert_array_equal(pixels, np.broadcast_to(scene.looks[0].head_color, pixels.shape))
    # raised body parts project farther from the image centre than their floor point would
    floor = project(scene.keypoints() * np.array([1, 1, 0]))
    centre = np.array([100.0, 75.0])
    assert np.all(np.linalg.norm(keypoints - centre, axis=-1) >= np.linalg.norm(floor - centre, axis=-1) - 1e-9)
