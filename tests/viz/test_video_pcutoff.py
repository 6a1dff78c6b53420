"""create_labeled_video takes the p-cutoff from the project unless one is given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markerless.io.dlc import write_config, write_predictions
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout

SCORER = "DLC_Tiny_tinyNov24shuffle1_snapshot_5"


@pytest.mark.parametrize(("in_config", "used"), [(0.25, 0.25), (None, 0.6)])
def test_labeled_video_pcutoff_comes_from_the_project(tmp_path: Path, monkeypatch, in_config, used) -> None:
    """None means the project's ``pcutoff`` (DeepLabCut's 0.6 when config.yaml has none); a typed one wins."""
    import markerless.viz.video as viz_video

    (tmp_path / "videos").mkdir()
    video = tmp_path / "videos" / "clip.mp4"
    video.touch()
    config = {"Task": "Tiny", "scorer": "tester", "date": "Nov24", "project_path": str(tmp_path), "bodyparts": ["a"]}
    if in_config is not None:
        config["pcutoff"] = in_config
    write_config(config, tmp_path / "config.yaml")
    poses = Poses(np.full((5, 1, 1, 3), 0.5), PoseLayout.single_animal(["a"]), scorer=SCORER)
    write_predictions(poses, tmp_path / "videos" / f"clip{SCORER}.h5")
    seen: list[float] = []
    monkeypatch.setattr(viz_video, "label_video", lambda *a, pcutoff, **k: seen.append(pcutoff) or a[2])
    viz_video.create_labeled_video(tmp_path / "config.yaml", [video])
    viz_video.create_labeled_video(tmp_path / "config.yaml", [video], pcutoff=0.9)
    assert seen == [used, 0.9]
