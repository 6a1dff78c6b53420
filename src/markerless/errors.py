"""Exception types raised by markerless.

Every error a user can cause derives from :class:`MarkerlessError`; its message says what went
wrong *and what to do about it*. Library exceptions (OpenCV, pandas, PyTables...) are caught at the
boundary and re-raised as one of these, with the offending file named.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


class MarkerlessError(Exception):
    """Base class of every error markerless raises on purpose."""


class ConfigError(MarkerlessError):
    """A project or 3D configuration file is missing, malformed or inconsistent."""


class LabelFileError(MarkerlessError):
    """A label or prediction file (DeepLabCut .h5/.csv, SLEAP, ...) cannot be read or is inconsistent."""


class VideoError(MarkerlessError):
    """A video is missing, unreadable, truncated or has no frames."""


class ProjectError(MarkerlessError):
    """The project folder is not in the state the command needs (missing labels, datasets, models...)."""


class TrainingError(MarkerlessError):
    """Training cannot start or continue (no data, bad recipe, incompatible snapshot...)."""


class RecipeError(TrainingError):
    """A training recipe has an unknown key, a value of the wrong type or one out of range."""


class ModelError(MarkerlessError):
    """A model name, checkpoint or exported model is unknown or cannot be loaded."""


class DeviceError(MarkerlessError):
    """A compute device was asked for that is unknown or not available on this machine."""


class CalibrationError(MarkerlessError):
    """Camera calibration failed (too few board detections, inconsistent cameras...)."""


class ConflictError(MarkerlessError):
    """A write was based on an outdated version of a file (another writer changed it first)."""


def did_you_mean(name: str, valid: Iterable[str] | Mapping[str, str]) -> str:
    """The end of a message about an unknown ``name``: the closest valid name, else all of them.

    ``valid`` may map each name to how the message shows it (e.g. its full path).
    """
    shown = dict(valid) if isinstance(valid, Mapping) else {v: v for v in valid}
    match = difflib.get_close_matches(name, list(shown), n=1)
    return f"did you mean '{shown[match[0]]}'?" if match else f"valid names: {', '.join(sorted(set(shown.values())))}."
