"""Frame-to-frame tracking and stitching on animals with known identities."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from markerless.errors import ConfigError
from markerless.model.poses import Poses
from markerless.tracking.api import track_poses
from markerless.tracking.settings import TrackingSettings
from markerless.tracking.stitching import stitch
from markerless.tracking.tracker import track
from markerless.tracking.tracklets import Tracklets
from tests.tracking.helpers import close_encounters, identity_of_tracks, scene_poses, strip_identities


def _switches(ids: np.ndarray) -> int:
    """Changes of true identity along each tracked individual (empty frames skipped)."""
    total = 0
    for column in ids.T:
        seen = column[column >= 0]
        total += int((np.diff(seen) != 0).sum())
    return total


def test_crossing_animals_keep_their_identities() -> None:
    truth = scene_poses(900, n_animals=3, seed=1)
    # the stress: animals come within half a body length of each other many times
    size = np.nanmedian(np.ptp(truth.data[..., 0], axis=2))
    assert close_encounters(truth, 0.5 * size) >= 5
    shuffled, _ = strip_identities(truth, seed=2, noise_px=1.0, drop=0.02)
    tracked, tracklets = track_poses(shuffled, n_animals=3)
    ids = identity_of_tracks(tracked, truth)
    assert _switches(ids) == 0
    # every tracked individual is one true animal, and all three are there
    assert sorted({int(np.bincount(c[c >= 0]).argmax()) for c in ids.T}) == [0, 1, 2]
    assert tracked.layout == truth.layout
    assert tracklets.count >= 3


def test_shuffled_input_without_tracking_would_switch() -> None:
    """The identity check above can fail: the untracked input switches all the time."""
    truth = scene_poses(300, n_animals=3, seed=1)
    shuffled, _ = strip_identities(truth, seed=2)
    assert _switches(identity_of_tracks(shuffled, truth)) > 100


def test_never_more_tracks_than_animals_in_a_frame() -> None:
    truth = scene_poses(200, n_animals=3, seed=4)
    shuffled, _ = strip_identities(truth, seed=0)
    tracklets = track(shuffled, n_animals=2)  # one animal too many in every frame: the 2 best kept
    per_frame = np.bincount(tracklets.frame, minlength=len(truth))
    assert per_frame.max() == 2
    tracked = stitch(tracklets, 2)
    assert np.isnan(tracked.data[:, 2]).all()


def test_animal_hidden_longer_than_max_gap_comes_back_as_itself() -> None:
    truth = scene_poses(400, n_animals=2, seed=3)
    hidden = truth.data.copy()
    hidden[150:230, 1] = np.nan  # 80 frames, more than max_gap
    settings = TrackingSettings(max_gap=10)
    shuffled, _ = strip_identities(truth.with_data(hidden), seed=5)
    tracklets = track(shuffled, 2, settings)
    assert tracklets.count >= 3  # the hidden animal's track ended and a new tracklet began
    tracked = stitch(tracklets, 2, settings)
    ids = identity_of_tracks(tracked, truth)
    assert _switches(ids) == 0
    assert (ids >= 0).sum() == np.isfinite(hidden[..., 0, 0]).sum()  # nothing dropped


def test_fewer_animals_visible_than_expected() -> None:
    truth = scene_poses(200, n_animals=2, seed=6)
    data = np.full((200, 3, *truth.data.shape[2:]), np.nan, dtype=np.float32)
    data[:, :2] = truth.data
    data[100:, 1] = np.nan  # then only one animal
    layout = type(truth.layout)(truth.layout.skeleton, ("a", "b", "c"), multi_animal=True)
    poses = Poses(data, layout)
    shuffled, _ = strip_identities(poses, seed=1)
    tracked, _ = track_poses(shuffled, n_animals=3)
    assert np.isnan(tracked.data[:, 2]).all()  # the third individual never seen
    assert np.isfinite(tracked.data[:100, :2, 0, 0]).all()
    assert np.isfinite(tracked.data[100:, :, 0, 0]).sum() == 100


def test_nothing_to_track() -> None:
    poses = Poses.empty(50, scene_poses(2, 2).layout)
    tracked, tracklets = track_poses(poses)
    assert tracklets.count == 0
    assert np.isnan(tracked.data).all()


def test_more_animals_than_individuals_refused() -> None:
    poses = scene_poses(10, 2)
    with pytest.raises(ConfigError, match=r"3 animals asked for .* 2 individuals"):
        track_poses(poses, n_animals=3)
    with pytest.raises(ConfigError, match="0 animals"):
        track_poses(poses, n_animals=0)


def test_overlapping_tracklets_beyond_the_animals_are_dropped_with_a_warning() -> None:
    truth = scene_poses(20, 2, seed=0)
    k = truth.data.shape[2]
    # three tracklets all seen in frames 0-9, but only 2 animals: 10 poses have no room
    frame = np.tile(np.arange(10), 3)
    tracklet = np.repeat(np.arange(3), 10)
    pose = np.concatenate([truth.data[:10, 0], truth.data[:10, 1], truth.data[:10, 0] + [5, 5, 0]])
    tracklets = Tracklets(frame, tracklet, pose.reshape(30, k, 3), 20, truth)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracked = stitch(tracklets, 2)
    assert any("10 poses dropped" in str(w.message) for w in caught)
    assert np.isfinite(tracked.data[:10, :, 0, 0]).all()


def test_identity_votes_decide_between_equal_links() -> None:
    """Two animals vanish and reappear where each could be the other: the identity votes decide."""
    truth = scene_poses(60, 2, seed=0)
    k = truth.data.shape[2]
    still = np.repeat(truth.data[:1], 60, axis=0)  # both animals stand still
    a, b = still[:, 0], still[:, 1]
    midpoint = (a[0, :, :2].mean(axis=0) + b[0, :, :2].mean(axis=0)) / 2
    # after the gap both tracklets appear at the midpoint (position says nothing)
    a2 = a.copy()
    a2[:, :, :2] += midpoint - a[0, :, :2].mean(axis=0)
    b2 = b.copy()
    b2[:, :, :2] += midpoint - b[0, :, :2].mean(axis=0)
    frame = np.concatenate([np.arange(20)] * 2 + [np.arange(40, 60)] * 2)
    tracklet = np.repeat(np.arange(4), 20)
    pose = np.concatenate([a[:20], b[:20], b2[40:], a2[40:]]).reshape(80, k, 3)
    votes = np.repeat(np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32), 20, axis=0)
    tracked = stitch(Tracklets(frame, tracklet, pose, 60, truth, identity=votes), 2, TrackingSettings(shape_weight=0))
    first = np.nanmean(tracked.data[0, :, :, 0], axis=1)
    # individual holding animal a at frame 0 holds the a-voted tracklet (shape of a) after the gap
    ia = int(np.argmin(np.abs(first - np.nanmean(a[0, :, 0]))))
    np.testing.assert_allclose(tracked.data[50, ia], a2[50], atol=1e-4)


def test_result_does_not_depend_on_the_order_of_animals_in_the_input() -> None:
    truth = scene_poses(300, n_animals=3, seed=2)
    first, _ = strip_identities(truth, seed=0, noise_px=1.0)
    noisy = first.data
    # the same noisy poses in another per-frame order
    order = np.argsort(np.random.default_rng(9).random(noisy.shape[:2]), axis=1)
    second = first.with_data(np.take_along_axis(noisy, order[:, :, None, None], axis=1))
    a, _ = track_poses(first)
    b, _ = track_poses(second)
    # the same animals, up to which individual each one is named (animals that appear together in frame 0)
    columns = [
        int(np.nanargmin(np.nanmean(np.abs(b.data[0, :, :, :2] - a.data[0, i, :, :2]), axis=(1, 2)))) for i in range(3)
    ]
    assert sorted(columns) == [0, 1, 2]
    np.testing.assert_array_equal(a.data, b.data[:, columns])


def test_many_tracklets_are_joined_back() -> None:
    """Animals hidden again and again for longer than max_gap: the stitcher joins the pieces."""
    truth = scene_poses(1500, n_animals=2, seed=5)
    data = truth.data.copy()
    for start in range(40, 1450, 60):  # 15-frame hides, the animals in turn
        data[start : start + 15, (start // 60) % 2] = np.nan
    shuffled, _ = strip_identities(truth.with_data(data), seed=1, noise_px=1.0)
    settings = TrackingSettings(max_gap=5)
    tracklets = track(shuffled, 2, settings)
    assert tracklets.count > 20
    tracked = stitch(tracklets, 2, settings)
    ids = identity_of_tracks(tracked, truth)
    # known weakness: one swap (2 switches) remains in this video, where an animal comes back from
    # a hide beside the other (see the report of issue 18); more would be a regression
    assert _switches(ids) <= 2
    assert (ids >= 0).sum() == np.isfinite(data[..., 0, 0]).sum()
