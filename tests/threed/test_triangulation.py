"""Triangulation: exact on clean data, graceful with noise, robust to a corrupted view; real DANNCE labels."""

from __future__ import annotations

import time

import numpy as np
import pytest

from markerless.errors import CalibrationError
from markerless.synthetic.cameras import make_multicamera_scene
from markerless.threed import triangulation
from markerless.threed.triangulation import Triangulation, dlt, triangulate
from tests.fixtures.data import shared_path


@pytest.fixture(scope="module")
def scene():
    return make_multicamera_scene(4, n_animal_frames=30, n_keypoints=6, n_individuals=2, render=False, seed=3)


def test_exact_points_are_recovered_with_individuals_axis(scene) -> None:
    pts = triangulate(scene.animal2d, scene.cameras)
    assert pts.shape == scene.animal3d.shape  # (frames, individuals, keypoints, 3)
    assert np.abs(pts - scene.animal3d).max() < 1e-3
    single = triangulate(scene.animal2d[:, :, 0], scene.cameras)  # (cameras, frames, keypoints, 2)
    assert single.shape == scene.animal3d[:, 0].shape


def test_error_grows_with_pixel_noise(scene) -> None:
    rng = np.random.default_rng(0)
    errors = []
    for sigma in (0.5, 2.0, 8.0):
        noisy = scene.animal2d + rng.normal(0, sigma, scene.animal2d.shape)
        errors.append(np.median(np.linalg.norm(triangulate(noisy, scene.cameras) - scene.animal3d, axis=-1)))
    assert errors[0] < errors[1] < errors[2]
    assert errors[2] / errors[0] > 5  # roughly linear in the noise


def test_ransac_drops_a_corrupted_view(scene) -> None:
    bad = scene.animal2d.copy()
    bad[2] += 60.0  # camera 3 is off by 85 px everywhere
    plain = triangulate(bad, scene.cameras)
    robust = triangulate(bad, scene.cameras, ransac_threshold=10.0, full_output=True)
    assert isinstance(robust, Triangulation)
    assert np.abs(robust.points3d - scene.animal3d).max() < 1e-3
    assert np.median(np.abs(plain - scene.animal3d)) > 1.0
    assert not robust.used[2].any() and robust.used[[0, 1, 3]].all()
    assert robust.per_camera_error()["cam1"] < 1e-3
    assert (robust.n_views == 3).all()


def test_scores_cut_off_and_missing_views(scene) -> None:
    pts2d = scene.animal2d.copy()
    scores = np.ones(pts2d.shape[:-1])
    scores[1:, 0] = 0.1  # frame 0 seen well by camera 1 only
    pts2d[0, 1] = np.nan  # frame 1 lost by camera 1
    out = triangulate(pts2d, scene.cameras, scores, min_score=0.5, full_output=True)
    assert np.isnan(out.points3d[0]).all()
    assert np.abs(out.points3d[1:] - scene.animal3d[1:]).max() < 1e-3
    assert np.isnan(out.reprojection_error[0, 1]).all()
    assert (out.n_views[1] == 3).all()


def test_smoothing_reduces_jitter(scene) -> None:
    rng = np.random.default_rng(1)
    noisy = scene.animal2d + rng.normal(0, 3.0, scene.animal2d.shape)
    raw = triangulate(noisy, scene.cameras)
    smooth = triangulate(noisy, scene.cameras, smooth=5)
    err = lambda p: np.median(np.linalg.norm(p - scene.animal3d, axis=-1))  # noqa: E731
    assert err(smooth) < err(raw)


def test_dlt_needs_two_views_and_shapes_are_checked(scene) -> None:
    extr = np.stack([c.extrinsics for c in scene.cameras])
    norm = np.zeros((4, 2, 2))
    weights = np.array([[1, 1], [0, 1], [0, 0], [0, 0]], float)
    out = dlt(norm, weights, extr)
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
    with pytest.raises(CalibrationError, match="cameras"):
        triangulate(scene.animal2d[:2], scene.cameras)


@pytest.mark.shared_data
def test_dannce_human_labels_triangulate_to_the_3d_labels() -> None:
    import scipy.io

    from markerless.threed.calibration_io import read_dannce_mat

    for session in ("markerless_mouse_1", "markerless_mouse_2"):
        path = shared_path("dannce-markerless-mouse", session, "label3d_dannce.mat")
        group = read_dannce_mat(path)
        labels = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["labelData"]
        pts2d = np.stack([lab.data_2d.reshape(-1, 22, 2) for lab in labels])
        truth = labels[0].data_3d.reshape(-1, 22, 3)
        err = np.linalg.norm(triangulate(pts2d, group) - truth, axis=-1)
        assert np.nanmedian(err) < 1e-3 and np.nanpercentile(err, 95) < 1e-2  # mm: the 2D labels are exact projections
        assert np.isfinite(err).sum() > 1500
        noisy = pts2d + np.random.default_rng(0).normal(0, 1.0, pts2d.shape)
        err = np.linalg.norm(triangulate(noisy, group) - truth, axis=-1)
        assert 0.05 < np.nanmedian(err) < 1.0


def test_ransac_scales_to_31_cameras_with_outliers() -> None:
    """A Panoptic-like dome: 31 cameras, 10 % of views far off; every-pair RANSAC took seconds per 1000 points."""
    big = make_multicamera_scene(31, n_animal_frames=100, n_keypoints=10, render=False, seed=31)
    rng = np.random.default_rng(0)
    pts = big.animal2d + rng.normal(0, 1.0, big.animal2d.shape)
    bad = rng.random(pts.shape[:-1]) < 0.1
    pts[bad] += rng.uniform(30, 200, (bad.sum(), 2)) * rng.choice([-1, 1], (bad.sum(), 2))
    t0 = time.perf_counter()
    out = triangulate(pts, big.cameras, ransac_threshold=10.0, full_output=True)
    elapsed = time.perf_counter() - t0
    err = np.linalg.norm(out.points3d - big.animal3d, axis=-1)
    assert np.percentile(err, 95) <= 2.5  # mm
    assert not (out.used & bad).any()  # every moved view dropped
    assert elapsed < 1.0  # 1000 points; about 0.05 s on a quiet machine, 1.6 s before


def test_ransac_chunks_give_the_same_points(scene, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = scene.animal2d + np.random.default_rng(2).normal(0, 1.0, scene.animal2d.shape)
    bad[1, ::3] += 50.0
    whole = triangulate(bad, scene.cameras, ransac_threshold=8.0)
    monkeypatch.setattr(triangulation, "RANSAC_CHUNK", 7)
    assert np.allclose(triangulate(bad, scene.cameras, ransac_threshold=8.0), whole, equal_nan=True)


def test_min_score_per_camera(scene) -> None:
    scores = np.ones(scene.animal2d.shape[:-1])
    scores[0] = 0.3  # camera 1 scores on another scale (e.g. SLEAP)
    kept = triangulate(scene.animal2d, scene.cameras, scores, min_score=[0.2, 0.5, 0.5, 0.5], full_output=True)
    assert kept.used[0].all()
    dropped = triangulate(scene.animal2d, scene.cameras, scores, min_score=0.5, full_output=True)
    assert not dropped.used[0].any()
    with pytest.raises(CalibrationError, match="one per camera"):
        triangulate(scene.animal2d, scene.cameras, scores, min_score=[0.5, 0.5])
