"""The labelling app's view of a project: frames, ground truth and machine suggestions, with versioned writes.

Every frame has a version number; a write must name the version it was based on, and a write based on
an outdated version raises :class:`~markerless.errors.ConflictError` (HTTP 409 in the app), so two
browser tabs never silently overwrite each other. Writes are serialised by one lock and go through
``Project.save_labels`` (``CollectedData_<scorer>.h5`` + ``.csv``, atomic). The store never writes any
other file.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from markerless.errors import ConflictError, LabelFileError, ProjectError
from markerless.labelling.machine_labels import read_machine_labels
from markerless.model import Labels

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class NotFound(ProjectError):
    """A video folder or frame that the project does not have."""


class BadPath(ProjectError):
    """A name that could leave the project folder (``..``, separators, absolute paths, outside symlinks)."""


def safe_name(name: str) -> str:
    """``name`` if it is one plain file or folder name, else :class:`BadPath`."""
    if not name or name in (".", "..") or not _SAFE_NAME.match(name):
        raise BadPath(f"{name!r} is not a plain file name inside the project.")
    return name


def inside(root: Path, path: Path) -> Path:
    """``path`` with symlinks resolved, if it stays inside ``root``; else :class:`BadPath`."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise BadPath(f"{path} leaves the project folder {root}.")
    return resolved


@dataclass
class _Video:
    """In-memory state of one ``labeled-data`` folder."""

    labels: Labels
    frames: list[str]  # image file names shown, sorted
    versions: dict[str, int]
    file_stamp: tuple[int, ...]  # mtime_ns of the folder and its label files as last seen
    suggestions: dict[str, np.ndarray]  # image name -> (individuals, keypoints, 3) x, y, likelihood

    def row(self, key: str) -> int | None:
        """Row of an image in ``labels`` (None when it has no row)."""
        if getattr(self, "_rows_of", None) is not self.labels:
            self._rows = {p: i for i, p in enumerate(self.labels.images)}
            self._rows_of = self.labels
        return self._rows.get(key)


