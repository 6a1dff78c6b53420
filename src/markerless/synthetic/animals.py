"""Synthetic animals: what they look like, how they move, and where their body parts and outlines are.

A :class:`Scene` describes everything in *world* coordinates, independent of any camera, so the same
animals can be seen from above (``render.py``) or projected into several cameras (``cameras.py``):

* world frame: right-handed; ``x``, ``y`` on the arena floor, in the units of the top-down image
  (pixels: x to the right, y down); ``z`` points *down into the floor*, so a point ``h`` above the
  floor has ``z = -h``. Seen from above, an animal's left is therefore where a real animal's left is.
* each animal is a bendable centre line from the snout to the tail tip (arc length ``s``); body
  parts sit at fixed ``s`` (the ears beside it), outlines are ribbons of given half-widths around it.

Everything is computed for all frames at once with NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from markerless.model.skeleton import PoseLayout, Skeleton

BODYPARTS = ("snout", "leftear", "rightear", "neck", "spine", "tailbase", "tailtip")
EDGES = (
    ("snout", "leftear"),
    ("snout", "rightear"),
    ("leftear", "neck"),
    ("rightear", "neck"),
    ("neck", "spine"),
    ("spine", "tailbase"),
    ("tailbase", "tailtip"),
)
SYMMETRIC_PAIRS = (("leftear", "rightear"),)

Color = tuple[int, int, int]

# Body palette (RGB): clearly different from the floor and from the head/tail colours.
_BODY_COLORS: tuple[Color, ...] = (
    (95, 72, 58),
    (215, 215, 222),
    (60, 62, 78),
    (150, 105, 60),
    (110, 112, 120),
    (85, 40, 32),
)
_HEAD_COLOR: Color = (240, 160, 40)
_EAR_COLOR: Color = (250, 110, 170)
_TAIL_COLOR: Color = (150, 95, 110)
_TAILTIP_COLOR: Color = (40, 90, 235)


@dataclass(frozen=True)
class AnimalLook:
    """Shape and colours of one animal. Lengths are in world units (pixels of the top-down view).

    Attributes:
        length: snout to tail base along the centre line.
        width: widest body width.
        tail_length: tail base to tail tip.
        body_color, head_color, ear_color, tail_color, tailtip_color, stripe_color: RGB colours.
        stripes: arc-length fractions of ``length`` where dark bands cross the back (texture).
    """

    length: float
    width: float
    tail_length: float
    body_color: Color
    head_color: Color = _HEAD_COLOR
    ear_color: Color = _EAR_COLOR
    tail_color: Color = _TAIL_COLOR
    tailtip_color: Color = _TAILTIP_COLOR
    stripe_color: Color = (30, 30, 30)
    stripes: tuple[float, ...] = (0.5, 0.7, 0.85)

    # --- where things are along the centre line (arc length from the snout) --------------------
    @property
    def keypoint_s(self) -> np.ndarray:
        """Arc length of each body part in :data:`BODYPARTS` order (ears: the point beside which they sit)."""
        length, tail = self.length, self.tail_length
        ear = 0.24 * length
        return np.array([0.0, ear, ear, 0.32 * length, 0.62 * length, length, length + tail])

    @property
    def keypoint_side(self) -> np.ndarray:
        """Sideways offset of each body part from the centre line (positive = the animal's left)."""
        side = np.zeros(len(BODYPARTS))
        side[1], side[2] = 0.44 * self.width, -0.44 * self.width
        return side

    @property
    def keypoint_height(self) -> np.ndarray:
        """Height above the floor of each body part."""
        w = self.width
        return np.array([0.3 * w, 0.55 * w, 0.55 * w, 0.5 * w, 0.6 * w, 0.35 * w, 0.05 * w])

    @property
    def ear_radius(self) -> float:
        """Radius of the round ears."""
        return 0.19 * self.width

    @property
    def tailtip_radius(self) -> float:
        """Radius of the coloured tail-tip blob."""
        return max(0.09 * self.width, 2.0)


@dataclass(frozen=True)
class Motion:
    """How one animal moves over time (all arrays have one row per frame).

    Attributes:
        center: float64 ``(F, 2)`` floor position of the ``spine`` body part's centre-line point.
        heading: float64 ``(F,)`` direction the head points, radians (0 = +x, pi/2 = +y).
        bend: float64 ``(F,)`` body curvature, radians per world unit (positive bends towards +heading).
        tail_bend: float64 ``(F,)`` extra tail curvature, radians per world unit.
        depth: float64 ``(F,)`` stacking order: where animals overlap, the larger value is on top.
    """

    center: np.ndarray
    heading: np.ndarray
    bend: np.ndarray
    tail_bend: np.ndarray
    depth: np.ndarray


@dataclass(frozen=True)
class Shape:
    """One filled outline of one animal over all frames.

    ``points`` is float64 ``(F, P, 3)`` world coordinates of the outline's vertices in each frame;
    ``layer`` orders the shapes of one animal (drawn from low to high).
    """

    animal: int
    part: str
    points: np.ndarray
    color: Color
    layer: int


@dataclass(frozen=True)
class Scene:
    """Animals, their looks and their motion in an arena: everything needed to render any view.

    Attributes:
        size: ``(width, height)`` of the arena floor in world units (the top-down image size).
        looks: one :class:`AnimalLook` per animal.
        motions: one :class:`Motion` per animal.
        fps: frames per second of the motion.
        seed: the seed the scene was made from (renderers derive their textures and noise from it).
    """

    size: tuple[int, int]
    looks: tuple[AnimalLook, ...]
    motions: tuple[Motion, ...]
    fps: float = 30.0
    seed: int = 0
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.motions[0].center)

    @property
    def n_animals(self) -> int:
        """Number of animals."""
        return len(self.looks)

    @property
    def layout(self) -> PoseLayout:
        """Pose layout of the scene's ground truth (multi-animal when there are several animals)."""
        skeleton = Skeleton(BODYPARTS, EDGES, SYMMETRIC_PAIRS)
        if self.n_animals == 1:
            return PoseLayout(skeleton)
        return PoseLayout(skeleton, individual_names(self.n_animals), multi_animal=True)

    def keypoints(self) -> np.ndarray:
        """float64 ``(F, I, K, 3)`` world coordinates of every body part (z = minus height)."""
        if "keypoints" not in self._cache:
            points = []
            for look, motion in zip(self.looks, self.motions, strict=True):
                on_line = _along(look, motion, look.keypoint_s, look.keypoint_side)
                z = np.broadcast_to(-look.keypoint_height, on_line.shape[:2])[..., None]
                points.append(np.concatenate([on_line, z], axis=-1))
            self._cache["keypoints"] = np.stack(points, axis=1)
        return self._cache["keypoints"]

    def shapes(self) -> list[Shape]:
        """Every filled outline of every animal, animal by animal, each animal's shapes in ``layer`` order."""
        if "shapes" not in self._cache:
            self._cache["shapes"] = [
                s for i, look in enumerate(self.looks) for s in _animal_shapes(i, look, self.motions[i])
            ]
        return self._cache["shapes"]

    def depth_order(self) -> np.ndarray:
        """int64 ``(F, I)``: animals in drawing order per frame (bottom first)."""
        depth = np.stack([m.depth for m in self.motions], axis=1)
        return np.argsort(depth, axis=1, kind="stable")


