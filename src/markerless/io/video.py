"""Video decoding and encoding: metadata, fast batched sequential reads, frame-exact random access.

OpenCV's FFmpeg backend does the decoding. Every failure a user can cause (missing file, not a
video, no frames, truncated file, frame past the end) raises :class:`markerless.errors.VideoError`
naming the file and saying what to do.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np

# FFmpeg's own log lines ("moov atom not found", "partial file"...) would repeat what our errors say
# more clearly; set OPENCV_FFMPEG_LOGLEVEL yourself (e.g. 24 = warnings) to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # imported after setting the variable above

from markerless.errors import VideoError
from markerless.io.atomic import atomic_path

ColorOrder = Literal["rgb", "bgr"]

#: Forward gaps up to this many frames are decoded through instead of seeking, until the reader has
#: timed both (then it decodes through whenever that is cheaper than its measured seek time).
SEEK_GAP = 64
#: How long opening a video or decoding one frame may take before it counts as failed.
TIMEOUT_MS = 30_000
#: Never decode through more than this many frames to reach a frame ahead.
MAX_DECODE_GAP = 1000

_FIX_IT = "Check that the file is a complete video (try playing it), or re-encode it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`."


#: File endings recognised as videos when a folder is given instead of video files.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".m4v", ".wmv", ".webm", ".h264")


def find_videos(videos: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Video files named, or found (not recursively) in the folders named; resolved, without duplicates.

    Labelled videos we wrote (``*_labeled.*``) and hidden files in folders are skipped. A path that does
    not exist, or nothing found at all, raises :class:`VideoError`.
    """
    if isinstance(videos, str | os.PathLike):
        videos = [videos]
    videos = list(videos)
    found: list[Path] = []
    for item in videos:
        path = Path(item).expanduser()
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.suffix.lower() in VIDEO_SUFFIXES
                    and not p.name.startswith(".")
                    and not p.stem.endswith("_labeled")
                )
            )
        elif path.is_file():
            found.append(path)
        else:
            raise VideoError(f"The video {path} does not exist; check the path (videos or folders of videos).")
    if not found:
        raise VideoError(f"No video found in {[str(v) for v in videos]} (looked for {', '.join(VIDEO_SUFFIXES)}).")
    return list(dict.fromkeys(p.resolve() for p in found))


@dataclass(frozen=True)
class VideoInfo:
    """What a video's container says about it.

    Attributes:
        path: the video file.
        n_frames: number of frames (container metadata; may overstate a truncated file's frames).
        fps: frames per second (0 when unknown).
        width, height: frame size in pixels.
        codec: four-character code of the codec (e.g. ``h264``, ``mp4v``, ``MJPG``).
    """

    path: Path
    n_frames: int
    fps: float
    width: int
    height: int
    codec: str

    @property
    def duration(self) -> float:
        """Length in seconds (0 when the frame rate is unknown)."""
        return self.n_frames / self.fps if self.fps > 0 else 0.0

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height


def video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """Metadata of a video (checks that it opens and that its first frame decodes)."""
    with VideoReader(path) as reader:
        return reader.info


def _running_mean(previous: float | None, value: float, weight: float = 0.3) -> float:
    return value if previous is None else (1 - weight) * previous + weight * value


def _open_capture(path: Path) -> cv2.VideoCapture:
    """An FFmpeg capture with timeouts (a file on a stalled network share fails instead of hanging)."""
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, TIMEOUT_MS]
    return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)


def _fourcc(value: float) -> str:
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\x00 ") if text.isprintable() else str(code)


