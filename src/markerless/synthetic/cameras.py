"""Synthetic multi-camera scenes with exact ground truth: known cameras, a rendered board, a 3D animal.

Cameras stand on an arc around the origin and look at it (world z is up, lengths in mm). The board
(checkerboard or ChArUco) is rendered into every camera with its lens distortion by ray casting onto the
board plane (``cv2.remap``), so calibration runs the real detection code on the images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from markerless.threed.boards import Board
from markerless.threed.cameras import Camera, CameraGroup, matrix_to_rodrigues, rodrigues_to_matrix


def look_at(position: np.ndarray, target: np.ndarray, up: Sequence[float] = (0, 0, 1)) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera ``(R, t)`` of a camera at ``position`` looking at ``target`` (x right, y down, z forward)."""
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])
    return rot, -rot @ np.asarray(position, float)


def make_camera_rig(
    n_cameras: int,
    *,
    size: tuple[int, int] = (640, 480),
    radius: float = 1000.0,
    height: float = 400.0,
    arc_degrees: float | None = None,
    focal: float = 600.0,
    distortion: float = -0.05,
    seed: int = 0,
) -> CameraGroup:
    """``n_cameras`` cameras on an arc around the origin, all looking at it, with slightly different lenses."""
    rng = np.random.default_rng(seed)
    arc = arc_degrees if arc_degrees is not None else min(30.0 * (n_cameras - 1), 150.0)
    angles = np.radians(np.linspace(-arc / 2, arc / 2, n_cameras)) if n_cameras > 1 else np.zeros(1)
    cams = []
    for i, a in enumerate(angles):
        pos = np.array([-radius * np.cos(a), radius * np.sin(a), height * (1 + 0.1 * rng.standard_normal())])
        rot, t = look_at(pos, rng.normal(0, 20, 3))
        f = focal * (1 + 0.05 * rng.standard_normal())
        k = np.array(
            [
                [f, 0, size[0] / 2 + rng.normal(0, 5)],
                [0, f * (1 + 0.002 * rng.standard_normal()), size[1] / 2 + rng.normal(0, 5)],
                [0, 0, 1],
            ]
        )
        dist = np.array([distortion * (1 + 0.2 * rng.standard_normal()), 0.01 * rng.standard_normal(), 0, 0, 0])
        cams.append(Camera(f"cam{i + 1}", size, k, dist, matrix_to_rodrigues(rot), t))
    return CameraGroup(cams, {"source": "synthetic"})


def random_board_poses(
    group: CameraGroup, board: Board, n_frames: int, *, spread: float = 150.0, seed: int = 0
) -> np.ndarray:
    """``(frames, 6)`` board poses (rvec, tvec in world) near the origin, each facing a random part of the rig."""
    rng = np.random.default_rng(seed)
    centre = board.object_points().mean(axis=0)
    centers = np.stack([c.center for c in group])
    poses = np.empty((n_frames, 6))
    for f in range(n_frames):
        # face a point between two neighbouring cameras (each camera in turn), tilted and spun a little
        n = len(group)
        first = f % n
        second = min(first + 1, n - 1) if first < n - 1 else max(first - 1, 0)
        share = rng.uniform(0.3, 0.7)
        target = share * centers[first] + (1 - share) * centers[second]
        pos = rng.normal(0, spread, 3) * np.array([1, 1, 0.5])
        # the board's +z axis points away from the cameras it faces (OpenCV boards are seen from -z)
        rot_cam, _ = look_at(target, pos)
        spin = rodrigues_to_matrix(np.array([0, 0, rng.uniform(-0.4, 0.4)]))
        tilt = rodrigues_to_matrix(rng.normal(0, 0.35, 3) * np.array([1, 1, 0]))
        # board frame axes expressed in world: x right, y down, z away from the viewer
        rot = rot_cam.T @ tilt @ spin
        poses[f, :3] = matrix_to_rodrigues(rot)
        poses[f, 3:] = pos - rot @ centre
    return poses


