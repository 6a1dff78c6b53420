"""Project commands: create-project, import-labels, add-videos, extract-frames, check-labels, synthetic, demo."""

from __future__ import annotations

import argparse

from markerless.cli import Command, typed_options


# --- create-project -------------------------------------------------------------------------------
def _create_project_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", metavar="TASK", help="short name of the experiment, e.g. 'openfield'")
    p.add_argument(
        "experimenter", metavar="EXPERIMENTER", help="who labels the frames (the scorer name in label files)"
    )
    p.add_argument("videos", metavar="VIDEO", nargs="+", help="video files (or folders of videos) to track")
    p.add_argument(
        "--working-directory",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where to create the project folder TASK-EXPERIMENTER-DATE (default: current folder)",
    )
    p.add_argument(
        "--multi-animal",
        action="store_true",
        default=argparse.SUPPRESS,
        help="several animals per video (adds individuals)",
    )
    p.add_argument(
        "--individuals",
        nargs="+",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="names of the animals of a multi-animal project (default individual1..3)",
    )
    p.add_argument(
        "--bodyparts",
        nargs="+",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="body parts to label (default placeholders you can edit in config.yaml)",
    )
    p.add_argument(
        "--copy-videos",
        action="store_true",
        default=argparse.SUPPRESS,
        help="copy videos into the project instead of linking them",
    )


def _create_project_run(args: argparse.Namespace) -> int:
    from markerless.project.project import create_project

    config = create_project(
        args.task, args.experimenter, args.videos, **typed_options(args, "task", "experimenter", "videos")
    )
    print(config)
    return 0


# --- add-videos ----------------------------------------------------------------------------------
def _add_videos_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml")
    p.add_argument("videos", metavar="VIDEO", nargs="+", help="video files (or folders of videos) to add")
    p.add_argument(
        "--copy-videos",
        action="store_true",
        default=argparse.SUPPRESS,
        help="copy videos into the project instead of linking them",
    )


def _add_videos_run(args: argparse.Namespace) -> int:
    from markerless.project.project import add_videos

    for path in add_videos(args.config, args.videos, **typed_options(args, "config", "videos")):
        print(path)
    return 0


# --- extract-frames ---------------------------------------------------------------------------------
def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction of the video between 0 and 1")
    return value


def _extract_frames_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml")
    p.add_argument(
        "--algo",
        choices=("uniform", "kmeans"),
        default=argparse.SUPPRESS,
        help="uniform: random frames spread over the video; kmeans: frames that look different "
        "from each other (default)",
    )
    p.add_argument(
        "--num-frames",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="frames to extract per video (default: numframes2pick in config.yaml)",
    )
    p.add_argument(
        "--start",
        type=_fraction,
        metavar="F",
        default=argparse.SUPPRESS,
        help="start of the window to pick from, as a fraction of the video (default: config 'start')",
    )
    p.add_argument(
        "--stop",
        type=_fraction,
        metavar="F",
        default=argparse.SUPPRESS,
        help="end of the window to pick from, as a fraction of the video (default: config 'stop')",
    )
    p.add_argument(
        "--seed",
        type=int,
        metavar="S",
        default=argparse.SUPPRESS,
        help="random seed, for reproducible picks (default 0)",
    )


def _extract_frames_run(args: argparse.Namespace) -> int:
    from markerless.labelling.frames import extract_frames

    result = extract_frames(args.config, **typed_options(args, "config"))
    if isinstance(result, dict):
        for key, value in result.items():
            print(f"{key}: {len(value) if hasattr(value, '__len__') else value} new frames")
    elif isinstance(result, list | tuple):
        print(f"{len(result)} frames extracted")
    return 0


# --- check-labels ----------------------------------------------------------------------------------
def _check_labels_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="the project's config.yaml")
    p.add_argument(
        "--no-skeleton",
        dest="draw_skeleton",
        action="store_false",
        default=argparse.SUPPRESS,
        help="draw only the points, not the skeleton lines",
    )
    p.add_argument(
        "--color-by",
        choices=("bodypart", "individual"),
        default=argparse.SUPPRESS,
        help="one colour per body part (default) or per animal (multi-animal projects)",
    )


def _check_labels_run(args: argparse.Namespace) -> int:
    from markerless.labelling.check_labels import check_labels

    written = check_labels(args.config, **typed_options(args, "config"))
    folders = sorted({str(p.parent) for p in written})
    print(f"{len(written)} labelled frames drawn into: " + ", ".join(folders))
    return 0


