"""Tests of the built-in demo: budgeted in epochs, so it gives the same errors on a quiet or a busy machine."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from markerless.errors import TrainingError
from markerless.project.project import Project
from markerless.project.shuffle import Shuffle
from markerless.synthetic.demo import _confident_fractions, demo
from markerless.training.loop import STATS_FILE

#: A demo small enough for a test: a short video of small frames, a few labelled frames, two epochs.
TINY: dict[str, Any] = {"epochs": 2, "n_frames": 24, "n_labelled": 10, "size": (160, 120), "seed": 3}


@contextlib.contextmanager
def cpu_hog() -> Iterator[None]:
    """Busy-loop processes on every core for the duration (a loaded machine)."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(os.cpu_count() or 1, 2))]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def figures(result: dict[str, Any]) -> dict[str, float]:
    """The numbers the demo prints: evaluation errors, errors against the ground truth, confident fractions."""
    evaluation = result["evaluation"]
    return {
        "train_error_px": evaluation["train_error_px"],
        "test_error_px": evaluation["test_error_px"],
        **{f"video_{k}_px": v for k, v in result["video_error_px"].items()},
        **{f"confident_{k}": v for k, v in result["confident"].items()},
    }


@pytest.mark.slow
def test_demo_gives_the_same_errors_on_a_busy_machine(tmp_path: Path) -> None:
    quiet = demo(tmp_path / "quiet", **TINY)
    with cpu_hog():
        busy = demo(tmp_path / "busy", **TINY)
    first, second = figures(quiet), figures(busy)
    assert set(first) == set(second) and {"video_median_px", "confident_snout"} <= set(first)
    assert all(np.isfinite(v) for v in first.values())
    for key, value in first.items():
        assert second[key] == pytest.approx(value, abs=1e-3), key
    # trained for the epochs asked, whatever the load; the same snapshots saved
    shuffles = [Shuffle(Project.load(r["config"]), 1) for r in (quiet, busy)]
    validated = []
    for sh in shuffles:
        with open(sh.train_dir / STATS_FILE) as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == TINY["epochs"]
        validated.append([row["epoch"] for row in rows if row["test_error_px"]])
    assert validated[0] == validated[1] and validated[0]  # the same validations, however long they took
    assert [p.name for p in shuffles[0].snapshots()] == [p.name for p in shuffles[1].snapshots()]


def test_demo_needs_an_epoch(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="epochs"):
        demo(tmp_path / "d", epochs=0)
    assert not (tmp_path / "d").exists()


def test_confident_fractions_count_frames_at_or_above_pcutoff() -> None:
    likelihood = np.array([[[0.9, 0.1]], [[0.6, np.nan]], [[0.2, 0.7]], [[0.8, 0.59]]])  # 4 frames, 1 animal, 2 parts
    assert _confident_fractions(likelihood, ["snout", "tail"], 0.6) == {"snout": 0.75, "tail": 0.25}
