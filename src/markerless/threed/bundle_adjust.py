"""Bundle adjustment of camera poses (and optionally intrinsics) and board poses.

One observation = one board corner seen by one camera in one frame. Residuals are pixel differences,
computed for all observations at once; SciPy's ``least_squares`` gets the Jacobian's sparsity pattern
(each residual depends on one camera and one board pose) and a robust loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from markerless.threed.cameras import CameraGroup, distort_normalized, rodrigues_to_matrix

N_INTRINSIC = 6  # fx, fy, cx, cy, k1, k2


@dataclass
class Observations:
    """Board corners seen by the cameras: one row per (camera, frame, corner)."""

    camera: np.ndarray  # int (n,)
    frame: np.ndarray  # int (n,) index into the board poses
    corner: np.ndarray  # int (n,) index into the board's object points
    xy: np.ndarray  # float (n, 2) pixels

    @classmethod
    def from_corners(cls, corners: np.ndarray) -> Observations:
        """From dense detections ``(cameras, frames, n_corners, 2)`` (NaN = not seen)."""
        c, f, k = np.nonzero(np.isfinite(corners[..., 0]))
        return cls(c, f, k, corners[c, f, k])


def transform(rvecs: np.ndarray, tvecs: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``R(rvec) @ p + t`` for matching rows of ``rvecs (n, 3)``, ``tvecs (n, 3)``, ``points (n, 3)``."""
    rot = rodrigues_to_matrix(rvecs)
    return np.einsum("nij,nj->ni", rot, points) + tvecs


def project_observations(
    cam_params: np.ndarray,
    board_poses: np.ndarray,
    obs: Observations,
    object_points: np.ndarray,
    intrinsics: np.ndarray,
) -> np.ndarray:
    """Predicted pixels of every observation.

    Args:
        cam_params: ``(cameras, 6)`` rotation vector + translation of each camera.
        board_poses: ``(frames, 6)`` rotation vector + translation of the board in world coordinates.
        intrinsics: ``(cameras, 9)`` fx, fy, cx, cy, k1, k2, p1, p2, k3.
    """
    world = transform(board_poses[obs.frame, :3], board_poses[obs.frame, 3:], object_points[obs.corner])
    cam = transform(cam_params[obs.camera, :3], cam_params[obs.camera, 3:], world)
    xy = cam[:, :2] / cam[:, 2:3]
    intr = intrinsics[obs.camera]
    xy = distort_normalized(xy, intr[:, 4:9])
    return np.stack([intr[:, 0] * xy[:, 0] + intr[:, 2], intr[:, 1] * xy[:, 1] + intr[:, 3]], axis=1)


def group_intrinsics(group: CameraGroup) -> np.ndarray:
    """``(cameras, 9)`` fx, fy, cx, cy, k1, k2, p1, p2, k3."""
    return np.array([[c.matrix[0, 0], c.matrix[1, 1], c.matrix[0, 2], c.matrix[1, 2], *c.distortions] for c in group])


def bundle_adjust(
    group: CameraGroup,
    board_poses: np.ndarray,
    obs: Observations,
    object_points: np.ndarray,
    *,
    optimize_intrinsics: bool = False,
    loss: str = "soft_l1",
    f_scale: float = 1.0,
    max_nfev: int = 200,
) -> tuple[CameraGroup, np.ndarray, np.ndarray]:
    """Refine cameras 1..N-1 (camera 0 stays the world frame) and every board pose.

    Returns the adjusted cameras, board poses ``(frames, 6)`` and per-observation pixel errors.
    """
    n_cams, n_frames = len(group), len(board_poses)
    cam_params = np.array([[*c.rotation, *c.translation] for c in group])
    intrinsics = group_intrinsics(group)
    n_int = N_INTRINSIC if optimize_intrinsics else 0
    n_cam_vars = 6 * (n_cams - 1) + n_int * n_cams

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cams = cam_params.copy()
        cams[1:] = x[: 6 * (n_cams - 1)].reshape(-1, 6)
        intr = intrinsics.copy()
        if n_int:  # relative changes, so that all unknowns have similar scales
            rel = x[6 * (n_cams - 1) : n_cam_vars].reshape(n_cams, n_int)
            focal = intrinsics[:, :1]
            intr[:, :4] = intrinsics[:, :4] + rel[:, :4] * focal
            intr[:, 4:6] = intrinsics[:, 4:6] + rel[:, 4:6]
        poses = x[n_cam_vars:].reshape(n_frames, 6)
        return cams, intr, poses

    def residuals(x: np.ndarray) -> np.ndarray:
        cams, intr, poses = unpack(x)
        return (project_observations(cams, poses, obs, object_points, intr) - obs.xy).ravel()

    x0 = np.concatenate([cam_params[1:].ravel(), np.zeros(n_cams * n_int), board_poses.ravel()])
    n_obs = len(obs.camera)
    sparsity = lil_matrix((2 * n_obs, len(x0)), dtype=np.int8)
    rows = np.arange(n_obs)
    for axis in range(2):
        r = 2 * rows + axis
        moving = obs.camera > 0
        for j in range(6):
            sparsity[r[moving], 6 * (obs.camera[moving] - 1) + j] = 1
            sparsity[r, n_cam_vars + 6 * obs.frame + j] = 1
        for j in range(n_int):
            sparsity[r, 6 * (n_cams - 1) + n_int * obs.camera + j] = 1
    result = least_squares(
        residuals,
        x0,
        jac_sparsity=sparsity,
        loss=loss,
        f_scale=f_scale,
        x_scale="jac",
        method="trf",
        max_nfev=max_nfev,
        tr_solver="lsmr",
        ftol=1e-5,
    )
    cams, intr, poses = unpack(result.x)
    adjusted = group.copy()
    for i, cam in enumerate(adjusted.cameras):
        cam.rotation, cam.translation = cams[i, :3].copy(), cams[i, 3:].copy()
        cam.matrix = np.array([[intr[i, 0], 0, intr[i, 2]], [0, intr[i, 1], intr[i, 3]], [0, 0, 1.0]])
        cam.distortions = intr[i, 4:9].copy()
    errors = np.linalg.norm(result.fun.reshape(-1, 2), axis=1)
    return adjusted, poses, errors


__all__ = ["Observations", "bundle_adjust", "group_intrinsics", "project_observations", "transform"]
