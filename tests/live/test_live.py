"""Live posing: the estimator, the clocked sources, processors, recording and the command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from markerless.analysis.analyze import analyze
from markerless.analysis.export import export
from markerless.cli import main
from markerless.errors import ConfigError, ModelError, VideoError
from markerless.io.dlc import read_predictions
from markerless.io.video import VideoReader
from markerless.live import CameraSource, ForwardPredictor, LiveEstimator, RegionEvents, VideoSource, run_live
from markerless.live.stream import load_processor
from tests.fixtures.projects import BODYPARTS
from tests.fixtures.videos import write_video
from tests.live.conftest import spot_estimator


class Recorder:
    """A processor keeping every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, float]] = []

    def process(self, pose: np.ndarray, frame_time: float) -> None:
        self.calls.append((pose.copy(), frame_time))


class Broken:
    """A processor that fails on every frame."""

    def __init__(self) -> None:
        self.calls = 0

    def process(self, pose: np.ndarray, frame_time: float) -> None:
        self.calls += 1
        raise ValueError("laser not connected")


def _frames(video: Path, n: int = 10) -> np.ndarray:
    with VideoReader(video, color="bgr") as reader:
        return reader.read_frames(range(n))


def test_pose_agrees_with_offline_analysis(live_project: Path, live_video: Path, tmp_path: Path) -> None:
    """Whole frames, torch: the live pose of each frame equals analyze's (same model, same graph)."""
    estimator = LiveEstimator.from_project(live_project, backend="torch", device="cpu", dynamic_crop=False)
    frames = _frames(live_video)
    live = np.stack([estimator.pose(f) for f in frames])
    assert live.shape == (10, 1, len(BODYPARTS), 3) and live.dtype == np.float32
    [h5] = analyze(live_project, live_video, backend="torch", device="cpu", tracking_crop=False, dest=tmp_path, stop=10)
    offline = read_predictions(h5).data
    np.testing.assert_allclose(live, offline, atol=1e-3)
    assert estimator.warmup_seconds > 0 and estimator.window_fraction is None


def test_dynamic_crop_is_the_tracking_crop(live_project: Path, live_video: Path) -> None:
    estimator = LiveEstimator.from_project(live_project, backend="torch", device="cpu", dynamic_crop=True)
    for frame in _frames(live_video):
        pose = estimator.pose(frame)
        assert pose.shape == (1, len(BODYPARTS), 3)
    assert estimator.tracker is not None and estimator.tracker.settings.size == (64, 64)
    assert estimator.tracker.frames_in_window + estimator.tracker.frames_whole == 10


def test_bad_frames_are_refused(live_project: Path, live_video: Path) -> None:
    estimator = LiveEstimator.from_project(live_project, backend="torch", device="cpu", dynamic_crop=False)
    frame = _frames(live_video, 1)[0]
    with pytest.raises(ConfigError, match="uint8"):
        estimator.pose(frame.astype(np.float32))
    estimator.pose(frame)
    with pytest.raises(ConfigError, match="compiled for 96x80"):
        estimator.pose(np.zeros((60, 80, 3), np.uint8))
    with pytest.raises(ConfigError, match="uint8 array"):
        estimator.pose(frame[..., 0])


def test_processor_hook_and_region_events(live_video: Path, tmp_path: Path) -> None:
    """Every posed frame reaches the processors; the disc crossing the region gives one HIGH and one LOW."""
    recorder = Recorder()
    events = RegionEvents(region=(40, 20, 60, 60), bodypart="snout", log=tmp_path / "events.log")
    source = VideoSource(live_video, realtime=False)
    result = run_live(spot_estimator(), source, processors=[recorder, events], record=tmp_path / "rec")
    assert result.frames == 30 == len(recorder.calls) and result.dropped == 0
    xs = np.array([pose[0, 0, 0] for pose, _ in recorder.calls])
    assert np.all(np.diff(xs) >= 0) and xs[0] < 20 < 80 < xs[-1]  # the disc moves right
    assert [level for _, level in events.events] == ["HIGH", "LOW"]
    lines = (tmp_path / "events.log").read_text().splitlines()
    assert [line.split()[1:] for line in lines] == [["HIGH", "snout"], ["LOW", "snout"]]
    inside = [t for (pose, t) in recorder.calls if 40 <= pose[0, 0, 0] <= 60]
    assert float(lines[0].split()[0]) == pytest.approx(inside[0], abs=1e-6)


