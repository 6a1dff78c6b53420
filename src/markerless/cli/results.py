"""Result commands: filter, create-labeled-video, plot-trajectories (each prints the files it wrote)."""

from __future__ import annotations

import argparse

from markerless.cli import Command, typed_options
from markerless.results.filter_settings import METHODS, FilterSettings

_FILTER = FilterSettings()  # the defaults, shown in the help (only typed options are passed on)


def _common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml (or its folder)")
    p.add_argument("videos", metavar="VIDEO", nargs="+", help=f"videos (or folders of videos) whose {what}")
    p.add_argument(
        "--shuffle",
        type=int,
        default=argparse.SUPPRESS,
        metavar="K",
        help="the shuffle whose predictions are used (default 1)",
    )
    p.add_argument(
        "--dest",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="folder holding the predictions, if not beside the videos",
    )


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a likelihood between 0 and 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more")
    return value


# --- filter --------------------------------------------------------------------------------------
def _filter_args(p: argparse.ArgumentParser) -> None:
    _common(p, "predictions to filter")
    p.add_argument(
        "--method",
        choices=METHODS,
        default=argparse.SUPPRESS,
        help="median filter, Savitzky-Golay, constant-velocity Kalman smoother, or only the "
        f"threshold and gap filling (default {_FILTER.method})",
    )
    p.add_argument(
        "--window",
        type=int,
        default=argparse.SUPPRESS,
        metavar="N",
        help=f"odd window of median/savgol in frames (default {_FILTER.window})",
    )
    p.add_argument(
        "--polyorder",
        type=int,
        default=argparse.SUPPRESS,
        metavar="N",
        help=f"savgol polynomial order (default {_FILTER.polyorder})",
    )
    p.add_argument(
        "--max-gap",
        type=_non_negative,
        default=argparse.SUPPRESS,
        metavar="N",
        help=f"fill runs of up to N missing frames; longer ones stay empty (default {_FILTER.max_gap})",
    )
    p.add_argument(
        "--p-bound",
        type=_probability,
        default=argparse.SUPPRESS,
        metavar="P",
        help=f"points with a likelihood under P count as missing (default {_FILTER.p_bound:g})",
    )
    p.add_argument(
        "--save-as-csv",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also write a .csv beside each _filtered.h5",
    )
    p.add_argument(
        "--nwb",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also write the filtered poses as NWB (ndx-pose) _filtered.nwb; "
        "with --method none --p-bound 0 --max-gap 0 this exports the predictions unchanged",
    )


def _filter_run(args: argparse.Namespace) -> int:
    from markerless.results.filters import filter_predictions

    paths = filter_predictions(args.config, args.videos, **typed_options(args, "config", "videos"))
    for path in paths:
        print(path)
        if getattr(args, "nwb", False):
            print(path.with_suffix(".nwb"))
    return 0


# --- smooth --------------------------------------------------------------------------------------
def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0")
    return value


def _smooth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml (or its folder)")
    p.add_argument(
        "videos", metavar="VIDEO", nargs="+", help="videos (or folders of videos) whose predictions to smooth"
    )
    p.add_argument(
        "--method", choices=("eks",), default=argparse.SUPPRESS, help="ensemble Kalman smoother (default eks)"
    )
    members = p.add_mutually_exclusive_group()  # one of them: the API says so when neither is given
    members.add_argument(
        "--shuffles",
        type=int,
        nargs="+",
        default=argparse.SUPPRESS,
        metavar="K",
        help="the ensemble's members, one shuffle each: their predictions of each video",
    )
    members.add_argument(
        "--predictions",
        nargs="+",
        default=argparse.SUPPRESS,
        metavar="H5",
        help="the members' prediction files (with several videos, each takes those whose names start with its name)",
    )
    p.add_argument(
        "--state",
        choices=("position", "velocity"),
        default=argparse.SUPPRESS,
        help="state of the smoother: constant position (random walk) or constant velocity (default position)",
    )
    p.add_argument(
        "--smoothing",
        type=_positive,
        default=argparse.SUPPRESS,
        metavar="S",
        help="process noise in pixels² per frame (default: chosen per body part by marginal likelihood)",
    )
    p.add_argument(
        "--p-bound",
        type=_probability,
        default=argparse.SUPPRESS,
        metavar="P",
        help="a member's points with a likelihood under P count as missing (default: pcutoff in config.yaml)",
    )
    p.add_argument(
        "--dest",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="folder holding the shuffles' predictions, if not beside the videos",
    )
    p.add_argument(
        "--save-as-csv", action="store_true", default=argparse.SUPPRESS, help="also write a .csv beside each _eks.h5"
    )


