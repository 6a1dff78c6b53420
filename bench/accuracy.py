"""Accuracy benchmark over several datasets: the default recipe, fitted to each dataset's labels, for a fixed
training budget on each.

Datasets (each prepared in a work folder; the shared data is only read):

* ``openfield``: DeepLabCut's openfield project (1 mouse from above, 640x480), ``benchmark-split-50.json``.
* ``mirror-mouse``: Lightning Pose's mirror-mouse set (a head-fixed mouse, top and mirrored bottom view in one
  396x406 image, 17 keypoints, NaN where unlabelled), imported with ``import-labels``; its
  ``benchmark-split-50.json`` (paths mapped to the imported folder).
* ``flies``: SLEAP's flies clip (two flies, 1024x1024 whole frames, 13 body parts), imported with
  ``import-sleap``; ``benchmark-split.json`` (train every 10th frame of 0-999, test every 5th of 1000-1499).
  A multi-animal model: its error is measured after matching predicted animals to labelled ones, and its
  line adds the mAP (DeepLabCut's sigma 0.1).
* ``closeup``: a synthetic close-up rendered by the project (an animal about 290 px long in 480x360 frames,
  60 labelled frames, a fixed 50 % split with seed 0): exact labels, so the error is the model's alone.

Each dataset trains its own shuffle with ``create-training-dataset --split-file`` (which prints the crop,
input scale and augmentation it chose) for ``--minutes`` of training time; the model evaluated is the
last snapshot (no snapshot is chosen by its test error). ``--set KEY=VALUE`` overrides recipe values for a
sweep. Prints one line per dataset with ``test_error_px``, writes JSON under ``bench/results/`` and the
evaluation's worst-test-images picture per dataset.

    .venv/bin/python bench/accuracy.py --minutes 10 --datasets openfield mirror-mouse flies closeup
    .venv/bin/python bench/accuracy.py --minutes 10 --datasets mirror-mouse --set input_scale=0.8 crop_size=[320,320]
    .venv/bin/python bench/accuracy.py --smoke --datasets mirror-mouse
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from accuracy_openfield import copy_project, median_throughput, read_curve, run_checkpoints, write_report

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
OPENFIELD = SHARED / "openfield-Pranav-2018-10-30"
MIRROR = SHARED / "lightning-pose-mirror-mouse"
FLIES = SHARED / "sleap-flies-clip"
PCK_PX = 5.0


def prepare_openfield(work: Path) -> tuple[Path, Path]:
    """A copy of the openfield project's labels and its split file."""
    return copy_project(OPENFIELD, work), OPENFIELD / "benchmark-split-50.json"


def prepare_mirror_mouse(work: Path) -> tuple[Path, Path]:
    """The mirror-mouse set imported into a project, and its split with the imported image paths."""
    from markerless.project.import_labels import import_labels

    dest = work / "mirror-mouse"
    shutil.rmtree(dest, ignore_errors=True)
    config = import_labels(MIRROR / "CollectedData.csv", working_directory=dest, folder="mirror")
    split = json.loads((MIRROR / "benchmark-split-50.json").read_text())
    mapped = {key: [f"labeled-data/mirror/{Path(p).name}" for p in split[key]] for key in ("train", "test")}
    split_file = dest / "benchmark-split-50.json"
    split_file.write_text(json.dumps(mapped, indent=1) + "\n")
    return config, split_file


def prepare_flies(work: Path) -> tuple[Path, Path]:
    """The flies clip's split frames imported from SLEAP, and the split (frame numbers)."""
    from markerless.labelling.sleap import import_sleap, parse_frames

    dest = work / "flies"
    shutil.rmtree(dest, ignore_errors=True)
    split = FLIES / "benchmark-split.json"
    return import_sleap(FLIES / "clip.slp", working_directory=dest, frames=parse_frames([str(split)])), split


def prepare_closeup(work: Path) -> tuple[Path, Path]:
    """A rendered close-up project and a fixed 50 % split (seed 0)."""
    from markerless.project.project import load_project
    from markerless.synthetic import make_synthetic_project

    dest = work / "closeup"
    shutil.rmtree(dest, ignore_errors=True)
    config = make_synthetic_project(
        dest, size=(480, 360), animal_length=200, n_frames=300, n_labelled=60, seed=3, task="closeup"
    )
    images = sorted(load_project(config).load_labels().images)
    order = np.random.default_rng(0).permutation(len(images))
    half = len(images) // 2
    split = {"train": sorted(images[i] for i in order[:half]), "test": sorted(images[i] for i in order[half:])}
    split_file = dest / "benchmark-split-50.json"
    split_file.write_text(json.dumps(split, indent=1) + "\n")
    return config, split_file


