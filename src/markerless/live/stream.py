"""A live stream: frames as they arrive -> poses -> processors, recorded as DeepLabCut files.

Frame sources deliver frames on a clock: a camera at its own pace, a video file at its frame rate
(:class:`VideoSource`, so a test on a file is honest about frames arriving on time). A backlog never
builds up: when the loop is busy while frames come due, the source skips to the newest frame and
counts the ones it skipped as dropped. :func:`run_live` runs the loop: pose of each frame, optional
forward prediction, every processor (one that raises is reported once, its traceback saved to the
log, and the stream goes on), and recording (poses to ``<name><scorer>.h5``, frames to
``<name>_frames.avi`` and their times to ``<name>_timestamps.csv``). Ctrl-C stops the loop cleanly:
what was recorded is written.
"""

from __future__ import annotations

import gc
import importlib
import math
import queue
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import cv2
import numpy as np

from markerless.errors import ConfigError, VideoError
from markerless.io.atomic import write_text
from markerless.io.dlc import write_predictions
from markerless.io.video import ColorOrder, VideoWriter
from markerless.live.estimator import LiveEstimator
from markerless.live.forward import ForwardPredictor
from markerless.live.processors import Processor
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout
from markerless.project.project import Project


class FrameSource(Protocol):
    """Frames as they arrive: ``(frame index, uint8 (H, W, 3) frame, arrival time in perf_counter s)``."""

    name: str
    fps: float | None
    dropped: int

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, float]]: ...

    def restart_clock(self) -> None: ...

    def close(self) -> None: ...


def _to_color(frame: np.ndarray, color: ColorOrder) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if color == "rgb" else frame


class VideoSource:
    """A video file played at its frame rate: frame ``i`` arrives ``i / fps`` s after the first.

    Reading the next frame when later ones are already due skips to the newest due frame (the
    skipped ones count in :attr:`dropped`); reading early waits for the frame's time.
    ``realtime=False`` delivers every frame at once (no clock, nothing dropped: for comparisons).
    """

    def __init__(self, path: str | Path, color: ColorOrder = "bgr", realtime: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"The video {self.path} does not exist; check the path.")
        self.capture = cv2.VideoCapture(str(self.path))
        if not self.capture.isOpened():
            raise VideoError(f"Cannot open the video {self.path}; check that it plays, or re-encode it.")
        fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float | None = fps if fps > 0 and math.isfinite(fps) else None
        if realtime and self.fps is None:
            raise VideoError(f"{self.path} states no frame rate, so it cannot be played in real time; re-encode it.")
        self.name = self.path.stem
        self.color: ColorOrder = color
        self.realtime = realtime
        self.dropped = 0
        self._start: float | None = None  # perf_counter time frame 0 was due
        self._index = 0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, float]]:
        index = 0
        while True:
            if self.realtime and self._start is not None and self.fps:
                newest = int((time.perf_counter() - self._start) * self.fps)
                if newest > index:  # busy while frames came due: skip to the newest
                    for _ in range(newest - index):
                        if not self.capture.grab():
                            return
                        self.dropped += 1
                    index = newest
                else:
                    time.sleep(max(0.0, self._start + index / self.fps - time.perf_counter()))
            ok, frame = self.capture.read()
            if not ok:
                return
            now = time.perf_counter()
            if self._start is None:
                self._start = now
            due = self._start + index / self.fps if (self.realtime and self.fps) else now
            self._index = index
            yield index, _to_color(frame, self.color), min(due, now)
            index += 1

    def restart_clock(self) -> None:
        """Make the frame just delivered due now (after a warm-up, which is not the stream's time)."""
        if self.fps:
            self._start = time.perf_counter() - self._index / self.fps

    def close(self) -> None:
        """Release the file."""
        self.capture.release()


