"""Multi-animal analysis on whole frames against a group window (one window holding every animal).

Analyses one video with a trained multi-animal shuffle end to end (decoding, network, assembly, tracking,
writing), first on whole frames (``--no-tracking-crop``), then with ``--tracking-crop --crop-size S S`` for
each size given, and prints per run the frames/s, the share of frames kept in the window, and the
agreement with the whole-frame result (distances per point after matching the two animals' order per frame;
points found in one run and not the other are counted apart). Writes JSON under ``bench/results/``.

    .venv/bin/python bench/group_crop_speed.py --config FLIES/config.yaml --video FLIES/videos/clip.mp4 --sizes 448 384
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from accuracy_openfield import write_report

HERE = Path(__file__).resolve().parent


def agreement(whole: np.ndarray, other: np.ndarray) -> dict[str, float | int]:
    """Point distances ``(frames, individuals, keypoints)`` between two runs, the animals' order matched per frame."""
    a, b = whole[..., :2], other[..., :2]
    best = None
    for order in itertools.permutations(range(a.shape[1])):
        d = np.linalg.norm(a - b[:, list(order)], axis=-1)
        cost = np.nanmean(d, axis=(1, 2))
        cost = np.where(np.isfinite(cost), cost, np.inf)
        best = (
            (d, cost)
            if best is None
            else (np.where((cost < best[1])[:, None, None], d, best[0]), np.minimum(cost, best[1]))
        )
    assert best is not None
    finite = best[0][np.isfinite(best[0])]
    return {
        "median_px": float(np.median(finite)),
        "p95_px": float(np.percentile(finite, 95)),
        "p99_px": float(np.percentile(finite, 99)),
        "max_px": float(finite.max()),
        "found_in_one_only": int((np.isfinite(a[..., 0]) != np.isfinite(b[..., 0])).sum()),
        "points": int(a[..., 0].size),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, required=True, help="a multi-animal project's config.yaml")
    p.add_argument("--video", type=Path, required=True)
    p.add_argument("--shuffle", type=int, default=1)
    p.add_argument("--sizes", type=int, nargs="+", default=[448], help="square window sides to try (pixels)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)

    from markerless.analysis.analyze import analyze
    from markerless.io.dlc import read_predictions

    runs: dict[str, dict[str, Any]] = {}
    poses: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        plans = [("whole", {"tracking_crop": False})] + [
            (f"window{s}", {"tracking_crop": True, "crop_size": (s, s)}) for s in args.sizes
        ]
        for name, options in plans:
            dest = Path(tmp) / name
            t0 = time.perf_counter()
            (path,) = analyze(args.config, [args.video], args.shuffle, dest=dest, overwrite=True, **options)
            seconds = time.perf_counter() - t0
            poses[name] = np.asarray(read_predictions(path).data)
            meta = pickle.loads(next(dest.glob("*_meta.pickle")).read_bytes())["data"]
            runs[name] = {
                "file": path.name,
                "seconds": seconds,
                "frames_per_s": len(poses[name]) / seconds,
                "window": meta.get("tracking_crop"),
                "window_fraction": meta.get("tracking_crop_window_fraction"),
            }
            if name != "whole":
                runs[name]["agreement"] = agreement(poses["whole"], poses[name])
            print(name, runs[name], flush=True)
    write_report(args.out, "group_crop_speed", {"config": str(args.config), "video": str(args.video), "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