class VideoReader:
    """Reads frames of one video file as ``uint8 (H, W, 3)`` arrays in RGB (or BGR) order.

    Use as a context manager. ``iter_batches`` decodes sequentially into a reused buffer;
    ``read``/``read_frames`` give frame-exact random access. When the container overstates the
    number of frames (a truncated file), sequential reading stops at the last decodable frame and
    ``n_frames`` is corrected.
    """

    def __init__(self, path: str | os.PathLike[str], color: ColorOrder = "rgb") -> None:
        if color not in ("rgb", "bgr"):
            raise ValueError(f"color must be 'rgb' or 'bgr', not {color!r}")
        self.path = Path(path)
        self.color: ColorOrder = color
        if not self.path.exists():
            raise VideoError(f"Video {self.path} does not exist. Check the path (and the video list in config.yaml).")
        if not self.path.is_file():
            raise VideoError(f"{self.path} is not a file; give the path of a video file.")
        if self.path.stat().st_size == 0:
            raise VideoError(f"Video {self.path} is empty (0 bytes). Copy the video again from its source.")
        self._cap = _open_capture(self.path)
        if not self._cap.isOpened():
            self._cap.release()
            raise VideoError(
                f"Cannot open {self.path} as a video: it is not a video, has no frames, or is damaged or truncated. {_FIX_IT}"
            )
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(self.fps) or self.fps < 0:
            self.fps = 0.0
        self.codec = _fourcc(self._cap.get(cv2.CAP_PROP_FOURCC))
        reported = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.n_frames = int(reported) if math.isfinite(reported) and reported > 0 else 0
        #: True once the real number of decodable frames is known.
        self.n_frames_verified = False
        self._pos = 0  # index of the frame the next read() of the capture returns
        self._decoded_since_seek = 0  # frames decoded since the last backend seek
        self._grab_seconds: float | None = None  # running estimates of the cost of one decoded frame
        self._seek_seconds: float | None = None  # ... and of one backend seek
        started = time.perf_counter()
        first = self._decode_next()
        self._grab_seconds = time.perf_counter() - started
        if first is None or self.width <= 0 or self.height <= 0:
            self._cap.release()
            raise VideoError(f"Video {self.path} has no decodable frames. {_FIX_IT}")
        if first.shape[:2] != (self.height, self.width):
            self.height, self.width = first.shape[:2]
        if self.n_frames == 0:  # stream without a frame count: count by decoding
            self.n_frames = self._count_frames()

    # --- metadata -----------------------------------------------------------------------------
    @property
    def info(self) -> VideoInfo:
        """The video's metadata."""
        return VideoInfo(self.path, self.n_frames, self.fps, self.width, self.height, self.codec)

    @property
    def duration(self) -> float:
        """Length in seconds (0 when the frame rate is unknown)."""
        return self.info.duration

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape ``(H, W, 3)`` of one frame."""
        return self.height, self.width, 3

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return f"VideoReader({str(self.path)!r}, {self.n_frames} frames, {self.width}x{self.height} @ {self.fps:g} fps, {self.codec})"

    # --- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the decoder."""
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- low level ----------------------------------------------------------------------------
    def _decode_next(self, out: np.ndarray | None = None) -> np.ndarray | None:
        """Decode the frame at ``self._pos`` (BGR) into ``out``; None at the end of the stream."""
        ok, frame = self._cap.read(out) if out is not None else self._cap.read()
        if not ok or frame is None:
            return None
        self._pos += 1
        self._decoded_since_seek += 1
        if out is not None and frame.ctypes.data != out.ctypes.data:
            out[...] = frame  # OpenCV allocated a new array (size change): copy into the buffer
            return out
        return frame

    def _mark_end(self, index: int) -> None:
        """Decoding failed at ``index``: if we got there by decoding, it is the real frame count."""
        if self._decoded_since_seek > 0 and index < self.n_frames:
            self._reported_n_frames = getattr(self, "_reported_n_frames", self.n_frames)
            self.n_frames = index
        if self._decoded_since_seek > 0:
            self.n_frames_verified = True

    def _count_frames(self) -> int:
        self._backend_seek(0)
        self._decoded_since_seek = 1  # counting from frame 0 is exact
        while self._cap.grab():
            self._pos += 1
        self.n_frames, self.n_frames_verified = self._pos, True
        return self._pos

    def _backend_seek(self, index: int) -> None:
        started = time.perf_counter()
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._seek_seconds = _running_mean(self._seek_seconds, time.perf_counter() - started)
        self._pos = index
        self._decoded_since_seek = 0

    def _decode_forward_to(self, index: int) -> None:
        n, started = index - self._pos, time.perf_counter()
        while self._pos < index:
            if not self._cap.grab():
                self._mark_end(self._pos)
                raise self._past_end(index)
            self._pos += 1
            self._decoded_since_seek += 1
        if n > 0:
            self._grab_seconds = _running_mean(self._grab_seconds, (time.perf_counter() - started) / n)

    def _decode_through(self, gap: int) -> bool:
        """Whether reaching a frame ``gap`` frames ahead is cheaper by decoding than by seeking."""
        if gap <= 0 or gap > MAX_DECODE_GAP:
            return False
        if self._seek_seconds is None or not self._grab_seconds:
            return gap <= SEEK_GAP
        return gap * self._grab_seconds <= self._seek_seconds

    def _seek(self, index: int) -> None:
        """Position the decoder so that the next decoded frame is ``index``."""
        if index == self._pos:
            return
        if self._decode_through(index - self._pos):
            self._decode_forward_to(index)
            return
        self._backend_seek(index)
        actual = self._cap.get(cv2.CAP_PROP_POS_FRAMES)
        if index > 0 and math.isfinite(actual) and round(actual) != index:
            # the backend landed elsewhere: decode forward from the start (slow but exact)
            self._reopen()
            self._decode_forward_to(index)

    def _reopen(self) -> None:
        """Start decoding again from frame 0 with a fresh decoder."""
        self._cap.release()
        self._cap = _open_capture(self.path)
        if not self._cap.isOpened():
            raise VideoError(f"{self.path} can no longer be opened; was it moved or deleted while being read?")
        self._pos = 0
        self._decoded_since_seek = 1  # positions counted from the start are exact

    def _read_into(self, index: int, out: np.ndarray) -> bool:
        """Decode frame ``index`` (BGR) into ``out``; False when it cannot be decoded."""
        self._seek(index)
        if self._decode_next(out) is not None:
            return True
        if self._decoded_since_seek == 0 and index < self.n_frames:
            # some files (very short ones, some AVIs) do not survive a backend seek: decode from the start
            self._reopen()
            try:
                self._decode_forward_to(index)
            except VideoError:
                return False
            if self._decode_next(out) is not None:
                return True
        self._mark_end(index)
        return False

    def _past_end(self, index: int) -> VideoError:
        if self.n_frames_verified and index >= self.n_frames:
            promised = getattr(self, "_reported_n_frames", self.n_frames)
            detail = f"the video has only {self.n_frames} decodable frames" + (
                f" although its header promises {promised} (the file seems truncated)"
                if promised > self.n_frames
                else ""
            )
        else:
            detail = (
                f"the header promises {self.n_frames} frames but decoding failed (the file may be truncated or damaged)"
            )
        return VideoError(
            f"Frame {index} of {self.path} cannot be decoded: {detail}. Use earlier frames, or re-encode the video."
        )

    def _to_color(self, frames: np.ndarray) -> np.ndarray:
        """Swap BGR to RGB in place (one OpenCV call for the whole batch)."""
        if self.color == "rgb" and frames.size:
            flat = frames.reshape(-1, frames.shape[-2], 3)
            cv2.cvtColor(flat, cv2.COLOR_BGR2RGB, dst=flat)
        return frames

    # --- public reading -----------------------------------------------------------------------
    def iter_batches(
        self,
        batch_size: int = 32,
        start: int = 0,
        stop: int | None = None,
        *,
        fresh: bool = False,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Decode frames ``start..stop-1`` in order, ``batch_size`` at a time.

        Yields ``(frame_indices int64 (B,), frames uint8 (B, H, W, 3))``. The frames array is a
        buffer reused for the next batch (copy it to keep it) unless ``fresh``, which decodes every
        batch into a new array (cheaper than copying when each batch is handed on to another thread).
        Stops early, without error, at the last decodable frame of a truncated video.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {batch_size}")
        stop = self.n_frames if stop is None else min(int(stop), self.n_frames)
        start = max(int(start), 0)
        if start >= stop:
            return
        buffer = np.empty((batch_size, self.height, self.width, 3), dtype=np.uint8)
        if not self._read_into(start, buffer[0]):
            return
        index, primed = start, 1
        while index < stop:
            n = min(batch_size, stop - index)
            got, primed = primed, 0
            while got < n and self._decode_next(buffer[got]) is not None:
                got += 1
            if got:
                yield np.arange(index, index + got, dtype=np.int64), self._to_color(buffer[:got])
            index += got
            if fresh and index < stop:
                buffer = np.empty_like(buffer)
            if got < n:
                self._mark_end(index)
                return

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every frame in order (copies)."""
        for _, frames in self.iter_batches():
            yield from frames.copy()

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` (frame-exact), a new ``uint8 (H, W, 3)`` array."""
        return self.read_frames([index])[0]

    def read_frames(self, indices: Iterable[int] | np.ndarray) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as ``uint8 (N, H, W, 3)``.

        Indices are visited in sorted order; nearby ones are reached by decoding forward rather
        than seeking.
        """
        idx = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices, dtype=np.int64).reshape(-1)
        out = np.empty((len(idx), self.height, self.width, 3), dtype=np.uint8)
        if not len(idx):
            return out
        bad = idx[(idx < 0) | (idx >= self.n_frames)]
        if len(bad):
            raise VideoError(
                f"Frame {int(bad[0])} is outside {self.path}, which has {self.n_frames} frames (0..{self.n_frames - 1})."
            )
        order = np.argsort(idx, kind="stable")
        unique, first = np.unique(idx[order], return_index=True)
        for frame_index, row in zip(unique.tolist(), order[first].tolist(), strict=True):
            if not self._read_into(frame_index, out[row]):
                raise self._past_end(frame_index)
        # repeated indices: copy from the first occurrence
        dup = np.ones(len(idx), dtype=bool)
        dup[order[first]] = False
        if dup.any():
            source = order[first][np.searchsorted(unique, idx[dup])]
            out[dup] = out[source]
        return self._to_color(out)


class VideoWriter:
    """Writes RGB frames to a video file, atomically: the file appears only when closed successfully.

    Use as a context manager; ``write(frame)`` takes ``uint8 (H, W, 3)`` RGB, ``write_batch(frames)``
    takes ``(B, H, W, 3)``. ``size`` is ``(width, height)``. ``codec`` is a FourCC such as ``mp4v``
    (``.mp4``), ``MJPG`` (``.avi``) or ``FFV1`` (lossless, ``.avi``/``.mkv``).

    Encoders need even frame sizes (OpenCV would silently rescale odd ones): an odd width or height
    is padded by repeating the last column or row, so pixel coordinates stay the same;
    ``encoded_size`` is the size in the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        size: tuple[int, int],
        codec: str = "mp4v",
        color: ColorOrder = "rgb",
    ) -> None:
        if color not in ("rgb", "bgr"):
            raise ValueError(f"color must be 'rgb' or 'bgr', not {color!r}")
        if len(codec) != 4:
            raise VideoError(f"Codec {codec!r} is not a four-character code (e.g. 'mp4v', 'MJPG', 'FFV1').")
        self.path = Path(path)
        self.fps = float(fps)
        self.size = (int(size[0]), int(size[1]))
        self.codec = codec
        self.color: ColorOrder = color
        self.n_written = 0
        if self.fps <= 0 or min(self.size) <= 0:
            raise VideoError(f"Cannot write {self.path}: fps ({fps}) and frame size ({size}) must be positive.")
        self._pad = (self.size[0] % 2, self.size[1] % 2)
        self.encoded_size = (self.size[0] + self._pad[0], self.size[1] + self._pad[1])
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        fourcc = cv2.VideoWriter.fourcc(*codec)
        self._writer = cv2.VideoWriter(str(tmp), cv2.CAP_FFMPEG, fourcc, self.fps, self.encoded_size)
        if not self._writer.isOpened():
            error = VideoError(
                f"Cannot write {self.path} with codec {codec!r}: OpenCV's FFmpeg has no such encoder for "
                f"{self.path.suffix or 'this'} files. Try codec='mp4v' with .mp4 or 'MJPG' with .avi."
            )
            self._stack.__exit__(VideoError, error, None)  # removes the temporary file
            raise error
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        """Append one ``uint8 (H, W, 3)`` frame."""
        self.write_batch(np.asarray(frame)[None])

    def write_batch(self, frames: np.ndarray) -> None:
        """Append ``uint8 (B, H, W, 3)`` frames."""
        if self._closed:
            raise VideoError(f"{self.path} is already closed; open a new VideoWriter to write more.")
        frames = np.asarray(frames)
        w, h = self.size
        if frames.ndim != 4 or frames.shape[1:] != (h, w, 3):
            raise VideoError(
                f"Frames for {self.path} must be (B, {h}, {w}, 3) to match size {self.size}; got {frames.shape}."
            )
        if frames.dtype != np.uint8:
            frames = np.clip(frames, 0, 255).astype(np.uint8)
        frames = np.ascontiguousarray(frames)
        pad_x, pad_y = self._pad
        for frame in frames:
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if self.color == "rgb" else frame
            if pad_x or pad_y:
                bgr = cv2.copyMakeBorder(bgr, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
            self._writer.write(bgr)
        self.n_written += len(frames)

    def close(self) -> None:
        """Finish the file and move it into place."""
        self._finish(None, None, None)

    def _finish(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.release()
        self._stack.__exit__(exc_type, exc, tb)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finish(exc_type, exc, tb)


__all__ = ["MAX_DECODE_GAP", "SEEK_GAP", "VideoInfo", "VideoReader", "VideoWriter", "video_info"]
