"""3D commands: create-project-3d, calibrate, triangulate."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from markerless.cli import Command


# --- create-project-3d ----------------------------------------------------------------------------
def _create_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", metavar="TASK", help="short name of the experiment")
    p.add_argument("experimenter", metavar="EXPERIMENTER", help="your name (the scorer)")
    p.add_argument(
        "cameras", metavar="CAMERA", nargs="+", help="camera names (at least two), as they appear in file names"
    )
    p.add_argument("--working-directory", metavar="DIR", default=None, help="where to create TASK-EXPERIMENTER-DATE-3d")
    _board_args(p, defaults=True)


def _create_run(args: argparse.Namespace) -> int:
    from markerless.threed.boards import Board
    from markerless.threed.config3d import create_project_3d

    board = Board(
        args.board or "checkerboard",
        args.rows or 6,
        args.cols or 9,
        args.square_size or 1.0,
        args.marker_size,
        dictionary=args.dictionary or "DICT_4X4_50",
        legacy_pattern=bool(args.legacy_pattern),
        unit=args.unit or "mm",
    )
    print(create_project_3d(args.task, args.experimenter, args.cameras, args.working_directory, board=board))
    return 0


# --- calibrate ------------------------------------------------------------------------------------
def _board_args(p: argparse.ArgumentParser, defaults: bool = False) -> None:
    where = " (default: from the 3D config)" if not defaults else ""
    p.add_argument("--board", choices=["checkerboard", "charuco"], default=None, help=f"board type{where}")
    p.add_argument(
        "--rows", type=int, default=None, help=f"checkerboard: inner corners along y; ChArUco: squares along y{where}"
    )
    p.add_argument(
        "--cols", type=int, default=None, help=f"checkerboard: inner corners along x; ChArUco: squares along x{where}"
    )
    p.add_argument("--square-size", type=float, default=None, help=f"side of a square, in your length unit{where}")
    p.add_argument("--marker-size", type=float, default=None, help="ChArUco marker side (default 0.75 square)")
    p.add_argument(
        "--dictionary",
        metavar="DICT",
        default=None,
        help=f"ChArUco: the ArUco dictionary the board was printed with, e.g. DICT_5X5_100 (default DICT_4X4_50){where}",
    )
    p.add_argument(
        "--unit", default=None, help=f"length unit of --square-size, written into calibration.toml (default mm){where}"
    )
    p.add_argument(
        "--legacy-pattern",
        action="store_true",
        default=None,
        help="ChArUco board printed by OpenCV < 4.6 or aniposelib",
    )


def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG3D", help="the 3D project's config.yaml")
    _board_args(p)
    p.add_argument("--every", type=int, default=None, help="look at every n-th frame of calibration videos")
    p.add_argument("--no-bundle-adjustment", action="store_true", help="skip the joint refinement")


def _calibrate_run(args: argparse.Namespace) -> int:
    from markerless.threed.api import calibrate
    from markerless.threed.calibration_io import load_calibration

    path = calibrate(
        args.config,
        board=args.board,
        rows=args.rows,
        cols=args.cols,
        square_size=args.square_size,
        marker_size=args.marker_size,
        legacy_pattern=args.legacy_pattern,
        every=args.every,
        bundle_adjustment=not args.no_bundle_adjustment,
        dictionary=args.dictionary,
        unit=args.unit,
    )
    group = load_calibration(path)
    if group.metadata.get("video_every"):
        n = group.metadata["video_every"]
        print(f"note: looked at 1 frame in {n} of the calibration videos (calibration_every; --every 1 for all)")
    errors = group.metadata.get("camera_errors", [])
    print(f"camera  reprojection error (px, mean); lengths in {group.metadata.get('unit', 'board units')}")
    for cam, err in zip(group.names, errors):
        print(f"{cam}  {err:.3f}")
    if group.metadata.get("warning"):
        print(f"warning: {group.metadata['warning']}")
    print(path)
    return 0


# --- triangulate ----------------------------------------------------------------------------------
def _triangulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG3D", help="the 3D project's config.yaml")
    p.add_argument(
        "predictions",
        metavar="PRED",
        nargs="*",
        help="2D prediction files (.h5, .csv or SLEAP .slp), one per camera and recording (file names contain the "
        "camera name as a word, e.g. trial1_cam1DLC_....h5)",
    )
    p.add_argument(
        "--videos",
        nargs="+",
        metavar="VIDEO",
        default=None,
        help="videos to analyse with each camera's 2D project first",
    )
    p.add_argument("--dest", metavar="DIR", default=None, help="output folder (default: beside the 2D files)")
    p.add_argument(
        "--pcutoff",
        action="append",
        metavar="[CAMERA=]VALUE",
        default=None,
        help="score cut-off for every camera, or CAMERA=VALUE for one (repeatable; default: the config's "
        "pcutoff_<camera>, pcutoff_sleap for .slp files, else pcutoff)",
    )
    p.add_argument(
        "--ransac-threshold",
        type=float,
        default=None,
        help="pixels; views farther than this from the best two-camera point are dropped (default: the config's "
        "triangulation: ransac_threshold)",
    )
    p.add_argument("--no-ransac", action="store_true", help="use every view above the cut-off")
    p.add_argument("--smooth", type=int, default=None, help="running-median window over frames for the 3D tracks")
    p.add_argument("--save-as-csv", action="store_true", help="also write <name>_3D.csv")


def _pcutoffs(values: list[str] | None) -> float | dict[str, float] | None:
    """``--pcutoff`` values: one number, or ``CAMERA=VALUE`` entries (a bare number then applies to the others)."""
    from markerless.errors import ConfigError

    if not values:
        return None
    out: dict[str, float] = {}
    for value in values:
        camera, _, number = value.rpartition("=")
        try:
            out[camera or "*"] = float(number)
        except ValueError:
            raise ConfigError(f"--pcutoff {value}: give a number (0.4) or CAMERA=NUMBER (cam1=0.2).") from None
    return out["*"] if list(out) == ["*"] else out


def _triangulate_run(args: argparse.Namespace) -> int:
    from markerless.errors import ConfigError
    from markerless.threed.api import summarize_3d, triangulate_project

    if not args.predictions and not args.videos:
        raise ConfigError("Give 2D prediction files (PRED...) or --videos.")
    kwargs: dict[str, Any] = {}
    if args.no_ransac:
        kwargs["ransac_threshold"] = None
    elif args.ransac_threshold is not None:
        kwargs["ransac_threshold"] = args.ransac_threshold
    if args.smooth is not None:
        kwargs["smooth"] = args.smooth
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        outputs = triangulate_project(
            args.config,
            args.predictions,
            args.videos,
            dest=args.dest,
            pcutoff=_pcutoffs(args.pcutoff),
            save_as_csv=args.save_as_csv,
            **kwargs,
        )
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    for path in outputs:
        print(summarize_3d(path))
    return 0


COMMANDS = {
    "create-project-3d": Command(
        "create a 3D project (config.yaml naming the cameras and the board)", _create_args, _create_run
    ),
    "calibrate": Command(
        "calibrate the cameras of a 3D project from board images or videos", _calibrate_args, _calibrate_run
    ),
    "triangulate": Command(
        "triangulate 2D predictions of several cameras into <name>_3D.h5", _triangulate_args, _triangulate_run
    ),
}
