"""3D pictures with matplotlib: a pose in 3D, and a labelled video of 3D tracks beside the 2D camera views."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from markerless.errors import ConfigError
from markerless.io.video import VideoReader, VideoWriter
from markerless.model.tables import frame_to_array, layout_from_columns
from markerless.threed.api import read_3d
from markerless.threed.calibration_io import load_calibration
from markerless.threed.cameras import CameraGroup
from markerless.threed.config3d import load_config3d, match_camera


def _edges(names: Sequence[str], skeleton: Sequence[Sequence[str]] | None) -> np.ndarray:
    pos = {n: i for i, n in enumerate(names)}
    pairs = [(pos[a], pos[b]) for a, b in (skeleton or []) if a in pos and b in pos]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def _segments(points: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``(individuals, keypoints, D)`` -> ``(individuals * edges, 2, D)`` line segments."""
    return points[:, edges].reshape(-1, 2, points.shape[-1])


def plot_pose_3d(
    points3d: np.ndarray,
    keypoint_names: Sequence[str] | None = None,
    skeleton: Sequence[Sequence[str]] | None = None,
    ax: Any = None,
    colormap: str = "jet",
) -> Any:
    """Scatter one frame's 3D keypoints ``(keypoints, 3)`` or ``(individuals, keypoints, 3)`` with skeleton lines."""
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    pts = np.asarray(points3d, dtype=np.float64)
    pts = pts[None] if pts.ndim == 2 else pts
    names = list(keypoint_names or [str(i) for i in range(pts.shape[1])])
    if ax is None:
        ax = plt.figure().add_subplot(projection="3d")
    colors = plt.get_cmap(colormap)(np.linspace(0, 1, pts.shape[1]))
    flat = pts.reshape(-1, 3)
    ax.scatter(flat[:, 0], flat[:, 1], flat[:, 2], c=np.tile(colors, (len(pts), 1)), s=15)
    edges = _edges(names, skeleton)
    if len(edges):
        ax.add_collection3d(Line3DCollection(_segments(pts, edges), colors="k", linewidths=1))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    return ax


def _limits(points: np.ndarray) -> list[tuple[float, float]]:
    flat = points.reshape(-1, 3)
    flat = flat[np.isfinite(flat).all(axis=1)]
    if not len(flat):
        return [(-1.0, 1.0)] * 3
    lo, hi = np.percentile(flat, 1, axis=0), np.percentile(flat, 99, axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.1
    return [(c - half, c + half) for c in centre]


def create_labeled_video_3d(
    config3d: str | os.PathLike[str],
    path3d: str | os.PathLike[str],
    videos: Sequence[str | os.PathLike[str]] | None = None,
    *,
    output: str | os.PathLike[str] | None = None,
    start: int = 0,
    end: int | None = None,
    fps: float | None = None,
    view: tuple[float, float] = (-113.0, -270.0),
    dpi: int = 80,
    figsize: tuple[float, float] = (12.0, 4.0),
) -> Path:
    """A video of the 3D tracks of ``path3d`` (a ``_3D.h5``) beside each camera's view with the projected points.

    ``videos`` are the cameras' videos (matched by camera name; views without a video are left grey).
    Writes ``<path3d stem>_labeled.mp4`` (or ``output``) and returns its path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    cfg = load_config3d(config3d)
    group: CameraGroup = load_calibration(cfg.calibration_path)
    df, _ = read_3d(path3d)
    layout = layout_from_columns(df.columns)
    points = frame_to_array(df, layout, ("x", "y", "z"))  # (F, I, K, 3)
    frames = np.asarray(df.index, dtype=np.int64)
    stop = len(points) if end is None else min(end, len(points))
    if start >= stop:
        raise ConfigError(f"No frames to draw between start={start} and end={end} ({len(points)} in {path3d}).")
    readers: dict[str, Any] = {}
    for v in videos or []:
        matched = match_camera(Path(v).name, group.names)
        if matched is not None:
            readers[matched] = VideoReader(v)
    rate = fps or next((r.fps for r in readers.values() if r.fps), None) or 30.0
    edges = _edges(layout.keypoint_names, cfg.data.get("skeleton"))
    colors = plt.get_cmap(str(cfg.data.get("colormap", "jet")))(np.linspace(0, 1, len(layout.keypoint_names)))
    point_colors = np.tile(colors, (points.shape[1], 1))
    proj = group.project(points)  # (C, F, I, K, 2)

    fig = plt.figure(figsize=figsize, dpi=dpi)
    n = len(group)
    axes2d, images, dots2d = [], [], []
    for c, cam in enumerate(group):
        ax = fig.add_subplot(1, n + 1, c + 1)
        w, h = cam.size if cam.size[0] else (640, 480)
        images.append(ax.imshow(np.full((h, w, 3), 90, np.uint8)))
        dots2d.append(ax.scatter(np.zeros(point_colors.shape[0]), np.zeros(point_colors.shape[0]), s=8, c=point_colors))
        ax.set_title(cam.name)
        ax.set_axis_off()
        axes2d.append(ax)
    ax3d = fig.add_subplot(1, n + 1, n + 1, projection="3d")
    ax3d.view_init(elev=view[0], azim=view[1])
    (xl, yl, zl) = _limits(points[start:stop])
    ax3d.set_xlim(*xl)
    ax3d.set_ylim(*yl)
    ax3d.set_zlim(*zl)
    dots3d = ax3d.scatter(*np.zeros((3, point_colors.shape[0])), s=12, c=point_colors)
    no_lines = np.full((1, 2, 3), np.mean([xl[0], xl[1]]))  # a collection cannot start empty
    lines3d = Line3DCollection(no_lines, colors="k", linewidths=1)
    ax3d.add_collection3d(lines3d, autolim=False)
    fig.tight_layout()
    out = Path(output) if output else Path(path3d).with_name(f"{Path(path3d).stem}_labeled.mp4")
    fig.canvas.draw()
    width, height = fig.canvas.get_width_height()
    try:
        with VideoWriter(out, rate, (width, height)) as writer:
            for f in tqdm(range(start, stop), desc=f"3D video {out.name}", unit="frame", disable=None):
                for c, cam in enumerate(group):
                    if cam.name in readers:
                        images[c].set_data(readers[cam.name].read(int(frames[f])))
                    dots2d[c].set_offsets(np.nan_to_num(proj[c, f].reshape(-1, 2), nan=-1e4))
                pts = points[f].reshape(-1, 3)
                dots3d._offsets3d = (pts[:, 0], pts[:, 1], pts[:, 2])
                lines3d.set_segments(_segments(points[f], edges) if len(edges) else no_lines)
                fig.canvas.draw()
                frame = np.asarray(fig.canvas.buffer_rgba())[..., :3]  # type: ignore[attr-defined]
                writer.write(np.ascontiguousarray(frame))
    finally:
        plt.close(fig)
        for r in readers.values():
            r.close() if hasattr(r, "close") else None
    return out


__all__ = ["create_labeled_video_3d", "plot_pose_3d"]
