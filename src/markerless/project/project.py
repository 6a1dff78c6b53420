"""A project folder in DeepLabCut's layout: its config, videos and labelled frames.

DeepLabCut projects open unchanged; absolute paths in them that point elsewhere (another machine,
DeepLabCut's demo placeholders) are re-rooted into the project folder on load. Paths we write are
relative to the project root, so a project can be moved or shared.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import pandas as pd

from markerless.errors import ConfigError, LabelFileError, ProjectError, VideoError
from markerless.io.dlc import (
    LabelTable,
    read_config,
    read_label_table,
    read_labels,
    set_label_rows,
    update_occlusions,
    write_config,
    write_label_table,
    write_labels,
)
from markerless.io.video import VIDEO_SUFFIXES, find_videos
from markerless.model.labels import Labels
from markerless.model.skeleton import PoseLayout, Skeleton

#: File endings treated as videos when a folder is given instead of video files.
#: Folders of a new project (besides ``labeled-data/<video>``).
PROJECT_FOLDERS = ("videos", "labeled-data", "training-datasets", "dlc-models", "dlc-models-pytorch")
LABELED_SUFFIX = "_labeled"
#: Likelihood below which a prediction is not trusted, when config.yaml has no ``pcutoff`` (DeepLabCut's default).
DEFAULT_PCUTOFF = 0.6
_MULTI = "MULTI!"


class Project:
    """A project: its root folder, its ``config.yaml`` contents and the layout of what is tracked.

    Attributes:
        root: the folder holding ``config.yaml`` (whatever ``project_path`` inside it says).
        config: the config mapping (``project_path`` set to ``root``).
        layout: individuals, body parts, unique body parts and skeleton from the config.
        scorer, task, date, iteration: the config's ``scorer``, ``Task``, ``date`` and ``iteration``.
        training_fractions: the config's ``TrainingFraction`` list, checked (default ``[0.95]``).
    """

    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        self.root = Path(root).resolve()
        self.config = config
        self.config["project_path"] = str(self.root)
        for key in ("Task", "scorer", "date"):
            if not config.get(key) and config.get(key) != 0:
                raise ConfigError(
                    f"{self.config_path} has no {key!r}; add it (see a config.yaml made by create-project)."
                )
        self.task = str(config["Task"])
        self.scorer = str(config["scorer"])
        self.date = str(config["date"])
        try:
            self.iteration = int(config.get("iteration") or 0)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.config_path}: 'iteration' must be a whole number.") from None
        self.layout = layout_from_config(config, self.config_path)
        _ = self.pcutoff  # checked on load, like the other keys
        if not isinstance(config.get("video_sets") or {}, dict):
            raise ConfigError(
                f"{self.config_path}: 'video_sets' must map each video to its crop "
                "(e.g. videos/a.mp4: {crop: '0, 640, 0, 480'}); re-add the videos with `markerless add-videos`."
            )
        self.training_fractions = _training_fractions(config.get("TrainingFraction"), self.config_path)

    # --- loading and saving ------------------------------------------------------------------
    @classmethod
    def load(cls, config: str | os.PathLike[str]) -> Project:
        """Open the project whose ``config.yaml`` (or folder) is given."""
        path = Path(config)
        if path.is_dir():
            path = path / "config.yaml"
        if not path.is_file():
            raise ConfigError(
                f"No project config at {path}. Pass a project's config.yaml (or its folder); "
                "create one with `markerless create-project`."
            )
        return cls(path.parent, read_config(path))

    @property
    def config_path(self) -> Path:
        """The project's ``config.yaml``."""
        return self.root / "config.yaml"

    @property
    def pcutoff(self) -> float:
        """The likelihood cut-off for trusting a prediction: config ``pcutoff``, else :data:`DEFAULT_PCUTOFF`."""
        value = self.config.get("pcutoff")
        if value is None:
            return DEFAULT_PCUTOFF
        try:
            cutoff = float(value)
        except (TypeError, ValueError):
            cutoff = float("nan")
        if not 0.0 <= cutoff <= 1.0:
            raise ConfigError(f"{self.config_path}: 'pcutoff' must be a number from 0 to 1, got {value!r}.")
        return cutoff

    @property
    def multi_animal(self) -> bool:
        """Whether the project tracks several individuals (``multianimalproject``)."""
        return self.layout.multi_animal

    def save(self) -> None:
        """Write ``config.yaml`` atomically; video paths inside the project are written relative to it."""
        cfg = dict(self.config)
        cfg["project_path"] = str(self.root)
        video_sets = {}
        for key, value in (cfg.get("video_sets") or {}).items():
            resolved = self._resolve_video(str(key))
            video_sets[self._relative(resolved) if resolved is not None else str(key)] = value
        cfg["video_sets"] = video_sets
        self.config["video_sets"] = video_sets
        write_config(cfg, self.config_path)

    def _relative(self, path: Path) -> str:
        try:
            return Path(os.path.abspath(path)).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    # --- videos ------------------------------------------------------------------------------
    def _resolve_video(self, key: str) -> Path | None:
        """Where a ``video_sets`` entry is: as written, inside the project, or in ``videos/`` by name."""
        name = PureWindowsPath(key).name if "\\" in key else PurePosixPath(key).name
        candidates = []
        if PureWindowsPath(key).is_absolute() or Path(key).is_absolute():
            candidates.append(Path(key))
        else:
            candidates.append(self.root / key)
        candidates.append(self.root / "videos" / name)
        for candidate in candidates:
            if candidate.exists():
                return Path(os.path.abspath(candidate))
        return None

    @property
    def videos(self) -> list[Path]:
        """The project's videos (absolute), re-rooted into the project when needed.

        Entries of ``video_sets`` that exist (as written, or by file name in ``videos/``), then video
        files in ``videos/`` that ``video_sets`` does not name (e.g. DeepLabCut's demo placeholders),
        except labelled videos written by ``create-labeled-video`` (``*_labeled.mp4``).
        """
        found: dict[Path, None] = {}
        for key in self.config.get("video_sets") or {}:
            resolved = self._resolve_video(str(key))
            if resolved is not None:
                found[resolved] = None
        folder = self.root / "videos"
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in VIDEO_SUFFIXES and not path.stem.endswith(LABELED_SUFFIX):
                    found.setdefault(Path(os.path.abspath(path)), None)
        return list(found)

    def video_path(self, video_stem: str) -> Path | None:
        """The video whose file name (without extension) is ``video_stem``, if the project has it."""
        return next((v for v in self.videos if v.stem == video_stem), None)

    # --- labels ------------------------------------------------------------------------------
    def labeled_data_dir(self, video_stem: str) -> Path:
        """``labeled-data/<video_stem>`` (may not exist yet)."""
        return self.root / "labeled-data" / video_stem

    def label_file(self, video_stem: str) -> Path:
        """``labeled-data/<video_stem>/CollectedData_<scorer>.h5`` (may not exist yet)."""
        return self.labeled_data_dir(video_stem) / f"CollectedData_{self.scorer}.h5"

    def video_folders(self) -> list[str]:
        """Names of the ``labeled-data`` sub-folders, sorted (``*_labeled`` check-labels folders left out)."""
        folder = self.root / "labeled-data"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.endswith(LABELED_SUFFIX))

    def load_labels(self, video_stem: str | None = None) -> Labels:
        """Labels of one video folder, or of all folders merged when ``video_stem`` is None.

        Columns follow the config's body-part order; folders without a label file contribute nothing,
        so the result may be empty (``len(labels) == 0``).
        """
        stems = [video_stem] if video_stem is not None else self.video_folders()
        parts = []
        for stem in stems:
            path = self.label_file(stem)
            if not path.is_file() and path.with_suffix(".csv").is_file():
                path = path.with_suffix(".csv")
            if not path.is_file():
                others = sorted(p.name for p in self.labeled_data_dir(stem).glob("CollectedData_*.h5"))
                if others:
                    warnings.warn(
                        f"{self.labeled_data_dir(stem)} has {others} but no {path.name}: labels are read for the "
                        f"config's scorer {self.scorer!r}; rename the file or change 'scorer' in config.yaml.",
                        stacklevel=2,
                    )
                continue
            labels = read_labels(path, self.layout)
            # rows point at the folder they live in, even if it was renamed
            images = [f"labeled-data/{stem}/{p.rsplit('/', 1)[-1]}" for p in labels.images]
            parts.append(Labels(self.layout, images, labels.xy, labels.occluded, self.scorer))
        if not parts:
            return Labels.empty(self.layout, scorer=self.scorer)
        return Labels.concatenate(parts)

    def save_labels(self, labels: Labels, video_stem: str) -> None:
        """Write the labels of one video folder (``.h5`` + ``.csv`` + occlusion flags), atomically."""
        others = sorted({v for v in labels.video_of_images if v != video_stem})
        if others:
            raise ProjectError(
                f"Labels for folder {video_stem!r} include images of other folders {others}; save each folder separately."
            )
        if (
            labels.layout.keypoint_names != self.layout.keypoint_names
            or labels.layout.individual_names != self.layout.individual_names
        ):
            raise LabelFileError(
                f"These labels name {list(labels.layout.keypoint_names)} for {list(labels.layout.individual_names)}, "
                f"but the project has {list(self.layout.keypoint_names)} for {list(self.layout.individual_names)}."
            )
        out = Labels(self.layout, labels.images, labels.xy, labels.occluded, self.scorer)
        write_labels(out, self.label_file(video_stem))

    def update_labels(self, labels: Labels, video_stem: str) -> None:
        """Write the rows of ``labels`` into the folder's label file, keeping the file's other rows,
        cells and columns (body parts or individuals the config does not name too), its HDF key,
        storage format and row-index form; occlusion flags of other images are kept as well. A table these
        labels leave as it was is not written again (the files stay byte for byte)."""
        if labels.layout.shape != self.layout.shape or sorted(set(labels.video_of_images)) not in ([], [video_stem]):
            raise ProjectError(f"These labels do not belong to folder {video_stem!r} of this project.")
        path = self.label_file(video_stem)
        table = read_label_table(path) or LabelTable(pd.DataFrame())
        before = table.df.copy()
        ours = Labels(self.layout, labels.images, labels.xy, labels.occluded, self.scorer)
        set_label_rows(table, ours)
        if not (path.is_file() and path.with_suffix(".csv").is_file() and table.df.equals(before)):
            write_label_table(table, path)
        update_occlusions(path, ours)

    def image_path(self, image: str) -> Path:
        """Absolute path of a project-relative image path (``labeled-data/<video>/img012.png``)."""
        return self.root / image

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r}, task={self.task!r}, scorer={self.scorer!r}, layout={self.layout.shape})"


