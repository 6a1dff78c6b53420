"""Active learning: outlier candidates, extraction into labeled-data with machine labels, merge."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from markerless.errors import ConfigError, ProjectError
from markerless.io.dlc import read_table
from markerless.labelling.machine_labels import read_machine_labels, write_machine_labels
from markerless.labelling.merge import merge
from markerless.labelling.outliers import (
    candidate_frames,
    extract_outliers,
    fitting_residuals,
    jump_frames,
    uncertain_frames,
)
from markerless.model import PoseLayout, Poses

N_FRAMES = 40
SCORER = "DLC_resnet50_tinyOct1shuffle1_100"
BODYPARTS = ["snout", "leftear", "rightear", "tailbase"]


def _track(n: int = N_FRAMES) -> np.ndarray:
    """Smooth ``(n, 1, 4, 3)`` poses with likelihood 0.9."""
    t = np.arange(n, dtype=np.float64)
    base = np.stack([10 + 0.8 * t, 20 + 5 * np.sin(t / 6)], axis=-1)  # (n, 2)
    offsets = np.array([[0, 0], [4, -3], [4, 3], [15, 0]], dtype=np.float64)
    xy = base[:, None, :] + offsets[None]
    data = np.concatenate([xy, np.full((n, 4, 1), 0.9)], axis=-1)
    return data[:, None]


@pytest.fixture
def analysed_project(tmp_path: Path) -> tuple[Path, Path]:
    """A project with a 40-frame video and predictions: a jump at frame 20, low likelihood at 5 and 33."""
    from markerless.io.dlc import write_predictions
    from markerless.io.video import VideoWriter
    from markerless.project.project import create_project

    src = tmp_path / "mouse1.avi"
    frames = np.zeros((N_FRAMES, 48, 64, 3), dtype=np.uint8)
    frames[np.arange(N_FRAMES), 10:20, :, 0] = (np.arange(N_FRAMES) * 6)[:, None, None]
    frames[np.arange(N_FRAMES) % 4 == 0, 30:40, 10:30] = 255
    with VideoWriter(src, fps=10, size=(64, 48), codec="MJPG") as writer:
        writer.write_batch(frames)
    config = create_project("tiny", "tester", [src], working_directory=tmp_path, bodyparts=BODYPARTS, copy_videos=True)
    video = config.parent / "videos" / "mouse1.avi"
    data = _track()
    data[20, 0, 0, :2] += [50, 40]
    data[5, 0, 2, 2] = 0.001
    data[33, 0, 1, 2] = 0.005
    layout = PoseLayout.single_animal(BODYPARTS)
    write_predictions(Poses(data, layout, scorer=SCORER), video.parent / f"mouse1{SCORER}.h5")
    return config, video


# --- candidates ---------------------------------------------------------------------------------
def test_jump_and_uncertain_candidates() -> None:
    data = _track()
    data[20, 0, 0, :2] += [50, 40]
    data[5, 0, 2, 2] = 0.001
    assert jump_frames(data[..., :2], 20).tolist() == [20, 21]  # away and back
    assert uncertain_frames(data[..., 2], 0.01).tolist() == [5]


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(-30, 30, allow_nan=False), min_size=2, max_size=30),
    epsilon=st.floats(1, 25),
)
def test_jump_flags_exactly_the_big_steps(steps: list[float], epsilon: float) -> None:
    assume(all(abs(abs(s) - epsilon) > 1e-6 for s in steps))
    x = np.cumsum([0.0, *steps])
    xy = np.zeros((len(x), 1, 1, 2))
    xy[:, 0, 0, 0] = x
    expected = [i + 1 for i, s in enumerate(steps) if abs(s) > epsilon]
    assert jump_frames(xy, epsilon).tolist() == expected


def test_nan_points_are_not_jumps() -> None:
    xy = np.zeros((5, 1, 2, 2))
    xy[2, 0, 0] = np.nan
    xy[3, 0, 1] = [100, 0]
    assert jump_frames(xy, 20).tolist() == [3, 4]


def test_fitting_flags_a_spike() -> None:
    data = _track(60)
    data[30, 0, :, :2] += 40
    score = fitting_residuals(data[..., :2], data[..., 2], 0.01)
    assert score.shape == (60,)
    assert int(np.nanargmax(score)) == 30
    assert score[30] > 20 and np.nanmax(np.delete(score, 30)) < 20
    poses = Poses(data, PoseLayout.single_animal(BODYPARTS))
    rows = candidate_frames(poses, "fitting", epsilon=20, num_frames=3)
    assert 30 in rows.tolist() and len(rows) == 6  # at least 2 x num_frames of the most deviant


@pytest.mark.slow
def test_fitting_with_sarimax_like_deeplabcut() -> None:
    data = _track(40)[:, :, :1]
    data[25, 0, 0, :2] += 30
    data[10, 0, 0, 2] = 0.0  # missing sample
    score = fitting_residuals(data[..., :2], data[..., 2], 0.01, model="sarimax")
    assert int(np.nanargmax(score)) == 25 and np.isnan(score[10])
    with pytest.raises(ConfigError, match="smoothing model"):
        fitting_residuals(data[..., :2], data[..., 2], 0.01, model="magic")


def test_candidates_respect_the_window_and_validate_input() -> None:
    data = _track()
    data[[3, 30], 0, 0, 2] = 0.0
    poses = Poses(data, PoseLayout.single_animal(BODYPARTS))
    assert candidate_frames(poses, "uncertain").tolist() == [3, 30]
    assert candidate_frames(poses, "uncertain", start=0.5).tolist() == [30]
    assert candidate_frames(poses, "list", frames=[7, 2]).tolist() == [2, 7]
    with pytest.raises(ConfigError, match="--frames"):
        candidate_frames(poses, "list")
    with pytest.raises(ConfigError, match="not in the predictions"):
        candidate_frames(poses, "list", frames=[99])
    with pytest.raises(ConfigError, match="Unknown outlier algorithm"):
        candidate_frames(poses, "magic")


# --- machine label files -----------------------------------------------------------------------
def test_machine_labels_round_trip_and_extend(tmp_path: Path) -> None:
    layout = PoseLayout.single_animal(BODYPARTS)
    data = _track(3)
    images = [f"labeled-data/v/img{i}.png" for i in range(3)]
    write_machine_labels(tmp_path, 2, images[:2], data[:2], layout, SCORER)
    data2 = data.copy()
    data2[1, 0, 0, 0] = 99.0
    h5 = write_machine_labels(tmp_path, 2, images[1:], data2[1:], layout, SCORER)
    assert h5.name == "machinelabels-iter2.h5" and (tmp_path / "machinelabels.csv").exists()
    df = pd.read_hdf(h5)
    assert list(df.columns.get_level_values("coords")[:3]) == ["x", "y", "likelihood"]
    got_images, got = read_machine_labels(tmp_path, layout)
    assert got_images == images
    assert got[1, 0, 0, 0] == 99.0 and np.allclose(got[[0, 2]], data[[0, 2]])
    assert read_machine_labels(tmp_path / "nothing", layout) is None


# --- extraction and merge ----------------------------------------------------------------------
def test_extract_outliers_jump_writes_images_and_machine_labels(analysed_project: tuple[Path, Path]) -> None:
    config, video = analysed_project
    written = extract_outliers(config, [video], algo="jump", num_frames=5)
    folder = config.parent / "labeled-data" / "mouse1"
    assert [p.name for p in written] == ["img20.png", "img21.png"]
    image = cv2.imread(str(written[0]))
    assert image.shape == (48, 64, 3)
    df = pd.read_hdf(folder / "machinelabels-iter0.h5")
    assert df.loc[("labeled-data", "mouse1", "img20.png"), (SCORER, "snout", "x")] == pytest.approx(10 + 16 + 50)
    assert df.loc[("labeled-data", "mouse1", "img21.png"), (SCORER, "snout", "likelihood")] == pytest.approx(0.9)
    assert (folder / "machinelabels.csv").exists()


def test_extract_outliers_uncertain_and_list(analysed_project: tuple[Path, Path]) -> None:
    config, video = analysed_project
    assert [p.name for p in extract_outliers(config, [video], algo="uncertain")] == ["img05.png", "img33.png"]
    more = extract_outliers(config, [video], algo="list", frames=[0, 12])
    assert [p.name for p in more] == ["img00.png", "img12.png"]
    images, _ = read_machine_labels(config.parent / "labeled-data" / "mouse1", PoseLayout.single_animal(BODYPARTS))
    assert images == [f"labeled-data/mouse1/img{i:02d}.png" for i in (0, 5, 12, 33)]


def test_extract_outliers_picks_diverse_frames_among_many(analysed_project: tuple[Path, Path]) -> None:
    config, video = analysed_project
    written = extract_outliers(config, [video], algo="uncertain", p_bound=0.95, num_frames=4)
    assert 1 <= len(written) <= 4
    assert len({p.name for p in written}) == len(written)


def test_extract_outliers_without_predictions(analysed_project: tuple[Path, Path]) -> None:
    config, video = analysed_project
    for p in video.parent.glob("*.h5"):
        p.unlink()
    with pytest.raises(ProjectError, match="markerless analyze"):
        extract_outliers(config, [video])


def test_merge_increments_iteration_and_makes_a_dataset(analysed_project: tuple[Path, Path]) -> None:
    from markerless.project.project import Project

    config, video = analysed_project
    extract_outliers(config, [video], algo="list", frames=[0, 5, 10, 15, 20, 25, 30, 35])
    project = Project.load(config)
    _, data = read_machine_labels(project.labeled_data_dir("mouse1"), project.layout)
    from markerless.model import Labels

    images = [f"labeled-data/mouse1/img{i:02d}.png" for i in (0, 5, 10, 15, 20, 25, 30, 35)]
    xy = data[..., :2].copy()
    height, width = np.asarray(cv2.imread(str(config.parent / images[0]))).shape[:2]
    xy[(xy[..., 0] > width) | (xy[..., 1] > height)] = np.nan  # the untrained model's points off the image
    project.save_labels(Labels(project.layout, images, xy, scorer="tester"), "mouse1")
    assert merge(config) == 1
    assert Project.load(config).iteration == 1
    assert (config.parent / "training-datasets" / "iteration-1").is_dir()


def test_synthetic_round_trip_extract_refine_merge(tmp_path: Path) -> None:
    """Outliers of a two-animal synthetic video are extracted, refined in the app and merged."""
    from fastapi.testclient import TestClient

    from markerless.app.server import TOKEN_HEADER, create_app
    from markerless.io.dlc import read_predictions, write_predictions
    from markerless.project.project import Project
    from markerless.synthetic import make_synthetic_project

    config = make_synthetic_project(tmp_path, n_animals=2, n_frames=60, n_labelled=5, size=(160, 120), seed=1)
    project = Project.load(config)
    video = project.videos[0]
    truth = read_predictions(next(video.parent.glob("*_groundtruth.h5")), project.layout)
    data = truth.data.copy()
    data[..., 2] = 0.9
    data[40, 1, 2, :2] += [45.0, -30.0]  # individual 2's right ear jumps away for one frame
    write_predictions(truth.with_data(data, scorer="DLC_test"), video.parent / f"{video.stem}DLC_test.h5")
    written = extract_outliers(config, [video], algo="jump", num_frames=5)
    assert {p.name for p in written} <= {"img40.png", "img41.png"} and written
    name = written[0].name
    client = TestClient(create_app(config, "t"))
    url = f"/api/videos/{video.stem}/frames/{name}"
    frame = client.get(url, headers={TOKEN_HEADER: "t"}).json()
    assert frame["suggestions"] is not None and all(p is None for row in frame["points"] for p in row)
    accepted = client.post(url + "/accept", json={"version": frame["version"]}, headers={TOKEN_HEADER: "t"})
    assert accepted.status_code == 200
    assert merge(config) == 1
    dataset = next((config.parent / "training-datasets" / "iteration-1").glob("*/CollectedData_*.h5"))
    merged = pd.read_hdf(dataset)
    assert any(name in "/".join(map(str, row)) for row in merged.index)
    assert len(merged) == 5 + 1


def test_merge_folds_in_deeplabcut_refined_labels(analysed_project: tuple[Path, Path]) -> None:
    from markerless.io.dlc import write_labels
    from markerless.model import Labels
    from markerless.project.project import Project

    config, video = analysed_project
    extract_outliers(config, [video], algo="list", frames=[3, 6, 9, 12, 15, 18])
    project = Project.load(config)
    images = [f"labeled-data/mouse1/img{i:02d}.png" for i in (3, 6, 9, 12, 15, 18)]
    xy = _track()[[3, 6, 9, 12, 15, 18], ..., :2]
    folder = project.labeled_data_dir("mouse1")
    project.save_labels(Labels(project.layout, images[:1], xy[:1] + 1, scorer="tester"), "mouse1")
    write_labels(Labels(project.layout, images, xy, scorer="tester"), folder / "MachineLabelsRefine.h5")
    assert merge(config) == 1
    merged = Project.load(config).load_labels("mouse1")
    assert merged.images == images
    assert np.allclose(merged.xy[0], xy[0] + 1)  # rows already in CollectedData are kept as they are
    assert np.allclose(merged.xy[1:], xy[1:])


def test_merge_without_labels_leaves_the_iteration(analysed_project: tuple[Path, Path]) -> None:
    from markerless.project.project import Project

    config, _ = analysed_project
    with pytest.raises(ProjectError, match="no labels"):
        merge(config)
    assert Project.load(config).iteration == 0


@settings(max_examples=8, deadline=None)
@given(
    n_images=st.integers(1, 5),
    multi=st.booleans(),
    seed=st.integers(0, 2**16),
)
@example(n_images=2, multi=False, seed=362)  # the first image has no point at all
def test_machine_labels_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, n_images: int, multi: bool, seed: int
) -> None:
    from markerless.model import Skeleton

    layout = (
        PoseLayout(Skeleton.from_names(["a", "b"]), ("m1", "m2"), ("corner",), multi_animal=True)
        if multi
        else PoseLayout.single_animal(["a", "b", "c"])
    )
    rng = np.random.default_rng(seed)
    data = rng.uniform(0, 500, (n_images, *layout.shape, 3))
    data[rng.random(data.shape[:-1]) < 0.3] = np.nan
    data[:, ~layout.valid] = np.nan
    images = [f"labeled-data/vid/img{i:03d}.png" for i in range(n_images)]
    folder = tmp_path_factory.mktemp("ml")
    write_machine_labels(folder, 0, images, data, layout, SCORER)
    got_images, got = read_machine_labels(folder, layout)
    assert got_images == images
    np.testing.assert_array_equal(got, data)
    # the CSV beside it holds every image too, an all-empty first row included (pandas' header sniffing
    # would take that row for index names; read_table parses by hand)
    assert read_table(folder / "machinelabels.csv").shape == (
        n_images,
        int(layout.valid.sum()) * 3,
    )


def test_outliers_use_the_requested_shuffles_predictions_only(analysed_project: tuple[Path, Path]) -> None:
    config, video = analysed_project
    with pytest.raises(ProjectError, match=rf"shuffle 10 .*found only mouse1{SCORER}\.h5"):
        extract_outliers(config, [video], shuffle=10)  # never shuffle 1's file instead
    assert extract_outliers(config, [video], shuffle=1, algo="list", frames=[3])
