"""Fixtures shared by the whole suite.

Real data lives in ``../shared/data`` beside the project root; tests reach it through
``markerless_testdata.shared_path`` (skipping with a clear reason when it is absent).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from markerless_testdata import shared_path


@pytest.fixture
def openfield_project() -> Path:
    """The DeepLabCut openfield demo project (read-only: copy it before writing)."""
    return shared_path("openfield-Pranav-2018-10-30")
