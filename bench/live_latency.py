"""Live latency: one frame at a time, per image size, whole frame and dynamic crop (DeepLabCut-Live's protocol).

For each frame size (from 2,500 to 640,000 pixels; frames of the video resized to it) a fresh
:class:`markerless.live.LiveEstimator` is built from the project's shuffle, warmed up on the first
frame, then times ``pose(frame)`` on ``--frames`` consecutive frames already in memory (as
DeepLabCut-Live's benchmark does: inference latency, one frame at a time, nothing else running).
Reported per size and mode: latency p50 / p90 / p99 (ms), frames/s (1 / mean latency), the warm-up
time and, with the dynamic crop, the fraction of frames whose pose came from the window alone, the
frames analysed whole to find the animal again (re-acquisitions, listed, their latency apart from the
window-only frames') and the frames the tracker's second look kept in a window.

A multi-animal project is measured at the video's own size unless ``--sizes`` is given; the estimator
returns every animal, assembled frame by frame, and its dynamic crop is one window holding every animal
(the recipe's ``analysis_window``, as ``analyze``'s group crop).

Then, at the video's own size:

* **agreement** with offline ``analyze`` on the same frames, with its defaults (as a user runs it: a
  tracking crop for one animal on the CPU) and on whole frames (``tracking_crop=False``): pixel distance
  between the live and the offline keypoint where both are at least the project's pcutoff and over all
  keypoints, with the worst keypoint's frame and both results (see ``_agreements`` for why both);
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
import gc
import json
import os
import platform
import tempfile
import time
import warnings
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
from markerless.live.estimator import LIVE_BACKEND_OPTIONS
from markerless.project.project import Project
from markerless.training.oks import hungarian_match

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
    """Latency statistics of ``pose`` on each frame (after the warm-up on the first) and the poses.

    With the dynamic crop, the frames the tracker analysed whole (re-acquisitions: the animal was lost)
    and those its second look kept in a window are counted, and the window-only frames' latency is
    reported apart from the re-acquisitions'.
    """
    estimator.warm_up(frames[0])
    gc.collect()
    gc.freeze()  # as run_live does after its warm-up
    tracker = estimator.tracker
    latencies = np.empty(len(frames))
    whole = np.zeros(len(frames), dtype=bool)
    poses = []
    try:
        for i, frame in enumerate(frames):
            before = tracker.frames_whole if tracker is not None else 0
            t0 = time.perf_counter()
            poses.append(estimator.pose(frame))
            latencies[i] = time.perf_counter() - t0
            whole[i] = tracker is not None and tracker.frames_whole > before
    finally:
        gc.unfreeze()
    result: dict[str, Any] = _stats(latencies)
    result["warmup_s"] = estimator.warmup_seconds
    result["window_fraction"] = estimator.window_fraction
    if tracker is not None:
        result["reacquired_frames"] = np.flatnonzero(whole).tolist()
        result["second_look_frames"] = tracker.frames_second_look
        result["window_only"] = _stats(latencies[~whole])
        if whole.any():
            result["reacquired"] = _stats(latencies[whole])
    return result, np.stack(poses)


def _distances(distance: np.ndarray) -> dict[str, Any]:
    if not len(distance):
        return {"keypoints_compared": 0}
    return {
        "keypoints_compared": len(distance),
        "median_px": float(np.median(distance)),
        "p95_px": float(np.percentile(distance, 95)),
        "max_px": float(distance.max()),
        "over_5px": int((distance > 5).sum()),
    }


def _agreement(live: np.ndarray, offline: np.ndarray, pcutoff: float) -> dict[str, Any]:
    """Pixel distances live vs offline: keypoints both score at least ``pcutoff``, and all keypoints; the worst one."""
    distance = np.linalg.norm(live[..., :2] - offline[..., :2], axis=-1)  # (frames, individuals, keypoints)
    both = (live[..., 2] >= pcutoff) & (offline[..., 2] >= pcutoff)
    finite = np.isfinite(distance)
    result: dict[str, Any] = {
        "above_pcutoff": _distances(distance[both & finite]),
        "all": _distances(distance[finite]),
        "keypoints_confident_in_one_only": int(((live[..., 2] >= pcutoff) ^ (offline[..., 2] >= pcutoff)).sum()),
    }
    if finite.any():
        frame, individual, keypoint = np.unravel_index(np.where(finite, distance, -1).argmax(), distance.shape)
        result["worst"] = {
            "frame": int(frame),
            "individual": int(individual),
            "keypoint": int(keypoint),
            "live_xyp": live[frame, individual, keypoint].round(3).tolist(),
            "offline_xyp": offline[frame, individual, keypoint].round(3).tolist(),
        }
    return result


def _paired(live: np.ndarray, offline: np.ndarray) -> np.ndarray:
    """``offline``'s animals reordered, frame by frame, to the live animals nearest them (Hungarian on mean distance)."""
    distance = np.linalg.norm(live[:, :, None, :, :2] - offline[:, None, :, :, :2], axis=-1)  # (N, live, off, K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an animal missing in one of them
        cost = np.nanmean(distance, axis=-1)
    pick = hungarian_match(np.swapaxes(cost, 1, 2))  # (N, live): the offline animal of each live one
    out = np.full_like(offline, np.nan)
    frames, animals = np.nonzero(pick >= 0)
    out[frames, animals] = offline[frames, pick[frames, animals]]
    return out


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


