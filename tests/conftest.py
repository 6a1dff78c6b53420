"""Fixtures shared by the whole suite.

Real data lives in ``../shared/data`` beside the project root (never copied into the project); tests
that need it use :func:`shared_data` and skip with a clear reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MARKERLESS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path inside ``../shared/data``; skips the calling test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is missing (it lives in ../shared/data beside the project)")
    return path


@pytest.fixture
def openfield_project() -> Path:
    """The DeepLabCut openfield demo project (read-only: copy it before writing)."""
    return shared_path("openfield-Pranav-2018-10-30")
