"""Which prediction files belong to a video and a shuffle (markerless.project.prediction_files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from markerless.errors import ProjectError
from markerless.project.prediction_files import (
    FILTERED,
    TRACKS,
    analysis_suffix,
    filtered_path,
    prediction_file,
    prediction_path,
    prediction_suffixes,
    tracks_path,
    untracked_path,
)

SCORER2 = "DLC_Resnet50_TaskNov24shuffle2_snapshot_best-40"


def _touch(folder: Path, *names: str) -> list[Path]:
    paths = []
    for age, name in enumerate(reversed(names)):  # the first name is the newest
        path = folder / name
        path.touch()
        os.utime(path, (1000 - age, 1000 - age))
        paths.append(path)
    return paths[::-1]


def test_paths_where_analysis_and_filter_write(tmp_path: Path) -> None:
    video = tmp_path / "v" / "mouse.mp4"
    assert prediction_path(video, SCORER2) == tmp_path / "v" / f"mouse{SCORER2}.h5"
    assert prediction_path(video, SCORER2, suffix=TRACKS, dest=tmp_path) == tmp_path / f"mouse{SCORER2}_el.h5"
    assert filtered_path(tmp_path / "a.h5") == tmp_path / "a_filtered.h5"


def test_nothing_there_says_to_analyse(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="run `markerless analyze` first"):
        prediction_file(tmp_path / "mouse.mp4", 1)
    with pytest.raises(ProjectError, match="run `markerless filter` first"):
        prediction_file(tmp_path / "mouse.mp4", 1, suffix=FILTERED)


def test_the_shuffles_own_scorer_then_its_other_snapshots(tmp_path: Path) -> None:
    video = tmp_path / "mouse.mp4"
    own, other_snapshot, _ = _touch(
        tmp_path,
        f"mouse{SCORER2}.h5",
        "mouseDLC_Resnet50_TaskNov24shuffle2_snapshot_30.h5",
        "mouseDLC_Resnet50_TaskNov24shuffle1_snapshot_90.h5",
    )
    assert prediction_file(video, 2, scorer=SCORER2) == own
    own.unlink()
    assert prediction_file(video, 2, scorer=SCORER2) == other_snapshot  # same model, another snapshot


def test_another_shuffles_file_is_never_used(tmp_path: Path) -> None:
    video = tmp_path / "mouse.mp4"
    _touch(tmp_path, "mouseDLC_Resnet50_TaskNov24shuffle1_snapshot_90.h5")
    with pytest.raises(ProjectError, match=r"shuffle 2 .*found only .*shuffle1_snapshot_90\.h5.*--shuffle"):
        prediction_file(video, 2, scorer=SCORER2)
    with pytest.raises(ProjectError, match="another shuffle"):  # untrained here: the name's shuffle decides
        prediction_file(video, 2)
    (untagged,) = _touch(tmp_path, "mouseDLC_b.h5")  # a scorer naming no shuffle: only when untrained
    assert prediction_file(video, 2) == untagged
    with pytest.raises(ProjectError, match=r"mouseDLC_b\.h5"):
        prediction_file(video, 2, scorer=SCORER2)
    # another model of the same shuffle number (another net) is not this shuffle's model either
    _touch(tmp_path, "mouseDLC_HRNet32_TaskNov24shuffle2_snapshot_5.h5")
    with pytest.raises(ProjectError, match="HRNet32"):
        prediction_file(video, 2, scorer=SCORER2)


def test_without_a_trained_model_the_files_shuffle_tag_decides(tmp_path: Path) -> None:
    video = tmp_path / "mouse.mp4"
    one, ten = _touch(
        tmp_path,
        "mouse1DLC_resnet50_tinyOct1shuffle1_100.h5",  # DeepLabCut's scorer: ..shuffle<k>_<iterations>
        "mouse1DLC_resnet50_tinyOct1shuffle10_100.h5",
    )
    video = tmp_path / "mouse1.mp4"
    assert prediction_file(video, 1) == one
    assert prediction_file(video, 10) == ten
    with pytest.raises(ProjectError, match="shuffle 3"):
        prediction_file(video, 3)


def test_filtered_tracks_and_dest(tmp_path: Path) -> None:
    video = tmp_path / "mouse.mp4"
    out = tmp_path / "out"
    out.mkdir()
    raw, filtered = _touch(out, f"mouse{SCORER2}.h5", f"mouse{SCORER2}_filtered.h5")
    assert prediction_file(video, 2, scorer=SCORER2, dest=out) == raw
    assert prediction_file(video, 2, scorer=SCORER2, suffix=FILTERED, dest=out) == filtered
    with pytest.raises(ProjectError, match="--dest"):
        prediction_file(video, 2, scorer=SCORER2)  # not beside the video
    (tracks,) = _touch(tmp_path, f"mouse{SCORER2}_el.h5")
    assert prediction_file(video, 2, scorer=SCORER2, suffix=("", TRACKS)) == tracks  # raw first, else tracks


def test_multi_animal_analysis_writes_tracks_and_is_found_before_raw() -> None:
    assert analysis_suffix(multi_animal=True) == TRACKS == "_el"
    assert analysis_suffix(multi_animal=True, track=False) == ""  # --no-track: the raw name
    assert analysis_suffix(multi_animal=False) == analysis_suffix(multi_animal=False, track=False) == ""
    assert prediction_suffixes(True) == ("_el", "")
    assert prediction_suffixes(True, filtered=True) == ("_el_filtered", "_filtered")
    assert prediction_suffixes(False) == ("",) and prediction_suffixes(False, filtered=True) == ("_filtered",)


def test_tracks_first_then_the_raw_file_of_older_runs(tmp_path: Path) -> None:
    video = tmp_path / "mouse.mp4"
    suffixes = prediction_suffixes(True)
    (older,) = _touch(tmp_path, f"mouse{SCORER2}.h5")  # tracked by a version that wrote no _el
    assert prediction_file(video, 2, scorer=SCORER2, suffix=suffixes) == older  # still found: no data lost
    (tracks,) = _touch(tmp_path, f"mouse{SCORER2}_el.h5")
    os.utime(older, (2000, 2000))  # even when the raw file is newer
    assert prediction_file(video, 2, scorer=SCORER2, suffix=suffixes) == tracks
    assert prediction_file(video, 2, suffix=suffixes) == tracks  # untrained here: the shuffle tag decides
    # this snapshot's file beats another snapshot's tracks
    tracks.rename(tmp_path / "mouseDLC_Resnet50_TaskNov24shuffle2_snapshot_30_el.h5")
    assert prediction_file(video, 2, scorer=SCORER2, suffix=suffixes) == older
    older.unlink()
    assert prediction_file(video, 2, scorer=SCORER2, suffix=suffixes).name.endswith("snapshot_30_el.h5")
    with pytest.raises(ProjectError, match=r"No tracked predictions .*expected other.*_el\.h5.*analyze"):
        prediction_file(tmp_path / "other.mp4", 2, scorer=SCORER2, suffix=suffixes)
    with pytest.raises(ProjectError, match=r"_el_filtered\.h5.*markerless filter"):
        prediction_file(video, 2, scorer=SCORER2, suffix=prediction_suffixes(True, filtered=True))


def test_tracks_and_their_filtered_file_beside_a_raw_file(tmp_path: Path) -> None:
    raw = tmp_path / f"mouse{SCORER2}.h5"
    assert tracks_path(raw) == tmp_path / f"mouse{SCORER2}_el.h5"
    assert tracks_path(tracks_path(raw)) == tracks_path(raw)  # a tracks file is its own
    assert untracked_path(tracks_path(raw)) == untracked_path(raw) == raw  # the side files' name
    assert filtered_path(tracks_path(raw)) == tmp_path / f"mouse{SCORER2}_el_filtered.h5"
