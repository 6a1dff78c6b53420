"""Video analysis speed: end-to-end frames/s, model-only frames/s and peak memory per backend and batch size.

End to end = ``markerless.analysis.analyze.analyze_videos`` from opening the video to the last row
written (``.h5`` + ``_meta.pickle``), the backend already built and compiled (its set-up time is reported
separately as ``setup_s``). Model only = the backend on batches of real frames already in memory.
Decode only = the video reader alone (the ceiling of the end-to-end figure). Each configuration runs in
its own process, so ``peak_rss_mb`` is that configuration's peak resident memory.

Usage:
    python bench/analyze_speed.py                      # full openfield video, default grid
    python bench/analyze_speed.py --frames 300 --quick # smoke test (numbers not meaningful)
    python bench/analyze_speed.py --snapshot PATH      # a trained snapshot (else the default net, untrained)
    python bench/analyze_speed.py --input-scale 0.5    # smaller network input (320x240 for 640x480)
    python bench/analyze_speed.py --configs openvino:8 openvino:16:THROUGHPUT:2 torch:8
    python bench/analyze_speed.py --agreement          # keypoint agreement with PyTorch fp32 (automatic
                                                       # with --snapshot: untrained nets have ambiguous peaks)

A configuration is ``backend:batch[:hint[:streams[:threads]]][+crop|+whole]`` (hint/streams/threads:
OpenVINO only). Without a suffix analysis runs as a user's would (``tracking_crop`` auto: a window that
follows the single animal, see ``markerless.analysis.tracking_crop``); ``+whole`` forces whole frames,
``+crop`` forces the tracking crop. When a configuration ran both with and without the crop, the two
result files are compared keypoint by keypoint over the whole video ("crop vs whole" columns).
Results: a table on stdout and JSON in ``bench/results/analyze_speed-<time>.json``.

What matters (2-core CPU, 640x480 H.264): the pixels the network sees. The tracking crop (a 224x224
window for the default recipe, ~16 % of the frame) is the largest gain for a single animal; it needs a
trained model (``--snapshot``: an untrained net finds no animal, so every frame is redone whole). Then
OpenVINO bf16 (automatic on AVX-512-BF16/AMX CPUs), the batch size (4-8 with the crop: smaller batches
move the window more often), the input scale (``--input-scale 0.5``, at a cost in accuracy) and the
OpenVINO hint/streams. Decoding (one thread, OpenCV/FFmpeg) is the ceiling: see "decode only".
Without the crop, untrained and trained nets run at the same speed; ``--snapshot`` also gives agreement figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "openfield-Pranav-2018-10-30" / "videos" / "m3v1mp4.mp4"
BODYPARTS = ["snout", "leftear", "rightear", "tailbase"]
DEFAULT_CONFIGS = [
    "openvino:4",
    "openvino:8",
    "openvino:16",
    "openvino:32",
    "openvino:8:LATENCY",
    "openvino:8:THROUGHPUT:2:1",
    "openvino:8:THROUGHPUT:1:2",
    "onnxruntime:8",
    "torch:8",
]
QUICK_CONFIGS = ["openvino:8", "onnxruntime:8", "torch:8"]


def parse_config(text: str) -> dict[str, Any]:
    """``backend:batch[:hint[:streams[:threads]]][+crop|+whole]`` -> dict."""
    text, _, mode = text.partition("+")
    if mode not in ("", "crop", "whole"):
        raise SystemExit(f"unknown configuration suffix +{mode}: use +crop or +whole")
    parts = text.split(":")
    config: dict[str, Any] = {"backend": parts[0], "batch_size": int(parts[1]) if len(parts) > 1 else 8}
    config["crop_mode"] = {"": None, "crop": True, "whole": False}[mode]
    options: dict[str, Any] = {}
    if len(parts) > 2 and parts[2]:
        options["hint"] = parts[2].upper()
    if len(parts) > 3 and parts[3]:
        options["streams"] = int(parts[3])
    if len(parts) > 4 and parts[4]:
        options["threads"] = int(parts[4])
    config["options"] = options
    return config


def make_snapshot(folder: Path, net_name: str) -> Path:
    """The default network with random weights (same speed as trained) saved as a snapshot."""
    import torch

    from markerless.nets import create_model, save_checkpoint

    torch.manual_seed(0)
    net = create_model(net_name, len(BODYPARTS), pretrained=False)
    return save_checkpoint(folder / "snapshot-000.pt", net, extra={"bodyparts": BODYPARTS})


def build_model(snapshot: Path, scale: float, project_root: Path) -> Any:
    """An AnalysisModel for ``snapshot`` in a scratch project folder."""
    import torch

    from markerless.analysis.model_source import AnalysisModel
    from markerless.model.skeleton import PoseLayout
    from markerless.project.recipe import Recipe

    extra = torch.load(snapshot, map_location="cpu", weights_only=True)
    bodyparts = list(extra.get("bodyparts") or BODYPARTS)
    project = SimpleNamespace(root=project_root, task="bench", date="Nov24", iteration=0)
    return AnalysisModel(
        project=project,
        shuffle=1,
        snapshot=snapshot,
        scorer="DLC_bench_snapshot",
        layout=PoseLayout.single_animal(bodyparts),
        scale=scale,
        net_name="bench",
        recipe=Recipe.from_dict(extra.get("recipe") or {}).to_dict(),
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MiB).

    Linux's ``VmHWM`` (reset by exec, unlike ``ru_maxrss``, which a child inherits from its parent).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one configuration in this process."""
    import torch

    from markerless.analysis.analyze import analyze_videos, tracking_crop_settings
    from markerless.analysis.model_source import cached_backend
    from markerless.analysis.options import AnalysisOptions
    from markerless.io.video import VideoReader

    torch.set_flush_denormal(True)
    config = parse_config(args.one)
    work = Path(args.work)
    model = build_model(Path(args.snapshot_path), args.input_scale, work)
    with VideoReader(args.video, color="bgr") as reader:
        n_total, size = reader.n_frames, (reader.width, reader.height)
        sample = next(reader.iter_batches(config["batch_size"], 0, config["batch_size"]))[1].copy()
    n_frames = min(n_total, args.frames) if args.frames else n_total

    t0 = time.perf_counter()
    spec = model.spec(config["backend"], "cpu", size, args.precision, config["options"])
    backend = cached_backend(spec)
    backend(sample)  # compile for this batch shape
    setup = time.perf_counter() - t0

    agreement = agreement_frames(Path(args.video))
    step = len(sample)
    predictions = np.concatenate([backend(agreement[i : i + step]) for i in range(0, len(agreement), step)])
    agreement_file = work / f"agree-{os.getpid()}.npy"
    np.save(agreement_file, predictions)

    reps = max(2, args.model_frames // len(sample))
    backend(sample)
    t0 = time.perf_counter()
    for _ in range(reps):
        backend(sample)
    model_fps = reps * len(sample) / (time.perf_counter() - t0)
    window_fps = None
    crop_size = tuple(args.crop_size) if args.crop_size else None
    settings = tracking_crop_settings(model, size, "cpu", config["crop_mode"], crop_size)
    if settings is not None:  # the network on windows of the crop size
        window = cached_backend(model.spec(config["backend"], "cpu", settings.size, args.precision, config["options"]))
        w, h = settings.size
        crops = np.ascontiguousarray(sample[:, :h, :w])
        window(crops)
        t0 = time.perf_counter()
        for _ in range(reps):
            window(crops)
        window_fps = reps * len(sample) / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    options = AnalysisOptions(
        backend=config["backend"],
        batch_size=config["batch_size"],
        device="cpu",
        dest=work / f"out-{abs(hash(args.one))}",
        overwrite=True,
        precision=args.precision,
        backend_options=config["options"],
        stop=n_frames,
        tracking_crop=config["crop_mode"],
        crop_size=crop_size,
    )
    [out] = analyze_videos(model, [args.video], options)
    e2e = time.perf_counter() - t0
    meta = pd.read_pickle(out.with_name(out.stem + "_meta.pickle"))["data"]
    return {
        "tracking_crop": meta["tracking_crop"],
        "window_fraction": meta["tracking_crop_window_fraction"],
        "config": args.one,
        **config,
        "precision": getattr(backend, "precision", args.precision),
        "frames": n_frames,
        "e2e_fps": n_frames / e2e,
        "e2e_s": e2e,
        "model_fps": model_fps,
        "model_fps_window": window_fps,
        "setup_s": setup,
        "peak_rss_mb": peak_rss_mb(),
        "output": str(out),
        "agreement_file": str(agreement_file),
    }


def agreement_frames(video: Path, n: int = 32) -> np.ndarray:
    """``n`` BGR frames spread over the video (the same for every configuration)."""
    from markerless.io.video import VideoReader

    with VideoReader(video, color="bgr") as reader:
        return reader.read_frames(np.linspace(0, reader.n_frames - 1, n).astype(int))


def torch_reference(snapshot: Path, scale: float, video: Path) -> np.ndarray:
    """PyTorch fp32 keypoints of the agreement frames (the reference every backend is compared with)."""
    from markerless.analysis.backends import TorchBackend
    from markerless.analysis.model_source import load_torch_inference_model

    backend = TorchBackend(load_torch_inference_model(snapshot, scale), precision="fp32")
    frames = agreement_frames(video)
    return np.concatenate([backend(frames[i : i + 8]) for i in range(0, len(frames), 8)])


def decode_only(video: Path, frames: int | None, batch_size: int = 8) -> float:
    """Frames/s of the reader alone (BGR, sequential)."""
    from markerless.io.video import VideoReader

    with VideoReader(video, color="bgr") as reader:
        t0 = time.perf_counter()
        n = sum(len(i) for i, _ in reader.iter_batches(batch_size, 0, frames))
    return n / (time.perf_counter() - t0)


def compare_crop_with_whole(results: list[dict[str, Any]]) -> None:
    """Add keypoint differences (px, whole video) between each tracking-crop run and its whole-frame twin."""
    from markerless.io.dlc import read_predictions

    whole = {
        (r["backend"], r["batch_size"], json.dumps(r["options"], sort_keys=True)): r
        for r in results
        if "error" not in r and not r.get("tracking_crop")
    }
    for r in results:
        twin = whole.get((r.get("backend"), r.get("batch_size"), json.dumps(r.get("options"), sort_keys=True)))
        if "error" in r or not r.get("tracking_crop") or twin is None:
            continue
        a = read_predictions(r["output"]).data
        b = read_predictions(twin["output"]).data
        dist = np.sqrt(((a[..., :2] - b[..., :2]) ** 2).sum(-1)).ravel()
        dist = dist[np.isfinite(dist)]
        r["crop_vs_whole_median_px"] = float(np.median(dist))
        r["crop_vs_whole_p99_px"] = float(np.percentile(dist, 99))
        r["crop_vs_whole_max_px"] = float(dist.max())
        r["crop_vs_whole_within_1px"] = float((dist <= 1.0).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument(
        "--snapshot", type=Path, default=None, help="a trained snapshot (default: untrained default net)"
    )
    parser.add_argument("--net", default="mobilenetv2", help="network built when no --snapshot (default mobilenetv2)")
    parser.add_argument(
        "--input-scale", type=float, default=None, help="network input scale (default: the snapshot's recipe, else 1.0)"
    )
    parser.add_argument("--frames", type=int, default=None, help="analyse only the first N frames (quick runs)")
    parser.add_argument("--model-frames", type=int, default=256, help="frames timed for the model-only figure")
    parser.add_argument("--precision", default="auto", help="auto|fp32|bf16 (default auto)")
    parser.add_argument("--configs", nargs="+", default=None, help="backend:batch[:hint[:streams[:threads]]] ...")
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 configurations")
    parser.add_argument(
        "--crop-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("W", "H"),
        help="tracking-crop window (default: analyze's)",
    )
    parser.add_argument(
        "--agreement", action="store_true", help="compare keypoints with PyTorch fp32 even for the untrained net"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot-path", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:  # child process: one configuration
        print("RESULT " + json.dumps(run_one(args)), flush=True)
        return 0

    if not args.video.exists():
        print(f"video {args.video} not found (it lives in ../shared/data); pass --video", file=sys.stderr)
        return 1
    configs = args.configs or (QUICK_CONFIGS if args.quick else DEFAULT_CONFIGS)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="markerless-bench-") as tmp:
        work = Path(tmp)
        untrained = args.snapshot is None
        snapshot = make_snapshot(work, args.net) if untrained else args.snapshot.resolve()
        scale = args.input_scale
        if scale is None:
            import torch

            from markerless.project.recipe import Recipe

            stored = torch.load(snapshot, map_location="cpu", weights_only=True).get("recipe") or {}
            scale = Recipe.from_dict(stored, source=snapshot).model.input_scale
        what = f"{args.net} untrained (same speed as trained)" if untrained else str(snapshot)
        print(f"model: {what}; input scale {scale}; video {args.video.name}; frames {args.frames or 'all'}")
        from markerless.io.video import video_info

        model = build_model(snapshot, scale, work)
        size = video_info(args.video).size
        for fmt in sorted(
            {"onnx" if c.startswith("onnx") else "openvino" for c in configs if not c.startswith("torch")}
        ):
            model.exported(fmt, size)  # once, here: the children measure analysis, not export
        decode_fps = decode_only(args.video, args.frames)
        # agreement with PyTorch fp32 means something only for a trained model (clear peaks)
        reference = torch_reference(snapshot, scale, args.video) if (args.agreement or not untrained) else None
        print(f"decode only (BGR, one thread): {decode_fps:.1f} frames/s")
        for text in configs:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                text,
                "--work",
                str(work),
                "--snapshot-path",
                str(snapshot),
                "--video",
                str(args.video),
                "--input-scale",
                str(scale),
                "--precision",
                args.precision,
                "--model-frames",
                str(args.model_frames),
            ]
            if args.frames:
                cmd += ["--frames", str(args.frames)]
            if args.crop_size:
                cmd += ["--crop-size", *map(str, args.crop_size)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(f"{text}: FAILED\n{proc.stderr[-2000:]}", file=sys.stderr)
                results.append({"config": text, "error": proc.stderr[-2000:]})
                continue
            result = json.loads(lines[-1][7:])
            predictions = np.load(result.pop("agreement_file"))
            if reference is not None:
                diff = np.abs(predictions[..., :2] - reference[..., :2])
                result["max_px_vs_torch_fp32"] = float(diff.max())
                result["median_px_vs_torch_fp32"] = float(np.median(diff))
            results.append(result)
            agree = result.get("max_px_vs_torch_fp32")
            print(
                f"{text:<28} e2e {result['e2e_fps']:7.1f} fr/s | model {result['model_fps']:7.1f} fr/s | "
                f"{result['precision']:<4} | setup {result['setup_s']:5.1f} s | peak RSS {result['peak_rss_mb']:6.0f} MiB"
                + (f" | max {agree:.2f} px vs torch fp32" if agree is not None else ""),
                flush=True,
            )
        compare_crop_with_whole(results)

    print(
        "\n| backend | batch | options | crop | precision | end-to-end fr/s | model-only fr/s | peak RSS MiB "
        "| max px vs torch | crop vs whole: median / p99 px |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['config']} | FAILED | | | | | | | | |")
            continue
        opts = ",".join(f"{k}={v}" for k, v in r["options"].items()) or "-"
        crop = "-"
        if r.get("tracking_crop"):
            crop = f"{r['tracking_crop'][0]}x{r['tracking_crop'][1]} ({100 * r['window_fraction']:.0f}% in window)"
        model_fps = f"{r['model_fps']:.1f}" + (
            f" / window {r['model_fps_window']:.1f}" if r.get("model_fps_window") else ""
        )
        vs_whole = (
            f"{r['crop_vs_whole_median_px']:.2f} / {r['crop_vs_whole_p99_px']:.2f}"
            if "crop_vs_whole_p99_px" in r
            else "-"
        )
        print(
            f"| {r['backend']} | {r['batch_size']} | {opts} | {crop} | {r['precision']} | {r['e2e_fps']:.1f} | "
            f"{model_fps} | {r['peak_rss_mb']:.0f} | {r.get('max_px_vs_torch_fp32', float('nan')):.2f} | {vs_whole} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "benchmark": "analyze_speed",
        "time": stamp,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "video": str(args.video),
        "model": what,
        "input_scale": scale,
        "frames": args.frames,
        "decode_only_fps": decode_fps,
        "results": results,
    }
    path = args.out / f"analyze_speed-{stamp}.json"
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"\nsaved {path}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
