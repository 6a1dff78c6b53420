"""Calibration of N >= 1 cameras from board detections.

1. intrinsics and distortion per camera (``cv2.calibrateCamera``);
2. the board's pose in every frame each camera saw it (``cv2.solvePnP``);
3. initial extrinsics: relative poses of camera pairs that saw the board together, chained from
   camera 0 through a maximum spanning tree (edge weight = frames shared);
4. bundle adjustment of all cameras and board poses (:mod:`markerless.threed.bundle_adjust`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import cv2
import numpy as np

from markerless.errors import CalibrationError
from markerless.threed.boards import Board
from markerless.threed.bundle_adjust import Observations, bundle_adjust, group_intrinsics, project_observations
from markerless.threed.cameras import Camera, CameraGroup, matrix_to_rodrigues, rodrigues_to_matrix

MIN_CORNERS = 6
POOR_ERROR = 3.0  # pixels: a camera reprojecting worse than this is flagged
FEW_VIEWS = 8  # below this many board views a camera's intrinsics are simplified


def _usable(corners: np.ndarray, object_points: np.ndarray, board: Board) -> np.ndarray:
    """Bool ``(frames,)``: enough corners, not all on one line (a full board for checkerboards)."""
    seen = np.isfinite(corners[..., 0])
    count = seen.sum(axis=1)
    if board.kind == "checkerboard":
        return count == board.n_corners
    xs = np.where(seen, object_points[None, :, 0], np.nan)
    ys = np.where(seen, object_points[None, :, 1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without corners
        spread_x = np.nanmax(xs, axis=1) - np.nanmin(xs, axis=1)
        spread_y = np.nanmax(ys, axis=1) - np.nanmin(ys, axis=1)
    enough = np.maximum(MIN_CORNERS, board.n_corners // 4)  # few corners give unreliable poses
    return (count >= enough) & (np.nan_to_num(spread_x) > 0) & (np.nan_to_num(spread_y) > 0)


def _spread_subset(indices: np.ndarray, limit: int) -> np.ndarray:
    if len(indices) <= limit:
        return indices
    return indices[np.linspace(0, len(indices) - 1, limit).round().astype(int)]


def calibrate_intrinsics(
    corners: np.ndarray, board: Board, size: tuple[int, int], *, max_frames: int = 60, fix_k3: bool = True
) -> tuple[np.ndarray, np.ndarray, float]:
    """One camera's matrix, distortion ``(k1, k2, p1, p2, k3)`` and RMS error from ``(frames, n_corners, 2)``.

    ``fix_k3`` keeps the sixth-order radial term at 0 (it is poorly determined by a few board views). With
    fewer than ``FEW_VIEWS`` views the principal point stays at the image centre and only k1 is estimated
    (bundle adjustment may refine them later).
    """
    obj = board.object_points()
    usable = np.flatnonzero(_usable(corners, obj, board))
    if len(usable) < 3:
        raise CalibrationError(
            f"The board was found in only {len(usable)} usable frames of a camera (need at least 3); "
            "record more views of the whole board, or check the board's rows/cols."
        )
    chosen = _spread_subset(usable, max_frames)
    objpts, imgpts = [], []
    for f in chosen:
        seen = np.isfinite(corners[f, :, 0])
        objpts.append(obj[seen].astype(np.float32))
        imgpts.append(corners[f, seen].astype(np.float32).reshape(-1, 1, 2))
    try:
        flags = cv2.CALIB_FIX_K3 if fix_k3 else 0
        if len(chosen) < FEW_VIEWS:  # too few views for every parameter: centred principal point, radial only
            flags |= cv2.CALIB_FIX_PRINCIPAL_POINT | cv2.CALIB_ZERO_TANGENT_DIST | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3
        rms, mtx, dist, _, _ = cv2.calibrateCamera(objpts, imgpts, tuple(int(s) for s in size), None, None, flags=flags)
    except cv2.error as err:
        raise CalibrationError(f"OpenCV could not calibrate a camera: {err}") from None
    return mtx, dist.ravel()[:5], float(rms)


def board_poses_in_camera(corners: np.ndarray, board: Board, camera: Camera, max_error: float = 3.0) -> np.ndarray:
    """``(frames, 6)`` board pose (rvec, tvec) in the camera's frame; NaN where not usable or fitting worse
    than ``max_error`` pixels (RMS)."""
    obj = board.object_points()
    poses = np.full((len(corners), 6), np.nan)
    for f in np.flatnonzero(_usable(corners, obj, board)):
        seen = np.isfinite(corners[f, :, 0])
        ok, rvec, tvec = cv2.solvePnP(obj[seen], corners[f, seen], camera.matrix, camera.distortions)
        if not ok:
            continue
        proj, _ = cv2.projectPoints(obj[seen], rvec, tvec, camera.matrix, camera.distortions)
        if np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - corners[f, seen]) ** 2, axis=1))) < max_error:
            poses[f] = np.concatenate([rvec.ravel(), tvec.ravel()])
    return poses


def _pose_matrix(pose: np.ndarray) -> np.ndarray:
    """``(..., 6)`` -> ``(..., 4, 4)``."""
    out = np.zeros((*pose.shape[:-1], 4, 4))
    out[..., :3, :3] = rodrigues_to_matrix(pose[..., :3])
    out[..., :3, 3] = pose[..., 3:]
    out[..., 3, 3] = 1
    return out


def _mean_rotation(rotations: np.ndarray) -> np.ndarray:
    """Chordal L2 mean of rotation matrices ``(n, 3, 3)``."""
    u, _, vt = np.linalg.svd(rotations.sum(axis=0))
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def _relative_pose(poses_i: np.ndarray, poses_j: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Robust 4x4 transform from camera i's frame to camera j's frame, from frames both saw.

    Each shared frame gives a candidate; the candidate closest to all others (the medoid) and those
    agreeing with it (flipped boards and bad poses disagree) are averaged.
    """
    ti, tj = _pose_matrix(poses_i[shared]), _pose_matrix(poses_j[shared])
    cands = tj @ np.linalg.inv(ti)
    rot, trans = cands[:, :3, :3], cands[:, :3, 3]
    cos = (np.einsum("aij,bij->ab", rot, rot) - 1) / 2  # cos of the angle between candidate rotations
    angle = np.arccos(np.clip(cos, -1, 1))
    scale = max(float(np.median(np.linalg.norm(trans, axis=1))), 1e-9)
    dist = np.linalg.norm(trans[:, None] - trans[None], axis=-1) / scale
    score = angle / np.radians(5) + dist / 0.05  # 5 degrees ~ 5 % of the distance
    medoid = int(np.argmin(np.median(score, axis=1)))
    keep = score[medoid] < 1.0
    out = np.eye(4)
    out[:3, :3] = _mean_rotation(rot[keep])
    out[:3, 3] = np.median(trans[keep], axis=0)
    return out


