"""The app's track view: a multi-animal project's prediction files, their lanes, frames and swaps.

Prediction files are those :func:`~markerless.io.dlc.find_prediction_files` finds beside the
project's videos (tracks ``_el.h5`` first, then raw predictions; not ``_filtered`` or other derived
files); the page names them by file name only, and only names in that list are served. Swaps, undo and
redo go through :mod:`markerless.tracking.repair`, one at a time.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

from markerless.app.store import NotFound
from markerless.io.dlc import find_prediction_files
from markerless.io.video import VideoReader
from markerless.model.poses import Poses
from markerless.project.prediction_files import load_predictions, prediction_suffixes
from markerless.project.project import Project
from markerless.tracking.repair import (
    SwapJournal,
    centroids,
    redo_swap,
    suspicious_frames,
    swap_history,
    swap_in_prediction_file,
    undo_swap,
)
from markerless.viz.draw import draw_poses, pose_colors


class SwapRequest(BaseModel):
    """Swap animals ``a`` and ``b`` (names) from frame ``start`` to ``stop`` (exclusive; None = the end)."""

    a: str
    b: str
    start: int
    stop: int | None = None


class TrackFiles:
    """The prediction files of a multi-animal project's videos and what the track view shows of them."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], Poses]] = {}

    def _listed(self) -> Iterator[tuple[Path, Path]]:
        """``(prediction file, video)`` of every tracks (``_el``) and raw prediction file beside the videos
        of a multi-animal project (none for a single-animal one)."""
        if not self.project.layout.multi_animal:
            return
        for video in self.project.videos:
            for suffix in prediction_suffixes(multi_animal=True):
                for path in find_prediction_files(video.parent, video.stem, suffix):
                    yield path, video

    def files(self) -> list[dict[str, Any]]:
        """Each prediction file (name) with its video (name); none for a single-animal project."""
        return [{"name": path.name, "video": video.name} for path, video in self._listed()]

    def _paths(self, name: str) -> tuple[Path, Path]:
        """``(prediction file, video)`` of a listed file name."""
        for path, video in self._listed():
            if path.name == name:
                return path, video
        raise NotFound(f"No prediction file {name!r} beside the project's videos; run `markerless analyze` first.")

    def _poses(self, path: Path) -> Poses:
        """The file's poses, read again only when the file changed."""
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._cache.get(path)
        if cached is None or cached[0] != key:
            cached = (key, load_predictions(self.project, path))
            self._cache[path] = cached
        return cached[1]

    def lanes(self, name: str) -> dict[str, Any]:
        """Per animal per frame: the fraction of confident points (0-100) and the centre (pixels,
        None where hidden); the suspicious events; the swap history; the animals' colours."""
        with self._lock:
            path, video = self._paths(name)
            return self._lanes(path, video, swap_history(path))

    def _lanes(self, path: Path, video: Path, journal: SwapJournal) -> dict[str, Any]:
        poses = self._poses(path)
        layout, pcutoff = poses.layout, self.project.pcutoff
        n = len(layout.individuals)
        parts = layout.valid[0]
        lik = np.nan_to_num(poses.data[:, :n][:, :, parts, 2], nan=0.0)
        visible = np.round(100 * (lik >= pcutoff).mean(-1)).astype(int)
        centre, size = centroids(poses, pcutoff)
        rounded = np.round(centre).astype(object)
        rounded[~np.isfinite(centre)] = None
        colors = pose_colors(layout, by="individual")[:n, 0]
        return {
            "name": path.name,
            "video": video.name,
            "individuals": list(layout.individuals),
            "colors": [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in colors.tolist()],
            "frames": poses.frames.tolist(),
            "visible": visible.T.tolist(),
            "x": rounded[..., 0].T.tolist(),
            "y": rounded[..., 1].T.tolist(),
            "size": [None if not np.isfinite(s) else round(float(s), 1) for s in size],
            "events": [asdict(e) for e in suspicious_frames(poses, pcutoff=pcutoff)],
            "applied": [asdict(s) for s in journal.applied],
            "undone": [asdict(s) for s in journal.undone],
            "stale": [p.name for p in journal.stale],
        }

    def image(self, name: str, frame: int) -> bytes:
        """Frame ``frame`` of the file's video as JPEG with each animal drawn in its colour and named."""
        with self._lock:
            path, video = self._paths(name)
            poses = self._poses(path)
        rows = np.nonzero(poses.frames == frame)[0]
        with VideoReader(video) as reader:
            if not 0 <= frame < reader.n_frames:
                raise NotFound(f"{video.name} has no frame {frame} (it has {reader.n_frames}).")
            image = reader.read(frame)
        layout = poses.layout
        colors = pose_colors(layout, by="individual")
        if len(rows):
            pose = poses.data[rows[0]]
            visible = np.nan_to_num(pose[..., 2], nan=0.0) >= self.project.pcutoff
            dot = max(3.0, min(image.shape[:2]) / 60)
            image = draw_poses(image, pose[..., :2], layout, visible=visible, colors=colors, dot_size=dot)
            self._names(image, pose, visible, layout.individuals, colors)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise NotFound(f"Frame {frame} of {video.name} could not be encoded.")
        return jpeg.tobytes()

    @staticmethod
    def _names(
        image: np.ndarray, pose: np.ndarray, visible: np.ndarray, names: tuple[str, ...], colors: np.ndarray
    ) -> None:
        """Write each animal's name above its highest visible point (not on images too small to read)."""
        if image.shape[0] < 160:
            return
        scale = image.shape[0] / 800
        for i, name in enumerate(names):  # a handful of animals, not a hot path
            xy = pose[i, visible[i], :2]
            if len(xy):
                x, y = int(xy[:, 0].min()), int(xy[:, 1].min()) - 4
                color = tuple(int(c) for c in colors[i, 0])
                cv2.putText(image, name, (x, max(y, 10)), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)

    def swap(self, name: str, request: SwapRequest) -> dict[str, Any]:
        """Apply a swap to the file; the new lanes."""
        with self._lock:
            path, video = self._paths(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # stale derived files are in the answer
                journal = swap_in_prediction_file(path, request.a, request.b, request.start, request.stop)
            return self._lanes(path, video, journal)

    def step(self, name: str, undo: bool) -> dict[str, Any]:
        """Undo the last swap (or redo the last undone one); the new lanes."""
        with self._lock:
            path, video = self._paths(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                journal = undo_swap(path) if undo else redo_swap(path)
            return self._lanes(path, video, journal)


def add_track_routes(app: FastAPI, project: Project) -> TrackFiles:
    """The track view's JSON API and frame images."""
    tracks = TrackFiles(project)

    @app.get("/api/tracks")
    def track_files() -> list[dict[str, Any]]:
        return tracks.files()

    @app.get("/api/tracks/{name}")
    def track_lanes(name: str) -> dict[str, Any]:
        return tracks.lanes(name)

    @app.get("/api/tracks/{name}/frames/{frame}")
    def track_frame(name: str, frame: int) -> Response:
        return Response(tracks.image(name, frame), media_type="image/jpeg")

    @app.post("/api/tracks/{name}/swap")
    def track_swap(name: str, request: SwapRequest) -> dict[str, Any]:
        return tracks.swap(name, request)

    @app.post("/api/tracks/{name}/undo")
    def track_undo(name: str) -> dict[str, Any]:
        return tracks.step(name, undo=True)

    @app.post("/api/tracks/{name}/redo")
    def track_redo(name: str) -> dict[str, Any]:
        return tracks.step(name, undo=False)

    return tracks
