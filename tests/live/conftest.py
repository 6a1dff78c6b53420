"""Fixtures of the live tests: a tiny project with a (random-weight) trained shuffle and a video of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from markerless.live import LiveEstimator
from markerless.model.skeleton import PoseLayout
from markerless.nets import create_model, save_checkpoint
from markerless.project.project import add_videos
from markerless.training.dataset import create_training_dataset
from tests.fixtures.projects import BODYPARTS, make_tiny_project, tiny_recipe
from tests.fixtures.videos import write_video


@pytest.fixture(scope="module")
def live_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.yaml of a tiny project whose shuffle 1 has a snapshot, with videos/vidA.avi (96x80, 30 frames, 25 fps)."""
    dest = tmp_path_factory.mktemp("live")
    config = make_tiny_project(dest)
    sources = dest / "sources"
    sources.mkdir()
    add_videos(config, [write_video(sources / "vidA.avi", n_frames=30, size=(96, 80))], copy_videos=True)
    sh = create_training_dataset(config, shuffle=1)
    tiny_recipe(config)
    sh.train_dir.mkdir(parents=True, exist_ok=True)
    net = create_model("mobilenetv2", len(BODYPARTS), pretrained=False)
    save_checkpoint(sh.train_dir / "snapshot-001.pt", net, extra={"epoch": 1, "bodyparts": BODYPARTS})
    return config


@pytest.fixture
def live_video(live_project: Path) -> Path:
    return live_project.parent / "videos" / "vidA.avi"


def spot_estimator(delay: float = 0.0) -> LiveEstimator:
    """A fake estimator: every keypoint at the centre of the dark pixels (the moving disc), after ``delay`` s."""
    import time

    def whole(_size: tuple[int, int]) -> Callable[[np.ndarray], np.ndarray]:
        def infer(frames: np.ndarray) -> np.ndarray:
            if delay:
                time.sleep(delay)
            dark = frames.astype(np.int32).sum(-1) < 300  # (B, H, W): the disc
            count = dark.sum((1, 2))
            x = (dark * np.arange(frames.shape[2])).sum((1, 2)) / count
            y = (dark * np.arange(frames.shape[1])[:, None]).sum((1, 2)) / count
            xy = np.stack([x, y, np.ones(len(frames))], -1).astype(np.float32)
            return np.repeat(xy[:, None], len(BODYPARTS), axis=1)

        return infer

    return LiveEstimator(PoseLayout.single_animal(BODYPARTS), whole, scorer="DLC_fake")
