"""Processors: code called with every live pose, to trigger hardware (a laser, a reward, a sound).

A processor is any object with ``process(pose, frame_time) -> None``; ``pose`` is the float32
``(individuals, keypoints, 3)`` array of :meth:`markerless.live.LiveEstimator.pose` (x, y,
likelihood) and ``frame_time`` the ``time.perf_counter()`` second the frame arrived. It runs in the
frame loop, so it must return quickly (hand slow work to a thread). Optional methods: ``start(layout)``
is called once before the first frame with the project's :class:`~markerless.model.PoseLayout`, and
``close()`` once at the end. The command line loads one with ``--processor module:Class`` (built with
no arguments: subclass :class:`RegionEvents` with your own defaults, for example).

:class:`RegionEvents` is the documented example: it writes a TTL-style event log (a line when a body
part enters a rectangular region, the rising edge, and one when it leaves, the falling edge). To drive
real hardware, override :meth:`RegionEvents.on_event` (e.g. set a serial or DAQ line high or low).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from markerless.errors import ConfigError
from markerless.model.skeleton import PoseLayout


@runtime_checkable
class Processor(Protocol):
    """Called with every pose of a live stream."""

    def process(self, pose: np.ndarray, frame_time: float) -> None:
        """React to ``pose`` (individuals, keypoints, 3) of the frame that arrived at ``frame_time``."""
        ...


class RegionEvents:
    """TTL-style events when a body part enters or leaves a rectangular region.

    ``region``: ``(x0, y0, x1, y1)`` in frame pixels; ``bodypart``: a body part name (looked up in the
    layout given to :meth:`start`) or its index along the keypoints axis; ``individual``: which animal
    (index); ``threshold``: the likelihood from which the body part counts as seen (an unseen body part
    is outside). Each event is one line ``<frame_time> <HIGH|LOW> <bodypart>`` appended to ``log``
    (flushed at once, so the file holds every event even if the program is killed) and kept in
    :attr:`events`.
    """

    def __init__(
        self,
        region: tuple[float, float, float, float] = (0.0, 0.0, 100.0, 100.0),
        bodypart: str | int = 0,
        log: str | Path | None = "region-events.log",
        individual: int = 0,
        threshold: float = 0.6,
    ) -> None:
        x0, y0, x1, y1 = (float(v) for v in region)
        if not (x1 > x0 and y1 > y0):
            raise ConfigError(f"The region must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {region}.")
        self.region = (x0, y0, x1, y1)
        self.bodypart = bodypart
        self.individual = individual
        self.threshold = threshold
        self.index = bodypart if isinstance(bodypart, int) else None
        self.name = str(bodypart)
        self.inside = False
        self.events: list[tuple[float, str]] = []
        self.log = Path(log) if log is not None else None
        self._file: Any = None

    def start(self, layout: PoseLayout) -> None:
        """Resolve the body part's name in ``layout`` and open the log."""
        if isinstance(self.bodypart, str):
            self.index = layout.keypoint_index(self.bodypart)
        else:
            self.name = layout.keypoint_names[self.bodypart]
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.log.open("a", encoding="utf-8")

    def process(self, pose: np.ndarray, frame_time: float) -> None:
        """Emit HIGH on entering the region and LOW on leaving it."""
        index = self.index if self.index is not None else 0
        x, y, likelihood = pose[self.individual, index]
        x0, y0, x1, y1 = self.region
        inside = bool(likelihood >= self.threshold and x0 <= x <= x1 and y0 <= y <= y1)
        if inside != self.inside:
            self.inside = inside
            self.on_event(frame_time, "HIGH" if inside else "LOW")

    def on_event(self, frame_time: float, level: str) -> None:
        """Record one edge; override to drive hardware (keep the call to this method for the log)."""
        self.events.append((frame_time, level))
        if self._file is not None:
            self._file.write(f"{frame_time:.6f} {level} {self.name}\n")
            self._file.flush()

    def close(self) -> None:
        """Close the log (a region still entered gets its LOW edge first)."""
        if self.inside:
            self.inside = False
            self.on_event(time.perf_counter(), "LOW")
        if self._file is not None:
            self._file.close()
            self._file = None