#: What project-level functions accept: a ``config.yaml`` path, the project folder, or an open project.
ProjectSource = str | os.PathLike[str] | Project


def load_project(config: ProjectSource) -> Project:
    """Open a project from its ``config.yaml`` (or folder), like :meth:`Project.load`; a ``Project`` is returned as is."""
    return config if isinstance(config, Project) else Project.load(config)


def _training_fractions(value: Any, path: Path) -> list[float]:
    """The config's ``TrainingFraction`` list (default ``[0.95]``), each a number in (0, 1]."""
    if value is None:
        return [0.95]
    items = value if isinstance(value, list) else [value]
    fractions = []
    for item in items:
        try:
            fraction = float(item) if not isinstance(item, bool) else float("nan")
        except (TypeError, ValueError):
            fraction = float("nan")
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(
                f"{path}: 'TrainingFraction' must be a list of numbers in (0, 1], e.g. [0.95]; got {value!r}."
            )
        fractions.append(fraction)
    if not fractions:
        raise ConfigError(f"{path}: 'TrainingFraction' is an empty list; write e.g. [0.95].")
    return fractions


# --- layout from config ---------------------------------------------------------------------------
def _name_list(cfg: dict[str, Any], key: str, path: Path) -> list[str]:
    value = cfg.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        raise ConfigError(f"{path}: {key!r} must be a list of names, got {value!r}.")
    if not isinstance(value, list):
        raise ConfigError(f"{path}: {key!r} must be a list of names.")
    return [str(v) for v in value]