def _smooth_run(args: argparse.Namespace) -> int:
    from markerless.results.eks import smooth_predictions

    for path in smooth_predictions(args.config, args.videos, **typed_options(args, "config", "videos")):
        print(path)
    return 0


# --- create-labeled-video -------------------------------------------------------------------------
def _video_args(p: argparse.ArgumentParser) -> None:
    _common(p, "predictions to draw")
    p.add_argument(
        "--filtered",
        action="store_true",
        default=argparse.SUPPRESS,
        help="draw the _filtered predictions (run filter first)",
    )
    p.add_argument(
        "--trail",
        type=_non_negative,
        default=argparse.SUPPRESS,
        metavar="N",
        help="draw each point's path over the last N frames (default 0: none)",
    )
    p.add_argument(
        "--pcutoff",
        type=_probability,
        default=argparse.SUPPRESS,
        metavar="P",
        help="hide points with a likelihood under P (default: pcutoff in config.yaml)",
    )
    p.add_argument(
        "--no-skeleton",
        dest="draw_skeleton",
        action="store_false",
        default=argparse.SUPPRESS,
        help="do not draw the skeleton's edges",
    )
    p.add_argument(
        "--color-by",
        choices=("bodypart", "individual"),
        default=argparse.SUPPRESS,
        help="one colour per body part or per individual (default bodypart)",
    )
    p.add_argument(
        "--codec", default=argparse.SUPPRESS, metavar="FOURCC", help="video codec of the .mp4 (default mp4v)"
    )


def _video_run(args: argparse.Namespace) -> int:
    from markerless.viz.video import create_labeled_video

    paths = create_labeled_video(args.config, args.videos, **typed_options(args, "config", "videos"))
    for path in paths:
        print(path)
    return 0


# --- plot-trajectories ----------------------------------------------------------------------------
def _plot_args(p: argparse.ArgumentParser) -> None:
    _common(p, "predictions to plot")
    p.add_argument(
        "--filtered",
        action="store_true",
        default=argparse.SUPPRESS,
        help="plot the _filtered predictions (run filter first)",
    )
    p.add_argument(
        "--pcutoff",
        type=_probability,
        default=argparse.SUPPRESS,
        metavar="P",
        help="leave out points with a likelihood under P (default: pcutoff in config.yaml)",
    )


def _plot_run(args: argparse.Namespace) -> int:
    from markerless.viz.plots import plot_trajectories

    for path in plot_trajectories(args.config, args.videos, **typed_options(args, "config", "videos")):
        print(path)
    return 0


COMMANDS: dict[str, Command] = {
    "filter": Command(
        "Smooth predictions (median, Savitzky-Golay or Kalman), fill short gaps: <video><scorer>_filtered.h5",
        _filter_args,
        _filter_run,
    ),
    "smooth": Command(
        "Ensemble Kalman smoother of several members' predictions: <first member's file>_eks.h5",
        _smooth_args,
        _smooth_run,
    ),
    "create-labeled-video": Command(
        "Draw the predictions on the videos: <video><scorer>_labeled.mp4", _video_args, _video_run
    ),
    "plot-trajectories": Command(
        "Plot trajectories, x/y and likelihood over time, displacement histograms: plot-poses/", _plot_args, _plot_run
    ),
}
