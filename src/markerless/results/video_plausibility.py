"""The jitter and plausibility report of a prediction file: one line to print and ``<file stem>_plausibility.json``.

For a video's predictions (raw, filtered or EKS) it measures, with :mod:`markerless.results.plausibility`:

* the **jump fraction**: observed (frame pair, body part) cells moving more than 20 px between frames;
* the **pose-PCA error** (median, 95th percentile, max, px), the subspace fitted on the project's labels;
  skipped with a note when too few frames have every body part labelled;
* the **multi-view error** (px) of mirrored rigs, whose body parts come in ``<name>_top`` / ``<name>_bot``
  pairs (:func:`~markerless.results.plausibility.mirrored_pairs`); skipped when there are none.

A saved report at least as new as its prediction file is current (:func:`current_plausibility`): the
command line prints it again rather than rewriting it. Every prediction counts, whatever its likelihood (so raw, filtered and smoothed files compare alike).
Multi-animal files pool every individual (an identity swap counts as jumps); the unique body parts'
pseudo-individual has no pose, so it adds nothing to the PCA errors.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from markerless.errors import MarkerlessError
from markerless.io.atomic import write_text
from markerless.project.prediction_files import load_predictions
from markerless.project.project import Project
from markerless.results.plausibility import (
    JUMP_THRESHOLD,
    PCAFit,
    fit_multiview_pca,
    fit_pose_pca,
    mirrored_pairs,
    plausibility_report,
    view_pairs,
)

PLAUSIBILITY = "_plausibility"
"""Suffix of a prediction file's plausibility report (``<stem>_plausibility.json`` beside it)."""


@dataclass(frozen=True)
class LabelFits:
    """The subspaces fitted on a project's labels (None where they could not be), and why not."""

    keypoints: tuple[str, ...]
    pose_pca: PCAFit | None = None
    multiview: tuple[PCAFit, np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)


def plausibility_path(prediction: str | os.PathLike[str]) -> Path:
    """Where the report of a prediction file goes: ``<its stem>_plausibility.json`` beside it."""
    prediction = Path(prediction)
    return prediction.with_name(f"{prediction.stem}{PLAUSIBILITY}.json")


def current_plausibility(prediction: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved report of a prediction file when it is at least as new as the file, else None."""
    path, prediction = plausibility_path(prediction), Path(prediction)
    try:
        if path.stat().st_mtime_ns < prediction.stat().st_mtime_ns:
            return None
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and "jump_fraction" in report else None


def label_fits(project: Project) -> LabelFits:
    """The pose-PCA and (for mirrored rigs) multi-view fits of the project's labels, one row per labelled animal."""
    names = project.layout.keypoint_names
    notes: list[str] = []
    try:
        labels = project.load_labels()
    except MarkerlessError as err:
        return LabelFits(tuple(names), notes=[f"PCA errors skipped: the labels cannot be read ({err})"])
    xy = labels.xy.reshape(-1, len(names), 2) if len(labels) else np.zeros((0, len(names), 2))
    pose: PCAFit | None = None
    try:
        pose = fit_pose_pca(xy, source=f"the labels of {project.root.name}")
    except (MarkerlessError, ValueError) as err:
        notes.append(f"pose PCA skipped: {str(err).split(';')[0]}")
    multiview: tuple[PCAFit, np.ndarray] | None = None
    pairs = mirrored_pairs(names)
    if pairs:
        index = view_pairs(names, pairs)
        try:
            multiview = (fit_multiview_pca(xy, index, source=f"the labels of {project.root.name}"), index)
        except (MarkerlessError, ValueError) as err:
            notes.append(f"multi-view PCA skipped: {str(err).split(';')[0]}")
    return LabelFits(tuple(names), pose, multiview, notes)


def prediction_plausibility(
    project: Project | str | os.PathLike[str],
    prediction: str | os.PathLike[str],
    *,
    fits: LabelFits | None = None,
    threshold: float = JUMP_THRESHOLD,
    write: bool = True,
) -> dict[str, Any]:
    """The jitter and plausibility report of one prediction file; written to :func:`plausibility_path` when ``write``.

    ``fits``: the project's label fits (:func:`label_fits`, computed here when None; pass them for
    several files). The report holds ``file``, ``frames``, ``jump_fraction``, ``jump_threshold``,
    ``pose_pca_error`` / ``multiview_error`` (``median``, ``p95``, ``max`` px) when fitted, and ``notes``.
    """
    project = project if isinstance(project, Project) else Project.load(project)
    fits = fits if fits is not None else label_fits(project)
    poses = load_predictions(project, prediction)
    names = poses.layout.keypoint_names
    xy = np.asarray(poses.xy, dtype=np.float64)  # (T, I, K, 2)
    notes = list(fits.notes)
    same = tuple(names) == fits.keypoints
    if not same:
        notes.append("PCA errors skipped: the file's body parts differ from the project's")
    report = plausibility_report(
        xy,
        threshold=threshold,
        pose_pca=fits.pose_pca if same else None,
        multiview=fits.multiview if same else None,
    )
    report = {"file": Path(prediction).name, "frames": int(xy.shape[0]), **report, "notes": notes}
    if write:
        write_text(plausibility_path(prediction), json.dumps(_finite(report), indent=1) + "\n")
    return report


def _finite(value: Any) -> Any:
    """NaN as null, so the JSON is standard."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _px(summary: dict[str, float | None] | None) -> str:
    if summary is None:
        return "n/a"
    median, p95 = (float("nan") if summary[k] is None else summary[k] for k in ("median", "p95"))
    return f"median {median:.1f} px, p95 {p95:.1f} px"


def plausibility_line(report: dict[str, Any]) -> str:
    """One line for a report: jump fraction, pose-PCA and multi-view errors, and any notes."""
    fraction = report["jump_fraction"] if report["jump_fraction"] is not None else float("nan")
    parts = [f"{report['file']}: jumps > {report['jump_threshold']:g} px {100 * fraction:.2f}% of frames x parts"]
    parts.append(f"pose-PCA error {_px(report.get('pose_pca_error'))}")
    if "multiview_error" in report:
        parts.append(f"multi-view error {_px(report['multiview_error'])}")
    line = "; ".join(parts)
    return line + (f" ({'; '.join(report['notes'])})" if report.get("notes") else "")


__all__ = [
    "PLAUSIBILITY",
    "LabelFits",
    "current_plausibility",
    "label_fits",
    "plausibility_line",
    "plausibility_path",
    "prediction_plausibility",
]
