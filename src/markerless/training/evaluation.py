"""Evaluation of a trained shuffle: DeepLabCut's "RMSE" (mean Euclidean pixel error), per body part, PCK.

``evaluate`` predicts every labelled image (full image, fully convolutional, batched) and writes into
``evaluation-results-pytorch/iteration-<i>/<shuffle name>/``: predictions ``<scorer>.h5``,
``<scorer>-results.csv`` (DeepLabCut's layout), ``<scorer>-keypoint-results.csv``, ``results.json``
and, with ``plot=True``, ``LabeledImages_<scorer>/`` (ground truth vs prediction); and updates
``CombinedEvaluation-results.csv`` one folder up.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from markerless.analysis.backends import resolve_backend
from markerless.analysis.model_source import resolve_model
from markerless.errors import ProjectError, TrainingError
from markerless.io.atomic import atomic_path, write_text
from markerless.model.tables import array_to_frame
from markerless.nets import InferenceModel, load_checkpoint
from markerless.nets.checkpoint import check_trained_bodyparts
from markerless.nets.device import resolve_device
from markerless.project.project import ProjectSource
from markerless.project.shuffle import Shuffle, snapshot_epoch
from markerless.training.batches import ImageSet, same_size_batches
from markerless.training.metrics import LARGE_ERROR_FRACTION, error_summary, labelled_extent, pixel_errors
from markerless.training.multi_animal import animal_errors, predict_animals, predict_animals_exported
from markerless.training.oks import matched_errors, oks_matrix
from markerless.viz.draw import colormap_colors, draw_poses, pose_colors


# --- prediction -------------------------------------------------------------------------------
def predict_images(
    net: Any, images: list[np.ndarray], *, scale: float = 1.0, batch_size: int = 8, device: torch.device | str = "cpu"
) -> np.ndarray:
    """Keypoints ``(N, K, 3)`` (x, y, score in image pixels) of RGB images, batched by image size.

    Puts ``net`` in eval mode (callers that keep training call ``net.train()`` afterwards).
    """

    model = InferenceModel(net, color="rgb", scale=scale).to(device)
    out = np.full((len(images), net.spec.keypoints, 3), np.nan, dtype=np.float32)
    for idx in same_size_batches(images, batch_size):
        out[idx] = model.predict(np.stack([images[i] for i in idx]))
    return out


#: Test images drawn in ``<scorer>-worst-test-images.png``.
WORST_IMAGES = 6


# --- evaluate a shuffle -----------------------------------------------------------------------
def evaluate(
    config: ProjectSource,
    shuffle: int = 1,
    snapshot: int | str | Path | None = None,
    pcutoff: float | None = None,
    plot: bool = False,
    device: str = "auto",
    backend: str = "auto",
) -> dict[str, Any]:
    """Evaluate a shuffle's snapshot on its train and test images; returns (and writes) ``results.json``'s dict.

    Args:
        config: the project's ``config.yaml`` (or folder, or a ``Project``).
        shuffle: the shuffle number.
        snapshot: index into :meth:`Shuffle.snapshots` (default config ``snapshotindex``; -1 = best) or a path.
        pcutoff: likelihood threshold (default the project's ``pcutoff``).
        plot: also draw every image with ground truth (circles) and predictions (crosses).
        device: ``auto``, ``cpu`` or ``cuda``.
        backend: what runs a multi-animal network: ``auto`` (analysis's choice for the device,
            :func:`~markerless.analysis.backends.resolve_backend`: OpenVINO on a CPU, so the images are
            predicted as the videos are), ``torch``, ``openvino`` or ``onnxruntime`` (the last two export
            the snapshot, kept for analysis, and run it in fp32 on the CPU). A single-animal network runs
            in PyTorch.
    """

    sh = Shuffle(config, shuffle)
    project = sh.project
    snap = Path(snapshot) if isinstance(snapshot, (str, Path)) else sh.snapshot(snapshot)
    scorer = sh.scorer(snap)
    if pcutoff is None:
        pcutoff = project.pcutoff
    dev = resolve_device(device)
    net, extra = load_checkpoint(snap, device=dev)
    check_trained_bodyparts(extra, project.layout.keypoint_names, snap, project.config_path)
    labels = project.load_labels()
    train_set, test_set = set(sh.train_images()), set(sh.test_images())
    rows = [i for i, p in enumerate(labels.images) if p in train_set or p in test_set]
    if not rows:
        raise ProjectError(
            f"None of shuffle {shuffle}'s images are labelled any more; create the training dataset again."
        )
    labels = labels.select(rows)
    data = ImageSet.load(project.root, labels)
    recipe = sh.recipe
    runner = resolve_backend(backend, dev.type)  # checked for every project: a wrong name is an error
    if project.layout.multi_animal:
        return _evaluate_animals(sh, snap, net, extra, data, train_set, pcutoff, dev, runner, plot)
    pred = predict_images(
        net,
        data.images,
        scale=recipe.model.input_scale,
        batch_size=recipe.runtime.eval_batch_size,
        device=dev,
    )
    is_train = np.array([p in train_set for p in labels.images])
    train = error_summary(pred[is_train], data.ground_truth[is_train], pcutoff)
    test = error_summary(pred[~is_train], data.ground_truth[~is_train], pcutoff)
    names = list(project.layout.keypoint_names)
    epoch = snapshot_epoch(snap)
    size = labelled_extent(data.ground_truth[~is_train] if (~is_train).any() else data.ground_truth)
    results = {
        "snapshot": snap.name,
        "scorer": scorer,
        "epoch": epoch,
        "shuffle": int(shuffle),
        "train_fraction": sh.train_fraction,
        "pcutoff": pcutoff,
        "train_error_px": train["error_px"],
        "test_error_px": test["error_px"],
        "train_error_px_pcutoff": train["error_px_pcutoff"],
        "test_error_px_pcutoff": test["error_px_pcutoff"],
        "n_train": int(is_train.sum()),
        "n_test": int((~is_train).sum()),
        "per_bodypart": {
            name: {"train_error_px": tr, "test_error_px": te}
            for name, tr, te in zip(names, train["per_keypoint"], test["per_keypoint"])
        },
        "pck": {"train": train["pck"], "test": test["pck"]},
        "animal_size_px": size,
    }
    out = sh.evaluation_dir
    out.mkdir(parents=True, exist_ok=True)
    _write_predictions(out / f"{scorer}.h5", pred, labels, scorer)
    _write_results_csv(out, scorer, sh.train_fraction, int(shuffle), epoch, pcutoff, train, test)
    kp = pd.DataFrame(
        [train["per_keypoint"], test["per_keypoint"]], index=["Train error (px)", "Test error (px)"], columns=names
    ).round(2)
    with atomic_path(out / f"{scorer}-keypoint-results.csv") as tmp:
        kp.to_csv(tmp)
    colours = colormap_colors(len(names), str(project.config.get("colormap") or "rainbow"))
    badness, titles = _worst_single(pred, data.ground_truth, ~is_train)
    worst = _plot_worst(
        out / f"{scorer}-worst-test-images.png", data, pred[:, None], badness, titles, project.layout, pcutoff, colours
    )
    results["worst_test_images"] = str(worst) if worst else None
    write_text(out / "results.json", json.dumps(_jsonable(results), indent=1) + "\n")
    if plot:
        _plot_images(out / f"LabeledImages_{scorer}", data, pred[:, None], is_train, project.layout, pcutoff, colours)
    results["evaluation_dir"] = str(out)
    if test["error_px"] > LARGE_ERROR_FRACTION * size:  # False for NaN
        warnings.warn(
            f"{snap.name}: the test error {test['error_px']:.1f} px is {test['error_px'] / size:.0%} of the animal's "
            f"labelled size ({size:.0f} px): look at {worst} and check "
            "that the recipe's crop_size holds every body part and its augmentation fits the camera set-up.",
            stacklevel=2,
        )
    return results


def _evaluate_animals(
    sh: Shuffle,
    snap: Path,
    net: Any,
    extra: dict[str, Any],
    data: ImageSet,
    train_set: set[str],
    pcutoff: float,
    device: torch.device,
    backend: str = "torch",
    plot: bool = False,
) -> dict[str, Any]:
    """Multi-animal evaluation: animals assembled and matched to the labelled ones; mAP (DeepLabCut's and
    SLEAP's sigma), pixel error after matching, per body part. Unique body parts are scored apart (their pixel
    error: ``*_error_px_unique`` and their rows of ``per_bodypart``), so they leave the mAP unchanged. Writes
    ``results.json``, the worst test images and, with ``plot``, every image (one colour per labelled animal and
    its matched prediction)."""
    project = sh.project
    layout = project.layout
    names, unique = list(layout.bodyparts), list(layout.unique_bodyparts)
    n_animals = len(layout.individuals)
    edges = extra.get("edges") or []
    if not edges:
        raise TrainingError(
            f"{snap} has no part-affinity edges: it is not a multi-animal snapshot; train this shuffle."
        )
    edge_index = np.array([[names.index(a), names.index(b)] for a, b in edges], dtype=np.int64)
    recipe = sh.recipe
    if backend == "torch":
        pred, scores = predict_animals(
            net,
            data.images,
            edge_index,
            n_animals,
            scale=recipe.model.input_scale,
            batch_size=recipe.runtime.eval_batch_size,
            device=device,
            n_unique=len(unique),
        )
    else:
        model = resolve_model(project.config_path, sh.index, snap)
        pred, scores = predict_animals_exported(model, data.images, backend, batch_size=recipe.runtime.eval_batch_size)
    is_train = np.array([p in train_set for p in data.paths])
    gt = data.ground_truth
    train = animal_errors(pred[is_train], scores[is_train], gt[is_train], pcutoff, names, unique)
    test = animal_errors(pred[~is_train], scores[~is_train], gt[~is_train], pcutoff, names, unique)
    results = {
        "snapshot": snap.name,
        "scorer": sh.scorer(snap),
        "epoch": snapshot_epoch(snap),
        "shuffle": sh.index,
        "train_fraction": sh.train_fraction,
        "pcutoff": pcutoff,
        "multi_animal": True,
        "test_map": test["map"],
        "test_mar": test["mar"],
        "test_map_sleap": test["map_sleap"],
        "test_mar_sleap": test["mar_sleap"],
        "train_map": train["map"],
        "train_map_sleap": train["map_sleap"],
        "train_error_px": train["error_px"],
        "test_error_px": test["error_px"],
        "train_error_px_pcutoff": train["error_px_pcutoff"],
        "test_error_px_pcutoff": test["error_px_pcutoff"],
        "n_train": int(is_train.sum()),
        "n_test": int((~is_train).sum()),
        "per_bodypart": {
            name: {"train_error_px": tr, "test_error_px": te}
            for name, tr, te in zip(names, train["per_keypoint"], test["per_keypoint"], strict=True)
        },
        "pck": {"train": train["pck"], "test": test["pck"]},
    }
    if unique:
        _add_unique_results(results, train["unique"], test["unique"])
    out = sh.evaluation_dir
    out.mkdir(parents=True, exist_ok=True)
    scorer = sh.scorer(snap)
    animals = (slice(None), slice(0, n_animals), slice(0, len(names)))  # without "single" and the unique parts
    ordered, badness, titles = _animals_in_label_order(gt[animals], pred[animals])
    if unique:  # back into the layout, the unique parts in "single" as predicted
        full = np.full_like(pred, np.nan)
        full[animals], full[:, -1] = ordered, pred[:, -1]
        ordered = full
    colours = pose_colors(project.layout, str(project.config.get("colormap") or "rainbow"), by="individual")
    worst = _plot_worst(
        out / f"{scorer}-worst-test-images.png",
        data,
        ordered,
        np.where(is_train, -np.inf, badness),
        titles,
        project.layout,
        pcutoff,
        colours,
        " (lowest OKS), one colour per labelled animal and the prediction matched to it",
    )
    results["worst_test_images"] = str(worst) if worst else None
    write_text(out / "results.json", json.dumps(_jsonable(results), indent=1) + "\n")
    if plot:
        _plot_images(out / f"LabeledImages_{scorer}", data, ordered, is_train, project.layout, pcutoff, colours)
    results["evaluation_dir"] = str(out)
    return results


def _add_unique_results(results: dict[str, Any], train: dict[str, Any], test: dict[str, Any]) -> None:
    """The unique body parts' pixel errors (:func:`~markerless.training.metrics.error_summary`s) into ``results``:
    ``train_error_px_unique``, ``test_error_px_unique`` (and ``_pcutoff``), their rows of ``per_bodypart`` and
    ``pck_unique``."""
    for split, summary in (("train", train), ("test", test)):
        results[f"{split}_error_px_unique"] = summary["error_px"]
        results[f"{split}_error_px_unique_pcutoff"] = summary["error_px_pcutoff"]
    for name, tr, te in zip(test["bodyparts"], train["per_keypoint"], test["per_keypoint"], strict=True):
        results["per_bodypart"][name] = {"train_error_px": tr, "test_error_px": te, "unique": True}
    results["pck_unique"] = {"train": train["pck"], "test": test["pck"]}


def _animals_in_label_order(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Predicted animals ``(N, A, K, 3)`` reordered so that slot ``g`` holds the one matched to labelled animal ``g``
    of ``gt`` ``(N, G, K, 2)`` (unmatched ones fill the free slots; ``(N, G, K, 3)``), and per image the badness
    ``1 - mean OKS`` of the labelled animals against their matches (NaN: none scorable) and a title."""
    n, g = gt.shape[:2]
    if pred.shape[1] < g:
        pred = np.concatenate([pred, np.full((n, g - pred.shape[1], *pred.shape[2:]), np.nan, pred.dtype)], axis=1)
    errors, _scores, pairs = matched_errors(gt, pred)
    rows = np.arange(n)[:, None]
    used = np.zeros(pred.shape[:2], dtype=bool)
    used[np.broadcast_to(rows, pairs.shape)[pairs >= 0], pairs[pairs >= 0]] = True
    unused = np.argsort(used, axis=1, kind="stable")  # unmatched predictions first
    free = pairs < 0
    rank = np.cumsum(free, axis=1) - 1
    slot = np.where(free, unused[rows, np.maximum(rank, 0)], pairs)
    ordered = np.take_along_axis(pred, slot[:, :, None, None], axis=1)
    oks = np.diagonal(oks_matrix(gt, ordered), axis1=1, axis2=2)  # (N, G): each labelled animal vs its slot
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # images without a scorable animal: NaN
        mean_oks = np.nanmean(oks, axis=1)
        mean_err = np.nanmean(errors.reshape(n, -1), axis=1)
    titles = [f"OKS {o:.2f}, {e:.1f} px" if np.isfinite(o) else "" for o, e in zip(mean_oks, mean_err, strict=True)]
    return ordered, 1.0 - mean_oks, titles


def _write_predictions(path: Path, pred: np.ndarray, labels: Any, scorer: str) -> None:
    """Predictions of every evaluated image, indexed like the ground truth (key ``df_with_missing``)."""
    index = pd.MultiIndex.from_tuples([tuple(p.split("/", 2)) for p in labels.images])
    df = array_to_frame(pred[:, None].astype(np.float64), labels.layout, scorer, ("x", "y", "likelihood"), index)
    with atomic_path(path) as tmp:
        df.to_hdf(tmp, key="df_with_missing", mode="w")


def _write_results_csv(
    out: Path,
    scorer: str,
    fraction: float,
    shuffle: int,
    epoch: int,
    pcutoff: float,
    train: dict[str, Any],
    test: dict[str, Any],
) -> None:
    """``<scorer>-results.csv`` and the iteration's ``CombinedEvaluation-results.csv`` (DeepLabCut's columns)."""
    index_cols = ["%Training dataset", "Shuffle number", "Training epochs", "Detector epochs (TD only)", "pcutoff"]
    row = (
        pd.DataFrame(
            [
                [
                    fraction,
                    shuffle,
                    epoch,
                    -1,
                    pcutoff,
                    train["error_px"],
                    train["error_px_pcutoff"],
                    test["error_px"],
                    test["error_px_pcutoff"],
                ]
            ],
            columns=[*index_cols, "train rmse", "train rmse_pcutoff", "test rmse", "test rmse_pcutoff"],
        )
        .set_index(index_cols)
        .round(2)
    )
    with atomic_path(out / f"{scorer}-results.csv") as tmp:
        row.to_csv(tmp)
    combined_path = out.parent / "CombinedEvaluation-results.csv"
    if combined_path.exists():
        try:
            old = pd.read_csv(combined_path, index_col=list(range(len(index_cols))))
            row = row.combine_first(old)
        except (ValueError, pd.errors.ParserError):
            pass  # an unreadable old table is replaced
    with atomic_path(combined_path) as tmp:
        row.sort_index().to_csv(tmp)


def _draw_image(
    image: np.ndarray, gt: np.ndarray, pred: np.ndarray, layout: Any, pcutoff: float, colours: np.ndarray
) -> np.ndarray:
    """One image with ground truth ``(I, K, 2)`` (rings) and predictions ``(I, K, 3)`` (dots and skeleton; faint
    below the p-cutoff) of ``layout``'s ``I`` individuals, coloured by ``colours`` ``(K, 3)`` or ``(I, K, 3)``."""
    above = pred[..., 2] >= pcutoff
    canvas = draw_poses(
        image,
        gt,
        layout,
        colors=colours,
        dot_size=12,
        skeleton=False,
        hollow=np.ones(gt.shape[:2], dtype=bool),
        line_width=1,
    )
    draw_poses(canvas, pred[..., :2], layout, visible=above, colors=colours, dot_size=6, copy=False)
    draw_poses(
        canvas,
        pred[..., :2],
        layout,
        visible=~above,
        colors=colours,
        dot_size=6,
        skeleton=False,
        alpha=0.4,
        copy=False,
    )
    return canvas


def _plot_images(
    folder: Path,
    data: Any,
    pred: np.ndarray,
    is_train: np.ndarray,
    layout: Any,
    pcutoff: float,
    colours: np.ndarray,
) -> None:
    """Each image with ground truth and predictions ``(N, I, K, 3)`` (see :func:`_draw_image`), one PNG per image."""
    folder.mkdir(parents=True, exist_ok=True)
    gt = data.ground_truth.reshape((*pred.shape[:-1], 2))
    for i, (path, image) in enumerate(zip(data.paths, data.images)):
        canvas = _draw_image(image, gt[i], pred[i], layout, pcutoff, colours)
        split = "train" if is_train[i] else "test"
        name = f"{split}-{path.replace('/', '_')}"
        with atomic_path(folder / Path(name).with_suffix(".png")) as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))


