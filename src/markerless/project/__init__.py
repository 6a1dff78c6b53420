"""markerless.project: what a project folder holds and where each file of it lives.

The project (``config.yaml``, videos, labelled-data folders) in :mod:`.project`; shuffles (train/test
splits and their model folders) in :mod:`.shuffle`; the training recipe of a shuffle in :mod:`.recipe`;
which prediction files belong to a video in :mod:`.prediction_files`.
"""

from __future__ import annotations

from markerless.project.project import Project, add_videos, create_project, load_project

__all__ = ["Project", "add_videos", "create_project", "load_project"]
