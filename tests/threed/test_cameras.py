"""Cameras: projection, undistortion and rotation helpers against OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.errors import CalibrationError
from markerless.threed.cameras import Camera, CameraGroup, matrix_to_rodrigues, rodrigues_to_matrix


def _camera(name: str = "cam", rvec=(0.1, -0.2, 0.05), tvec=(10.0, -5.0, 800.0)) -> Camera:
    k = np.array([[600.0, 0, 320], [0, 605, 240], [0, 0, 1]])
    return Camera(name, (640, 480), k, [-0.1, 0.02, 0.001, -0.002, 0.0], np.array(rvec), np.array(tvec))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3))
def test_rodrigues_matches_opencv(rvec: list[float]) -> None:
    r = np.array(rvec)
    assert np.allclose(rodrigues_to_matrix(r), cv2.Rodrigues(r)[0], atol=1e-9)
    if 1e-6 < np.linalg.norm(r) < np.pi - 1e-3:
        assert np.allclose(matrix_to_rodrigues(rodrigues_to_matrix(r)), r, atol=1e-7)


def test_project_matches_opencv_and_undistort_inverts_it() -> None:
    cam = _camera()
    pts = np.random.default_rng(0).uniform(-150, 150, (200, 3))
    ours = cam.project(pts)
    ref, _ = cv2.projectPoints(pts, cam.rotation, cam.translation, cam.matrix, cam.distortions)
    assert np.allclose(ours, ref.reshape(-1, 2), atol=1e-6)
    norm = cam.undistort_points(ours)
    cam_pts = cam.to_camera(pts)
    assert np.allclose(norm, cam_pts[:, :2] / cam_pts[:, 2:], atol=1e-6)


def test_nan_points_stay_nan() -> None:
    cam = _camera()
    pts = np.array([[0.0, 0, 0], [np.nan, 0, 0]])
    assert np.isnan(cam.project(pts)[1]).all() and np.isfinite(cam.project(pts)[0]).all()
    assert np.isnan(cam.undistort_points(np.array([[np.nan, 1.0]]))).all()


def test_group_lookup_and_errors() -> None:
    group = CameraGroup([_camera("a"), _camera("b")])
    assert group["b"].name == "b" and group.names == ["a", "b"]
    assert group.project(np.zeros((4, 3))).shape == (2, 4, 2)
    assert group.subset(["b"]).names == ["b"]
    with pytest.raises(CalibrationError, match="No camera named"):
        group["c"]
    with pytest.raises(CalibrationError, match="unique"):
        CameraGroup([_camera("a"), _camera("a")])
    with pytest.raises(CalibrationError, match="distortion"):
        Camera("x", (1, 1), np.eye(3), [0, 0, 0, 0, 0, 0.1, 0, 0])
