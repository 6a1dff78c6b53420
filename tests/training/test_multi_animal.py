"""Multi-animal training end to end on a tiny rendered project: part-affinity fields, assembly, mAP."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from markerless.analysis.analyze import analyze
from markerless.errors import TrainingError
from markerless.io.dlc import read_config, write_config
from markerless.project.recipe import read_recipe, write_recipe
from markerless.project.shuffle import Shuffle
from markerless.synthetic import make_synthetic_project
from markerless.tracking.tracklets import tracklets_path
from markerless.training.dataset import create_training_dataset
from markerless.training.evaluation import _animals_in_label_order, evaluate
from markerless.training.loop import train
from markerless.viz.draw import pose_colors


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
        assert 0.0 <= results[key] <= 100.0  # percent, as DeepLabCut reports it
    assert (Path(results["evaluation_dir"]) / "results.json").is_file()
    video = next((two_animals.parent / "videos").glob("*.mp4"))
    (out,) = analyze(two_animals, [video], backend="torch", dest=two_animals.parent / "out")
    table = pd.read_hdf(out, "tracks")  # DeepLabCut's tracks file <video><scorer>_el.h5
    assert list(table.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert table.columns.get_level_values("individuals").unique().tolist() == ["individual1", "individual2"]
    raw = out.with_name(out.name.removesuffix("_el.h5") + ".h5")  # side files: the name without _el
    assert out.name.endswith("_el.h5") and len(table) == 40 and tracklets_path(raw).is_file()  # kept for stitch
    (untracked,) = analyze(two_animals, [video], backend="torch", dest=two_animals.parent / "raw", track=False)
    assert untracked.name == raw.name and not tracklets_path(untracked).exists()


def test_unique_body_parts_are_refused_with_the_fix(two_animals: Path) -> None:
    cfg = read_config(two_animals)
    cfg["uniquebodyparts"] = ["food"]
    write_config(cfg, two_animals)
    with pytest.raises(TrainingError, match="unique body parts"):
        train(two_animals, 1, epochs=1, device="cpu")


def test_predicted_animals_are_drawn_in_the_order_of_the_labelled_ones() -> None:
    gt = np.zeros((2, 2, 3, 2))
    gt[:, 0] = [[10, 10], [20, 20], [30, 10]]
    gt[:, 1] = [[10, 50], [20, 60], [30, 50]]
    pred = np.full((2, 2, 3, 3), np.nan)
    pred[0, 0, :, :2], pred[0, 1, :, :2] = gt[0, 1] + 1, gt[0, 0]  # swapped: slot 0 holds animal 1
    pred[1, 1, :, :2] = gt[1, 1] + 3  # image 1: only animal 1 found, in slot 1; slot 0 empty
    pred[..., 2] = np.where(np.isfinite(pred[..., 0]), 0.9, np.nan)
    ordered, badness, titles = _animals_in_label_order(gt, pred)
    np.testing.assert_array_equal(ordered[0, 0, :, :2], gt[0, 0])
    np.testing.assert_array_equal(ordered[0, 1, :, :2], gt[0, 1] + 1)
    assert np.isnan(ordered[1, 0]).all() and np.allclose(ordered[1, 1, :, :2], gt[1, 1] + 3)
    assert badness[1] > 0.5 > badness[0] >= 0  # a missed animal costs half the image's OKS
    assert titles[0].startswith("OKS 0.9") and "px" in titles[0]


@pytest.mark.slow
def test_multi_animal_evaluation_draws_one_colour_per_animal(two_animals: Path) -> None:
    import torch

    from markerless.nets import create_model, save_checkpoint

    sh = Shuffle(two_animals, 1)
    layout = sh.project.layout
    edges = [list(e) for e in layout.skeleton.edges] or [[layout.bodyparts[0], layout.bodyparts[1]]]
    torch.manual_seed(0)
    net = create_model("mobilenetv2", len(layout.bodyparts), pretrained=False, limbs=len(edges))
    sh.train_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(sh.train_dir / "snapshot-001.pt", net, extra={"epoch": 1, "edges": edges})
    results = evaluate(two_animals, 1, plot=True, device="cpu")
    out = Path(results["evaluation_dir"])
    assert Path(results["worst_test_images"]).is_file()
    drawn = sorted((out / f"LabeledImages_{results['scorer']}").glob("*.png"))
    assert len(drawn) == results["n_train"] + results["n_test"]
    labels = sh.project.load_labels()
    colours = pose_colors(layout, "rainbow", by="individual")[:, 0]
    image = cv2.cvtColor(cv2.imread(str(drawn[0])), cv2.COLOR_BGR2RGB)
    by_name = {Path(p.replace("/", "_")).stem: i for i, p in enumerate(labels.images)}
    gt = labels.xy[by_name[drawn[0].stem.split("-", 1)[1]]]
    for animal, colour in enumerate(colours):  # every ring of a labelled animal has its colour (not its part's)
        x, y = np.round(gt[animal][np.isfinite(gt[animal]).all(axis=1)]).astype(int).T
        rows, cols = np.mgrid[-7:8, -7:8]
        patch = image[
            np.clip(y[:, None, None] + rows, 0, image.shape[0] - 1),
            np.clip(x[:, None, None] + cols, 0, image.shape[1] - 1),
        ]
        assert (np.abs(patch.astype(int) - colour).sum(axis=-1) < 40).any(axis=(1, 2)).all()  # around every point