def individual_names(n: int) -> tuple[str, ...]:
    """Names of the animals of a multi-animal scene (DeepLabCut's default style)."""
    return tuple(f"individual{i + 1}" for i in range(n))


# --- geometry --------------------------------------------------------------------------------------
def _centre_line(look: AnimalLook, motion: Motion, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(F, S, 2)`` of the centre line at arc lengths ``s`` and its backward direction angle ``(F, S)``.

    The line starts at the snout and runs backwards with curvature ``bend`` (plus ``tail_bend`` past
    the tail base); it is placed so that the spine point lies on ``motion.center``.
    """
    s = np.asarray(s, dtype=np.float64)
    length = look.length
    # angle of the backward direction at arc length s: integral of the curvature
    body = np.minimum(s, length)
    tail = np.maximum(s - length, 0.0)
    back = motion.heading[:, None] + np.pi
    phi = back + motion.bend[:, None] * body[None] + (motion.bend + motion.tail_bend)[:, None] * tail[None]
    # exact integral of a piecewise-constant-curvature line, sampled on a fine grid then interpolated
    grid = np.linspace(min(s.min(), 0.0), max(s.max(), length + look.tail_length), 257)
    g_body, g_tail = np.minimum(grid, length), np.maximum(grid - length, 0.0)
    g_phi = back + motion.bend[:, None] * g_body[None] + (motion.bend + motion.tail_bend)[:, None] * g_tail[None]
    mid = 0.5 * (g_phi[:, 1:] + g_phi[:, :-1])
    step = np.diff(grid)[None]
    xy = np.zeros((len(back), len(grid), 2))
    xy[:, 1:, 0] = np.cumsum(np.cos(mid) * step, axis=1)
    xy[:, 1:, 1] = np.cumsum(np.sin(mid) * step, axis=1)
    anchor = 0.62 * length
    points = np.stack([_interp_rows(grid, xy[..., d], s) for d in (0, 1)], axis=-1)
    anchor_xy = np.stack([_interp_rows(grid, xy[..., d], np.array([anchor])) for d in (0, 1)], axis=-1)
    return points - anchor_xy + motion.center[:, None, :], phi


def _interp_rows(grid: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of each row of ``values (F, G)`` (sampled at ``grid``) at ``at`` -> ``(F, len(at))``."""
    pos = np.clip(np.searchsorted(grid, at, side="right") - 1, 0, len(grid) - 2)
    frac = (at - grid[pos]) / (grid[pos + 1] - grid[pos])
    return values[:, pos] * (1 - frac) + values[:, pos + 1] * frac


def _along(look: AnimalLook, motion: Motion, s: np.ndarray, side: np.ndarray) -> np.ndarray:
    """``(F, S, 2)`` points at arc lengths ``s``, shifted sideways by ``side`` (positive = animal's left)."""
    points, phi = _centre_line(look, motion, s)
    left = np.stack([-np.sin(phi), np.cos(phi)], axis=-1)
    return points + np.asarray(side)[None, :, None] * left


def _ribbon(look: AnimalLook, motion: Motion, s0: float, s1: float, half_width, n: int = 14) -> np.ndarray:
    """Outline ``(F, 2n, 2)`` of a band around the centre line from ``s0`` to ``s1``; ``half_width(u)``, u in [0, 1]."""
    u = np.linspace(0.0, 1.0, n)
    s = s0 + (s1 - s0) * u
    hw = np.asarray(half_width(u), dtype=np.float64)
    left = _along(look, motion, s, hw)
    right = _along(look, motion, s, -hw)
    return np.concatenate([left, right[:, ::-1]], axis=1)


def _disc(center: np.ndarray, radius: float, n: int = 12) -> np.ndarray:
    """Outline ``(F, n, 2)`` of circles of ``radius`` around ``center (F, 2)``."""
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = radius * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    return center[:, None, :] + ring[None]


def _with_height(points: np.ndarray, height: float) -> np.ndarray:
    return np.concatenate([points, np.full((*points.shape[:2], 1), -height)], axis=-1)


_BODY_START, _BODY_END = 0.2, 1.04


def _body_half_width(look: AnimalLook, s: np.ndarray | float) -> np.ndarray:
    """Half-width of the (elliptic) body at arc length ``s``."""
    u = (np.asarray(s, dtype=np.float64) / look.length - _BODY_START) / (_BODY_END - _BODY_START)
    return 0.5 * look.width * (np.sqrt(np.clip(1 - (2 * u - 1) ** 2, 0, 1)) + 0.05)


def _animal_shapes(index: int, look: AnimalLook, motion: Motion) -> list[Shape]:
    length, width, tail = look.length, look.width, look.tail_length
    hw = width / 2
    kp = _along(look, motion, look.keypoint_s, look.keypoint_side)
    shapes = [
        Shape(
            index,
            "tail",
            _ribbon(look, motion, 0.96 * length, length + tail, lambda u: 0.2 * hw * (1 - u) + 0.08 * hw * u, 18),
            look.tail_color,
            0,
        ),
        Shape(index, "tailtip", _disc(kp[:, 6], look.tailtip_radius), look.tailtip_color, 1),
        Shape(
            index,
            "body",
            _ribbon(
                look,
                motion,
                _BODY_START * length,
                _BODY_END * length,
                lambda u: _body_half_width(look, length * (_BODY_START + u * (_BODY_END - _BODY_START))),
                20,
            ),
            look.body_color,
            2,
        ),
    ]
    for k, frac in enumerate(look.stripes):
        stripe_hw = 0.85 * _body_half_width(look, (frac + 0.0225) * length)
        band = _ribbon(
            look, motion, frac * length, (frac + 0.045) * length, lambda u, h=stripe_hw: np.full_like(u, h), 4
        )
        shapes.append(Shape(index, f"stripe{k}", band, look.stripe_color, 3))
    head_hw = 0.78 * hw
    shapes.append(
        Shape(
            index,
            "head",
            _ribbon(
                look,
                motion,
                -0.05 * length,
                0.38 * length,
                lambda u: head_hw * np.sin(np.clip(u, 0, 1) * np.pi * 0.62) ** 0.7 + 0.04 * hw,
                16,
            ),
            look.head_color,
            4,
        )
    )
    for k, part in ((1, "leftear"), (2, "rightear")):
        shapes.append(Shape(index, part, _disc(kp[:, k], look.ear_radius), look.ear_color, 5))
    heights = {
        "tail": 0.1 * width,
        "tailtip": 0.05 * width,
        "body": 0.6 * width,
        "head": 0.4 * width,
        "leftear": 0.55 * width,
        "rightear": 0.55 * width,
    }
    return [
        Shape(s.animal, s.part, _with_height(s.points, heights.get(s.part, 0.62 * width)), s.color, s.layer)
        for s in shapes
    ]


# --- making scenes ---------------------------------------------------------------------------------
def random_look(rng: np.random.Generator, index: int, length: float) -> AnimalLook:
    """A random animal look of about ``length`` (snout to tail base); the body colour cycles by ``index``."""
    scale = length * rng.uniform(0.92, 1.08)
    jitter = rng.integers(-12, 13, 3)
    body = _color(np.array(_BODY_COLORS[index % len(_BODY_COLORS)]) + jitter)
    n_stripes = int(rng.integers(1, 4))
    stripes = tuple(float(v) for v in np.sort(rng.uniform(0.45, 0.9, n_stripes)).round(3))
    width, tail = scale * rng.uniform(0.36, 0.42), scale * rng.uniform(0.55, 0.7)
    return AnimalLook(scale, width, tail, body, stripe_color=_color(np.array(body) * 0.45), stripes=stripes)


def _color(values: np.ndarray) -> Color:
    r, g, b = (int(v) for v in np.clip(values, 0, 255))
    return r, g, b


def random_motion(
    rng: np.random.Generator, n_frames: int, size: tuple[int, int], look: AnimalLook, fps: float = 30.0
) -> Motion:
    """A smooth random walk inside the arena: sums of slow sinusoids, facing where it goes, bending when turning."""
    width, height = size
    # farthest any outline gets from the spine point: the snout end (plus ears) or the tail tip
    reach = max(0.67 * look.length + 0.5 * look.width, 0.38 * look.length + look.tail_length + look.tailtip_radius)
    margin = np.array([reach + 2.0, reach + 2.0])
    half = np.maximum(np.array([width, height]) / 2 - margin, 1.0)
    t = np.arange(n_frames, dtype=np.float64) / fps
    n_waves = 3
    periods = rng.uniform(3.0, 9.0, (2, n_waves))
    phases = rng.uniform(0, 2 * np.pi, (2, n_waves))
    weights = rng.dirichlet(np.ones(n_waves), 2) * rng.uniform(0.75, 1.0, (2, 1))
    wave = np.sin(2 * np.pi * t[None, None] / periods[..., None] + phases[..., None])  # (2, waves, F)
    offset = np.einsum("dw,dwf->fd", weights, wave) * half
    center = np.array([width, height]) / 2 + offset
    velocity = (
        np.einsum(
            "dw,dwf->fd",
            weights * 2 * np.pi / periods,
            np.cos(2 * np.pi * t[None, None] / periods[..., None] + phases[..., None]),
        )
        * half
    )
    heading = np.unwrap(np.arctan2(velocity[:, 1], velocity[:, 0]))
    turn = np.gradient(heading) * fps if n_frames > 1 else np.zeros(n_frames)  # rad / s
    max_bend = 1.1 / look.length
    bend = np.clip(turn * 0.45 / look.length, -max_bend, max_bend)
    bend += 0.15 / look.length * np.sin(2 * np.pi * t / rng.uniform(1.5, 3.0) + rng.uniform(0, 6.3))
    tail_bend = 0.9 / look.tail_length * np.sin(2 * np.pi * t / rng.uniform(0.8, 1.6) + rng.uniform(0, 6.3)) + bend
    depth = np.sin(2 * np.pi * t / rng.uniform(4.0, 10.0) + rng.uniform(0, 6.3)) + rng.uniform(-0.3, 0.3)
    return Motion(center, heading, bend, tail_bend, depth)


def make_scene(
    n_frames: int,
    size: tuple[int, int] = (320, 240),
    n_animals: int = 1,
    seed: int = 0,
    fps: float = 30.0,
    animal_length: float | None = None,
) -> Scene:
    """A random scene (deterministic for a seed): ``n_animals`` animals walking smoothly in the arena.

    ``animal_length`` (snout to tail base) defaults to about a quarter of the smaller image side.
    """
    if n_frames < 1 or n_animals < 1:
        raise ValueError("A scene needs at least one frame and one animal.")
    rng = np.random.default_rng(seed)
    length = float(animal_length or 0.27 * min(size))
    looks = tuple(random_look(rng, i, length) for i in range(n_animals))
    motions = tuple(random_motion(rng, n_frames, size, look, fps) for look in looks)
    return Scene((int(size[0]), int(size[1])), looks, motions, float(fps), int(seed))


__all__ = [
    "BODYPARTS",
    "EDGES",
    "SYMMETRIC_PAIRS",
    "AnimalLook",
    "Motion",
    "Scene",
    "Shape",
    "individual_names",
    "make_scene",
    "random_look",
    "random_motion",
]
