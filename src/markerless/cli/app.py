"""Labelling and active-learning commands: label, extract-outliers, merge."""

from __future__ import annotations

import argparse

from markerless.cli import Command, typed_options


# --- label -------------------------------------------------------------------------------------
def _label_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml")
    p.add_argument(
        "--host",
        default=argparse.SUPPRESS,
        help="address to serve on (default 127.0.0.1: this machine only; on a cluster keep it and use "
        "ssh -L 8765:127.0.0.1:8765 HOST from your computer)",
    )
    p.add_argument(
        "--port", type=int, default=argparse.SUPPRESS, help="port to serve on (default 8765; 0 picks a free one)"
    )
    p.add_argument(
        "--no-browser",
        dest="open_browser",
        action="store_false",
        default=argparse.SUPPRESS,
        help="do not open a browser; just print the URL",
    )


def _label_run(args: argparse.Namespace) -> int:
    from markerless.app.server import label

    label(args.config, **typed_options(args, "config"))
    return 0


# --- extract-outliers --------------------------------------------------------------------------
def _extract_outliers_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml")
    p.add_argument("videos", metavar="VIDEO", nargs="+", help="analysed videos (their predictions sit beside them)")
    p.add_argument(
        "--shuffle", type=int, default=argparse.SUPPRESS, help="shuffle whose predictions to use (default 1)"
    )
    p.add_argument(
        "--algo",
        choices=("jump", "uncertain", "fitting", "list"),
        default=argparse.SUPPRESS,
        help="jump: a point moved more than EPSILON px; uncertain: likelihood below P_BOUND; fitting: far from "
        "a smoothing model of its track; list: the frames given with --frames (default jump)",
    )
    p.add_argument(
        "--frames", type=int, nargs="+", metavar="N", default=argparse.SUPPRESS, help="frame numbers for --algo list"
    )
    p.add_argument(
        "--epsilon", type=float, default=argparse.SUPPRESS, help="pixel threshold of jump and fitting (default 20)"
    )
    p.add_argument("--p-bound", type=float, default=argparse.SUPPRESS, help="likelihood threshold (default 0.01)")
    p.add_argument(
        "--num-frames",
        type=int,
        default=argparse.SUPPRESS,
        help="frames to extract per video (default numframes2pick of config)",
    )
    p.add_argument(
        "--extraction",
        choices=("kmeans", "uniform"),
        default=argparse.SUPPRESS,
        help="how to pick among the candidates (default kmeans)",
    )
    p.add_argument("--seed", type=int, default=argparse.SUPPRESS, help="random seed (default 0)")


def _extract_outliers_run(args: argparse.Namespace) -> int:
    from markerless.labelling.outliers import extract_outliers

    written = extract_outliers(args.config, args.videos, **typed_options(args, "config", "videos"))
    print(f"extracted {len(written)} frames; refine them with: markerless label {args.config}")
    for path in written:
        print(path)
    return 0


# --- merge -------------------------------------------------------------------------------------
def _merge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml")
    p.add_argument(
        "--shuffle", type=int, default=argparse.SUPPRESS, help="shuffle of the new training dataset (default 1)"
    )


def _merge_run(args: argparse.Namespace) -> int:
    from markerless.labelling.merge import merge

    iteration = merge(args.config, **typed_options(args, "config"))
    print(f"iteration {iteration}: training dataset created; train it with: markerless train {args.config}")
    return 0


COMMANDS = {
    "label": Command("Label frames in the browser (prints the URL with its access token).", _label_args, _label_run),
    "extract-outliers": Command(
        "Extract frames the model gets wrong, with its predictions to refine in the labelling app.",
        _extract_outliers_args,
        _extract_outliers_run,
    ),
    "merge": Command(
        "Fold refined labels in, start the next iteration and create its training dataset.", _merge_args, _merge_run
    ),
}
