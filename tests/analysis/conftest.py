"""Fixtures of the analysis tests: a hand-built model with unambiguous peaks, a real snapshot, a fake model source."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from markerless.analysis.model_source import AnalysisModel
from markerless.nets import create_model, save_checkpoint
from tests.fixtures.models import BODYPARTS, SpotModel, fake_model


@pytest.fixture
def spot_model() -> SpotModel:
    """A fresh hand-built model (eval mode)."""
    return SpotModel().eval()


@pytest.fixture(scope="session")
def tiny_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot file of a small real PoseNet (random weights) for the 4 body parts of :data:`BODYPARTS`."""
    torch.manual_seed(0)
    net = create_model("mobilenetv2", len(BODYPARTS), pretrained=False)
    return save_checkpoint(tmp_path_factory.mktemp("train") / "snapshot-005.pt", net, extra={"epoch": 5})


@pytest.fixture
def analysis_model(tmp_path: Path, tiny_snapshot: Path, monkeypatch: pytest.MonkeyPatch) -> AnalysisModel:
    """``analyze`` resolves any config to this model (project folder = tmp_path)."""
    model = fake_model(tmp_path, tiny_snapshot)
    monkeypatch.setattr("markerless.analysis.analyze.resolve_model", lambda *a, **k: model)
    return model
