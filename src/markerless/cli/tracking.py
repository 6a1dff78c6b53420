"""Tracking commands: stitch (rerun stitching on saved tracklets), evaluate-tracking (score tracks)."""

from __future__ import annotations

import argparse

from markerless.cli import Command, typed_options


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a likelihood between 0 and 1")
    return value


# --- stitch --------------------------------------------------------------------------------------
def _stitch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml (or its folder)")
    p.add_argument("videos", metavar="VIDEO", nargs="+", help="analysed videos whose tracklets to stitch")
    p.add_argument(
        "--n-animals",
        type=_positive,
        default=argparse.SUPPRESS,
        metavar="N",
        help="number of animals in the videos, at most the project's individuals (default: all individuals)",
    )
    p.add_argument(
        "--shuffle", type=int, default=argparse.SUPPRESS, metavar="K", help="shuffle whose tracklets (default 1)"
    )
    p.add_argument(
        "--dest",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="folder holding the tracklets, if not beside the videos",
    )


def _stitch_run(args: argparse.Namespace) -> int:
    from markerless.tracking.api import stitch_videos

    for path in stitch_videos(args.config, args.videos, **typed_options(args, "config", "videos")):
        print(path)
    return 0


# --- evaluate-tracking -----------------------------------------------------------------------------
def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml (or its folder)")
    p.add_argument("predictions", metavar="PRED_H5", help="tracked prediction file (<video><scorer>.h5)")
    p.add_argument(
        "--ground-truth",
        required=True,
        metavar="LABELS",
        help="true tracks: a SLEAP .slp with tracks or DeepLabCut multi-animal labels (CollectedData_*.h5)",
    )
    p.add_argument(
        "--max-distance",
        type=_positive_float,
        default=argparse.SUPPRESS,
        metavar="PX",
        help="largest mean point distance of a match, pixels (default: half the true animals' median size)",
    )
    p.add_argument(
        "--pcutoff",
        type=_probability,
        default=argparse.SUPPRESS,
        metavar="P",
        help="leave out predicted points with a likelihood under P (default: pcutoff in config.yaml)",
    )


def _evaluate_run(args: argparse.Namespace) -> int:
    from markerless.tracking.api import evaluate_tracking, evaluation_path

    scores = evaluate_tracking(
        args.config, args.predictions, args.ground_truth, **typed_options(args, "config", "predictions", "ground_truth")
    )
    print(
        f"id_switches={scores['id_switches']} "
        f"id_switches_per_1000_frames={scores['id_switches_per_1000_frames']:.2f} "
        f"idf1={scores['idf1']:.4f} mota={scores['mota']:.4f} misses={scores['misses']} "
        f"false_positives={scores['false_positives']} frames={scores['frames']} "
        f"-> {evaluation_path(args.predictions)}"
    )
    return 0


COMMANDS: dict[str, Command] = {
    "stitch": Command(
        "Join saved tracklets into the animals again (other settings or --n-animals): <video><scorer>.h5",
        _stitch_args,
        _stitch_run,
    ),
    "evaluate-tracking": Command(
        "Score tracked predictions against true tracks (.slp or labels): id switches, IDF1, MOTA; writes a JSON",
        _evaluate_args,
        _evaluate_run,
    ),
}
