"""Tests of markerless.results.eks: the ensemble Kalman smoother, on arrays, poses and project files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerless.cli import main
from markerless.errors import LabelFileError, ProjectError
from markerless.io.dlc import read_predictions, write_config, write_predictions
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout
from markerless.project.prediction_files import prediction_file
from markerless.results.eks import (
    eks_poses,
    ensemble_kalman_smoother,
    ensemble_statistics,
    kalman_smooth_observations,
    smooth_predictions,
)
from markerless.results.plausibility import jump_fraction


def _truth(n_frames: int = 600, n_kp: int = 4) -> np.ndarray:
    """A smooth trajectory ``(T, K, 2)``."""
    t = np.arange(n_frames)[:, None]
    k = np.arange(n_kp)[None, :]
    return np.stack([200 + 80 * np.sin(t / 40 + k), 150 + 50 * np.cos(t / 25 + k)], axis=-1)


def _members(truth: np.ndarray, n_members: int = 3, seed: int = 0, sd: float = 6.0) -> np.ndarray:
    """Noisy members ``(M, T, K, 2)``: frame-varying noise plus a few 50 px outliers per member."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.3, 1.0, size=truth.shape) * sd
    noisy = truth[None] + rng.normal(size=(n_members, *truth.shape)) * scale[None]
    for m in range(n_members):
        frames = rng.integers(0, truth.shape[0], 10)
        noisy[m, frames, rng.integers(0, truth.shape[1], 10)] += 50.0
    return noisy


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean(np.sum((a - b) ** 2, axis=-1))))


