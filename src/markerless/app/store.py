"""The labelling app's view of a project: frames, ground truth and machine suggestions, with versioned writes.

Every frame has a version number; a write must name the version it was based on, and a write based on
an outdated version raises :class:`~markerless.errors.ConflictError` (HTTP 409 in the app), so two
browser tabs never silently overwrite each other. Writes are serialised by one lock and go through
``Project.update_labels``: only the edited frame's cells of the project's body parts change in
``CollectedData_<scorer>.h5`` + ``.csv``; other columns, rows, the HDF key, format and row-index form
stay as they were. The store never writes any other file.

Folder and image names are any names that really are in ``labeled-data`` (spaces and non-ASCII
letters included). A folder may be a symlink to another disk; an image must resolve inside its
folder (or the project) and be readable, or it is not listed. One folder that cannot be read is
reported on its own and does not take the others down.
"""

from __future__ import annotations

import os
import threading
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from markerless.errors import ConflictError, LabelFileError, MarkerlessError, ProjectError
from markerless.labelling.machine_labels import read_machine_labels
from markerless.model import Labels

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class NotFound(ProjectError):
    """A video folder or frame that the project does not have."""


class BadPath(ProjectError):
    """A name that could leave the project folder (``..``, separators, outside symlinks)."""


def safe_name(name: str) -> str:
    """``name`` if it is one file or folder name (no separators, not ``.``/``..``), else :class:`BadPath`."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise BadPath(f"{name!r} is not a plain file name inside the project.")
    return name


def frame_done(xy: np.ndarray, valid: np.ndarray) -> bool:
    """Whether a frame's labels ``(individuals, keypoints, 2)`` are complete: at least one point, and
    every individual with a point has all of its body parts."""
    labelled = np.isfinite(xy).all(-1) & valid
    started = labelled.any(-1)
    return bool(started.any() and (labelled == valid)[started].all())


@dataclass
class _Video:
    """In-memory state of one ``labeled-data`` folder."""

    labels: Labels
    frames: list[str]  # image file names shown, sorted
    versions: dict[str, int]
    file_stamp: tuple[int, ...]  # mtime_ns of the folder and its label files as last seen
    suggestions: dict[str, np.ndarray]  # image name -> (individuals, keypoints, 3) x, y, likelihood
    notices: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def row(self, name: str) -> int | None:
        """Row of an image (by file name) in ``labels`` (None when it has no row)."""
        if len(self.rows) != len(self.labels):
            self.rows = {p.rsplit("/", 1)[-1]: i for i, p in enumerate(self.labels.images)}
        return self.rows.get(name)


class LabelStore:
    """Frames, labels and suggestions of a project's ``labeled-data`` folders, thread-safe."""

    def __init__(self, project: Any) -> None:
        self.project = project
        self.root = Path(project.root)
        self.layout = project.layout
        self.scorer = project.scorer
        self._lock = threading.RLock()
        self._videos: dict[str, _Video] = {}
        self._sizes: dict[Path, tuple[int, int]] = {}

    # --- folders and files -------------------------------------------------------------------
    def video_names(self) -> list[str]:
        """The project's ``labeled-data`` folders."""
        return sorted(self.project.video_folders())

    def _match(self, name: str, names: list[str], what: str) -> str:
        safe_name(name)
        if name in names:
            return name
        nfc = unicodedata.normalize("NFC", name)
        found = next((n for n in names if unicodedata.normalize("NFC", n) == nfc), None)
        if found is None:
            raise NotFound(f"The project has no {what} {name!r}.")
        return found

    def folder(self, video: str) -> Path:
        """The ``labeled-data/<video>`` folder with symlinks resolved (it may live on another disk)."""
        video = self._match(video, self.video_names(), "labeled-data folder")
        path = Path(self.project.labeled_data_dir(video)).resolve()
        if not path.is_dir() or not os.access(path, os.R_OK | os.X_OK):
            raise NotFound(f"labeled-data/{video} cannot be read (a broken symlink or no permission).")
        return path

    def _image_file(self, folder: Path, name: str) -> Path:
        """``folder/name`` resolved, if it is a readable image inside the folder or the project."""
        safe_name(name)
        if not name.lower().endswith(IMAGE_SUFFIXES):
            raise BadPath(f"{name!r} is not an image file.")
        path = (folder / name).resolve()
        if not (path.is_relative_to(folder) or path.is_relative_to(self.root.resolve())):
            raise BadPath(f"{folder / name} leaves its folder {folder}.")
        if not path.is_file() or not os.access(path, os.R_OK):
            raise NotFound(f"No readable image {name!r} in {folder}.")
        return path

    def image_path(self, video: str, name: str) -> Path:
        """The image file ``labeled-data/<video>/<name>``, checked to be a listed, readable image."""
        folder = self.folder(video)
        return self._image_file(folder, name)

    def image_size(self, video: str, name: str) -> tuple[int, int]:
        """Width and height of a frame's image (read from its header, cached)."""
        path = self.image_path(video, name)
        if path not in self._sizes:
            try:
                with Image.open(path) as img:
                    self._sizes[path] = img.size
            except OSError as err:
                raise NotFound(f"Image {path} cannot be read ({err}).") from None
        return self._sizes[path]

    def _labels_file(self, video: str) -> Path:
        return Path(self.project.labeled_data_dir(video)) / f"CollectedData_{self.scorer}.h5"

    def _stamp(self, video: str) -> tuple[int, ...]:
        """Modification times of the folder and of its label and machine-label files (0 when absent):
        they change when anything the app shows changes on disk."""
        folder = Path(self.project.labeled_data_dir(video))
        h5 = self._labels_file(video)
        paths = [folder, h5, h5.with_suffix(".csv"), *sorted(folder.glob("machinelabels-iter*.h5"))]
        return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in paths)

    # --- loading -----------------------------------------------------------------------------
    def _state(self, video: str) -> _Video:
        """The folder's state, (re)loaded when the label file changed on disk behind our back."""
        folder = self.folder(video)
        video = self._match(video, self.video_names(), "labeled-data folder")
        stamp = self._stamp(video)
        state = self._videos.get(video)
        if state is not None and state.file_stamp == stamp:
            return state
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            labels = self.project.load_labels(video)
        notices = [str(w.message) for w in caught]
        frames = []
        for p in folder.iterdir():
            if p.name.startswith(".") or not p.name.lower().endswith(IMAGE_SUFFIXES):
                continue
            try:
                self._image_file(folder, p.name)
            except MarkerlessError:
                continue  # a symlink leaving the folder, a broken link, an unreadable file: not shown
            frames.append(p.name)
        frames.sort()
        # rows of images missing on disk stay in the label file untouched but are not shown
        fresh = _Video(labels, frames, {}, stamp, self._read_suggestions(folder), notices)
        # a frame keeps its version when its content did not change, so open tabs are not disturbed
        for n in frames:
            version = state.versions.get(n, 0) if state else 0
            if state is not None and self._content(video, n, state) != self._content(video, n, fresh):
                version += 1
            fresh.versions[n] = version
        self._videos[video] = fresh
        return fresh

    def _read_suggestions(self, folder: Path) -> dict[str, np.ndarray]:
        try:
            found = read_machine_labels(folder, self.layout)
        except LabelFileError:
            return {}
        if found is None:
            return {}
        images, data = found
        return {img.rsplit("/", 1)[-1]: data[i] for i, img in enumerate(images)}

    # --- reading -----------------------------------------------------------------------------
    def videos_summary(self) -> list[dict[str, Any]]:
        """Each folder with its number of frames, of complete frames, of frames with a point, of frames
        to refine, and notices (labels of another scorer, body parts not in the config); a folder that
        cannot be read has an ``error`` instead."""
        with self._lock:
            out = []
            for video in self.video_names():
                try:
                    state = self._state(video)
                    frames = self._frame_list(video, state)
                    out.append(
                        {
                            "name": video,
                            "n_frames": len(frames),
                            "n_labelled": sum(f["done"] for f in frames),
                            "n_started": sum(f["n_points"] > 0 for f in frames),
                            "n_suggested": sum(f["suggested"] for f in frames),
                            "notices": state.notices,
                        }
                    )
                except MarkerlessError as err:
                    out.append(
                        {
                            "name": video,
                            "n_frames": 0,
                            "n_labelled": 0,
                            "n_started": 0,
                            "n_suggested": 0,
                            "notices": [],
                            "error": str(err),
                        }
                    )
            return out

    def frames(self, video: str) -> list[dict[str, Any]]:
        """The frames of one folder: name, version, number of points, complete, suggestions pending."""
        with self._lock:
            return self._frame_list(video, self._state(video))

    def _frame_list(self, video: str, state: _Video) -> list[dict[str, Any]]:
        labelled = state.labels.labelled & self.layout.valid
        counts = labelled.sum(axis=(1, 2))
        out = []
        for n in state.frames:
            row = state.row(n)
            out.append(
                {
                    "name": n,
                    "version": state.versions[n],
                    "n_points": int(counts[row]) if row is not None else 0,
                    "done": frame_done(state.labels.xy[row], self.layout.valid) if row is not None else False,
                    "suggested": self._pending(n, state),
                }
            )
        return out

    def frame(self, video: str, name: str) -> dict[str, Any]:
        """One frame: version, points ``(individuals, keypoints)`` as ``[x, y]`` or None, occlusion, suggestions."""
        with self._lock:
            state = self._state(video)
            name = self._match(name, state.frames, f"image in labeled-data/{video}:")
            return self._frame_payload(video, name, state)

    def _pending(self, name: str, state: _Video) -> bool:
        """Whether a frame has suggestions for points not labelled yet."""
        sugg = state.suggestions.get(name)
        if sugg is None:
            return False
        row = state.row(name)
        unlabelled = ~state.labels.labelled[row] if row is not None else True
        return bool((np.isfinite(sugg[..., :2]).all(-1) & unlabelled & self.layout.valid).any())

    def _content(self, video: str, name: str, state: _Video) -> str:
        """What the page shows of a frame (labels and suggestions), for change detection."""
        payload = self._frame_payload(video, name, state)
        return repr((payload["points"], payload["occluded"], payload["suggestions"]))

    def _current(self, name: str, state: _Video) -> tuple[np.ndarray, np.ndarray]:
        n_ind, n_kp = self.layout.shape
        row = state.row(name)
        if row is None:
            return np.full((n_ind, n_kp, 2), np.nan), np.zeros((n_ind, n_kp), dtype=bool)
        return state.labels.xy[row].copy(), state.labels.occluded[row].copy()

    def _frame_payload(self, video: str, name: str, state: _Video) -> dict[str, Any]:
        xy, occ = self._current(name, state)
        occ &= np.isfinite(xy).all(-1)  # a flag without a position means nothing
        sugg = state.suggestions.get(name)
        return {
            "video": video,
            "name": name,
            "version": state.versions.get(name, 0),
            "points": _points_to_json(xy),
            "occluded": occ.tolist(),
            "suggestions": None if sugg is None else _suggestions_to_json(sugg),
        }

    # --- writing -----------------------------------------------------------------------------
    def save_frame(self, video: str, name: str, version: int, points: list, occluded: list | None) -> dict[str, Any]:
        """Replace one frame's labels; :class:`ConflictError` when ``version`` is not the current one,
        :class:`LabelFileError` for a point outside the image or a flag without a point."""
        n_ind, n_kp = self.layout.shape
        xy = _points_from_json(points, (n_ind, n_kp))
        occ = np.zeros((n_ind, n_kp), dtype=bool) if occluded is None else np.asarray(occluded, dtype=bool)
        if occ.shape != (n_ind, n_kp):
            raise LabelFileError(f"Occlusion flags must be {n_ind} x {n_kp} (individuals x body parts).")
        with self._lock:
            state = self._state(video)
            name = self._match(name, state.frames, f"image in labeled-data/{video}:")
            self._check_version(state, video, name, version)
            before, _ = self._current(name, state)
            self._check_points(video, name, xy, occ, before)
            return self._write(video, name, state, xy, occ)

    def _check_points(self, video: str, name: str, xy: np.ndarray, occ: np.ndarray, before: np.ndarray) -> None:
        """Changed points must lie on the image; occlusion flags need a point."""
        ind, kp = self.layout.individual_names, self.layout.keypoint_names
        bad = occ & ~np.isfinite(xy).all(-1) & self.layout.valid
        if bad.any():
            i, k = map(int, np.argwhere(bad)[0])
            raise LabelFileError(f"{ind[i]} {kp[k]} is marked occluded but has no position: place the point first.")
        changed = ~((xy == before) | (np.isnan(xy) & np.isnan(before))).all(-1) & np.isfinite(xy).all(-1)
        if changed.any():
            w, h = self.image_size(video, name)
            outside = changed & ((xy < -0.5) | (xy > np.array([w, h]) - 0.5)).any(-1)
            if outside.any():
                i, k = map(int, np.argwhere(outside)[0])
                x, y = xy[i, k]
                raise LabelFileError(
                    f"{ind[i]} {kp[k]} at ({x:g}, {y:g}) is outside the {w}x{h} image {name}; place it on the image."
                )

    def accept_suggestions(
        self, video: str, name: str, version: int, cells: list[tuple[int, int]] | None = None
    ) -> dict[str, Any]:
        """Copy machine suggestions into the ground truth: the given ``(individual, keypoint)`` cells, or
        every cell not yet labelled when ``cells`` is None."""
        with self._lock:
            state = self._state(video)
            name = self._match(name, state.frames, f"image in labeled-data/{video}:")
            self._check_version(state, video, name, version)
            sugg = state.suggestions.get(name)
            if sugg is None:
                raise NotFound(f"labeled-data/{video}/{name} has no machine suggestions to accept.")
            xy, occ = self._current(name, state)
            take = np.zeros(self.layout.shape, dtype=bool)
            if cells is None:
                take = ~np.isfinite(xy).all(-1)
            else:
                for ind, kp in cells:
                    take[int(ind), int(kp)] = True
            take &= np.isfinite(sugg[..., :2]).all(-1) & self.layout.valid
            xy[take] = sugg[take][:, :2]
            return self._write(video, name, state, xy, occ)

    def _check_version(self, state: _Video, video: str, name: str, version: int) -> None:
        current = state.versions.get(name, 0)
        if int(version) != current:
            raise ConflictError(
                f"labeled-data/{video}/{name} was changed elsewhere (version {current}, your edit was based on "
                f"version {version}); the frame was reloaded: redo your last change."
            )

    def _write(self, video: str, name: str, state: _Video, xy: np.ndarray, occ: np.ndarray) -> dict[str, Any]:
        xy = np.where(self.layout.valid[..., None], xy, np.nan)
        occ = occ & self.layout.valid & np.isfinite(xy).all(-1)
        key = f"labeled-data/{video}/{name}"
        update = Labels(self.layout, [key], xy[None], occ[None], scorer=self.scorer)
        self.project.update_labels(update, video)
        row = state.row(name)
        if row is None:
            state.labels = state.labels.with_images(update) if len(state.labels) else update
        else:
            state.labels.xy[row], state.labels.occluded[row] = xy, occ
        state.file_stamp = self._stamp(video)
        state.versions[name] = state.versions.get(name, 0) + 1
        return self._frame_payload(video, name, state)


