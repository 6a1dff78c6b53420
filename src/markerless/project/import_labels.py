"""A project from labels that have none: a DeepLabCut-style ``CollectedData.csv`` with its images and videos.

Lightning Pose datasets (and many shared ones) hold a single-animal ``CollectedData.csv`` in DeepLabCut's
layout (scorer / bodyparts / coords headers, image paths relative to the CSV), a ``labeled-data/``
folder of images and a ``videos/`` folder, but no ``config.yaml``. :func:`import_labels` creates a
DeepLabCut-layout project around them: the videos (copied), the images under
``labeled-data/<folder>/`` (images directly under ``labeled-data/`` go to a folder named after the
dataset), the labels as ``CollectedData_<scorer>.h5/.csv`` per folder. The source is only read.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from markerless.errors import LabelFileError, ProjectError
from markerless.io.dlc import read_labels, read_table, write_labels
from markerless.model.labels import Labels
from markerless.project.project import create_project, load_project


def import_labels(
    csv: str | os.PathLike[str],
    videos: str | os.PathLike[str] | None = None,
    working_directory: str | os.PathLike[str] | None = None,
    task: str | None = None,
    experimenter: str | None = None,
    folder: str | None = None,
) -> Path:
    """Create a project from a labels file in DeepLabCut's single-animal CSV layout; returns its ``config.yaml``.

    Args:
        csv: the labels (``CollectedData.csv``); its rows name images relative to the CSV's folder.
        videos: a folder of videos (or one video) of the same set-up (default: ``videos/`` beside the CSV).
        working_directory: where the project folder is made (default: the current folder).
        task: the project's task name (default: the name of the CSV's folder).
        experimenter: the scorer (default: the CSV's scorer).
        folder: ``labeled-data`` folder for images listed without one (default: ``task``).

    Raises:
        LabelFileError: the CSV cannot be read, or an image it lists is missing.
        ProjectError: the project exists already, or there is no video.
    """
    csv = Path(csv).resolve()
    source = csv.parent
    labels = read_labels(csv)
    raw = [str(r) if not isinstance(r, tuple) else "/".join(map(str, r)) for r in read_table(csv).index]
    task = task or source.name
    folder = folder or task
    files = [source / r for r in raw]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise LabelFileError(
            f"{csv}: {len(missing)} images it lists are missing, e.g. {missing[0]}; rows must name images relative to "
            "the CSV's folder."
        )
    images = [_project_image(r, folder) for r in raw]
    if len(set(images)) != len(images):
        raise LabelFileError(f"{csv}: two rows name the same image; remove the duplicate row.")
    video_source = Path(videos) if videos is not None else source / "videos"
    if not video_source.exists():
        raise ProjectError(f"No videos at {video_source}; pass --videos with a folder of the set-up's videos.")
    names = list(labels.layout.keypoint_names)
    config = create_project(
        task,
        experimenter or labels.scorer,
        [video_source],
        working_directory=working_directory,
        bodyparts=names,
        copy_videos=True,
    )
    project = load_project(config)
    layout = project.layout
    for src, image in zip(files, images, strict=True):
        dest = Path(project.root) / image
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    imported = Labels(layout, images, labels.xy.copy(), labels.occluded.copy(), scorer=project.scorer)
    for video in sorted({Path(p).parent.name for p in images}):
        rows = np.flatnonzero([Path(p).parent.name == video for p in images])
        write_labels(
            imported.select(rows), Path(project.root) / "labeled-data" / video / f"CollectedData_{project.scorer}.h5"
        )
    return config


def _project_image(row: str, folder: str) -> str:
    """``labeled-data/<video>/<name>`` for a CSV row (``labeled-data/<name>`` gets ``folder``)."""
    parts = [p for p in row.replace("\\", "/").split("/") if p not in ("", ".")]
    video = parts[-2] if len(parts) >= 2 and parts[-2] != "labeled-data" else folder
    return f"labeled-data/{video}/{parts[-1]}"
