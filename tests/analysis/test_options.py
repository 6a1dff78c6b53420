"""AnalysisOptions: every analysis default in one validated object, resolved once per run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from markerless.analysis.analyze import analyze
from markerless.analysis.options import DEFAULT_BATCH, AnalysisOptions, analysis_options
from markerless.errors import ConfigError, DeviceError, ModelError


@pytest.mark.parametrize("batch_size", [0, -4, 2.5, True])
def test_a_batch_size_under_one_is_refused_not_replaced(batch_size) -> None:
    """``--batch-size 0`` used to run with the default batch of 4 without a word."""
    with pytest.raises(ConfigError, match=r"batch size must be a whole number of 1 or more.*--batch-size"):
        AnalysisOptions(batch_size=batch_size)


def test_analyze_checks_its_options_before_anything_else(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="batch size"):
        analyze(tmp_path / "config.yaml", tmp_path / "missing.mp4", batch_size=0)
    with pytest.raises(ConfigError, match="Unknown analysis option 'batchsize'; did you mean 'batch_size'"):
        analyze(tmp_path / "config.yaml", tmp_path / "missing.mp4", batchsize=8)


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("backend", "tensorrt", ModelError, "Unknown backend 'tensorrt'"),
        ("device", "tpu", DeviceError, "Unknown device 'tpu'"),
        ("precision", "int3", ModelError, "Unknown precision"),
        ("crop_size", (0, 10), ConfigError, "crop_size"),
        ("crop_size", (10,), ConfigError, "crop_size"),
        ("chunk_frames", 0, ConfigError, "chunk_frames"),
        ("decoders", 0, ConfigError, "decoders"),
        ("stop", -1, ConfigError, "stop"),
        ("tracking_crop", "yes", ConfigError, "tracking_crop"),
    ],
)
def test_bad_values_are_named(field, value, error, message) -> None:
    with pytest.raises(error, match=message):
        AnalysisOptions(**{field: value})


def test_overrides_apply_on_top_of_an_options_object() -> None:
    base = AnalysisOptions(batch_size=3, device="cpu")
    changed = analysis_options(base, dest="out", crop_size=[96, 64])
    assert changed.batch_size == 3 and changed.dest == Path("out") and changed.crop_size == (96, 64)
    assert base.dest is None  # frozen: the original is unchanged
    assert analysis_options() == AnalysisOptions()
    with pytest.raises(ConfigError, match="did you mean 'overwrite'"):
        base.replace(overwrit=True)


def test_resolve_makes_every_auto_choice_once() -> None:
    resolved = AnalysisOptions(device="cpu").resolve()
    assert resolved.device == "cpu" and resolved.backend in ("openvino", "onnxruntime", "torch")
    assert resolved.batch_size == DEFAULT_BATCH["cpu"] and resolved.decoders == 1
    assert resolved.precision in ("fp32", "bf16")
    assert resolved.resolve() == resolved  # concrete choices stay as they are
    assert AnalysisOptions(device="cpu", backend="torch", batch_size=7).resolve().batch_size == 7


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_says_so() -> None:
    with pytest.raises(DeviceError, match=r"no CUDA GPU.*--device cpu"):
        AnalysisOptions(device="cuda").resolve()
