"""The 3D workflow on a project: create, calibrate from images, triangulate prediction files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sleap_io

from markerless.errors import ConfigError, ProjectError
from markerless.io.dlc import write_predictions
from markerless.model import PoseLayout, Poses
from markerless.synthetic.cameras import MultiCameraScene, compare_rigs, make_multicamera_scene, rig_alignment
from markerless.threed.api import (
    calibrate,
    read_3d,
    read_sleap_predictions,
    recording_name,
    summarize_3d,
    triangulate_project,
)
from markerless.threed.calibration_io import load_calibration, save_calibration
from markerless.threed.config3d import create_project_3d, load_config3d, match_camera
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


def _predictions_project(tmp_path: Path, n_frames: int = 8) -> tuple[Path, MultiCameraScene, PoseLayout]:
    """A calibrated 3-camera project named ``top``, ``mid``, ``side`` (no 2D files yet)."""
    scene = make_multicamera_scene(3, n_animal_frames=n_frames, n_keypoints=3, render=False)
    for cam, name in zip(scene.cameras, ("top", "mid", "side")):
        cam.name = name
    config = create_project_3d("p", "me", scene.cameras.names, tmp_path)
    save_calibration(scene.cameras, config.parent / "calibration.toml")
    return config, scene, PoseLayout.single_animal(["a", "b", "c"])


def _write_2d(path: Path, xy: np.ndarray, layout: PoseLayout, frames: np.ndarray | None = None, score: float = 0.9):
    data = np.concatenate([xy, np.full((*xy.shape[:-1], 1), score)], axis=-1)[:, None]
    return write_predictions(Poses(data, layout, scorer="DLC_x", frames=frames), path)


def test_cameras_are_matched_as_words() -> None:
    names = ["mid", "top", "cam1", "cam10", "cam1_top"]
    assert match_camera("midday_top.h5", names) == "top"
    assert match_camera("trial_cam10.h5", names) == "cam10"
    assert match_camera("trial-cam1.predictions.slp", names) == "cam1"
    assert match_camera("x_cam1_top.h5", names) == "cam1_top"  # cam1 and top are part of it
    assert match_camera("midday.h5", names) is None
    with pytest.raises(ConfigError, match=r"mid_top.h5 names several cameras \['mid', 'top'\]"):
        match_camera("mid_top.h5", names)


def test_midday_files_and_partial_frames(tmp_path: Path) -> None:
    config, scene, layout = _predictions_project(tmp_path)
    frames = np.arange(8)
    for c, name in enumerate(scene.cameras.names):
        keep = frames if name != "side" else frames[:5]  # side lost frames 5-7
        _write_2d(tmp_path / f"midday_{name}DLC_x.h5", scene.animal2d[c, keep, 0], layout, keep)
    (out,) = triangulate_project(config, sorted(tmp_path.glob("midday_*.h5")))
    assert out.name == "midday_3D.h5"
    df, err = read_3d(out)
    assert len(df) == 8  # frames 5-7 triangulated from top and mid
    assert np.abs(df.to_numpy().reshape(8, 3, 3) - scene.animal3d[:, 0]).max() < 1e-3
    assert np.isnan(err.to_numpy().reshape(8, 3, 3)[5:, :, 2]).all()
    assert "midday_3D.h5: 24 of 24 points triangulated (8 frames), cameras used ['top', 'mid', 'side']" in (
        summarize_3d(out)
    )


def test_nothing_is_written_when_a_recording_fails(tmp_path: Path) -> None:
    config, scene, layout = _predictions_project(tmp_path)
    files = [
        _write_2d(tmp_path / f"a_{n}DLC_x.h5", scene.animal2d[c, :, 0], layout) for c, n in enumerate(["top", "mid"])
    ]
    files.append(_write_2d(tmp_path / "b_topDLC_x.h5", scene.animal2d[0, :, 0], layout))  # b has one camera
    with pytest.raises(ConfigError, match="'b' has predictions of only"):
        triangulate_project(config, files)
    assert not list(tmp_path.glob("*_3D.h5")) and not list(tmp_path.glob(".*"))


def test_nothing_triangulated_warns_and_cutoffs_per_camera(tmp_path: Path) -> None:
    config, scene, layout = _predictions_project(tmp_path)
    files = [
        _write_2d(tmp_path / f"r_{n}DLC_x.h5", scene.animal2d[c, :, 0], layout, score=0.3)
        for c, n in enumerate(scene.cameras.names)
    ]
    with pytest.warns(UserWarning, match=r"no point was triangulated.*top 0.4, mid 0.4, side 0.4"):
        (out,) = triangulate_project(config, files)
    assert "warning: nothing triangulated" in summarize_3d(out)
    (out,) = triangulate_project(config, files, pcutoff={"top": 0.2, "mid": 0.2})
    _, err = read_3d(out)
    assert np.isnan(err.to_numpy().reshape(8, 3, 3)[..., 2]).all()  # side still cut off
    cfg = load_config3d(config)
    cfg.data["pcutoff_side"] = 0.25
    cfg.save()
    (out,) = triangulate_project(config, files, pcutoff={"*": 0.2})
    assert np.isfinite(read_3d(out)[1].to_numpy()).all()


def test_sleap_predictions_with_their_own_cutoff(tmp_path: Path) -> None:
    config, scene, _ = _predictions_project(tmp_path)
    skeleton = sleap_io.Skeleton(["a", "b", "c"])
    files = []
    for c, name in enumerate(scene.cameras.names):
        video = sleap_io.Video(filename=str(tmp_path / f"s_{name}.mp4"), open_backend=False)
        track = sleap_io.Track("fly")
        frames = [
            sleap_io.LabeledFrame(
                video=video,
                frame_idx=f,
                instances=[
                    sleap_io.PredictedInstance.from_numpy(
                        scene.animal2d[c, f, 0], skeleton=skeleton, point_scores=np.full(3, 1.3), score=1.0, track=track
                    )
                ],
            )
            for f in range(8)
        ]
        labels = sleap_io.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton], tracks=[track])
        files.append(tmp_path / f"s_{name}.mp4.predictions.slp")  # SLEAP's naming
        sleap_io.save_slp(labels, str(files[-1]))
    poses = read_sleap_predictions(files[0])
    assert poses.layout.keypoint_names == ("a", "b", "c") and poses.data[..., 2].max() > 1
    cfg = load_config3d(config)
    cfg.data["pcutoff_sleap"] = 1.5
    cfg.save()
    with pytest.warns(UserWarning, match="side 1.5"):
        triangulate_project(config, files)
    cfg.data["pcutoff_sleap"] = 1.0
    cfg.save()
    (out,) = triangulate_project(config, files)
    assert out.name == "s_3D.h5"
    assert np.abs(read_3d(out)[0].to_numpy().reshape(8, 3, 3) - scene.animal3d[:, 0]).max() < 1e-3
