"""Tracking commands: stitch (rerun stitching on saved tracklets), evaluate-tracking (score tracks), swap (repair
identity swaps in a prediction file, undo and redo them, list suspicious frames)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

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
    p.add_argument(
        "--discard-swaps",
        action="store_true",
        default=argparse.SUPPRESS,
        help="replace tracks files that hold identity swaps made by hand (refused otherwise)",
    )


def _stitch_run(args: argparse.Namespace) -> int:
    from markerless.tracking.api import stitch_videos

    for path in stitch_videos(args.config, args.videos, **typed_options(args, "config", "videos")):
        print(path)
    return 0


# --- evaluate-tracking -----------------------------------------------------------------------------
def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml (or its folder)")
    p.add_argument("predictions", metavar="PRED_H5", help="tracked prediction file (<video><scorer>_el.h5)")
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


# --- swap ----------------------------------------------------------------------------------------
def _frame(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a frame number (0 or more)")
    return value


def _swap_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml (or its folder)")
    p.add_argument("predictions", metavar="PRED_H5", help="multi-animal prediction file (<video><scorer>_el.h5)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--individuals", nargs=2, metavar=("A", "B"), help="the two animals to exchange")
    what.add_argument("--undo", action="store_true", help="undo the last swap of this file")
    what.add_argument("--redo", action="store_true", help="apply the last undone swap again")
    what.add_argument(
        "--suspicious", action="store_true", help="list the frames where animals come close or a track jumps"
    )
    p.add_argument("--start", type=_frame, metavar="F", help="first frame to swap (with --individuals)")
    p.add_argument("--stop", type=_frame, metavar="G", help="first frame no longer swapped (default: to the end)")


def _describe(swap: Any) -> str:
    frames = f"from frame {swap.start} on" if swap.stop is None else f"frames {swap.start} to {swap.stop - 1}"
    return f"{swap.a} <-> {swap.b} {frames}"


def _swap_run(args: argparse.Namespace) -> int:
    from markerless.io.dlc import read_predictions
    from markerless.project.project import Project
    from markerless.tracking.repair import (
        redo_swap,
        suspicious_frames,
        swap_history,
        swap_in_prediction_file,
        undo_swap,
    )

    project = Project.load(args.config)
    if args.suspicious:
        for event in suspicious_frames(read_predictions(args.predictions), pcutoff=project.pcutoff):
            what = "close" if event.kind == "close" else "jump"
            print(
                f"{event.peak}\t{what}\t{' '.join(event.individuals)}\tframes {event.start}-{event.stop - 1}"
                f"\t{event.value:.2f} body sizes"
            )
        journal = swap_history(args.predictions)
    elif args.undo or args.redo:
        journal = undo_swap(args.predictions) if args.undo else redo_swap(args.predictions)
    else:
        if args.start is None:
            print("markerless swap: error: --individuals needs --start F (the first frame to swap)", file=sys.stderr)
            return 2
        a, b = args.individuals
        journal = swap_in_prediction_file(args.predictions, a, b, args.start, args.stop)
    for swap in journal.applied:
        print(f"applied: {_describe(swap)}")
    for swap in reversed(journal.undone):
        print(f"undone: {_describe(swap)}")
    return 0


COMMANDS: dict[str, Command] = {
    "stitch": Command(
        "Join saved tracklets into the animals again (other settings or --n-animals): <video><scorer>_el.h5",
        _stitch_args,
        _stitch_run,
    ),
    "evaluate-tracking": Command(
        "Score tracked predictions against true tracks (.slp or labels): id switches, IDF1, MOTA; writes a JSON",
        _evaluate_args,
        _evaluate_run,
    ),
    "swap": Command(
        "Exchange two animals from a frame on (or over a range) in a prediction file, in place; --undo, --redo",
        _swap_args,
        _swap_run,
    ),
}
