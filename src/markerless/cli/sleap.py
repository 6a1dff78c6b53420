"""SLEAP commands: import-sleap (a .slp labels file as a new project), export-sleap (labels and predictions to .slp)."""

from __future__ import annotations

import argparse

from markerless.cli import Command, typed_options


# --- import-sleap -----------------------------------------------------------------------------------
def _import_sleap_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("labels_file", metavar="LABELS.slp", help="SLEAP labels file (its user-labelled frames)")
    p.add_argument(
        "--video",
        dest="videos",
        metavar="VIDEO",
        action="append",
        default=argparse.SUPPRESS,
        help="the labelled video, when it is not where the .slp file says (repeat once per video of the file, "
        "in its order)",
    )
    p.add_argument(
        "--working-directory",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where to create the project folder NAME-EXPERIMENTER-DATE (default: current folder)",
    )
    p.add_argument(
        "--project",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="the project's task name (default: the .slp file's name)",
    )
    p.add_argument(
        "--experimenter",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="the scorer of the labels (default 'sleap')",
    )
    p.add_argument(
        "--frames",
        nargs="+",
        metavar="F",
        default=argparse.SUPPRESS,
        help="import only these frames: numbers, start:stop[:step] ranges or a JSON split file "
        "(its train_frames and test_frames); default every labelled frame",
    )
    p.add_argument(
        "--copy-videos",
        action="store_true",
        default=argparse.SUPPRESS,
        help="copy the videos into the project instead of linking them",
    )


def _import_sleap_run(args: argparse.Namespace) -> int:
    from markerless.labelling.sleap import import_sleap, parse_frames

    options = typed_options(args, "labels_file")
    if "frames" in options:
        options["frames"] = parse_frames(options["frames"])
    print(import_sleap(args.labels_file, **options))
    return 0


# --- export-sleap -----------------------------------------------------------------------------------
def _export_sleap_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml")
    p.add_argument(
        "--predictions",
        nargs="+",
        metavar="H5",
        default=argparse.SUPPRESS,
        help="prediction files of the project's videos to add as predicted instances",
    )
    p.add_argument("--output", required=True, metavar="OUT.slp", help="the SLEAP file to write")


def _export_sleap_run(args: argparse.Namespace) -> int:
    from markerless.labelling.sleap import export_sleap

    print(export_sleap(args.config, args.output, **typed_options(args, "config", "output")))
    return 0


COMMANDS: dict[str, Command] = {
    "import-sleap": Command(
        "Create a project from a SLEAP .slp labels file (frames written from the video); prints its config.yaml.",
        _import_sleap_args,
        _import_sleap_run,
    ),
    "export-sleap": Command(
        "Write the project's labels (and prediction files) to a SLEAP .slp file for proofreading in SLEAP.",
        _export_sleap_args,
        _export_sleap_run,
    ),
}
