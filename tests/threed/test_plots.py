"""3D plots: a pose in 3D axes and the 3D labelled video beside the camera views."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np

from markerless.io.video import VideoReader, VideoWriter
from markerless.model import PoseLayout, Poses
from markerless.synthetic.cameras import make_multicamera_scene
from markerless.threed.api import write_3d
from markerless.threed.calibration_io import save_calibration
from markerless.threed.config3d import create_project_3d, load_config3d
from markerless.threed.plots import create_labeled_video_3d, plot_pose_3d
from markerless.threed.triangulation import triangulate


def test_plot_pose_3d_draws_points_and_edges() -> None:
    ax = plot_pose_3d(np.random.default_rng(0).normal(size=(4, 3)), ["a", "b", "c", "d"], [("a", "b"), ("c", "d")])
    assert len(ax.collections) == 2  # points + skeleton


def test_labeled_video_3d(tmp_path: Path) -> None:
    scene = make_multicamera_scene(2, n_animal_frames=6, n_keypoints=4, render=False)
    config = create_project_3d("t", "me", scene.cameras.names, tmp_path)
    cfg = load_config3d(config)
    cfg.data["skeleton"] = [["kp0", "kp1"]]
    cfg.save()
    save_calibration(scene.cameras, cfg.calibration_path)
    result = triangulate(scene.animal2d, scene.cameras, full_output=True)
    layout = PoseLayout.single_animal([f"kp{i}" for i in range(4)])
    template = Poses(np.zeros((6, 1, 4, 3)), layout)
    path3d = write_3d(result, template, np.arange(6), "markerless_3D", tmp_path / "rec_3D.h5")
    video = tmp_path / f"rec_{scene.cameras.names[0]}.mp4"
    with VideoWriter(video, 10, (640, 480)) as writer:
        for _ in range(6):
            writer.write(np.full((480, 640, 3), 200, np.uint8))
    out = create_labeled_video_3d(config, path3d, [video], start=1, end=4)
    assert out == tmp_path / "rec_3D_labeled.mp4"
    with VideoReader(out) as reader:
        assert reader.n_frames == 3 and reader.fps == 10
        frame = reader.read(0)
    assert frame.shape[1] > frame.shape[0]  # views side by side
    assert (np.abs(frame.astype(int) - 200).max(axis=-1) < 15).mean() > 0.1  # the camera's video shows
