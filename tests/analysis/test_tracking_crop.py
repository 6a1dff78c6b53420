"""Tracking crops: windows follow the animal, untrusted frames go to the whole frame, results match."""

from __future__ import annotations

import numpy as np
import pytest

from markerless.analysis.tracking_crop import (
    CropSettings,
    CropTracker,
    animal_centre,
    trusted_frames,
    window_origin,
    window_origins,
)
from markerless.errors import ModelError

FRAME = (320, 240)  # width, height


def disc_frames(centres: list[tuple[int, int]], radius: int = 12) -> np.ndarray:
    """Light frames ``(N, 240, 320, 3)`` with one dark disc per frame at ``centres`` (x, y)."""
    w, h = FRAME
    yy, xx = np.mgrid[:h, :w]
    frames = np.full((len(centres), h, w, 3), 200, dtype=np.uint8)
    for frame, (cx, cy) in zip(frames, centres, strict=True):
        frame[(xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2] = 20
    return frames


class DiscFinder:
    """A stand-in network: keypoints = the dark disc's centroid and its leftmost pixel, score 1 if seen."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []  # (batch, width) of each call

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.calls.append((len(frames), frames.shape[2]))
        dark = frames[..., 0] < 100  # (B, H, W)
        ys, xs = np.mgrid[: dark.shape[1], : dark.shape[2]]
        count = dark.sum(axis=(1, 2))
        safe = np.maximum(count, 1)
        cx = (dark * xs).sum(axis=(1, 2)) / safe
        cy = (dark * ys).sum(axis=(1, 2)) / safe
        left = np.where(dark, xs, 10**6).min(axis=(1, 2)).astype(float)
        score = (count > 0).astype(float)
        out = np.stack([np.stack([cx, cy, score], -1), np.stack([left, cy, score], -1)], axis=1)
        return out.astype(np.float32)


def test_window_origin_is_aligned_and_inside_the_frame():
    assert window_origin(np.array([160.0, 120.0]), (128, 128), FRAME) == (96, 64)
    assert window_origin(np.array([5.0, 5.0]), (128, 128), FRAME) == (0, 0)
    assert window_origin(np.array([319.0, 239.0]), (128, 128), FRAME) == (192, 112)
    x0, y0 = window_origin(np.array([151.0, 77.0]), (96, 64), FRAME)
    assert x0 % 32 == 0 and y0 % 32 == 0


def test_settings_round_up_and_reject_bad_values():
    assert CropSettings(size=(100, 90)).size == (128, 96)
    assert CropSettings(size=(256, 256)).fits((640, 480)) and not CropSettings(size=(512, 448)).fits((640, 480))
    with pytest.raises(ModelError, match="margin"):
        CropSettings(size=(64, 64), margin=40)
    with pytest.raises(ModelError, match="at least"):
        CropSettings(size=(16, 64))


def test_frames_near_an_inner_edge_or_with_few_keypoints_are_not_trusted():
    settings = CropSettings(size=(128, 128), margin=10, min_found=0.5)
    origin = (96, 64)  # inner edges everywhere in a 320x240 frame
    preds = np.array(
        [
            [[150, 120, 0.9], [160, 130, 0.9]],  # well inside
            [[100, 120, 0.9], [160, 130, 0.9]],  # 4 px from the left edge
            [[150, 120, 0.9], [160, 130, 0.1]],  # half found: enough
            [[150, 120, 0.1], [160, 130, 0.1]],  # nothing found
            [[100, 120, 0.1], [160, 130, 0.9]],  # near the edge but not found: the found one decides
        ],
        dtype=np.float32,
    )
    assert trusted_frames(preds, origin, settings, FRAME).tolist() == [True, False, True, False, True]
    # at the frame's own edge there is nothing beyond the window to miss
    at_edge = np.array([[[3, 5, 0.9], [20, 20, 0.9]]], dtype=np.float32)
    assert trusted_frames(at_edge, (0, 0), settings, FRAME).tolist() == [True]


def test_animal_centre_uses_the_last_frame_with_enough_keypoints():
    settings = CropSettings(size=(128, 128))
    preds = np.array([[[10, 10, 0.9], [30, 50, 0.9]], [[200, 200, 0.1], [0, 0, 0.0]]], dtype=np.float32)
    np.testing.assert_allclose(animal_centre(preds, settings), [20, 30])
    assert animal_centre(preds[1:], settings) is None


def test_animal_centre_leads_a_moving_animal_to_the_next_batch():
    settings = CropSettings(size=(128, 128))
    x = np.array([10.0, 14.0, 18.0, 22.0])  # 4 px per frame; the next batch is at 26..38, middle 32
    preds = np.stack([np.stack([x, np.full(4, 50.0), np.ones(4)], -1)] * 2, axis=1)  # (4, 2, 3)
    np.testing.assert_allclose(animal_centre(preds, settings), [32.0, 50.0])


def test_tracker_matches_whole_frames_and_recovers_after_a_jump():
    """A disc drifting right, then jumping across the frame: every result equals the whole-frame one."""
    path = [(60 + 4 * i, 100 + 2 * i) for i in range(24)] + [(280, 200)] * 16 + [(40, 40)] * 8
    frames = disc_frames(path)
    reference = DiscFinder()(frames)
    whole, window = DiscFinder(), DiscFinder()
    tracker = CropTracker(whole, window, CropSettings(size=(128, 128), margin=8), FRAME)
    out = np.concatenate([tracker(frames[i : i + 8]) for i in range(0, len(frames), 8)])
    np.testing.assert_allclose(out, reference, atol=1e-4)
    assert window.calls and all(width == 128 for _, width in window.calls)
    # batches: whole (no animal yet), window, window, jump -> whole, window, jump -> whole
    assert (tracker.frames_in_window, tracker.frames_whole) == (24, 24)
    assert [n for n, _ in whole.calls] == [8, 8, 8]


def test_tracker_refuses_a_window_larger_than_the_frame():
    with pytest.raises(ModelError, match="does not fit"):
        CropTracker(DiscFinder(), DiscFinder(), CropSettings(size=(352, 128)), FRAME)


@pytest.mark.parametrize("second_look", [True, False])
def test_second_look_recentres_the_window_before_the_whole_frame(second_look: bool) -> None:
    """A disc half out of the window: the second look's window, centred on what the first found, is trusted."""
    frames = disc_frames([(100, 100)] * 2 + [(160, 100)] * 2)
    reference = DiscFinder()(frames)
    whole, window = DiscFinder(), DiscFinder()
    tracker = CropTracker(whole, window, CropSettings(size=(128, 128), margin=8), FRAME, second_look=second_look)
    out = np.concatenate([tracker(frames[:2]), tracker(frames[2:])])
    np.testing.assert_allclose(out, reference, atol=1e-4)
    if second_look:
        assert [n for n, _ in whole.calls] == [2] and [n for n, _ in window.calls] == [2, 2]
        assert (tracker.frames_in_window, tracker.frames_whole, tracker.frames_second_look) == (2, 2, 2)
    else:
        assert [n for n, _ in whole.calls] == [2, 2] and (tracker.frames_in_window, tracker.frames_whole) == (0, 4)


def test_second_look_falls_back_to_the_whole_frame_when_the_window_saw_nothing() -> None:
    frames = disc_frames([(100, 100)] * 2 + [(280, 200)] * 2)  # jumped out of the window entirely
    whole, window = DiscFinder(), DiscFinder()
    tracker = CropTracker(whole, window, CropSettings(size=(128, 128), margin=8), FRAME, second_look=True)
    out = np.concatenate([tracker(frames[:2]), tracker(frames[2:])])
    np.testing.assert_allclose(out, DiscFinder()(frames), atol=1e-4)
    assert [n for n, _ in whole.calls] == [2, 2] and tracker.frames_second_look == 0


def test_window_origins_match_window_origin() -> None:
    centres = np.array([[160.0, 120.0], [5.0, 5.0], [319.0, 239.0], [151.0, 77.0]])
    expected = [window_origin(c, (96, 64), FRAME) for c in centres]
    assert window_origins(centres, (96, 64), FRAME).tolist() == [list(e) for e in expected]
