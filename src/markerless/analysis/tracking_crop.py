"""Tracking crops: analyse one animal inside a window that follows it, instead of the whole frame.

A single animal fills a small part of a typical frame (the openfield mouse: at most ~140 px of a
640x480 frame), so most of the network's work on a whole frame is spent on empty arena. A
:class:`CropTracker` runs the network on a fixed-size window centred where the animal was in the
previous batch, and checks every frame: a frame whose result cannot be trusted (too few keypoints
found, or a found keypoint close to an inner edge of the window, where the animal may extend past
it) is analysed again on the whole frame, and a batch with no trusted frame sends the next batch to
the whole frame too. This is DeepLabCut's ``dynamic`` cropping, batched: the window moves once per
batch, to where the animal's velocity over the last batch takes it by the middle of the next one.

One limitation follows from the checks: a keypoint that lies outside the window while every other
keypoint is found well inside it is reported as not found (low score) rather than re-analysed.

Several animals: a :class:`GroupCropTracker` runs a multi-animal net on one window holding every
animal (the SLEAP flies: both flies fit 448x448 of the 1024x1024 frame in every labelled frame). It
assembles the net's outputs into animals itself, for the window and the whole frame alike, and trusts a
window frame only when it finds as many animals as the last whole frame did; while fewer animals than
the project's individuals are in view it analyses a whole frame every :data:`GROUP_RECHECK_FRAMES` frames,
so an animal walking in is noticed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from markerless.errors import ModelError
from markerless.model.skeleton import PoseLayout
from markerless.project.recipe import WINDOW_MAX_FRACTION, window_worth

ALIGN = 32
"""Window origins and sizes are multiples of this (the backbone stride), so the window's output grid
coincides with the whole frame's."""
SECOND_LOOK_ALIGN = 8
"""Origins of a second look's window are multiples of this (the heatmaps' stride): the window can sit
closer to the animal than 32-pixel steps allow, and its keypoints are still sampled on the whole
frame's heatmap grid."""
GROUP_RECHECK_FRAMES = 30
"""While a :class:`GroupCropTracker` expects fewer animals than the project's individuals, one frame in this
many is analysed whole as well: about a second of 30 fps video, at a cost of one whole frame per 30 (about
a sixth more work with a window a fifth of the frame) and only while an animal is missing."""


@dataclass(frozen=True)
class CropSettings:
    """How a :class:`CropTracker` crops and when it falls back to the whole frame.

    ``size``: window (width, height) in frame pixels, rounded up to multiples of 32; ``threshold``:
    the score from which a keypoint counts as found; ``min_found``: the fraction of keypoints that
    must be found in a frame; ``margin``: found keypoints closer than this many pixels to an inner
    window edge (one that is not the frame's edge) make the frame analysed again on the whole frame.
    """

    size: tuple[int, int] = (256, 256)
    threshold: float = 0.3
    min_found: float = 0.5
    margin: int = 24

    def __post_init__(self) -> None:
        w, h = (int(v) for v in self.size)
        if w < ALIGN or h < ALIGN:
            raise ModelError(f"The tracking crop must be at least {ALIGN}x{ALIGN} pixels, got {w}x{h}.")
        if not 0.0 <= self.threshold <= 1.0 or not 0.0 < self.min_found <= 1.0:
            raise ModelError("Tracking-crop threshold must be in [0, 1] and min_found in (0, 1].")
        if self.margin < 0 or 2 * self.margin >= min(w, h):
            raise ModelError(f"Tracking-crop margin {self.margin} px does not fit a {w}x{h} window.")
        object.__setattr__(self, "size", (_round_up(w), _round_up(h)))

    def fits(self, frame_size: tuple[int, int], max_fraction: float = WINDOW_MAX_FRACTION) -> bool:
        """Whether the window is small enough against ``frame_size`` (width, height) to be worth it."""
        return window_worth(self.size, frame_size, max_fraction)