class LabelStore:
    """Frames, labels and suggestions of a project's ``labeled-data`` folders, thread-safe."""

    def __init__(self, project: Any) -> None:
        self.project = project
        self.root = Path(project.root)
        self.layout = project.layout
        self.scorer = project.scorer
        self._lock = threading.RLock()
        self._videos: dict[str, _Video] = {}

    # --- folders and files -------------------------------------------------------------------
    def video_names(self) -> list[str]:
        """The project's ``labeled-data`` folders."""
        return sorted(self.project.video_folders())

    def folder(self, video: str) -> Path:
        """The ``labeled-data/<video>`` folder, checked to be one of the project's and inside it."""
        safe_name(video)
        if video not in self.project.video_folders():
            raise NotFound(f"The project has no labeled-data folder {video!r}.")
        return inside(self.root, Path(self.project.labeled_data_dir(video)))

    def image_path(self, video: str, name: str) -> Path:
        """The image file ``labeled-data/<video>/<name>``, checked to exist inside the project."""
        safe_name(name)
        if not name.lower().endswith(IMAGE_SUFFIXES):
            raise BadPath(f"{name!r} is not an image file.")
        path = inside(self.root, self.folder(video) / name)
        if not path.is_file():
            raise NotFound(f"No image {name!r} in labeled-data/{video}.")
        return path

    def _labels_file(self, video: str) -> Path:
        return Path(self.project.labeled_data_dir(video)) / f"CollectedData_{self.scorer}.h5"

    def _stamp(self, video: str) -> tuple[int, ...]:
        """Modification times of the folder and of its label and machine-label files (0 when absent):
        they change when anything the app shows changes on disk."""
        folder = Path(self.project.labeled_data_dir(video))
        h5 = self._labels_file(video)
        paths = [folder, h5, h5.with_suffix(".csv"), *sorted(folder.glob("machinelabels-iter*.h5"))]
        return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in paths)

    def _key(self, video: str, name: str) -> str:
        return f"labeled-data/{video}/{name}"

    # --- loading -----------------------------------------------------------------------------
    def _state(self, video: str) -> _Video:
        """The folder's state, (re)loaded when the label file changed on disk behind our back."""
        folder = self.folder(video)
        stamp = self._stamp(video)
        state = self._videos.get(video)
        if state is not None and state.file_stamp == stamp:
            return state
        labels = self.project.load_labels(video)
        names = {p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")}
        # rows of images missing on disk stay in the label file untouched but are not shown
        frames = sorted(names)
        fresh = _Video(labels, frames, {}, stamp, self._read_suggestions(folder))
        # a frame keeps its version when its content did not change, so open tabs are not disturbed
        for n in frames:
            version = state.versions.get(n, 0) if state else 0
            if state is not None and self._content(video, n, state) != self._content(video, n, fresh):
                version += 1
            fresh.versions[n] = version
        state = fresh
        self._videos[video] = state
        return state

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
        """Each folder with its number of frames, of frames with at least one label, of frames to refine."""
        with self._lock:
            out = []
            for video in self.video_names():
                state = self._state(video)
                labelled = self._labelled_names(video, state)
                out.append(
                    {
                        "name": video,
                        "n_frames": len(state.frames),
                        "n_labelled": len(labelled & set(state.frames)),
                        "n_suggested": sum(self._pending(video, n, state) for n in state.frames),
                    }
                )
            return out

    def _labelled_names(self, video: str, state: _Video) -> set[str]:
        any_label = (state.labels.labelled | state.labels.occluded).any(axis=(1, 2))
        return {p.rsplit("/", 1)[-1] for p, keep in zip(state.labels.images, any_label, strict=True) if keep}

    def frames(self, video: str) -> list[dict[str, Any]]:
        """The frames of one folder: name, version, number of labelled points, whether suggestions are pending."""
        with self._lock:
            state = self._state(video)
            rows = {p.rsplit("/", 1)[-1]: i for i, p in enumerate(state.labels.images)}
            counts = state.labels.labelled.sum(axis=(1, 2))
            return [
                {
                    "name": n,
                    "version": state.versions[n],
                    "n_points": int(counts[rows[n]]) if n in rows else 0,
                    "suggested": self._pending(video, n, state),
                }
                for n in state.frames
            ]

    def frame(self, video: str, name: str) -> dict[str, Any]:
        """One frame: version, points ``(individuals, keypoints)`` as ``[x, y]`` or None, occlusion, suggestions."""
        with self._lock:
            self.image_path(video, name)
            state = self._state(video)
            return self._frame_payload(video, name, state)

    def _pending(self, video: str, name: str, state: _Video) -> bool:
        """Whether a frame has suggestions for points not labelled yet."""
        sugg = state.suggestions.get(name)
        if sugg is None:
            return False
        row = state.row(self._key(video, name))
        unlabelled = ~state.labels.labelled[row] if row is not None else True
        return bool((np.isfinite(sugg[..., :2]).all(-1) & unlabelled & self.layout.valid).any())

    def _content(self, video: str, name: str, state: _Video) -> str:
        """What the page shows of a frame (labels and suggestions), for change detection."""
        payload = self._frame_payload(video, name, state)
        return repr((payload["points"], payload["occluded"], payload["suggestions"]))

    def _frame_payload(self, video: str, name: str, state: _Video) -> dict[str, Any]:
        key = self._key(video, name)
        n_ind, n_kp = self.layout.shape
        xy = np.full((n_ind, n_kp, 2), np.nan)
        occ = np.zeros((n_ind, n_kp), dtype=bool)
        row = state.row(key)
        if row is not None:
            xy, occ = state.labels.xy[row], state.labels.occluded[row]
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
        """Replace one frame's labels; :class:`ConflictError` when ``version`` is not the current one."""
        n_ind, n_kp = self.layout.shape
        xy = _points_from_json(points, (n_ind, n_kp))
        occ = np.zeros((n_ind, n_kp), dtype=bool) if occluded is None else np.asarray(occluded, dtype=bool)
        if occ.shape != (n_ind, n_kp):
            raise LabelFileError(f"Occlusion flags must be {n_ind} x {n_kp} (individuals x body parts).")
        with self._lock:
            self.image_path(video, name)
            state = self._state(video)
            self._check_version(state, video, name, version)
            return self._write(video, name, state, xy, occ)

    def accept_suggestions(
        self, video: str, name: str, version: int, cells: list[tuple[int, int]] | None = None
    ) -> dict[str, Any]:
        """Copy machine suggestions into the ground truth: the given ``(individual, keypoint)`` cells, or
        every cell not yet labelled when ``cells`` is None."""
        with self._lock:
            self.image_path(video, name)
            state = self._state(video)
            self._check_version(state, video, name, version)
            sugg = state.suggestions.get(name)
            if sugg is None:
                raise NotFound(f"labeled-data/{video}/{name} has no machine suggestions to accept.")
            current = self._frame_payload(video, name, state)
            xy = _points_from_json(current["points"], self.layout.shape)
            occ = np.asarray(current["occluded"], dtype=bool)
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
        occ = occ & self.layout.valid
        key = self._key(video, name)
        update = Labels(self.layout, [key], xy[None], occ[None], scorer=self.scorer)
        merged = state.labels.with_images(update) if len(state.labels) else update
        order = np.argsort(np.array(merged.images, dtype=object), kind="stable")
        merged = merged.select(order.tolist())
        self.project.save_labels(merged, video)
        state.labels = merged
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
    """Nested lists (None = unlabelled) -> ``(I, K, 2)`` float array; :class:`LabelFileError` on a bad shape."""
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
    if not np.isfinite(xy[np.isfinite(xy)]).all():
        raise LabelFileError("Point coordinates must be finite numbers.")
    return xy
