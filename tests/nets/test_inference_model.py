"""InferenceModel: in-graph preprocessing and decoding equal the manual path; ONNX/OpenVINO agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from markerless.errors import ModelError
from markerless.nets import InferenceModel, PoseNet, create_model, decode_heatmaps


@pytest.fixture(scope="module")
def peaky_net() -> PoseNet:
    """A small random model whose heatmaps have clear (far from tied) peaks."""
    torch.manual_seed(0)
    net = create_model("mobilenetv2", 3, pretrained=False, head_channels=16)
    torch.nn.init.normal_(net.head.heatmap.weight, std=1.0)
    torch.nn.init.normal_(net.head.offsets.weight, std=0.1)
    return net.eval()


def _frames(batch: int = 2, h: int = 64, w: int = 96, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, h, w, 3), dtype=torch.uint8, generator=gen)


def _manual(net: PoseNet, rgb_frames: torch.Tensor) -> torch.Tensor:
    x = net.normalize(rgb_frames.float().permute(0, 3, 1, 2))
    with torch.no_grad():
        heatmaps, offsets = net(x)
    return decode_heatmaps(heatmaps, offsets, net.stride)


@pytest.mark.parametrize("color", ["rgb", "bgr"])
def test_matches_manual_normalise_forward_decode(peaky_net: PoseNet, color: str) -> None:
    frames = _frames()
    expected = _manual(peaky_net, frames)
    model = InferenceModel(peaky_net, color=color, channels_last=True)
    given = frames.flip(-1) if color == "bgr" else frames
    with torch.inference_mode():
        got = model(given)
    assert got.shape == (2, 3, 3)
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-4)
    # float frames with 0..255 values give the same answer as uint8 ones
    with torch.inference_mode():
        torch.testing.assert_close(model(given.float()), got, atol=1e-3, rtol=1e-4)
    assert np.allclose(model.predict(given.numpy()), got.numpy(), atol=1e-3)


def test_scale_maps_coordinates_back_to_frame_pixels(peaky_net: PoseNet) -> None:
    frames = _frames(h=128, w=192)
    model = InferenceModel(peaky_net, color="rgb", scale=0.5)
    small = F.interpolate(frames.float().permute(0, 3, 1, 2), scale_factor=0.5, mode="bilinear", align_corners=False)
    expected = _manual(peaky_net, small.permute(0, 2, 3, 1))
    with torch.inference_mode():
        got = model(frames)
    # coordinates map back by (x + 0.5) / scale - 0.5; scores are those of the small image
    torch.testing.assert_close(got[..., :2], (expected[..., :2] + 0.5) / 0.5 - 0.5, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(got[..., 2], expected[..., 2], atol=1e-4, rtol=1e-4)


def test_rejects_bad_arguments(peaky_net: PoseNet) -> None:
    with pytest.raises(ModelError, match="color"):
        InferenceModel(peaky_net, color="hsv")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="scale"):
        InferenceModel(peaky_net, scale=0)


def test_onnx_export_with_dynamic_batch_agrees(peaky_net: PoseNet, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = InferenceModel(peaky_net, color="bgr", scale=0.5)
    path = tmp_path / "model.onnx"
    torch.onnx.export(
        model,
        (_frames(2, 128, 160),),
        str(path),
        opset_version=17,
        input_names=["frames"],
        output_names=["keypoints"],
        dynamic_axes={"frames": {0: "batch"}, "keypoints": {0: "batch"}},
        dynamo=False,
    )
    frames = _frames(3, 128, 160, seed=5)
    with torch.inference_mode():
        expected = model(frames).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"frames": frames.numpy()})
    assert got.shape == (3, 3, 3)
    assert np.abs(got[..., :2] - expected[..., :2]).max() < 0.5
    assert np.abs(got[..., 2] - expected[..., 2]).max() < 1e-3
    assert not model.training and not model.net.training, "export must leave the model in eval mode"


@pytest.mark.slow
def test_openvino_conversion_agrees(peaky_net: PoseNet) -> None:
    ov = pytest.importorskip("openvino")
    model = InferenceModel(peaky_net, color="bgr")
    frames = _frames(2, 64, 96, seed=7)
    with torch.inference_mode():
        expected = model(frames).numpy()
    converted = ov.convert_model(model, example_input=frames)
    # this CPU runs OpenVINO in bf16 by default (~1 px off): ask for f32 to compare exactly
    compiled = ov.compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled(frames.numpy())[0]
    assert np.abs(got[..., :2] - expected[..., :2]).max() < 0.5
    assert np.abs(got[..., 2] - expected[..., 2]).max() < 1e-3
