"""Multi-animal benchmark on SLEAP's flies clip: two courting flies, every one of 1500 frames labelled with
identities (``../shared/data/sleap-flies-clip``).

Imports the split's labelled frames (``benchmark-split.json``: train on every 10th frame of 0-999, test on
every 5th frame of 1000-1499) with ``import-sleap``, trains the fitted default recipe for ``--minutes``,
evaluates (mAP with DeepLabCut's sigma 0.1 and SLEAP's 0.025, pixel error after matching), analyses
the whole clip end to end twice (frames/s, decoding, assembly, tracking and writing included):
``analysis_fps`` with the network already exported, as for every video after a model's first, and
``analysis_fps_first_run`` including the one-time ONNX/OpenVINO export; and scores the tracks against
the human identities (identity switches, IDF1, MOTA). Prints one line of figures and writes a JSON under
``bench/results/``.

    .venv/bin/python bench/multianimal_flies.py --minutes 30
    .venv/bin/python bench/multianimal_flies.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "sleap-flies-clip"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="training budget (default 30)")
    p.add_argument("--smoke", action="store_true", help="quick check: 1 minute, 200 frames analysed")
    p.add_argument("--frames", type=int, default=None, help="analyse only the first N frames (default: all)")
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder, removed)")
    p.add_argument("--backend", default="auto")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="recipe overrides after fitting")
    p.add_argument(
        "--split",
        type=Path,
        default=DATA / "benchmark-split.json",
        help="train_frames / test_frames JSON (default: the fixed benchmark-split.json; another split's figures are "
        "not the benchmark's)",
    )
    p.add_argument(
        "--no-analysis", action="store_true", help="train and evaluate only (no video analysis, no tracking)"
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.minutes, args.frames = min(args.minutes, 1.0), args.frames or 200
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    import yaml

    from markerless.analysis.analyze import analyze
    from markerless.labelling.sleap import import_sleap, parse_frames
    from markerless.project.recipe import read_recipe, write_recipe
    from markerless.tracking.api import evaluate_tracking
    from markerless.training.dataset import create_training_dataset
    from markerless.training.evaluation import evaluate
    from markerless.training.loop import train

    if not (DATA / "clip.slp").is_file():
        sys.exit(f"The flies clip is not at {DATA}.")
    work = args.work or Path(tempfile.mkdtemp(prefix="markerless-flies-"))
    shutil.rmtree(work / "project", ignore_errors=True)
    split = args.split
    t0 = time.time()
    config = import_sleap(DATA / "clip.slp", working_directory=work / "project", frames=parse_frames([str(split)]))
    imported_s = time.time() - t0
    sh = create_training_dataset(config, shuffle=1, split_file=split)
    print(f"{len(sh.train_images())} train / {len(sh.test_images())} test images; recipe chosen:")
    for line in sh.recipe_choices():
        print(f"  {line}")
    overrides = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
    recipe = read_recipe(sh.recipe_file).with_overrides({"eval_every_epochs": 0, **overrides})
    write_recipe(sh.recipe_file, recipe, sh.recipe_choices())
    t0 = time.time()
    snapshot = train(config, 1, max_minutes=args.minutes, resume=False, evaluate_at_minutes=[args.minutes / 2])
    train_wall = time.time() - t0
    result = evaluate(config, 1, snapshot=snapshot)
    video = DATA / "clip.mp4"
    analysed = args.frames or 1500
    seconds = []
    runs = 0 if args.no_analysis else 2  # the first run also exports the network (once per snapshot and frame size)
    for _ in range(runs):
        t0 = time.time()
        (predictions,) = analyze(
            config, [video], dest=work / "analysis", overwrite=True, backend=args.backend, stop=args.frames
        )
        seconds.append(time.time() - t0)
    tracking = {} if args.no_analysis else evaluate_tracking(config, predictions, DATA / "clip.slp")
    figures = {
        "test_map": result["test_map"],
        "test_map_sleap": result["test_map_sleap"],
        "test_error_px": result["test_error_px"],
        "train_error_px": result["train_error_px"],
        "n_test": result["n_test"],
        "training_minutes": args.minutes,
        "training_wall_s": train_wall,
        "analysis_fps": analysed / seconds[1] if seconds else None,
        "analysis_fps_first_run": analysed / seconds[0] if seconds else None,
        "id_switches": tracking.get("id_switches"),
        "idf1": tracking.get("idf1"),
        "mota": tracking.get("mota"),
    }
    print("flies " + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()))
    payload = {
        "benchmark": "multianimal_flies",
        "figures": figures,
        "evaluation": result,
        "tracking": tracking,
        "import_s": imported_s,
        "recipe": recipe.to_dict(),
        "recipe_choices": sh.recipe_choices(),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "load_average": os.getloadavg(),
        },
        "split": str(split),
        "command": " ".join([sys.executable, *sys.argv]),
    }
    print(save_result(args.out, f"multianimal_flies-{'smoke' if args.smoke else f'{args.minutes:g}min'}", payload))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def save_result(folder: Path, name: str, payload: dict) -> Path:
    """Write ``payload`` as ``folder/<name>-<time>.json``; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
