"""The synthetic multi-camera scene: board renders match the exact corners."""

from __future__ import annotations

import numpy as np
import pytest

from markerless.synthetic.cameras import compare_rigs, make_multicamera_scene, rig_alignment
from markerless.threed.boards import Board


@pytest.mark.parametrize("board", [Board("checkerboard", 5, 7, 40.0), Board("charuco", 6, 8, 40.0)])
def test_rendered_board_is_detected_where_projected(board: Board) -> None:
    scene = make_multicamera_scene(2, board, n_board_frames=4, seed=1)
    assert scene.board_images.shape == (2, 4, 480, 640)
    found = np.stack([[board.detect(im) for im in cam] for cam in scene.board_images])
    truth = scene.board_corners
    if board.kind == "checkerboard":  # OpenCV may number the corners from either end
        flipped = found[:, :, ::-1]
        use_flip = np.nanmean(np.linalg.norm(flipped - truth, axis=-1), axis=-1) < np.nanmean(
            np.linalg.norm(found - truth, axis=-1), axis=-1
        )
        found = np.where(use_flip[..., None, None], flipped, found)
    err = np.linalg.norm(found - truth, axis=-1)
    assert np.isfinite(err).sum() > 0.5 * np.isfinite(truth[..., 0]).sum()
    assert np.nanmedian(err) < 0.3 and np.nanmax(err) < 2.0


def test_rig_comparison_is_invariant_to_the_world_frame() -> None:
    scene = make_multicamera_scene(3, render=False)
    moved = scene.cameras.copy()
    shift = np.array([0.2, -0.1, 0.3])
    from markerless.threed.cameras import matrix_to_rodrigues, rodrigues_to_matrix

    rot = rodrigues_to_matrix(shift)
    for cam in moved:  # same rig in another world frame: x_new = rot @ x + t
        r_new = cam.rotation_matrix @ rot.T
        cam.translation = cam.translation - r_new @ np.array([5.0, 6.0, 7.0])
        cam.rotation = matrix_to_rodrigues(r_new)
    ang, pos = compare_rigs(moved, scene.cameras)
    assert ang.max() < 1e-4 and pos.max() < 1e-6
    r, t = rig_alignment(moved, scene.cameras)
    assert np.allclose(r, rot) and np.allclose(t, [5, 6, 7])
