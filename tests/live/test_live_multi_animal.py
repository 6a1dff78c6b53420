"""Live posing with a multi-animal (bottom-up) model: every animal of a frame, assembled as analysis does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markerless.analysis.analyze import analyze
from markerless.errors import VideoError
from markerless.io.dlc import read_predictions
from markerless.io.video import VideoReader
from markerless.live import LiveEstimator, VideoSource, run_live
from markerless.nets import create_model, save_checkpoint
from markerless.project.project import add_videos
from markerless.training.dataset import create_training_dataset
from tests.fixtures.projects import BODYPARTS, make_tiny_project, tiny_recipe
from tests.fixtures.videos import write_video

EDGES = [[BODYPARTS[0], BODYPARTS[1]], [BODYPARTS[0], BODYPARTS[2]], [BODYPARTS[0], BODYPARTS[3]]]


@pytest.fixture(scope="module")
def two_animal_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.yaml of a tiny two-animal project whose shuffle 1 has a random-weight bottom-up snapshot, with videos/vidA.avi."""
    dest = tmp_path_factory.mktemp("live-multi")
    config = make_tiny_project(dest, multi_animal=True)
    sources = dest / "sources"
    sources.mkdir()
    add_videos(config, [write_video(sources / "vidA.avi", n_frames=12, size=(96, 80))], copy_videos=True)
    sh = create_training_dataset(config, shuffle=1)
    tiny_recipe(config)
    sh.train_dir.mkdir(parents=True, exist_ok=True)
    net = create_model("mobilenetv2", len(BODYPARTS), pretrained=False, limbs=len(EDGES))
    extra = {"epoch": 1, "bodyparts": BODYPARTS, "edges": EDGES, "individuals": ["a", "b"]}
    save_checkpoint(sh.train_dir / "snapshot-001.pt", net, extra=extra)
    return config


def test_every_animal_is_returned_as_analyze_assembles_it(two_animal_project: Path, tmp_path: Path) -> None:
    """Whole frames (the dynamic crop follows one animal): (individuals, keypoints, 3) equal to analyze's untracked file."""
    video = two_animal_project.parent / "videos" / "vidA.avi"
    estimator = LiveEstimator.from_project(two_animal_project, backend="torch", device="cpu")
    with VideoReader(video, color="bgr") as reader:
        frames = reader.read_frames(range(8))
    live = np.stack([estimator.pose(f) for f in frames])
    assert live.shape == (8, 2, len(BODYPARTS), 3) and live.dtype == np.float32
    assert estimator.window_fraction is None and estimator.tracker is None
    assert estimator.layout is not None and list(estimator.layout.individuals) == ["a", "b"]
    [h5] = analyze(two_animal_project, video, backend="torch", device="cpu", track=False, dest=tmp_path, stop=8)
    offline = read_predictions(h5).data
    np.testing.assert_allclose(live, offline, atol=1e-3)


def test_run_live_records_every_animal(two_animal_project: Path, tmp_path: Path) -> None:
    video = two_animal_project.parent / "videos" / "vidA.avi"
    estimator = LiveEstimator.from_project(two_animal_project, backend="torch", device="cpu")
    result = run_live(estimator, VideoSource(video, realtime=False), record=tmp_path)
    assert result.frames == 12
    poses = read_predictions(next(tmp_path.glob("*.h5")))
    assert poses.data.shape == (12, 2, len(BODYPARTS), 3)


def test_the_dynamic_crop_is_refused_for_several_animals(two_animal_project: Path) -> None:
    estimator = LiveEstimator.from_project(two_animal_project, backend="torch", device="cpu", dynamic_crop=True)
    with pytest.raises(VideoError, match="multi-animal"):
        estimator.pose(np.zeros((80, 96, 3), np.uint8))
