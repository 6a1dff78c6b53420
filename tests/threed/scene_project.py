"""A tiny 3D project built from a synthetic scene (shared by the API and CLI tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from markerless.io.dlc import write_predictions
from markerless.model import PoseLayout, Poses, Skeleton
from markerless.synthetic.cameras import MultiCameraScene, make_multicamera_scene
from markerless.threed.boards import Board
from markerless.threed.config3d import create_project_3d

SCORER = "DLC_resnet50_miceJan1shuffle1_1000"


def make_scene_project(tmp_path: Path, n_cameras: int = 3, kind: str = "charuco") -> tuple[Path, MultiCameraScene]:
    """A 3D project with rendered calibration images and one recording's 2D predictions per camera."""
    board = Board("charuco", 7, 10, 40.0) if kind == "charuco" else Board("checkerboard", 6, 9, 40.0)
    scene = make_multicamera_scene(
        n_cameras, board, n_board_frames=10, n_animal_frames=20, n_keypoints=5, n_individuals=2, seed=11
    )
    config = create_project_3d("mice", "me", scene.cameras.names, tmp_path, board=board)
    scene.write_calibration_images(config.parent / "calibration_images")
    layout = PoseLayout(Skeleton.from_names([f"kp{i}" for i in range(5)]), ("m1", "m2"), multi_animal=True)
    for c, cam in enumerate(scene.cameras):
        xy = scene.animal2d[c]
        scores = np.full((*xy.shape[:-1], 1), 0.9)
        if c == 0:
            scores[3, 0, 0] = 0.1  # one low-confidence point in the first camera
        poses = Poses(np.concatenate([xy, scores], axis=-1), layout, scorer=SCORER)
        write_predictions(poses, tmp_path / f"trial1_{cam.name}{SCORER}.h5")
    return config, scene
