"""Tests of markerless.results.filters: filters, gap filling, likelihood threshold, project files."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.errors import ConfigError, ProjectError
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout, Skeleton
from markerless.results.filters import filter_poses, kalman_smooth


def _truth(n_frames: int = 400, n_kp: int = 3) -> np.ndarray:
    t = np.arange(n_frames)[:, None]
    k = np.arange(n_kp)[None, :]
    x = 200 + 80 * np.sin(t / 40 + k)
    y = 150 + 50 * np.cos(t / 25 + k)
    return np.stack([x, y], axis=-1)[:, None]  # (T, 1, K, 2)


def _poses(xy: np.ndarray, likelihood: float | np.ndarray = 0.9) -> Poses:
    layout = PoseLayout.single_animal([f"p{i}" for i in range(xy.shape[2])])
    like = np.broadcast_to(np.asarray(likelihood, dtype=np.float64), xy.shape[:-1])
    return Poses(np.concatenate([xy, like[..., None]], axis=-1), layout, scorer="DLC_test", fps=30.0)


def _rmse(data: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.nanmean(np.sum((data[..., :2] - truth) ** 2, axis=-1))))


@pytest.fixture
def noisy_with_spikes() -> tuple[Poses, np.ndarray]:
    rng = np.random.default_rng(0)
    truth = _truth()
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    spikes = rng.random(truth.shape[:-1]) < 0.03
    noisy[spikes] += rng.choice([-1.0, 1.0], size=(int(spikes.sum()), 2)) * 40
    return _poses(noisy), truth


@pytest.mark.parametrize("method", ["median", "kalman"])
def test_filters_remove_spikes_and_noise(method: str, noisy_with_spikes: tuple[Poses, np.ndarray]) -> None:
    poses, truth = noisy_with_spikes
    before = _rmse(poses.data, truth)
    after = _rmse(filter_poses(poses, method, window=7).data, truth)
    assert after < 0.3 * before, (before, after)
    assert after < 2.5


@pytest.mark.parametrize("method", ["median", "savgol", "kalman"])
def test_filters_reduce_gaussian_noise(method: str) -> None:
    rng = np.random.default_rng(1)
    truth = _truth()
    poses = _poses(truth + rng.normal(0, 3.0, truth.shape))
    before = _rmse(poses.data, truth)
    out = filter_poses(poses, method, window=9, polyorder=2)
    assert _rmse(out.data, truth) < 0.8 * before
    assert out.data.dtype == np.float32 and out.data.shape == poses.data.shape
    np.testing.assert_array_equal(out.frames, poses.frames)
    assert out.scorer == poses.scorer and out.metadata["filter"]["method"] == method


def test_input_is_not_modified(noisy_with_spikes: tuple[Poses, np.ndarray]) -> None:
    poses, _ = noisy_with_spikes
    copy = poses.data.copy()
    filter_poses(poses, "kalman")
    np.testing.assert_array_equal(poses.data, copy)


@pytest.mark.parametrize("method", ["none", "median", "savgol", "kalman"])
def test_short_gaps_filled_long_gaps_and_edges_left_missing(method: str) -> None:
    truth = _truth(200, 2)
    xy = truth.copy()
    xy[50:54, 0, 0] = np.nan  # 4-frame gap: filled
    xy[100:120, 0, 0] = np.nan  # 20-frame gap: left missing
    xy[:3, 0, 1] = np.nan  # gap at the start: nothing to interpolate from
    like = np.full(truth.shape[:-1], 0.9)
    like[50:54, 0, 0] = 0.0
    like[49, 0, 0], like[54, 0, 0] = 0.7, 0.8
    out = filter_poses(_poses(xy, like), method, max_gap=5, window=5).data
    assert np.isfinite(out[50:54, 0, 0, :2]).all()
    assert np.abs(out[50:54, 0, 0, :2] - truth[50:54, 0, 0]).max() < 3.0
    np.testing.assert_allclose(out[50:54, 0, 0, 2], 0.7)  # the weaker of the two neighbours
    assert np.isnan(out[100:120, 0, 0, :2]).all()
    assert np.isfinite(out[99, 0, 0, :2]).all() and np.isfinite(out[120, 0, 0, :2]).all()
    assert np.isnan(out[:3, 0, 1, :2]).all()
    assert np.isfinite(out[3:, 0, 1, :2]).all()


def test_gap_of_exactly_max_gap_is_filled() -> None:
    truth = _truth(60, 1)
    xy = truth.copy()
    xy[10:15, 0, 0] = np.nan
    out = filter_poses(_poses(xy), "none", max_gap=5).data
    assert np.isfinite(out[10:15]).all()
    assert np.isnan(filter_poses(_poses(xy), "none", max_gap=4).data[10:15, 0, 0, :2]).all()


def test_likelihood_threshold_treats_points_as_missing() -> None:
    truth = _truth(100, 1)
    xy = truth.copy()
    xy[40, 0, 0] += 100.0  # a wild point the network was unsure of
    xy[70:90, 0, 0] += 100.0
    like = np.full(truth.shape[:-1], 0.95)
    like[40, 0, 0] = 0.05
    like[70:90, 0, 0] = 0.05
    out = filter_poses(_poses(xy, like), "none", p_bound=0.1, max_gap=3).data
    assert np.abs(out[40, 0, 0, :2] - truth[40, 0, 0]).max() < 1.0  # replaced by interpolation
    assert np.isnan(out[70:90, 0, 0, :2]).all()  # too long: missing, likelihood kept
    np.testing.assert_allclose(out[70:90, 0, 0, 2], 0.05)
    kept = filter_poses(_poses(xy, like), "none", p_bound=0.01).data
    np.testing.assert_allclose(kept[40, 0, 0, :2], xy[40, 0, 0], rtol=1e-6)  # under the bound only


def test_multi_animal_invalid_cells_stay_nan() -> None:
    layout = PoseLayout(Skeleton.from_names(["a", "b"]), ("m1", "m2"), ("led",), multi_animal=True)
    rng = np.random.default_rng(2)
    data = np.concatenate([rng.uniform(0, 100, (50, 3, 3, 2)), np.full((50, 3, 3, 1), 0.9)], axis=-1)
    data[:, ~layout.valid] = np.nan
    out = filter_poses(Poses(data, layout), "kalman").data
    assert np.isnan(out[:, ~layout.valid]).all()
    assert np.isfinite(out[:, layout.valid]).all()


def test_kalman_follows_a_real_jump() -> None:
    rng = np.random.default_rng(3)
    step = np.where(np.arange(300) < 150, 100.0, 300.0)
    smoothed = kalman_smooth((step + rng.normal(0, 1, 300))[:, None])[:, 0]
    assert np.abs(smoothed[160:] - 300).max() < 5
    assert np.abs(smoothed[:145] - 100).max() < 5


def test_empty_and_all_missing_series() -> None:
    layout = PoseLayout.single_animal(["a"])
    assert len(filter_poses(Poses.empty(0, layout), "kalman")) == 0
    out = filter_poses(Poses.empty(10, layout), "median")
    assert np.isnan(out.data[..., :2]).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "arima"}, "Unknown filter"),
        ({"window": 4}, "odd"),
        ({"method": "savgol", "window": 5, "polyorder": 5}, "polynomial"),
        ({"max_gap": -1}, "gap"),
        ({"p_bound": 2.0}, "p_bound"),
    ],
)
def test_bad_parameters_raise_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        filter_poses(_poses(_truth(20, 1)), **kwargs)


@settings(max_examples=25, deadline=None)
@given(
    n_frames=st.integers(1, 40),
    n_kp=st.integers(1, 3),
    method=st.sampled_from(["none", "median", "savgol", "kalman"]),
    max_gap=st.integers(0, 6),
    seed=st.integers(0, 10_000),
)
def test_missing_points_property(n_frames: int, n_kp: int, method: str, max_gap: int, seed: int) -> None:
    """Output is NaN exactly where a point is missing and its gap is not filled; likelihoods are kept."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 500, (n_frames, 1, n_kp, 2))
    like = rng.uniform(0, 1, (n_frames, 1, n_kp))
    xy[rng.random((n_frames, 1, n_kp)) < 0.1] = np.nan
    poses = _poses(xy, like)
    out = filter_poses(poses, method, window=3, polyorder=1, p_bound=0.3, max_gap=max_gap).data
    missing = ~np.isfinite(xy).all(-1) | (like < 0.3)
    for k in range(n_kp):
        m = missing[:, 0, k]
        seen = np.flatnonzero(~m)
        expected_nan = m.copy()
        if len(seen):
            for a, b in itertools.pairwise(seen):
                if 1 < b - a <= max_gap + 1:
                    expected_nan[a + 1 : b] = False
        np.testing.assert_array_equal(np.isnan(out[:, 0, k, 0]), expected_nan)
        np.testing.assert_allclose(out[~m, 0, k, 2], like[~m, 0, k], rtol=1e-6)
    if method == "none":
        keep = ~missing
        np.testing.assert_allclose(out[keep][:, :2], xy[keep], rtol=1e-5)


