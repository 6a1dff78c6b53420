"""Fixtures of the labelling app tests: a tiny project with a video and frames to label."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

BODYPARTS = ["snout", "leftear", "rightear", "tailbase"]


def make_tiny_project(dest: Path, multi_animal: bool = False, n_frames: int = 40, n_images: int = 3) -> Path:
    """A project with one small video (a moving bright square) and ``n_images`` frames in labeled-data."""
    from markerless.io.dlc import read_config, write_config
    from markerless.io.video import VideoWriter
    from markerless.project.project import create_project

    video = dest / "source" / "mouse1.avi"
    video.parent.mkdir(parents=True)
    h, w = 48, 64
    frames = np.zeros((n_frames, h, w, 3), dtype=np.uint8)
    for t in range(n_frames):
        x = 4 + (t * 3) % (w - 12)
        frames[t, 10:20, x : x + 8] = (200, 180 - 4 * (t % 10), 40 + 5 * t % 200)
        frames[t, 30:34, 5:60] = t * 6 % 255
    with VideoWriter(video, fps=10, size=(w, h), codec="MJPG") as writer:
        writer.write_batch(frames)
    config = create_project(
        "tiny",
        "tester",
        [video],
        working_directory=dest,
        multi_animal=multi_animal,
        individuals=["mouse1", "mouse2"] if multi_animal else None,
        bodyparts=BODYPARTS,
        copy_videos=True,
    )
    cfg = read_config(config)
    cfg["skeleton"] = [["snout", "leftear"], ["snout", "rightear"], ["leftear", "tailbase"]]
    if multi_animal:
        cfg["uniquebodyparts"] = ["corner"]
    write_config(cfg, config)
    folder = config.parent / "labeled-data" / "mouse1"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        cv2.imwrite(str(folder / f"img{i * 7:02d}.png"), cv2.cvtColor(frames[i * 7], cv2.COLOR_RGB2BGR))
    return config


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """config.yaml of a single-animal project with 3 unlabelled frames."""
    return make_tiny_project(tmp_path)


@pytest.fixture
def tiny_ma_project(tmp_path: Path) -> Path:
    """config.yaml of a two-mouse project with a unique body part."""
    return make_tiny_project(tmp_path, multi_animal=True)


@pytest.fixture
def odd_project(tmp_path: Path) -> Path:
    """config.yaml of a project whose folder, video folders and images have spaces and non-ASCII letters."""
    config = make_tiny_project(tmp_path / "Prøjekt mit Leerzeichen")
    labeled = config.parent / "labeled-data"
    for name in ("open field 1", "Maus_ü1"):
        (labeled / name).mkdir()
        for i, img in enumerate(("img 005.png", "imgé07.png")):
            (labeled / name / img).write_bytes((labeled / "mouse1" / f"img{i * 7:02d}.png").read_bytes())
    return config


CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed: run make test as root or apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()