def _points_to_json(xy: np.ndarray) -> list:
    """``(I, K, 2)`` -> nested lists with None where unlabelled."""
    ok = np.isfinite(xy).all(-1)
    return [
        [[float(p[0]), float(p[1])] if k else None for p, k in zip(row, oks, strict=True)]
        for row, oks in zip(xy, ok, strict=True)
    ]


def _suggestions_to_json(data: np.ndarray) -> list:
    """``(I, K, 3)`` -> nested lists of ``[x, y, likelihood]`` or None."""
    ok = np.isfinite(data[..., :2]).all(-1)
    lik = np.nan_to_num(data[..., 2], nan=0.0)
    return [
        [[float(p[0]), float(p[1]), float(lk)] if k else None for p, lk, k in zip(row, liks, oks, strict=True)]
        for row, liks, oks in zip(data, lik, ok, strict=True)
    ]


def _points_from_json(points: list, shape: tuple[int, int]) -> np.ndarray:
    """Nested lists (None = unlabelled) -> ``(I, K, 2)`` float array; :class:`LabelFileError` on a bad
    shape or a coordinate that is not a finite number."""
    n_ind, n_kp = shape
    if len(points) != n_ind or any(len(row) != n_kp for row in points):
        raise LabelFileError(f"Points must be {n_ind} x {n_kp} (individuals x body parts).")
    xy = np.full((n_ind, n_kp, 2), np.nan)
    for i, row in enumerate(points):
        for k, p in enumerate(row):
            if p is not None:
                if len(p) != 2:
                    raise LabelFileError("Each point must be [x, y] or null.")
                xy[i, k] = p
    given = np.array([[p is not None for p in row] for row in points], dtype=bool).reshape(n_ind, n_kp)
    if not np.isfinite(xy[given]).all():
        raise LabelFileError("Point coordinates must be finite numbers ([x, y] or null for no point).")
    return xy
