"""Identity-swap repair: suspicious frames, swaps of poses and of prediction files, undo and redo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerless.errors import ConfigError, ConflictError
from markerless.io.dlc import read_predictions, write_predictions
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout, Skeleton
from markerless.tracking.repair import (
    journal_path,
    redo_swap,
    suspicious_frames,
    swap_history,
    swap_identities,
    swap_in_prediction_file,
    undo_swap,
)

PARTS = ("head", "body", "tail")


def crossing_poses(n_frames: int = 60, unique: bool = True) -> Poses:
    """Two animals walking towards each other along y=50 (they meet at frame 30), a third far away
    that jumps 200 px at frame 45; a unique body part stays still."""
    layout = PoseLayout(
        Skeleton.from_names(PARTS, [("head", "body"), ("body", "tail")]),
        ("a", "b", "c"),
        ("corner",) if unique else (),
        multi_animal=True,
    )
    t = np.arange(n_frames, dtype=np.float64)
    offsets = np.array([[-10.0, 0.0], [0.0, 0.0], [10.0, 0.0]])  # body 20 px long
    centres = np.stack(
        [
            np.stack([20 + 5 * t, np.full_like(t, 50)], -1),
            np.stack([320 - 5 * t, np.full_like(t, 50)], -1),
            np.stack([np.where(t < 45, 100.0, 300.0), np.full_like(t, 300)], -1),
        ],
        1,
    )
    poses = Poses.empty(n_frames, layout)
    poses.data[:, :3, :3, :2] = centres[:, :, None] + offsets
    poses.data[:, :3, :3, 2] = 0.9
    if unique:
        poses.data[:, 3, 3] = [5.0, 5.0, 0.95]
    return poses


def test_suspicious_frames_find_the_crossing_and_the_jump() -> None:
    events = suspicious_frames(crossing_poses(), pcutoff=0.5)
    close = [e for e in events if e.kind == "close"]
    jumps = [e for e in events if e.kind == "jump"]
    assert len(close) == 1 and close[0].individuals == ("a", "b")
    # centres closer than 0.5 x 20 px = 10 px: |300 - 10 t| < 10 -> frames 30 only... 29 < t < 31
    assert close[0].start == 30 and close[0].stop == 31 and close[0].peak == 30 and close[0].value == 0
    assert [(e.start, e.individuals) for e in jumps] == [(45, ("c",))]
    assert jumps[0].value == pytest.approx(10.0)
    wide = suspicious_frames(crossing_poses(), pcutoff=0.5, close=2.0)  # 40 px: frames 27..33
    close = [e for e in wide if e.kind == "close"]
    assert (close[0].start, close[0].stop, close[0].peak) == (27, 34, 30)


def test_suspicious_frames_ignore_points_under_pcutoff() -> None:
    poses = crossing_poses()
    poses.data[45:, 2, :, 2] = 0.1  # c's jumped pose is not confident: no jump, no event
    assert not [e for e in suspicious_frames(poses, pcutoff=0.5) if e.kind == "jump"]


def test_swap_identities_range_and_round_trip() -> None:
    poses = crossing_poses()
    swapped = swap_identities(poses, "a", "b", 30)
    assert np.array_equal(swapped.data[30:, 0], poses.data[30:, 1], equal_nan=True)
    assert np.array_equal(swapped.data[30:, 1], poses.data[30:, 0], equal_nan=True)
    assert np.array_equal(swapped.data[:30], poses.data[:30], equal_nan=True)
    assert np.array_equal(swapped.data[:, 2:], poses.data[:, 2:], equal_nan=True)
    back = swap_identities(swapped, 0, 1, 30)
    assert np.array_equal(back.data, poses.data, equal_nan=True)
    ranged = swap_identities(poses, "b", "c", 10, 20)
    assert np.array_equal(ranged.data[10:20, 1], poses.data[10:20, 2], equal_nan=True)
    assert np.array_equal(ranged.data[20:], poses.data[20:], equal_nan=True)
    assert np.array_equal(ranged.data[:10], poses.data[:10], equal_nan=True)


@pytest.mark.parametrize(
    ("a", "b", "start", "stop"),
    [("a", "single", 0, None), ("a", "a", 0, None), ("a", "zz", 0, None), ("a", "b", 10, 5), ("a", "b", -1, None)],
)
def test_swap_identities_refuses_bad_requests(a: str, b: str, start: int, stop: int | None) -> None:
    with pytest.raises(ConfigError):
        swap_identities(crossing_poses(), a, b, start, stop)


@pytest.fixture
def prediction(tmp_path: Path) -> Path:
    path = tmp_path / "videoDLC_resnet50_testJan1shuffle1_snapshot_10.h5"
    poses = crossing_poses()
    poses.metadata = {"tracked": True}
    poses.fps = 25.0
    return write_predictions(poses, path)


def test_file_swap_changes_exactly_the_range_and_undo_restores_it(prediction: Path) -> None:
    before = pd.read_hdf(prediction)
    journal = swap_in_prediction_file(prediction, "a", "b", 30, 40)
    after = pd.read_hdf(prediction)
    assert after.columns.equals(before.columns) and after.index.equals(before.index)
    assert (after.dtypes == before.dtypes).all()
    scorer = before.columns[0][0]
    rows = (after.index >= 30) & (after.index < 40)
    assert np.array_equal(after.loc[rows, (scorer, "a")], before.loc[rows, (scorer, "b")], equal_nan=True)
    assert np.array_equal(after.loc[rows, (scorer, "b")], before.loc[rows, (scorer, "a")], equal_nan=True)
    outside = after.copy()
    outside.loc[rows, (scorer, "a")] = before.loc[rows, (scorer, "a")].to_numpy()
    outside.loc[rows, (scorer, "b")] = before.loc[rows, (scorer, "b")].to_numpy()
    assert np.array_equal(outside.to_numpy(), before.to_numpy(), equal_nan=True)
    poses = read_predictions(prediction)  # metadata kept, readable by every command
    assert poses.fps == 25.0 and poses.metadata == {"tracked": True}
    assert [(s.a, s.b, s.start, s.stop) for s in journal.applied] == [("a", "b", 30, 40)]
    assert journal.undone == [] and journal.stale == []

    journal = undo_swap(prediction)
    assert journal.applied == [] and len(journal.undone) == 1
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), before.to_numpy(), equal_nan=True)
    journal = redo_swap(prediction)
    assert len(journal.applied) == 1 and journal.undone == []
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), after.to_numpy(), equal_nan=True)
    with pytest.raises(ConflictError, match="no swap to redo"):
        redo_swap(prediction)


def test_undo_steps_back_in_order_and_a_new_swap_clears_redo(prediction: Path) -> None:
    states = [pd.read_hdf(prediction).to_numpy()]
    swap_in_prediction_file(prediction, "a", "b", 30)
    states.append(pd.read_hdf(prediction).to_numpy())
    swap_in_prediction_file(prediction, "b", "c", 10, 50)
    undo_swap(prediction)
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), states[1], equal_nan=True)
    undo_swap(prediction)
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), states[0], equal_nan=True)
    with pytest.raises(ConflictError, match="no swap to undo"):
        undo_swap(prediction)
    redo_swap(prediction)
    journal = swap_in_prediction_file(prediction, "a", "c", 0, 5)
    assert len(journal.applied) == 2 and journal.undone == []
    assert swap_history(prediction).applied == journal.applied


def test_dlc_float64_file_with_missing_markers_keeps_every_other_cell(tmp_path: Path) -> None:
    poses = crossing_poses()
    df = poses.to_dataframe().astype(np.float64)
    df.iloc[3, 5] = -1.0  # the PyTorch engine's empty-slot marker stays as it is
    df.iloc[:, 0] += 1e-9  # float64 precision float32 would lose
    path = tmp_path / "vidDLC_x.h5"
    df.to_hdf(path, key="df_with_missing", format="table", mode="w")
    swap_in_prediction_file(path, "a", "c", 50)
    after = pd.read_hdf(path, key="df_with_missing")
    assert (after.dtypes == np.float64).all()
    assert np.array_equal(after.iloc[:50].to_numpy(), df.iloc[:50].to_numpy(), equal_nan=True)
    undo_swap(path)
    assert np.array_equal(pd.read_hdf(path).to_numpy(), df.to_numpy(), equal_nan=True)


def test_a_file_changed_elsewhere_refuses_undo_and_starts_a_new_history(prediction: Path) -> None:
    swap_in_prediction_file(prediction, "a", "b", 30)
    write_predictions(crossing_poses(), prediction)  # analysed again
    assert swap_history(prediction).applied == []
    with pytest.raises(ConflictError, match="changed since its last swap"):
        undo_swap(prediction)
    journal = swap_in_prediction_file(prediction, "a", "b", 5)
    assert [s.start for s in journal.applied] == [5]


def test_a_crash_between_the_writes_is_resolved_by_the_journal(prediction: Path) -> None:
    before = pd.read_hdf(prediction).to_numpy()
    swap_in_prediction_file(prediction, "a", "b", 30)
    jpath = journal_path(prediction)
    done = json.loads(jpath.read_text())
    undo_swap(prediction)
    # the file was written but the journal's last write did not happen: the pending state is committed
    pending = {
        **done,
        "pending": {"digest": json.loads(jpath.read_text())["digest"], "applied": [], "undone": done["applied"]},
    }
    jpath.write_text(json.dumps(pending))
    assert swap_history(prediction).applied == [] and len(swap_history(prediction).undone) == 1
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), before, equal_nan=True)
    # the journal was written with a pending state but the file was not: the pending state is dropped
    jpath.write_text(
        json.dumps({**json.loads(jpath.read_text()), "pending": {"digest": "x", "applied": [1], "undone": []}})
    )
    assert swap_history(prediction).applied == []


def test_a_filtered_file_beside_it_is_reported_stale(prediction: Path) -> None:
    filtered = prediction.with_name(prediction.stem + "_filtered.h5")
    filtered.write_bytes(b"old")
    with pytest.warns(UserWarning, match="stale"):
        journal = swap_in_prediction_file(prediction, "a", "b", 30)
    assert journal.stale == [filtered] and filtered.read_bytes() == b"old"


def test_a_track_reappearing_elsewhere_after_a_short_gap_is_a_jump() -> None:
    poses = crossing_poses()
    poses.data[20:25, 2] = np.nan  # c hidden for 5 frames, back 200 px away: its jump moves from 45 to 25
    poses.data[25:45, 2, :, 0] += 200
    jumps = [e for e in suspicious_frames(poses, pcutoff=0.5) if e.kind == "jump"]
    assert [(e.start, e.individuals) for e in jumps] == [(25, ("c",))]
    assert jumps[0].value == pytest.approx(10.0)
    assert not [e for e in suspicious_frames(poses, pcutoff=0.5, gap=5) if e.kind == "jump"]  # last seen 6 rows back
