"""Tests of markerless.io.nwb, and that the ``movement`` package loads our NWB and DeepLabCut files."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markerless.errors import LabelFileError
from markerless.io.nwb import read_nwb, write_nwb
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout, Skeleton

START = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def _single(n_frames: int = 20, fps: float | None = 30.0, seed: int = 0) -> Poses:
    layout = PoseLayout.single_animal(
        ["snout", "leftear", "rightear", "tail"], edges=[("snout", "tail"), ("leftear", "rightear")]
    )
    rng = np.random.default_rng(seed)
    data = np.concatenate([rng.uniform(0, 640, (n_frames, 1, 4, 2)), rng.uniform(0, 1, (n_frames, 1, 4, 1))], axis=-1)
    data[3, 0, 1] = np.nan
    return Poses(data, layout, scorer="DLC_resnet50_testNov24shuffle1_100", fps=fps)


def _multi(n_frames: int = 15, unique: tuple[str, ...] = ("led",)) -> Poses:
    layout = PoseLayout(
        Skeleton.from_names(["head", "body"], [("head", "body")]), ("mouse1", "mouse2"), unique, multi_animal=True
    )
    rng = np.random.default_rng(1)
    n_ind, n_kp = layout.shape
    data = np.concatenate(
        [rng.uniform(0, 100, (n_frames, n_ind, n_kp, 2)), rng.uniform(0, 1, (n_frames, n_ind, n_kp, 1))], axis=-1
    )
    data[:, ~layout.valid] = np.nan
    return Poses(data, layout, scorer="DLC_dlcrnet_x", fps=25.0)


def _assert_same(a: Poses, b: Poses) -> None:
    assert a.layout == b.layout
    np.testing.assert_allclose(a.data, b.data, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert a.fps == b.fps
    assert a.scorer == b.scorer


def test_single_animal_round_trip(tmp_path) -> None:
    poses = _single()
    path = write_nwb(
        poses,
        tmp_path / "session.nwb",
        video=tmp_path / "video.mp4",
        video_size=(640, 480),
        session_start_time=START,
        subject_id="m1",
    )
    assert path.is_file() and not list(tmp_path.glob(".*tmp*"))
    import pynwb

    assert pynwb.validate(path=str(path)) == []  # schema-valid NWB + ndx-pose
    back = read_nwb(path)
    _assert_same(poses, back)
    assert back.layout.skeleton.edges == poses.layout.skeleton.edges


def test_multi_animal_round_trip(tmp_path) -> None:
    import pynwb

    poses = _multi()
    path = write_nwb(poses, tmp_path / "multi.nwb", session_start_time=START)
    assert pynwb.validate(path=str(path)) == []
    _assert_same(poses, read_nwb(path))


def test_unknown_fps_and_frame_offsets_round_trip(tmp_path) -> None:
    poses = _single(8, fps=None).select_frames(slice(2, 8))
    back = read_nwb(write_nwb(poses, tmp_path / "noclock.nwb", session_start_time=START))
    _assert_same(poses, back)
    assert back.fps is None


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_frames=st.integers(2, 12),
    n_kp=st.integers(1, 4),
    fps=st.sampled_from([None, 25.0, 29.97, 250.0]),
    start=st.integers(0, 1000),
    seed=st.integers(0, 1000),
)
def test_round_trip_property(tmp_path, n_frames: int, n_kp: int, fps: float | None, start: int, seed: int) -> None:
    layout = PoseLayout.single_animal([f"kp{i}" for i in range(n_kp)])
    rng = np.random.default_rng(seed)
    data = rng.uniform(-10, 2000, (n_frames, 1, n_kp, 3)).astype(np.float32)
    data[..., 2] = rng.uniform(0, 1, (n_frames, 1, n_kp))
    data[rng.random((n_frames, 1, n_kp)) < 0.2] = np.nan
    poses = Poses(data, layout, fps=fps, frames=np.arange(start, start + n_frames))
    _assert_same(poses, read_nwb(write_nwb(poses, tmp_path / f"p{seed}.nwb", session_start_time=START)))


def test_read_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(LabelFileError, match=r"missing\.nwb"):
        read_nwb(tmp_path / "missing.nwb")
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(LabelFileError, match=r"bad\.nwb"):
        read_nwb(bad)


# --- movement ---------------------------------------------------------------------------------------
def test_movement_loads_our_nwb(tmp_path) -> None:
    load_poses = pytest.importorskip("movement.io.load_poses")
    poses = _single()
    path = write_nwb(poses, tmp_path / "session.nwb", session_start_time=START)
    ds = load_poses.from_nwb_file(path)
    assert list(ds.individuals.values) == ["individual_0"]
    assert sorted(ds.keypoints.values) == sorted(poses.layout.keypoint_names)  # movement sorts them
    ds = ds.sel(keypoints=list(poses.layout.keypoint_names))
    assert ds.attrs["fps"] == pytest.approx(30.0)
    pos = ds.position.transpose("time", "individuals", "keypoints", "space").values
    np.testing.assert_allclose(pos, poses.data[..., :2], rtol=1e-6, equal_nan=True)
    conf = ds.confidence.transpose("time", "individuals", "keypoints").values
    np.testing.assert_allclose(conf, poses.data[..., 2], rtol=1e-6, equal_nan=True)


def test_movement_loads_one_individual_of_multi_animal_nwb(tmp_path) -> None:
    load_poses = pytest.importorskip("movement.io.load_poses")
    poses = _multi()
    path = write_nwb(poses, tmp_path / "multi.nwb", session_start_time=START)
    ds = load_poses.from_nwb_file(path, pose_estimation_key="PoseEstimation_mouse2").sel(keypoints=["head", "body"])
    pos = ds.position.transpose("time", "individuals", "keypoints", "space").values[:, 0]
    np.testing.assert_allclose(pos, poses.data[:, 1, :2, :2], rtol=1e-6)


def _multi_without_unique() -> Poses:
    return _multi(unique=())


# movement 0.15 cannot read tables with unique body parts (its reshape assumes every individual has
# every body part), DeepLabCut's own included; so the multi-animal case here has none.
@pytest.mark.parametrize("make", [_single, _multi_without_unique])
def test_movement_loads_our_dlc_h5(tmp_path, make) -> None:
    load_poses = pytest.importorskip("movement.io.load_poses")
    from markerless.io.dlc import write_predictions

    poses = make()
    path = write_predictions(poses, tmp_path / f"videoDLC_{make.__name__}.h5", save_as_csv=True)
    for file in (path, path.with_suffix(".csv")):
        ds = load_poses.from_dlc_file(file, fps=poses.fps)
        ours = Poses.from_xarray(ds)
        names = list(ds.individuals.values)
        assert names == list(poses.layout.individual_names)
        np.testing.assert_allclose(
            ours.data,
            poses.data[:, :, [poses.layout.keypoint_index(k) for k in ds.keypoints.values]],
            rtol=1e-5,
            equal_nan=True,
        )


def test_to_xarray_matches_movement_layout() -> None:
    load_poses = pytest.importorskip("movement.io.load_poses")
    for fps in (30.0, None):
        poses = _single(fps=fps)
        ours = poses.to_xarray()
        theirs = load_poses.from_numpy(
            np.transpose(poses.data[..., :2], (0, 3, 2, 1)),
            np.transpose(poses.data[..., 2], (0, 2, 1)),
            individual_names=list(poses.layout.individual_names),
            keypoint_names=list(poses.layout.keypoint_names),
            fps=fps,
            source_software="markerless",
        )
        for name in ("position", "confidence"):
            assert ours[name].dims == theirs[name].dims
            np.testing.assert_allclose(ours[name].values, theirs[name].values, equal_nan=True)
        for coord in ("time", "space", "keypoints", "individuals"):
            np.testing.assert_allclose(
                ours[coord].values, theirs[coord].values
            ) if coord == "time" else np.testing.assert_array_equal(ours[coord].values, theirs[coord].values)
        assert ours["time"].dtype.kind == theirs["time"].dtype.kind
        for key, value in theirs.attrs.items():
            assert ours.attrs[key] == value, key
        assert all(v is not None for v in ours.attrs.values())  # netCDF cannot store None attributes
        back = Poses.from_xarray(ours)
        np.testing.assert_allclose(back.data, poses.data, rtol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(back.frames, poses.frames)
        assert back.fps == poses.fps and back.layout.keypoint_names == poses.layout.keypoint_names


def test_movement_writes_dlc_files_we_read(tmp_path) -> None:
    save_poses = pytest.importorskip("movement.io.save_poses")
    from markerless.io.dlc import read_predictions

    poses = _single()
    path = tmp_path / "videoDLC_movement.h5"
    save_poses.to_dlc_file(poses.to_xarray(), path, split_individuals=False)
    back = read_predictions(path)
    assert back.layout.keypoint_names == poses.layout.keypoint_names
    np.testing.assert_allclose(back.data, poses.data, rtol=1e-6, equal_nan=True)
