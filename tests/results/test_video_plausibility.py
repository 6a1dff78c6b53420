"""The plausibility report of a prediction file: known jumps, PCA errors from the labels, the JSON beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from markerless.io.dlc import write_predictions
from markerless.model import Poses
from markerless.project.project import Project
from markerless.results.video_plausibility import (
    current_plausibility,
    label_fits,
    plausibility_line,
    plausibility_path,
    prediction_plausibility,
)
from tests.fixtures.projects import make_tiny_project


def _smooth_poses(project: Project, n_frames: int = 101) -> np.ndarray:
    """``(T, 1, K, 3)`` poses that drift slowly (1 px a frame at most) around a labelled pose."""
    labels = project.load_labels()
    start = labels.xy[0, 0]
    t = np.arange(n_frames) / 10.0
    xy = start[None] + np.stack([np.sin(t), np.cos(t)], axis=-1)[:, None, :]  # (T, K, 2)
    data = np.concatenate([xy, np.ones((*xy.shape[:-1], 1))], axis=-1)
    return data[:, None].astype(np.float32)


def test_report_counts_the_injected_jumps_and_writes_its_json(tmp_path: Path) -> None:
    project = Project.load(make_tiny_project(tmp_path))
    data = _smooth_poses(project)
    data[50, 0, 0, :2] += 30.0  # one body part away for one frame: 2 jumping frame pairs
    data[70:, 0, 2, 0] += 25.0  # another shifted for good: 1 jumping pair
    data[10, 0, 1, :2] = np.nan  # a lost point: its 2 frame pairs are not observed
    path = write_predictions(Poses(data, project.layout), tmp_path / "clipDLC_x.h5")

    report = prediction_plausibility(project, path)
    observed = 100 * 4 - 2
    assert report["jump_fraction"] == pytest.approx(3 / observed)
    assert report["frames"] == 101
    pose = report["pose_pca_error"]
    assert pose["max"] >= pose["p95"] >= pose["median"] >= 0.0
    assert "multiview_error" not in report  # no _top/_bot body parts
    saved = json.loads(plausibility_path(path).read_text())
    assert saved["jump_fraction"] == pytest.approx(report["jump_fraction"])
    assert plausibility_path(path).name == "clipDLC_x_plausibility.json"
    assert "jumps > 20 px 0.75%" in plausibility_line(report)
    assert current_plausibility(path) == saved  # the saved report is current...
    later = plausibility_path(path).stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))
    assert current_plausibility(path) is None  # ...until its prediction file is newer


def test_too_few_labels_skip_the_pose_pca_with_a_note(tmp_path: Path) -> None:
    project = Project.load(make_tiny_project(tmp_path, n_per_video=2))  # 3 complete frames < 2 x 4 keypoints
    fits = label_fits(project)
    assert fits.pose_pca is None and "pose PCA skipped" in fits.notes[0]
    path = write_predictions(Poses(_smooth_poses(project, 20), project.layout), tmp_path / "vDLC_x.h5")
    report = prediction_plausibility(project, path, fits=fits)
    assert report["jump_fraction"] == 0.0 and "pose_pca_error" not in report
    assert "pose PCA skipped" in plausibility_line(report)
