"""Tests of make_synthetic_project: a loadable project with exact labels and per-frame ground truth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from markerless.io.dlc import read_predictions
from markerless.io.video import VideoReader
from markerless.project.project import Project
from markerless.synthetic import BODYPARTS, EDGES, make_synthetic_project
from markerless.synthetic.project import ground_truth_path


def test_single_animal_project(tmp_path: Path) -> None:
    config = make_synthetic_project(tmp_path, n_frames=40, n_labelled=8, size=(160, 120), seed=2, fps=20)
    project = Project.load(config)
    assert not project.multi_animal
    assert project.layout.keypoint_names == BODYPARTS
    assert set(project.layout.skeleton.edges) == set(EDGES)
    assert project.layout.skeleton.symmetric_pairs == (("leftear", "rightear"),)
    (video,) = project.videos
    with VideoReader(video) as reader:
        assert (reader.n_frames, reader.width, reader.height) == (40, 160, 120)
        assert reader.fps == 20
    truth = read_predictions(ground_truth_path(video))
    assert truth.data.shape == (40, 1, len(BODYPARTS), 3)
    labels = project.load_labels()
    assert len(labels) == 8 and labels.labelled.all() and not labels.occluded.any()
    frame_numbers = [int(Path(p).stem[3:]) for p in labels.images]
    assert all(p.startswith(f"labeled-data/{video.stem}/img") for p in labels.images)
    np.testing.assert_allclose(labels.xy, truth.xy[frame_numbers], atol=1e-4)
    # the labelled image is the decoded video frame
    image = cv2.cvtColor(cv2.imread(str(project.image_path(labels.images[0]))), cv2.COLOR_BGR2RGB)
    with VideoReader(video) as reader:
        np.testing.assert_array_equal(image, reader.read(frame_numbers[0]))


def test_multi_animal_project_is_deterministic(tmp_path: Path) -> None:
    a = make_synthetic_project(tmp_path / "a", n_animals=3, n_frames=60, n_labelled=20, size=(160, 120), seed=1)
    b = make_synthetic_project(tmp_path / "b", n_animals=3, n_frames=60, n_labelled=20, size=(160, 120), seed=1)
    pa, pb = Project.load(a), Project.load(b)
    assert pa.multi_animal and pa.layout.individuals == ("individual1", "individual2", "individual3")
    la, lb = pa.load_labels(), pb.load_labels()
    assert la.images == lb.images
    np.testing.assert_array_equal(la.xy, lb.xy)
    np.testing.assert_array_equal(la.occluded, lb.occluded)
    truth = read_predictions(ground_truth_path(pa.videos[0]))
    assert truth.data.shape == (60, 3, len(BODYPARTS), 3)
    hidden = np.array(truth.metadata["occluded"]).reshape(-1, 3)
    assert len(hidden) > 0  # the animals overlap at times in this small arena
    frames = [int(Path(p).stem[3:]) for p in la.images]
    flags = np.zeros(truth.data.shape[:3], bool)
    flags[tuple(hidden.T)] = True
    np.testing.assert_array_equal(la.occluded, flags[frames])