def _round_up(value: int) -> int:
    return -(-int(value) // ALIGN) * ALIGN


def window_origin(centre: np.ndarray, size: tuple[int, int], frame_size: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of the ``size`` window centred near ``centre`` (x, y), inside the frame, aligned to 32."""
    x0, y0 = window_origins(np.asarray(centre, dtype=np.float64)[None], size, frame_size)[0]
    return int(x0), int(y0)


def window_origins(
    centres: np.ndarray, size: tuple[int, int], frame_size: tuple[int, int], align: int = ALIGN
) -> np.ndarray:
    """``int64 (B, 2)``: :func:`window_origin` of each centre ``(B, 2)`` (x, y), aligned to ``align``."""
    extent, full = np.asarray(size, dtype=np.float64), np.asarray(frame_size, dtype=np.float64)
    start = np.round((np.asarray(centres, dtype=np.float64) - extent / 2) / align) * align
    return np.clip(start, 0, full - extent).astype(np.int64)


def found_keypoints(predictions: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean ``(B, K)``: score at least ``threshold`` and finite coordinates."""
    return (predictions[..., 2] >= threshold) & np.isfinite(predictions[..., :2]).all(-1)


def trusted_frames(
    predictions: np.ndarray,
    origin: tuple[int, int] | np.ndarray,
    settings: CropSettings,
    frame_size: tuple[int, int],
) -> np.ndarray:
    """Boolean ``(B,)``: which window predictions (in frame pixels) can stand without the whole frame.

    ``origin``: the window's top-left corner (x, y), one for the batch or one per frame ``(B, 2)``.
    """
    found = found_keypoints(predictions, settings.threshold)
    enough = found.mean(axis=1) >= settings.min_found
    return enough & ~near_inner_edge(predictions, origin, settings, frame_size)


def near_inner_edge(
    predictions: np.ndarray,
    origin: tuple[int, int] | np.ndarray,
    settings: CropSettings,
    frame_size: tuple[int, int],
) -> np.ndarray:
    """Boolean ``(B,)``: a found keypoint (frame pixels) lies within ``settings.margin`` of an inner window edge.

    ``origin``: the window's top-left corner (x, y), one for the batch or one per frame ``(B, 2)``.
    """
    found = found_keypoints(predictions, settings.threshold)
    origins = np.broadcast_to(np.asarray(origin, dtype=np.float64).reshape(-1, 2), (len(predictions), 2))
    x0, y0 = origins[:, :1], origins[:, 1:]
    (w, h), (fw, fh) = settings.size, frame_size
    x, y, m = predictions[..., 0], predictions[..., 1], settings.margin
    near = (
        ((x0 > 0) & (x < x0 + m))
        | ((y0 > 0) & (y < y0 + m))
        | ((x0 + w < fw) & (x > x0 + w - 1 - m))
        | ((y0 + h < fh) & (y > y0 + h - 1 - m))
    )
    return (near & found).any(axis=1)


def animal_centre(predictions: np.ndarray, settings: CropSettings) -> np.ndarray | None:
    """Where the window goes next: the centre (x, y) of the found keypoints' box, or None if none found.

    The centre is that of the last frame with enough found keypoints, moved on by the animal's
    velocity between the first and the last such frame of the batch, to the middle of the next batch.
    """
    found = found_keypoints(predictions, settings.threshold)
    good = np.flatnonzero(found.mean(axis=1) >= settings.min_found)
    if not len(good):
        return None
    xy = np.where(found[..., None], predictions[..., :2], np.nan)
    centres = (np.nanmin(xy[good], axis=1) + np.nanmax(xy[good], axis=1)) / 2  # (G, 2)
    return _led(centres, good, len(predictions))


def _led(centres: np.ndarray, frames: np.ndarray, batch: int) -> np.ndarray:
    """The last of ``centres`` ``(G, 2)`` (at ``frames`` of a batch of ``batch``) moved on by their velocity
    to the middle of the next batch."""
    velocity = (centres[-1] - centres[0]) / (frames[-1] - frames[0]) if len(frames) > 1 else np.zeros(2)
    ahead = (batch - frames[-1]) + (batch - 1) / 2  # frames to the next batch's middle
    return centres[-1] + velocity * ahead


class CropTracker:
    """A backend-like callable: frames ``uint8 (B, H, W, 3)`` -> ``float32 (B, K, 3)`` in frame pixels.

    ``whole`` runs the network on whole frames, ``window`` on windows of ``settings.size`` (they may
    be the same callable, e.g. PyTorch, or two compiled models of fixed input size). Call
    :meth:`reset` before frames that do not follow the previous ones (another video or range).
    ``second_look``: a frame whose window result is not trusted but found the animal is first analysed
    again in a window centred on what it found, and goes to the whole frame only if that is not trusted
    either (live posing: two windows cost a fraction of a whole frame, which sets the latency's tail).
    """

    def __init__(
        self,
        whole: Callable[[np.ndarray], np.ndarray],
        window: Callable[[np.ndarray], np.ndarray],
        settings: CropSettings,
        frame_size: tuple[int, int],
        *,
        second_look: bool = False,
    ) -> None:
        """Track within frames of ``frame_size`` (width, height)."""
        if not settings.fits(frame_size, max_fraction=1.0):
            w, h = settings.size
            raise ModelError(f"A {w}x{h} tracking crop does not fit {frame_size[0]}x{frame_size[1]} frames.")
        self.whole, self.window, self.settings = whole, window, settings
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.second_look = second_look
        self.centre: np.ndarray | None = None
        self.frames_in_window = 0
        self.frames_whole = 0
        self.frames_second_look = 0  # frames whose result came from the second window (counted in frames_in_window)

    def reset(self) -> None:
        """Forget where the animal was: the next batch is analysed on whole frames."""
        self.centre = None

    @property
    def window_fraction(self) -> float:
        """Fraction of the frames analysed so far whose result came from the window alone."""
        total = self.frames_in_window + self.frames_whole
        return self.frames_in_window / total if total else 0.0

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if self.centre is None:
            out = np.asarray(self.whole(frames), dtype=np.float32)
            self.frames_whole += len(frames)
        else:
            (w, h), (x0, y0) = self.settings.size, window_origin(self.centre, self.settings.size, self.frame_size)
            out = np.array(self.window(np.ascontiguousarray(frames[:, y0 : y0 + h, x0 : x0 + w])), dtype=np.float32)
            out[..., 0] += x0
            out[..., 1] += y0
            redo = np.flatnonzero(~trusted_frames(out, (x0, y0), self.settings, self.frame_size))
            if len(redo) and self.second_look:
                redo = self._look_again(frames, out, redo)
            if len(redo):
                out[redo] = self.whole(np.ascontiguousarray(frames[redo]))
            self.frames_whole += len(redo)
            self.frames_in_window += len(frames) - len(redo)
        self.centre = animal_centre(out, self.settings)
        return out

    def _look_again(self, frames: np.ndarray, out: np.ndarray, redo: np.ndarray) -> np.ndarray:
        """Analyse the ``redo`` frames again in windows centred on their first result; the frames still untrusted."""
        found = found_keypoints(out[redo], self.settings.threshold)
        seen = found.mean(axis=1) >= self.settings.min_found
        again = redo[seen]
        if not len(again):
            return redo
        xy = np.where(found[seen, :, None], out[again, :, :2], np.nan)
        centres = (np.nanmin(xy, axis=1) + np.nanmax(xy, axis=1)) / 2
        origins = window_origins(centres, self.settings.size, self.frame_size, SECOND_LOOK_ALIGN)  # (R, 2)
        (w, h) = self.settings.size
        rows = origins[:, 1, None, None] + np.arange(h)[None, :, None]  # (R, h, 1)
        cols = origins[:, 0, None, None] + np.arange(w)[None, None, :]  # (R, 1, w)
        crops = frames[again[:, None, None], rows, cols]  # (R, h, w, 3)
        second = np.array(self.window(np.ascontiguousarray(crops)), dtype=np.float32)
        second[..., :2] += origins[:, None, :].astype(np.float32)
        ok = trusted_frames(second, origins, self.settings, self.frame_size)
        out[again[ok]] = second[ok]
        self.frames_second_look += int(ok.sum())
        return np.sort(np.concatenate([redo[~seen], again[~ok]]))


@dataclass(frozen=True)
class AnimalGroup:
    """What a :class:`GroupCropTracker` knows of a multi-animal net's outputs.

    ``assemble``: a backend's raw output batch (peaks and affinities) -> keypoints
    ``(B, individuals * keypoints, 3)`` in the pixels of the frames the backend saw, laid out as
    ``layout`` (rows of the individuals, then ``single`` for unique body parts).
    """

    assemble: Callable[[np.ndarray], np.ndarray]
    layout: PoseLayout


class GroupCropTracker(CropTracker):
    """A backend-like callable for a multi-animal net: frames ``uint8 (B, H, W, 3)`` -> assembled keypoints
    ``float32 (B, individuals * keypoints, 3)`` in frame pixels (what ``group.assemble`` gives on whole frames).

    The window (``settings.size``, aligned as :class:`CropTracker`'s) is centred on the box of every found
    animal of the batch's last good frame, led by the box's velocity; an animal counts as found when at
    least ``settings.min_found`` of its body parts are. A window frame is trusted when it finds at least as
    many animals as the last frame analysed whole and no found keypoint lies within ``settings.margin`` of
    an inner window edge; the others are analysed whole. While fewer animals than the layout's individuals
    are expected, the last frame of a batch is also analysed whole when ``recheck_frames`` frames have passed
    since the last whole frame (a batch with a frame analysed whole anyway needs none). A batch whose animals
    spread wider than the window less its margins sends the next batch to whole frames (no window holds them).
    """

    def __init__(
        self,
        whole: Callable[[np.ndarray], np.ndarray],
        window: Callable[[np.ndarray], np.ndarray],
        group: AnimalGroup,
        settings: CropSettings,
        frame_size: tuple[int, int],
        *,
        recheck_frames: int = GROUP_RECHECK_FRAMES,
    ) -> None:
        """Track the animals of ``group`` within frames of ``frame_size`` (width, height)."""
        super().__init__(whole, window, settings, frame_size)
        if recheck_frames < 1:
            raise ModelError(f"recheck_frames must be at least 1, got {recheck_frames}.")
        self.group = group
        self.rows, self.keypoints = group.layout.shape
        self.individuals = len(group.layout.individuals)
        self.animal_cells = group.layout.valid[: self.individuals]  # (A, K): the animals' body parts
        self.recheck_frames = int(recheck_frames)
        self.expected = 0  # animals found in the last frame analysed whole
        self.since_whole = 0  # frames since the last frame analysed whole
        self.frames_rechecked = 0  # frames analysed whole only because a check for a missing animal was due

    def reset(self) -> None:
        """Forget where the animals were: the next batch is analysed on whole frames."""
        super().reset()
        self.expected, self.since_whole = 0, 0

    def _assembled(self, infer: Callable[[np.ndarray], np.ndarray], frames: np.ndarray) -> np.ndarray:
        out = np.array(self.group.assemble(infer(np.ascontiguousarray(frames))), dtype=np.float32)
        return out.reshape(len(frames), self.rows * self.keypoints, 3)

    def found_animals(self, predictions: np.ndarray) -> np.ndarray:
        """Boolean ``(B, individuals)``: which animals of assembled keypoints ``(B, rows * keypoints, 3)`` are found."""
        points = predictions.reshape(len(predictions), self.rows, self.keypoints, 3)[:, : self.individuals]
        found = found_keypoints(points, self.settings.threshold) & self.animal_cells
        return found.sum(axis=-1) >= self.settings.min_found * self.animal_cells.sum(axis=-1)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        n = len(frames)
        if self.centre is None:
            out = self._assembled(self.whole, frames)
            whole = np.arange(n)
        else:
            (w, h), (x0, y0) = self.settings.size, window_origin(self.centre, self.settings.size, self.frame_size)
            out = self._assembled(self.window, frames[:, y0 : y0 + h, x0 : x0 + w])
            out[..., 0] += x0
            out[..., 1] += y0
            redo = self.found_animals(out).sum(axis=1) < self.expected
            redo |= near_inner_edge(out, (x0, y0), self.settings, self.frame_size)
            due = self.expected < self.individuals and self.since_whole + n >= self.recheck_frames
            if due and not redo.any():  # an animal may have walked in since the last whole frame
                redo[-1] = True
                self.frames_rechecked += 1
            whole = np.flatnonzero(redo)
            if len(whole):
                out[whole] = self._assembled(self.whole, frames[whole])
        self.frames_whole += len(whole)
        self.frames_in_window += n - len(whole)
        if len(whole):
            self.expected = int(self.found_animals(out[whole[-1:]]).sum())
            self.since_whole = n - 1 - int(whole[-1])
        else:
            self.since_whole += n
        self.centre = self._group_centre(out)
        return out

    def _group_centre(self, predictions: np.ndarray) -> np.ndarray | None:
        """Where the window goes next: the centre of the found animals' box in the last frame finding as many
        animals as expected (at least one), led by the box's velocity over the batch's such frames whose box
        fits the window (as :func:`animal_centre`); None when there is no such frame or the last one's box does
        not fit the window less its margins."""
        animals = self.found_animals(predictions)  # (B, A)
        good = np.flatnonzero(animals.sum(axis=1) >= max(self.expected, 1))
        if not len(good):
            return None
        points = predictions[good].reshape(len(good), self.rows, self.keypoints, 3)[:, : self.individuals]
        found = found_keypoints(points, self.settings.threshold) & self.animal_cells & animals[good, :, None]
        xy = np.where(found[..., None], points[..., :2], np.nan).reshape(len(good), -1, 2)
        low, high = np.nanmin(xy, axis=1), np.nanmax(xy, axis=1)  # (G, 2): every good frame has a found point
        inner = np.asarray(self.settings.size) - 1 - 2 * self.settings.margin
        fits = ((high - low) <= inner).all(axis=1)
        if not fits[-1]:
            return None
        return _led(((low + high) / 2)[fits], good[fits], len(predictions))
