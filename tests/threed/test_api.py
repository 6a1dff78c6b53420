"""The 3D workflow on a project: create, calibrate from images, triangulate prediction files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markerless.errors import ConfigError, ProjectError
from markerless.synthetic.cameras import compare_rigs, rig_alignment
from markerless.threed.api import calibrate, read_3d, recording_name, triangulate_project
from markerless.threed.calibration_io import load_calibration
from markerless.threed.config3d import create_project_3d, load_config3d
from tests.fixtures.scenes import make_scene_project


@pytest.mark.slow
def test_calibrate_then_triangulate(tmp_path: Path) -> None:
    config, scene = make_scene_project(tmp_path)
    path = calibrate(config)
    assert path == config.parent / "calibration.toml"
    group = load_calibration(path)
    assert group.names == scene.cameras.names
    assert max(group.metadata["camera_errors"]) < 0.6
    ang, pos = compare_rigs(group, scene.cameras)
    assert ang.max() < 1.5 and pos.max() < 15
    assert any((config.parent / "calibration_cache").iterdir())

    files = sorted(tmp_path.glob("trial1_*.h5"))
    (out,) = triangulate_project(config, files)
    assert out.name == "trial1_3D.h5"
    df, err = read_3d(out)
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.shape == (20, 2 * 5 * 3) and set(df.columns.get_level_values("coords")) == {"x", "y", "z"}
    pts = df.to_numpy().reshape(20, 2, 5, 3)
    r, t = rig_alignment(group, scene.cameras)
    truth = scene.animal3d @ r.T + t
    assert np.isnan(pts[3, 0, 0]).sum() == 0  # two cameras still saw it
    assert np.nanmedian(np.linalg.norm(pts - truth, axis=-1)) < 10.0  # mm
    assert set(err.columns.get_level_values("coords")) == set(scene.cameras.names)
    assert np.isnan(err.to_numpy().reshape(20, 2, 5, 3)[3, 0, 0, 0])  # the low-score view was not used


def test_project_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="two cameras"):
        create_project_3d("t", "me", ["solo"], tmp_path)
    config = create_project_3d("t", "me", ["camA", "camB"], tmp_path)
    cfg = load_config3d(config.parent)
    assert cfg.camera_names == ["camA", "camB"] and cfg.board.kind == "checkerboard"
    with pytest.raises(ProjectError, match="camA"):
        calibrate(config)
    with pytest.raises(ConfigError, match="already exists"):
        create_project_3d("t", "me", ["camA", "camB"], tmp_path)


def test_recording_names() -> None:
    assert recording_name(Path("trial1_cam1DLC_resnet50.h5"), "cam1", "DLC_resnet50") == "trial1"
    assert recording_name(Path("cam2-mouse3-day1DLC_x.h5"), "cam2") == "mouse3-day1"


def test_triangulate_videos_runs_each_cameras_2d_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import markerless.threed.api
    from markerless.io.dlc import write_predictions
    from markerless.model import PoseLayout, Poses
    from markerless.synthetic.cameras import make_multicamera_scene
    from markerless.threed.calibration_io import save_calibration

    scene = make_multicamera_scene(3, n_animal_frames=8, n_keypoints=3, render=False)
    config = create_project_3d(
        "v",
        "me",
        scene.cameras.names,
        tmp_path,
        project_configs={n: f"/projects/{n}/config.yaml" for n in scene.cameras.names},
    )
    save_calibration(scene.cameras, config.parent / "calibration.toml")
    calls = []

    def fake_analyze(project, videos, shuffle=1, **kwargs):
        video = Path(videos[0])
        cam = scene.cameras.index(video.stem.split("_")[-1])
        calls.append((str(project), video.name, shuffle))
        xy = scene.animal2d[cam, :, 0]
        data = np.concatenate([xy, np.ones((*xy.shape[:-1], 1))], axis=-1)[:, None]
        out = video.with_name(f"{video.stem}DLC_fake.h5")
        write_predictions(Poses(data, PoseLayout.single_animal(["a", "b", "c"]), scorer="DLC_fake"), out)
        return [out]

    monkeypatch.setattr(markerless.threed.api, "analyze", fake_analyze)
    videos = [tmp_path / f"session_{n}.mp4" for n in scene.cameras.names]
    (out,) = triangulate_project(config, videos=videos)
    assert out == tmp_path / "session_3D.h5"
    assert calls[0] == ("/projects/cam1/config.yaml", "session_cam1.mp4", 1) and len(calls) == 3
    df, _ = read_3d(out)
    assert np.abs(df.to_numpy().reshape(8, 3, 3) - scene.animal3d[:, 0]).max() < 1e-3
