"""Live latency: one frame at a time, per image size, whole frame and dynamic crop (DeepLabCut-Live's protocol).

For each frame size (from 2,500 to 640,000 pixels; frames of the video resized to it) a fresh
:class:`markerless.live.LiveEstimator` is built from the project's shuffle, warmed up on the first
frame, then times ``pose(frame)`` on ``--frames`` consecutive frames already in memory (as
DeepLabCut-Live's benchmark does: inference latency, one frame at a time, nothing else running).
Reported per size and mode: latency p50 / p90 / p99 (ms), frames/s (1 / mean latency), the warm-up
time and, with the dynamic crop, the fraction of frames whose pose came from the window alone.

Then, at the video's own size:

* **agreement** with offline ``analyze`` (as a user runs it, defaults) on the same frames: pixel distance
  between the live and the offline keypoint where both are at least the project's pcutoff, for the
  whole-frame and the dynamic-crop estimator;
* **real time**: ``run_live`` on the video played at its frame rate (frames arriving on a clock,
  dropped when the loop is busy): dropped frames and frame-to-result delay.

Usage:
    python bench/live_latency.py --config CONFIG --video FILE                 # full protocol
    python bench/live_latency.py --config CONFIG --video FILE --frames 20 --sizes 320x240 640x480  # smoke test

Results: a table on stdout, JSON in ``bench/results/live_latency-<time>.json`` (or ``--out``) and a PNG
plot of latency against image size beside it. Exports for each size are cached in the project's
``exported-models-pytorch/`` (made once, which takes seconds per size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from markerless.analysis.analyze import analyze
from markerless.errors import MarkerlessError
from markerless.io.dlc import read_predictions
from markerless.io.video import VideoReader
from markerless.live import LiveEstimator, VideoSource, run_live
from markerless.project.project import Project

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = ["64x48", "128x96", "256x192", "320x240", "480x360", "640x480", "800x600", "920x690"]


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def _stats(latencies: np.ndarray) -> dict[str, float]:
    ms = latencies * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "fps": float(1000 / ms.mean()),
    }


def _time_estimator(estimator: LiveEstimator, frames: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """Latency statistics of ``pose`` on each frame (after the warm-up on the first) and the poses."""
    estimator.warm_up(frames[0])
    latencies = np.empty(len(frames))
    poses = []
    for i, frame in enumerate(frames):
        t0 = time.perf_counter()
        poses.append(estimator.pose(frame))
        latencies[i] = time.perf_counter() - t0
    result: dict[str, Any] = _stats(latencies)
    result["warmup_s"] = estimator.warmup_seconds
    result["window_fraction"] = estimator.window_fraction
    return result, np.stack(poses)


def _agreement(live: np.ndarray, offline: np.ndarray, pcutoff: float) -> dict[str, Any]:
    both = (live[..., 2] >= pcutoff) & (offline[..., 2] >= pcutoff)
    distance = np.linalg.norm(live[..., :2] - offline[..., :2], axis=-1)[both]
    if not len(distance):
        return {"keypoints_compared": 0}
    return {
        "keypoints_compared": int(both.sum()),
        "keypoints_confident_in_one_only": int(((live[..., 2] >= pcutoff) ^ (offline[..., 2] >= pcutoff)).sum()),
        "median_px": float(np.median(distance)),
        "p95_px": float(np.percentile(distance, 95)),
        "max_px": float(distance.max()),
    }


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import openvino

        info["openvino"] = openvino.__version__
    except ImportError:
        pass
    info["load_average_at_start"] = os.getloadavg()
    return info


def _plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for mode, colour in (("whole", "tab:blue"), ("crop", "tab:orange")):
        mine = [r for r in rows if r["mode"] == mode]
        if not mine:
            continue
        px = np.array([r["pixels"] for r in mine])
        p50 = np.array([r["p50_ms"] for r in mine])
        above = np.array([r["p99_ms"] for r in mine]) - p50
        ax.errorbar(
            px,
            p50,
            yerr=[np.zeros_like(p50), above],
            marker="o",
            color=colour,
            capsize=3,
            label=f"{mode} (p50, bar to p99)",
        )
    ax.set_xscale("log")
    ax.set_xlabel("image size (pixels)")
    ax.set_ylabel("latency per frame (ms)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the project's config.yaml")
    parser.add_argument("--video", required=True, help="video whose frames are posed")
    parser.add_argument("--shuffle", type=int, default=1)
    parser.add_argument("--frames", type=int, default=300, help="frames timed per size and mode (default 300)")
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, metavar="WxH", help="frame sizes")
    parser.add_argument("--no-realtime", action="store_true", help="skip the playback at the video's frame rate")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/live_latency-<time>.json)")
    args = parser.parse_args()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or ROOT / "bench" / "results" / f"live_latency-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    pcutoff = Project.load(args.config).pcutoff
    with VideoReader(args.video, color="bgr") as reader:
        frames = reader.read_frames(range(min(args.frames, len(reader))))
        native = (reader.width, reader.height)
    report: dict[str, Any] = {
        "command": "python bench/live_latency.py "
        + " ".join(
            f"--{k.replace('_', '-')} {' '.join(v) if isinstance(v, list) else v}" for k, v in vars(args).items() if v
        ),
        "config": str(args.config),
        "video": str(args.video),
        "frames_per_size": len(frames),
        "machine": _machine(),
        "sizes": [],
    }
    rows: list[dict[str, Any]] = []
    print(f"{'size':>10} {'pixels':>8} {'mode':>6} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'fps':>6} {'window':>7}")
    native_poses: dict[str, np.ndarray] = {}
    for text in args.sizes:
        w, h = _size(text)
        resized = (
            frames
            if (w, h) == native
            else np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
        )
        for mode in ("whole", "crop"):
            try:
                estimator = LiveEstimator.from_project(args.config, args.shuffle, dynamic_crop=mode == "crop")
                stats, poses = _time_estimator(estimator, resized)
            except MarkerlessError:  # e.g. the window does not fit frames this small
                if mode == "crop":
                    continue
                raise
            row = {"size": [w, h], "pixels": w * h, "mode": mode, **stats, "estimator": estimator.description}
            rows.append(row)
            if (w, h) == native:
                native_poses[mode] = poses
            window = f"{stats['window_fraction']:.0%}" if stats["window_fraction"] is not None else "-"
            print(
                f"{w:>5}x{h:<4} {w * h:>8} {mode:>6} {stats['p50_ms']:>7.2f} {stats['p90_ms']:>7.2f} "
                f"{stats['p99_ms']:>7.2f} {stats['fps']:>6.0f} {window:>7}",
                flush=True,
            )
    report["sizes"] = rows

    if native_poses:
        with tempfile.TemporaryDirectory() as tmp:
            [h5] = analyze(args.config, args.video, args.shuffle, dest=tmp, stop=len(frames), overwrite=True)
            offline = read_predictions(h5).data
        report["agreement_with_analyze"] = {
            mode: _agreement(poses, offline[: len(poses)], pcutoff) for mode, poses in native_poses.items()
        }
        report["agreement_with_analyze"]["pcutoff"] = pcutoff
        print("agreement with analyze (px):", json.dumps(report["agreement_with_analyze"]))

    if not args.no_realtime:
        estimator = LiveEstimator.from_project(args.config, args.shuffle)
        with tempfile.TemporaryDirectory() as tmp:
            result = run_live(estimator, VideoSource(args.video), max_frames=len(frames), record=tmp, save_frames=False)
        report["realtime"] = {
            "summary": result.summary(),
            "frames": result.frames,
            "dropped": result.dropped,
            **_stats(result.latencies),
            "delay_p50_ms": result.percentile_ms(50, "delays"),
            "delay_p99_ms": result.percentile_ms(99, "delays"),
        }
        print(result.summary())

    out.write_text(json.dumps(report, indent=1))
    png = out.with_suffix(".png")
    _plot(
        rows,
        png,
        f"{Path(args.config).parent.name}, {report['machine'].get('cpu', '')}, {report['machine']['cpus']} CPUs",
    )
    print(out)
    print(png)


if __name__ == "__main__":
    main()
