"""Drawing poses on images with OpenCV: colours per body part or individual, dots, skeleton lines.

Shared by check-labels, labelled videos, evaluation images and the app's thumbnails. Images are
``uint8 (H, W, 3)`` RGB; coordinates are pixels with the centre of the top-left pixel at (0, 0).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from markerless.errors import ConfigError
from markerless.model.skeleton import PoseLayout

#: Sub-pixel bits passed to OpenCV's drawing functions (1/16 pixel precision).
_SHIFT = 4
_SCALE = 1 << _SHIFT

Color = tuple[int, int, int]


def named_color(name: str | Color) -> Color:
    """An RGB ``uint8`` triple from a matplotlib colour name (``"black"``, ``"#ff0000"``) or a triple."""
    if not isinstance(name, str):
        r, g, b = (int(c) for c in name)
        return r, g, b
    from matplotlib.colors import to_rgb

    try:
        rgb = to_rgb(name)
    except ValueError:
        raise ConfigError(
            f"Unknown colour {name!r}; use a matplotlib colour name such as 'black' or '#ff8800'."
        ) from None
    return tuple(round(255 * c) for c in rgb)  # type: ignore[return-value]


def colormap_colors(n: int, colormap: str = "rainbow") -> np.ndarray:
    """``n`` RGB ``uint8`` colours spread evenly over a matplotlib colormap (``(n, 3)``)."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[colormap]
    except KeyError:
        raise ConfigError(
            f"Unknown colormap {colormap!r}; use a matplotlib colormap name such as 'rainbow' or 'jet'."
        ) from None
    samples = cmap(np.linspace(0.0, 1.0, max(n, 1)))[:n, :3]
    return np.round(samples * 255).astype(np.uint8)


def pose_colors(
    layout: PoseLayout, colormap: str = "rainbow", by: Literal["bodypart", "individual"] = "bodypart"
) -> np.ndarray:
    """One RGB colour per ``(individual, keypoint)`` cell of ``layout``: ``(individuals, keypoints, 3)`` uint8.

    ``by="bodypart"`` colours each body part alike in every individual; ``by="individual"`` gives
    each individual one colour (unique body parts get their own).
    """
    n_ind, n_kp = layout.shape
    if by == "bodypart":
        colors = colormap_colors(n_kp, colormap)
        return np.broadcast_to(colors[None], (n_ind, n_kp, 3)).copy()
    if by == "individual":
        colors = colormap_colors(n_ind, colormap)
        return np.broadcast_to(colors[:, None], (n_ind, n_kp, 3)).copy()
    raise ValueError(f"by must be 'bodypart' or 'individual', not {by!r}")


def _fixed(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates -> OpenCV fixed-point integers (``shift=_SHIFT``)."""
    return np.round(points * _SCALE).astype(np.int64)


def draw_poses(
    image: np.ndarray,
    xy: np.ndarray,
    layout: PoseLayout,
    visible: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    dot_size: float = 8,
    skeleton: bool = True,
    skeleton_color: str | Color | None = None,
    hollow: np.ndarray | None = None,
    line_width: int = 1,
    alpha: float = 1.0,
    copy: bool = True,
) -> np.ndarray:
    """Draw keypoints (and skeleton lines) of every individual on an RGB image.

    Args:
        image: ``uint8 (H, W, 3)`` RGB image.
        xy: ``(individuals, keypoints, 2)`` positions in ``layout``; NaN points are not drawn.
        layout: names the axes of ``xy`` and holds the skeleton.
        visible: bool ``(individuals, keypoints)``; False hides a point (e.g. likelihood < pcutoff).
        colors: ``(keypoints, 3)`` or ``(individuals, keypoints, 3)`` RGB; default colour per body part.
        dot_size: dot diameter in pixels.
        skeleton: draw the skeleton's edges between visible points.
        skeleton_color: colour of the edges; default the colour of the edge's first point.
        hollow: bool ``(individuals, keypoints)``: draw these points as rings (e.g. occluded labels).
        line_width: width of skeleton lines and rings in pixels.
        alpha: opacity of what is drawn (1 = opaque).
        copy: draw on a copy (False draws into ``image``).

    Returns:
        The image with the poses drawn.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    xy = np.asarray(xy, dtype=np.float64).reshape(*layout.shape, 2)
    n_ind, n_kp = layout.shape
    shown = np.isfinite(xy).all(axis=-1) & layout.valid
    if visible is not None:
        shown &= np.asarray(visible, dtype=bool).reshape(n_ind, n_kp)
    rings = (
        np.zeros((n_ind, n_kp), dtype=bool) if hollow is None else np.asarray(hollow, dtype=bool).reshape(n_ind, n_kp)
    )
    if colors is None:
        colors = pose_colors(layout)
    colors = np.asarray(colors, dtype=np.uint8)
    if colors.ndim == 2:
        colors = np.broadcast_to(colors[None], (n_ind, n_kp, 3))
    canvas = np.ascontiguousarray(image.copy() if copy or alpha < 1 else image)
    fixed = _fixed(np.where(shown[..., None], xy, 0.0))
    radius = max(round(dot_size / 2 * _SCALE), _SCALE // 2)
    edge_color = None if skeleton_color is None else named_color(skeleton_color)
    if skeleton and layout.skeleton.edges:
        edges = layout.skeleton.edge_indices
        for ind in range(len(layout.individuals)):
            ok = shown[ind, edges[:, 0]] & shown[ind, edges[:, 1]]
            for a, b in edges[ok]:
                color = edge_color or tuple(int(c) for c in colors[ind, a])
                cv2.line(canvas, tuple(fixed[ind, a]), tuple(fixed[ind, b]), color, line_width, cv2.LINE_AA, _SHIFT)
    for ind, kp in zip(*np.nonzero(shown), strict=True):
        color = tuple(int(c) for c in colors[ind, kp])
        thickness = max(line_width, 1) if rings[ind, kp] else cv2.FILLED
        cv2.circle(canvas, tuple(fixed[ind, kp]), radius, color, thickness, cv2.LINE_AA, _SHIFT)
    if alpha < 1:
        out = image if not copy else image.copy()
        cv2.addWeighted(canvas, alpha, image, 1 - alpha, 0, dst=out)
        return out
    return canvas


__all__ = ["colormap_colors", "draw_poses", "named_color", "pose_colors"]
