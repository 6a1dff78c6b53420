"""Tracking on project files: track + stitch analysed poses, rerun stitching, score tracks against ground truth."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from markerless.errors import ConflictError, LabelFileError, ProjectError
from markerless.io.atomic import write_text
from markerless.io.dlc import read_labels, read_predictions, write_predictions
from markerless.io.sleap import read_slp_poses
from markerless.model.poses import Poses
from markerless.project.prediction_files import (
    prediction_folder,
    prediction_path,
    shuffle_scorer,
    tracks_path,
    untracked_path,
)
from markerless.project.project import Project
from markerless.tracking.metrics import tracking_metrics
from markerless.tracking.repair import journal_path, swap_history
from markerless.tracking.settings import TrackingSettings, check_n_animals
from markerless.tracking.stitching import stitch
from markerless.tracking.tracker import track
from markerless.tracking.tracklets import TRACKLETS_SUFFIX, Tracklets, read_tracklets, tracklets_path, write_tracklets

PathLike = str | os.PathLike[str]


def track_poses(
    poses: Poses, n_animals: int | None = None, settings: TrackingSettings | None = None
) -> tuple[Poses, Tracklets]:
    """Poses with persistent identities and the tracklets they were stitched from.

    ``poses`` is a multi-animal video's output whose individuals need not be consistent over time;
    the result has the same layout, with animal ``k`` (in order of first appearance) in individual ``k``.
    """
    n_animals = check_n_animals(n_animals, poses.layout.individuals, poses.source or "the poses' layout")
    tracklets = track(poses, n_animals, settings)
    return stitch(tracklets, n_animals, settings), tracklets


def check_hand_swaps(tracks: Path, discard_swaps: bool = False) -> None:
    """Refuse (:class:`~markerless.errors.ConflictError`) to replace a tracks file holding identity swaps made by
    hand (its ``_swaps.json`` journal), unless ``discard_swaps``: tracking or stitching again would drop them."""
    if discard_swaps or not tracks.is_file() or not journal_path(tracks).is_file():
        return
    applied = swap_history(tracks).applied
    if applied:
        raise ConflictError(
            f"{tracks} holds {len(applied)} identity swap(s) made by hand ({journal_path(tracks).name}); tracking or "
            "stitching again would replace them. Copy the file to keep them, then pass --discard-swaps "
            "(discard_swaps=True)."
        )


def track_prediction_file(
    path: PathLike,
    n_animals: int | None = None,
    settings: TrackingSettings | None = None,
    *,
    discard_swaps: bool = False,
) -> tuple[Path, Path]:
    """Track a multi-animal prediction file: the tracks go to ``<its stem>_el.h5`` beside it (atomically),
    the tracklets to ``<its stem without _el>_tracklets.npz``; the file itself is left as it is (a tracks
    file is tracked again in place).

    Returns ``(tracks file, tracklets file)``. ``analyze`` does the same while writing a multi-animal
    video's results; this tracks a file analysed with ``track=False`` afterwards. A tracks file with swaps
    made by hand is not replaced unless ``discard_swaps`` (:func:`check_hand_swaps`).
    """
    path = Path(path)
    check_hand_swaps(tracks_path(path), discard_swaps)
    tracked, tracklets = track_poses(read_predictions(path), n_animals, settings)
    tracked.metadata = {**tracked.metadata, "tracked": True}
    out = write_tracklets(tracklets, tracklets_path(untracked_path(path)))
    return write_predictions(tracked, tracks_path(path)), out


def _find_tracklets(video: Path, scorer: str | None, dest: PathLike | None) -> Path:
    folder = prediction_folder(video, dest)
    if scorer is not None:
        exact = tracklets_path(prediction_path(video, scorer, dest=dest))
        if exact.is_file():
            return exact
    found = sorted(folder.glob(f"{video.stem}*{TRACKLETS_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not found:
        raise ProjectError(
            f"No tracklets for {video.name} in {folder} (expected {video.stem}<scorer>{TRACKLETS_SUFFIX}); "
            "analyse the video with a multi-animal model first, or pass the folder they are in as --dest."
        )
    return found[0]


def stitch_videos(
    config: PathLike,
    videos: Sequence[PathLike] | PathLike,
    shuffle: int = 1,
    *,
    n_animals: int | None = None,
    dest: PathLike | None = None,
    discard_swaps: bool = False,
    **overrides: Any,
) -> list[Path]:
    """Stitch the saved tracklets of each video again (other settings, other number of animals).

    Writes ``<video><scorer>_el.h5`` (tracked, DeepLabCut's tracks file) beside the tracklets; returns those
    paths. ``overrides`` are :class:`TrackingSettings` fields. A tracks file holding identity swaps made by
    hand is not replaced unless ``discard_swaps`` (checked for every video before any is written).
    """
    project = Project.load(config)
    n_animals = check_n_animals(n_animals, project.layout.individuals, project.root / "config.yaml")
    settings = TrackingSettings().with_overrides(pcutoff=project.pcutoff).with_overrides(**overrides)
    scorer = shuffle_scorer(project, shuffle)
    sources = [
        _find_tracklets(Path(v), scorer, dest) for v in ([videos] if isinstance(videos, str | os.PathLike) else videos)
    ]
    outputs = [tracks_path(source.with_name(source.name[: -len(TRACKLETS_SUFFIX)] + ".h5")) for source in sources]
    for out in outputs:
        check_hand_swaps(out, discard_swaps)
    written = []
    for source, out in zip(sources, outputs, strict=True):
        tracked = stitch(read_tracklets(source), n_animals, settings)
        tracked.metadata = {**tracked.metadata, "tracked": True}
        written.append(write_predictions(tracked, out))
    return written


_FRAME_NUMBER = re.compile(r"(\d+)(?=\.[A-Za-z]+$)")


def read_ground_truth(path: PathLike) -> Poses:
    """True tracks: a SLEAP ``.slp`` with tracks, or DeepLabCut multi-animal labels (``CollectedData_*.h5/.csv``).

    Label rows become frames by the number in their image name (``img0123.png`` is frame 123).
    """
    path = Path(path)
    if path.suffix.lower() == ".slp":
        return read_slp_poses(path)
    labels = read_labels(path)
    frames = []
    for image in labels.images:
        match = _FRAME_NUMBER.search(image)
        if match is None:
            raise LabelFileError(
                f"{path}: image {image} has no frame number in its name (img<N>.png); "
                "ground truth for tracking needs frames extracted by markerless or DeepLabCut."
            )
        frames.append(int(match.group(1)))
    data = np.concatenate([labels.xy, np.where(np.isfinite(labels.xy[..., :1]), 1.0, np.nan)], axis=-1)
    return Poses(data, labels.layout, scorer=labels.scorer, frames=np.asarray(frames), source=str(path))


def evaluation_path(predictions: PathLike) -> Path:
    """Where the tracking scores of a prediction file go: ``<its stem>_tracking.json`` beside it."""
    predictions = Path(predictions)
    return predictions.with_name(f"{predictions.stem}_tracking.json")


def evaluate_tracking(
    config: PathLike | None,
    predictions: PathLike,
    ground_truth: PathLike,
    *,
    max_distance: float | None = None,
    pcutoff: float | None = None,
) -> dict[str, Any]:
    """Score tracked predictions against true tracks (see :func:`tracking_metrics`); writes the JSON beside them.

    ``pcutoff`` None: the project's (0 without a project). Returns the scores, with the paths.
    """
    if pcutoff is None:
        pcutoff = Project.load(config).pcutoff if config is not None else 0.0
    pred = read_predictions(predictions)
    truth = read_ground_truth(ground_truth)
    scores = dict(tracking_metrics(pred, truth, max_distance=max_distance, pcutoff=pcutoff))
    scores.update(predictions=str(predictions), ground_truth=str(ground_truth), pcutoff=pcutoff)
    write_text(evaluation_path(predictions), json.dumps(scores, indent=2) + "\n")
    return scores
