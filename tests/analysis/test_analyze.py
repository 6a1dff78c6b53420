"""analyze(): DLC-compatible outputs, batch-size invariance, skipping, clear errors, crash-resume, Dask."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from markerless.analysis.analyze import analyze
from markerless.analysis.model_source import clear_backend_cache
from markerless.analysis.results_writer import partial_dir
from markerless.errors import DeviceError, ModelError, ProjectError, VideoError
from markerless.io.dlc import read_predictions
from tests.fixtures.data import ROOT
from tests.fixtures.videos import write_video


def _run(video: Path, dest: Path, **kwargs) -> np.ndarray:
    [out] = analyze("config.yaml", [video], backend=kwargs.pop("backend", "torch"), device="cpu", dest=dest, **kwargs)
    return read_predictions(out).data


@pytest.mark.slow
def test_outputs_are_dlc_files_and_independent_of_batch_size(analysis_model, tiny_video, tmp_path):
    [out] = analyze(
        "config.yaml",
        [tiny_video.parent],
        backend="torch",
        device="cpu",
        batch_size=3,
        dest=tmp_path / "b3",
        save_as_csv=True,
    )
    assert out.name == f"mouse1{analysis_model.scorer}.h5"
    assert out.with_suffix(".csv").exists() and not partial_dir(out).exists()
    poses = read_predictions(out)
    assert poses.data.shape == (24, 1, 4, 3) and poses.scorer == analysis_model.scorer
    assert np.isfinite(poses.data).all()
    meta = pickle.loads(out.with_name(out.stem + "_meta.pickle").read_bytes())["data"]
    assert meta["nframes"] == 24 and meta["frame_dimensions"] == (96, 64) and meta["batch_size"] == 3
    assert (
        meta["backend"] == "torch" and meta["precision"] == "fp32" and meta["bodyparts"] == list(poses.layout.bodyparts)
    )
    other = _run(tiny_video, tmp_path / "b10", batch_size=10, decoders=2)  # and two decoding threads
    np.testing.assert_array_equal(other[..., :2], poses.data[..., :2])  # the same pixels...
    np.testing.assert_allclose(other[..., 2], poses.data[..., 2], atol=1e-6, rtol=0)  # ...scores to float rounding


def test_existing_results_are_skipped_unless_overwrite(analysis_model, tiny_video, tmp_path, capsys):
    [out] = analyze("c", tiny_video, backend="torch", device="cpu", dest=tmp_path)
    stamp = out.stat().st_mtime_ns
    assert analyze("c", tiny_video, backend="torch", device="cpu", dest=tmp_path) == [out]
    assert out.stat().st_mtime_ns == stamp and "skipping" in capsys.readouterr().err
    analyze("c", tiny_video, backend="torch", device="cpu", dest=tmp_path, overwrite=True)
    assert out.stat().st_mtime_ns != stamp


@pytest.mark.slow
def test_exported_backends_export_once_and_agree(analysis_model, tiny_video, tmp_path):
    reference = _run(tiny_video, tmp_path / "torch")
    onnx = _run(tiny_video, tmp_path / "ort", backend="onnxruntime")
    assert np.abs(onnx[..., :2] - reference[..., :2]).max() <= 0.5
    # random weights: fp32, where arg-max ties cannot flip (bf16 agreement: test_backends.py)
    openvino = _run(tiny_video, tmp_path / "ov", backend="openvino", precision="fp32")
    assert np.abs(openvino[..., :2] - reference[..., :2]).max() <= 0.5
    [exported] = (analysis_model.export_dir).glob("*.onnx")
    assert exported.name == "snapshot-005_96x64.onnx"
    assert (analysis_model.export_dir / "snapshot-005_96x64.xml").exists()
    stamp = exported.stat().st_mtime_ns
    _run(tiny_video, tmp_path / "ort2", backend="onnxruntime")
    assert exported.stat().st_mtime_ns == stamp  # the cached export is reused


def test_clear_errors(analysis_model, tiny_video, tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        analyze("c", tmp_path / "nope.mp4")
    with pytest.raises(ModelError, match="Unknown backend 'fast'"):
        analyze("c", tiny_video, backend="fast")
    with pytest.raises(DeviceError, match="Unknown device"):
        analyze("c", tiny_video, device="tpu")


def test_untrained_project_asks_to_train(tiny_video, tmp_path):
    from markerless.training.dataset import create_training_dataset
    from tests.fixtures.projects import make_tiny_project

    config = make_tiny_project(tmp_path)
    with pytest.raises(ProjectError, match="create-training-dataset"):  # no shuffle yet
        analyze(config, tiny_video, backend="torch", device="cpu")
    create_training_dataset(config, shuffle=1)
    with pytest.raises(ProjectError, match="markerless train"):  # a shuffle, no snapshot
        analyze(config, tiny_video, backend="torch", device="cpu")
    with pytest.raises(ProjectError, match="does not exist"):
        analyze(config, tiny_video, backend="torch", device="cpu", snapshot="snapshot-999.pt")


_KILLED_RUN = textwrap.dedent("""
    import time
    from pathlib import Path
    import markerless.analysis.analyze as an
    import markerless.analysis.model_source as ms
    from tests.fixtures.models import fake_model
    model = fake_model(Path({root!r}), Path({snapshot!r}))
    an.resolve_model = lambda *a, **k: model
    build = ms.BackendSpec.build
    def slow_build(spec):
        backend = build(spec)
        def slow(frames):
            time.sleep(0.15)
            return backend(frames)
        return slow
    ms.BackendSpec.build = slow_build
    an.analyze("c", [Path({video!r})], backend="torch", device="cpu", batch_size=4, chunk_frames=8, dest=Path({dest!r}))
