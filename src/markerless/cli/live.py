"""``markerless live``: pose a camera or a video played at its frame rate, frame by frame, and print a summary."""

from __future__ import annotations

import argparse

from markerless.analysis.backends import BACKEND_CHOICES
from markerless.cli import Command, typed_options
from markerless.nets.device import DEVICES


def _frames(text: str) -> int:
    """A frame count of 1 or more (argparse turns the ValueError into exit 2)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _add_live_args(p: argparse.ArgumentParser) -> None:
    suppress = (
        argparse.SUPPRESS
    )  # only typed options are passed on: the defaults live in markerless.live.stream.live_stream
    p.add_argument("config", help="the project's config.yaml (or its folder)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", metavar="FILE", help="a video file, played at its own frame rate")
    source.add_argument("--camera", type=int, metavar="INDEX", help="a camera by index (0: the first)")
    p.add_argument("--shuffle", type=int, default=suppress, help="shuffle whose model poses (default 1)")
    p.add_argument(
        "--snapshot",
        default=suppress,
        help="snapshot file to use (default: the shuffle's model, config.yaml's snapshotindex: the last)",
    )
    p.add_argument(
        "--record",
        metavar="DIR",
        default=suppress,
        help="write the poses (<name><scorer>.h5), the frames (<name>_frames.avi) and their times "
        "(<name>_timestamps.csv) into DIR",
    )
    p.add_argument("--display", action="store_true", default=suppress, help="show the frames with their keypoints")
    p.add_argument(
        "--max-frames", type=_frames, metavar="N", default=suppress, help="stop after N frames of the source"
    )
    p.add_argument(
        "--processor",
        dest="processors",
        action="append",
        metavar="module:Class",
        default=suppress,
        help="call Class().process(pose, frame_time) with every pose (repeatable)",
    )
    p.add_argument(
        "--forward-ms",
        type=float,
        default=suppress,
        help="hand processors the pose predicted this many ms ahead (Kalman; 0: to when the result is ready)",
    )
    p.add_argument(
        "--dynamic-crop",
        action=argparse.BooleanOptionalAction,
        default=suppress,
        help="follow the animal (every animal of a multi-animal project) in a window, falling back to the whole "
        "frame when one is lost (default: as analyze's tracking crop, on the CPU when the window is small)",
    )
    p.add_argument("--backend", choices=BACKEND_CHOICES, default=suppress, help="inference engine (default auto)")
    p.add_argument("--device", choices=DEVICES, default=suppress, help="where to run (default auto)")


def _run_live(args: argparse.Namespace) -> int:
    from markerless.live.stream import live_stream, print_summary

    options = typed_options(args, "config", "video", "camera")
    result = live_stream(args.config, video=args.video, camera=args.camera, **options)
    print_summary(result)
    return 130 if result.interrupted else 0


COMMANDS = {
    "live": Command(
        "Pose a camera or a video live, frame by frame (prints latency p50/p99 and dropped frames)",
        _add_live_args,
        _run_live,
    ),
}
