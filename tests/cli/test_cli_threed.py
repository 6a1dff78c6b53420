"""The 3D commands: create-project-3d, calibrate (board options), triangulate (files)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from markerless.cli import main
from markerless.threed.api import read_3d
from markerless.threed.calibration_io import load_calibration
from markerless.threed.config3d import load_config3d
from tests.fixtures.scenes import make_scene_project


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_project_3d(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "create-project-3d",
        "reach",
        "bob",
        "cam1",
        "cam2",
        "cam3",
        "--working-directory",
        str(tmp_path),
        "--board",
        "charuco",
        "--rows",
        "5",
        "--cols",
        "7",
        "--square-size",
        "20",
    )
    assert code == 0
    cfg = load_config3d(out.strip())
    assert cfg.camera_names == ["cam1", "cam2", "cam3"]
    assert cfg.board.kind == "charuco" and cfg.board.square_size == 20.0
    assert cfg.data["config_file_cam2"] is None and cfg.data["shuffle_cam2"] == 1


@pytest.mark.slow
def test_calibrate_and_triangulate_two_cameras_checkerboard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = make_scene_project(tmp_path, n_cameras=2, kind="checkerboard")
    cfg = load_config3d(config)
    cfg.data["calibration_board"] = {"kind": "charuco", "rows": 5, "cols": 7, "square_size": 1.0}
    cfg.save()  # the command line overrides the board written in the config
    code, out, err = run(
        capsys, "calibrate", str(config), "--board", "checkerboard", "--rows", "6", "--cols", "9", "--square-size", "40"
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[-1].endswith("calibration.toml") and len(lines) == 4  # header, 2 cameras, path
    group = load_calibration(lines[-1])
    assert float(lines[1].split()[1]) == pytest.approx(group.metadata["camera_errors"][0], abs=1e-3)
    files = sorted(tmp_path.glob("trial1_*.h5"))
    code, out, err = run(
        capsys, "triangulate", str(config), *map(str, files), "--dest", str(tmp_path / "out"), "--save-as-csv"
    )
    assert code == 0, err
    out_path = Path(out.strip().split(": ")[0])
    assert "points triangulated (20 frames), cameras used ['cam1', 'cam2'], mean reprojection error" in out
    assert out_path == tmp_path / "out" / "trial1_3D.h5" and out_path.with_suffix(".csv").exists()
    df, _ = read_3d(out_path)
    assert df.shape == (20, 30) and np.isfinite(df.to_numpy()).mean() > 0.95


def test_errors_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from markerless.threed.config3d import create_project_3d

    config = create_project_3d("t", "me", ["cam1", "cam2"], tmp_path)
    for name in ("cam1-01.png", "cam2-01.png"):
        cv2.imwrite(str(config.parent / "calibration_images" / name), np.full((120, 160), 128, np.uint8))
    code, _, err = run(capsys, "triangulate", str(config))
    assert code == 1 and "prediction files" in err
    code, _, err = run(capsys, "calibrate", str(config), "--rows", "3", "--cols", "4")
    assert code == 1 and "was not found" in err and "cam1" in err
    code, _, err = run(capsys, "triangulate", str(config), str(tmp_path / "trial_cam1.h5"), str(tmp_path / "x.h5"))
    assert code == 1


def test_triangulate_prints_a_summary_and_takes_cutoffs_per_camera(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from markerless.io.dlc import write_predictions
    from markerless.model import PoseLayout, Poses
    from markerless.synthetic.cameras import make_multicamera_scene
    from markerless.threed.calibration_io import save_calibration
    from markerless.threed.config3d import create_project_3d

    scene = make_multicamera_scene(3, n_animal_frames=6, n_keypoints=2, render=False)
    config = create_project_3d("t", "me", scene.cameras.names, tmp_path)
    save_calibration(scene.cameras, config.parent / "calibration.toml")
    files = []
    for c, cam in enumerate(scene.cameras.names):
        xy = scene.animal2d[c, :, 0]
        data = np.concatenate([xy, np.full((*xy.shape[:-1], 1), 0.3 if cam == "cam3" else 0.9)], axis=-1)[:, None]
        files.append(str(tmp_path / f"walk_{cam}DLC_x.h5"))
        write_predictions(Poses(data, PoseLayout.single_animal(["a", "b"]), scorer="DLC_x"), files[-1])
    code, out, err = run(capsys, "triangulate", str(config), *files)
    assert code == 0, err
    assert out.strip() == (
        f"{tmp_path / 'walk_3D.h5'}: 12 of 12 points triangulated (6 frames), cameras used ['cam1', 'cam2'], "
        "mean reprojection error 0.00 px"
    )
    code, out, err = run(capsys, "triangulate", str(config), *files, "--pcutoff", "0.5", "--pcutoff", "cam3=0.2")
    assert code == 0 and "cameras used ['cam1', 'cam2', 'cam3']" in out
    code, out, err = run(capsys, "triangulate", str(config), *files, "--pcutoff", "0.95")
    assert code == 0 and "0 of 12 points triangulated" in out and "warning: nothing triangulated" in out
    assert "no point was triangulated" in err
    code, _, err = run(capsys, "triangulate", str(config), *files, "--pcutoff", "cam3=high")
    assert code == 1 and "CAMERA=NUMBER" in err


@pytest.mark.slow
def test_calibrate_from_images_and_a_video_per_camera(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from markerless.io.video import VideoWriter
    from markerless.synthetic.cameras import make_multicamera_scene
    from markerless.threed.boards import Board
    from markerless.threed.config3d import create_project_3d

    board = Board("charuco", 5, 7, 40.0, dictionary="DICT_5X5_100")
    scene = make_multicamera_scene(2, board, n_board_frames=12, n_animal_frames=2, seed=4)
    assert scene.board_images is not None
    config = create_project_3d("c", "me", scene.cameras.names, tmp_path, board=Board("charuco", 5, 7, 40.0))
    folder = config.parent / "calibration_images"
    for c, cam in enumerate(scene.cameras.names):
        for f in range(6):  # half the board views as images ...
            cv2.imwrite(str(folder / f"{cam}-{f + 1:02d}.png"), scene.board_images[c][f])
        h, w = scene.board_images[c][0].shape[:2]
        with VideoWriter(folder / f"calib_{cam}.avi", 10, (w, h), codec="FFV1", color="bgr") as writer:
            for f in range(6, 12):  # ... and half as a video, each view twice (frames 0-11, every 2nd looked at)
                image = cv2.cvtColor(scene.board_images[c][f], cv2.COLOR_GRAY2BGR)
                writer.write(image)
                writer.write(image)
    code, _, err = run(capsys, "calibrate", str(config))  # the config's dictionary is the wrong one
    assert code == 1 and "was not found" in err
    code, out, err = run(capsys, "calibrate", str(config), "--dictionary", "DICT_5X5_100", "--every", "2")
    assert code == 0, err
    assert "note: looked at 1 frame in 2 of the calibration videos" in out and "lengths in mm" in out
    group = load_calibration(out.strip().splitlines()[-1])
    assert group.metadata["unit"] == "mm" and group.metadata["square_size"] == 40.0
    assert group.metadata["video_every"] == 2 and max(group.metadata["camera_errors"]) < 1.0


def test_board_dictionary_and_unit_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "create-project-3d", "d", "me", "cam1", "cam2", "--working-directory", str(tmp_path),
        "--board", "charuco", "--dictionary", "DICT_6X6_250", "--unit", "cm",
    )  # fmt: skip
    assert code == 0
    board = load_config3d(out.strip()).board
    assert board.dictionary == "DICT_6X6_250" and board.unit == "cm"
    code, _, err = run(capsys, "calibrate", out.strip(), "--dictionary", "DICT_7X7")
    assert code == 1 and "Unknown ArUco dictionary 'DICT_7X7'" in err and "DICT_7X7_1000" in err
