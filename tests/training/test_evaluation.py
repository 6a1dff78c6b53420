"""Evaluation: pixel errors and PCK by hand, and ``evaluate`` end to end on an untrained tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerless.training.batches import read_image
from markerless.training.dataset import create_training_dataset
from markerless.training.evaluation import evaluate
from markerless.training.metrics import error_summary, labelled_extent, mean_error, pck, pixel_errors
from tests.fixtures.projects import make_tiny_project, tiny_recipe


def test_pixel_errors_by_hand() -> None:
    pred = np.array([[[0.0, 0.0, 0.9], [3.0, 4.0, 0.2], [np.nan, np.nan, 0.0]]])
    gt = np.array([[[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]])
    err = pixel_errors(pred, gt)
    np.testing.assert_allclose(err, [[0.0, 5.0, np.nan]])
    assert mean_error(err) == pytest.approx(2.5)
    assert mean_error(err, pred[..., 2] >= 0.5) == pytest.approx(0.0)
    assert np.isnan(mean_error(np.array([np.nan])))
    labelled = np.isfinite(gt).all(-1)
    assert pck(err, labelled, (2, 5)) == {"2": pytest.approx(100 / 3), "5": pytest.approx(200 / 3)}
    s = error_summary(pred, gt, pcutoff=0.5)
    assert s["error_px"] == pytest.approx(2.5) and s["error_px_pcutoff"] == pytest.approx(0.0)
    assert s["per_keypoint"][1] == pytest.approx(5.0) and np.isnan(s["per_keypoint"][2])
    # an unlabelled ground-truth point is not counted whatever is predicted
    assert np.isnan(pixel_errors([[7.0, 7.0]], [[np.nan, np.nan]])).all()


def test_labelled_extent_is_the_median_box_diagonal() -> None:
    nan = np.nan
    gt = np.array(
        [
            [[0, 0], [3, 4], [nan, nan]],  # diagonal 5
            [[10, 10], [10, 10], [16, 18]],  # diagonal 10
            [[1, 1], [nan, nan], [nan, 2]],  # one labelled point: no extent
            [[0, 0], [0, 30], [40, 0]],  # diagonal 50
        ],
        dtype=float,
    )
    assert labelled_extent(gt) == pytest.approx(10.0)
    assert np.isnan(labelled_extent(gt[2:3]))


@pytest.mark.slow
def test_evaluate_writes_dlc_files_with_hand_checked_numbers(tmp_path: Path) -> None:
    import torch

    from markerless.nets import create_model, save_checkpoint

    config = make_tiny_project(tmp_path)
    sh = create_training_dataset(config, shuffle=1, seed=0)
    tiny_recipe(config)
    torch.manual_seed(0)
    net = create_model("mobilenetv2", 4, pretrained=False)
    sh.train_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(sh.train_dir / "snapshot-best-003.pt", net, extra={"epoch": 3})
    with pytest.warns(UserWarning, match="of the animal's labelled size"):  # random weights: far off
        r = evaluate(config, 1, plot=True, device="cpu")
    scorer = "DLC_Mobilenetv2_tinyNov24shuffle1_snapshot_best-3"
    out = sh.evaluation_dir
    assert r["scorer"] == scorer and Path(r["evaluation_dir"]) == out
    assert r["n_train"] == 9 and r["n_test"] == 3
    pred = pd.read_hdf(out / f"{scorer}.h5")
    gt = pd.read_hdf(
        config.parent / "training-datasets/iteration-0/UnaugmentedDataSet_tinyNov24/CollectedData_tester.h5"
    )
    assert list(pred.index) == list(gt.index)
    p = pred.to_numpy().reshape(len(pred), 4, 3)
    g = gt.to_numpy().reshape(len(gt), 4, 2)
    test_rows = [tuple(i.split("/")) for i in sh.test_images()]
    is_test = np.array([row in test_rows for row in pred.index])
    d = np.sqrt(((p[..., :2] - g) ** 2).sum(-1))
    assert r["test_error_px"] == pytest.approx(np.nanmean(d[is_test]))
    assert r["train_error_px"] == pytest.approx(np.nanmean(d[~is_test]))
    above = p[..., 2] >= 0.4
    expected = np.nanmean(np.where(above, d, np.nan)[is_test]) if above[is_test].any() else None
    saved = json.loads((out / "results.json").read_text())
    for key in (
        "train_error_px",
        "test_error_px",
        "test_error_px_pcutoff",
        "train_error_px_pcutoff",
        "n_train",
        "n_test",
        "per_bodypart",
        "pck",
    ):
        assert key in saved
    assert saved["test_error_px_pcutoff"] == (pytest.approx(expected) if expected is not None else None)
    assert saved["per_bodypart"]["snout"]["test_error_px"] == pytest.approx(np.nanmean(d[is_test, 0]))
    res = pd.read_csv(out / f"{scorer}-results.csv")
    assert list(res.columns[:5]) == [
        "%Training dataset",
        "Shuffle number",
        "Training epochs",
        "Detector epochs (TD only)",
        "pcutoff",
    ]
    assert res["test rmse"].iloc[0] == pytest.approx(round(r["test_error_px"], 2))
    kp = pd.read_csv(out / f"{scorer}-keypoint-results.csv", index_col=0)
    assert list(kp.index) == ["Train error (px)", "Test error (px)"] and list(kp.columns) == [
        "snout",
        "leftear",
        "rightear",
        "tailbase",
    ]
    assert (out.parent / "CombinedEvaluation-results.csv").exists()
    worst = read_image(out / f"{scorer}-worst-test-images.png")
    assert saved["worst_test_images"] == str(out / f"{scorer}-worst-test-images.png") and worst.ndim == 3
    assert saved["animal_size_px"] > 0
    images = sorted((out / f"LabeledImages_{scorer}").glob("*.png"))
    assert len(images) == 12 and read_image(images[0]).shape == (80, 96, 3)