def board_corners_in_cameras(group: CameraGroup, board: Board, board_poses: np.ndarray) -> np.ndarray:
    """Exact pixel positions ``(cameras, frames, n_corners, 2)`` of the board corners (NaN when not visible)."""
    obj = board.object_points()
    rot = rodrigues_to_matrix(board_poses[:, :3])
    world = np.einsum("fij,kj->fki", rot, obj) + board_poses[:, None, 3:]
    out = group.project(world)
    for c, cam in enumerate(group):
        depth = cam.to_camera(world)[..., 2]
        normal_cam = (cam.rotation_matrix @ rot[:, :, 2].T).T  # board z axis in the camera frame
        centre_cam = cam.to_camera(world.mean(axis=1))
        facing = np.einsum("fi,fi->f", normal_cam, centre_cam) > 0.25 * np.linalg.norm(centre_cam, axis=1)
        inside = (
            (out[c, ..., 0] >= 2)
            & (out[c, ..., 0] <= cam.size[0] - 3)
            & (out[c, ..., 1] >= 2)
            & (out[c, ..., 1] <= cam.size[1] - 3)
        )
        ok = inside & (depth > 0) & facing[:, None]
        out[c][~ok] = np.nan
    return out


def render_board(
    camera: Camera,
    board: Board,
    pose: np.ndarray,
    *,
    pixels_per_square: int = 40,
    background: int = 140,
    rays: np.ndarray | None = None,
) -> np.ndarray:
    """Grey ``(height, width)`` image of the board at ``pose`` (world rvec, tvec) through ``camera``'s lens."""
    texture, affine = board.render(pixels_per_square, margin=pixels_per_square // 2)
    w, h = camera.size
    if rays is None:
        rays = camera_rays(camera)
    r_board = rodrigues_to_matrix(pose[:3])
    r_cam = camera.rotation_matrix
    # board frame -> camera frame
    r_bc = r_cam @ r_board
    t_bc = r_cam @ pose[3:] + camera.translation
    normal = r_bc[:, 2].astype(np.float32)
    axes = r_bc[:, :2].astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.float32(normal @ t_bc) / (rays @ normal)
    local = (rays * depth[:, None]) @ axes - (t_bc @ r_bc[:, :2]).astype(np.float32)  # board x, y
    map_x = affine[0, 0] * local[:, 0] + np.float32(affine[0, 2])
    map_y = affine[1, 1] * local[:, 1] + np.float32(affine[1, 2])
    behind = ~(depth > 0)
    if normal @ t_bc <= 0:  # the camera looks at the board's back: boards are opaque
        behind[:] = True
    map_x[behind] = -1e4
    map_y[behind] = -1e4
    image = cv2.remap(
        texture,
        map_x.reshape(h, w).astype(np.float32),
        map_y.reshape(h, w).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=background,
    )
    return image


def camera_rays(camera: Camera) -> np.ndarray:
    """Undistorted viewing rays ``(height * width, 3)`` (z = 1) of every pixel."""
    w, h = camera.size
    yy, xx = np.mgrid[0:h, 0:w]
    pix = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float64)
    norm = camera.undistort_points(pix)
    return np.concatenate([norm, np.ones((len(norm), 1))], axis=1).astype(np.float32)


