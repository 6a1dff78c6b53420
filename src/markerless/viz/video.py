"""Labelled videos: the predictions drawn on every frame (points, skeleton, trails), as DeepLabCut does.

Output ``<stem><scorer>_labeled.mp4`` (``<stem><scorer>_filtered_labeled.mp4`` for filtered
predictions, ``_el`` before those for multi-animal tracks) beside the prediction file, i.e. beside the
video or in ``dest``. Frames are decoded and encoded in OpenCV's BGR order and drawn with OpenCV, so
no colour conversion is done per frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from tqdm import tqdm

from markerless.errors import ConfigError
from markerless.io.video import VideoReader, VideoWriter
from markerless.model.poses import Poses
from markerless.project.prediction_files import load_predictions, project_prediction_files
from markerless.project.project import DEFAULT_PCUTOFF
from markerless.viz.draw import draw_poses, named_color, pose_colors

_SHIFT = 4  # OpenCV sub-pixel bits for trails


def _trail_segments(xy: np.ndarray, shown: np.ndarray) -> list[np.ndarray]:
    """Line segments ``(2, 1, 2)`` int fixed-point between consecutive shown positions of one point."""
    ok = shown[:-1] & shown[1:]
    if not ok.any():
        return []
    fixed = np.round(np.where(shown[:, None], xy, 0.0) * (1 << _SHIFT)).astype(np.int32)
    pairs = np.stack([fixed[:-1][ok], fixed[1:][ok]], axis=1)  # (M, 2, 2)
    return list(pairs[:, :, None, :])


def draw_trails(
    image: np.ndarray, history: np.ndarray, shown: np.ndarray, colors: np.ndarray, width: int = 1
) -> np.ndarray:
    """Draw each point's recent path in place: ``history (N, individuals, keypoints, 2)`` oldest first.

    ``shown`` is bool ``(N, individuals, keypoints)``; ``colors`` ``(individuals, keypoints, 3)`` in the
    image's channel order. Returns ``image``.
    """
    n_ind, n_kp = history.shape[1:3]
    for ind in range(n_ind):
        for kp in range(n_kp):
            segments = _trail_segments(history[:, ind, kp], shown[:, ind, kp])
            if segments:
                color = tuple(int(c) for c in colors[ind, kp])
                cv2.polylines(image, segments, False, color, width, cv2.LINE_AA, _SHIFT)
    return image


def render_frame(
    frame: np.ndarray,
    poses: Poses,
    row: int,
    *,
    pcutoff: float,
    colors: np.ndarray,
    dot_size: float = 8,
    draw_skeleton: bool = True,
    skeleton_color: str | None = None,
    trail: int = 0,
    bgr: bool = True,
) -> np.ndarray:
    """One frame with the poses of row ``row`` drawn (in place).

    ``colors`` ``(individuals, keypoints, 3)`` are in the frame's channel order; ``bgr`` says whether
    that order is BGR (for the named ``skeleton_color``).

    Points whose likelihood is under ``pcutoff`` (or NaN) are hidden, in the trail too.
    """
    data = poses.data
    shown = data[..., 2] >= pcutoff  # NaN compares False
    if trail > 0 and row > 0:
        lo = max(row - trail, 0)
        draw_trails(frame, data[lo : row + 1, ..., :2], shown[lo : row + 1], colors, width=max(1, round(dot_size / 6)))
    color = None if skeleton_color is None else named_color(skeleton_color)
    if color is not None and bgr:
        color = color[::-1]
    return draw_poses(
        frame,
        data[row, ..., :2],
        poses.layout,
        visible=shown[row],
        colors=colors,
        dot_size=dot_size,
        skeleton=draw_skeleton,
        skeleton_color=color,
        line_width=max(1, round(dot_size / 6)),
        copy=False,
    )


def label_video(
    video: str | os.PathLike[str],
    poses: Poses,
    output: str | os.PathLike[str],
    *,
    pcutoff: float | None = None,
    trail: int = 0,
    draw_skeleton: bool = True,
    color_by: Literal["bodypart", "individual"] = "bodypart",
    colormap: str = "rainbow",
    dot_size: float = 8,
    skeleton_color: str | None = None,
    codec: str = "mp4v",
    batch_size: int = 32,
) -> Path:
    """Write ``video`` with ``poses`` drawn on it to ``output`` (atomically); returns ``output``.

    Points under ``pcutoff`` are hidden (None: :data:`~markerless.project.project.DEFAULT_PCUTOFF`).
    Frames without a row in ``poses`` are copied unchanged. Shows a progress bar.
    """
    pcutoff = DEFAULT_PCUTOFF if pcutoff is None else float(pcutoff)

    if color_by not in ("bodypart", "individual"):
        raise ConfigError(f"color_by must be 'bodypart' or 'individual', not {color_by!r}.")
    if trail < 0:
        raise ConfigError(f"The trail length must be >= 0 frames; got {trail}.")
    colors = np.ascontiguousarray(pose_colors(poses.layout, colormap, color_by)[..., ::-1])  # RGB -> BGR
    output = Path(output)
    with VideoReader(video, color="bgr") as reader:
        rows = np.full(reader.n_frames, -1, dtype=np.int64)
        inside = (poses.frames >= 0) & (poses.frames < reader.n_frames)
        rows[poses.frames[inside]] = np.flatnonzero(inside)
        fps = reader.fps or poses.fps or 30.0
        with (
            VideoWriter(output, fps, (reader.width, reader.height), codec=codec, color="bgr") as writer,
            tqdm(total=reader.n_frames, desc=f"labelling {Path(video).name}", unit="frame", disable=None) as bar,
        ):
            for indices, frames in reader.iter_batches(batch_size):
                for frame, index in zip(frames, indices, strict=True):
                    row = rows[index]
                    if row >= 0:
                        render_frame(
                            frame,
                            poses,
                            int(row),
                            pcutoff=pcutoff,
                            colors=colors,
                            dot_size=dot_size,
                            draw_skeleton=draw_skeleton,
                            skeleton_color=skeleton_color,
                            trail=trail,
                        )
                writer.write_batch(frames)
                bar.update(len(indices))
    return output


def labeled_video_path(prediction: Path) -> Path:
    """Where the labelled video of a prediction file goes: ``<prediction stem>_labeled.mp4`` beside it."""
    return prediction.with_name(f"{prediction.stem}_labeled.mp4")


def create_labeled_video(
    config: str | os.PathLike[str],
    videos: Sequence[str | os.PathLike[str]] | str,
    shuffle: int = 1,
    filtered: bool = False,
    pcutoff: float | None = None,
    trail: int = 0,
    draw_skeleton: bool = True,
    color_by: Literal["bodypart", "individual"] = "bodypart",
    dest: str | os.PathLike[str] | None = None,
    codec: str = "mp4v",
) -> list[Path]:
    """Write a labelled video for each video from its (optionally filtered) predictions.

    Args:
        config: the project's ``config.yaml`` (or folder); ``pcutoff``, ``colormap``, ``dotsize`` and
            ``skeleton_color`` come from it.
        videos: video files or folders of videos.
        shuffle: the shuffle whose predictions are drawn.
        filtered: draw ``..._filtered.h5`` predictions (from ``markerless filter``).
        pcutoff: hide points under this likelihood (default: the config's ``pcutoff``).
        trail: also draw each point's path over the last ``trail`` frames.
        draw_skeleton: draw the config's skeleton edges.
        color_by: one colour per body part or per individual.
        dest: the folder holding the predictions (default: beside each video); the video goes there.
        codec: FourCC of the output (``mp4v`` for ``.mp4``).

    Returns:
        The written ``<stem><scorer>[_el][_filtered]_labeled.mp4`` paths.
    """

    project, pairs = project_prediction_files(config, videos, shuffle, filtered=filtered, dest=dest)
    cfg = project.config
    cutoff = project.pcutoff if pcutoff is None else float(pcutoff)
    written = []
    for video, prediction in pairs:
        poses = load_predictions(project, prediction)
        written.append(
            label_video(
                video,
                poses,
                labeled_video_path(prediction),
                pcutoff=cutoff,
                trail=trail,
                draw_skeleton=draw_skeleton,
                color_by=color_by,
                colormap=str(cfg.get("colormap") or "rainbow"),
                dot_size=float(cfg.get("dotsize") or 8),
                skeleton_color=cfg.get("skeleton_color"),
                codec=codec,
            )
        )
    return written


__all__ = ["create_labeled_video", "draw_trails", "label_video", "labeled_video_path", "render_frame"]
