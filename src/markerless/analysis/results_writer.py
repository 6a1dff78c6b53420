"""Crash-safe, resumable storage of a video's predictions while it is being analysed.

Predictions are kept in a hidden folder beside the output file, ``.<output name>.partial/``, as one
small ``.npz`` chunk per range of frames, each written atomically. After a crash (even SIGKILL) the
next run reads the chunks back and analyses only the frames still missing, so no frame is lost or
duplicated. A ``run.json`` fingerprint (scorer, snapshot, backend, frame count...) makes sure chunks
of a different model or video are never mixed in: on mismatch the folder is started afresh.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from markerless.errors import LabelFileError
from markerless.io.atomic import write_bytes, write_text

FINGERPRINT_FILE = "run.json"
END_FILE = "end.json"


def partial_dir(output: str | Path) -> Path:
    """The folder holding the chunks of ``output`` while it is being computed."""
    output = Path(output)
    return output.parent / f".{output.name}.partial"


def ranges_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the runs of True in a boolean vector."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


class PartialResults:
    """The predictions of one video computed so far, persisted in chunks.

    ``add(indices, values)`` buffers rows and saves a chunk every ``chunk_frames`` frames;
    ``flush()`` saves what is buffered. ``values`` are ``float32 (B, K, 3)`` rows of frames ``indices``.
    """

    def __init__(
        self, output: str | Path, n_frames: int, n_keypoints: int, fingerprint: dict[str, Any], chunk_frames: int = 500
    ) -> None:
        self.output = Path(output)
        self.dir = partial_dir(self.output)
        self.n_frames = int(n_frames)
        self.n_keypoints = int(n_keypoints)
        self.chunk_frames = int(chunk_frames)
        self.fingerprint = {**fingerprint, "n_frames": self.n_frames, "n_keypoints": self.n_keypoints}
        self.values = np.full((self.n_frames, self.n_keypoints, 3), np.nan, dtype=np.float32)
        self.done = np.zeros(self.n_frames, dtype=bool)
        self.end: int | None = None  # frames the video really has, once decoding reached its end
        self.resumed_frames = 0
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        self._open()

    # --- state on disk -----------------------------------------------------------------------
    def _open(self) -> None:
        stored = self.dir / FINGERPRINT_FILE
        if stored.exists():
            try:
                same = json.loads(stored.read_text(encoding="utf-8")) == json.loads(json.dumps(self.fingerprint))
            except (OSError, ValueError):
                same = False
            if not same:
                shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        write_text(stored, json.dumps(self.fingerprint, indent=1, sort_keys=True))
        for chunk in sorted(self.dir.glob("chunk-*.npz")):
            try:
                with np.load(chunk) as data:
                    frames, values = data["frames"], data["values"]
            except (OSError, ValueError, KeyError):
                chunk.unlink(missing_ok=True)  # unreadable leftovers are recomputed
                continue
            keep = (frames >= 0) & (frames < self.n_frames)
            self.values[frames[keep]] = values[keep]
            self.done[frames[keep]] = True
        end_file = self.dir / END_FILE
        if end_file.exists():
            self.end = int(json.loads(end_file.read_text(encoding="utf-8"))["end"])
        self.resumed_frames = int(self.done.sum())

    def add(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Record predictions of frames ``indices``; saves a chunk when enough rows are buffered."""
        indices = np.asarray(indices, dtype=np.int64)
        values = np.asarray(values, dtype=np.float32)
        if values.shape != (len(indices), self.n_keypoints, 3):
            raise LabelFileError(
                f"Predictions of shape {values.shape} for {len(indices)} frames do not match the "
                f"{self.n_keypoints} keypoints of {self.output}."
            )
        self.values[indices] = values
        self.done[indices] = True
        self._pending.append((indices, values))
        self._pending_rows += len(indices)
        if self._pending_rows >= self.chunk_frames:
            self.flush()

    def flush(self) -> None:
        """Save the buffered rows as one chunk (atomically)."""
        if not self._pending:
            return
        frames = np.concatenate([f for f, _ in self._pending])
        values = np.concatenate([v for _, v in self._pending])
        buffer = io.BytesIO()
        np.savez(buffer, frames=frames, values=values)
        write_bytes(self.dir / f"chunk-{int(frames.min()):09d}-{int(frames.max()) + 1:09d}.npz", buffer.getvalue())
        self._pending, self._pending_rows = [], 0

    def mark_end(self, end: int) -> None:
        """Record that the video really ends at frame ``end`` (its header may promise more)."""
        self.end = min(int(end), self.n_frames)
        write_text(self.dir / END_FILE, json.dumps({"end": self.end}))

    # --- queries -----------------------------------------------------------------------------
    @property
    def n_valid(self) -> int:
        """Frames the video has (the header's count unless decoding found fewer)."""
        return self.n_frames if self.end is None else self.end

    def missing(self, start: int = 0, stop: int | None = None) -> list[tuple[int, int]]:
        """Ranges of frames in ``[start, stop)`` without predictions yet."""
        stop = self.n_valid if stop is None else min(stop, self.n_valid)
        mask = np.zeros(self.n_frames, dtype=bool)
        mask[start:stop] = ~self.done[start:stop]
        return ranges_of(mask)

    def complete(self) -> bool:
        """Whether every frame of the video has predictions."""
        return bool(self.done[: self.n_valid].all())

    def result(self) -> np.ndarray:
        """``float32 (frames, K, 3)`` predictions of every frame; fails if some are missing."""
        if not self.complete():
            raise LabelFileError(f"{len(self.missing())} frame ranges of {self.output} are still missing.")
        return self.values[: self.n_valid]

    def discard(self) -> None:
        """Remove the chunk folder (after the final files are written)."""
        shutil.rmtree(self.dir, ignore_errors=True)
