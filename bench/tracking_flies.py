"""Tracking benchmark on the SLEAP flies clip (2 flies, 1500 frames, human identities in every frame).

Sources, each scored against ``clip.slp`` on the body parts both have (``tracking_metrics``):

* ``sleap-shipped``: SLEAP's own tracked predictions (``clip.predictions.slp``, 2 nodes) as they are.
* ``gt-shuffled``: the human poses with identities stripped (animal order shuffled in every frame),
  1.5 px noise per point and each animal dropped from 5 % of the frames; then our tracker + stitcher.
* ``sleap-shuffled``: SLEAP's predictions with identities stripped the same way (no noise, no drops); ours.
* ``--predictions H5``: our own analysis output (a DeepLabCut .h5 of the clip), scored as it is.

Prints one line per source (id_switches, IDF1, MOTA, misses, and frames/s of tracking + stitching for
our runs) and writes ``bench/results/tracking_flies.json``.

    .venv/bin/python bench/tracking_flies.py
    .venv/bin/python bench/tracking_flies.py --predictions /tmp/clipDLC_..._shuffle1_snapshot_100.h5
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from markerless.io.dlc import read_predictions
from markerless.io.sleap import read_slp_poses
from markerless.model.poses import Poses
from markerless.tracking.metrics import tracking_metrics
from markerless.tracking.stitching import stitch
from markerless.tracking.tracker import track

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sleap-flies-clip"
RESULTS = ROOT / "bench" / "results"


def strip_identities(poses: Poses, seed: int, noise_px: float = 0.0, drop: float = 0.0) -> Poses:
    """The poses with the animal order shuffled in every frame, optional noise and dropped animals."""
    rng = np.random.default_rng(seed)
    data = poses.data.copy()
    n_frames, n_ind = data.shape[:2]
    if noise_px:
        data[..., :2] += rng.normal(0.0, noise_px, data[..., :2].shape).astype(np.float32)
    if drop:
        data[rng.random((n_frames, n_ind)) < drop] = np.nan
    order = np.argsort(rng.random((n_frames, n_ind)), axis=1)
    data = np.take_along_axis(data, order[:, :, None, None], axis=1)
    return poses.with_data(data)


def run_ours(poses: Poses, n_animals: int, repeats: int = 3) -> tuple[Poses, float, int]:
    """Tracked poses, frames/s of tracking + stitching (best of ``repeats``), number of tracklets."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        tracklets = track(poses, n_animals)
        tracked = stitch(tracklets, n_animals)
        best = min(best, time.perf_counter() - start)
    return tracked, len(poses) / best, tracklets.count


def _line(name: str, scores: dict) -> str:
    text = (
        f"{name:16s} id_switches={scores['id_switches']:3d} idf1={scores['idf1']:.4f} mota={scores['mota']:.4f} "
        f"misses={scores['misses']} false_positives={scores['false_positives']} frames={scores['frames']}"
    )
    if "frames_per_s" in scores:
        text += f" tracklets={scores['tracklets']} tracking_fps={scores['frames_per_s']:.0f}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the sleap-flies-clip folder")
    parser.add_argument("--predictions", type=Path, help="our analysis output of clip.mp4 (.h5) to score as well")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "tracking_flies.json")
    args = parser.parse_args()

    truth = read_slp_poses(args.data / "clip.slp")
    shipped = read_slp_poses(args.data / "clip.predictions.slp")
    results: dict[str, dict] = {}
    results["sleap-shipped"] = tracking_metrics(shipped, truth)
    for name, source, noise, drop in (
        ("gt-shuffled", truth, 1.5, 0.05),
        ("sleap-shuffled", shipped, 0.0, 0.0),
    ):
        stripped = strip_identities(source, args.seed, noise, drop)
        tracked, fps, count = run_ours(stripped, n_animals=2)
        scores = tracking_metrics(tracked, truth)
        results[name] = {**scores, "frames_per_s": fps, "tracklets": count}
    if args.predictions is not None:
        results["ours-analysis"] = tracking_metrics(read_predictions(args.predictions), truth)
    for name, scores in results.items():
        print(_line(name, scores))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": platform.processor() or platform.machine(), "seed": args.seed, "results": results}
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
