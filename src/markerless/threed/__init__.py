"""3D: calibration boards, multi-camera calibration with bundle adjustment, robust triangulation.

Public API: :func:`calibrate` and :func:`triangulate_project` (on a 3D project),
:func:`calibrate_cameras` and :func:`triangulate` (on plain arrays), :func:`create_project_3d`,
:class:`CameraGroup` / :class:`Camera`, :func:`load_calibration` / :func:`save_calibration`, :class:`Board`.
"""

from markerless.threed.api import calibrate, triangulate_project
from markerless.threed.boards import Board, detect_board
from markerless.threed.calibration import calibrate_cameras
from markerless.threed.calibration_io import load_calibration, save_calibration
from markerless.threed.cameras import Camera, CameraGroup
from markerless.threed.config3d import create_project_3d, load_config3d
from markerless.threed.triangulation import Triangulation, triangulate

__all__ = [
    "Board",
    "Camera",
    "CameraGroup",
    "Triangulation",
    "calibrate",
    "calibrate_cameras",
    "create_project_3d",
    "detect_board",
    "load_calibration",
    "load_config3d",
    "save_calibration",
    "triangulate",
    "triangulate_project",
]