DATASETS: dict[str, Callable[[Path], tuple[Path, Path]]] = {
    "openfield": prepare_openfield,
    "mirror-mouse": prepare_mirror_mouse,
    "flies": prepare_flies,
    "closeup": prepare_closeup,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="training budget per dataset (default 10)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--smoke", action="store_true", help="quick check: 1 minute per dataset")
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder, removed)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", type=Path, default=HERE / "results", help="where the JSON goes")
    p.add_argument("--tag", default="", help="a name for this run in the JSON file name (e.g. a sweep point)")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="recipe overrides after fitting (field names or dotted keys, YAML values), e.g. input_scale=0.5",
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.minutes = min(args.minutes, 1.0)
    return args


def run_dataset(name: str, args: argparse.Namespace, work: Path) -> dict:
    """Prepare, fit, train and evaluate one dataset; its figures."""
    from markerless.project.recipe import read_recipe, write_recipe
    from markerless.training.dataset import create_training_dataset
    from markerless.training.evaluation import evaluate
    from markerless.training.loop import train

    config, split_file = DATASETS[name](work)
    sh = create_training_dataset(config, shuffle=1, split_file=split_file)
    print(f"\n{name}: {len(sh.train_images())} train / {len(sh.test_images())} test images; recipe chosen:")
    for line in sh.recipe_choices():
        print(f"  {line}")
    overrides = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
    recipe = read_recipe(sh.recipe_file).with_overrides({"eval_every_epochs": 0, **overrides})
    write_recipe(sh.recipe_file, recipe, sh.recipe_choices())
    if overrides:
        print(f"  overridden: {overrides}")
    start = time.time()
    final_snapshot = train(
        config,
        1,
        max_minutes=args.minutes,
        device=args.device,
        resume=False,
        evaluate_at_minutes=run_checkpoints([1, 2, 5], args.minutes),
    )
    wall = time.time() - start
    result = evaluate(config, 1, snapshot=final_snapshot, device=args.device)
    stats = sh.train_dir / "learning_stats.csv"
    parts = {k: v["test_error_px"] for k, v in result["per_bodypart"].items()}
    worst = max((v for v in parts.values() if v is not None and np.isfinite(v)), default=float("nan"))
    return {
        "dataset": name,
        "snapshot": final_snapshot.name,
        "test_error_px": result["test_error_px"],
        "test_error_px_pcutoff": result["test_error_px_pcutoff"],
        "train_error_px": result["train_error_px"],
        "pck": result.get("pck"),
        "worst_part_px": worst,
        "per_bodypart": parts,
        "animal_size_px": result.get("animal_size_px"),
        "images_per_s": median_throughput(stats),
        "curve": read_curve(stats),
        "wall_s": wall,
        "n_train": result["n_train"],
        "n_test": result["n_test"],
        "test_map": result.get("test_map"),
        "test_map_sleap": result.get("test_map_sleap"),
        "recipe": recipe.with_overrides(max_minutes=args.minutes, epochs=None).to_dict(),
        "recipe_choices": sh.recipe_choices(),
        "overrides": overrides,
        "worst_images": [str(p) for p in sh.project.root.glob("evaluation-results*/**/*worst-test-images.png")],
    }


def pck_at(result: dict, px: float) -> float | None:
    """Percentage of test points within ``px`` pixels, from the evaluation's PCK table."""
    value = (result.get("pck") or {}).get("test", {}).get(f"{px:g}")
    return float(value) if value is not None else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="markerless-accuracy-"))
    work.mkdir(parents=True, exist_ok=True)
    results = [run_dataset(name, args, work) for name in args.datasets]
    print(f"\n{args.minutes:g} minutes of training each, last snapshot, {os.cpu_count()} CPUs:")
    for r in results:
        pck = pck_at(r, PCK_PX)
        print(
            f"{r['dataset']:13s} test_error_px {r['test_error_px']:.2f}  "
            f"test_error_px_pcutoff {r['test_error_px_pcutoff'] or float('nan'):.2f}  "
            f"pck@{PCK_PX:g}px {pck if pck is not None else float('nan'):.1f}%  "
            f"worst_part_px {r['worst_part_px']:.1f}  images_per_s {r['images_per_s'] or float('nan'):.1f}  "
            f"train_error_px {r['train_error_px']:.2f}"
            + (f"  test_map {r['test_map']:.1f}" if r.get("test_map") is not None else "")
        )
    tag = ("smoke" if args.smoke else f"{args.minutes:g}min") + (f"-{args.tag}" if args.tag else "")
    write_report(args.out, f"accuracy-{tag}", {"benchmark": "accuracy", "minutes": args.minutes, "results": results})
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
