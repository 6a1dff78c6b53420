"""The label, extract-outliers and merge commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import markerless.labelling.merge
import markerless.labelling.outliers
from markerless.cli import main


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with one (unanalysed) video."""
    import numpy as np

    from markerless.io.video import VideoWriter
    from markerless.project.project import create_project

    video = tmp_path / "mouse1.avi"
    with VideoWriter(video, fps=10, size=(32, 24), codec="MJPG") as writer:
        writer.write_batch(np.zeros((5, 24, 32, 3), dtype=np.uint8))
    return create_project("tiny", "tester", [video], working_directory=tmp_path, bodyparts=["a", "b"])


def test_extract_outliers_passes_its_options(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    seen = {}

    def fake(config, videos, **kwargs):
        seen.update(config=config, videos=videos, **kwargs)
        return [Path("labeled-data/v/img1.png")]

    monkeypatch.setattr(markerless.labelling.outliers, "extract_outliers", fake)
    argv = [
        "extract-outliers",
        "c.yaml",
        "a.mp4",
        "b.mp4",
        "--algo",
        "list",
        "--frames",
        "3",
        "9",
        "--shuffle",
        "2",
        "--epsilon",
        "7.5",
        "--p-bound",
        "0.2",
        "--num-frames",
        "4",
    ]
    assert main(argv) == 0
    assert seen == {
        "config": "c.yaml",
        "videos": ["a.mp4", "b.mp4"],
        "shuffle": 2,
        "algo": "list",
        "frames": [3, 9],
        "epsilon": 7.5,
        "p_bound": 0.2,
        "num_frames": 4,
    }  # only what was typed: extraction and seed keep the API's defaults
    out = capsys.readouterr().out
    assert "extracted 1 frames" in out and "img1.png" in out


def test_extract_outliers_rejects_unknown_algo(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["extract-outliers", "c.yaml", "a.mp4", "--algo", "magic"])
    assert "invalid choice" in capsys.readouterr().err


def test_extract_outliers_without_predictions_says_what_to_do(project: Path, capsys: pytest.CaptureFixture) -> None:
    video = project.parent / "videos" / "mouse1.avi"
    assert main(["extract-outliers", str(project), str(video)]) == 1
    assert "markerless analyze" in capsys.readouterr().err


def test_merge_prints_the_new_iteration(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(markerless.labelling.merge, "merge", lambda config, shuffle=1: 3)
    assert main(["merge", "c.yaml"]) == 0
    assert "iteration 3" in capsys.readouterr().out


def test_merge_without_labels_fails_cleanly(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["merge", str(project)]) == 1
    assert "error" in capsys.readouterr().err


def test_label_prints_one_url_line_and_serves(project: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "markerless", "label", str(project), "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=([\w-]+)", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        base, token = match.groups()
        for _ in range(100):
            try:
                res = httpx.get(f"{base}/api/project", headers={"X-Markerless-Token": token}, timeout=5)
                break
            except httpx.ConnectError:
                import time

                time.sleep(0.1)
        assert res.status_code == 200 and res.json()["task"] == "tiny"
        assert httpx.get(f"{base}/api/project", timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