def _backend(threads: int | None) -> dict[str, Any]:
    """Estimator overrides: the live OpenVINO settings with ``threads`` inference threads, or none (the defaults)."""
    return {"backend_options": {**LIVE_BACKEND_OPTIONS, "threads": threads}} if threads else {}


def _agreements(
    args: argparse.Namespace, native_poses: dict[str, np.ndarray], n_frames: int, pcutoff: float, multi_animal: bool
) -> dict[str, Any]:
    """Live poses at the video's size against offline ``analyze`` of the same frames.

    ``analyze`` with its defaults (as a user runs it) crops around the animal (every animal) on the CPU,
    and without a crop (``tracking_crop=False``) sees what the live whole-frame estimator sees: a whole
    frame can hold a distractor scoring above the animal's own keypoint (the openfield video: a light
    in the arena's corner beats the snout on 5 frames of 300), which the crop never sees. So each
    live mode is compared with both; like with like (live whole vs analyze whole, live crop vs analyze
    default) they must agree. Multi-animal files are compared untracked (live does not track).
    """
    offline: dict[str, np.ndarray] = {}
    runs = {"analyze_default": {}, "analyze_whole": {"tracking_crop": False}}
    for name, options in runs.items():
        with tempfile.TemporaryDirectory() as tmp:
            if multi_animal:
                options = {**options, "track": False}
            [h5] = analyze(args.config, args.video, args.shuffle, dest=tmp, stop=n_frames, overwrite=True, **options)
            offline[name] = read_predictions(h5).data[:n_frames]
    result: dict[str, Any] = {"pcutoff": pcutoff}
    for mode, poses in native_poses.items():
        for name, data in offline.items():
            reference = data[: len(poses)]
            if multi_animal:  # untracked: each frame's animals in assembly order, which a window may change
                reference = _paired(poses, reference)
            result[f"live_{mode}_vs_{name}"] = _agreement(poses, reference, pcutoff)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the project's config.yaml")
    parser.add_argument("--video", required=True, help="video whose frames are posed")
    parser.add_argument("--shuffle", type=int, default=1)
    parser.add_argument("--frames", type=int, default=300, help="frames timed per size and mode (default 300)")
    parser.add_argument(
        "--sizes",
        nargs="+",
        metavar="WxH",
        help="frame sizes (default: 64x48 to 920x690; a multi-animal project: the video's own size)",
    )
    parser.add_argument("--no-realtime", action="store_true", help="skip the playback at the video's frame rate")
    parser.add_argument(
        "--threads",
        type=int,
        help="OpenVINO inference threads of the live estimators (default: OpenVINO's, every core); "
        "1 trades median latency for a shorter tail when other programs share the CPU",
    )
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/live_latency-<time>.json)")
    args = parser.parse_args()

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or ROOT / "bench" / "results" / f"live_latency-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    project = Project.load(args.config)
    pcutoff, multi_animal = project.pcutoff, project.layout.shape[0] > 1
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
        "individuals": project.layout.shape[0],
        "machine": _machine(),
        "sizes": [],
    }
    rows: list[dict[str, Any]] = []
    print(f"{'size':>10} {'pixels':>8} {'mode':>6} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'fps':>6} {'window':>7}")
    native_poses: dict[str, np.ndarray] = {}
    sizes = args.sizes or ([f"{native[0]}x{native[1]}"] if multi_animal else DEFAULT_SIZES)
    for text in sizes:
        w, h = _size(text)
        resized = (
            frames
            if (w, h) == native
            else np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
        )
        for mode in ("whole", "crop"):
            try:
                estimator = LiveEstimator.from_project(
                    args.config, args.shuffle, dynamic_crop=mode == "crop", **_backend(args.threads)
                )
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
            extra = ""
            if "reacquired_frames" in stats:
                extra = (
                    f"  window-only p99 {stats['window_only']['p99_ms']:.2f} ms; "
                    f"{len(stats['reacquired_frames'])} whole-frame re-acquisitions, "
                    f"{stats['second_look_frames']} second looks"
                )
            print(
                f"{w:>5}x{h:<4} {w * h:>8} {mode:>6} {stats['p50_ms']:>7.2f} {stats['p90_ms']:>7.2f} "
                f"{stats['p99_ms']:>7.2f} {stats['fps']:>6.0f} {window:>7}{extra}",
                flush=True,
            )
    report["sizes"] = rows

    if native_poses:
        report["agreement_with_analyze"] = _agreements(args, native_poses, len(frames), pcutoff, multi_animal)
        print("agreement with analyze (px):", json.dumps(report["agreement_with_analyze"], indent=1))

    if not args.no_realtime:
        estimator = LiveEstimator.from_project(args.config, args.shuffle, **_backend(args.threads))
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
