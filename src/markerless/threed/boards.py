"""Calibration boards (checkerboard, ChArUco): geometry, rendering and detection with a cache.

Detections are dense arrays ``(frames, corners, 2)`` with NaN for corners not found, so that all later
steps are vectorised. Detections of each source file (image or video) are cached in an ``.npz``
keyed by the file's path, size and modification time and by the board, so re-running is fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from markerless.errors import CalibrationError, ConfigError
from markerless.io.atomic import atomic_path
from markerless.threed.naming import without_camera

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
BOARD_KINDS = ("checkerboard", "charuco")


@dataclass(frozen=True)
class Board:
    """A planar calibration target.

    Attributes:
        kind: ``"checkerboard"`` or ``"charuco"``.
        rows, cols: checkerboard: inner corners along y and x (9 x 6 boards: ``cols=9, rows=6``);
            ChArUco: squares along y and x (as aniposelib and ``cv2.aruco.CharucoBoard`` count them).
        square_size: side of one square, in ``unit`` (the calibration's length unit).
        marker_size: ChArUco marker side (default 0.75 of a square).
        dictionary: ChArUco ArUco dictionary name (``cv2.aruco`` constant without prefix).
        legacy_pattern: ChArUco boards printed with OpenCV < 4.6 or aniposelib (they differ from newer
            ones when the number of rows is even).
        unit: length unit of ``square_size`` (written into ``calibration.toml``; 3D points come out in it).
    """

    kind: str = "checkerboard"
    rows: int = 6
    cols: int = 9
    square_size: float = 1.0
    marker_size: float | None = None
    dictionary: str = "DICT_4X4_50"
    legacy_pattern: bool = False
    unit: str = "mm"

    def __post_init__(self) -> None:
        if self.kind not in BOARD_KINDS:
            raise ConfigError(f"Unknown board type {self.kind!r}; use one of {list(BOARD_KINDS)}.")
        if self.rows < 2 or self.cols < 2:
            raise ConfigError(f"A board needs at least 2 rows and 2 columns; got rows={self.rows}, cols={self.cols}.")
        if self.square_size <= 0:
            raise ConfigError(f"square_size must be positive; got {self.square_size}.")
        if self.kind == "charuco" and not hasattr(cv2.aruco, f"{self.dictionary}"):
            known = sorted(n for n in dir(cv2.aruco) if re.fullmatch(r"DICT_(\d+X\d+_\d+|ARUCO_ORIGINAL)", n))
            raise ConfigError(
                f"Unknown ArUco dictionary {self.dictionary!r}; use one of {', '.join(known)} (the one the board "
                "was printed with)."
            )

    @property
    def corner_grid(self) -> tuple[int, int]:
        """Inner corners ``(along x, along y)``."""
        if self.kind == "checkerboard":
            return self.cols, self.rows
        return self.cols - 1, self.rows - 1

    @property
    def n_corners(self) -> int:
        """Number of detectable corners."""
        nx, ny = self.corner_grid
        return nx * ny

    def object_points(self) -> np.ndarray:
        """``(n_corners, 3)`` corner positions on the board plane (z = 0), in ``square_size`` units."""
        if self.kind == "charuco":
            return np.asarray(self.charuco_board().getChessboardCorners(), dtype=np.float64).reshape(-1, 3)
        nx, ny = self.corner_grid
        gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
        pts = np.stack([gx.ravel(), gy.ravel(), np.zeros(nx * ny)], axis=1)
        return pts * self.square_size

    def charuco_board(self) -> cv2.aruco.CharucoBoard:
        """The OpenCV ChArUco board."""
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        marker = self.marker_size if self.marker_size else 0.75 * self.square_size
        board = cv2.aruco.CharucoBoard((self.cols, self.rows), self.square_size, marker, dictionary)
        if self.legacy_pattern:
            board.setLegacyPattern(True)
        return board

    def render(self, pixels_per_square: int = 60, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A grey image of the board and the 2x3 affine map from board units to its pixels.

        For a checkerboard the image holds ``cols + 1`` by ``rows + 1`` squares around the inner corners.
        """
        pps = int(pixels_per_square)
        if self.kind == "charuco":
            size = (self.cols * pps + 2 * margin, self.rows * pps + 2 * margin)
            image = self.charuco_board().generateImage(size, marginSize=margin)
            scale = pps / self.square_size
            return image, np.array([[scale, 0, margin - 0.5], [0, scale, margin - 0.5]], dtype=np.float64)
        nx, ny = self.cols + 1, self.rows + 1
        yy, xx = np.mgrid[0 : ny * pps, 0 : nx * pps]
        squares = ((yy // pps + xx // pps) % 2 == 0).astype(np.uint8) * 255
        image = np.full((ny * pps + 2 * margin, nx * pps + 2 * margin), 255, np.uint8)
        image[margin : margin + ny * pps, margin : margin + nx * pps] = squares
        scale = pps / self.square_size
        # the first inner corner sits one square in from the border
        offset = margin + pps - 0.5
        return image, np.array([[scale, 0, offset], [0, scale, offset]], dtype=np.float64)

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Corners found in one image: ``(n_corners, 2)`` pixels, NaN where a corner was not found."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        out = np.full((self.n_corners, 2), np.nan)
        if self.kind == "checkerboard":
            flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
            found, corners = cv2.findChessboardCorners(gray, self.corner_grid, flags=flags)
            if found:
                criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_MAX_ITER, 30, 0.001)
                # the refinement window must not reach the neighbouring corners (small or oblique boards)
                grid = corners.reshape(self.rows, self.cols, 2)
                spacing = min(
                    np.linalg.norm(np.diff(grid, axis=0), axis=-1).min(),
                    np.linalg.norm(np.diff(grid, axis=1), axis=-1).min(),
                )
                half = int(np.clip(spacing * 0.4, 2, 11))
                corners = cv2.cornerSubPix(gray, corners, (half, half), (-1, -1), criteria)
                out[:] = corners.reshape(-1, 2)
            return out
        detector = cv2.aruco.CharucoDetector(self.charuco_board())
        corners, ids, _, _ = detector.detectBoard(gray)
        if ids is not None and len(ids):
            out[np.asarray(ids).ravel()] = np.asarray(corners).reshape(-1, 2)
        return out

    def to_dict(self) -> dict[str, object]:
        """Plain values (for the 3D config and calibration metadata)."""
        return {k: v for k, v in asdict(self).items() if v is not None and not (k == "legacy_pattern" and not v)}


@dataclass
class Detections:
    """Board corners found in one camera's calibration images or video.

    Attributes:
        keys: one key per frame, shared across cameras for the same instant (image number or frame index).
        corners: float64 ``(frames, n_corners, 2)``; NaN where not found.
        size: image ``(width, height)``.
    """

    keys: list[str]
    corners: np.ndarray
    size: tuple[int, int]

    @property
    def found(self) -> np.ndarray:
        """Bool ``(frames,)``: frames with at least one corner."""
        return np.isfinite(self.corners[..., 0]).any(axis=1)


def _file_signature(path: Path, board: Board, every: int) -> str:
    stat = path.stat()
    blob = json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, board.to_dict(), every], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _cached(
    path: Path, board: Board, every: int, cache_dir: Path | None, compute
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    cache_file = None
    if cache_dir is not None:
        cache_file = Path(cache_dir) / f"{path.name}.{_file_signature(path, board, every)}.npz"
        if cache_file.exists():
            try:
                with np.load(cache_file) as data:
                    return data["frames"], data["corners"], (int(data["size"][0]), int(data["size"][1]))
            except (OSError, KeyError, ValueError):
                pass  # unreadable cache: recompute
    frames, corners, size = compute()
    if cache_file is not None:
        with atomic_path(cache_file) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, frames=frames, corners=corners, size=np.asarray(size))
    return frames, corners, size


def _detect_image(path: Path, board: Board) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise CalibrationError(f"Cannot read the calibration image {path}; is it an image file?")
    return np.zeros(1, np.int64), board.detect(image)[None], (image.shape[1], image.shape[0])


def _detect_video(path: Path, board: Board, every: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise CalibrationError(f"Cannot open the calibration video {path}.")
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    frames, corners = [], []
    index = 0
    with tqdm(total=n, desc=f"board in {path.name}", unit="frame", disable=None) as bar:
        while cap.grab():
            if index % every == 0:
                ok, frame = cap.retrieve()
                if ok:
                    found = board.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
                    if np.isfinite(found).any():
                        frames.append(index)
                        corners.append(found)
            index += 1
            bar.update(1)
    cap.release()
    if index == 0:
        raise CalibrationError(f"The calibration video {path} has no readable frames.")
    arr = np.stack(corners) if corners else np.zeros((0, board.n_corners, 2))
    return np.asarray(frames, np.int64), arr, size


def image_key(path: Path, camera: str | None) -> str:
    """Key that pairs images of the same instant across cameras: the digits left once the camera name is removed."""
    stem = without_camera(path.stem, camera) if camera else path.stem
    digits = re.findall(r"\d+", stem)
    return str(int(digits[-1])) if digits else stem


def detect_board(
    sources: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    board: Board,
    *,
    camera: str | None = None,
    every: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Detections:
    """Find the board in a camera's calibration images (a list) or video (one file).

    Args:
        sources: image files, or one video file.
        board: the board to look for.
        camera: the camera's name (removed from image names before pairing them by number).
        every: for videos, look at every n-th frame only.
        cache_dir: folder for cached detections (None: no cache).
    """
    paths = [Path(sources)] if isinstance(sources, str | os.PathLike) else [Path(p) for p in sources]
    if not paths:
        raise CalibrationError(f"No calibration images or videos for camera {camera!r}.")
    for p in paths:
        if not p.exists():
            raise CalibrationError(f"Calibration file {p} does not exist.")
    cache = Path(cache_dir) if cache_dir is not None else None
    keys: list[str] = []
    corners: list[np.ndarray] = []
    size: tuple[int, int] | None = None
    images = [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES]
    videos = [p for p in paths if p.suffix.lower() not in IMAGE_SUFFIXES]
    for path in tqdm(images, desc=f"board in {camera or 'images'}", unit="image", disable=None):
        _, found, shape = _cached(path, board, 1, cache, lambda path=path: _detect_image(path, board))
        keys.append(image_key(path, camera))
        corners.append(found[0])
        size = size or shape
    for path in videos:
        frames, found, shape = _cached(path, board, every, cache, lambda path=path: _detect_video(path, board, every))
        # several videos (or images and videos) per camera: pair them across cameras by their name without the camera's
        recording = without_camera(path.stem, camera) if camera else path.stem
        prefix = f"{recording}:" if len(videos) > 1 or images else ""
        keys += [f"{prefix}{int(f)}" for f in frames]
        corners += list(found)
        size = size or shape
    arr = np.stack(corners) if corners else np.zeros((0, board.n_corners, 2))
    if len(set(keys)) != len(keys):
        raise CalibrationError(
            f"Calibration images of camera {camera!r} cannot be paired: several share the number in their name."
        )
    return Detections(keys, arr, size or (0, 0))


def align_detections(detections: Sequence[Detections]) -> tuple[list[str], np.ndarray]:
    """Pair frames across cameras by key: ``(keys, corners (cameras, frames, n_corners, 2))``."""
    keys = sorted({k for d in detections for k in d.keys}, key=lambda k: (len(k), k))
    pos = {k: i for i, k in enumerate(keys)}
    n_corners = detections[0].corners.shape[1] if detections else 0
    out = np.full((len(detections), len(keys), n_corners, 2), np.nan)
    for c, det in enumerate(detections):
        if len(det.keys):
            out[c, [pos[k] for k in det.keys]] = det.corners
    return keys, out


__all__ = ["BOARD_KINDS", "Board", "Detections", "align_detections", "detect_board", "image_key"]
