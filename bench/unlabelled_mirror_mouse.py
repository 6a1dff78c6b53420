"""Unlabelled-video benchmark: test error and jitter of supervised training, unlabelled losses and an ensemble + EKS,
each at the same training wall time.

Datasets (prepared as ``bench/accuracy.py`` prepares them, whose helpers this imports; the shared data is only read):

* ``mirror-mouse``: Lightning Pose's mirror-mouse set (90 labelled frames, 17 keypoints in a top and a mirrored
  bottom view), its ``benchmark-split-50.json``, and its unlabelled 994-frame 250 fps video ``videos/test_vid.mp4``;
* ``openfield``: DeepLabCut's openfield project, its ``benchmark-split-50.json`` and its video ``m3v1mp4.mp4``.

The video is added to each project (copied into its ``videos/``), so training with the unlabelled losses can
read it. Variants, each on its own shuffle of the same fixed split:

* ``supervised``: the default recipe fitted to the labels, ``--minutes`` of training (shuffle 1);
* ``unlabelled``: the same plus the unlabelled losses (shuffle 2); weights ``temporal_weight=1 pca_weight=1
  multiview_weight=1`` on mirror-mouse, no multi-view loss on openfield, clips on every 4th step of the run's
  second half, positions from the whole heatmap (:data:`SCHEDULE`); ``--set KEY=VALUE`` changes them;
* ``ensemble``: 3 members (shuffles 3-5, seeds recipe seed + i) of ``--minutes / 3`` each, so the ensemble
  trains as long as one model (``--member-minutes M``: M each instead, e.g. as long as the supervised model);
  its test error is that of the members' mean prediction on the test images, its jitter that of the ensemble
  Kalman smoother's output (members' points under the project's ``pcutoff`` bridged; the jitter of member 1
  is recorded beside it);
* ``ensemble-unlabelled``: the same ensemble (shuffles 6-8) whose members train with the unlabelled losses, as
  ``unlabelled`` does: the two methods together.

For each variant: train, evaluate on the split's test images (``test_error_px``), analyse the unlabelled video
and measure the fraction of (frame pair, body part) cells that jump more than 20 px, with the pose-PCA and
(mirror-mouse) multi-view errors (``markerless.results.video_plausibility``). Prints one line per variant
``<dataset> <variant> test_error_px X jump_fraction Y ...`` and writes JSON under ``bench/results/``. A variant
that cannot run (e.g. a recipe without the unlabelled losses) prints its error and the others go on.

    .venv/bin/python bench/unlabelled_mirror_mouse.py --minutes 30 --datasets mirror-mouse openfield
    .venv/bin/python bench/unlabelled_mirror_mouse.py --minutes 0.3 --datasets mirror-mouse --variants supervised ensemble
    .venv/bin/python bench/unlabelled_mirror_mouse.py --minutes 30 --variants unlabelled --set temporal_weight=0.5
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from accuracy import DATASETS, MIRROR, OPENFIELD
from accuracy_openfield import write_report

HERE = Path(__file__).resolve().parent
VIDEOS = {"mirror-mouse": MIRROR / "videos" / "test_vid.mp4", "openfield": OPENFIELD / "videos" / "m3v1mp4.mp4"}
#: Clips on every 4th step of the second half of the run only (a clip step costs about 2.3 plain ones
#: on 2 cores), the position judged over the whole heatmap so a loss can move a point to another peak.
SCHEDULE = {"every_steps": 4, "start_fraction": 0.5, "keypoint_window": None}
UNLABELLED_DEFAULTS = {
    "mirror-mouse": {"temporal_weight": 1.0, "pca_weight": 1.0, "multiview_weight": 1.0, **SCHEDULE},
    "openfield": {"temporal_weight": 1.0, "pca_weight": 1.0, "multiview_weight": 0.0, **SCHEDULE},
}
VARIANTS = ("supervised", "unlabelled", "ensemble", "ensemble-unlabelled")
SHUFFLES = {"supervised": 1, "unlabelled": 2, "ensemble": 3, "ensemble-unlabelled": 6}
DEFAULT_VARIANTS = VARIANTS[:3]  # ensemble-unlabelled on request: three more 3-member trainings
ENSEMBLES = ("ensemble", "ensemble-unlabelled")
WITH_LOSSES = ("unlabelled", "ensemble-unlabelled")
MEMBERS = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="training wall time per variant (default 10)")
    p.add_argument("--datasets", nargs="+", default=list(VIDEOS), choices=list(VIDEOS))
    p.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=list(VARIANTS))
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder, removed)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", type=Path, default=HERE / "results", help="where the JSON goes")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="recipe values of the variants with the unlabelled losses (YAML values), e.g. temporal_weight=0.5 "
        "pca_epsilon=10",
    )
    p.add_argument("--seed", type=int, default=None, help="recipe seed of every variant (default: the recipe's)")
    p.add_argument(
        "--member-minutes",
        type=float,
        default=None,
        help=f"training time of each ensemble member (default: --minutes / {MEMBERS})",
    )
    args = p.parse_args(argv)
    if args.minutes <= 0:
        p.error(f"--minutes must be > 0, got {args.minutes}")
    if args.member_minutes is None:
        args.member_minutes = args.minutes / MEMBERS
    elif args.member_minutes <= 0:
        p.error(f"--member-minutes must be > 0, got {args.member_minutes}")
    return args


def prepare(name: str, work: Path) -> tuple[Path, Path, Path]:
    """The dataset's project, its split file and its unlabelled video inside the project."""
    from markerless.project.project import Project, add_videos

    config, split_file = DATASETS[name](work)
    source = VIDEOS[name]
    if not source.is_file():
        sys.exit(f"The unlabelled video of {name} is not at {source}.")
    project = Project.load(config)
    inside = project.root / "videos" / source.name
    if any(video.name == source.name for video in project.videos):  # listed in config.yaml: put the file there
        inside.parent.mkdir(exist_ok=True)
        shutil.copy2(source, inside)
        return config, split_file, inside
    return config, split_file, add_videos(config, [source], copy_videos=True)[0]


