"""Backends agree with PyTorch on real frames; names are checked; ``auto`` picks a real backend."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from markerless.analysis.backends import (
    OnnxRuntimeBackend,
    OpenVINOBackend,
    TorchBackend,
    available_backends,
    resolve_backend,
    resolved_precision,
)
from markerless.analysis.exported import export_onnx, export_openvino
from markerless.errors import DeviceError, ModelError
from markerless.nets.device import resolve_device

MAX_PX = 0.5


@pytest.fixture
def openfield_frames(openfield_project: Path) -> np.ndarray:
    """Six real BGR frames (640x480) of the openfield video, spread over it."""
    video = openfield_project / "videos" / "m3v1mp4.mp4"
    cap = cv2.VideoCapture(str(video))
    frames = []
    for index in (0, 400, 800, 1200, 1600, 2000):
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        assert ok
        frames.append(frame)
    cap.release()
    return np.stack(frames)


def _exports(model, tmp: Path, size: tuple[int, int]) -> tuple[Path, Path]:
    onnx = export_onnx(model, tmp / "m.onnx", size)
    return onnx, export_openvino(onnx, tmp / "m.xml")


def _max_px(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a[..., :2] - b[..., :2]).max())


@pytest.mark.slow
def test_exported_backends_agree_with_torch_on_real_frames(spot_model, openfield_frames, tmp_path):
    reference = TorchBackend(spot_model)(openfield_frames)
    assert np.ptp(reference[..., 0]) > 1  # keypoints differ from frame to frame / part to part
    onnx, xml = _exports(spot_model, tmp_path, (640, 480))
    assert _max_px(OnnxRuntimeBackend(onnx)(openfield_frames), reference) <= 1e-3
    assert _max_px(OpenVINOBackend(xml, precision="fp32")(openfield_frames), reference) <= 1e-3
    bf16 = OpenVINOBackend(xml, precision="bf16")(openfield_frames)
    assert _max_px(bf16, reference) <= MAX_PX
    assert np.abs(bf16[..., 2] - reference[..., 2]).max() < 0.02


def test_openvino_splits_batches_over_requests_and_pads(spot_model, tmp_path):
    frames = np.random.default_rng(1).integers(0, 255, (5, 48, 64, 3), dtype=np.uint8)
    _, xml = _exports(spot_model, tmp_path, (64, 48))
    reference = TorchBackend(spot_model)(frames)
    two_streams = OpenVINOBackend(xml, precision="fp32", hint="THROUGHPUT", streams=2)
    assert _max_px(two_streams(frames), reference) <= 1e-3  # 5 frames -> 2 requests of 3, last padded
    assert _max_px(two_streams(frames[:2]), reference[:2]) <= 1e-3
    # fewer frames than the compiled batch run in power-of-two pieces (3 = 2 + 1), not padded to 5
    assert _max_px(two_streams(frames[:3]), reference[:3]) <= 1e-3
    assert sorted(k[0] for k in two_streams._compiled) == [1, 2, 5]


@pytest.mark.slow
def test_real_posenet_export_matches_torch_at_fp32(tiny_snapshot, tmp_path):
    from markerless.analysis.model_source import load_torch_inference_model

    model = load_torch_inference_model(tiny_snapshot, scale=0.5)
    frames = np.random.default_rng(2).integers(0, 255, (3, 96, 128, 3), dtype=np.uint8)
    reference = TorchBackend(model)(frames)
    onnx, xml = _exports(load_torch_inference_model(tiny_snapshot, scale=0.5), tmp_path, (128, 96))
    assert _max_px(OnnxRuntimeBackend(onnx)(frames), reference) <= 1e-2
    assert _max_px(OpenVINOBackend(xml, precision="fp32")(frames), reference) <= 1e-2


def test_names_are_checked():
    with pytest.raises(ModelError, match="Unknown backend 'tensorrt'"):
        resolve_backend("tensorrt", "cpu")
    with pytest.raises(DeviceError, match="Unknown device"):
        resolve_device("tpu")
    with pytest.raises(ModelError, match="precision"):
        TorchBackend(__import__("torch").nn.Identity(), precision="int3")


def test_auto_picks_the_fastest_installed_backend():
    assert set(available_backends()) == {"torch", "openvino", "onnxruntime"}
    assert resolve_backend("auto", "cpu") == "openvino"
    assert resolve_backend("auto", "cuda") == "torch"
    assert resolve_backend("onnxruntime", "cpu") == "onnxruntime"
    assert resolved_precision("torch", "cpu") == "fp32"
    assert resolved_precision("torch", "cuda") == "fp16"