def layout_from_config(cfg: dict[str, Any], path: Path | str = "config.yaml") -> PoseLayout:
    """The :class:`PoseLayout` a DeepLabCut-style project config describes."""
    path = Path(path)
    multi = bool(cfg.get("multianimalproject"))
    if multi:
        parts = _name_list(cfg, "multianimalbodyparts", path)
        unique = _name_list(cfg, "uniquebodyparts", path)
        individuals = _name_list(cfg, "individuals", path)
        if not parts and not unique:
            raise ConfigError(f"{path}: a multi-animal project needs 'multianimalbodyparts' (or 'uniquebodyparts').")
        if not individuals:
            raise ConfigError(f"{path}: a multi-animal project needs a list of 'individuals'.")
    else:
        if cfg.get("bodyparts") == _MULTI:
            raise ConfigError(
                f"{path}: 'bodyparts' is {_MULTI!r} but 'multianimalproject' is not true; set multianimalproject: true."
            )
        parts, unique, individuals = _name_list(cfg, "bodyparts", path), [], []
        if not parts:
            raise ConfigError(f"{path}: list the tracked body parts under 'bodyparts'.")
    edges, dropped = [], []
    for edge in cfg.get("skeleton") or []:
        if isinstance(edge, list | tuple) and len(edge) == 2 and all(str(e) in parts for e in edge):
            edges.append((str(edge[0]), str(edge[1])))
        else:
            dropped.append(edge)
    if dropped:
        warnings.warn(
            f"{path}: skeleton links {dropped} do not join two body parts of the animal; they are not drawn.",
            stacklevel=2,
        )
    pairs = cfg.get("symmetric_pairs")
    skeleton = Skeleton.from_names(parts, edges, pairs if pairs else None)
    if multi:
        return PoseLayout(skeleton, tuple(individuals), tuple(unique), multi_animal=True)
    return PoseLayout(skeleton)


