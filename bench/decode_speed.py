"""Decoding speed of markerless.io.video: sequential batches (RGB and BGR) and random frames.

Usage: python bench/decode_speed.py [VIDEO] [--quick]
Default video: ../shared/data/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4. ``--quick`` reads
only the first 300 frames sequentially and 10 random frames (a smoke test; numbers are not meaningful).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from markerless.io.video import VideoReader

DEFAULT = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "openfield-Pranav-2018-10-30" / "videos" / "m3v1mp4.mp4"
)


def sequential(path: Path, color: str, stop: int | None, batch_size: int = 32) -> tuple[int, float]:
    """Frames decoded and seconds taken for one pass over frames ``0..stop``."""
    with VideoReader(path, color=color) as reader:
        start = time.perf_counter()
        n = sum(len(idx) for idx, _ in reader.iter_batches(batch_size, 0, stop))
        return n, time.perf_counter() - start


def random_access(path: Path, n: int, seed: int = 0) -> tuple[int, float, float]:
    """Seconds to read ``n`` random frames with ``read_frames`` (sorted) and one by one with ``read``."""
    with VideoReader(path) as reader:
        indices = np.random.default_rng(seed).choice(reader.n_frames, n, replace=False)
    with VideoReader(path) as reader:
        start = time.perf_counter()
        reader.read_frames(indices)
        batched = time.perf_counter() - start
    with VideoReader(path) as reader:
        start = time.perf_counter()
        for i in indices:
            reader.read(int(i))
        single = time.perf_counter() - start
    return n, batched, single


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--quick", action="store_true", help="smoke test: few frames")
    args = parser.parse_args()
    with VideoReader(args.video) as reader:
        print(reader)
    stop = 300 if args.quick else None
    for color in ("bgr", "rgb"):
        n, seconds = sequential(args.video, color, stop)
        print(f"sequential {color}: {n} frames in {seconds:.2f} s = {n / seconds:.0f} fps")
    n, batched, single = random_access(args.video, 10 if args.quick else 50)
    print(
        f"random {n} frames: read_frames {batched:.2f} s ({n / batched:.1f} fps), one by one {single:.2f} s ({n / single:.1f} fps)"
    )


if __name__ == "__main__":
    main()
