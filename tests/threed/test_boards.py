"""Boards: geometry, detection of both kinds, pairing of images across cameras, the detection cache."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from markerless.errors import CalibrationError, ConfigError
from markerless.threed.boards import Board, align_detections, detect_board, image_key


@pytest.mark.parametrize("board", [Board("checkerboard", 6, 9, 25.0), Board("charuco", 5, 7, 30.0)])
def test_flat_render_is_detected_exactly(board: Board) -> None:
    image, affine = board.render(40, margin=20)
    found = board.detect(image)
    expected = board.object_points()[:, :2] @ affine[:, :2].T + affine[:, 2]
    assert np.isfinite(found).all()
    if board.kind == "checkerboard" and np.abs(found - expected).max() > 1:
        found = found[::-1]  # OpenCV may number a checkerboard from the other end
    assert np.abs(found - expected).max() < 0.1
    assert board.object_points().shape == (board.n_corners, 3)


def test_board_checks_its_spec() -> None:
    with pytest.raises(ConfigError, match="board type"):
        Board("circles")
    with pytest.raises(ConfigError, match="square_size"):
        Board(square_size=0)
    assert np.isnan(Board().detect(np.full((100, 100), 128, np.uint8))).all()


def test_image_keys_pair_cameras() -> None:
    assert image_key(Path("camera-1-07.jpg"), "camera-1") == "7"
    assert image_key(Path("left12.jpg"), "left") == "12"


def test_detections_are_cached_and_refreshed_when_the_file_changes(tmp_path: Path, monkeypatch) -> None:
    board = Board("charuco", 5, 7, 30.0)
    image, _ = board.render(40, margin=30)
    paths = []
    for i in (1, 2):
        paths.append(tmp_path / f"camA-{i:02d}.png")
        cv2.imwrite(str(paths[-1]), image)
    cache = tmp_path / "cache"
    first = detect_board(paths, board, camera="camA", cache_dir=cache)
    assert first.keys == ["1", "2"] and first.found.all() and first.size == image.shape[::-1]

    def fail(self, image):
        raise AssertionError("detection should come from the cache")

    monkeypatch.setattr(Board, "detect", fail)
    again = detect_board(paths, board, camera="camA", cache_dir=cache)
    assert np.array_equal(again.corners, first.corners, equal_nan=True)
    cv2.imwrite(str(paths[0]), np.full_like(image, 200))  # the file changes: detect again
    with pytest.raises(AssertionError, match="cache"):
        detect_board(paths, board, camera="camA", cache_dir=cache)


def test_align_detections_and_missing_files(tmp_path: Path) -> None:
    board = Board("charuco", 5, 7, 30.0)
    image, _ = board.render(40, margin=30)
    for name in ("a-1.png", "a-2.png", "b-2.png"):
        cv2.imwrite(str(tmp_path / name), image)
    da = detect_board([tmp_path / "a-1.png", tmp_path / "a-2.png"], board, camera="a")
    db = detect_board([tmp_path / "b-2.png"], board, camera="b")
    keys, corners = align_detections([da, db])
    assert keys == ["1", "2"] and corners.shape == (2, 2, board.n_corners, 2)
    assert np.isnan(corners[1, 0]).all() and np.isfinite(corners[1, 1]).all()
    with pytest.raises(CalibrationError, match="does not exist"):
        detect_board([tmp_path / "nope.png"], board)


def test_boards_in_a_video_are_found_every_nth_frame(tmp_path: Path) -> None:
    from markerless.io.video import VideoWriter

    board = Board("charuco", 5, 7, 30.0)
    image, _ = board.render(40, margin=30)
    frame = np.ascontiguousarray(np.repeat(image[..., None], 3, axis=-1))
    blank = np.full_like(frame, 128)
    video = tmp_path / "calib_camB.mp4"
    with VideoWriter(video, 10, (frame.shape[1], frame.shape[0])) as writer:
        for i in range(6):
            writer.write(frame if i != 2 else blank)
    det = detect_board(video, board, camera="camB", every=2, cache_dir=tmp_path / "cache")
    assert det.keys == ["0", "4"]  # frames 0, 2, 4 looked at; frame 2 shows no board
    assert det.corners.shape == (2, board.n_corners, 2) and np.isfinite(det.corners).all()
    assert det.size == (frame.shape[1], frame.shape[0])
    assert detect_board(video, board, camera="camB", every=2, cache_dir=tmp_path / "cache").keys == ["0", "4"]


def test_legacy_charuco_boards_need_the_flag() -> None:
    legacy = Board("charuco", 6, 8, 30.0, legacy_pattern=True)
    image, _ = legacy.render(40, margin=20)
    assert np.isfinite(legacy.detect(image)).all()
    assert not np.isfinite(Board("charuco", 6, 8, 30.0).detect(image)).any()
    assert legacy.to_dict()["legacy_pattern"] is True and "legacy_pattern" not in Board().to_dict()
