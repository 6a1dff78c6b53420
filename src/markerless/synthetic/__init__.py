"""Synthetic data with exact ground truth: rendered animals (:mod:`.animals`, :mod:`.render`) and ready projects.

``render_animals`` gives frames, ground-truth poses and occlusion flags; ``make_synthetic_project``
writes a DeepLabCut-layout project with a video, labelled frames and the ground truth of every frame.
``make_scene`` describes animals in world coordinates; ``render_view`` shows a scene through any
camera (multi-camera rigs project the same scene into each camera).
"""

from __future__ import annotations

from typing import Any

from markerless.synthetic.animals import BODYPARTS, EDGES, SYMMETRIC_PAIRS, Scene, make_scene
from markerless.synthetic.render import iter_render, render_animals, render_scene, render_view, scene_poses


def __getattr__(name: str) -> Any:
    if name == "make_synthetic_project":  # imported on use: it pulls in the project and file modules
        from markerless.synthetic.project import make_synthetic_project

        return make_synthetic_project
    raise AttributeError(f"module 'markerless.synthetic' has no attribute {name!r}")


__all__ = [
    "BODYPARTS",
    "EDGES",
    "SYMMETRIC_PAIRS",
    "Scene",
    "iter_render",
    "make_scene",
    "make_synthetic_project",
    "render_animals",
    "render_scene",
    "render_view",
    "scene_poses",
]
