"""Network speed on this CPU: forward ms/image per backbone, input size and runtime, plus training img/s.

Runtimes: PyTorch eager fp32 (channels-last, flush-denormal, inference mode) and OpenVINO (f32 and
the CPU's default precision, bf16 on CPUs with AVX512-BF16/AMX), each on the full
:class:`markerless.nets.InferenceModel` (uint8 BGR frames in, keypoints out). The training column is
forward + backward + AdamW step on 256x256 crops, batch 8 (the training recipe's default shape).

Usage:
    python bench/model_speed.py                 # default grid (a few minutes on a quiet machine)
    python bench/model_speed.py --quick         # smoke test: tiny repeat counts, numbers not meaningful
    python bench/model_speed.py --nets mobilenetv2 --sizes 256x256 --batch 8 --threads 2

Results: a table on stdout and JSON in ``bench/results/model_speed-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from markerless.nets import InferenceModel, create_model
from markerless.training.targets import make_targets, pose_loss

ROOT = Path(__file__).resolve().parents[1]


def _time(fn: Any, repeats: int, warmup: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def torch_forward_ms(model: InferenceModel, frames: torch.Tensor, repeats: int, warmup: int) -> float:
    """PyTorch eager ms per image."""

    def run() -> None:
        with torch.inference_mode():
            model(frames)

    return 1000 * _time(run, repeats, warmup) / frames.shape[0]


def openvino_forward_ms(
    model: InferenceModel, frames: torch.Tensor, precision: str | None, repeats: int, warmup: int
) -> float | None:
    """OpenVINO ms per image (``precision`` None = the CPU plugin's default); None if unavailable."""
    try:
        import openvino as ov
    except ImportError:
        return None
    config = {"PERFORMANCE_HINT": "LATENCY"}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = ov.compile_model(ov.convert_model(model, example_input=frames), "CPU", config)
    batch = frames.numpy()
    return 1000 * _time(lambda: compiled(batch), repeats, warmup) / frames.shape[0]


def train_images_per_s(name: str, batch: int, size: int, steps: int, warmup: int) -> float:
    """Training images/s: forward + loss + backward + AdamW step, channels-last fp32."""
    net = create_model(name, 4, pretrained=False).train().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    kp = torch.rand(batch, 4, 2) * size
    weights = torch.ones(batch, 4)

    def step() -> None:
        outputs = net(x)
        targets = make_targets(kp, weights, outputs[0].shape[-2:], net.stride)
        loss, _ = pose_loss(outputs, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return batch / _time(step, steps, warmup)


def main(argv: list[str] | None = None) -> None:
    """Run the grid and print/save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["mobilenetv2", "efficientnet-lite0", "resnet50"])
    parser.add_argument("--sizes", nargs="+", default=["256x256", "640x480"], help="WIDTHxHEIGHT")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-openvino", action="store_true")
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke test: batch 2, 1 repeat")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats, warmup, batch = (1, 1, 2) if args.quick else (args.repeats, 2, args.batch)
    rows = []
    for name in args.nets:
        net = create_model(name, 4, pretrained=False)
        model = InferenceModel(net, color="bgr", channels_last=True)
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            frames = torch.randint(0, 256, (batch, h, w, 3), dtype=torch.uint8)
            row: dict[str, Any] = {"net": name, "size": size, "batch": batch}
            row["torch_ms"] = torch_forward_ms(model, frames, repeats, warmup)
            if not args.no_openvino:
                row["openvino_f32_ms"] = openvino_forward_ms(model, frames, "f32", repeats, warmup)
                row["openvino_default_ms"] = openvino_forward_ms(model, frames, None, repeats, warmup)
            rows.append(row)
            print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        if not args.no_train:
            ips = train_images_per_s(name, batch, 256, repeats, warmup)
            rows.append({"net": name, "size": "256x256", "batch": batch, "train_img_per_s": ips})
            print(json.dumps({"net": name, "train_img_per_s_256": round(ips, 1), "batch": batch}), flush=True)
    meta = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "quick": args.quick,
    }
    out = ROOT / "bench" / "results" / f"model_speed-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