class CameraSource:
    """A camera by index (``cv2.VideoCapture``), newest frame first (a one-frame buffer).

    Frames the camera delivered while the loop was busy are lost; :attr:`dropped` estimates them from
    the gaps between arrival times at the camera's frame rate.
    """

    def __init__(self, index: int, color: ColorOrder = "bgr") -> None:
        self.capture = cv2.VideoCapture(int(index))
        if not self.capture.isOpened():
            self.capture.release()
            raise VideoError(
                f"Camera {index} cannot be opened: there is no such camera, or another program uses it; "
                "check the index (0 is the first camera) and that the camera is connected."
            )
        self.capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float | None = fps if fps > 0 and math.isfinite(fps) else None
        self.name = f"camera{index}"
        self.color: ColorOrder = color
        self.dropped = 0
        self._last: float | None = None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, float]]:
        index = 0
        while True:
            ok, frame = self.capture.read()
            if not ok:
                return
            now = time.perf_counter()
            if self._last is not None and self.fps:
                missed = max(0, round((now - self._last) * self.fps) - 1)
                self.dropped += missed
                index += missed
            self._last = now
            yield index, _to_color(frame, self.color), now
            index += 1

    def restart_clock(self) -> None:
        """Do not count frames missed until now (during a warm-up) as dropped."""
        self._last = None

    def close(self) -> None:
        """Release the camera."""
        self.capture.release()


@dataclass
class LiveResult:
    """What a live run did: frames posed, frames dropped, per-frame times and the files written."""

    frames: int = 0
    dropped: int = 0
    latencies: np.ndarray = field(default_factory=lambda: np.zeros(0))  # s, pose() per frame
    delays: np.ndarray = field(default_factory=lambda: np.zeros(0))  # s, arrival -> result per frame
    files: list[Path] = field(default_factory=list)
    processor_errors: dict[str, int] = field(default_factory=dict)
    log: Path | None = None
    interrupted: bool = False
    window_fraction: float | None = None
    warmup_seconds: float = 0.0

    def percentile_ms(self, q: float, of: str = "latencies") -> float:
        """The ``q``-th percentile of ``latencies`` (or ``delays``) in ms (NaN without frames)."""
        values = getattr(self, of)
        return float(np.percentile(values, q) * 1000) if len(values) else float("nan")

    def summary(self) -> str:
        """One line: frames, dropped, latency p50/p90/p99, frame-to-result p50/p99, frames/s."""
        total = self.frames + self.dropped
        fps = 1.0 / float(np.mean(self.latencies)) if len(self.latencies) else 0.0
        parts = [
            f"{self.frames} frames",
            f"dropped {self.dropped} ({self.dropped / total:.1%})" if total else "dropped 0",
            f"latency p50 {self.percentile_ms(50):.1f} ms p90 {self.percentile_ms(90):.1f} ms "
            f"p99 {self.percentile_ms(99):.1f} ms ({fps:.0f} frames/s)",
            f"frame to result p50 {self.percentile_ms(50, 'delays'):.1f} ms p99 {self.percentile_ms(99, 'delays'):.1f} ms",
        ]
        if self.window_fraction is not None:
            parts.append(f"dynamic crop kept {self.window_fraction:.0%}")
        if self.processor_errors:
            parts.append("processor errors " + ", ".join(f"{k} x{v}" for k, v in self.processor_errors.items()))
        if self.interrupted:
            parts.append("interrupted")
        return "live: " + ", ".join(parts)


