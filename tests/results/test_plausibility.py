"""Tests of markerless.results.plausibility: jumps, pose PCA, multi-view consistency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markerless.errors import ConfigError, ProjectError
from markerless.results.plausibility import (
    fit_multiview_pca,
    fit_pca,
    fit_pose_pca,
    jump_fraction,
    jumps,
    mirrored_pairs,
    multiview_error,
    plausibility_report,
    pose_pca_error,
    view_pairs,
)

MIRROR_MOUSE = Path(__file__).resolve().parents[3] / "shared" / "data" / "lightning-pose-mirror-mouse"


def test_jumps_count_only_observed_moves_over_the_threshold() -> None:
    xy = np.zeros((5, 2, 2))
    xy[2, 0] = [30.0, 0.0]  # body part 0 jumps to 30 px and back: two jumps
    xy[3, 1] = np.nan  # body part 1: two frame pairs not observed
    assert jumps(xy).sum() == 2
    assert jump_fraction(xy) == pytest.approx(2 / 6)
    np.testing.assert_allclose(jump_fraction(xy, per_keypoint=True), [2 / 4, 0.0])
    assert jump_fraction(xy, threshold=40.0) == 0.0
    assert np.isnan(jump_fraction(np.full((3, 1, 2), np.nan)))


def _poses_in_subspace(n_frames: int = 60, n_kp: int = 5, seed: int = 0) -> np.ndarray:
    """Poses ``(F, K, 2)`` of a rigid body part layout translated and scaled: a 3-dimensional subspace."""
    rng = np.random.default_rng(seed)
    shape = rng.normal(size=(n_kp, 2)) * 20
    shift = rng.normal(size=(n_frames, 1, 2)) * 20 + 200
    scale = rng.uniform(0.5, 1.5, size=(n_frames, 1, 1))
    return shift + scale * shape[None]


def test_pose_pca_reconstructs_labelled_poses_and_flags_others() -> None:
    labelled = _poses_in_subspace()
    fit = fit_pose_pca(labelled)
    assert fit.components.shape[0] == 3  # x shift, y shift, scale
    assert pose_pca_error(fit, labelled).max() < 1e-6
    odd = labelled[:1].copy()
    odd[0, 2] += [25.0, -10.0]  # one body part out of place
    error = pose_pca_error(fit, odd)[0]
    assert error[2] > 10.0 and error.argmax() == 2


def test_pose_pca_refuses_too_few_complete_frames() -> None:
    labelled = _poses_in_subspace(n_frames=12, n_kp=5)
    labelled[:5, 0] = np.nan  # 7 complete frames, 10 needed
    with pytest.raises(ProjectError, match=r"needs at least 10 frames .* have 7\. Label more frames"):
        fit_pose_pca(labelled, source="CollectedData_x.h5")


def test_fit_pca_keeps_the_variance_asked_for() -> None:
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(500, 4)) * [10.0, 3.0, 0.1, 0.01]
    assert fit_pca(samples, variance_kept=0.9).components.shape[0] == 1
    assert fit_pca(samples, variance_kept=0.99).components.shape[0] == 2
    assert fit_pca(samples, n_components=3).components.shape[0] == 3


def test_multiview_error_is_zero_for_consistent_views_and_positive_otherwise() -> None:
    rng = np.random.default_rng(2)
    points = rng.normal(size=(80, 3, 3)) * 30  # 80 frames, 3 body parts in 3D
    top = points[..., [0, 1]] + 100  # an orthographic view from above
    bottom = points[..., [0, 2]] * [1.0, -0.8] + 300  # a mirror below
    names = ["nose_top", "ear_top", "tail_top", "nose_bot", "ear_bot", "tail_bot"]
    xy = np.concatenate([top, bottom], axis=1)  # (F, 6, 2)
    assert mirrored_pairs(names) == [("nose_top", "nose_bot"), ("ear_top", "ear_bot"), ("tail_top", "tail_bot")]
    pairs = view_pairs(names, mirrored_pairs(names))
    fit = fit_multiview_pca(xy, pairs)
    assert multiview_error(fit, xy, pairs).max() < 1e-6
    wrong = xy[:1].copy()
    wrong[0, 3, 0] += 20.0  # the bottom nose moved sideways: x disagrees with the top view
    assert multiview_error(fit, wrong, pairs)[0, 0].max() > 5.0


def test_view_pairs_name_unknown_body_parts() -> None:
    with pytest.raises(ConfigError, match="'nose_bottom' does not exist; did you mean 'nose_bot'"):
        view_pairs(["nose_top", "nose_bot"], [("nose_top", "nose_bottom")])
    with pytest.raises(ConfigError, match="same number of views"):
        view_pairs(["a", "b", "c"], [("a", "b"), ("c",)])


def test_report_on_noisy_predictions() -> None:
    labelled = _poses_in_subspace(n_frames=40)
    fit = fit_pose_pca(labelled)
    rng = np.random.default_rng(3)
    smooth = _poses_in_subspace(n_frames=200)  # the same body, other positions
    noisy = smooth + rng.normal(size=smooth.shape) * 3.0
    report = plausibility_report(noisy, pose_pca=fit)
    assert set(report) == {"jump_threshold", "jump_fraction", "pose_pca_error"}
    assert 1.0 < report["pose_pca_error"]["median"] < 6.0
    assert report["pose_pca_error"]["p95"] >= report["pose_pca_error"]["median"]


@pytest.mark.skipif(not MIRROR_MOUSE.is_dir(), reason="needs ../shared/data/lightning-pose-mirror-mouse")
def test_mirror_mouse_labels_fit_both_subspaces() -> None:
    import pandas as pd

    df = pd.read_csv(MIRROR_MOUSE / "CollectedData.csv", header=[0, 1, 2], index_col=0)
    names = list(dict.fromkeys(df.columns.get_level_values(1)))
    xy = df.to_numpy(float).reshape(len(df), -1, 2)
    pose = fit_pose_pca(xy)
    assert 1 <= pose.components.shape[0] < 2 * len(names)
    pairs = view_pairs(names, mirrored_pairs(names))
    assert len(pairs) == 7  # the obstacle is obs_top vs obsHigh_bot/obsLow_bot: no pair
    mv = fit_multiview_pca(xy, pairs)
    assert np.nanmedian(multiview_error(mv, xy, pairs)) < 5.0