# --- creating projects ------------------------------------------------------------------------------
def _frame_size(path: Path) -> tuple[int, int]:
    """(width, height) of a video."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
    finally:
        cap.release()
    if not ok or frame is None:
        raise VideoError(f"Cannot read a frame of {path}; is it a video file OpenCV can decode?")
    return int(frame.shape[1]), int(frame.shape[0])


def _place_video(src: Path, dest_dir: Path, copy: bool) -> Path:
    dest = dest_dir / src.name
    if dest.exists() or dest.is_symlink():
        if dest.resolve() == src.resolve():
            return dest
        raise ProjectError(f"{dest} already exists and is another file; rename the video {src}.")
    if not copy:
        try:
            dest.symlink_to(src)
            return dest
        except OSError:
            pass  # e.g. no symlink permission: fall back to a copy
    shutil.copy2(src, dest)
    return dest


def _default_config(
    task: str,
    experimenter: str,
    date: str,
    root: Path,
    multi_animal: bool,
    individuals: Sequence[str] | None,
    bodyparts: Sequence[str] | None,
) -> dict[str, Any]:
    if multi_animal:
        parts = list(bodyparts) if bodyparts else ["bodypart1", "bodypart2", "bodypart3"]
        animal: dict[str, Any] = {
            "bodyparts": _MULTI,
            "individuals": list(individuals) if individuals else ["individual1", "individual2", "individual3"],
            "uniquebodyparts": [],
            "multianimalbodyparts": parts,
        }
        skeleton = [list(e) for e in itertools.combinations(parts, 2)]
    else:
        if individuals and len(individuals) > 1:
            raise ProjectError("Several individuals need a multi-animal project; add --multi-animal.")
        parts = list(bodyparts) if bodyparts else ["bodypart1", "bodypart2", "bodypart3", "objectA"]
        animal = {"bodyparts": parts}
        skeleton = [["bodypart1", "bodypart2"], ["objectA", "bodypart3"]] if not bodyparts else []
    return {
        "config_version": 0,
        "Task": task,
        "scorer": experimenter,
        "date": date,
        "multianimalproject": multi_animal,
        "identity": False if multi_animal else None,
        "project_path": str(root),
        "engine": "pytorch",
        "video_sets": {},
        **animal,
        "start": 0,
        "stop": 1,
        "numframes2pick": 20,
        "skeleton": skeleton,
        "skeleton_color": "black",
        "pcutoff": DEFAULT_PCUTOFF,
        "dotsize": 12,
        "alphavalue": 0.7,
        "colormap": "rainbow",
        "TrainingFraction": [0.95],
        "iteration": 0,
        "default_net_type": "resnet_50",
        "default_augmenter": "albumentations" if multi_animal else "default",
        **({"default_track_method": "ellipse"} if multi_animal else {}),
        "snapshotindex": -1,
        "detector_snapshotindex": -1,
        "batch_size": 8,
        "detector_batch_size": 1,
        "cropping": False,
        "x1": 0,
        "x2": 640,
        "y1": 277,
        "y2": 624,
        "corner2move2": [50, 50],
        "move2corner": True,
    }


def create_project(
    task: str,
    experimenter: str,
    videos: Sequence[str | os.PathLike[str]],
    working_directory: str | os.PathLike[str] | None = None,
    multi_animal: bool = False,
    individuals: Sequence[str] | None = None,
    bodyparts: Sequence[str] | None = None,
    copy_videos: bool = False,
) -> Path:
    """Create ``<task>-<experimenter>-<YYYY-MM-DD>/`` in DeepLabCut's layout; returns its ``config.yaml``.

    Videos are linked into ``videos/`` (copied with ``copy_videos``, or when links are not allowed);
    each gets an empty ``labeled-data/<video>/`` folder. ``bodyparts`` and ``individuals`` default to
    DeepLabCut's placeholders (edit them in config.yaml before labelling).
    """
    for name, value in (("task", task), ("experimenter", experimenter)):
        if not str(value).strip() or any(c in str(value) for c in "/\\"):
            raise ProjectError(f"The {name} name {value!r} must be non-empty and contain no slashes.")
    today = _dt.date.today()
    base = Path(working_directory).expanduser() if working_directory is not None else Path.cwd()
    root = Path(os.path.abspath(base / f"{task}-{experimenter}-{today.isoformat()}"))
    if (root / "config.yaml").exists():
        raise ProjectError(
            f"Project {root} already exists; add videos with `markerless add-videos {root / 'config.yaml'} VIDEO...`."
        )
    sources = find_videos(videos)
    sizes = {src: _frame_size(src) for src in sources}  # fail on unreadable videos before creating anything
    date = f"{today:%b}{today.day}"
    cfg = _default_config(task, experimenter, date, root, multi_animal, individuals, bodyparts)
    for folder in PROJECT_FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    project = Project(root, cfg)
    _add(project, sources, sizes, copy_videos)
    project.save()
    return project.config_path


def _add(project: Project, sources: list[Path], sizes: dict[Path, tuple[int, int]], copy: bool) -> list[Path]:
    video_sets = project.config.setdefault("video_sets", {}) or {}
    project.config["video_sets"] = video_sets
    known = {project._resolve_video(str(k)) for k in video_sets}
    added = []
    for src in sources:
        dest = _place_video(src, project.root / "videos", copy)
        project.labeled_data_dir(src.stem).mkdir(parents=True, exist_ok=True)
        absolute = Path(os.path.abspath(dest))
        if absolute not in known:
            width, height = sizes[src]
            video_sets[project._relative(absolute)] = {"crop": f"0, {width}, 0, {height}"}
        added.append(absolute)
    return added


def add_videos(
    config: str | os.PathLike[str], videos: Sequence[str | os.PathLike[str]], copy_videos: bool = False
) -> list[Path]:
    """Add videos to a project (linked or copied into ``videos/``, one ``labeled-data`` folder each).

    Returns their paths inside the project. Videos already in the project are left as they are.
    """
    project = Project.load(config)
    sources = find_videos(videos)
    sizes = {src: _frame_size(src) for src in sources}
    (project.root / "videos").mkdir(exist_ok=True)
    added = _add(project, sources, sizes, copy_videos)
    project.save()
    return added


__all__ = ["Project", "add_videos", "create_project", "layout_from_config", "load_project"]
