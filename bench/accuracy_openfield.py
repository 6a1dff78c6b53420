"""Accuracy benchmark: test pixel error against training wall time on DeepLabCut's openfield project.

Copies ``../shared/data/openfield-Pranav-2018-10-30`` (labels only) to a work folder, makes shuffle 1
from the fixed 50 % split ``benchmark-split-50.json``, trains the default recipe for ``--minutes`` of
training time and measures the test error at checkpoints (evaluation excluded from the clock). Prints a
table and saves the curve as PNG + JSON under ``bench/results/``.

    .venv/bin/python bench/accuracy_openfield.py --minutes 10 30   # both targets: a 10- and a 30-minute run
    .venv/bin/python bench/accuracy_openfield.py                   # one 30-minute run
    .venv/bin/python bench/accuracy_openfield.py --smoke           # ~1.5 minutes, to check it works

Each budget is its own run because the learning rate anneals (cosine) over the budget: the error at
minute 10 of a 30-minute run undersells a 10-minute run.

References (issue 3): human labelling variability 2.69 px; DeepLabCut PyTorch ResNet-50 on a GPU 2.01 px.
Targets on a 2-core CPU: <= 2.0 px within 10 minutes, <= 1.8 px within 30 minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "openfield-Pranav-2018-10-30"
CHECKPOINTS = [1, 2, 3, 5, 8, 10, 15, 20, 30]
HUMAN_PX = 2.69
TARGETS = {10: 2.0, 30: 1.8}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--minutes",
        type=float,
        nargs="+",
        default=[30.0],
        help="training budget(s) in minutes; each budget is its own run, since the learning rate "
        "anneals over the budget (default 30; e.g. --minutes 10 30 for both targets)",
    )
    p.add_argument(
        "--checkpoints",
        type=float,
        nargs="*",
        default=None,
        help=f"training minutes at which to measure (default {CHECKPOINTS} up to --minutes)",
    )
    p.add_argument("--smoke", action="store_true", help="quick check: 1.5 minutes, checkpoints 0.5 1 1.5")
    p.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("MARKERLESS_OPENFIELD", DEFAULT_DATA)),
        help="the openfield project folder (read-only)",
    )
    p.add_argument("--work", type=Path, default=None, help="work folder for the project copy (default: a temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the work folder afterwards")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--net", default=None, help="model name (default: the default recipe's)")
    p.add_argument("--out", type=Path, default=HERE / "results", help="where the PNG and JSON go")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="recipe overrides: field names or dotted keys, YAML values (e.g. input_scale=0.5 targets.sigma=8)",
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.minutes = [min(min(args.minutes), 1.5)]
        args.checkpoints = args.checkpoints or [0.5, 1.0, 1.5]
    args.checkpoints = args.checkpoints or CHECKPOINTS
    return args


def machine_info() -> dict:
    """The machine a benchmark ran on (recorded in its JSON)."""
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def write_report(out_dir: Path, name: str, payload: dict) -> Path:
    """``payload`` with the machine and the command line, as ``<out_dir>/<name>-<time>.json``; prints the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {**payload, "machine": machine_info(), "command": " ".join([sys.executable, *sys.argv])}
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(f"\n{path}")
    return path


def run_checkpoints(checkpoints: list[float], budget: float) -> list[float]:
    """The checkpoints inside a budget, ending with the budget itself."""
    return sorted({m for m in checkpoints if m < budget} | {budget})


def copy_project(src: Path, work: Path) -> Path:
    """Copy the project's config and labels (not its videos) into ``work``; returns the copy's config.yaml."""
    if not (src / "config.yaml").is_file():
        sys.exit(f"The openfield project is not at {src}; pass --data PATH.")
    dest = work / src.name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        src, dest, ignore=shutil.ignore_patterns("videos", "dlc-models*", "training-datasets", "evaluation-results*")
    )
    return dest / "config.yaml"


def read_curve(stats_file: Path) -> list[dict[str, float]]:
    """Rows of ``learning_stats.csv`` that carry a test error (the checkpoints and the end)."""
    rows = []
    with open(stats_file) as f:
        for row in csv.DictReader(f):
            if row.get("test_error_px"):
                rows.append(
                    {
                        "minutes": float(row["elapsed_s"]) / 60,
                        "epoch": int(row["epoch"]),
                        "test_px": _num(row["test_error_px"]),
                        "test_px_pcutoff": _num(row["test_error_px_pcutoff"]),
                        "train_px": _num(row.get("train_error_px", "")),
                    }
                )
    return rows


