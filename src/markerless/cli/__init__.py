"""The ``markerless`` command line: thin wrappers that parse arguments, call the API and print.

Each group of commands lives in its own module exposing ``COMMANDS``, a mapping from command name to
:class:`Command`; ``WORKFLOW`` below fixes the order ``markerless --help`` lists them in.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from markerless.errors import MarkerlessError


@dataclass(frozen=True)
class Command:
    """One sub-command: its one-line help, how to add its arguments, and what it runs."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


# (command, module defining it), in workflow order
WORKFLOW: list[tuple[str, str]] = [
    ("create-project", "markerless.cli.project"),
    ("import-labels", "markerless.cli.project"),
    ("import-sleap", "markerless.cli.sleap"),
    ("add-videos", "markerless.cli.project"),
    ("extract-frames", "markerless.cli.project"),
    ("label", "markerless.cli.app"),
    ("check-labels", "markerless.cli.project"),
    ("create-training-dataset", "markerless.cli.training"),
    ("train", "markerless.cli.training"),
    ("evaluate", "markerless.cli.training"),
    ("analyze", "markerless.cli.analysis"),
    ("filter", "markerless.cli.results"),
    ("smooth", "markerless.cli.results"),
    ("create-labeled-video", "markerless.cli.results"),
    ("plot-trajectories", "markerless.cli.results"),
    ("stitch", "markerless.cli.tracking"),
    ("evaluate-tracking", "markerless.cli.tracking"),
    ("swap", "markerless.cli.tracking"),
    ("extract-outliers", "markerless.cli.app"),
    ("merge", "markerless.cli.app"),
    ("export", "markerless.cli.analysis"),
    ("live", "markerless.cli.live"),
    ("export-sleap", "markerless.cli.sleap"),
    ("create-project-3d", "markerless.cli.threed"),
    ("calibrate", "markerless.cli.threed"),
    ("triangulate", "markerless.cli.threed"),
    ("synthetic", "markerless.cli.project"),
    ("demo", "markerless.cli.project"),
]


def typed_options(args: argparse.Namespace, *leave_out: str) -> dict[str, Any]:
    """The options the user typed: those added with ``default=argparse.SUPPRESS`` are absent otherwise.

    Commands pass these as keywords to the API, so the defaults live in one place (the API) and the
    command line passes only what was typed. ``leave_out`` names arguments passed another way.
    """
    return {k: v for k, v in vars(args).items() if k not in {"command", "_run", *leave_out}}


def _available_commands() -> list[tuple[str, Command]]:
    found = []
    for name, module_name in WORKFLOW:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                continue  # group not built yet
            raise
        command = getattr(module, "COMMANDS", {}).get(name)
        if command is not None:
            found.append((name, command))
    return found


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``markerless`` with every available sub-command."""
    from markerless import __version__

    parser = argparse.ArgumentParser(
        prog="markerless",
        description="Markerless pose estimation of animals in video. Commands in workflow order:",
    )
    parser.add_argument("--version", action="version", version=f"markerless {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in _available_commands():
        p = sub.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(_run=command.run)
    return parser


def _format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """Warnings as one ``markerless: warning: ...`` line, without the Python source line that raised them."""
    return f"markerless: warning: {message}\n"


def _quiet_opencv() -> None:
    """No raw OpenCV/FFmpeg ``[ WARN ]``/``[ERROR]`` lines: our own errors and warnings name the file and the fix."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # read when cv2 is first imported
    if "cv2" in sys.modules:
        logging = sys.modules["cv2"].utils.logging
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``markerless`` executable."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _format_warning
    _quiet_opencv()
    try:
        return int(args._run(args) or 0)
    except MarkerlessError as err:
        text = " ".join(part.strip() for part in str(err).splitlines() if part.strip())  # one line
        print(f"markerless {args.command}: error: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"markerless {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = formatwarning


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
