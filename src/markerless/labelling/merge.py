"""The next iteration of the active-learning loop: refined labels folded in, a new training dataset."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from markerless.errors import ProjectError
from markerless.io.dlc import read_labels
from markerless.labelling.machine_labels import read_machine_labels
from markerless.model import Labels
from markerless.project.project import Project
from markerless.training.dataset import create_training_dataset

log = logging.getLogger(__name__)


def merge(config: str | Path, shuffle: int = 1) -> int:
    """Fold refined labels into the ground truth, start the next iteration and create its training dataset.

    Rows of DeepLabCut's ``MachineLabelsRefine.h5`` (from its refinement GUI) not yet in
    ``CollectedData_<scorer>`` are added (the markerless app saves refinements there directly).
    ``iteration`` in config.yaml is incremented and ``create_training_dataset`` run for ``shuffle``.
    Returns the new iteration.
    """
    project = Project.load(config)
    unreviewed = 0
    for video in project.video_folders():
        folder = Path(project.labeled_data_dir(video))
        labels = project.load_labels(video)
        refined = folder / "MachineLabelsRefine.h5"
        if refined.exists():
            extra = read_labels(refined, project.layout)
            images = [f"labeled-data/{video}/{p.rsplit('/', 1)[-1]}" for p in extra.images]
            extra = Labels(project.layout, images, extra.xy, extra.occluded, project.scorer)
            new = [p for p in extra.images if p not in set(labels.images)]
            if new:
                labels = labels.with_images(extra.select(new)) if len(labels) else extra.select(new)
                project.save_labels(labels, video)
        machine = read_machine_labels(folder, project.layout)
        if machine is not None:
            done = {labels.images[i] for i in np.flatnonzero(np.asarray(labels.labelled).any(axis=(1, 2)))}
            unreviewed += sum(p not in done for p in machine[0])
    if not project.load_labels().labelled.any():
        raise ProjectError(f"{project.root} has no labels yet: label frames (markerless label) before merging.")
    if unreviewed:
        log.warning(
            "%d extracted outlier frames have no labels yet; they are left out of the training set.", unreviewed
        )
    old_iteration = int(project.iteration)
    project.config["iteration"] = project.iteration = old_iteration + 1
    project.save()
    try:
        create_training_dataset(project.config_path, shuffle=shuffle)
    except BaseException:
        project.config["iteration"] = project.iteration = old_iteration  # leave the project as it was
        project.save()
        raise
    return old_iteration + 1