class _FrameRecorder:
    """Frames written to a video by a background thread, so encoding does not hold up the loop."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], color: ColorOrder) -> None:
        self.writer = VideoWriter(path, fps, size, codec="MJPG", color=color)
        self.queue: queue.Queue[np.ndarray | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="live-frame-recorder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (frame := self.queue.get()) is not None:
            self.writer.write(frame)

    def put(self, frame: np.ndarray) -> None:
        self.queue.put(frame)

    def close(self) -> Path:
        self.queue.put(None)
        self.thread.join()
        self.writer.close()
        return self.writer.path


class _Processors:
    """The processors of a run; one that raises is reported once and keeps being called."""

    def __init__(self, processors: Sequence[Processor], log: Path) -> None:
        self.items = list(processors)
        self.log = log
        self.errors: dict[str, int] = {}

    def start(self, layout: PoseLayout | None) -> None:
        for p in self.items:
            if layout is not None and hasattr(p, "start"):
                p.start(layout)

    def process(self, pose: np.ndarray, frame_time: float) -> None:
        for p in self.items:
            try:
                p.process(pose, frame_time)
            except Exception as err:  # a processor's bug must not stop the stream
                self._failed(p, err)

    def _failed(self, processor: Processor, err: Exception) -> None:
        name = type(processor).__name__
        self.errors[name] = self.errors.get(name, 0) + 1
        if self.errors[name] > 1:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a", encoding="utf-8") as f:
            f.write(f"processor {name} raised at {time.strftime('%Y-%m-%d %H:%M:%S')}:\n")
            f.write("".join(traceback.format_exception(err)))
        warnings.warn(
            f"processor {name} raised {type(err).__name__}: {err}; the stream goes on (reported once, "
            f"traceback in {self.log}).",
            stacklevel=2,
        )

    def close(self) -> None:
        for p in self.items:
            if hasattr(p, "close"):
                try:
                    p.close()
                except Exception as err:
                    self._failed(p, err)


def _draw(frame: np.ndarray, pose: np.ndarray, color: ColorOrder, threshold: float) -> bool:
    """Show the frame with its keypoints; False when the viewer pressed q or Esc."""
    image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if color == "rgb" else frame.copy()
    for x, y, likelihood in pose.reshape(-1, 3):
        if likelihood >= threshold and np.isfinite(x) and np.isfinite(y):
            cv2.circle(image, (round(float(x)), round(float(y))), 4, (0, 255, 0), -1)
    cv2.imshow("markerless live", image)
    return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)


def run_live(
    estimator: LiveEstimator,
    source: FrameSource,
    *,
    processors: Iterable[Processor] = (),
    record: str | Path | None = None,
    save_frames: bool = True,
    max_frames: int | None = None,
    display: bool = False,
    forward: ForwardPredictor | None = None,
    pcutoff: float = 0.6,
    log: str | Path | None = None,
) -> LiveResult:
    """Pose every frame ``source`` delivers until it ends, ``max_frames`` frames arrived, or Ctrl-C.

    ``record``: a folder for ``<name><scorer>.h5`` (the poses of the frames posed, indexed by frame
    number: dropped frames have no row) and, with ``save_frames``, ``<name>_frames.avi`` +
    ``<name>_timestamps.csv``. ``forward``: predict each pose ahead to the moment it is handed to the
    processors. ``log``: where a failing processor's traceback goes (default ``record/live.log``, else
    a file in the temporary folder). The frames' arrival times and the poses are kept in memory.
    From the warm-up to the end of the stream the objects made before it are frozen out of garbage
    collection (``gc.freeze``), so a collection during the stream does not stall a frame.
    """
    record_dir = Path(record) if record is not None else None
    if record_dir is not None:
        record_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log) if log else (record_dir or Path(tempfile.gettempdir())) / "live.log"
    procs = _Processors(list(processors), log_path)
    result = LiveResult(log=log_path)
    indices: list[int] = []
    poses: list[np.ndarray] = []
    arrivals: list[float] = []
    latencies: list[float] = []
    delays: list[float] = []
    recorder: _FrameRecorder | None = None
    started = False
    try:
        for index, frame, arrived in source:
            if max_frames is not None and index >= max_frames:
                break
            if not started:
                estimator.warm_up(frame)
                procs.start(estimator.layout)
                started = True
                if record_dir is not None and save_frames:
                    h, w = frame.shape[:2]
                    recorder = _FrameRecorder(
                        record_dir / f"{source.name}_frames.avi", source.fps or 30.0, (w, h), estimator.color
                    )
                _freeze_heap()
                source.restart_clock()  # the warm-up is not the stream's time
                arrived = time.perf_counter()
            t0 = time.perf_counter()
            pose = estimator.pose(frame)
            t1 = time.perf_counter()
            used = forward(pose, arrived, t1) if forward is not None else pose
            procs.process(used, arrived)
            delays.append(time.perf_counter() - arrived)
            latencies.append(t1 - t0)
            indices.append(index)
            poses.append(pose)
            arrivals.append(arrived)
            if recorder is not None:
                recorder.put(frame)
            if display and not _draw(frame, pose, estimator.color, pcutoff):
                break
    except KeyboardInterrupt:
        result.interrupted = True
    finally:  # also when a frame cannot be posed: what was recorded is written before the error goes on
        if started:
            gc.unfreeze()
        source.close()
        procs.close()
        if display:
            cv2.destroyAllWindows()
        if recorder is not None:
            result.files.append(recorder.close())
        if record_dir is not None and indices and estimator.layout is not None:
            result.files[:0] = _write_records(
                estimator, source, record_dir, indices, poses, arrivals, latencies, save_frames
            )
    result.frames, result.dropped = len(indices), source.dropped
    if max_frames is not None and not result.interrupted:  # frames skipped past the last one do not count
        result.dropped = min(result.dropped, max(0, max_frames - len(indices)))
    result.latencies, result.delays = np.asarray(latencies), np.asarray(delays)
    result.processor_errors = dict(procs.errors)
    result.window_fraction = estimator.window_fraction
    result.warmup_seconds = estimator.warmup_seconds
    return result


def _freeze_heap() -> None:
    """Collect once, then keep the objects alive so far (the libraries, the compiled models) out of later collections.

    A full collection of the ~450,000 objects torch and OpenVINO bring takes 100-400 ms on a 2-core
    CPU; frozen, a collection during the stream sees only the objects the stream made.
    """
    gc.collect()
    gc.freeze()


def _write_records(
    estimator: LiveEstimator,
    source: FrameSource,
    folder: Path,
    indices: list[int],
    poses: list[np.ndarray],
    arrivals: list[float],
    latencies: list[float],
    save_times: bool,
) -> list[Path]:
    assert estimator.layout is not None
    data = Poses(
        np.stack(poses).astype(np.float32),
        estimator.layout,
        scorer=estimator.scorer,
        frames=np.asarray(indices, dtype=np.int64),
        fps=source.fps,
        source=str(path) if (path := getattr(source, "path", None)) else None,
        metadata={"live": True, "dropped": source.dropped, "estimator": estimator.description},
    )
    files = [write_predictions(data, folder / f"{source.name}{estimator.scorer}.h5")]
    if save_times:
        t0 = arrivals[0]
        rows = "".join(
            f"{i},{a - t0:.6f},{lat * 1000:.3f}\n" for i, a, lat in zip(indices, arrivals, latencies, strict=True)
        )
        times = folder / f"{source.name}_timestamps.csv"
        write_text(times, "frame,arrival_s,latency_ms\n" + rows)
        files.append(times)
    return files


def print_summary(result: LiveResult, file: Any = None) -> None:
    """Print :meth:`LiveResult.summary` and the files written (to ``file``, default standard output)."""
    file = file or sys.stdout
    print(result.summary(), file=file)
    for path in result.files:
        print(path, file=file)


def load_processor(spec: str) -> Processor:
    """The processor named ``module:Class`` (the module importable, e.g. on ``PYTHONPATH``), built with no arguments."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"A processor is given as module:Class (e.g. mylab.laser:Trigger), got {spec!r}.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            f"Cannot import the processor module {module_name!r} ({err}); put it on PYTHONPATH or install it."
        ) from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigError(f"The module {module_name!r} has no {class_name!r}; check the processor's name.")
    processor = cls()
    if not callable(getattr(processor, "process", None)):
        raise ConfigError(f"{spec} has no process(pose, frame_time) method, so it is not a processor.")
    return cast(Processor, processor)


