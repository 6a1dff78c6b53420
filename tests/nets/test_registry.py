"""Registry: every name builds, output shapes and strides, stride/backbone options, errors, warnings."""

from __future__ import annotations

import logging

import pytest
import torch

from markerless.errors import ModelError
from markerless.nets import Backbone, ModelSpec, create_model, list_models, register_model
from markerless.nets.registry import REGISTRY


def test_list_models_has_required_names() -> None:
    assert {"mobilenetv2", "efficientnet-lite0", "resnet50", "hrnet_w18", "hrnet_w32"} <= set(list_models())


@pytest.mark.parametrize(
    "name", ["mobilenetv2", "efficientnet-lite0", "resnet18", "resnet50", "hrnet_w18", "hrnet_w32"]
)
def test_every_name_builds_with_right_shapes(name: str) -> None:
    net = create_model(name, 5, pretrained=False).eval()
    with torch.no_grad():
        heatmaps, offsets = net(torch.randn(2, 3, 64, 96))
    assert net.stride == 8 and net.spec.stride == 8
    assert heatmaps.shape == (2, 5, 8, 12)
    assert offsets.shape == (2, 10, 8, 12)
    assert net.spec.name == name and net.spec.keypoints == 5


@pytest.mark.parametrize("stride", [4, 8, 16, 32])
def test_output_stride_sets_heatmap_size(stride: int) -> None:
    net = create_model("mobilenetv2", 3, pretrained=False, output_stride=stride, head_channels=16).eval()
    with torch.no_grad():
        heatmaps, offsets = net(torch.randn(1, 3, 128, 64))
    assert heatmaps.shape == (1, 3, 128 // stride, 64 // stride)
    assert offsets.shape == (1, 6, 128 // stride, 64 // stride)


def test_head_widths_per_deconvolution() -> None:
    net = create_model("mobilenetv2", 3, pretrained=False, output_stride=4, head_channels=[32, 16, 8]).eval()
    assert [d.out_channels for d in net.head.deconvs] == [32, 16, 8]
    assert net.head.heatmap.in_channels == 8 and net.spec.head_channels == (32, 16, 8)
    with torch.no_grad():
        heatmaps, offsets = net(torch.randn(1, 3, 64, 64))
    assert heatmaps.shape == (1, 3, 16, 16) and offsets.shape == (1, 6, 16, 16)
    with pytest.raises(ModelError, match="lists 2 widths but this output stride needs 3"):
        create_model("mobilenetv2", 3, pretrained=False, output_stride=4, head_channels=[32, 16])
    for bad in (0, [16, -1, 8], "wide", [16, 8.5, 8]):
        with pytest.raises(ModelError, match="head_channels"):
            create_model("mobilenetv2", 3, pretrained=False, output_stride=4, head_channels=bad)


def test_sizes_not_multiple_of_backbone_stride_are_padded() -> None:
    net = create_model("mobilenetv2", 2, pretrained=False, head_channels=16).eval()
    with torch.no_grad():
        heatmaps, _ = net(torch.randn(1, 3, 100, 70))
    assert heatmaps.shape == (1, 2, 13, 9)  # ceil(100 / 8), ceil(70 / 8)


def test_dilated_backbone_stride_16() -> None:
    net = create_model("resnet18", 2, pretrained=False, backbone_stride=16, head_channels=16).eval()
    with torch.no_grad():
        heatmaps, _ = net(torch.randn(1, 3, 64, 64))
    assert heatmaps.shape == (1, 2, 8, 8)
    assert len(net.head.deconvs) == 1


def test_bad_names_and_options_raise_model_error() -> None:
    with pytest.raises(ModelError, match="Unknown model"):
        create_model("alexnet", 3)
    with pytest.raises(ModelError, match="output stride"):
        create_model("mobilenetv2", 3, pretrained=False, output_stride=6)
    with pytest.raises(ModelError, match="backbone_stride=16"):
        create_model("hrnet_w18", 3, pretrained=False, backbone_stride=16)
    with pytest.raises(ModelError, match="keypoint"):
        create_model("mobilenetv2", 0, pretrained=False)


def test_random_init_is_announced(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="markerless"):
        create_model("resnet18", 2, pretrained=True)
    assert any("random weights" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="markerless"):
        create_model("resnet18", 2, pretrained=False)
    assert not caplog.records


def test_spec_round_trips_through_dict() -> None:
    spec = create_model("efficientnet-lite0", 4, pretrained=False, output_stride=4).spec
    again = ModelSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.stride == 4 and len(again.mean) == 3 and len(again.std) == 3
    with pytest.raises(ModelError, match="Unknown model spec keys"):
        ModelSpec.from_dict({**spec.to_dict(), "colour": 1})


def test_register_model_adds_a_timm_backbone() -> None:
    register_model("mobilenetv3-test", Backbone("mobilenetv3_small_100"))
    try:
        assert "mobilenetv3-test" in list_models()
        net = create_model("mobilenetv3-test", 2, pretrained=False, head_channels=8).eval()
        with torch.no_grad():
            assert net(torch.randn(1, 3, 64, 64))[0].shape == (1, 2, 8, 8)
        with pytest.raises(ModelError, match="already registered"):
            register_model("mobilenetv3-test", Backbone("resnet18"))
    finally:
        REGISTRY.pop("mobilenetv3-test", None)
