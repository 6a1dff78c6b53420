"""Checkpoints: round trip without weight packages, extras kept, bad files raise ModelError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from markerless.errors import ModelError
from markerless.nets import create_model, load_checkpoint, save_checkpoint
from markerless.nets import weights as weights_module


def test_round_trip_rebuilds_the_same_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = create_model("mobilenetv2", 4, pretrained=False, output_stride=4, head_channels=[16, 8, 8])
    with torch.no_grad():
        net.head.heatmap.bias.fill_(1.5)
    path = save_checkpoint(tmp_path / "snapshot-001.pt", net, extra={"epoch": 1, "metrics": {"rmse": 2.5}})
    # loading must not touch the ImageNet weight packages
    monkeypatch.setattr(weights_module.PackagedWeights, "path", lambda self: pytest.fail("weights package used"))
    loaded, extra = load_checkpoint(path)
    assert extra == {"epoch": 1, "metrics": {"rmse": 2.5}}
    assert loaded.spec == net.spec and loaded.stride == 4 and not loaded.training
    assert loaded.spec.head_channels == (16, 8, 8)
    x = torch.randn(1, 3, 64, 64)
    net.eval()
    with torch.no_grad():
        for a, b in zip(net(x), loaded(x), strict=True):
            torch.testing.assert_close(a, b)
    assert not list(tmp_path.glob(".*tmp*")), "atomic write left a temporary file"


def test_reserved_extra_keys_are_refused(tmp_path: Path) -> None:
    net = create_model("resnet18", 1, pretrained=False, head_channels=8)
    with pytest.raises(ModelError, match="reserved"):
        save_checkpoint(tmp_path / "x.pt", net, extra={"model": 1})


def test_bad_files_raise_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="corrupt"):
        load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ModelError, match="not a markerless checkpoint"):
        load_checkpoint(foreign)
    net = create_model("resnet18", 1, pretrained=False, head_channels=8)
    path = save_checkpoint(tmp_path / "ok.pt", net)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModelError, match=r"truncated\.pt"):
        load_checkpoint(truncated)
    mismatched = tmp_path / "mismatched.pt"
    payload = torch.load(path, weights_only=True)
    payload["spec"]["keypoints"] = 2
    torch.save(payload, mismatched)
    with pytest.raises(ModelError, match="do not fit"):
        load_checkpoint(mismatched)


def test_numpy_and_path_extras_are_stored_as_plain_types(tmp_path: Path) -> None:
    net = create_model("resnet18", 1, pretrained=False, head_channels=8)
    extra = {"rmse": np.float32(2.5), "curve": np.arange(3), "video": tmp_path / "a.mp4", "steps": [np.int64(4)]}
    _, got = load_checkpoint(save_checkpoint(tmp_path / "s.pt", net, extra=extra))
    assert got["rmse"] == 2.5 and isinstance(got["rmse"], float)
    assert got["curve"].tolist() == [0, 1, 2]
    assert got["video"] == (tmp_path / "a.mp4").as_posix() and got["steps"] == [4]


def test_unsafe_pickles_are_refused_with_model_error(tmp_path: Path) -> None:
    path = tmp_path / "unsafe.pt"
    torch.save({"spec": {}, "model": {}, "thing": _Custom()}, path)
    with pytest.raises(ModelError, match="cannot be loaded safely"):
        load_checkpoint(path)


class _Custom:
    """An arbitrary class that weights_only loading must refuse."""