@dataclass
class MultiCameraScene:
    """A synthetic rig: true cameras, board views and an animal seen by every camera.

    Attributes:
        cameras: the true calibration.
        board: the board shown.
        board_poses: ``(frames, 6)`` world pose of the board in each calibration frame.
        board_images: ``(cameras, frames, height, width)`` uint8 renders (None when not rendered).
        board_corners: ``(cameras, frames, n_corners, 2)`` exact corner pixels (NaN where not visible).
        animal3d: ``(frames, individuals, keypoints, 3)`` ground-truth 3D keypoints (mm).
        animal2d: ``(cameras, frames, individuals, keypoints, 2)`` their exact projections.
    """

    cameras: CameraGroup
    board: Board
    board_poses: np.ndarray
    board_images: np.ndarray | None
    board_corners: np.ndarray
    animal3d: np.ndarray
    animal2d: np.ndarray

    def write_calibration_images(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Save the board renders as ``<camera>-<NN>.png`` (DeepLabCut 3D's naming); returns the files."""
        if self.board_images is None:
            raise ValueError("The scene was made without rendering the board (render=False).")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for c, cam in enumerate(self.cameras):
            for f, image in enumerate(self.board_images[c]):
                path = folder / f"{cam.name}-{f + 1:02d}.png"
                cv2.imwrite(str(path), image)
                paths.append(path)
        return paths


def animal_trajectory(
    n_frames: int, n_keypoints: int = 8, n_individuals: int = 1, *, seed: int = 0, body_length: float = 80.0
) -> np.ndarray:
    """Smooth ``(frames, individuals, keypoints, 3)`` 3D keypoints of small animals moving near the origin (mm)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None]
    out = np.empty((n_frames, n_individuals, n_keypoints, 3))
    for i in range(n_individuals):
        freq = rng.uniform(0.01, 0.04, 3)
        phase = rng.uniform(0, 2 * np.pi, 3)
        centre = 100 * np.sin(freq * t + phase) * np.array([1, 1, 0.3]) + rng.normal(0, 30, 3) * np.array([1, 1, 0])
        heading = np.cumsum(rng.normal(0, 0.05, n_frames))
        along = np.linspace(-0.5, 0.5, n_keypoints) * body_length
        lateral = rng.normal(0, 8, n_keypoints)
        up = 20 + rng.normal(0, 5, n_keypoints)
        c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
        x = centre[:, :1] + c * along - s * lateral
        y = centre[:, 1:2] + s * along + c * lateral
        z = centre[:, 2:3] + up + 3 * np.sin(0.2 * t + np.arange(n_keypoints))
        out[:, i] = np.stack([x, y, z], axis=-1)
    return out


def make_multicamera_scene(
    n_cameras: int = 3,
    board: Board | None = None,
    *,
    n_board_frames: int = 20,
    n_animal_frames: int = 50,
    n_keypoints: int = 8,
    n_individuals: int = 1,
    render: bool = True,
    seed: int = 0,
    **rig: object,
) -> MultiCameraScene:
    """A complete synthetic multi-camera scene (see :class:`MultiCameraScene`)."""
    board = board or Board("checkerboard", rows=6, cols=9, square_size=40.0)
    group = make_camera_rig(n_cameras, seed=seed, **rig)  # type: ignore[arg-type]
    poses = random_board_poses(group, board, n_board_frames, seed=seed + 1)
    corners = board_corners_in_cameras(group, board, poses)
    images = None
    if render:
        w, h = group[0].size
        images = np.empty((n_cameras, n_board_frames, h, w), np.uint8)
        for c, cam in enumerate(group):
            rays = camera_rays(cam)
            for f in range(n_board_frames):
                images[c, f] = render_board(cam, board, poses[f], rays=rays)
    animal3d = animal_trajectory(n_animal_frames, n_keypoints, n_individuals, seed=seed + 2)
    return MultiCameraScene(group, board, poses, images, corners, animal3d, group.project(animal3d))


def rig_alignment(estimated: CameraGroup, true: CameraGroup) -> tuple[np.ndarray, np.ndarray]:
    """Rigid motion ``x_est = R @ x_true + t`` that best maps the true rig onto the estimated one.

    A calibration fixes its own world frame (e.g. camera 0); this brings the truth into it.
    """
    r_est = np.stack([c.rotation_matrix for c in estimated])
    r_true = np.stack([c.rotation_matrix for c in true])
    u, _, vt = np.linalg.svd(np.einsum("cji,cjk->ik", r_true, r_est))  # sum of R_true^T R_est
    align = u @ vt
    if np.linalg.det(align) < 0:
        u[:, -1] *= -1
        align = u @ vt
    c_est = np.stack([c.center for c in estimated])
    c_true = np.stack([c.center for c in true])
    rot = align.T
    return rot, (c_est - c_true @ rot.T).mean(axis=0)


def compare_rigs(estimated: CameraGroup, true: CameraGroup) -> tuple[np.ndarray, np.ndarray]:
    """Orientation errors (degrees) and position errors (length unit) of each estimated camera,
    after aligning the truth to the estimate's world frame (:func:`rig_alignment`)."""
    rot, shift = rig_alignment(estimated, true)
    c_est = np.stack([c.center for c in estimated])
    c_true = np.stack([c.center for c in true]) @ rot.T + shift
    rel = np.stack([t.rotation_matrix @ rot.T @ e.rotation_matrix.T for e, t in zip(estimated, true)])
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)
    return np.degrees(np.arccos(cos)), np.linalg.norm(c_est - c_true, axis=1)


__all__ = [
    "MultiCameraScene",
    "animal_trajectory",
    "board_corners_in_cameras",
    "camera_rays",
    "compare_rigs",
    "look_at",
    "make_camera_rig",
    "make_multicamera_scene",
    "random_board_poses",
    "render_board",
    "rig_alignment",
]
