"""Tests of markerless.viz.video: labelled videos (points, skeleton, trails, p-cutoff, file names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markerless.errors import ProjectError
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout
from markerless.viz.draw import pose_colors
from markerless.viz.video import create_labeled_video, label_video

W, H, N = 96, 80, 12
BODYPARTS = ["nose", "body", "tail"]
SCORER = "DLC_Tiny_tinyNov24shuffle1_snapshot_5"


def _grey_video(path: Path) -> Path:
    from markerless.io.video import VideoWriter

    with VideoWriter(path, 10.0, (W, H)) as writer:
        writer.write_batch(np.full((N, H, W, 3), 128, dtype=np.uint8))
    return path


def _poses(likelihood: float = 0.9) -> Poses:
    layout = PoseLayout.single_animal(BODYPARTS, edges=[("nose", "body")])
    t = np.arange(N)[:, None]
    x = np.broadcast_to(np.array([20.0, 48.0, 76.0]), (N, 3)) + 0 * t
    y = 20.0 + 3.0 * t + np.array([0.0, 10.0, 30.0])
    like = np.full((N, 3), likelihood)
    like[:, 2] = 0.1  # tail always under the p-cutoff
    data = np.stack([x, y, like], axis=-1)[:, None]
    return Poses(data, layout, scorer=SCORER, fps=10.0)


def _tiny_project(root: Path, poses: Poses | None = None) -> tuple[Path, Path]:
    """A minimal project with one grey video and a prediction file beside it; (config, video)."""
    from markerless.io.dlc import write_config, write_predictions

    (root / "videos").mkdir(parents=True)
    video = _grey_video(root / "videos" / "clip.mp4")
    config = root / "config.yaml"
    write_config(
        {
            "Task": "Tiny",
            "scorer": "tester",
            "date": "Nov24",
            "project_path": str(root),
            "multianimalproject": False,
            "bodyparts": BODYPARTS,
            "skeleton": [["nose", "body"]],
            "pcutoff": 0.5,
            "dotsize": 10,
            "colormap": "rainbow",
            "skeleton_color": "white",
            "iteration": 0,
            "video_sets": {str(video): {"crop": f"0, {W}, 0, {H}"}},
        },
        config,
    )
    write_predictions(poses or _poses(), root / "videos" / f"clip{SCORER}.h5")
    return config, video


def _read_all(path: Path) -> np.ndarray:
    from markerless.io.video import VideoReader

    with VideoReader(path) as reader:
        return np.concatenate([f.copy() for _, f in reader.iter_batches(8)])


def test_labeled_video_frames_size_and_coloured_points(tmp_path) -> None:
    poses = _poses()
    video = _grey_video(tmp_path / "clip.mp4")
    out = label_video(video, poses, tmp_path / "out.mp4", pcutoff=0.5, dot_size=10)
    frames = _read_all(out)
    assert frames.shape == (N, H, W, 3)
    colors = pose_colors(poses.layout).astype(float)[0]
    for t in (0, 5, N - 1):
        for k in (0, 1):
            x, y = poses.data[t, 0, k, :2].astype(int)
            patch = frames[t, y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(axis=0)
            assert np.abs(patch - colors[k]).max() < 40, (t, k, patch, colors[k])
        x, y = poses.data[t, 0, 2, :2].astype(int)  # hidden: under the p-cutoff
        np.testing.assert_allclose(frames[t, y - 1 : y + 2, x - 1 : x + 2], 128, atol=12)
    assert not list(tmp_path.glob(".*tmp*"))


def test_trail_draws_the_recent_path(tmp_path) -> None:
    poses = _poses()
    video = _grey_video(tmp_path / "clip.mp4")
    plain = _read_all(label_video(video, poses, tmp_path / "plain.mp4", pcutoff=0.5, dot_size=4, draw_skeleton=False))
    trail = _read_all(
        label_video(video, poses, tmp_path / "trail.mp4", pcutoff=0.5, dot_size=4, trail=8, draw_skeleton=False)
    )
    x, y0 = 20, int(poses.data[N - 9, 0, 0, 1])  # nose path over the last frames, away from its dot
    column_plain = plain[N - 1, y0 : y0 + 12, x - 1 : x + 2].astype(float)
    column_trail = trail[N - 1, y0 : y0 + 12, x - 1 : x + 2].astype(float)
    assert np.abs(column_trail - 128).max() > 60
    assert np.abs(column_plain - 128).max() < 20


def test_frames_without_poses_are_copied(tmp_path) -> None:
    poses = _poses().select_frames(slice(0, 4))
    video = _grey_video(tmp_path / "clip.mp4")
    frames = _read_all(label_video(video, poses, tmp_path / "o.avi", pcutoff=0.5, codec="MJPG")).astype(float)
    source = _read_all(video).astype(float)
    assert len(frames) == N
    assert np.abs(frames[4:] - source[4:]).max() < 8  # copied (up to JPEG rounding)
    assert np.abs(frames[2].astype(float) - 128).max() > 60


def test_create_labeled_video_in_a_project(tmp_path) -> None:
    config, video = _tiny_project(tmp_path / "proj")
    (out,) = create_labeled_video(config, [video], trail=3)
    assert out == video.parent / f"clip{SCORER}_labeled.mp4"
    assert len(_read_all(out)) == N
    with pytest.raises(ProjectError, match="markerless filter"):
        create_labeled_video(config, [video], filtered=True)
    from markerless.results.filters import filter_predictions

    filter_predictions(config, [video])
    (out_f,) = create_labeled_video(config, [video.parent], filtered=True, color_by="individual", draw_skeleton=False)
    assert out_f.name == f"clip{SCORER}_filtered_labeled.mp4"


@pytest.mark.shared_data
def test_label_a_real_video(tmp_path) -> None:
    from markerless.io.video import video_info
    from tests.fixtures.data import shared_path

    video = shared_path("dlclive-dog-clip", "dog_clip.avi")
    info = video_info(video)
    layout = PoseLayout.single_animal(["nose", "tail"], edges=[("nose", "tail")])
    t = np.arange(info.n_frames)[:, None]
    data = np.stack([50 + t % 100 + np.array([0, 40]), 60 + 0 * t + np.array([0, 20]), np.full((len(t), 2), 0.9)], -1)
    out = label_video(video, Poses(data[:, None], layout), tmp_path / "dog_labeled.mp4", trail=10)
    labeled = video_info(out)
    assert (labeled.n_frames, labeled.width, labeled.height) == (info.n_frames, info.width, info.height)


def test_multi_animal_coloured_by_individual(tmp_path) -> None:
    from markerless.model.skeleton import Skeleton

    layout = PoseLayout(Skeleton.from_names(["head", "tail"]), ("m1", "m2"), ("led",), multi_animal=True)
    data = np.full((N, 3, 3, 3), np.nan)
    data[:, 0, :2] = [[20.0, 20.0, 0.9], [20.0, 60.0, 0.9]]
    data[:, 1, :2] = [[70.0, 20.0, 0.9], [70.0, 60.0, 0.9]]
    data[:, 2, 2] = [48.0, 40.0, 0.9]
    poses = Poses(data, layout)
    out = label_video(
        _grey_video(tmp_path / "clip.mp4"),
        poses,
        tmp_path / "o.avi",
        pcutoff=0.5,
        dot_size=10,
        color_by="individual",
        draw_skeleton=False,
        codec="MJPG",
    )
    frame = _read_all(out)[N // 2].astype(float)
    colors = pose_colors(layout, by="individual").astype(float)
    for ind in range(3):
        for kp in np.flatnonzero(layout.valid[ind]):
            x, y = data[0, ind, kp, :2].astype(int)
            patch = frame[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).mean(axis=0)
            assert np.abs(patch - colors[ind, kp]).max() < 40, (ind, kp, patch)
