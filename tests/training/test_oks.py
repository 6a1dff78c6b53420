"""OKS, mAP/mAR (DeepLabCut's rules, checked against pycocotools and by hand) and matched pixel error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from markerless.training.oks import (
    SLEAP_OKS_SIGMA,
    hungarian_match,
    matched_errors,
    multi_animal_summary,
    oks_map,
    oks_matrix,
)


def _with_scores(xy: np.ndarray, score: float = 0.9) -> np.ndarray:
    return np.concatenate([xy, np.full((*xy.shape[:-1], 1), score)], axis=-1)


def _scene(rng: np.random.Generator, n_images: int, n_animals: int, k: int) -> np.ndarray:
    """Animals far apart (one per 300 px column), 40 px across, a few points unlabelled."""
    centres = np.stack([np.arange(n_animals) * 300.0 + 100, np.full(n_animals, 100.0)], axis=-1)
    gt = centres[None, :, None, :] + rng.uniform(-20, 20, (n_images, n_animals, k, 2))
    gt[rng.random(gt.shape[:3]) < 0.15] = np.nan
    return gt


def test_oks_by_hand() -> None:
    gt = np.array([[[[0.0, 0.0], [10.0, 10.0], [np.nan, np.nan]]]])  # area 100, k² = 0.04, 2 s² k² = 8
    d2 = -8 * math.log(0.45)  # second point off so that its term is 0.45
    pred = _with_scores(np.array([[[[0.0, 0.0], [10.0 + math.sqrt(d2), 10.0], [50.0, 50.0]]]]))
    assert oks_matrix(gt, pred)[0, 0, 0] == pytest.approx((1 + 0.45) / 2)
    # OKS 0.725 passes the thresholds 0.50 ... 0.70: five of ten, precision 1 up to recall 1 there
    assert oks_map(gt, pred) == pytest.approx({"mAP": 50.0, "mAR": 50.0})
    # SLEAP's sigma is 4x smaller: the same error scores lower
    assert oks_matrix(gt, pred, SLEAP_OKS_SIGMA)[0, 0, 0] < 0.6
    pred[0, 0, 1] = np.nan  # a missing prediction scores 0 on that point
    assert oks_matrix(gt, pred)[0, 0, 0] == pytest.approx(0.5)


def test_perfect_and_empty() -> None:
    gt = _scene(np.random.default_rng(0), 4, 2, 5)
    assert oks_map(gt, _with_scores(gt)) == pytest.approx({"mAP": 100.0, "mAR": 100.0})
    assert oks_map(gt, np.full((4, 3, 5, 3), np.nan)) == {"mAP": 0.0, "mAR": 0.0}
    errors, _, pairs = matched_errors(gt, np.zeros((4, 0, 5, 3)))  # no predicted animal at all
    assert np.isnan(errors).all() and (pairs == -1).all()
    assert np.isnan(oks_map(np.zeros((4, 0, 5, 2)), _with_scores(gt))["mAP"])  # nothing labelled: undefined
    one_point = np.full((1, 1, 5, 2), np.nan)
    one_point[0, 0, 0] = 5.0
    assert np.isnan(oks_matrix(one_point, _with_scores(one_point))).all()  # fewer than 2 labelled points


def test_false_positive_ranked_first_lowers_precision() -> None:
    gt = np.array([[[[0.0, 0.0], [10.0, 10.0]], [[np.nan, np.nan]] * 2]])
    pred = _with_scores(np.array([[[[500.0, 500.0], [510.0, 510.0]], [[0.0, 0.0], [10.0, 10.0]]]]))
    pred[0, 0, :, 2] = 0.95  # the false positive outranks the true one
    # precision after the FP is 0, after the TP 0.5; made monotone, 0.5 at every recall point
    assert oks_map(gt, pred) == pytest.approx({"mAP": 50.0, "mAR": 100.0})
    pred[0, 0, :, 2] = 0.5
    assert oks_map(gt, pred) == pytest.approx({"mAP": 100.0, "mAR": 100.0})
    scores = np.array([[0.99, 0.1]])  # an explicit animal score overrides the keypoint mean
    assert oks_map(gt, pred, scores)["mAP"] == pytest.approx(50.0)


def test_best_animal_taken_stays_unmatched_as_in_deeplabcut() -> None:
    """DeepLabCut's greedy matching (not pycocotools'): a prediction whose best labelled animal is
    already taken is a false positive even when another labelled animal would pass."""
    gt = np.array([[[[0.0, 0.0], [10.0, 10.0]], [[3.0, 0.0], [13.0, 10.0]]]])
    pred = _with_scores(np.array([[[[0.0, 0.0], [10.0, 10.0]], [[1.0, 0.0], [11.0, 10.0]]]]))
    pred[0, 1, :, 2] = 0.5  # ranked second; its best is animal 0 (taken), animal 1 still has OKS > 0.5
    oks = oks_matrix(gt, pred)
    assert oks[0, 1, 0] > oks[0, 1, 1] > 0.5
    # one TP then one FP at every threshold: precision 1 up to recall 0.5, nothing beyond
    assert oks_map(gt, pred)["mAR"] == pytest.approx(50.0)
    assert oks_map(gt, pred)["mAP"] == pytest.approx(100.0 * 51 / 101)


def _coco_reference(gt: np.ndarray, pred: np.ndarray, sigma: float) -> dict[str, float]:
    pycocotools = pytest.importorskip("pycocotools", reason="pycocotools (dev dependency) is not installed")
    from pycocotools.coco import COCO  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from pycocotools.cocoeval import COCOeval  # type: ignore[import-untyped, import-not-found, unused-ignore]

    assert pycocotools
    n, _, k, _ = gt.shape
    images: list[dict] = []
    annotations: list[dict] = []
    detections: list[dict] = []
    for i in range(n):
        images.append({"id": i, "width": 2000, "height": 2000})
        for animal in gt[i]:
            vis = np.isfinite(animal).all(axis=-1)
            if vis.sum() < 2:
                continue
            lo, hi = animal[vis].min(axis=0), animal[vis].max(axis=0)
            kp = np.concatenate([np.nan_to_num(animal), 2 * vis[:, None]], axis=-1)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "iscrowd": 0,
                    "keypoints": kp.ravel().tolist(),
                    "num_keypoints": int(vis.sum()),
                    "area": float(np.prod(hi - lo + np.spacing(1))),
                    "bbox": [*lo.tolist(), *(hi - lo).tolist()],
                }
            )
        for animal in pred[i]:
            ok = np.isfinite(animal).all(axis=-1)
            if ok.sum() < 2:
                continue
            xy = np.where(
                ok[:, None], animal[:, :2], 5000.0
            )  # missing: far off (OKS term 0), box within COCO area range
            kp = np.concatenate([xy, np.ones((k, 1))], axis=-1)
            detections.append(
                {
                    "image_id": i,
                    "category_id": 1,
                    "keypoints": kp.ravel().tolist(),
                    "score": float(np.nanmean(animal[:, 2])),
                }
            )
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "animal"}]}
    coco.createIndex()
    evaluator = COCOeval(coco, coco.loadRes(detections), iouType="keypoints")
    evaluator.params.kpt_oks_sigmas = np.full(k, sigma)
    evaluator.params.maxDets = [20]
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return {"mAP": 100 * evaluator.stats[0], "mAR": 100 * evaluator.stats[5]}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_pycocotools_on_separated_animals(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gt = _scene(rng, 12, 3, 6)
    pred = _with_scores(gt + rng.normal(0, 2.5, gt.shape))
    pred[..., 2] = rng.uniform(0.2, 1.0, pred.shape[:3])
    pred[rng.random(pred.shape[:3]) < 0.1] = np.nan  # missed points
    pred[rng.random(pred.shape[:2]) < 0.15] = np.nan  # missed animals
    extra = _with_scores(
        rng.uniform(0, 900, (12, 1, 6, 2)) + np.array([0.0, 600.0]), 0.0
    )  # false positives, random scores
    extra[..., 2] = rng.uniform(0.2, 1.0, extra.shape[:3])
    pred = np.concatenate([pred, extra], axis=1)
    for sigma in (0.1, SLEAP_OKS_SIGMA):
        ours = oks_map(gt, pred, sigma=sigma)
        assert ours == pytest.approx(_coco_reference(gt, pred, sigma), abs=1e-9)
        assert ours["mAP"] < 100
        assert ours["mAP"] > 0 or sigma == SLEAP_OKS_SIGMA


def test_hungarian_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    for p, g in ((3, 3), (2, 4), (5, 2), (7, 8)):  # 7-8 animals: the scipy branch
        cost = rng.uniform(0, 10, (20, p, g))
        pairs = hungarian_match(cost)
        for i in range(20):
            rows, cols = linear_sum_assignment(cost[i])
            expected = np.full(g, -1)
            expected[cols] = rows
            np.testing.assert_array_equal(pairs[i], expected)
    cost = np.array([[[1.0, np.nan], [np.nan, np.nan]]])  # NaN: never paired
    np.testing.assert_array_equal(hungarian_match(cost), [[0, -1]])


def test_matched_errors_undo_animal_order() -> None:
    rng = np.random.default_rng(4)
    gt = _scene(rng, 5, 3, 4)
    pred = _with_scores(gt + np.array([3.0, 4.0]))  # every point 5 px off
    pred = pred[:, [2, 0, 1]]  # animals in another order
    pred = np.concatenate([pred, np.full((5, 1, 4, 3), np.nan)], axis=1)  # an empty slot
    for match in ("hungarian", "oks"):
        assert match in ("hungarian", "oks")
        errors, scores, pairs = matched_errors(gt, pred, match)
        np.testing.assert_array_equal(pairs, np.broadcast_to([1, 2, 0], (5, 3)))
        labelled = np.isfinite(gt).all(axis=-1)
        np.testing.assert_allclose(errors[labelled], 5.0)
        assert np.isnan(errors[~labelled]).all()
        assert (scores[labelled] == 0.9).all()


def test_summary() -> None:
    gt = _scene(np.random.default_rng(5), 3, 2, 3)
    pred = _with_scores(gt + np.array([0.0, 1.0]))
    pred[:, 1, :, 2] = 0.3
    summary = multi_animal_summary(gt, pred, pcutoff=0.6, bodyparts=["a", "b", "c"])
    assert summary["error_px"] == pytest.approx(1.0)
    assert summary["error_px_pcutoff"] == pytest.approx(1.0)
    assert set(summary["per_keypoint"]) == {"a", "b", "c"}
    assert 50 < summary["map"] <= 100
    assert summary["map_sleap"] < summary["map"]
    assert summary["n_images"] == 3 and summary["n_animals"] == 6
    assert summary["pck"]["2"] == pytest.approx(100.0) and summary["pck"]["5"] == pytest.approx(100.0)
