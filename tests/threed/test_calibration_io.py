"""calibration.toml round trips, DeepLabCut stereo pickles and DANNCE (MATLAB) calibrations."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markerless.errors import CalibrationError
from markerless.threed.calibration_io import (
    calibration_to_toml,
    load_calibration,
    read_dlc_stereo_pickle,
    save_calibration,
)
from markerless.threed.cameras import Camera, CameraGroup
from tests.fixtures.data import shared_path

finite = st.floats(-1e4, 1e4, allow_nan=False)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)


@st.composite
def groups(draw: st.DrawFn) -> CameraGroup:
    n = draw(st.integers(1, 4))
    cam_names = draw(st.lists(names, min_size=n, max_size=n, unique=True))
    cams = []
    focal = st.floats(0.1, 1e4, allow_nan=False)
    for i, name in enumerate(cam_names):
        k = np.array([[draw(focal), 0, draw(finite)], [0, draw(focal), draw(finite)], [0, 0, 1]])
        vec = lambda m: np.array(draw(st.lists(finite, min_size=m, max_size=m)))  # noqa: E731
        t = vec(3) + np.array([2e4 * (i + 1), 0, 0])  # cameras at distinct places (validated on loading)
        cams.append(Camera(name, (draw(st.integers(0, 9999)), draw(st.integers(0, 9999))), k, vec(5), vec(3), t))
    meta = {"error": draw(finite), "adjusted": draw(st.booleans()), "camera_errors": [1.5, 2.0], "note": draw(names)}
    return CameraGroup(cams, meta)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups())
def test_toml_round_trip(tmp_path: Path, group: CameraGroup) -> None:
    path = save_calibration(group, tmp_path / "calibration.toml")
    back = load_calibration(path)
    assert back.names == group.names
    assert back.metadata == group.metadata
    for a, b in zip(back, group):
        assert a.size == b.size
        for field in ("matrix", "distortions", "rotation", "translation"):
            assert np.array_equal(getattr(a, field), getattr(b, field))


def test_toml_layout_is_aniposes() -> None:
    text = calibration_to_toml(CameraGroup([Camera("A", (640, 480), np.eye(3))], {"adjusted": True}))
    assert text.startswith('[cam_0]\nname = "A"\nsize = [ 640, 480,]\n')
    assert "[metadata]\nadjusted = true" in text


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="markerless calibrate"):
        load_calibration(tmp_path / "calibration.toml")
    (tmp_path / "bad.toml").write_text("[cam_0]\nname = 'x'\n")
    with pytest.raises(CalibrationError, match=r"bad.toml: section \[cam_0\] has no 'matrix'"):
        load_calibration(tmp_path / "bad.toml")


def _good_toml() -> str:
    cams = [
        Camera("a", (640, 480), [[500, 0, 320], [0, 500, 240], [0, 0, 1]], translation=[0, 0, 0]),
        Camera("b", (640, 480), [[500, 0, 320], [0, 500, 240], [0, 0, 1]], [0, 0, 0, 0, 0], [0, 0.3, 0], [-100, 0, 5]),
    ]
    return calibration_to_toml(CameraGroup(cams))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: "cam_0 = 5\n" + t.replace("[cam_0]", "[cam_2]"), r"cam_0 = 5 is not a camera section.*\[cam_0\]"),
        (lambda t: t.replace("[ 500.0, 0.0, 320.0,]", "[ nan, 0.0, 320.0,]", 1), "non-finite matrix"),
        (lambda t: t.replace("[ 500.0, 0.0, 320.0,]", "[ 0.0, 0.0, 320.0,]", 1), "focal lengths"),
        (lambda t: t.replace("[ -100.0, 0.0, 5.0,]", "[ nan, 0.0, 5.0,]"), "non-finite translation"),
        (lambda t: t.replace("[ -100.0, 0.0, 5.0,]", "[ 0.0, 0.0, 0.0,]"), "translation was lost"),
        (
            lambda t: t.replace("[ 0.0, 0.3, 0.0,]", "[ 0.0, 0.0, 0.0,]").replace(
                "[ -100.0, 0.0, 5.0,]", "[ 0.0, 0.0, 0.0,]"
            ),
            "same position",
        ),
        (lambda t: t, None),  # the file as written loads
    ],
)
def test_bad_camera_entries_are_named(tmp_path: Path, edit, message) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "calibration.toml"
    path.write_text(edit(_good_toml()))
    if message is None:
        assert load_calibration(path).names == ["a", "b"]
        return
    with pytest.raises(CalibrationError, match=message) as err:
        load_calibration(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_calibration_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "calibration.toml").mkdir()
    with pytest.raises(CalibrationError, match="is a folder"):
        load_calibration(tmp_path / "calibration.toml")


def test_dlc_stereo_pickle(tmp_path: Path) -> None:
    k1 = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    r = cv2.Rodrigues(np.array([0.0, 0.3, 0.0]))[0]
    params = {
        "cameraMatrix1": k1,
        "cameraMatrix2": k1 * [[1.01], [1.01], [1]],
        "distCoeffs1": np.zeros((1, 5)),
        "distCoeffs2": np.array([[-0.1, 0.01, 0, 0, 0]]),
        "R": r,
        "T": np.array([[-5.0], [0.0], [0.5]]),
        "image_shape": [(480, 640), (480, 640)],
    }
    path = tmp_path / "stereo_params.pickle"
    path.write_bytes(pickle.dumps({"camera-1-camera-2": params}))
    group = load_calibration(path)
    assert group.names == ["camera-1", "camera-2"]
    assert group[0].size == (640, 480)
    assert np.allclose(group[1].rotation_matrix, r) and np.allclose(group[1].translation, [-5, 0, 0.5])
    assert np.allclose(group[1].distortions, [-0.1, 0.01, 0, 0, 0])
    assert read_dlc_stereo_pickle(path).metadata["unit"] == "checkerboard squares"


@pytest.mark.shared_data
def test_dannce_calibration_reprojects_the_3d_labels() -> None:
    import scipy.io

    path = shared_path("dannce-markerless-mouse", "markerless_mouse_1", "label3d_dannce.mat")
    group = load_calibration(path)
    assert len(group) == 6 and group.names[0] == "Camera1"
    mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    labels = mat["labelData"]
    pts3d = labels[0].data_3d.reshape(-1, 22, 3)
    for c, cam in enumerate(group):
        pts2d = labels[c].data_2d.reshape(-1, 22, 2)
        err = np.linalg.norm(cam.project(pts3d) - pts2d, axis=-1)
        assert np.nanmedian(err) < 1.0


def test_dlc_intrinsics_pickle(tmp_path: Path) -> None:
    from markerless.threed.calibration_io import read_dlc_intrinsics_pickle

    k = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    data = {"camera-1": {"mtx": k, "dist": np.array([[-0.2, 0.05, 0, 0, 0]]), "objpoints": [], "imgpoints": []}}
    path = tmp_path / "camera-1_intrinsic_params.pickle"
    path.write_bytes(pickle.dumps(data))
    cams = read_dlc_intrinsics_pickle(path)
    assert np.array_equal(cams["camera-1"].matrix, k) and cams["camera-1"].distortions[0] == -0.2
    path.write_bytes(b"not a pickle")
    with pytest.raises(CalibrationError, match="Cannot read"):
        read_dlc_intrinsics_pickle(path)
