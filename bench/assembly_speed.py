"""Speed of multi-animal assembly alone: peaks, affinities and grouping on 1024x1024 frames at stride 8.

Usage: python bench/assembly_speed.py [--frames N] [--batch B] [--animals A] [--noise S]
Maps (128x128 heatmaps, offsets and part-affinity fields for a 13-keypoint, 12-edge fly-like star
skeleton) are rendered from random animals, with Gaussian noise of ``--noise`` on the logits and
fields so that spurious peaks and imperfect fields are there as in a trained network's output.
Prints frames/s of each step and of the whole, how many animals were found and their OKS mAP against
the drawn animals (random animals may overlap, so below 100 even without noise).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from markerless.analysis.assembly import assemble, find_peaks, paf_affinities
from markerless.nets.decode import LOCREF_STDEV, cell_centres
from markerless.training.oks import oks_map
from markerless.training.paf_targets import paf_targets

STRIDE = 8
SIZE = 1024
TEMPLATE = np.array(
    [
        [30, 0],
        [0, 0],
        [-40, 0],
        [-30, 14],
        [-30, -14],
        [28, 24],
        [28, -24],
        [0, 34],
        [0, -34],
        [-26, 30],
        [-26, -30],
        [36, 6],
        [36, -6],
    ],
    dtype=np.float64,
)
EDGES = np.array([[0, 11], [0, 12], [1, 0], [1, 2], [1, 3], [1, 4], [1, 5], [1, 6], [1, 7], [1, 8], [1, 9], [1, 10]])


def make_maps(n_frames: int, n_animals: int, noise: float, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Logits ``(F, K, h, w)``, offsets ``(F, 2K, h, w)``, fields ``(F, 2E, h, w)`` and the random
    animals ``(F, N, K, 2)`` they were drawn from."""
    rng = np.random.default_rng(seed)
    h = w = SIZE // STRIDE
    angle = rng.uniform(0, 2 * np.pi, (n_frames, n_animals))
    rot = np.stack([np.cos(angle), np.sin(angle), -np.sin(angle), np.cos(angle)], -1).reshape(n_frames, n_animals, 2, 2)
    centre = rng.uniform(100, SIZE - 100, (n_frames, n_animals, 1, 2))
    animals = torch.as_tensor(np.einsum("kc,fncd->fnkd", TEMPLATE, rot) + centre, dtype=torch.float32)
    cx = cell_centres(w, STRIDE).view(1, 1, 1, 1, w)
    cy = cell_centres(h, STRIDE).view(1, 1, 1, h, 1)
    dx = animals[..., 0, None, None] - cx  # (F, N, K, 1, w)
    dy = animals[..., 1, None, None] - cy
    d2 = dx.square() + dy.square()  # (F, N, K, h, w)
    heat = torch.exp(-d2 / (2 * 10.0**2)).amax(dim=1)
    nearest = d2.argmin(dim=1, keepdim=True)
    ox = torch.gather(dx.expand_as(d2), 1, nearest)[:, 0] / LOCREF_STDEV
    oy = torch.gather(dy.expand_as(d2), 1, nearest)[:, 0] / LOCREF_STDEV
    offsets = torch.stack([ox, oy], dim=2).reshape(n_frames, -1, h, w)
    logits = torch.logit(heat.clamp(1e-4, 1 - 1e-4)) + noise * torch.randn(heat.shape)
    pafs = paf_targets(animals, EDGES, (h, w), STRIDE) + noise / 10 * torch.randn(n_frames, 2 * len(EDGES), h, w)
    return logits, offsets, pafs, animals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--animals", type=int, default=2)
    parser.add_argument("--noise", type=float, default=1.0, help="std of the noise on the logits (fields: a tenth)")
    args = parser.parse_args()
    logits, offsets, pafs, truth = make_maps(args.frames, args.animals, args.noise)
    print(f"{args.frames} frames, {args.animals} animals x 13 keypoints, maps {tuple(logits.shape[2:])} (stride 8)")
    print(f"torch threads: {torch.get_num_threads()}")
    with torch.no_grad():  # warm-up: first calls pay one-off costs (thread pools, allocations)
        warm = find_peaks(logits[: args.batch], offsets[: args.batch], STRIDE, max_peaks=2 * args.animals)
        assemble(warm, paf_affinities(pafs[: args.batch], warm, EDGES, STRIDE), EDGES, args.animals)
    seconds = {"peaks": 0.0, "affinities": 0.0, "grouping": 0.0}
    found = []
    for start in range(0, args.frames, args.batch):
        part = slice(start, start + args.batch)
        with torch.no_grad():
            t0 = time.perf_counter()
            peaks = find_peaks(logits[part], offsets[part], STRIDE, max_peaks=2 * args.animals)
            t1 = time.perf_counter()
            affinity = paf_affinities(pafs[part], peaks, EDGES, STRIDE)
            t2 = time.perf_counter()
        poses, _ = assemble(peaks, affinity, EDGES, args.animals)
        t3 = time.perf_counter()
        seconds["peaks"] += t1 - t0
        seconds["affinities"] += t2 - t1
        seconds["grouping"] += t3 - t2
        found.append(poses)
    for step, s in seconds.items():
        print(f"{step:>10}: {args.frames / s:8.0f} frames/s")
    total = sum(seconds.values())
    print(f"{'total':>10}: {args.frames / total:8.0f} frames/s ({1000 * total / args.frames:.2f} ms per frame)")
    poses = np.concatenate(found)
    counts = np.bincount(np.isfinite(poses[..., 2]).any(axis=-1).sum(axis=1), minlength=args.animals + 1)
    print("animals found per frame:", {n: int(c) for n, c in enumerate(counts) if c})
    print(f"OKS mAP against the drawn animals: {oks_map(truth.numpy(), poses)['mAP']:.1f}")


if __name__ == "__main__":
    main()