def initial_extrinsics(poses: np.ndarray, min_shared: int = 1) -> np.ndarray:
    """World-to-camera 4x4 transforms ``(cameras, 4, 4)`` (camera 0 = world) from per-camera board poses.

    ``poses`` is ``(cameras, frames, 6)``; cameras are linked through a maximum spanning tree of
    the pairs that saw the board in the same frames.
    """
    n_cams = len(poses)
    valid = np.isfinite(poses).all(axis=-1)
    shared = (valid[:, None] & valid[None]).sum(axis=-1)
    np.fill_diagonal(shared, 0)
    world = np.full((n_cams, 4, 4), np.nan)
    world[0] = np.eye(4)
    done = {0}
    while len(done) < n_cams:
        best = max(((shared[i, j], i, j) for i in done for j in range(n_cams) if j not in done), default=(0, 0, 0))
        count, i, j = best
        if count < min_shared:
            missing = sorted(set(range(n_cams)) - done)
            raise CalibrationError(
                f"Cameras {missing} never saw the board at the same time as the others; record the board "
                "where neighbouring cameras see it together."
            )
        rel = _relative_pose(poses[i], poses[j], valid[i] & valid[j])
        world[j] = rel @ world[i]
        done.add(j)
    return world


def _fix_flipped_checkerboards(
    corners: np.ndarray, group: CameraGroup, board_poses: np.ndarray, object_points: np.ndarray
) -> np.ndarray:
    """Reverse the corner order of views where OpenCV numbered a checkerboard from the other end."""
    obs = Observations.from_corners(corners)
    cam_params = np.array([[*c.rotation, *c.translation] for c in group])
    intr = group_intrinsics(group)
    pred = project_observations(cam_params, board_poses, obs, object_points, intr)
    out = corners.copy()
    err = np.full(corners.shape[:3], np.nan)
    err[obs.camera, obs.frame, obs.corner] = np.linalg.norm(pred - obs.xy, axis=1)
    flipped = corners[:, :, ::-1]
    err_flip = np.full(corners.shape[:3], np.nan)
    err_flip[obs.camera, obs.frame, obs.corner] = np.linalg.norm(
        pred - flipped[obs.camera, obs.frame, obs.corner], axis=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # views without corners
        flip = np.nanmean(err_flip, axis=2) < 0.5 * np.nanmean(err, axis=2)
    out[flip] = flipped[flip]
    return out


def calibrate_cameras(
    corners: Sequence[np.ndarray] | np.ndarray,
    board: Board,
    sizes: Sequence[tuple[int, int]],
    names: Sequence[str] | None = None,
    *,
    bundle_adjustment: bool = True,
    optimize_intrinsics: bool = True,
    max_frames: int = 150,
    fix_k3: bool = True,
) -> CameraGroup:
    """Calibrate N cameras from board corners found in frames taken at the same instants.

    Args:
        corners: ``(cameras, frames, n_corners, 2)`` pixels, NaN where not found; frame ``f`` of
            every camera is the same instant (see :func:`markerless.threed.boards.align_detections`).
        board: the board (its ``square_size`` sets the unit of the translations).
        sizes: image ``(width, height)`` of each camera.
        names: camera names (default ``cam_0``...).
        bundle_adjustment: refine everything jointly (needs >= 2 cameras).
        optimize_intrinsics: let bundle adjustment refine focal lengths, principal points, k1, k2 too.
        max_frames: at most this many shared frames enter the bundle adjustment (evenly spread).
        fix_k3: keep the sixth-order radial distortion term at 0.

    Returns:
        The cameras (camera 0 at the origin); ``metadata`` holds the per-camera mean reprojection
        errors in pixels (``camera_errors``), their mean (``error``) and the board.
    """
    corners = np.asarray(corners, dtype=np.float64)
    if corners.ndim != 4 or corners.shape[-1] != 2:
        raise CalibrationError(f"corners must be (cameras, frames, n_corners, 2); got shape {corners.shape}.")
    n_cams = len(corners)
    names = list(names) if names is not None else [f"cam_{i}" for i in range(n_cams)]
    if len(names) != n_cams or len(sizes) != n_cams:
        raise CalibrationError(f"Got {n_cams} cameras of corners, {len(names)} names and {len(sizes)} image sizes.")
    obj = board.object_points()
    cameras, intrinsic_rms = [], []
    for c in range(n_cams):
        try:
            mtx, dist, rms = calibrate_intrinsics(corners[c], board, sizes[c], fix_k3=fix_k3)
        except CalibrationError as err:
            raise CalibrationError(f"Camera {names[c]!r}: {err}") from None
        cameras.append(Camera(names[c], sizes[c], mtx, dist))
        intrinsic_rms.append(rms)
    group = CameraGroup(cameras)
    metadata: dict[str, object] = {"board": board.to_dict(), "intrinsic_rms": [round(e, 4) for e in intrinsic_rms]}
    if n_cams == 1:
        group.metadata = {**metadata, "adjusted": False, "error": intrinsic_rms[0], "camera_errors": intrinsic_rms}
        return group

    poses = np.stack([board_poses_in_camera(corners[c], board, cam) for c, cam in enumerate(group.cameras)])
    world = initial_extrinsics(poses)
    for c, cam in enumerate(group.cameras):
        cam.rotation = matrix_to_rodrigues(world[c, :3, :3])
        cam.translation = world[c, :3, 3].copy()

    # frames seen by >= 2 cameras; board pose in world from the camera that saw most corners
    valid = np.isfinite(poses).all(axis=-1)
    frames = np.flatnonzero(valid.sum(axis=0) >= 2)
    if len(frames) == 0:
        raise CalibrationError("No frame shows the board to two cameras at once; the cameras cannot be related.")
    frames = _spread_subset(frames, max_frames)
    counts = np.where(valid[:, frames], np.isfinite(corners[:, frames][..., 0]).sum(axis=-1), -1)
    best_cam = counts.argmax(axis=0)
    cam_in_world = np.linalg.inv(world[best_cam])  # (F, 4, 4)
    board_world = cam_in_world @ _pose_matrix(poses[best_cam, frames])
    board_poses = np.concatenate([matrix_to_rodrigues(board_world[:, :3, :3]), board_world[:, :3, 3]], axis=1)

    sub = corners[:, frames]
    sub = np.where(valid[:, frames, None, None], sub, np.nan)  # drop views too poor for a pose
    if board.kind == "checkerboard":
        sub = _fix_flipped_checkerboards(sub, group, board_poses, obj)
    obs = Observations.from_corners(sub)
    if bundle_adjustment:
        group, board_poses, errors = bundle_adjust(
            group, board_poses, obs, obj, optimize_intrinsics=optimize_intrinsics
        )
    else:
        cam_params = np.array([[*c.rotation, *c.translation] for c in group])
        pred = project_observations(cam_params, board_poses, obs, obj, group_intrinsics(group))
        errors = np.linalg.norm(pred - obs.xy, axis=1)
    camera_errors = [
        float(np.mean(errors[obs.camera == c])) if np.any(obs.camera == c) else float("nan") for c in range(n_cams)
    ]
    poor = [n for n, e in zip(names, camera_errors) if not e < POOR_ERROR]
    if poor:
        metadata["warning"] = (
            f"cameras {poor} reproject the board corners poorly (> {POOR_ERROR} px): record more board views "
            "with these cameras, including views shared with their neighbours, and calibrate again"
        )
    group.metadata = {
        **metadata,
        "adjusted": bool(bundle_adjustment),
        "error": float(np.mean(errors)),
        "camera_errors": [round(e, 4) for e in camera_errors],
        "frames_used": len(frames),
    }
    return group


__all__ = ["board_poses_in_camera", "calibrate_cameras", "calibrate_intrinsics", "initial_extrinsics"]