def make_shuffle(config: Path, split_file: Path, shuffle: int, overrides: dict[str, Any]) -> None:
    """Shuffle ``shuffle`` on the fixed split, its fitted recipe with ``overrides`` (RecipeError when unknown)."""
    from markerless.project.recipe import read_recipe, write_recipe
    from markerless.training.dataset import create_training_dataset

    sh = create_training_dataset(config, shuffle=shuffle, split_file=split_file)
    recipe = read_recipe(sh.recipe_file).with_overrides({"eval_every_epochs": 0, **overrides})
    write_recipe(sh.recipe_file, recipe, sh.recipe_choices())


def _evaluation_predictions(result: dict[str, Any]) -> pd.DataFrame:
    """The predictions an evaluation wrote for every labelled image of its shuffle."""
    return pd.read_hdf(Path(result["evaluation_dir"]) / f"{result['scorer']}.h5")


def ensemble_test_error(config: Path, shuffle: int, results: list[dict[str, Any]]) -> float:
    """Mean pixel error on the test images of the members' mean prediction."""
    from markerless.model.tables import frame_to_array
    from markerless.project.shuffle import Shuffle
    from markerless.training.metrics import mean_error, pixel_errors

    sh = Shuffle(config, shuffle)
    layout = sh.project.layout
    labels = sh.project.load_labels()
    test = set(sh.test_images())
    frames = [_evaluation_predictions(r) for r in results]
    images = ["/".join(map(str, key)) for key in frames[0].index]
    rows = [i for i, image in enumerate(images) if image in test]
    mean = np.nanmean(np.stack([frame_to_array(f, layout, ("x", "y"))[rows] for f in frames]), axis=0)
    truth = labels.select([images[i] for i in rows]).xy
    return mean_error(pixel_errors(mean, truth))


def train_variant(
    variant: str, config: Path, minutes: float, member_minutes: float, device: str
) -> tuple[list[Path], float]:
    """Train a variant's model for ``minutes`` (an ensemble's members ``member_minutes`` each); the snapshots and
    the wall time spent."""
    from markerless.training.ensemble import train_ensemble
    from markerless.training.loop import train

    start = time.time()
    shuffle = SHUFFLES[variant]
    if variant in ENSEMBLES:
        snapshots = train_ensemble(config, shuffle, MEMBERS, max_minutes=member_minutes, device=device, resume=False)
    else:
        snapshots = [train(config, shuffle, max_minutes=minutes, device=device, resume=False)]
    return snapshots, time.time() - start


