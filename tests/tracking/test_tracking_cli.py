"""markerless stitch and evaluate-tracking on a multi-animal project."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from markerless.cli import main
from markerless.errors import ConflictError
from markerless.io.dlc import read_predictions, write_predictions
from markerless.model.labels import Labels
from markerless.model.poses import Poses
from markerless.project.project import Project
from markerless.tracking.api import read_ground_truth, track_prediction_file
from markerless.tracking.tracklets import tracklets_path
from tests.fixtures.projects import make_tiny_project


@pytest.fixture
def tracked_project(tmp_path):
    """A 2-animal project, its labels of vidA as ground truth, and untracked predictions of vidA."""
    config = make_tiny_project(tmp_path, n_per_video=6, videos=("vidA",), multi_animal=True)
    project = Project.load(config)
    # both animals labelled, walking slowly side by side, 40 px apart
    images = [f"labeled-data/vidA/img{i:03d}.png" for i in range(6)]
    xy = np.zeros((6, 2, len(project.layout.bodyparts), 2))
    xy[:, 0] = 20.0 + np.arange(6)[:, None, None] * 2.0 + np.arange(xy.shape[2])[None, :, None] * [3.0, 4.0]
    xy[:, 1] = xy[:, 0] + [40.0, 0.0]
    project.save_labels(Labels(project.layout, images, xy, scorer="tester"), "vidA")
    # untracked predictions: the two animals swap columns every other frame
    data = np.concatenate([xy, np.ones((*xy.shape[:-1], 1))], axis=-1)
    data[1::2] = data[1::2, ::-1]
    dest = tmp_path / "out"
    path = write_predictions(Poses(data, project.layout, scorer="DLC_test"), dest / "vidADLC_test.h5")
    return config, path, dest


def test_analysis_output_tracked_stitched_and_scored(tracked_project, capsys) -> None:
    config, path, dest = tracked_project
    untracked = path.read_bytes()
    tracks, tracklets = track_prediction_file(path)
    assert tracks == dest / "vidADLC_test_el.h5" and tracklets == tracklets_path(path)
    assert path.read_bytes() == untracked  # the untracked file is left as it is
    assert track_prediction_file(tracks) == (tracks, tracklets)  # tracks again in place; the tracklets' name holds
    tracks.unlink()
    assert main(["stitch", str(config), "videos/vidA.mp4", "--dest", str(dest)]) == 0
    assert capsys.readouterr().out.strip() == str(tracks)  # DeepLabCut's tracks file, key "tracks"
    with pd.HDFStore(tracks, mode="r") as store:
        assert store.keys() == ["/tracks"]
    assert pd.read_hdf(tracks, "tracks").columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    tracked = read_predictions(tracks)
    # each column holds one animal: a constant offset between the columns in every frame
    offsets = np.nanmean(tracked.data[:, 1, :, :2] - tracked.data[:, 0, :, :2], axis=1)
    assert np.allclose(offsets, offsets[0]) and abs(offsets[0, 0]) == pytest.approx(40.0)

    truth = config.parent / "labeled-data" / "vidA" / "CollectedData_tester.h5"
    assert main(["evaluate-tracking", str(config), str(tracks), "--ground-truth", str(truth)]) == 0
    line = capsys.readouterr().out
    assert "id_switches=0" in line and "idf1=1.0000" in line and "mota=1.0000" in line
    scores = json.loads((dest / "vidADLC_test_el_tracking.json").read_text())
    assert scores["id_switches"] == 0 and scores["frames"] == 6
    # the untracked file switches (the check can fail)
    assert main(["evaluate-tracking", str(config), str(path), "--ground-truth", str(truth)]) == 0
    assert "id_switches=0" not in capsys.readouterr().out


def test_too_many_animals_and_missing_tracklets(tracked_project, capsys) -> None:
    config, path, dest = tracked_project
    assert main(["stitch", str(config), "videos/vidA.mp4", "--dest", str(dest)]) == 1
    assert "No tracklets for vidA.mp4" in capsys.readouterr().err
    track_prediction_file(path)
    assert main(["stitch", str(config), "videos/vidA.mp4", "--dest", str(dest), "--n-animals", "3"]) == 1
    assert "3 animals asked for" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["stitch", str(config), "videos/vidA.mp4", "--n-animals", "0"])
    assert exit_info.value.code == 2


def test_ground_truth_from_labels_uses_image_numbers(tracked_project) -> None:
    config, _, _ = tracked_project
    truth = read_ground_truth(config.parent / "labeled-data" / "vidA" / "CollectedData_tester.h5")
    np.testing.assert_array_equal(truth.frames, np.arange(6))
    assert truth.layout.individuals == ("a", "b")


def test_swaps_made_by_hand_are_not_stitched_away(tracked_project, capsys) -> None:
    from markerless.tracking.repair import swap_in_prediction_file, undo_swap

    config, path, dest = tracked_project
    tracks, _ = track_prediction_file(path)
    swap_in_prediction_file(tracks, "a", "b", 2)
    by_hand = tracks.read_bytes()
    assert main(["stitch", str(config), "videos/vidA.mp4", "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "1 identity swap(s) made by hand" in err and "--discard-swaps" in err
    with pytest.raises(ConflictError, match="made by hand"):
        track_prediction_file(path)
    assert tracks.read_bytes() == by_hand  # refused before anything was written
    undo_swap(tracks)  # nothing applied any more: stitching goes ahead
    assert main(["stitch", str(config), "videos/vidA.mp4", "--dest", str(dest)]) == 0
    swap_in_prediction_file(tracks, "a", "b", 2)
    assert main(["stitch", str(config), "videos/vidA.mp4", "--dest", str(dest), "--discard-swaps"]) == 0
    assert tracks.read_bytes() != by_hand
