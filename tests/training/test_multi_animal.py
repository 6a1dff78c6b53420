"""Multi-animal training end to end on a tiny rendered project: part-affinity fields, assembly, mAP."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest

from markerless.analysis.analyze import analyze
from markerless.errors import TrainingError
from markerless.io.dlc import read_config, write_config
from markerless.project.recipe import read_recipe, write_recipe
from markerless.synthetic import make_synthetic_project
from markerless.tracking.tracklets import tracklets_path
from markerless.training.dataset import create_training_dataset
from markerless.training.evaluation import evaluate
from markerless.training.loop import train


@pytest.fixture
def two_animals(tmp_path: Path) -> Path:
    config = make_synthetic_project(tmp_path, n_animals=2, n_frames=40, n_labelled=12, size=(160, 120), seed=1)
    sh = create_training_dataset(config, shuffle=1, seed=0, train_fraction=0.75)
    tiny = {"pretrained": False, "crop_size": [96, 96], "batch_size": 4, "eval_every_epochs": 0, "save_every_epochs": 1}
    write_recipe(sh.recipe_file, read_recipe(sh.recipe_file).with_overrides(tiny, motion_blur=0.0, noise=0.0))
    return config


@pytest.mark.slow
def test_a_multi_animal_project_trains_with_affinity_fields_and_evaluates_with_map(two_animals: Path) -> None:
    snapshot = train(two_animals, 1, epochs=3, device="cpu")
    assert snapshot.name == "snapshot-003.pt"
    with open(snapshot.parent / "learning_stats.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(math.isfinite(float(r["paf_loss"])) for r in rows)
    results = evaluate(two_animals, 1, device="cpu")
    assert results["multi_animal"] and results["n_test"] == 3
    for key in ("test_map", "test_map_sleap"):
        assert 0.0 <= results[key] <= 1.0
    assert (Path(results["evaluation_dir"]) / "results.json").is_file()
    video = next((two_animals.parent / "videos").glob("*.mp4"))
    (out,) = analyze(two_animals, [video], backend="torch", dest=two_animals.parent / "out")
    table = pd.read_hdf(out)
    assert list(table.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert table.columns.get_level_values("individuals").unique().tolist() == ["individual1", "individual2"]
    assert len(table) == 40 and tracklets_path(out).is_file()  # tracked, the tracklets kept for stitching
    (untracked,) = analyze(two_animals, [video], backend="torch", dest=two_animals.parent / "raw", track=False)
    assert not tracklets_path(untracked).exists()


def test_unique_body_parts_are_refused_with_the_fix(two_animals: Path) -> None:
    cfg = read_config(two_animals)
    cfg["uniquebodyparts"] = ["food"]
    write_config(cfg, two_animals)
    with pytest.raises(TrainingError, match="unique body parts"):
        train(two_animals, 1, epochs=1, device="cpu")
