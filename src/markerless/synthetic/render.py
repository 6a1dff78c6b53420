"""Drawing synthetic animals: a textured floor, filled outlines in depth order, occlusion flags.

:func:`draw_frames` takes outlines already projected to image pixels, so the top-down view
(:func:`render_scene`) and camera views (``cameras.py``) share it: a camera module projects the
scene's 3D keypoints and outlines, orders animals by distance, and calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import cv2
import numpy as np

from markerless.model.poses import Poses
from markerless.synthetic.animals import Scene, make_scene

_SHIFT = 4  # fixed-point bits of polygon coordinates (sub-pixel outlines)
_FLOOR: tuple[int, int, int] = (188, 178, 152)
_N_NOISE = 4


def floor_texture(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A textured arena floor ``uint8 (H, W, 3)`` RGB: blotchy shading, grain, bedding specks, a wall."""
    width, height = size
    coarse = rng.normal(0.0, 1.0, (height // 24 + 2, width // 24 + 2)).astype(np.float32)
    shade = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) * 12.0
    grain = rng.normal(0.0, 4.0, (height, width)).astype(np.float32)
    floor = np.asarray(_FLOOR, np.float32)[None, None] + (shade + grain)[..., None]
    floor = np.clip(floor, 0, 255).astype(np.uint8)
    n_specks = max(1, width * height // 500)
    centers = rng.uniform((0, 0), (width, height), (n_specks, 2)).astype(np.int32)
    axes = rng.integers(1, 4, (n_specks, 2))
    angles = rng.uniform(0, 180, n_specks)
    tones = rng.integers(-45, 30, n_specks)
    for c, a, angle, tone in zip(centers, axes, angles, tones, strict=True):
        colour = tuple(int(v) for v in np.clip(np.asarray(_FLOOR) + tone, 0, 255))
        cv2.ellipse(
            floor, (int(c[0]), int(c[1])), (int(a[0]), int(a[1])), float(angle), 0, 360, colour, -1, cv2.LINE_AA
        )
    cv2.rectangle(floor, (0, 0), (width - 1, height - 1), (70, 70, 80), 3)
    return floor


def noise_bank(
    size: tuple[int, int], rng: np.random.Generator, n: int = _N_NOISE, sigma: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Sensor noise as ``(raise, lower)``, two ``uint8 (n, H, W, 3)`` banks; frame ``f`` gets ``bank[f % n]``.

    Adding ``raise`` and subtracting ``lower`` with saturation adds the (signed) noise.
    """
    width, height = size
    noise = np.rint(rng.normal(0.0, sigma, (n, height, width, 3)))
    return np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8)


def draw_frames(
    background: np.ndarray,
    polygons: Sequence[np.ndarray],
    colors: Sequence[tuple[int, int, int]],
    shape_animal: Sequence[int],
    order: np.ndarray,
    keypoints: np.ndarray | None = None,
    noise: tuple[np.ndarray, np.ndarray] | None = None,
    first_frame: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw animals over a background, frame by frame; returns ``(frames uint8 (F, H, W, 3), occluded bool (F, I, K))``.

    Args:
        background: ``uint8 (H, W, 3)`` image drawn behind everything.
        polygons: per shape, ``(F, P, 2)`` outline in image pixels (non-finite rows are skipped).
        colors: per shape, RGB colour.
        shape_animal: per shape, the animal it belongs to; an animal's shapes are drawn in list order.
        order: int ``(F, I)`` animals per frame, back to front.
        keypoints: ``(F, I, K, 2)`` image positions; a keypoint is *occluded* where another animal
            covers its pixel. Without it the occlusion array has shape ``(F, I, 0)``.
        noise: optional :func:`noise_bank`; frame ``first_frame + f`` gets its entry ``(first_frame + f) % n``.
    """
    n_frames, n_animals = order.shape
    height, width = background.shape[:2]
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    need_ids = keypoints is not None and n_animals > 1
    ids = np.zeros((n_frames, height, width), dtype=np.uint8) if need_ids else None
    by_animal = [[j for j, a in enumerate(shape_animal) if a == i] for i in range(n_animals)]
    fixed = [np.rint(np.asarray(p, dtype=np.float64) * (1 << _SHIFT)) for p in polygons]
    finite = [np.asarray(np.isfinite(p).all(axis=(1, 2))) for p in fixed]
    fixed = [np.where(np.isfinite(p), p, 0).astype(np.int32) for p in fixed]
    for f in range(n_frames):
        frame = frames[f]
        frame[...] = background
        for animal in order[f]:
            for j in by_animal[animal]:
                if not finite[j][f]:
                    continue
                cv2.fillPoly(frame, [fixed[j][f]], colors[j], cv2.LINE_AA, _SHIFT)
                if ids is not None:
                    cv2.fillPoly(ids[f], [fixed[j][f]], int(animal) + 1, cv2.LINE_8, _SHIFT)
        if noise is not None:
            pick = (first_frame + f) % len(noise[0])
            cv2.add(frame, noise[0][pick], dst=frame)
            cv2.subtract(frame, noise[1][pick], dst=frame)
    if keypoints is None:
        return frames, np.zeros((n_frames, n_animals, 0), dtype=bool)
    occluded = np.zeros(keypoints.shape[:3], dtype=bool)
    if ids is not None:
        xy = np.rint(np.nan_to_num(keypoints, nan=-1.0)).astype(np.int64)
        inside = (xy[..., 0] >= 0) & (xy[..., 0] < width) & (xy[..., 1] >= 0) & (xy[..., 1] < height)
        f_idx = np.broadcast_to(np.arange(n_frames)[:, None, None], inside.shape)
        cover = ids[f_idx, np.clip(xy[..., 1], 0, height - 1), np.clip(xy[..., 0], 0, width - 1)]
        own = (np.arange(n_animals) + 1)[None, :, None]
        occluded = inside & (cover != 0) & (cover != own)
    return frames, occluded


def top_down_keypoints(scene: Scene) -> np.ndarray:
    """``(F, I, K, 2)`` image positions of the body parts seen from straight above (world x, y)."""
    return scene.keypoints()[..., :2]


def iter_render(
    scene: Scene, chunk_size: int = 64, start: int = 0, stop: int | None = None, noise: bool = True
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Top-down view of a scene, ``chunk_size`` frames at a time: ``(frame_indices, frames, occluded)``."""
    rng = np.random.default_rng([scene.seed, 7])
    background = floor_texture(scene.size, rng)
    bank = noise_bank(scene.size, rng) if noise else None
    shapes = scene.shapes()
    keypoints = top_down_keypoints(scene)
    order = scene.depth_order()
    stop = scene.n_frames if stop is None else min(stop, scene.n_frames)
    for first in range(start, stop, chunk_size):
        last = min(first + chunk_size, stop)
        frames, occluded = draw_frames(
            background,
            [s.points[first:last, :, :2] for s in shapes],
            [s.color for s in shapes],
            [s.animal for s in shapes],
            order[first:last],
            keypoints[first:last],
            bank,
            first,
        )
        yield np.arange(first, last, dtype=np.int64), frames, occluded


def render_scene(scene: Scene, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of the top-down view: ``(frames uint8 (F, H, W, 3) RGB, occluded bool (F, I, K))``."""
    chunks = list(iter_render(scene, chunk_size=max(scene.n_frames, 1), noise=noise))
    return chunks[0][1], chunks[0][2]


def scene_poses(scene: Scene) -> Poses:
    """Exact ground truth of the top-down view as :class:`Poses` (likelihood 1)."""
    xy = top_down_keypoints(scene)
    data = np.concatenate([xy, np.ones((*xy.shape[:3], 1))], axis=-1)
    return Poses(
        data,
        scene.layout,
        scorer="groundtruth",
        fps=scene.fps,
        source="synthetic",
        metadata={"synthetic_seed": scene.seed, "n_animals": scene.n_animals},
    )


def render_view(
    scene: Scene,
    project: Callable[[np.ndarray], np.ndarray],
    size: tuple[int, int],
    depth: Callable[[np.ndarray], np.ndarray] | None = None,
    noise: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scene seen through any camera; returns ``(frames, keypoints (F, I, K, 2) pixels, occluded)``.

    ``project`` maps world points ``(..., 3)`` to pixels ``(..., 2)`` (e.g. ``Camera.project`` of
    :mod:`markerless.threed.cameras`); ``depth`` maps them to distances from the camera (e.g.
    ``lambda p: camera.to_camera(p)[..., 2]``): nearer animals are drawn over farther ones, and
    outlines with a point behind the camera are skipped. Without ``depth`` the scene's own stacking
    order is used. The floor texture is mapped onto the floor plane (``z = 0``) by its homography.
    """
    rng = np.random.default_rng([scene.seed, 7])
    floor = floor_texture(scene.size, rng)
    bank = noise_bank(size, rng) if noise else None
    width, height = scene.size
    corners = np.array([[0, 0, 0], [width, 0, 0], [width, height, 0], [0, height, 0]], dtype=np.float64)
    homography = cv2.getPerspectiveTransform(corners[:, :2].astype(np.float32), project(corners).astype(np.float32))
    background = cv2.warpPerspective(floor, homography, size, flags=cv2.INTER_LINEAR, borderValue=(40, 40, 45))
    shapes = scene.shapes()
    polygons = [project(s.points) for s in shapes]
    world = scene.keypoints()
    keypoints = project(world)
    if depth is None:
        order = scene.depth_order()
    else:
        order = np.argsort(-depth(world).mean(axis=2), axis=1, kind="stable")  # far first
        for s, poly in zip(shapes, polygons, strict=True):
            poly[(depth(s.points) <= 0).any(axis=1)] = np.nan
    frames, occluded = draw_frames(
        background, polygons, [s.color for s in shapes], [s.animal for s in shapes], order, keypoints, bank
    )
    return frames, keypoints, occluded


def render_animals(
    n_frames: int,
    size: tuple[int, int] = (320, 240),
    n_animals: int = 1,
    seed: int = 0,
    fps: float = 30.0,
    animal_length: float | None = None,
    noise: bool = True,
) -> tuple[np.ndarray, Poses, np.ndarray]:
    """Render a random scene seen from above (deterministic for a seed).

    Returns ``(frames uint8 (F, H, W, 3) RGB, ground truth Poses, occluded bool (F, I, K))`` where
    ``occluded`` marks body parts hidden by another animal.
    """
    scene = make_scene(n_frames, size, n_animals, seed, fps, animal_length)
    frames, occluded = render_scene(scene, noise=noise)
    return frames, scene_poses(scene), occluded


__all__ = [
    "draw_frames",
    "floor_texture",
    "iter_render",
    "noise_bank",
    "render_animals",
    "render_scene",
    "render_view",
    "scene_poses",
    "top_down_keypoints",
]
