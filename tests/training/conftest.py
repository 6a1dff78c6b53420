"""Fixtures of the training tests: a tiny project on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.tiny_project import make_tiny_project


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """config.yaml of a fresh tiny two-video project (12 labelled 96x80 images)."""
    return make_tiny_project(tmp_path)
