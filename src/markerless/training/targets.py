"""Training targets and loss: Gaussian heatmaps plus location-refinement offsets (DeepLabCut §3.1).

Grid convention (shared with :mod:`markerless.nets.decode`): cell ``(i, j)`` stands for the input
point ``(j*stride + stride/2, i*stride + stride/2)``. Targets for a keypoint ``p`` at cell centre ``c``:

* heatmap ``exp(-|p - c|^2 / (2 sigma^2))`` (``sigma`` in input pixels);
* offsets ``(p - c) / locref_stdev`` (channels ``2k, 2k+1`` = dx, dy) on cells with
  ``|p - c| <= locref_radius``, where the offset mask is 1.

Keypoints with weight 0 (unlabelled, occluded) or NaN coordinates get all-zero targets *and* zero
weight, so they are left out of the loss (not trained as "absent").

Heatmap loss: binary cross-entropy with logits against the soft Gaussian target, minus the target's
own entropy (so a perfect prediction scores 0), summed over the map and averaged over weighted
keypoints (so each image pixel counts the same whatever the crop size). BCE rather than
MSE-on-sigmoid because its gradient (``sigmoid(z) - t``) does not vanish where the sigmoid
saturates, e.g. at the head's calm initial bias, so early training is faster; the decoded score (sigmoid at the peak) is the same quantity the loss calibrates. Offset loss: Huber
(smooth L1) summed over masked cells and both channels, averaged over weighted keypoints (the same
per-keypoint normalisation as the heatmap loss), weighted by ``locref_weight`` (DeepLabCut's 0.05).
On a toy task (two blobs, MobileNetV2, 250 steps) this per-keypoint sum reached 0.8 px median error
where DeepLabCut-style averaging over masked cells reached 1.2 px; larger weights (0.3-1) did better
still (0.4-0.5 px), so the recipe may want to raise it. ``heatmap_loss="mse"`` (sigmoid squared
error) is offered for comparison on real data; with the summed-per-map normalisation its scale is
~20x smaller than the BCE's, so it needs a ~3x smaller ``locref_weight`` for the same balance.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional as F

from markerless.nets.decode import LOCREF_STDEV, cell_centres

DEFAULT_SIGMA = 10.0
"""Gaussian width in input pixels (DeepLabCut uses 2*17/3 ~ 11.3 px); narrower maps (6 px at stride 8) left
too little positive signal: on openfield the network stayed at the background prior."""
DEFAULT_LOCREF_RADIUS = 17.0
"""Radius (input pixels) around a keypoint where offsets are trained."""


def make_targets(
    keypoints: torch.Tensor,
    weights: torch.Tensor,
    heatmap_size: tuple[int, int],
    stride: int,
    sigma: float = DEFAULT_SIGMA,
    locref_radius: float = DEFAULT_LOCREF_RADIUS,
    locref_stdev: float = LOCREF_STDEV,
) -> dict[str, torch.Tensor]:
    """Targets for keypoints ``(B, K, 2)``, or ``(B, A, K, 2)`` for ``A`` animals (x, y input pixels), with
    weights of the same shape without the last axis (0 = ignore).

    Several animals share each body part's maps: the heatmap is the largest of their Gaussians and a
    cell's offsets point to the nearest animal's keypoint. Returns ``heatmaps (B, K, h, w)``,
    ``offsets (B, 2K, h, w)``, ``offset_mask (B, K, h, w)`` and ``weights (B, K)`` (zero where no
    animal has the keypoint), all float32 on the keypoints' device.
    """
    if keypoints.ndim == 3:
        keypoints, weights = keypoints[:, None], weights.reshape(keypoints.shape[:2])[:, None]
    if keypoints.ndim != 4 or keypoints.shape[-1] != 2:
        raise ValueError(f"keypoints must be (B, K, 2) or (B, A, K, 2), got {tuple(keypoints.shape)}")
    h, w = heatmap_size
    b, a, k, _ = keypoints.shape
    kp = keypoints.to(torch.float32)
    finite = torch.isfinite(kp).all(dim=-1)
    weight = torch.where(finite, weights.to(torch.float32).reshape(b, a, k), 0.0)  # (B, A, K)
    active = weight > 0
    kp = torch.where(finite[..., None], kp, 0.0)
    cx = cell_centres(w, stride, device=kp.device)
    cy = cell_centres(h, stride, device=kp.device)
    dx = kp[..., 0, None, None] - cx.view(1, 1, 1, 1, w)  # (B, A, K, 1, w): keypoint minus cell centre
    dy = kp[..., 1, None, None] - cy.view(1, 1, 1, h, 1)  # (B, A, K, h, 1)
    dist2 = torch.where(active[..., None, None], dx.square() + dy.square(), torch.inf)  # (B, A, K, h, w)
    if a == 1:  # one animal: no search for the nearest
        dist2 = dist2[:, 0]
        dx, dy = dx[:, 0].expand(b, k, h, w), dy[:, 0].expand(b, k, h, w)
    else:
        dist2, which = dist2.min(dim=1)  # (B, K, h, w): the nearest animal's keypoint per cell
        dx = torch.gather(dx.expand(b, a, k, h, w), 1, which[:, None])[:, 0]
        dy = torch.gather(dy.expand(b, a, k, h, w), 1, which[:, None])[:, 0]
    heatmaps = torch.exp(dist2 / (-2.0 * sigma * sigma))  # exp(-inf) = 0 where no animal has the keypoint
    mask = (dist2 <= locref_radius * locref_radius).to(torch.float32)
    offsets = torch.stack([dx, dy], dim=2) / locref_stdev
    offsets = (offsets * mask[:, :, None]).reshape(b, 2 * k, h, w)
    return {"heatmaps": heatmaps, "offsets": offsets, "offset_mask": mask, "weights": weight.amax(dim=1)}


def pose_loss(
    outputs: tuple[torch.Tensor, ...],
    targets: dict[str, torch.Tensor],
    locref_weight: float = 0.05,
    heatmap_loss: Literal["bce", "mse"] = "bce",
    paf_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its detached parts ``{"heatmap", "locref"}`` for ``(heatmap_logits, offsets)``; with a
    third output and ``targets["pafs"]``, plus ``paf_weight`` times the part-affinity fields' squared error
    (summed over each field's map, averaged over fields and images), part ``"paf"``.

    ``heatmap_loss`` "bce" (default, see the module notes) or "mse" (squared error of the sigmoid,
    DeepLabCut's choice; both summed per map). The balance with ``locref_weight`` matters more than
    the choice: on the toy task BCE with weight 1.0 matched MSE with weight 0.3.
    """
    logits, offsets = outputs[0], outputs[1]
    target = targets["heatmaps"]
    weight = targets["weights"]  # (B, K)
    b, k, h, w = logits.shape
    if heatmap_loss == "bce":
        bce = F.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
        entropy = F.binary_cross_entropy(target, target, reduction="none")  # the BCE's minimum, per cell
        per_cell = bce - entropy
    elif heatmap_loss == "mse":
        per_cell = (torch.sigmoid(logits.float()) - target).square()
    else:
        raise ValueError(f"heatmap_loss must be 'bce' or 'mse', got {heatmap_loss!r}")
    per_map = per_cell.sum(dim=(2, 3))  # (B, K)
    denominator = weight.sum().clamp_min(1e-6)
    heatmap_part = (per_map * weight).sum() / denominator

    mask = targets["offset_mask"] * weight[..., None, None]  # (B, K, h, w)
    huber = F.smooth_l1_loss(
        offsets.float().view(b, k, 2, h, w), targets["offsets"].view(b, k, 2, h, w), reduction="none"
    )
    locref_loss = (huber * mask[:, :, None]).sum() / denominator
    loss = heatmap_part + locref_weight * locref_loss
    parts = {"heatmap": heatmap_part.detach(), "locref": locref_loss.detach()}
    if len(outputs) > 2 and "pafs" in targets:
        pafs = outputs[2].float()
        paf_part = (pafs - targets["pafs"]).square().sum() / max(pafs.shape[0] * pafs.shape[1] // 2, 1)
        loss = loss + paf_weight * paf_part
        parts["paf"] = paf_part.detach()
    return loss, parts
