"""Which prediction files belong to a video and a shuffle: the one place that decides it.

Analysis writes ``<dest or video folder>/<video stem><scorer><suffix>.h5`` (:func:`prediction_path`),
where the scorer ``DLC_<Net>_<Task><date>shuffle<k>_snapshot_<n>`` names the shuffle's model and
snapshot and :func:`analysis_suffix` decides the suffix: ``_el`` for a multi-animal video it tracks
(DeepLabCut's tracks file, HDF key ``tracks``), none otherwise; its side files (``_meta.pickle``,
``_tracklets.npz``) keep the name without ``_el``. ``filter`` adds ``_filtered`` (``_el_filtered.h5``).
Filtering, plots, labelled videos, outlier extraction, stitching and the ensemble smoother find them
again with :func:`prediction_file`, trying :func:`prediction_suffixes` in order (multi-animal: ``_el``,
then the raw name of untracked runs and of older versions), under one policy:

* the shuffle's own model: the file of its scorer (the first suffix that has one), else the newest
  file of the same model and shuffle made with another snapshot (a DeepLabCut scorer
  ``..shuffle<k>_<iterations>`` counts the same way);
* when the shuffle has no trained snapshot here (predictions copied from elsewhere), the newest file
  whose scorer names ``shuffle<k>``, else the newest whose scorer names no shuffle at all;
* never another shuffle's or model's file: when only those exist, a
  :class:`~markerless.errors.ProjectError` names the files found and what to do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from markerless.errors import MarkerlessError, ProjectError
from markerless.io.dlc import find_prediction_files, read_predictions
from markerless.io.video import find_videos
from markerless.model.poses import Poses
from markerless.project.project import Project
from markerless.project.shuffle import Shuffle

FILTERED = "_filtered"
"""Suffix of filtered predictions (``markerless filter``)."""
TRACKS = "_el"
"""Suffix of multi-animal tracks (DeepLabCut's ``_el.h5``)."""
EKS = "_eks"
"""Suffix of an ensemble's Kalman-smoothed predictions (``markerless smooth --method eks``)."""

_MODEL = re.compile(r"^(?P<model>.*?shuffle(?P<shuffle>\d+))(_(snapshot_(best-)?)?\d+)?$")
_WHAT = {
    "": ("predictions", "run `markerless analyze`"),
    FILTERED: ("filtered predictions", "run `markerless filter`"),
    TRACKS: ("tracked predictions", "run `markerless analyze`"),
    TRACKS + FILTERED: ("filtered tracked predictions", "run `markerless filter`"),
}

PathLike = str | os.PathLike[str]


def prediction_folder(video: PathLike, dest: PathLike | None = None) -> Path:
    """The folder holding a video's prediction files: ``dest``, else the video's folder."""
    return Path(dest) if dest is not None else Path(video).parent


def prediction_path(video: PathLike, scorer: str, *, suffix: str = "", dest: PathLike | None = None) -> Path:
    """Where the predictions of ``video`` by ``scorer`` go: ``<folder>/<video stem><scorer><suffix>.h5``."""
    return prediction_folder(video, dest) / f"{Path(video).stem}{scorer}{suffix}.h5"


def analysis_suffix(multi_animal: bool, track: bool = True) -> str:
    """The suffix of the file analysis writes: :data:`TRACKS` for a multi-animal video it tracks, else ``""``."""
    return TRACKS if multi_animal and track else ""


def prediction_suffixes(multi_animal: bool, *, filtered: bool = False) -> tuple[str, ...]:
    """The suffixes a shuffle's prediction file is looked for with, in order of preference.

    Multi-animal: the tracks (``_el``), then the raw name (untracked runs, and tracked files of
    versions before ``_el``); single-animal: the raw name. ``filtered`` appends :data:`FILTERED`.
    """
    suffixes = (TRACKS, "") if multi_animal else ("",)
    return tuple(f"{suffix}{FILTERED}" for suffix in suffixes) if filtered else suffixes


def tracks_path(prediction: PathLike) -> Path:
    """The tracks file of a raw prediction file: ``<its stem>_el.h5`` beside it (itself when it is one)."""
    prediction = Path(prediction)
    if prediction.stem.endswith(TRACKS):
        return prediction
    return prediction.with_name(f"{prediction.stem}{TRACKS}.h5")


def untracked_path(prediction: PathLike) -> Path:
    """A prediction file's name without :data:`TRACKS` (``<stem>.h5`` of ``<stem>_el.h5``; itself otherwise):
    the name its side files (``_meta.pickle``, ``_tracklets.npz``) are derived from."""
    prediction = Path(prediction)
    if prediction.stem.endswith(TRACKS):
        return prediction.with_name(f"{prediction.stem[: -len(TRACKS)]}.h5")
    return prediction


def filtered_path(prediction: PathLike) -> Path:
    """The filtered file of a prediction file: ``<its stem>_filtered.h5`` beside it."""
    prediction = Path(prediction)
    return prediction.with_name(f"{prediction.stem}{FILTERED}.h5")


def eks_path(first_member: PathLike) -> Path:
    """The EKS file of an ensemble: ``<first member's stem>_eks.h5`` beside the first member's file.

    An ensemble is one shuffle per member (same split, different seeds), so each member's file is
    that shuffle's ordinary prediction file.
    """
    first_member = Path(first_member)
    return first_member.with_name(f"{first_member.stem}{EKS}.h5")


def shuffle_scorer(project: Project, shuffle: int) -> str | None:
    """The scorer analysis writes for ``shuffle`` (config ``snapshotindex``), or None before it is trained."""
    try:
        sh = Shuffle(project, shuffle)
        return sh.scorer() if sh.snapshots() else None
    except (MarkerlessError, OSError, KeyError, ValueError):
        return None


def _model_of(scorer: str) -> tuple[str, int | None]:
    """``(model part, shuffle)`` of a scorer: ``DLC_Net_TaskDateshuffle2_snapshot_30`` -> ``(DLC_Net_TaskDateshuffle2, 2)``."""
    match = _MODEL.match(scorer)
    if match is None:
        return scorer, None
    return match.group("model"), int(match.group("shuffle"))


def _own(candidates: list[Path], stem: str, suffix: str, shuffle: int, scorer: str | None) -> Path | None:
    """The newest of ``candidates`` (newest first) made by the shuffle's model, or None."""
    start, end = len(stem), -len(f"{suffix}.h5")
    models = [_model_of(path.name[start:end]) for path in candidates]
    if scorer is not None:
        wanted = _model_of(scorer)[0]
        return next((path for path, (model, _) in zip(candidates, models) if model == wanted), None)
    tagged = [path for path, (_, number) in zip(candidates, models) if number == shuffle]
    untagged = [path for path, (_, number) in zip(candidates, models) if number is None]
    return next(iter(tagged or untagged), None)


def prediction_file(
    video: PathLike,
    shuffle: int,
    *,
    scorer: str | None = None,
    suffix: str | Sequence[str] = "",
    dest: PathLike | None = None,
) -> Path:
    """The prediction file of ``video`` made by shuffle ``shuffle`` (whose scorer is ``scorer``, when trained).

    ``suffix`` ``""`` (raw), :data:`FILTERED` or :data:`TRACKS`; a sequence of suffixes (such as
    :func:`prediction_suffixes`) is tried in order: the file of ``scorer`` with the first suffix that
    has one, else the first suffix with a file of the shuffle's model. Looks in ``dest`` or beside the
    video. See the module docstring for the policy; raises :class:`~markerless.errors.ProjectError`
    when the shuffle has no such file, naming the files of other shuffles or models that are there.
    """
    video = Path(video)
    folder = prediction_folder(video, dest)
    suffixes = [suffix] if isinstance(suffix, str) else list(suffix)
    if scorer is not None:
        for end in suffixes:
            exact = prediction_path(video, scorer, suffix=end, dest=dest)
            if exact.is_file():
                return exact
    found: list[Path] = []
    for end in suffixes:
        candidates = find_prediction_files(folder, video.stem, end)
        own = _own(candidates, video.stem, end, shuffle, scorer)
        if own is not None:
            return own
        found += candidates
    what, hint = _WHAT.get(suffixes[0], (f"{suffixes[0]} predictions", "run `markerless analyze`"))
    model = scorer or f"DLC_..shuffle{shuffle}.."
    if found:
        raise ProjectError(
            f"No {what} of shuffle {shuffle} ({model}) for {video.name} in {folder}; found only "
            f"{', '.join(p.name for p in found)}, made by another shuffle or model. {hint.capitalize()} "
            f"with --shuffle {shuffle}, or pass the --shuffle those files come from."
        )
    raise ProjectError(
        f"No {what} for {video.name} in {folder} (expected {video.stem}{scorer or '<scorer>'}{suffixes[0]}.h5); "
        f"{hint} first, or pass the folder they are in as --dest."
    )


def project_prediction_files(
    config: PathLike,
    videos: Sequence[PathLike] | PathLike,
    shuffle: int = 1,
    *,
    filtered: bool = False,
    dest: PathLike | None = None,
) -> tuple[Project, list[tuple[Path, Path]]]:
    """The loaded project and ``(video, prediction file)`` pairs of shuffle ``shuffle`` for the given videos
    (the suffixes of :func:`prediction_suffixes` for the project)."""
    project = Project.load(config)
    scorer = shuffle_scorer(project, shuffle)
    suffix = prediction_suffixes(project.multi_animal, filtered=filtered)
    pairs = [
        (video, prediction_file(video, shuffle, scorer=scorer, suffix=suffix, dest=dest))
        for video in find_videos(videos)
    ]
    if not pairs:
        raise ProjectError(f"No videos given or found in {videos}; pass video files or folders holding videos.")
    return project, pairs


def load_predictions(project: Project | None, path: PathLike) -> Poses:
    """Poses from a prediction file, named with the project's layout (skeleton edges) when it fits."""
    layout = getattr(project, "layout", None)
    if layout is not None:
        try:
            return read_predictions(path, layout)
        except MarkerlessError:
            pass  # columns differ from the project's body parts: take the file's own names
    return read_predictions(path)


__all__ = [
    "EKS",
    "FILTERED",
    "TRACKS",
    "analysis_suffix",
    "eks_path",
    "filtered_path",
    "load_predictions",
    "prediction_file",
    "prediction_folder",
    "prediction_path",
    "prediction_suffixes",
    "project_prediction_files",
    "shuffle_scorer",
    "tracks_path",
    "untracked_path",
]
