"""Issue 16 item 15: one OpenVINO backend shared by several threads (a Dask worker with --nthreads 2)."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from markerless.analysis.analyze import analyze
from markerless.analysis.backends import OpenVINOBackend, TorchBackend
from markerless.analysis.exported import export_onnx, export_openvino
from markerless.analysis.model_source import clear_backend_cache
from markerless.io.dlc import read_predictions


def test_openvino_backend_is_safe_to_share_between_threads(spot_model, tmp_path: Path) -> None:
    frames = np.random.default_rng(2).integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    reference = TorchBackend(spot_model)(frames)
    onnx = export_onnx(spot_model, tmp_path / "m.onnx", (64, 48))
    backend = OpenVINOBackend(export_openvino(onnx, tmp_path / "m.xml"), precision="fp32", streams=2)

    def run(_: int) -> np.ndarray:
        return backend(frames)

    with ThreadPoolExecutor(4) as pool:  # before: "Infer Request is busy" from requests shared by threads
        results = list(pool.map(run, range(64)))
    for result in results:
        np.testing.assert_allclose(result[..., :2], reference[..., :2], atol=1e-3)
    assert sorted(k[0] for k in backend._compiled) == [4]  # compiled once, requests per thread


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_openvino_analysis_on_a_real_two_thread_dask_worker(analysis_model, tiny_video, tmp_path: Path) -> None:
    """A `dask scheduler` and a `dask worker --nthreads 2` started here; the result equals a local run."""
    from distributed import Client

    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker"]
    scheduler_file = tmp_path / "scheduler.json"
    procs = [_start([*dask, "--scheduler-file", str(scheduler_file), "--port", "0", "--no-dashboard"], tmp_path / "s")]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        args = ["--scheduler-file", str(scheduler_file), "--nthreads", "2", "--no-dashboard", "--no-nanny"]
        procs.append(_start([*worker, *args], tmp_path / "w"))
        with Client(scheduler_file=str(scheduler_file), timeout="60s") as client:
            client.wait_for_workers(1, timeout=60)
            address = client.scheduler.address
        options: dict[str, Any] = {"backend": "openvino", "device": "cpu", "batch_size": 2, "precision": "fp32"}
        [local] = analyze("c", [tiny_video], dest=tmp_path / "local", **options)
        clear_backend_cache()
        [remote] = analyze("c", [tiny_video], dest=tmp_path / "dask", scheduler=address, range_frames=2, **options)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
    expected = read_predictions(local).data
    got = read_predictions(remote).data
    assert got.shape == expected.shape and np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, atol=0.5, rtol=0)
