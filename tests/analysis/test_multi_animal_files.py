"""The files of a multi-animal analysis: DeepLabCut's tracks ``<video><scorer>_el.h5``, and every step finding it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from markerless.analysis.analyze import analyze
from markerless.labelling.outliers import extract_outliers
from markerless.project.prediction_files import filtered_path, prediction_path
from markerless.project.project import Project
from markerless.project.recipe import read_recipe, write_recipe
from markerless.project.shuffle import Shuffle
from markerless.results.filters import filter_predictions
from markerless.synthetic import make_synthetic_project
from markerless.tracking.api import stitch_videos
from markerless.tracking.tracklets import tracklets_path
from markerless.training.dataset import create_training_dataset
from markerless.training.loop import train


@pytest.fixture
def trained_two_animals(tmp_path: Path) -> Path:
    """A two-animal synthetic project whose shuffle 1 is trained for one epoch (a tiny net, random start)."""
    config = make_synthetic_project(tmp_path, n_animals=2, n_frames=16, n_labelled=8, size=(160, 120), seed=1)
    sh = create_training_dataset(config, shuffle=1, seed=0, train_fraction=0.75)
    tiny = {"pretrained": False, "crop_size": [96, 96], "batch_size": 4, "eval_every_epochs": 0, "save_every_epochs": 1}
    write_recipe(sh.recipe_file, read_recipe(sh.recipe_file).with_overrides(tiny, motion_blur=0.0, noise=0.0))
    train(config, 1, epochs=1, device="cpu")
    return config


def test_tracked_analysis_writes_el_h5_and_every_step_finds_it(trained_two_animals: Path) -> None:
    config = trained_two_animals
    project = Project.load(config)
    (video,) = project.videos
    scorer = Shuffle(project, 1).scorer()
    (out,) = analyze(config, [video], backend="torch", device="cpu")
    raw = prediction_path(video, scorer)
    assert out == prediction_path(video, scorer, suffix="_el") and out.name == f"{video.stem}{scorer}_el.h5"
    assert sorted(p.name for p in video.parent.glob(f"{video.stem}DLC*.h5")) == [out.name]  # exactly one .h5
    with pd.HDFStore(out, mode="r") as store:
        assert store.keys() == ["/tracks"]
    table = pd.read_hdf(out, "tracks")
    assert table.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert table.columns.get_level_values("individuals").unique().tolist() == list(project.layout.individuals)
    # the side files keep their names (without _el)
    assert tracklets_path(raw).is_file() and raw.with_name(f"{raw.stem}_meta.pickle").is_file()
    stamp = out.stat().st_mtime_ns
    assert analyze(config, [video], backend="torch", device="cpu") == [out]  # found complete: skipped
    assert out.stat().st_mtime_ns == stamp

    (untracked,) = analyze(config, [video], backend="torch", device="cpu", track=False)
    assert untracked == raw  # --no-track: the raw name
    assert pd.read_hdf(raw).columns.names == table.columns.names
    raw_bytes = raw.read_bytes()
    assert stitch_videos(config, [video]) == [out]  # stitching again rewrites the tracks
    assert pd.read_hdf(out, "tracks").shape == table.shape
    (filtered,) = filter_predictions(config, [video])
    assert filtered == filtered_path(out) and filtered.name == f"{video.stem}{scorer}_el_filtered.h5"
    assert not filtered_path(raw).exists()  # the tracks were filtered, not the untracked file
    assert extract_outliers(config, [video], algo="list", frames=[3])
    assert raw.read_bytes() == raw_bytes  # nothing wrote to the file it did not mean to change
