"""markerless: markerless pose estimation of animals in video.

The workflow functions mirror the command line (``markerless train ...`` is ``markerless.train(...)``)
and are imported on first use, so ``import markerless`` stays fast.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# Our HDF5 files are written to a temporary name and renamed into place, so HDF5's own file locks add
# nothing but failures: "unable to lock file, errno 11" when a file is reopened right after writing,
# and on the network file systems of clusters. Users can still turn locking on by setting the variable.
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

__version__ = "0.1.0"

# public name -> module that defines it, in workflow order
_API = {
    # project and labels
    "create_project": "markerless.project.project",
    "import_labels": "markerless.project.import_labels",
    "add_videos": "markerless.project.project",
    "load_project": "markerless.project.project",
    "import_sleap": "markerless.labelling.sleap",
    "export_sleap": "markerless.labelling.sleap",
    "extract_frames": "markerless.labelling.frames",
    "label": "markerless.app.server",
    "check_labels": "markerless.labelling.check_labels",
    # training
    "create_training_dataset": "markerless.training.dataset",
    "train": "markerless.training.loop",
    "train_ensemble": "markerless.training.ensemble",
    "analyze_ensemble": "markerless.training.ensemble",
    "evaluate": "markerless.training.evaluation",
    # video analysis
    "analyze": "markerless.analysis.analyze",
    "AnalysisOptions": "markerless.analysis.options",
    "filter_predictions": "markerless.results.filters",
    "FilterSettings": "markerless.results.filter_settings",
    "smooth_predictions": "markerless.results.eks",
    "create_labeled_video": "markerless.viz.video",
    "plot_trajectories": "markerless.viz.plots",
    "export": "markerless.analysis.export",
    # real time
    "live_stream": "markerless.live.stream",
    "LiveEstimator": "markerless.live.estimator",
    # identities over time
    "track_poses": "markerless.tracking.api",
    "stitch_videos": "markerless.tracking.api",
    "evaluate_tracking": "markerless.tracking.api",
    "swap_in_prediction_file": "markerless.tracking.repair",
    "undo_swap": "markerless.tracking.repair",
    "redo_swap": "markerless.tracking.repair",
    "suspicious_frames": "markerless.tracking.repair",
    "TrackingSettings": "markerless.tracking.settings",
    # active learning
    "extract_outliers": "markerless.labelling.outliers",
    "merge": "markerless.labelling.merge",
    # 3D
    "calibrate": "markerless.threed.api",
    "calibrate_cameras": "markerless.threed.calibration",
    "triangulate": "markerless.threed.api",
    "triangulate_project": "markerless.threed.api",
    "create_project_3d": "markerless.threed.config3d",
    "create_labeled_video_3d": "markerless.threed.plots",
    # data
    "make_synthetic_project": "markerless.synthetic",
    "demo": "markerless.synthetic.demo",
    # data model
    "Skeleton": "markerless.model.skeleton",
    "PoseLayout": "markerless.model.skeleton",
    "Labels": "markerless.model.labels",
    "Poses": "markerless.model.poses",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'markerless' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
