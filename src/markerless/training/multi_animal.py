"""Predictions and errors of a multi-animal (bottom-up) network on labelled images.

The network's heatmaps, offsets and part-affinity fields are assembled into animals
(:func:`markerless.analysis.assembly.assemble_maps`); the animals are scored against the labelled ones
as DeepLabCut and SLEAP score them (:mod:`markerless.training.oks`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from markerless.analysis.assembly import assemble_maps
from markerless.training.batches import to_tensor
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
) -> tuple[np.ndarray, np.ndarray]:
    """Animals ``(N, max_individuals, K, 3)`` (x, y in image pixels, score; NaN where not found) and their
    scores ``(N, max_individuals)`` in RGB images, batched by image size. Puts ``net`` in eval mode."""
    net.eval()
    n_parts = net.spec.keypoints
    poses = np.full((len(images), max_individuals, n_parts, 3), np.nan, dtype=np.float32)
    scores = np.full((len(images), max_individuals), np.nan, dtype=np.float32)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape, []).append(i)
    for rows in by_shape.values():
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            x = to_tensor(np.stack([images[i] for i in idx]), torch.device(device), channels_last=False)
            if scale != 1.0:
                x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
            heatmaps, offsets, pafs = net(net.normalize(x))
            found, score = assemble_maps(
                heatmaps, offsets, pafs, edges, net.stride, max_individuals, locref_stdev=net.spec.locref_stdev
            )
            found[..., :2] = (found[..., :2] + 0.5) / scale - 0.5
            poses[idx], scores[idx] = found, score
    return poses, scores


def animal_errors(
    pred: np.ndarray, scores: np.ndarray, ground_truth: np.ndarray, pcutoff: float, bodyparts: list[str]
) -> dict[str, Any]:
    """:func:`~markerless.training.oks.multi_animal_summary` of predicted against labelled animals, with the
    keys of single-animal summaries (``error_px``, ``error_px_pcutoff``, ``per_keypoint`` as a list)."""
    summary = multi_animal_summary(ground_truth, pred, scores, pcutoff=pcutoff)
    summary["per_keypoint"] = list(summary["per_keypoint"])
    summary["bodyparts"] = bodyparts
    return summary