def _smooth_array(members: np.ndarray, **kwargs) -> np.ndarray:
    n_m, n_t, n_k, _ = members.shape
    result = ensemble_kalman_smoother(members.reshape(n_m, n_t, 2 * n_k), groups=np.arange(2 * n_k) // 2, **kwargs)
    return result.mean.reshape(n_t, n_k, 2)


@pytest.mark.parametrize("state", ["position", "velocity"])
def test_eks_of_noisy_members_reduces_error_and_jumps(state: str) -> None:
    truth = _truth()
    members = _members(truth)
    mean = members.mean(axis=0)
    smoothed = _smooth_array(members, state=state)
    assert _rmse(smoothed, truth) < 0.6 * _rmse(mean, truth), (_rmse(smoothed, truth), _rmse(mean, truth))
    assert jump_fraction(mean) > 0.01
    assert jump_fraction(smoothed) < 0.5 * jump_fraction(mean)


def test_constant_position_smoother_is_the_exact_posterior() -> None:
    """The RTS smoother equals the Gaussian posterior of the random walk, solved as one linear system."""
    rng = np.random.default_rng(3)
    n_t, s = 40, 2.5
    y = np.cumsum(rng.normal(0, np.sqrt(s), n_t)) + rng.normal(0, 1.0, n_t)
    r = rng.uniform(0.5, 3.0, n_t)
    y[[5, 6, 20]] = np.nan  # missing frames
    result = kalman_smooth_observations(y[:, None], r[:, None], smoothing=s)
    seen = np.isfinite(y)
    m0, p0 = np.nanmean(y), np.nanvar(y)
    precision = np.diag(np.where(seen, 1.0 / r, 0.0))
    precision[0, 0] += 1.0 / p0
    diff = np.diff(np.eye(n_t), axis=0)  # (T-1, T): z_t - z_{t-1}
    precision += diff.T @ diff / s
    rhs = np.where(seen, np.nan_to_num(y) / r, 0.0)
    rhs[0] += m0 / p0
    cov = np.linalg.inv(precision)
    np.testing.assert_allclose(result.mean[:, 0], cov @ rhs, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(result.variance[:, 0], np.diag(cov), rtol=1e-8)


def test_smoothing_parameter_chosen_near_the_true_process_noise() -> None:
    rng = np.random.default_rng(5)
    n_t, n = 2000, 6
    true_s = np.array([0.1, 0.1, 4.0, 4.0, 100.0, 100.0])
    walk = np.cumsum(rng.normal(size=(n_t, n)) * np.sqrt(true_s), axis=0)
    r = rng.uniform(1.0, 4.0, size=(n_t, n))
    y = walk + rng.normal(size=(n_t, n)) * np.sqrt(r)
    result = kalman_smooth_observations(y, r, groups=np.arange(n) // 2)
    ratio = result.smoothing / true_s
    assert np.all((ratio > 0.6) & (ratio < 1.6)), result.smoothing
    assert result.smoothing[0] == result.smoothing[1]  # one value per group


def test_missing_members_and_frames() -> None:
    truth = _truth(200, 2)
    members = _members(truth, sd=2.0)
    members[0, 50:60, 0] = np.nan  # one member misses a stretch
    members[:, 100:110, 1] = np.nan  # no member sees body part 1 for 10 frames
    n_m, n_t = members.shape[:2]
    flat = members.reshape(n_m, n_t, 4)
    flat[:, :, 3] = np.nan  # one series never observed
    result = ensemble_kalman_smoother(flat)
    assert np.isfinite(result.mean[:, :3]).all()
    assert np.isnan(result.mean[:, 3]).all()
    gap, around = result.variance[100:110, 2], result.variance[80:95, 2]
    assert gap.min() > around.max()  # unseen frames are less certain
    assert _rmse(result.mean[95:115, 2:3, None], truth[95:115, 1:2, 0:1]) < 5.0  # bridged, not lost
    seen = np.isfinite(result.observation)
    assert np.all(result.variance[seen] <= result.observation_variance[seen] + 1e-9)


def test_ensemble_statistics_with_one_member_seeing_a_point() -> None:
    members = np.array([[[1.0], [2.0], [3.0]], [[3.0], [np.nan], [5.0]]])  # (2, 3, 1)
    mean, var = ensemble_statistics(members)
    np.testing.assert_allclose(mean[:, 0], [2.0, 2.0, 4.0])
    np.testing.assert_allclose(var[:, 0], [1.0, 1.0, 1.0])  # frame 1: the series' median variance, not 0


def _layout() -> PoseLayout:
    return PoseLayout.single_animal(["nose", "tail"])


def _poses(xy: np.ndarray, like: float = 0.9, scorer: str = "DLC_x") -> Poses:
    data = np.concatenate([xy[:, None], np.full((*xy.shape[:-1], 1), like)[:, None]], axis=-1)
    return Poses(data, _layout(), scorer=scorer, fps=30.0)


def test_eks_poses_keeps_layout_and_refuses_mismatched_members() -> None:
    truth = _truth(100, 2)
    members = [_poses(m) for m in _members(truth, sd=3.0)]
    smoothed, variance = eks_poses(members)
    assert smoothed.data.shape == members[0].data.shape and variance.shape == (100, 1, 2, 2)
    assert smoothed.metadata["eks"]["method"] == "eks" and len(smoothed.metadata["eks"]["smoothing"]) == 2
    np.testing.assert_allclose(smoothed.likelihood, 0.9, rtol=1e-6)
    with pytest.raises(LabelFileError, match="differ in shape"):
        eks_poses([members[0], members[1].select_frames(slice(0, 50))])
    with pytest.raises(ValueError, match="at least 2"):
        eks_poses(members[:1])
    low = [_poses(m, like=0.01) for m in _members(truth, sd=3.0)]
    empty, _ = eks_poses(low, p_bound=0.1)  # every point under p_bound: nothing observed
    assert np.isnan(empty.xy).all()


def _project(tmp_path: Path, n_members: int = 3) -> tuple[Path, Path, list[Path]]:
    root = tmp_path / "proj"
    (root / "videos").mkdir(parents=True)
    video = root / "videos" / "clip.avi"
    video.touch()
    write_config(
        {"Task": "T", "scorer": "s", "date": "Nov24", "project_path": str(root), "bodyparts": ["nose", "tail"]},
        root / "config.yaml",
    )
    truth = _truth(120, 2)
    files = []
    for k, xy in enumerate(_members(truth, n_members, sd=3.0), start=1):
        scorer = f"DLC_Resnet50_TNov24shuffle{k}_snapshot_10"
        files.append(write_predictions(_poses(xy, scorer=scorer), video.parent / f"clip{scorer}.h5"))
    return root / "config.yaml", video, files


def test_smooth_predictions_of_shuffles_writes_eks_file_beside_first_member(tmp_path: Path) -> None:
    config, video, files = _project(tmp_path)
    (target,) = smooth_predictions(config, [video], shuffles=[1, 2, 3])
    assert target == files[0].with_name(files[0].stem + "_eks.h5")
    before, after = pd.read_hdf(files[0]), pd.read_hdf(target)
    assert before.columns.equals(after.columns) and before.index.equals(after.index)
    assert read_predictions(target).metadata["eks"]["members"]
    # the EKS file is not taken for shuffle 1's raw predictions
    assert prediction_file(video, 1) == files[0]
    with pytest.raises(ProjectError):  # nor for that of a shuffle that has none
        prediction_file(video, 4)


def test_smooth_predictions_bridges_points_under_the_projects_pcutoff(tmp_path: Path) -> None:
    config, video, files = _project(tmp_path)
    for path in files:  # every member puts the nose 150 px off for 5 frames, unsure of it (likelihood 0.1)
        poses = read_predictions(path)
        data = poses.data.copy()
        data[50:55, 0, 0, :2] += 150.0
        data[50:55, 0, 0, 2] = 0.1
        write_predictions(poses.with_data(data), path)
    truth = _truth(120, 2)[50:55, 0]
    (bridged,) = smooth_predictions(config, [video], shuffles=[1, 2, 3])  # config pcutoff: DeepLabCut's 0.6
    assert np.abs(read_predictions(bridged).xy[50:55, 0, 0] - truth).max() < 15.0
    (followed,) = smooth_predictions(config, [video], shuffles=[1, 2, 3], p_bound=0.0)
    assert np.abs(read_predictions(followed).xy[50:55, 0, 0] - truth).max() > 100.0


def test_smooth_predictions_of_given_files_and_too_few_members(tmp_path: Path) -> None:
    config, video, files = _project(tmp_path, n_members=2)
    (target,) = smooth_predictions(config, [video], predictions=files)
    assert target.name.endswith("_eks.h5")
    with pytest.raises(ProjectError, match="at least 2 members"):
        smooth_predictions(config, [video], predictions=files[:1])
    with pytest.raises(ProjectError, match="either --shuffles"):
        smooth_predictions(config, [video])
    other = video.with_name("clip2.avi")  # a name that starts with the first one's
    other.touch()
    copies = [f.with_name(f.name.replace("clip", "clip2", 1)) for f in files]
    for source, copy in zip(files, copies):
        copy.write_bytes(source.read_bytes())
    first, second = smooth_predictions(config, [video, other], predictions=[*files, *copies])
    assert first.name.startswith("clipDLC") and second.name.startswith("clip2DLC")


def test_smooth_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, video, files = _project(tmp_path)
    assert (
        main(["smooth", str(config), str(video), "--method", "eks", "--shuffles", "1", "2", "3", "--state", "velocity"])
        == 0
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == str(files[0].with_name(files[0].stem + "_eks.h5"))
    assert main(["smooth", str(config), str(video), "--shuffles", "1", "7"]) == 1  # shuffle 7 has no predictions
    assert "error:" in capsys.readouterr().err
    assert main(["smooth", str(config), str(video)]) == 1  # no members named
    assert "--shuffles K... or --predictions" in capsys.readouterr().err
