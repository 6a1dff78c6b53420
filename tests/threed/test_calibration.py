"""Calibration: synthetic rigs of 2-6 cameras (both boards) and the real stereo checkerboard set."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from markerless.errors import CalibrationError
from markerless.synthetic.cameras import compare_rigs, make_multicamera_scene, rig_alignment
from markerless.threed.boards import Board, align_detections, detect_board
from markerless.threed.calibration import calibrate_cameras
from markerless.threed.triangulation import triangulate
from tests.fixtures.data import shared_path


@pytest.mark.parametrize("n_cameras", [2, 3, 6])
def test_nearly_exact_corners_give_the_true_rig(n_cameras: int) -> None:
    board = Board("charuco", 7, 10, 40.0)
    scene = make_multicamera_scene(n_cameras, board, n_board_frames=12, render=False, seed=n_cameras)
    corners = scene.board_corners + np.random.default_rng(0).normal(0, 0.02, scene.board_corners.shape)
    group = calibrate_cameras(corners, board, [c.size for c in scene.cameras], scene.cameras.names)
    ang, pos = compare_rigs(group, scene.cameras)
    assert ang.max() < 0.1 and pos.max() < 1.0  # degrees, mm
    assert max(group.metadata["camera_errors"]) < 0.05
    r, t = rig_alignment(group, scene.cameras)
    pts = triangulate(scene.animal2d, group)
    assert np.median(np.abs(pts - (scene.animal3d @ r.T + t))) < 1.0


def test_noisy_corners_and_flipped_checkerboards() -> None:
    board = Board("checkerboard", 6, 9, 40.0)
    scene = make_multicamera_scene(3, board, n_board_frames=20, render=False, seed=5)
    corners = scene.board_corners + np.random.default_rng(0).normal(0, 0.2, scene.board_corners.shape)
    corners[1, ::3] = corners[1, ::3, ::-1]  # OpenCV numbering some views from the other end
    group = calibrate_cameras(corners, board, [c.size for c in scene.cameras], scene.cameras.names)
    ang, pos = compare_rigs(group, scene.cameras)
    assert ang.max() < 1.0 and pos.max() < 10.0
    assert max(group.metadata["camera_errors"]) < 0.5


def test_cameras_that_never_share_a_view_are_reported() -> None:
    board = Board("charuco", 7, 10, 40.0)
    scene = make_multicamera_scene(3, board, n_board_frames=12, render=False, seed=2)
    corners = scene.board_corners.copy()
    corners[2, np.isfinite(corners[:2, ..., 0]).any(axis=(0, 2))] = np.nan  # camera 3 alone
    corners[:2, np.isfinite(corners[2, ..., 0]).any(axis=-1)] = np.nan
    with pytest.raises(CalibrationError):
        calibrate_cameras(corners, board, [c.size for c in scene.cameras], scene.cameras.names)


@pytest.mark.parametrize("kind", ["checkerboard", "charuco"])
def test_rendered_boards_calibrate_three_cameras(kind: str) -> None:
    board = Board(kind, 7 if kind == "charuco" else 6, 10 if kind == "charuco" else 9, 40.0)
    scene = make_multicamera_scene(3, board, n_board_frames=10, seed=7)
    corners = np.stack([[board.detect(im) for im in cam] for cam in scene.board_images])
    group = calibrate_cameras(corners, board, [c.size for c in scene.cameras], scene.cameras.names)
    ang, pos = compare_rigs(group, scene.cameras)
    assert ang.max() < 1.5 and pos.max() < 15.0
    assert max(group.metadata["camera_errors"]) < 0.6


@pytest.mark.shared_data
def test_stereo_checkerboard_matches_the_caltech_toolbox() -> None:
    import scipy.io

    folder = shared_path("stereo-checkerboard")
    board = Board("checkerboard", rows=6, cols=9, square_size=30.0)
    dets = [
        detect_board(sorted(glob.glob(str(folder / f"{cam}*.jpg"))), board, camera=cam) for cam in ("left", "right")
    ]
    _, corners = align_detections(dets)
    for i, cam in enumerate(("left", "right")):
        ref = scipy.io.loadmat(folder / f"Calib_Results_{cam}.mat", squeeze_me=True)
        group = calibrate_cameras(corners[i : i + 1], board, [dets[i].size], [cam])
        k = group[0].matrix
        assert np.allclose([k[0, 0], k[1, 1]], ref["fc"], rtol=0.01)
        assert np.allclose([k[0, 2], k[1, 2]], ref["cc"], rtol=0.01)
    pair = calibrate_cameras(corners, board, [d.size for d in dets], ["left", "right"])
    baseline = np.linalg.norm(pair[1].center - pair[0].center)
    assert 90 < baseline < 110  # mm (about 3.3 squares of 30 mm)
    assert max(pair.metadata["camera_errors"]) < 0.5
