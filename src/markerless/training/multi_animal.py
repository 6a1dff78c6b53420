"""Predictions and errors of a multi-animal (bottom-up) network on labelled images.

The network's heatmaps, offsets and part-affinity fields are assembled into animals
(:func:`markerless.analysis.assembly.assemble_maps`); the animals are scored against the labelled ones
as DeepLabCut and SLEAP score them (:mod:`markerless.training.oks`). Unique body parts (one per image, in
the pseudo-individual ``single``) take their best peak and are scored apart, by their pixel error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from markerless.analysis.animal_model import assemble_scored
from markerless.analysis.assembly import assemble_maps
from markerless.analysis.model_source import AnalysisModel, cached_backend
from markerless.errors import ModelError
from markerless.training.batches import same_size_batches, to_tensor
from markerless.training.metrics import error_summary
from markerless.training.oks import multi_animal_summary


@torch.inference_mode()
def predict_animals(
    net: Any,
    images: list[np.ndarray],
    edges: np.ndarray,
    max_individuals: int,
    *,
    scale: float = 1.0,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    n_unique: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Animals ``(N, max_individuals, K, 3)`` (x, y in image pixels, score; NaN where not found) and their
    scores ``(N, max_individuals)`` in RGB images, batched by image size. Puts ``net`` in eval mode.

    With ``n_unique`` the net's last ``n_unique`` channels are unique body parts: the poses get one more
    row, ``single``, with their best peaks (the layout of a project with ``uniquebodyparts``).
    """
    net.eval()
    n_parts = net.spec.keypoints
    rows_out = max_individuals + (1 if n_unique else 0)
    poses = np.full((len(images), rows_out, n_parts, 3), np.nan, dtype=np.float32)
    scores = np.full((len(images), max_individuals), np.nan, dtype=np.float32)
    for idx in same_size_batches(images, batch_size):
        x = to_tensor(np.stack([images[i] for i in idx]), torch.device(device), channels_last=False)
        if scale != 1.0:
            x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        heatmaps, offsets, pafs = net(net.normalize(x))
        found, score = assemble_maps(
            heatmaps,
            offsets,
            pafs,
            edges,
            net.stride,
            max_individuals,
            locref_stdev=net.spec.locref_stdev,
            n_unique=n_unique,
        )
        found[..., :2] = (found[..., :2] + 0.5) / scale - 0.5
        poses[idx], scores[idx] = found, score
    return poses, scores


def predict_animals_exported(
    model: AnalysisModel, images: list[np.ndarray], backend: str, *, batch_size: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`predict_animals` with the snapshot exported and run by ``backend`` (``openvino`` or
    ``onnxruntime``) in fp32 on the CPU, one compiled model per image size, as analysis runs it."""
    if model.edges is None:
        raise ModelError(f"{model.snapshot} has no part-affinity edges: it is not a multi-animal snapshot.")
    layout = model.layout
    n_parts, n_animals, n_unique = len(layout.keypoint_names), len(layout.individuals), len(layout.unique_bodyparts)
    poses = np.full((len(images), n_animals + (1 if n_unique else 0), n_parts, 3), np.nan, dtype=np.float32)
    scores = np.full((len(images), n_animals), np.nan, dtype=np.float32)
    for idx in same_size_batches(images, batch_size):
        height, width = images[idx[0]].shape[:2]
        run = cached_backend(model.spec(backend, "cpu", (width, height), precision="fp32"))  # built once per size
        frames = np.stack([images[i] for i in idx])[..., ::-1]  # the exported graph takes BGR frames
        poses[idx], scores[idx] = assemble_scored(run(frames), n_parts, model.edges, n_animals, n_unique)
    return poses, scores


def animal_errors(
    pred: np.ndarray,
    scores: np.ndarray,
    ground_truth: np.ndarray,
    pcutoff: float,
    bodyparts: list[str],
    unique_bodyparts: Sequence[str] = (),
) -> dict[str, Any]:
    """:func:`~markerless.training.oks.multi_animal_summary` of predicted against labelled animals, with the
    keys of single-animal summaries (``error_px``, ``error_px_pcutoff``, ``per_keypoint`` as a list).

    With ``unique_bodyparts`` the arrays are in a layout with the row ``single`` last and those parts last
    (``(N, individuals + 1, K + U, ...)``): the animals are scored on their own body parts (mAP, matched
    errors), and the unique parts, which no matching concerns, get plain pixel errors under ``"unique"``
    (:func:`~markerless.training.metrics.error_summary`), so they leave the mAP unchanged.
    """
    n_parts = len(bodyparts)
    if unique_bodyparts:
        unique = error_summary(pred[:, -1, n_parts:], ground_truth[:, -1, n_parts:], pcutoff)
        pred, ground_truth = pred[:, :-1, :n_parts], ground_truth[:, :-1, :n_parts]
    summary = multi_animal_summary(ground_truth, pred, scores, pcutoff=pcutoff)
    summary["per_keypoint"] = list(summary["per_keypoint"])
    summary["bodyparts"] = bodyparts
    if unique_bodyparts:
        summary["unique"] = {**unique, "bodyparts": list(unique_bodyparts)}
    return summary