def live_stream(
    config: str | Path,
    *,
    video: str | Path | None = None,
    camera: int | None = None,
    shuffle: int = 1,
    snapshot: str | Path | None = None,
    record: str | Path | None = None,
    display: bool = False,
    max_frames: int | None = None,
    processors: Sequence[Processor | str] = (),
    forward_ms: float | None = None,
    dynamic_crop: bool | None = None,
    color: ColorOrder = "bgr",
    **overrides: Any,
) -> LiveResult:
    """Pose a video played at its frame rate (``video``) or a camera (``camera`` index) live with a trained shuffle.

    ``record``: folder for the poses (``.h5``), frames and timestamps; ``processors``: objects or
    ``module:Class`` names; ``forward_ms``: hand processors the pose predicted this many ms past the
    frame (constant-velocity Kalman; 0 or less: to the moment the result is ready). ``overrides``:
    analysis options (backend, device, precision, backend_options, crop_size).
    """
    if (video is None) == (camera is None):
        raise ConfigError("Give either a video file or a camera index (--video FILE or --camera INDEX).")
    if max_frames is not None and max_frames < 1:
        raise ConfigError(f"max_frames must be 1 or more, got {max_frames}.")
    crop_size = overrides.pop("crop_size", None)
    estimator = LiveEstimator.from_project(
        config, shuffle, snapshot=snapshot, color=color, dynamic_crop=dynamic_crop, crop_size=crop_size, **overrides
    )
    procs = [load_processor(p) if isinstance(p, str) else p for p in processors]
    source: FrameSource = VideoSource(video, color) if video is not None else CameraSource(int(camera or 0), color)
    forward = None if forward_ms is None else ForwardPredictor(forward_ms / 1000 if forward_ms > 0 else None)
    pcutoff = Project.load(config).pcutoff
    return run_live(
        estimator,
        source,
        processors=procs,
        record=record,
        max_frames=max_frames,
        display=display,
        forward=forward,
        pcutoff=pcutoff,
    )
