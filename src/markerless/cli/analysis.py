"""``markerless analyze`` and ``export``: parse, call the API, print the paths written."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from markerless.analysis.backends import BACKEND_CHOICES, PRECISIONS
from markerless.analysis.options import DEFAULT_BATCH, AnalysisOptions
from markerless.cli import Command, typed_options
from markerless.cli.training import _number
from markerless.nets.device import DEVICES

_DEFAULTS = AnalysisOptions()


def _add_analyze_args(p: argparse.ArgumentParser) -> None:
    suppress = argparse.SUPPRESS  # only typed options are passed on: the defaults live in AnalysisOptions
    p.add_argument("config", help="the project's config.yaml (or its folder)")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of videos")
    p.add_argument("--shuffle", type=int, default=suppress, help="shuffle whose model analyses (default 1)")
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=suppress,
        help=f"inference engine (default {_DEFAULTS.backend}: OpenVINO on CPU, PyTorch on CUDA)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=suppress,
        help=f"frames per batch, 1 or more (default {DEFAULT_BATCH['cpu']} on CPU, {DEFAULT_BATCH['cuda']} on CUDA)",
    )
    p.add_argument("--device", choices=DEVICES, default=suppress, help=f"where to run (default {_DEFAULTS.device})")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=suppress,
        help=f"arithmetic (default {_DEFAULTS.precision}: bf16 for OpenVINO on bf16 CPUs, fp16 on CUDA, else fp32)",
    )
    p.add_argument(
        "--scheduler",
        default=suppress,
        metavar="ADDRESS",
        help="Dask scheduler address (tcp://host:8786), or 'local' for a local cluster",
    )
    p.add_argument("--dest", default=suppress, help="folder for the results (default: beside each video)")
    p.add_argument("--save-as-csv", action="store_true", default=suppress, help="also write a .csv beside each .h5")
    p.add_argument(
        "--snapshot", default=suppress, help="snapshot file to use (default: the shuffle's model, its last snapshot)"
    )
    p.add_argument(
        "--overwrite", action="store_true", default=suppress, help="analyse again videos that already have results"
    )
    p.add_argument(
        "--tracking-crop",
        action=argparse.BooleanOptionalAction,
        default=suppress,
        help="analyse a window that follows the animal (multi-animal: holds all of them) instead of whole frames; "
        "frames where it loses one are analysed whole (default: on the CPU when the window is at most 60%% of the "
        "frame; multi-animal: when the recipe has a window for the group, else give --crop-size W H)",
    )
    p.add_argument(
        "--crop-size",
        type=int,
        nargs=2,
        default=suppress,
        metavar=("W", "H"),
        help="tracking-crop window in frame pixels (default: the recipe's analysis window, else the training crop "
        "plus a sixth, over the input scale)",
    )
    p.add_argument(
        "--track",
        action=argparse.BooleanOptionalAction,
        default=suppress,
        help="give a multi-animal video's animals identities over time, written as <video><scorer>_el.h5 "
        "(default: on; --no-track keeps each frame's animals in the order found, in <video><scorer>.h5)",
    )
    p.add_argument(
        "--n-animals",
        type=int,
        default=suppress,
        metavar="N",
        help="animals in the videos, for tracking (default: the project's number of individuals)",
    )

    p.add_argument(
        "--ensemble",
        type=_number(int, 2, True, "an integer >= 2"),
        default=suppress,
        metavar="N",
        help="analyse with each of N ensemble members (shuffles SHUFFLE..SHUFFLE+N-1), then write the "
        "ensemble Kalman smoother's <first member's file>_eks.h5",
    )
    p.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        default=True,
        help="skip the jitter / plausibility line (on stderr) and <file>_plausibility.json of each result",
    )


def print_plausibility(config: str, paths: list[Path]) -> None:
    """Print one jitter / plausibility line per prediction file (stderr); write its JSON unless it is current."""
    from markerless.project.project import Project
    from markerless.results.video_plausibility import (
        LabelFits,
        current_plausibility,
        label_fits,
        plausibility_line,
        prediction_plausibility,
    )

    project: Project | None = None
    fits: LabelFits | None = None
    for path in paths:
        report = current_plausibility(path)
        if report is None:
            project = project or Project.load(config)
            fits = fits or label_fits(project)
            report = prediction_plausibility(project, path, fits=fits)
        print(f"plausibility: {plausibility_line(report)}", file=sys.stderr)


def _run_analyze(args: argparse.Namespace) -> int:
    options = typed_options(args, "config", "videos", "ensemble", "report")
    if "ensemble" in vars(args):
        from markerless.training.ensemble import analyze_ensemble

        result = analyze_ensemble(args.config, args.videos, members=args.ensemble, **options)
        paths = [path for member in result.members for path in member] + list(result.eks)
    else:
        from markerless.analysis.analyze import analyze

        paths = list(analyze(args.config, args.videos, **options))
    for path in paths:
        print(path)
    if args.report:
        print_plausibility(args.config, paths)
    return 0


def _add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="the project's config.yaml (or its folder)")
    suppress = argparse.SUPPRESS
    p.add_argument("--shuffle", type=int, default=suppress, help="shuffle whose model to export (default 1)")
    p.add_argument("--format", choices=["onnx", "openvino"], default=suppress, help="export format (default onnx)")
    p.add_argument(
        "--snapshot", default=suppress, help="snapshot file to export (default: the shuffle's model, its last snapshot)"
    )
    p.add_argument(
        "--frame-size",
        type=int,
        nargs=2,
        default=suppress,
        metavar=("W", "H"),
        help="frame size the model takes (default: that of the project's first video)",
    )


def _run_export(args: argparse.Namespace) -> int:
    from markerless.analysis.export import export

    options = typed_options(args, "config")
    if "frame_size" in options:
        options["frame_size"] = tuple(options["frame_size"])
    print(export(args.config, **options))
    return 0


COMMANDS = {
    "analyze": Command(
        "Predict poses in videos with a trained shuffle (writes <video><scorer>.h5; tracked multi-animal: _el.h5)",
        _add_analyze_args,
        _run_analyze,
    ),
    "export": Command(
        "Export a trained shuffle's model to ONNX or OpenVINO for deployment", _add_export_args, _run_export
    ),
}
