"""Tests of markerless.io.video: metadata, batched and random-access decoding, errors, writing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.errors import VideoError
from markerless.io.video import VideoReader, VideoWriter, find_videos, video_info
from tests.fixtures.data import shared_path

N_FRAMES, W, H = 60, 96, 64


def _frames(n: int = N_FRAMES) -> np.ndarray:
    """Frames that differ from each other: a moving bright square on a gradient."""
    yy, xx = np.mgrid[0:H, 0:W]
    frames = np.empty((n, H, W, 3), dtype=np.uint8)
    frames[...] = np.stack([xx * 2, yy * 3, (xx + yy)], axis=-1).astype(np.uint8)
    for i in range(n):
        x, y = (i * 7) % (W - 16), (i * 3) % (H - 16)
        frames[i, y : y + 16, x : x + 16] = (255, 255 - i * 3, i * 4)
    return frames


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Test videos written with our writer (mp4v, MJPG) and, when available, h264 with B-frames."""
    folder = tmp_path_factory.mktemp("videos")
    out = {}
    for name, codec in (("clip.mp4", "mp4v"), ("clip.avi", "MJPG")):
        with VideoWriter(folder / name, 25, (W, H), codec=codec) as writer:
            writer.write_batch(_frames())
        out[codec] = folder / name
    try:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        target = folder / "bframes.mp4"
        subprocess.run(
            [
                ffmpeg,
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=size={W}x{H}:rate=25",
                "-frames:v",
                "120",
                "-c:v",
                "libx264",
                "-bf",
                "3",
                "-g",
                "30",
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
                str(target),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        out["h264"] = target
    except Exception:  # no ffmpeg with libx264 here: those tests skip
        pass
    return out


def _video(videos: dict[str, Path], codec: str) -> Path:
    if codec not in videos:
        pytest.skip("ffmpeg with libx264 (imageio-ffmpeg) is not available to make an h264 test video")
    return videos[codec]


def _all_frames(path: Path, color: str = "rgb") -> np.ndarray:
    with VideoReader(path, color=color) as reader:
        return np.concatenate([f.copy() for _, f in reader.iter_batches(16)])


def test_fresh_batches_are_kept_without_copying(videos: dict[str, Path]) -> None:
    reference = _REFERENCE.setdefault("mjpg", _all_frames(videos["MJPG"]))
    with VideoReader(videos["MJPG"]) as reader:
        batches = [f for _, f in reader.iter_batches(5, 0, 17, fresh=True)]  # no copies taken
    assert len({id(f.base if f.base is not None else f) for f in batches}) == len(batches)
    np.testing.assert_array_equal(np.concatenate(batches), reference[:17])


def test_metadata(videos: dict[str, Path]) -> None:
    info = video_info(videos["mp4v"])
    assert (info.n_frames, info.width, info.height, info.size) == (N_FRAMES, W, H, (W, H))
    assert info.fps == pytest.approx(25)
    assert info.duration == pytest.approx(N_FRAMES / 25)
    assert info.codec.lower() in {"mp4v", "fmp4"}
    with VideoReader(videos["MJPG"]) as reader:
        assert reader.codec == "MJPG" and len(reader) == N_FRAMES and reader.shape == (H, W, 3)


@pytest.mark.parametrize("codec", ["mp4v", "MJPG", "h264"])
def test_random_access_equals_sequential(videos: dict[str, Path], codec: str) -> None:
    path = _video(videos, codec)
    sequential = _all_frames(path)
    n = len(sequential)
    rng = np.random.default_rng(0)
    indices = np.concatenate([rng.integers(0, n, 25), [n - 1, 0, 5, 5, 6, n // 2]])
    with VideoReader(path) as reader:
        assert reader.n_frames == n
        np.testing.assert_array_equal(reader.read_frames(indices), sequential[indices])
        for i in (n - 1, 3, n // 2, 2):
            np.testing.assert_array_equal(reader.read(i), sequential[i])


@pytest.mark.parametrize("codec", ["mp4v", "h264"])
def test_random_access_by_seeking_only(videos: dict[str, Path], codec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every frame reached by a backend seek (no decoding through), still frame-exact."""
    import markerless.io.video as video_module

    path = _video(videos, codec)
    sequential = _all_frames(path)
    monkeypatch.setattr(video_module, "MAX_DECODE_GAP", 0)
    indices = np.random.default_rng(1).permutation(len(sequential))[:30]
    with VideoReader(path) as reader:
        np.testing.assert_array_equal(np.stack([reader.read(int(i)) for i in indices]), sequential[indices])


def test_writer_round_trip_lossy_codecs_stay_close(videos: dict[str, Path]) -> None:
    expected = _frames().astype(np.int16)
    for codec in ("mp4v", "MJPG"):
        decoded = _all_frames(videos[codec]).astype(np.int16)
        assert decoded.shape == expected.shape
        assert np.abs(decoded - expected).mean() < 6, codec


@settings(max_examples=6, deadline=None)
@given(
    n=st.integers(1, 5),
    width=st.integers(8, 48),
    height=st.integers(8, 40),
    seed=st.integers(0, 2**16),
    batched=st.booleans(),
)
def test_writer_lossless_round_trip_is_exact(
    tmp_path_factory: pytest.TempPathFactory, n: int, width: int, height: int, seed: int, batched: bool
) -> None:
    frames = np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)
    target = tmp_path_factory.mktemp("lossless") / "clip.avi"
    try:
        writer = VideoWriter(target, 10, (width, height), codec="FFV1")
    except VideoError:
        pytest.skip("OpenCV's FFmpeg has no FFV1 encoder here")
    with writer:
        if batched:
            writer.write_batch(frames)
        else:
            for frame in frames:
                writer.write(frame)
    assert writer.n_written == n
    assert writer.encoded_size == (width + width % 2, height + height % 2)
    with VideoReader(target) as reader:
        assert (reader.n_frames, reader.size) == (n, writer.encoded_size)
        np.testing.assert_array_equal(reader.read_frames(np.arange(n)[::-1])[:, :height, :width], frames[::-1])
    decoded = _all_frames(target)
    np.testing.assert_array_equal(decoded[:, :height, :width], frames)
    if width % 2:  # odd sizes are padded by repeating the last column / row
        np.testing.assert_array_equal(decoded[:, :height, width], frames[:, :, -1])
    if height % 2:
        np.testing.assert_array_equal(decoded[:, height, :width], frames[:, -1])


def test_bgr_is_rgb_reversed(videos: dict[str, Path]) -> None:
    np.testing.assert_array_equal(_all_frames(videos["MJPG"], "bgr"), _all_frames(videos["MJPG"])[..., ::-1])


@settings(max_examples=8, deadline=None)
@given(batch_size=st.integers(1, 70), start=st.integers(0, N_FRAMES), length=st.integers(0, N_FRAMES))
def test_batches_equal_whatever_the_batch_size(
    videos: dict[str, Path], batch_size: int, start: int, length: int
) -> None:
    reference = _REFERENCE.setdefault("mjpg", _all_frames(videos["MJPG"]))
    stop = min(start + length, N_FRAMES)
    with VideoReader(videos["MJPG"]) as reader:
        chunks = [(i.copy(), f.copy()) for i, f in reader.iter_batches(batch_size, start, stop)]
    assert all(len(i) <= batch_size for i, _ in chunks)
    indices = np.concatenate([i for i, _ in chunks]) if chunks else np.zeros(0, np.int64)
    np.testing.assert_array_equal(indices, np.arange(start, stop))
    if chunks:
        assert chunks[0][0].dtype == np.int64
        np.testing.assert_array_equal(np.concatenate([f for _, f in chunks]), reference[start:stop])


_REFERENCE: dict[str, np.ndarray] = {}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="does not exist"):
        VideoReader(tmp_path / "nope.mp4")


def test_text_file_renamed_mp4(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are not frames\n" * 200)
    with pytest.raises(VideoError, match=r"notes\.mp4"):
        video_info(fake)


def test_empty_and_zero_frame_files(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        VideoReader(tmp_path / "empty.mp4")
    with VideoWriter(tmp_path / "zero.mp4", 25, (W, H)):
        pass
    with pytest.raises(VideoError, match=r"zero\.mp4"):
        VideoReader(tmp_path / "zero.mp4")


def test_truncated_file_without_index_is_an_error(videos: dict[str, Path], tmp_path: Path) -> None:
    data = videos["mp4v"].read_bytes()  # OpenCV writes the index (moov) at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        VideoReader(cut)


@pytest.mark.parametrize("codec", ["h264", "MJPG"])
def test_truncated_file_stops_cleanly_and_corrects_count(videos: dict[str, Path], tmp_path: Path, codec: str) -> None:
    source = _video(videos, codec)
    data = source.read_bytes()
    cut = tmp_path / f"cut{source.suffix}"
    cut.write_bytes(data[: len(data) // 2])
    full = _all_frames(source)
    with VideoReader(cut) as reader:
        reported = reader.n_frames
        indices = np.concatenate([i for i, _ in reader.iter_batches(7)])
        real = len(indices)
        assert 0 < real < len(full)
        assert reader.n_frames == real and reader.n_frames_verified
        assert reported >= real
        with pytest.raises(VideoError, match="cut"):
            reader.read(real + 1)
    with VideoReader(cut) as reader:  # random access past the real end, count not yet verified
        with pytest.raises(VideoError, match="cut"):
            reader.read_frames([2, len(full) - 2])
        np.testing.assert_array_equal(reader.read(real - 1), _all_frames(cut)[real - 1])


def test_out_of_range_index(videos: dict[str, Path]) -> None:
    with VideoReader(videos["MJPG"]) as reader, pytest.raises(VideoError, match="outside"):
        reader.read(N_FRAMES)


def test_writer_is_atomic_and_checks_shapes(tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match=r"\(B, 64, 96, 3\)"), VideoWriter(target, 25, (W, H)) as writer:
        writer.write(_frames(1)[0])
        writer.write(np.zeros((H + 1, W, 3), np.uint8))
    assert not target.exists() and not list(tmp_path.iterdir())
    with pytest.raises(VideoError, match=r"(?i)codec"):
        VideoWriter(tmp_path / "bad.mp4", 25, (W, H), codec="xx")
    with pytest.raises(VideoError, match=r"(?i)codec"):  # a FourCC with no encoder: no file left behind
        VideoWriter(tmp_path / "none.mp4", 25, (W, H), codec="ZZZZ")
    assert not list(tmp_path.iterdir())


def test_openfield_video_metadata() -> None:
    path = shared_path("openfield-Pranav-2018-10-30", "videos", "m3v1mp4.mp4")
    with VideoReader(path, color="bgr") as reader:
        assert (reader.width, reader.height) == (640, 480)
        assert reader.n_frames > 2000 and reader.fps == pytest.approx(30, abs=0.1)
        idx, frames = next(reader.iter_batches(4, start=100))
        np.testing.assert_array_equal(idx, [100, 101, 102, 103])
        np.testing.assert_array_equal(reader.read(102), frames[2])


@pytest.mark.parametrize(
    "parts",
    [
        ("dlclive-dog-clip", "dog_clip.avi"),
        pytest.param(("lightning-pose-mirror-mouse", "videos", "test_vid.mp4"), marks=pytest.mark.slow),
    ],
)
def test_real_video_random_access_by_seeking(parts: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    import markerless.io.video as video_module

    path = shared_path(*parts)
    with VideoReader(path, color="bgr") as reader:
        digests = [hashlib.sha1(f).hexdigest() for _, batch in reader.iter_batches(64) for f in batch]
        assert len(digests) == reader.n_frames
    monkeypatch.setattr(video_module, "MAX_DECODE_GAP", 0)
    indices = np.random.default_rng(2).choice(len(digests), 12, replace=False)
    with VideoReader(path, color="bgr") as reader:
        got = [hashlib.sha1(np.ascontiguousarray(reader.read(int(i)))).hexdigest() for i in indices]
    assert got == [digests[i] for i in indices]


def test_find_videos_in_files_and_folders(tmp_path) -> None:
    for name in ("a.mp4", "b.AVI", "notes.txt", "aDLC_labeled.mp4"):
        (tmp_path / name).touch()
    assert [p.name for p in find_videos(tmp_path)] == ["a.mp4", "b.AVI"]
    assert find_videos(str(tmp_path / "a.mp4")) == [(tmp_path / "a.mp4").resolve()]