def test_raising_processor_is_reported_once_and_the_stream_goes_on(live_video: Path, tmp_path: Path) -> None:
    broken, recorder = Broken(), Recorder()
    with pytest.warns(UserWarning, match="laser not connected") as caught:
        result = run_live(
            spot_estimator(), VideoSource(live_video, realtime=False), processors=[broken, recorder], record=tmp_path
        )
    assert len([w for w in caught if "Broken" in str(w.message)]) == 1
    assert broken.calls == 30 == len(recorder.calls)
    assert result.processor_errors == {"Broken": 30}
    log = (tmp_path / "live.log").read_text()
    assert log.count("Traceback") == 1 and "ValueError: laser not connected" in log
    assert len(read_predictions(tmp_path / "vidADLC_fake.h5").data) == 30


def test_slow_estimator_drops_frames_instead_of_falling_behind(tmp_path: Path) -> None:
    """100 frames/s, 35 ms per pose: about two frames in three are dropped, and every frame is accounted for."""
    video = write_video(tmp_path / "fast.avi", n_frames=40, size=(64, 48), fps=100.0)
    result = run_live(spot_estimator(delay=0.035), VideoSource(video), record=tmp_path / "rec")
    assert result.dropped > 15
    assert result.frames + result.dropped == 40
    poses = read_predictions(tmp_path / "rec" / "fastDLC_fake.h5")
    assert len(poses.data) == result.frames
    assert np.all(np.diff(poses.frames) >= 3)  # the frames posed are spread over the video
    assert np.median(result.delays) < 0.06  # no backlog: each result comes soon after its frame


def test_ctrl_c_keeps_what_was_recorded(live_video: Path, tmp_path: Path) -> None:
    class Stop:
        def __init__(self) -> None:
            self.n = 0

        def process(self, pose: np.ndarray, frame_time: float) -> None:
            self.n += 1
            if self.n == 7:
                raise KeyboardInterrupt

    result = run_live(spot_estimator(), VideoSource(live_video, realtime=False), processors=[Stop()], record=tmp_path)
    assert result.interrupted and "interrupted" in result.summary()
    assert len(read_predictions(tmp_path / "vidADLC_fake.h5").data) == 6
    assert (tmp_path / "vidA_frames.avi").exists() and (tmp_path / "vidA_timestamps.csv").exists()


def test_missing_camera_is_our_error() -> None:
    with pytest.raises(VideoError, match="Camera 97 cannot be opened"):
        CameraSource(97)


def test_forward_prediction_extrapolates_constant_velocity() -> None:
    predictor = ForwardPredictor(forward_s=0.1)
    pose = np.zeros((1, 2, 3), np.float32)
    pose[..., 2] = 1.0
    for i in range(20):  # 100 px/s to the right, 50 px/s down, 10 ms apart
        t = i * 0.01
        pose[..., 0], pose[..., 1] = 100 * t, 50 * t
        out = predictor(pose, t)
    np.testing.assert_allclose(out[..., 0], 100 * 0.29, atol=0.5)
    np.testing.assert_allclose(out[..., 1], 50 * 0.29, atol=0.5)
    assert out[..., 2].tolist() == pose[..., 2].tolist()


def test_load_processor_names_the_problem() -> None:
    assert isinstance(load_processor("markerless.live.processors:RegionEvents"), RegionEvents)
    with pytest.raises(ConfigError, match="module:Class"):
        load_processor("RegionEvents")
    with pytest.raises(ConfigError, match="has no 'Nope'"):
        load_processor("markerless.live.processors:Nope")


