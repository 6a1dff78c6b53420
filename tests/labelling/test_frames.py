"""Tests of markerless.labelling.frames: frame selection (uniform, k-means) and extraction into labeled-data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.errors import ProjectError
from markerless.io.video import VideoReader, VideoWriter
from markerless.labelling.frames import (
    extract_frames,
    frame_window,
    image_name,
    select_frames_kmeans,
    select_frames_uniform,
    thumbnails,
)

N_FRAMES, W, H = 120, 80, 60
SCENES = 4  # the test video shows four very different scenes, 30 frames each


def _scene_frames() -> np.ndarray:
    rng = np.random.default_rng(1)
    colours = np.array([(20, 20, 20), (230, 30, 30), (30, 200, 40), (240, 240, 250)], np.uint8)
    frames = np.repeat(colours, N_FRAMES // SCENES, axis=0)[:, None, None, :] * np.ones((1, H, W, 1), np.uint8)
    noise = rng.integers(-8, 8, frames.shape)
    return np.clip(frames.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("frames") / "scenes.avi"
    with VideoWriter(path, 30, (W, H), codec="MJPG") as writer:
        writer.write_batch(_scene_frames())
    return path


@pytest.fixture
def project(scene_video: Path, tmp_path: Path) -> Path:
    from markerless.project.project import create_project

    return create_project("frames", "tester", [scene_video], working_directory=tmp_path, bodyparts=["a", "b"])


def test_frame_window_and_naming() -> None:
    assert frame_window(100, 0.25, 0.5) == range(25, 50)
    assert frame_window(7, 0, 1) == range(0, 7)
    with pytest.raises(ProjectError, match="start"):
        frame_window(100, 0.6, 0.5)
    assert image_name(7, 2330) == "img0007.png"
    assert image_name(99, 100) == "img99.png"
    assert image_name(999, 1000) == "img999.png"
    assert image_name(3, 1001) == "img0003.png"


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 500),
    k=st.integers(1, 60),
    start=st.floats(0, 0.5),
    length=st.floats(0.01, 0.5),
    seed=st.integers(0, 10),
    n_excluded=st.integers(0, 40),
)
def test_uniform_is_distinct_in_window_and_avoids_exclusions(
    n: int, k: int, start: float, length: float, seed: int, n_excluded: int
) -> None:
    stop = start + length
    window = frame_window(n, start, stop)
    exclude = set(np.random.default_rng(seed).integers(0, n, n_excluded).tolist())
    chosen = select_frames_uniform(n, k, start, stop, seed, exclude)
    free = [i for i in window if i not in exclude]
    assert len(chosen) == min(k, len(free))
    assert len(set(chosen.tolist())) == len(chosen) and np.all(np.diff(chosen) > 0)
    assert set(chosen.tolist()) <= set(free)
    np.testing.assert_array_equal(chosen, select_frames_uniform(n, k, start, stop, seed, exclude))


def test_thumbnails_match_per_frame_resize() -> None:
    frames = np.random.default_rng(0).integers(0, 255, (5, 48, 64, 3), dtype=np.uint8)
    thumbs = thumbnails(frames, width=16)
    assert thumbs.shape == (5, 12, 16) and thumbs.dtype == np.float32
    for frame, thumb in zip(frames, thumbs, strict=True):
        expected = cv2.resize(frame, (16, 12), interpolation=cv2.INTER_AREA).mean(axis=-1)
        np.testing.assert_allclose(thumb, expected, atol=1.01)


def test_kmeans_picks_one_frame_per_scene(scene_video: Path) -> None:
    with VideoReader(scene_video) as reader:
        chosen = select_frames_kmeans(reader, SCENES, rng=0, progress=False)
        assert sorted(set((chosen // (N_FRAMES // SCENES)).tolist())) == list(range(SCENES))
        # candidates (as outlier extraction passes them) and exclusions are respected
        picked = select_frames_kmeans(
            reader, 2, rng=0, candidates=[3, 4, 5, 100, 101, 102], exclude=[4], progress=False
        )
        assert set(picked.tolist()) <= {3, 5, 100, 101, 102} and len(picked) == 2
        assert {int(p) // 30 for p in picked} == {0, 3}
        windowed = select_frames_kmeans(reader, 3, 0.5, 1.0, rng=0, progress=False)
        assert windowed.min() >= 60 and len(windowed) == 3
        few = select_frames_kmeans(reader, 50, 0.0, 0.25, rng=0, exclude=range(0, 25), progress=False)
        np.testing.assert_array_equal(few, np.arange(25, 30))


@pytest.mark.parametrize("algo", ["uniform", "kmeans"])
def test_extract_frames_writes_dlc_names_and_adds_no_duplicates(project: Path, algo: str) -> None:
    first = extract_frames(project, algo=algo, num_frames=5, start=0.25, stop=0.75)
    folder = project.parent / "labeled-data" / "scenes"
    assert list(first) == ["scenes"] and len(first["scenes"]) == 5
    names = sorted(p.name for p in folder.glob("img*.png"))
    assert names == sorted(p.name for p in first["scenes"])
    indices = [int(n[3:-4]) for n in names]
    assert all(len(n) == len("img000.png") for n in names)  # 120 frames -> 3 digits
    assert all(30 <= i < 90 for i in indices)
    with VideoReader(project.parent / "videos" / "scenes.avi") as reader:
        image = cv2.cvtColor(cv2.imread(str(folder / names[0])), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(image, reader.read(indices[0]))
    second = extract_frames(project, algo=algo, num_frames=5, start=0.25, stop=0.75)
    assert len(second["scenes"]) == 5
    assert not {p.name for p in second["scenes"]} & set(names)
    assert len(list(folder.glob("img*.png"))) == 10


def test_extract_frames_uses_config_defaults_and_rejects_unknown(project: Path) -> None:
    out = extract_frames(project, algo="uniform")  # numframes2pick (20) of the whole video
    assert len(out["scenes"]) == 20
    with pytest.raises(ProjectError, match="algorithm"):
        extract_frames(project, algo="random")
    with pytest.raises(ProjectError, match="nope"):
        extract_frames(project, videos=["nope.mp4"])