# --- synthetic ---------------------------------------------------------------------------------------
def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 320x240 (width x height)") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r} must be positive")
    return width, height


def _synthetic_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dest", metavar="DEST", help="folder to create the project in")
    p.add_argument(
        "--animals",
        dest="n_animals",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="animals per video (default 1)",
    )
    p.add_argument(
        "--frames",
        dest="n_frames",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="frames of the rendered video (default 200)",
    )
    p.add_argument(
        "--labelled",
        dest="n_labelled",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="frames written as labelled images with exact ground truth (default 40)",
    )
    p.add_argument("--size", type=_size, metavar="WxH", default=argparse.SUPPRESS, help="video size (default 320x240)")
    p.add_argument(
        "--seed",
        type=int,
        metavar="S",
        default=argparse.SUPPRESS,
        help="random seed: same seed, same project (default 0)",
    )


def _synthetic_run(args: argparse.Namespace) -> int:
    from markerless.synthetic import make_synthetic_project

    config = make_synthetic_project(args.dest, **typed_options(args, "dest"))
    print(config)
    return 0


# --- demo ----------------------------------------------------------------------------------------------
def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--output",
        metavar="DIR",
        default=None,
        help="folder for the demo project, replaced if it exists (default: ./demo-output)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="training epochs; the demo gives the same errors on any load (default 75: sub-pixel errors in about 3 minutes)",
    )
    p.add_argument(
        "--seed",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="seed of the synthetic video, frame extraction, split and training (default 0)",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        default=argparse.SUPPRESS,
        help="torch threads of training and evaluation (default 1: the same errors on any machine; "
        "more are faster on a quiet machine and change the errors slightly)",
    )


def _demo_run(args: argparse.Namespace) -> int:
    from markerless.synthetic.demo import demo

    options = typed_options(args, "output")
    result = demo(args.output, **options) if args.output is not None else demo(**options)
    if isinstance(result, dict) and "config" in result:
        print(result["config"])
    elif result is not None:
        print(result)
    return 0


# --- import-labels --------------------------------------------------------------------------------
def _import_labels_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("csv", metavar="CSV", help="labels in DeepLabCut's single-animal CSV layout (CollectedData.csv)")
    p.add_argument(
        "--videos", metavar="DIR", default=argparse.SUPPRESS, help="videos of the set-up (default: videos/ beside CSV)"
    )
    p.add_argument(
        "--working-directory",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where to create the project folder (default: current folder)",
    )
    p.add_argument("--task", default=argparse.SUPPRESS, help="the project's task name (default: the CSV's folder)")
    p.add_argument("--experimenter", default=argparse.SUPPRESS, help="the scorer (default: the CSV's scorer)")
    p.add_argument(
        "--folder",
        default=argparse.SUPPRESS,
        help="labeled-data folder for images listed without one (default: the task name)",
    )


def _import_labels_run(args: argparse.Namespace) -> int:
    from markerless.project.import_labels import import_labels

    config = import_labels(args.csv, **typed_options(args, "csv"))
    print(config)
    return 0


COMMANDS: dict[str, Command] = {
    "create-project": Command(
        "Create a project folder (DeepLabCut layout) for some videos; prints its config.yaml.",
        _create_project_args,
        _create_project_run,
    ),
    "import-labels": Command(
        "Create a project from a DeepLabCut-style CollectedData.csv with its images and videos (e.g. a Lightning "
        "Pose dataset); prints its config.yaml.",
        _import_labels_args,
        _import_labels_run,
    ),
    "add-videos": Command("Add videos to an existing project.", _add_videos_args, _add_videos_run),
    "extract-frames": Command(
        "Pick frames of each video to label and save them in labeled-data/<video>/.",
        _extract_frames_args,
        _extract_frames_run,
    ),
    "check-labels": Command(
        "Draw every labelled frame with its labels into labeled-data/<video>_labeled/ to check them by eye.",
        _check_labels_args,
        _check_labels_run,
    ),
    "synthetic": Command(
        "Render a synthetic project (moving animals with exact labels) for trying things out; prints its config.yaml.",
        _synthetic_args,
        _synthetic_run,
    ),
    "demo": Command(
        "Run the built-in demo end to end on synthetic data.",
        _demo_args,
        _demo_run,
    ),
}
