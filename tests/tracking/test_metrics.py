"""Tracking scores against known identities."""

from __future__ import annotations

import numpy as np
import pytest

from markerless.errors import LabelFileError
from markerless.io.sleap import read_slp_poses
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout, Skeleton
from markerless.tracking.metrics import tracking_metrics
from tests.fixtures.data import shared_path
from tests.tracking.helpers import scene_poses


def test_perfect_tracks_score_one() -> None:
    truth = scene_poses(100, 2)
    scores = tracking_metrics(truth, truth)
    assert scores["id_switches"] == 0
    assert scores["idf1"] == pytest.approx(1.0)
    assert scores["mota"] == pytest.approx(1.0)
    assert scores["true_animals"] == 200
    assert scores["frames"] == 100


def test_one_swap_is_two_switches_and_names_do_not_matter() -> None:
    truth = scene_poses(100, 2)
    swapped = truth.data.copy()
    swapped[50:] = swapped[50:, ::-1]
    layout = PoseLayout(truth.layout.skeleton, ("x", "y"), multi_animal=True)  # other individual names
    scores = tracking_metrics(Poses(swapped, layout), truth)
    assert scores["id_switches"] == 2  # each true animal changes track once
    assert scores["id_switches_per_1000_frames"] == pytest.approx(20.0)
    assert scores["idf1"] == pytest.approx(0.5)


def test_missing_and_far_animals_are_misses() -> None:
    truth = scene_poses(100, 2)
    pred = truth.data.copy()
    pred[:10, 0] = np.nan  # 10 missed
    pred[10:15, 1, :, :2] += 500.0  # 5 far away: a miss and a false positive each
    scores = tracking_metrics(truth.with_data(pred), truth)
    assert scores["misses"] == 15
    assert scores["false_positives"] == 5


def test_only_labelled_frames_count_and_low_likelihood_points_are_left_out() -> None:
    truth = scene_poses(100, 2)
    labelled = truth.select_frames(np.arange(0, 100, 10))
    pred = truth.data.copy()
    pred[..., 2] = 0.05
    scores = tracking_metrics(truth.with_data(pred), labelled, pcutoff=0.1)
    assert scores["frames"] == 10
    assert scores["misses"] == 20


def test_no_shared_body_part_or_frame_is_refused() -> None:
    truth = scene_poses(10, 2)
    other = Poses.empty(10, PoseLayout(Skeleton.from_names(["a", "b"]), ("m", "f"), multi_animal=True))
    with pytest.raises(LabelFileError, match="share no body part"):
        tracking_metrics(other, truth)
    shifted = truth.with_data(truth.data, frames=np.arange(100, 110))
    with pytest.raises(LabelFileError, match="share no frame"):
        tracking_metrics(shifted, truth)


@pytest.mark.shared_data
def test_sleap_shipped_predictions_on_the_flies_clip() -> None:
    """SLEAP's tracked predictions scored on their 2 nodes (see bench/tracking_flies.py)."""
    folder = shared_path("sleap-flies-clip")
    truth = read_slp_poses(folder / "clip.slp")
    pred = read_slp_poses(folder / "clip.predictions.slp")
    scores = tracking_metrics(pred, truth)
    assert scores["keypoints"] == ["head", "thorax"]
    assert scores["true_animals"] == 3000
    assert scores["frames"] == 1500
    # matched within half a fly's length (61 px): as measured when this test was written
    assert scores["id_switches"] == 16
    assert scores["misses"] == 184
    assert 0.93 < scores["idf1"] < 0.94