def median_throughput(stats_file: Path) -> float | None:
    """Median training images/s over the epochs of ``learning_stats.csv``."""
    with open(stats_file) as f:
        values = [v for row in csv.DictReader(f) if (v := _num(row.get("images_per_s", ""))) is not None]
    return sorted(values)[len(values) // 2] if values else None


def _num(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value else None


def _fmt(value: float | None) -> str:
    return f"{value:8.2f}" if value is not None else "       -"


def plot_runs(runs: list[dict], path: Path, title: str) -> None:
    """Test (solid), test with p-cutoff (dashed) and train (dotted) error against training time, per budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        curve, colour = run["curve"], None
        mins = [r["minutes"] for r in curve]
        (line,) = ax.plot(mins, [r["test_px"] for r in curve], "o-", label=f"test, {run['budget_min']:g} min run")
        colour = line.get_color()
        ax.plot(
            mins,
            [r["test_px_pcutoff"] for r in curve],
            "s--",
            color=colour,
            alpha=0.6,
            label=f"test p-cutoff, {run['budget_min']:g} min run",
        )
        ax.plot(
            mins,
            [r["train_px"] for r in curve],
            "^:",
            color=colour,
            alpha=0.6,
            label=f"train, {run['budget_min']:g} min run",
        )
    ax.axhline(HUMAN_PX, color="grey", lw=1, label=f"human variability {HUMAN_PX} px")
    for m, px in TARGETS.items():
        ax.plot([m], [px], "r*", ms=12)
    ax.set_yscale("log")
    ax.set_xlabel("training time (min, evaluation excluded)")
    ax.set_ylabel("mean pixel error (px)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_budget(args: argparse.Namespace, config: Path, index: int, budget: float) -> dict:
    """Train shuffle ``index`` (the benchmark split) for ``budget`` minutes; its curve and final evaluation."""
    from markerless.project.recipe import read_recipe, write_recipe
    from markerless.training.dataset import create_training_dataset
    from markerless.training.evaluation import evaluate
    from markerless.training.loop import train

    sh = create_training_dataset(config, shuffle=index, split_file=args.data / "benchmark-split-50.json", net=args.net)
    overrides = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
    # measure only at the checkpoints (and the end) unless --set says otherwise
    recipe = read_recipe(sh.recipe_file).with_overrides({"eval_every_epochs": 0, **overrides})
    write_recipe(sh.recipe_file, recipe)
    print(
        f"\nopenfield: {len(sh.train_images())} train / {len(sh.test_images())} test images; "
        f"{recipe.model.net}, crop {list(recipe.crop_size)}, batch {recipe.batch_size}, {budget:g} min budget"
    )
    start = time.time()
    best = train(
        config,
        index,
        max_minutes=budget,
        device=args.device,
        resume=False,
        evaluate_at_minutes=run_checkpoints(args.checkpoints, budget),
    )
    wall = time.time() - start
    final = evaluate(config, index, snapshot=best, device=args.device)
    curve = read_curve(sh.train_dir / "learning_stats.csv")
    speed = median_throughput(sh.train_dir / "learning_stats.csv")
    print(" minutes   test px  test px(p-cutoff)  train px")
    for r in curve:
        print(
            f"{r['minutes']:8.2f}  {_fmt(r['test_px'])}  {_fmt(r['test_px_pcutoff'])}           {_fmt(r['train_px'])}"
        )
    print(
        f"best snapshot {best.name}: test {final['test_error_px']:.2f} px, "
        f"with p-cutoff {final['test_error_px_pcutoff'] or float('nan'):.2f} px, train {final['train_error_px']:.2f} px"
    )
    print(f"training throughput: {speed or float('nan'):.1f} images/s (median over epochs); wall {wall / 60:.1f} min")
    keys = (
        "snapshot",
        "test_error_px",
        "test_error_px_pcutoff",
        "train_error_px",
        "train_error_px_pcutoff",
        "n_train",
        "n_test",
        "per_bodypart",
        "pck",
    )
    return {
        "budget_min": budget,
        "curve": curve,
        "final": {k: final[k] for k in keys},
        "wall_s": wall,
        "train_images_per_s": speed,
        "recipe": recipe.with_overrides(max_minutes=budget, epochs=None).to_dict(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="markerless-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    config = copy_project(args.data, work)
    runs = [run_budget(args, config, i + 1, float(b)) for i, b in enumerate(args.minutes)]

    print("\nsummary (test error of each run's final model):")
    for run in runs:
        print(
            f"  {run['budget_min']:5g} min: test {run['final']['test_error_px']:.2f} px, "
            f"train {run['final']['train_error_px']:.2f} px, {run['train_images_per_s'] or float('nan'):.1f} images/s"
        )
    for m, px in TARGETS.items():
        points = [
            r["test_px"] for run in runs for r in run["curve"] if r["minutes"] <= m * 1.02 and r["test_px"] is not None
        ]
        if points and m <= max(args.minutes) * 1.02:
            err = min(points)
            print(f"target <= {px} px within {m} min: {'MET' if err <= px else 'NOT met'} (best {err:.2f} px)")

    machine = machine_info()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    tag = "smoke" if args.smoke else "-".join(f"{m:g}" for m in args.minutes) + "min"
    result = {
        "benchmark": "accuracy_openfield",
        "budgets_min": args.minutes,
        "checkpoints": args.checkpoints,
        "runs": runs,
        "machine": machine,
        "references_px": {"human": HUMAN_PX, "dlc_resnet50_gpu": 2.01},
        "targets_px": {f"{k}min": v for k, v in TARGETS.items()},
        "command": " ".join([sys.executable, *sys.argv]),
    }
    json_path = args.out / f"accuracy_openfield-{tag}-{stamp}.json"
    png_path = json_path.with_suffix(".png")
    json_path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    net = runs[0]["recipe"]["model"]["net"]
    plot_runs(
        runs,
        png_path,
        f"openfield 50% split, {net}, {machine['cpu_count']} CPUs"
        + (f", {machine['cuda']}" if machine["cuda"] else ""),
    )
    print(f"\n{json_path}\n{png_path}")
    if args.work is None and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
