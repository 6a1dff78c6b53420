"""Deployable models: the ONNX or OpenVINO export of a trained shuffle (:mod:`.exported` makes the files)."""

from __future__ import annotations

from pathlib import Path

from markerless.analysis.exported import FORMATS
from markerless.analysis.model_source import resolve_model
from markerless.errors import ModelError, ProjectError
from markerless.io.video import VideoReader
from markerless.project.project import Project


def _default_frame_size(project: Project) -> tuple[int, int]:
    for video in project.videos:
        if Path(video).exists():
            with VideoReader(video) as reader:
                return int(reader.width), int(reader.height)
    raise ProjectError(
        f"The project {project.root} has no readable video to take the frame size from; "
        "pass frame_size=(width, height) (CLI: --frame-size W H)."
    )


def export(
    config: str | Path,
    shuffle: int = 1,
    format: str = "onnx",
    snapshot: str | Path | None = None,
    frame_size: tuple[int, int] | None = None,
) -> Path:
    """Export a trained shuffle's model for deployment; returns the ``.onnx`` or OpenVINO ``.xml`` path.

    The model takes raw BGR ``uint8`` frames of ``frame_size`` (width, height; default: the size of the
    project's first video) and returns x, y, score per keypoint in frame pixels.
    """
    if format not in FORMATS:
        raise ModelError(f"Unknown export format {format!r}; choose one of {', '.join(FORMATS)}.")
    model = resolve_model(config, shuffle, snapshot)
    size = tuple(frame_size) if frame_size else _default_frame_size(model.project)
    return model.exported(format, size)  # type: ignore[arg-type]
