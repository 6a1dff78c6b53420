"""SLEAP .slp files: labels and predictions written and read back through sleap-io."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sleap_io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markerless.errors import LabelFileError
from markerless.io.sleap import SleapVideoData, read_slp_labels, read_slp_predictions, write_slp
from markerless.model import Labels, PoseLayout, Poses, Skeleton
from tests.fixtures.data import shared_path

PARTS = ["nose", "left_ear", "right_ear", "tail"]
EDGES = [("nose", "left_ear"), ("nose", "right_ear"), ("nose", "tail")]


def layout(n_individuals: int, unique: bool) -> PoseLayout:
    skeleton = Skeleton.from_names(PARTS, EDGES)
    if n_individuals == 1 and not unique:
        return PoseLayout(skeleton)
    names = tuple(f"mouse{i}" for i in range(n_individuals))
    return PoseLayout(skeleton, names, ("corner",) if unique else (), multi_animal=True)


def random_labels(lay: PoseLayout, n: int, seed: int) -> tuple[Labels, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = np.round(rng.uniform(0, 500, (n, *lay.shape, 2)), 2)
    xy[rng.random(xy.shape[:-1]) < 0.3] = np.nan  # unlabelled points (both coordinates)
    xy[:, ~lay.valid] = np.nan
    xy[:, 0, 0] = rng.uniform(0, 500, (n, 2))  # every frame has a label (empty frames are not stored in .slp)
    occluded = (rng.random(xy.shape[:-1]) < 0.2) & np.isfinite(xy).all(axis=-1)
    frames = np.sort(rng.choice(1000, n, replace=False))
    images = [f"labeled-data/v/img{f:03d}.png" for f in frames]
    return Labels(lay, images, xy, occluded, scorer="me"), frames


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_individuals=st.integers(1, 3),
    unique=st.booleans(),
    n=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_labels_round_trip(tmp_path: Path, n_individuals: int, unique: bool, n: int, seed: int) -> None:
    lay = layout(n_individuals, unique)
    labels, frames = random_labels(lay, n, seed)
    out = write_slp(tmp_path / "l.slp", lay, [SleapVideoData(tmp_path / "v.mp4", labels, frames)])
    back = read_slp_labels(out)
    assert back.layout.individual_names == lay.individual_names
    assert back.layout.keypoint_names == lay.keypoint_names
    assert back.layout.unique_bodyparts == lay.unique_bodyparts
    assert back.layout.multi_animal == lay.multi_animal
    assert back.layout.skeleton.edges == lay.skeleton.edges
    assert {frozenset(p) for p in back.layout.skeleton.symmetric_pairs} == {
        frozenset(p) for p in lay.skeleton.symmetric_pairs
    }
    (video,) = back.videos
    assert video.stored_video == "v.mp4" and video.video == tmp_path / "v.mp4"  # relative to the .slp file
    assert np.array_equal(video.frames, frames)
    result = video.to_labels(back.layout, labels.images, "me")
    np.testing.assert_array_equal(result.xy, labels.xy)
    np.testing.assert_array_equal(result.occluded, labels.occluded)


def test_predictions_round_trip(tmp_path: Path) -> None:
    lay = layout(2, False)
    rng = np.random.default_rng(1)
    data = (rng.uniform(0, 1, (5, *lay.shape, 3)) * np.array([400.0, 300.0, 1.0])).astype(np.float32)
    data[1, 1] = np.nan  # an animal not found
    data[2, 0, 3] = np.nan  # a part not found
    poses = Poses(data, lay, frames=np.array([3, 4, 7, 8, 20]))
    labels, frames = random_labels(lay, 2, 0)
    out = write_slp(tmp_path / "p.slp", lay, [SleapVideoData(tmp_path / "v.mp4", labels, frames, poses)])
    back = read_slp_predictions(out)
    assert back.layout.individual_names == lay.individual_names
    np.testing.assert_array_equal(back.frames, poses.frames)
    np.testing.assert_allclose(back.data, poses.data, rtol=1e-6)
    assert len(read_slp_labels(out).videos[0].frames) == 2  # user labels apart from predictions


def test_untracked_instances_are_numbered(tmp_path: Path) -> None:
    skeleton = sio.Skeleton(nodes=["a", "b"], edges=[["a", "b"]])
    video = sio.Video(filename="x.mp4", open_backend=False)
    inst = [sio.Instance.from_numpy(np.array([[1.0, 2.0], [3.0, 4.0]]) + k, skeleton=skeleton) for k in range(3)]
    frames = [
        sio.LabeledFrame(video=video, frame_idx=5, instances=inst[:3]),
        sio.LabeledFrame(video=video, frame_idx=9, instances=inst[:1]),
    ]
    sio.save_slp(sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton]), str(tmp_path / "u.slp"))
    back = read_slp_labels(tmp_path / "u.slp")
    assert back.layout.individuals == ("individual_0", "individual_1", "individual_2")
    assert back.layout.skeleton.edges == (("a", "b"),)
    xy = back.videos[0].xy
    assert xy.shape == (2, 3, 2, 2) and np.isnan(xy[1, 1:]).all() and xy[0, 2, 1, 0] == 5.0


def test_untracked_predictions_get_as_many_individuals_as_the_most_in_a_frame(tmp_path: Path) -> None:
    skeleton = sio.Skeleton(nodes=["a", "b"])
    video = sio.Video(filename="x.mp4", open_backend=False)
    user = sio.Instance.from_numpy(np.ones((2, 2)), skeleton=skeleton)
    pred = [
        sio.PredictedInstance.from_numpy(np.ones((2, 2)) * k, skeleton=skeleton, point_scores=np.full(2, 0.5))
        for k in range(2, 5)
    ]
    frames = [
        sio.LabeledFrame(video=video, frame_idx=1, instances=[user, *pred[:2]]),
        sio.LabeledFrame(video=video, frame_idx=3, instances=pred),
    ]
    sio.save_slp(sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton]), str(tmp_path / "p.slp"))
    poses = read_slp_predictions(tmp_path / "p.slp")
    assert poses.layout.individuals == ("individual_0", "individual_1", "individual_2")
    np.testing.assert_array_equal(poses.frames, [1, 3])
    np.testing.assert_array_equal(poses.data[1, :, 0, 0], [2, 3, 4])
    assert np.isnan(poses.data[0, 2]).all()
    assert read_slp_labels(tmp_path / "p.slp").layout.individuals == ("individual_0",)  # user instances only


def test_more_untracked_animals_than_tracks(tmp_path: Path) -> None:
    skeleton = sio.Skeleton(nodes=["a", "b"])
    video = sio.Video(filename="x.mp4", open_backend=False)
    track = sio.Track(name="only")
    inst = [sio.Instance.from_numpy(np.ones((2, 2)) * k, skeleton=skeleton) for k in range(1, 3)]
    inst[0].track = track
    frame = sio.LabeledFrame(video=video, frame_idx=4, instances=[*inst, inst[1]])
    labels = sio.Labels(labeled_frames=[frame], videos=[video], skeletons=[skeleton], tracks=[track])
    sio.save_slp(labels, str(tmp_path / "m.slp"))
    with pytest.raises(LabelFileError, match=r"m\.slp: frame 4 of x\.mp4 holds 3 animals .* 1 individuals"):
        read_slp_labels(tmp_path / "m.slp")


def test_not_a_slp_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.slp"
    bad.write_text("hello")
    with pytest.raises(LabelFileError, match=r"bad\.slp as a SLEAP \.slp file"):
        read_slp_labels(bad)
    with pytest.raises(LabelFileError, match="does not exist"):
        read_slp_labels(tmp_path / "none.slp")


@pytest.mark.shared_data
def test_flies_clip() -> None:
    path = shared_path("sleap-flies-clip", "clip.slp")
    slp = read_slp_labels(path)
    assert slp.layout.individuals == ("female", "male") and len(slp.layout.bodyparts) == 13
    assert len(slp.layout.skeleton.edges) == 12
    (video,) = slp.videos
    assert video.video == path.parent / "clip.mp4" and len(video.frames) == 1500
    assert np.isfinite(video.xy).all(axis=-1).sum() > 0.9 * 1500 * 2 * 13