""")


@pytest.mark.slow
def test_resume_after_sigkill_loses_and_duplicates_nothing(analysis_model, tiny_snapshot, tmp_path):
    video = write_video(tmp_path / "long.avi", n_frames=90)
    dest = tmp_path / "killed"
    script = _KILLED_RUN.format(
        root=str(tmp_path),
        snapshot=str(tiny_snapshot),
        video=str(video),
        dest=str(dest),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    )
    chunks = partial_dir(dest / f"long{analysis_model.scorer}.h5")
    deadline = time.monotonic() + 120
    while len(list(chunks.glob("chunk-*.npz"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (dest / f"long{analysis_model.scorer}.h5").exists()
    clear_backend_cache()
    resumed = _run(video, dest, batch_size=4)
    meta = pickle.loads((dest / f"long{analysis_model.scorer}_meta.pickle").read_bytes())["data"]
    assert 0 < meta["resumed_frames"] < 90
    np.testing.assert_allclose(resumed, _run(video, tmp_path / "whole", batch_size=4), atol=1e-3, rtol=0)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_result(analysis_model, tiny_video, tmp_path):
    from distributed import LocalCluster

    local = _run(tiny_video, tmp_path / "local", batch_size=8)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        [out] = analyze(
            "c",
            [tiny_video],
            backend="torch",
            device="cpu",
            batch_size=8,
            dest=tmp_path / "dask",
            scheduler=cluster.scheduler_address,
            range_frames=12,
        )
    assert out == tmp_path / "dask" / f"mouse1{analysis_model.scorer}.h5"
    np.testing.assert_allclose(read_predictions(out).data, local, atol=1e-3, rtol=0)


@pytest.mark.slow
def test_truncated_video_keeps_the_frames_it_has_and_says_so(analysis_model, tmp_path, capsys):
    video = write_video(tmp_path / "cut.avi", n_frames=30)
    data = video.read_bytes()
    video.write_bytes(data[: int(len(data) * 0.6)])  # the header still promises 30 frames
    poses = _run(video, tmp_path / "out", batch_size=4)
    assert 5 < len(poses) < 30 and np.isfinite(poses).all()
    err = capsys.readouterr().err
    assert f"{video}: its header promises 30 frames but only {len(poses)} could be decoded" in err
    meta = pickle.loads((tmp_path / "out" / f"cut{analysis_model.scorer}_meta.pickle").read_bytes())["data"]
    assert meta["nframes"] == len(poses) and meta["header_nframes"] == 30


def test_an_unreadable_existing_result_is_set_aside_and_analysed_again(analysis_model, tiny_video, tmp_path, capsys):
    out = tmp_path / f"{tiny_video.stem}{analysis_model.scorer}.h5"
    out.write_bytes(b"not an HDF5 file")
    assert analyze("c", tiny_video, backend="torch", device="cpu", dest=tmp_path) == [out]
    assert read_predictions(out).data.shape == (24, 1, 4, 3)  # a real result now
    aside = tmp_path / f"{out.name}.unreadable"
    assert aside.read_bytes() == b"not an HDF5 file"  # the user's file is kept, under a new name
    assert f"{out} exists but cannot be read: moved it to {aside.name}" in capsys.readouterr().err


@pytest.mark.slow
def test_tracking_crop_runs_locally_and_on_dask_and_is_recorded(analysis_model, tmp_path):
    """The window (96x96 in 192x128 frames) is used, recorded in the metadata, and works per Dask task."""
    from distributed import LocalCluster

    video = write_video(tmp_path / "wide.avi", n_frames=24, size=(192, 128))
    [out] = analyze(
        "c", [video], backend="torch", device="cpu", dest=tmp_path / "crop", tracking_crop=True, crop_size=(96, 96)
    )
    meta = pickle.loads(out.with_name(out.stem + "_meta.pickle").read_bytes())["data"]
    assert meta["tracking_crop"] == [96, 96] and 0.0 <= meta["tracking_crop_window_fraction"] <= 1.0
    assert np.isfinite(read_predictions(out).data).all()
    whole = _run(video, tmp_path / "whole", tracking_crop=False)
    assert whole.shape == read_predictions(out).data.shape
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        [dask_out] = analyze(
            "c",
            [video],
            backend="torch",
            device="cpu",
            dest=tmp_path / "dask",
            scheduler=cluster.scheduler_address,
            range_frames=12,
            tracking_crop=True,
            crop_size=(96, 96),
        )
    assert np.isfinite(read_predictions(dask_out).data).all()


def test_tracking_crop_settings_choose_and_refuse(analysis_model):
    from types import SimpleNamespace

    from markerless.analysis.analyze import tracking_crop_settings

    # auto: on for a single animal on the CPU when the window is small against the frame
    assert tracking_crop_settings(analysis_model, (640, 480), "cpu").size == (224, 224)
    assert tracking_crop_settings(analysis_model, (640, 480), "cuda") is None
    assert tracking_crop_settings(analysis_model, (320, 240), "cpu") is None  # 224x224 is most of the frame
    assert tracking_crop_settings(analysis_model, (640, 480), "cpu", False) is None
    assert tracking_crop_settings(analysis_model, (640, 480), "cpu", crop_size=(150, 100)).size == (160, 128)
    with pytest.raises(VideoError, match="does not fit"):
        tracking_crop_settings(analysis_model, (96, 64), "cpu", True)
    # a multi-animal window follows the group: the recipe's window for all animals, on the CPU, when worth it
    two = SimpleNamespace(layout=SimpleNamespace(shape=(2, 4)), recipe={}, scale=1.0, edges=np.array([[0, 1]]))
    assert tracking_crop_settings(two, (640, 480), "cpu") is None  # no window for the group
    with pytest.raises(VideoError, match="--crop-size W H"):
        tracking_crop_settings(two, (640, 480), "cpu", True)
    assert tracking_crop_settings(two, (640, 480), "cpu", True, (300, 200)).size == (320, 224)
    assert tracking_crop_settings(two, (640, 480), "cpu", False, (300, 200)) is None
    flies = SimpleNamespace(**{**two.__dict__, "recipe": {"analysis_window": [480, 480]}})
    assert tracking_crop_settings(flies, (1024, 1024), "cpu").size == (480, 480)
    assert tracking_crop_settings(flies, (1024, 1024), "cuda") is None
    assert tracking_crop_settings(flies, (640, 480), "cpu") is None  # most of a smaller frame
    # a recipe whose crop holds a typical animal but not its length names the window that holds it
    long = SimpleNamespace(
        layout=SimpleNamespace(shape=(1, 4)),
        recipe={"crop_size": [192, 192], "analysis_window": [352, 320]},
        scale=0.5,
        edges=None,
    )
    assert tracking_crop_settings(long, (1600, 1200), "cpu").size == (704, 640)
