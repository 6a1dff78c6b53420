"""The settings of the prediction filters, with their defaults: the one place they are set and checked.

Kept apart from :mod:`markerless.results.filters` (no SciPy import) so that the command line can show
the defaults in its help.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from markerless.errors import ConfigError, did_you_mean

METHODS: tuple[str, ...] = ("median", "savgol", "kalman", "none")


@dataclass(frozen=True)
class FilterSettings:
    """How :func:`markerless.results.filters.filter_poses` smooths predictions.

    Attributes:
        method: ``"median"`` (running median over ``window`` frames), ``"savgol"`` (Savitzky-Golay,
            polynomial of order ``polyorder`` over ``window`` frames), ``"kalman"`` (constant-velocity
            Kalman filter + RTS smoother) or ``"none"`` (threshold and gap filling only).
        window: odd number of frames of the median and Savitzky-Golay filters.
        polyorder: polynomial order of the Savitzky-Golay filter (< ``window``).
        p_bound: points with a likelihood under it are treated as missing.
        max_gap: longest run of missing frames that is filled; longer ones stay NaN.
        measurement_noise: Kalman measurement noise in pixels (None: estimated from the data).
        process_noise: Kalman random acceleration in pixels/frame² (None: estimated from the data).
    """

    method: str = "median"
    window: int = 5
    polyorder: int = 2
    p_bound: float = 0.01
    max_gap: int = 10
    measurement_noise: float | None = None
    process_noise: float | None = None

    def __post_init__(self) -> None:
        method, window, polyorder = self.method, self.window, self.polyorder
        if method not in METHODS:
            raise ConfigError(f"Unknown filter method {method!r}; use one of {', '.join(METHODS)}.")
        if method in ("median", "savgol") and (window < 1 or window % 2 == 0):
            raise ConfigError(f"The filter window must be an odd number of frames >= 1; got {window}.")
        if method == "savgol" and not 0 <= polyorder < window:
            raise ConfigError(
                f"The Savitzky-Golay polynomial order must be >= 0 and < the window ({window}); got {polyorder}."
            )
        if self.max_gap < 0:
            raise ConfigError(f"The maximum gap to fill must be >= 0 frames; got {self.max_gap}.")
        if not 0.0 <= self.p_bound <= 1.0:
            raise ConfigError(f"The likelihood threshold p_bound must lie in [0, 1]; got {self.p_bound}.")

    def replace(self, **overrides: Any) -> FilterSettings:
        """A copy with some settings changed; an unknown name raises a ConfigError naming the closest one."""
        names = [f.name for f in dataclasses.fields(self)]
        for key in overrides:
            if key not in names:
                raise ConfigError(f"Unknown filter setting {key!r}; {did_you_mean(key, names)}")
        return dataclasses.replace(self, **overrides) if overrides else self

    def record(self) -> dict[str, Any]:
        """The settings as stored in the filtered poses' metadata (the noise levels for Kalman only)."""
        record = dataclasses.asdict(self)
        if self.method != "kalman":
            del record["measurement_noise"], record["process_noise"]
        return record


def filter_settings(settings: FilterSettings | None = None, **overrides: Any) -> FilterSettings:
    """``settings`` (default: every default) with ``overrides`` applied and checked."""
    return (settings or FilterSettings()).replace(**overrides)


__all__ = ["METHODS", "FilterSettings", "filter_settings"]