def _plot_worst(
    path: Path,
    data: Any,
    pred: np.ndarray,
    badness: np.ndarray,
    titles: list[str],
    layout: Any,
    pcutoff: float,
    colours: np.ndarray,
    what: str = "",
) -> Path | None:
    """The test images of highest ``badness`` (NaN last; ``-inf`` marks images that are not test images), each around
    its points and titled ``titles[i]``, with predictions ``(N, I, K, 3)``; None without any test image."""
    rows = np.flatnonzero(~np.isneginf(badness))
    if not rows.size:
        return None
    order = rows[np.argsort(-np.nan_to_num(badness[rows], nan=-np.inf), kind="stable")][:WORST_IMAGES]
    gt = data.ground_truth.reshape((*pred.shape[:-1], 2))
    cols = min(3, len(order))
    lines = -(-len(order) // cols)
    fig = Figure(figsize=(3.4 * cols, 3.4 * lines + 0.4), layout="constrained")
    axes = fig.subplots(lines, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, order):
        canvas = _draw_image(data.images[i], gt[i], pred[i], layout, pcutoff, colours)
        ax.imshow(_around_points(canvas, np.concatenate([gt[i].reshape(-1, 2), pred[i, ..., :2].reshape(-1, 2)])))
        ax.set_title(f"{data.paths[i]}\n{titles[i]}" if titles[i] else data.paths[i], fontsize=8)
    fig.suptitle(
        f"Worst test images{what}\nground truth (rings), predictions (dots; faint below the p-cutoff)", fontsize=9
    )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path


def _worst_single(pred: np.ndarray, gt: np.ndarray, is_test: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Badness (mean pixel error; ``-inf`` off the test set) and titles of single-animal images ``(N, K, 3)``."""
    err = pixel_errors(pred, gt)
    finite = np.isfinite(err)
    mean = np.where(finite, err, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
    mean[~finite.any(axis=1)] = np.nan  # nothing labelled: never among the worst
    badness = np.where(is_test, mean, -np.inf)
    return badness, [f"{m:.1f} px" if np.isfinite(m) else "" for m in mean]


def _around_points(image: np.ndarray, points: np.ndarray, margin: float = 0.5, least: int = 96) -> np.ndarray:
    """The part of ``image`` around the finite ``points`` ``(N, 2)``, with ``margin`` times their extent on each side."""
    pts = points[np.isfinite(points).all(axis=1)]
    if not len(pts):
        return image
    h, w = image.shape[:2]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = np.maximum((hi - lo) * margin, (least - (hi - lo)) / 2)
    x0, y0 = np.clip(np.floor(lo - pad), 0, [w - 1, h - 1]).astype(int)
    x1, y1 = np.clip(np.ceil(hi + pad), 1, [w, h]).astype(int)
    return image[y0:y1, x0:x1]


def _jsonable(value: Any) -> Any:
    """NaN -> None and NumPy scalars -> Python, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
