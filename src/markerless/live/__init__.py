"""markerless.live: poses from a live camera within milliseconds, with closed-loop hooks.

Modules: ``estimator`` (:class:`LiveEstimator`: one frame in, one pose out; dynamic crop; warm-up on
the first frame), ``forward`` (:class:`ForwardPredictor`: constant-velocity Kalman prediction to the
time of use), ``processors`` (the :class:`Processor` protocol and the :class:`RegionEvents` example),
``stream`` (frame sources on a clock, :func:`run_live`: the loop, recording, the summary).
"""

from markerless.live.estimator import LiveEstimator
from markerless.live.forward import ForwardPredictor
from markerless.live.processors import Processor, RegionEvents
from markerless.live.stream import CameraSource, LiveResult, VideoSource, live_stream, run_live

__all__ = [
    "CameraSource",
    "ForwardPredictor",
    "LiveEstimator",
    "LiveResult",
    "Processor",
    "RegionEvents",
    "VideoSource",
    "live_stream",
    "run_live",
]
