"""Multi-animal training end to end on a tiny rendered project: affinity fields, assembly, mAP, unique parts."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from markerless.analysis.analyze import analyze
from markerless.errors import ModelError
from markerless.io.dlc import read_config, read_predictions, write_config
from markerless.io.video import VideoReader, VideoWriter
from markerless.nets import load_checkpoint
from markerless.nets.checkpoint import checkpoint_extra
from markerless.project.project import Project
from markerless.project.recipe import read_recipe, write_recipe
from markerless.project.shuffle import Shuffle
from markerless.synthetic import make_synthetic_project
from markerless.tracking.tracklets import tracklets_path
from markerless.training.dataset import create_training_dataset
from markerless.training.evaluation import _animals_in_label_order, evaluate
from markerless.training.loop import train
from markerless.training.multi_animal import animal_errors
from markerless.viz.draw import pose_colors

#: Epochs in which the tiny net learns to find the port (a few seconds on a CPU).
EPOCHS_TO_FIND_THE_PORT = 15


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
    assert 0.0 <= float(rows[-1]["test_map"]) <= 100.0  # the learning curve's mAP (validated at the last epoch)
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


@pytest.mark.slow
def test_evaluation_through_the_exported_graph_scores_what_pytorch_scores(two_animals: Path) -> None:
    quick = {"lr": 0.003, "ema_decay": 0.0, "rotation": 0.0, "scale": [1.0, 1.0]}  # animals found in 15 epochs
    recipe_file = Shuffle(two_animals, 1).recipe_file
    write_recipe(recipe_file, read_recipe(recipe_file).with_overrides(quick))
    train(two_animals, 1, epochs=15, device="cpu")
    eager = evaluate(two_animals, 1, device="cpu", backend="torch")
    assert math.isfinite(eager["test_error_px"])  # animals found: the comparison means something
    exported = evaluate(two_animals, 1, device="cpu", backend="openvino")  # as analysis runs it, in fp32
    for key in ("test_map", "test_map_sleap", "train_map", "test_error_px", "train_error_px"):
        assert exported[key] == pytest.approx(eager[key], abs=0.01), key
    for part, errors in eager["per_bodypart"].items():
        assert exported["per_bodypart"][part] == pytest.approx(errors, abs=0.01, nan_ok=True), part
    with pytest.raises(ModelError, match="backend"):
        evaluate(two_animals, 1, device="cpu", backend="tensorrt")


#: Where the food port (a unique body part drawn into every frame) sits, (x, y) pixels.
PORT = (84, 56)


def _draw_port(image: np.ndarray) -> None:
    """The food port drawn in place over the animals: a white disc in a black ring (the same in RGB and BGR)."""
    cv2.circle(image, PORT, 7, (0, 0, 0), -1, lineType=cv2.LINE_AA)
    cv2.circle(image, PORT, 4, (255, 255, 255), -1, lineType=cv2.LINE_AA)


@pytest.fixture
def animals_and_a_port(tmp_path: Path) -> Path:
    """The two-animal project with a unique body part ``port``: drawn into the video and every labelled image
    and labelled, as DeepLabCut keeps unique body parts, under the pseudo-individual ``single``."""
    config = make_synthetic_project(tmp_path, n_animals=2, n_frames=40, n_labelled=12, size=(160, 120), seed=1)
    cfg = read_config(config)
    cfg["uniquebodyparts"] = ["port"]
    write_config(cfg, config)
    project = Project.load(config)
    (video,) = project.videos
    with VideoReader(video) as reader:
        frames, fps = np.stack(list(reader)), reader.fps
    for frame in frames:
        _draw_port(frame)
    with VideoWriter(video, fps, (frames.shape[2], frames.shape[1])) as writer:
        writer.write_batch(frames)
    for stem in project.video_folders():
        labels = project.load_labels(stem)
        for image in labels.images:
            picture = cv2.imread(str(project.root / image))
            _draw_port(picture)
            cv2.imwrite(str(project.root / image), picture)
        labels.xy[:, -1, -1] = PORT  # individual "single", the last keypoint
        project.save_labels(labels, stem)
    sh = create_training_dataset(config, shuffle=1, seed=0, train_fraction=0.75)
    tiny = {"pretrained": False, "crop_size": [96, 96], "batch_size": 4, "eval_every_epochs": 0, "save_every_epochs": 1}
    quick = {"lr": 0.003, "ema_decay": 0.0, "rotation": 0.0, "scale": [1.0, 1.0]}  # a few seconds to find the port
    write_recipe(sh.recipe_file, read_recipe(sh.recipe_file).with_overrides(tiny, motion_blur=0.0, noise=0.0, **quick))
    return config


def test_unique_body_parts_train_as_channels_after_the_animal_parts(animals_and_a_port: Path) -> None:
    snapshot = train(animals_and_a_port, 1, epochs=1, device="cpu")
    extra = checkpoint_extra(snapshot)
    layout = Project.load(animals_and_a_port).layout
    assert extra["bodyparts"] == [*layout.bodyparts, "port"]  # the unique part is the last channel
    net, _ = load_checkpoint(snapshot)
    assert net.spec.keypoints == len(layout.bodyparts) + 1
    assert all("port" not in edge for edge in extra["edges"])  # no affinity field reaches it


@pytest.mark.slow
def test_unique_body_parts_are_found_in_single_and_scored_apart_from_the_map(animals_and_a_port: Path) -> None:
    train(animals_and_a_port, 1, epochs=EPOCHS_TO_FIND_THE_PORT, device="cpu")
    results = evaluate(animals_and_a_port, 1, device="cpu")
    assert 0.0 <= results["test_map"] <= 100.0 and 0.0 <= results["train_map"] <= 100.0
    layout = Project.load(animals_and_a_port).layout
    assert list(results["per_bodypart"]) == [*layout.bodyparts, "port"] and results["per_bodypart"]["port"]["unique"]
    assert results["test_error_px_unique"] < 4.0
    with open(Shuffle(animals_and_a_port, 1).train_dir / "learning_stats.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert float(last["test_error_px_unique"]) == pytest.approx(results["test_error_px_unique"], abs=1e-3)
    assert float(last["test_map"]) == pytest.approx(results["test_map"], abs=1e-3)
    video = next((animals_and_a_port.parent / "videos").glob("*.mp4"))
    (out,) = analyze(animals_and_a_port, [video], backend="torch", dest=animals_and_a_port.parent / "out")
    table = pd.read_hdf(out)
    assert table.columns.get_level_values("individuals").unique().tolist() == ["individual1", "individual2", "single"]
    assert table.columns[-3:].droplevel("scorer").tolist() == [("single", "port", c) for c in ("x", "y", "likelihood")]
    poses = read_predictions(out)
    port = poses.data[:, -1, -1]  # "single", "port"
    assert np.isfinite(port).all(axis=-1).mean() >= 0.9
    assert np.nanmedian(np.hypot(port[:, 0] - PORT[0], port[:, 1] - PORT[1])) < 3.0


def test_animal_errors_score_unique_parts_apart_from_the_animals() -> None:
    gt = np.full((4, 3, 3, 2), np.nan)  # images, 2 animals + "single", 2 animal parts + 1 unique part
    gt[:, 0, :2] = [[10, 10], [30, 10]]
    gt[:, 1, :2] = [[10, 60], [30, 60]]
    gt[:, 2, 2] = [80, 40]
    pred = np.full((4, 3, 3, 3), np.nan)
    pred[:, :2, :2, :2] = gt[:, :2, :2] + 1.0
    pred[:, :2, :2, 2] = 0.9
    pred[:, 2, 2] = [83, 44, 0.8]  # 5 px off
    pred[3, 2, 2] = np.nan  # not found in image 3
    scores = np.full((4, 2), 0.9)
    with_unique = animal_errors(pred, scores, gt, 0.6, ["a", "b"], ["port"])
    animals = animal_errors(pred[:, :2, :2], scores, gt[:, :2, :2], 0.6, ["a", "b"])
    for key in ("map", "map_sleap", "error_px", "per_keypoint"):
        assert with_unique[key] == animals[key]
    assert with_unique["unique"]["error_px"] == pytest.approx(5.0)
    assert with_unique["unique"]["per_keypoint"] == [pytest.approx(5.0)]
    assert with_unique["unique"]["pck"]["5"] == pytest.approx(75.0)  # the missing one counts as a miss


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