@pytest.mark.parametrize("multi", [False, True])
def test_filter_predictions_writes_dlc_files_with_the_same_columns(tmp_path, multi: bool) -> None:
    import pandas as pd

    from markerless.io.dlc import write_config, write_predictions
    from markerless.results.filters import filter_predictions

    root, out_dir = tmp_path / "proj", tmp_path / "results"
    root.mkdir()
    out_dir.mkdir()
    video = root / "clip.avi"
    video.touch()
    if multi:
        layout = PoseLayout(Skeleton.from_names(["a", "b"]), ("m1", "m2"), ("led",), multi_animal=True)
        cfg = {
            "multianimalproject": True,
            "multianimalbodyparts": ["a", "b"],
            "uniquebodyparts": ["led"],
            "individuals": ["m1", "m2"],
            "bodyparts": "MULTI!",
        }
    else:
        layout = PoseLayout.single_animal(["a", "b"])
        cfg = {"bodyparts": ["a", "b"]}
    write_config({"Task": "T", "scorer": "s", "date": "Nov24", "project_path": str(root), **cfg}, root / "config.yaml")
    rng = np.random.default_rng(0)
    n_ind, n_kp = layout.shape
    data = np.concatenate([rng.uniform(0, 99, (30, n_ind, n_kp, 2)), np.full((30, n_ind, n_kp, 1), 0.8)], axis=-1)
    data[:, ~layout.valid] = np.nan
    scorer = "DLC_x_Tshuffle1_5"
    source = write_predictions(Poses(data, layout, scorer=scorer), out_dir / f"clip{scorer}.h5")
    (target,) = filter_predictions(root / "config.yaml", [video], method="savgol", save_as_csv=True, dest=out_dir)
    assert target == out_dir / f"clip{scorer}_filtered.h5"
    before, after = pd.read_hdf(source), pd.read_hdf(target)
    assert before.columns.equals(after.columns) and before.index.equals(after.index)
    assert target.with_suffix(".csv").is_file()
    with pytest.raises(ProjectError):  # nothing beside the video itself
        filter_predictions(root / "config.yaml", [video])