def run_variant(name: str, variant: str, config: Path, video: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Train, evaluate and analyse one variant; its figures."""
    from markerless.analysis.analyze import analyze
    from markerless.project.project import Project
    from markerless.results.video_plausibility import label_fits, prediction_plausibility
    from markerless.training.ensemble import analyze_ensemble, ensemble_shuffles
    from markerless.training.evaluation import evaluate

    shuffle = SHUFFLES[variant]
    snapshots, train_s = train_variant(variant, config, args.minutes, args.member_minutes, args.device)
    shuffles = ensemble_shuffles(shuffle, MEMBERS) if variant in ENSEMBLES else [shuffle]
    evaluations = [evaluate(config, k, snapshot=snap, device=args.device) for k, snap in zip(shuffles, snapshots)]
    start = time.time()
    project = Project.load(config)
    fits = label_fits(project)
    figures: dict[str, Any] = {}
    if variant in ENSEMBLES:
        analysed = analyze_ensemble(config, [video], shuffle, MEMBERS, device=args.device, overwrite=True)
        report = prediction_plausibility(project, analysed.eks[0], fits=fits)
        member = prediction_plausibility(project, analysed.members[0][0], fits=fits)
        figures["member_test_error_px"] = [r["test_error_px"] for r in evaluations]
        figures["member1_jump_fraction"] = member["jump_fraction"]
        test_error = ensemble_test_error(config, shuffle, evaluations)
    else:
        path = analyze(config, [video], shuffle, device=args.device, overwrite=True)[0]
        report = prediction_plausibility(project, path, fits=fits)
        test_error = evaluations[0]["test_error_px"]
    return {
        "dataset": name,
        "variant": variant,
        "test_error_px": test_error,
        "jump_fraction": report["jump_fraction"],
        "pose_pca_error": report.get("pose_pca_error"),
        "multiview_error": report.get("multiview_error"),
        "notes": report.get("notes"),
        "train_wall_s": train_s,
        "analysis_wall_s": time.time() - start,
        "snapshots": [str(s) for s in snapshots],
        "shuffles": shuffles,
        **figures,
    }


def run_dataset(name: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """Every asked variant on one dataset (a failing variant gives its error, the others go on)."""
    from markerless.errors import MarkerlessError, RecipeError

    config, split_file, video = prepare(name, work)
    given = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
    unlabelled = {**UNLABELLED_DEFAULTS[name], **given}
    rows = []
    for variant in args.variants:
        minutes = f"{MEMBERS} x {args.member_minutes:g}" if variant in ENSEMBLES else f"{args.minutes:g}"
        print(f"\n{name} {variant}: {minutes} min of training" + (f", {unlabelled}" if variant in WITH_LOSSES else ""))
        try:
            seed = {"seed": args.seed} if args.seed is not None else {}
            make_shuffle(
                config, split_file, SHUFFLES[variant], {**seed, **(unlabelled if variant in WITH_LOSSES else {})}
            )
        except RecipeError as err:
            message = f"{err}"
            if variant in WITH_LOSSES:
                message = f"this version's recipe has no unlabelled losses ({', '.join(unlabelled)}): {err}"
            print(f"{name} {variant} cannot run: {message}")
            rows.append({"dataset": name, "variant": variant, "error": message})
            continue
        try:
            rows.append(run_variant(name, variant, config, video, args))
        except MarkerlessError as err:
            print(f"{name} {variant} failed: {err}")
            rows.append({"dataset": name, "variant": variant, "error": str(err)})
    return rows


def _f(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def line(row: dict[str, Any]) -> str:
    """One line per variant: ``<dataset> <variant> test_error_px X jump_fraction Y ...``."""
    if "error" in row:
        return f"{row['dataset']} {row['variant']} error: {row['error']}"
    pca = (row.get("pose_pca_error") or {}).get("median")
    views = (row.get("multiview_error") or {}).get("median")
    extra = f"  member1_jump_fraction {_f(row['member1_jump_fraction'])}" if "member1_jump_fraction" in row else ""
    return (
        f"{row['dataset']} {row['variant']} test_error_px {row['test_error_px']:.2f} jump_fraction "
        f"{_f(row['jump_fraction'])}  pose_pca_median_px {_f(pca, 2)}  multiview_median_px {_f(views, 2)}  "
        f"train_wall_s {row['train_wall_s']:.0f}{extra}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="markerless-unlabelled-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = [row for name in args.datasets for row in run_dataset(name, args, work)]
    print(
        f"\n{args.minutes:g} minutes of training per variant (ensemble: {MEMBERS} x {args.member_minutes:g}), "
        f"{os.cpu_count()} CPUs:"
    )
    for row in rows:
        print(line(row))
    write_report(
        args.out,
        f"unlabelled-{args.minutes:g}min",
        {
            "benchmark": "unlabelled_mirror_mouse",
            "minutes": args.minutes,
            "member_minutes": args.member_minutes,
            "results": rows,
        },
    )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
