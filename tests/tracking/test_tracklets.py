"""Tracklets saved and read back, so stitching can be rerun."""

from __future__ import annotations

import numpy as np
import pytest

from markerless.errors import LabelFileError
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout, Skeleton
from markerless.tracking.stitching import stitch
from markerless.tracking.tracker import track
from markerless.tracking.tracklets import read_tracklets, tracklets_path, write_tracklets
from tests.tracking.helpers import scene_poses, strip_identities


def test_round_trip_stitches_the_same(tmp_path) -> None:
    shuffled, _ = strip_identities(scene_poses(120, 2), seed=3)
    shuffled.fps, shuffled.source = 30.0, "video.mp4"
    tracklets = track(shuffled, 2)
    path = write_tracklets(tracklets, tracklets_path(tmp_path / "videoDLC_x.h5"))
    assert path.name == "videoDLC_x_tracklets.npz"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    back = read_tracklets(path)
    np.testing.assert_array_equal(back.frame, tracklets.frame)
    np.testing.assert_array_equal(back.tracklet, tracklets.tracklet)
    np.testing.assert_array_equal(back.pose, tracklets.pose)
    assert back.source.layout == shuffled.layout
    assert (back.source.fps, back.source.source) == (30.0, "video.mp4")
    np.testing.assert_array_equal(stitch(back, 2).data, stitch(tracklets, 2).data)


def test_unique_body_parts_are_kept(tmp_path) -> None:
    layout = PoseLayout(Skeleton.from_names(["nose", "tail"]), ("a", "b"), ("corner",), multi_animal=True)
    data = np.full((5, 3, 3, 3), np.nan, dtype=np.float32)
    data[:, 0, :2] = [[10, 10, 1], [20, 10, 1]]
    data[:, 2, 2] = [5, 5, 0.9]
    poses = Poses(data, layout)
    tracked = stitch(read_tracklets(write_tracklets(track(poses), tmp_path / "t_tracklets.npz")))
    np.testing.assert_array_equal(tracked.data[:, 2, 2], data[:, 2, 2])
    np.testing.assert_array_equal(tracked.data[:, 0, :2], data[:, 0, :2])


def test_bad_files_are_refused(tmp_path) -> None:
    with pytest.raises(LabelFileError, match="does not exist"):
        read_tracklets(tmp_path / "missing_tracklets.npz")
    broken = tmp_path / "broken_tracklets.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(LabelFileError, match="not a tracklets file"):
        read_tracklets(broken)