def test_multi_animal_tracks_are_filtered_into_el_filtered_and_found_again(tmp_path) -> None:
    """DeepLabCut's names: tracks ``_el.h5`` (key ``tracks``) filter into ``_el_filtered.h5``; a raw file of
    an older run beside them is left byte for byte and is not the one filtered."""
    import pandas as pd

    from markerless.io.dlc import write_config, write_predictions
    from markerless.project.prediction_files import project_prediction_files
    from markerless.results.filters import filter_predictions

    root = tmp_path / "proj"
    root.mkdir()
    video = root / "clip.avi"
    video.touch()
    layout = PoseLayout(Skeleton.from_names(["a", "b"]), ("m1", "m2"), multi_animal=True)
    cfg = {"multianimalproject": True, "multianimalbodyparts": ["a", "b"], "individuals": ["m1", "m2"]}
    write_config({"Task": "T", "scorer": "s", "date": "Nov24", "project_path": str(root), **cfg}, root / "config.yaml")
    rng = np.random.default_rng(1)
    data = np.concatenate([rng.uniform(0, 99, (30, 2, 2, 2)), np.full((30, 2, 2, 1), 0.8)], axis=-1)
    scorer = "DLC_x_Tshuffle1_5"
    raw = write_predictions(Poses(data, layout, scorer=scorer), root / f"clip{scorer}.h5")
    raw_bytes = raw.read_bytes()
    tracks = write_predictions(Poses(data[:, ::-1].copy(), layout, scorer=scorer), root / f"clip{scorer}_el.h5")
    with pd.HDFStore(tracks, mode="r") as store:
        assert store.keys() == ["/tracks"]
    assert pd.read_hdf(tracks, "tracks").columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    (target,) = filter_predictions(root / "config.yaml", [video], method="median")
    assert target == root / f"clip{scorer}_el_filtered.h5"
    assert raw.read_bytes() == raw_bytes and not (root / f"clip{scorer}_filtered.h5").exists()
    filtered = pd.read_hdf(target)
    assert filtered.columns.equals(pd.read_hdf(tracks).columns)

    def xy_of_m1(df: pd.DataFrame) -> np.ndarray:
        return df.xs("m1", level="individuals", axis=1).drop(columns="likelihood", level="coords").to_numpy()

    # the tracks were filtered (their individuals are swapped relative to the raw file), not the raw file
    out = xy_of_m1(filtered)
    from_tracks = np.isclose(out, xy_of_m1(pd.read_hdf(tracks))).mean()
    from_raw = np.isclose(out, xy_of_m1(pd.read_hdf(raw))).mean()
    assert from_tracks > from_raw + 0.1
    _, pairs = project_prediction_files(root / "config.yaml", [video], filtered=True)
    assert [p for _, p in pairs] == [target]  # plots and labelled videos draw the filtered tracks
    _, pairs = project_prediction_files(root / "config.yaml", [video])
    assert [p for _, p in pairs] == [tracks]