def test_cli_live_records_and_summarises(live_project: Path, live_video: Path, tmp_path: Path, capsys) -> None:
    args = ["--video", str(live_video), "--max-frames", "12", "--record", str(tmp_path)]
    code = main(["live", str(live_project), *args, "--backend", "torch", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0
    summary = out.splitlines()[0]
    assert "p50" in summary and "p99" in summary and "dropped" in summary
    [h5] = tmp_path.glob("vidA*.h5")
    poses = read_predictions(h5)
    dropped = int(summary.split("dropped ")[1].split()[0])
    assert len(poses.data) + dropped == 12 and poses.frames.max() < 12
    assert poses.layout.keypoint_names == tuple(BODYPARTS)


def test_cli_missing_camera(live_project: Path, capsys) -> None:
    assert main(["live", str(live_project), "--camera", "97", "--backend", "torch"]) == 1
    assert "Camera 97 cannot be opened" in capsys.readouterr().err


def test_cli_needs_one_source(live_project: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["live", str(live_project)])
    assert exit_info.value.code == 2


def test_from_export_folder_runs_the_exported_models(live_project: Path, live_video: Path) -> None:
    """An export folder (whole frame + window sizes) poses as the project's OpenVINO estimator does."""
    whole = export(live_project, format="openvino", frame_size=(96, 80))
    export(live_project, format="openvino", frame_size=(64, 64))
    exported = LiveEstimator.from_export(whole.parent, precision="fp32")
    direct = LiveEstimator.from_project(live_project, backend="openvino", precision="fp32", dynamic_crop=True)
    frames = _frames(live_video)
    a = np.stack([exported.pose(f) for f in frames])
    b = np.stack([direct.pose(f) for f in frames])
    assert exported.layout is not None and exported.layout.keypoint_names == tuple(BODYPARTS)
    assert exported.tracker is not None and exported.tracker.settings.size == (64, 64)
    np.testing.assert_allclose(a, b, atol=1e-3)
    with pytest.raises(ModelError, match="no export for 48x40"):
        LiveEstimator.from_export(whole.parent).pose(np.zeros((40, 48, 3), np.uint8))


def test_a_frame_that_cannot_be_posed_keeps_the_recording(live_video: Path, tmp_path: Path) -> None:
    """The camera changes resolution mid-stream: our error, and the poses so far are written."""

    class Resizing(VideoSource):
        def __iter__(self) -> Iterator[tuple[int, np.ndarray, float]]:
            for index, frame, t in super().__iter__():
                yield index, (frame if index < 5 else frame[:40]), t

    with pytest.raises(ConfigError, match="compiled for 96x80"):
        run_live(spot_estimator(), Resizing(live_video, realtime=False), record=tmp_path)
    assert len(read_predictions(tmp_path / "vidADLC_fake.h5").data) == 5


def test_processors_get_the_forward_prediction_and_the_record_keeps_the_measurement(
    live_video: Path, tmp_path: Path
) -> None:
    recorder = Recorder()
    run_live(
        spot_estimator(),
        VideoSource(live_video),
        processors=[recorder],
        record=tmp_path,
        forward=ForwardPredictor(forward_s=0.08),  # two frames at 25 frames/s
    )
    measured = read_predictions(tmp_path / "vidADLC_fake.h5")
    handed = np.stack([pose for pose, _ in recorder.calls])
    ahead = handed[10:, 0, 0, 0] - measured.data[10:, 0, 0, 0]  # the disc moves ~2.6 px per frame to the right
    assert 2.0 < np.median(ahead) < 8.0


def test_the_heap_is_frozen_during_the_stream_only(live_video: Path, tmp_path: Path) -> None:
    """Objects made before the stream stay out of garbage collections while it runs (no full-heap pauses)."""
    import gc

    frozen: list[int] = []

    class Probe:
        def process(self, pose: np.ndarray, frame_time: float) -> None:
            frozen.append(gc.get_freeze_count())

    run_live(spot_estimator(), VideoSource(live_video, realtime=False), processors=[Probe()], max_frames=5)
    assert len(frozen) == 5 and min(frozen) > 1000
    assert gc.get_freeze_count() == 0
