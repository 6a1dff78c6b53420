"""``markerless create-training-dataset``, ``train`` and ``evaluate``: parse, call the API, print."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from markerless.analysis.backends import BACKEND_CHOICES
from markerless.cli import Command, typed_options


def _add_dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="the project's config.yaml (or its folder)")
    p.add_argument("--shuffle", type=int, default=argparse.SUPPRESS, help="shuffle number to create (default 1)")
    p.add_argument(
        "--train-fraction",
        type=float,
        default=argparse.SUPPRESS,
        help="fraction of images that train (default: config TrainingFraction)",
    )
    p.add_argument(
        "--seed", type=int, default=argparse.SUPPRESS, help="seed of the random split (default: the shuffle number)"
    )
    p.add_argument(
        "--split-file", default=argparse.SUPPRESS, help="JSON with 'train' and 'test' lists of image paths to use"
    )
    p.add_argument("--net", default=argparse.SUPPRESS, help="model name for the recipe (default mobilenetv2)")
    p.add_argument(
        "--from-shuffle", type=int, default=argparse.SUPPRESS, help="reuse the split of this existing shuffle"
    )
    p.add_argument(
        "--leave-out-video", default=argparse.SUPPRESS, help="test on this labeled-data folder, train on the others"
    )


def _run_dataset(args: argparse.Namespace) -> int:
    from markerless.training.dataset import create_training_dataset

    sh = create_training_dataset(args.config, **typed_options(args, "config"))
    print(f"shuffle {sh.index} ({sh.name}): {len(sh.train_images())} train, {len(sh.test_images())} test images")
    print(f"recipe: {sh.recipe_file}, chosen from the training labels:")
    for line in sh.recipe_choices():
        print(f"  {line}")
    print(sh.model_dir)
    return 0


def _number(kind: type, minimum: float, inclusive: bool, what: str) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` above ``minimum`` (at or above when ``inclusive``)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not (value > minimum or (inclusive and value == minimum)):  # NaN fails too
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    return parse


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="the project's config.yaml (or its folder)")
    p.add_argument("--shuffle", type=int, default=argparse.SUPPRESS, help="shuffle number (default 1)")
    p.add_argument(
        "--max-minutes",
        type=_number(float, 0, False, "a number of minutes > 0"),
        default=argparse.SUPPRESS,
        help="wall-clock training budget (evaluation excluded); on resume, changes the stored budget",
    )
    p.add_argument(
        "--epochs",
        type=_number(int, 1, True, "an integer >= 1"),
        default=argparse.SUPPRESS,
        help="number of epochs (default: the recipe's); on resume, changes the stored budget",
    )
    p.add_argument(
        "--batch-size",
        type=_number(int, 1, True, "an integer >= 1"),
        default=argparse.SUPPRESS,
        help="images per batch (default: the recipe's)",
    )
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default=argparse.SUPPRESS, help="where to train (default auto)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=argparse.SUPPRESS,
        help="seed of initialisation and augmentation (default: the recipe's)",
    )
    p.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        default=argparse.SUPPRESS,
        help="start over instead of continuing from the last snapshot",
    )
    p.add_argument(
        "--ensemble",
        type=_number(int, 2, True, "an integer >= 2"),
        default=argparse.SUPPRESS,
        metavar="N",
        help="train N members (shuffles SHUFFLE..SHUFFLE+N-1, same split, seeds recipe seed + i) one after "
        "another; --max-minutes/--epochs are each member's budget; an interrupted ensemble resumes",
    )


def _run_train(args: argparse.Namespace) -> int:
    options = typed_options(args, "config", "ensemble")
    if "ensemble" in vars(args):
        from markerless.training.ensemble import train_ensemble

        if "seed" in options:
            from markerless.errors import RecipeError

            raise RecipeError(
                "--seed does not combine with --ensemble: member i trains with the recipe's seed + i; "
                "set the seed in the first member's train/markerless.yaml instead."
            )
        options["members"] = args.ensemble
        for path in train_ensemble(args.config, **options):
            print(path)
        return 0
    from markerless.training.loop import train

    print(train(args.config, **options))
    return 0


def _add_evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="the project's config.yaml (or its folder)")
    p.add_argument("--shuffle", type=int, default=argparse.SUPPRESS, help="shuffle number (default 1)")
    p.add_argument(
        "--snapshot",
        type=int,
        default=argparse.SUPPRESS,
        help="snapshot index (default config snapshotindex; -1 = best)",
    )
    p.add_argument(
        "--pcutoff", type=float, default=argparse.SUPPRESS, help="likelihood cut-off (default config pcutoff)"
    )
    p.add_argument(
        "--plot",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also draw ground truth vs predictions on every image",
    )
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default=argparse.SUPPRESS, help="where to predict (default auto)"
    )
    p.add_argument(
        "--backend",
        choices=list(BACKEND_CHOICES),
        default=argparse.SUPPRESS,
        help="what runs a multi-animal network (default auto: OpenVINO on a CPU, as analyze does; a single-animal "
        "network runs in PyTorch)",
    )
    p.add_argument(
        "--video",
        nargs="+",
        default=argparse.SUPPRESS,
        metavar="VIDEO",
        help="also analyse these unlabelled videos with the evaluated snapshot and print their jitter / "
        "plausibility line (jumps > 20 px, pose-PCA and multi-view errors; JSON beside each result)",
    )


def _fmt(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _run_evaluate(args: argparse.Namespace) -> int:
    from markerless.training.evaluation import evaluate

    r = evaluate(args.config, **typed_options(args, "config", "video"))
    print(f"{r['scorer']} ({r['n_train']} train, {r['n_test']} test images, pcutoff {r['pcutoff']})")
    print(f"train error: {_fmt(r['train_error_px'])} px (with p-cutoff {_fmt(r['train_error_px_pcutoff'])} px)")
    print(f"test error:  {_fmt(r['test_error_px'])} px (with p-cutoff {_fmt(r['test_error_px_pcutoff'])} px)")
    if "test_map" in r:
        print(f"test mAP: {_fmt(r['test_map'])}% (OKS sigma 0.1), {_fmt(r['test_map_sleap'])}% (SLEAP's sigma 0.025)")
    for name, errs in r["per_bodypart"].items():
        print(f"  {name:<16} train {_fmt(errs['train_error_px'])} px  test {_fmt(errs['test_error_px'])} px")
    print("PCK test: " + ", ".join(f"{t} px {_fmt(v)}%" for t, v in r["pck"]["test"].items()))
    if "video" in vars(args):
        _analyse_for_jitter(args)
    print(r["evaluation_dir"])
    return 0


def _analyse_for_jitter(args: argparse.Namespace) -> None:
    """Analyse ``--video`` with the evaluated snapshot; print the result files and their plausibility lines."""
    from markerless.analysis.analyze import analyze
    from markerless.cli.analysis import print_plausibility
    from markerless.project.shuffle import Shuffle

    shuffle = getattr(args, "shuffle", 1)
    options: dict[str, Any] = {key: vars(args)[key] for key in ("device", "backend") if key in vars(args)}
    if "snapshot" in vars(args):
        options["snapshot"] = Shuffle(args.config, shuffle).snapshot(args.snapshot)
    paths = list(analyze(args.config, args.video, shuffle, **options))
    for path in paths:
        print(path)
    print_plausibility(args.config, paths)


COMMANDS: dict[str, Command] = {
    "create-training-dataset": Command(
        "Split the labelled images into train/test sets (a shuffle) and write its training recipe.",
        _add_dataset_args,
        _run_dataset,
    ),
    "train": Command(
        "Train a shuffle's network (resumes after an interruption); prints its last snapshot, the model.",
        _add_train_args,
        _run_train,
    ),
    "evaluate": Command(
        "Pixel errors of a trained shuffle on its train and test images; prints the results folder last.",
        _add_evaluate_args,
        _run_evaluate,
    ),
}
