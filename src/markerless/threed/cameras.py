"""Calibrated cameras: intrinsics, distortion and pose of each camera of a multi-camera rig.

Conventions (OpenCV's, as in aniposelib's ``calibration.toml``): a world point ``X`` is seen by a
camera at ``X_cam = R @ X + t`` with ``R = Rodrigues(rotation)``; pixels follow from the pinhole
``matrix`` and the distortion coefficients ``(k1, k2, p1, p2, k3)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from markerless.errors import CalibrationError


def rodrigues_to_matrix(rvecs: np.ndarray) -> np.ndarray:
    """Rotation vectors ``(..., 3)`` -> rotation matrices ``(..., 3, 3)`` (vectorised Rodrigues formula)."""
    rvecs = np.asarray(rvecs, dtype=np.float64)
    theta = np.linalg.norm(rvecs, axis=-1, keepdims=True)
    safe = np.where(theta < 1e-12, 1.0, theta)
    k = rvecs / safe
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(kx)
    kmat = np.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], axis=-1).reshape(*rvecs.shape[:-1], 3, 3)
    th = theta[..., None]
    eye = np.broadcast_to(np.eye(3), kmat.shape)
    rot = eye + np.sin(th) * kmat + (1 - np.cos(th)) * (kmat @ kmat)
    return np.where(th < 1e-12, eye, rot)


def matrix_to_rodrigues(rotations: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> rotation vectors ``(..., 3)`` (exact for small angles too)."""
    rotations = np.asarray(rotations, dtype=np.float64)
    flat = rotations.reshape(-1, 3, 3)
    vee = np.stack([flat[:, 2, 1] - flat[:, 1, 2], flat[:, 0, 2] - flat[:, 2, 0], flat[:, 1, 0] - flat[:, 0, 1]], 1) / 2
    sin = np.linalg.norm(vee, axis=1)
    cos = (np.trace(flat, axis1=1, axis2=2) - 1) / 2
    theta = np.arctan2(sin, cos)
    out = vee * np.where(sin > 1e-12, theta / np.where(sin > 1e-12, sin, 1.0), 1.0)[:, None]
    for i in np.flatnonzero(cos < -0.9):  # near 180 degrees the skew part loses the axis
        out[i] = cv2.Rodrigues(flat[i])[0].ravel()
    return out.reshape(*rotations.shape[:-2], 3)


def distort_normalized(xy: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Apply OpenCV's radial/tangential distortion ``(k1, k2, p1, p2, k3)`` to normalised points ``(..., 2)``.

    ``dist`` is ``(5,)`` or broadcastable to ``(..., 5)`` (one set per point).
    """
    dist = np.asarray(dist, dtype=np.float64)
    k1, k2, p1, p2, k3 = (dist[..., i] for i in range(5))
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def _dist5(dist: Sequence[float] | np.ndarray) -> np.ndarray:
    d = np.zeros(5)
    values = np.asarray(dist, dtype=np.float64).ravel()
    if len(values) > 5 and np.any(values[5:] != 0):
        raise CalibrationError(
            f"Only the 5 distortion coefficients (k1, k2, p1, p2, k3) are supported; got {len(values)} non-zero ones."
        )
    d[: min(5, len(values))] = values[:5]
    return d


def _refine_undistorted(
    xy: np.ndarray, pixels: np.ndarray, matrix: np.ndarray, dist: np.ndarray, iterations: int = 2
) -> np.ndarray:
    """Newton steps so that distorting ``xy`` gives back ``pixels`` to machine precision (OpenCV stops early)."""
    fx, fy, cx, cy, skew = matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2], matrix[0, 1]
    yd = (pixels[:, 1] - cy) / fy
    target = np.stack([(pixels[:, 0] - cx - skew * yd) / fx, yd], axis=1)
    eps = 1e-7
    for _ in range(iterations):
        here = distort_normalized(xy, dist)
        resid = here - target
        jx = (distort_normalized(xy + np.array([eps, 0.0]), dist) - here) / eps
        jy = (distort_normalized(xy + np.array([0.0, eps]), dist) - here) / eps
        det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
        ok = np.abs(det) > 1e-12
        safe = np.where(ok, det, 1.0)
        step_x = (jy[:, 1] * resid[:, 0] - jy[:, 0] * resid[:, 1]) / safe
        step_y = (-jx[:, 1] * resid[:, 0] + jx[:, 0] * resid[:, 1]) / safe
        xy = xy - np.where(ok[:, None], np.stack([step_x, step_y], axis=1), 0.0)
    return xy


@dataclass
class Camera:
    """One calibrated camera.

    Attributes:
        name: camera name (as in the 3D config's ``camera_names``).
        size: image ``(width, height)`` in pixels (``(0, 0)`` when unknown).
        matrix: 3x3 pinhole matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.
        distortions: ``(k1, k2, p1, p2, k3)``.
        rotation: Rodrigues vector of the world-to-camera rotation.
        translation: world-to-camera translation (in the calibration's length unit).
    """

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    distortions: np.ndarray = field(default_factory=lambda: np.zeros(5))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        self.size = (int(self.size[0]), int(self.size[1]))
        self.matrix = np.asarray(self.matrix, dtype=np.float64).reshape(3, 3)
        self.distortions = _dist5(self.distortions)
        self.rotation = np.asarray(self.rotation, dtype=np.float64).reshape(3)
        self.translation = np.asarray(self.translation, dtype=np.float64).reshape(3)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`CalibrationError` unless the parameters are finite with positive focal lengths."""
        for what, value in (
            ("matrix", self.matrix),
            ("distortions", self.distortions),
            ("rotation", self.rotation),
            ("translation", self.translation),
        ):
            if not np.isfinite(value).all():
                raise CalibrationError(
                    f"Camera {self.name!r} has a non-finite {what} ({value.tolist()}); recalibrate this camera."
                )
        k = self.matrix
        if not (k[0, 0] > 0 and k[1, 1] > 0) or not np.allclose(k[2], [0, 0, 1]) or k[1, 0] != 0:
            raise CalibrationError(
                f"Camera {self.name!r} has an invalid matrix {k.tolist()}: focal lengths fx, fy must be positive and "
                "the matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]]; recalibrate this camera."
            )

    @property
    def rotation_matrix(self) -> np.ndarray:
        """3x3 world-to-camera rotation."""
        return rodrigues_to_matrix(self.rotation)

    @property
    def extrinsics(self) -> np.ndarray:
        """3x4 ``[R | t]`` (projection matrix in normalised, undistorted coordinates)."""
        return np.hstack([self.rotation_matrix, self.translation[:, None]])

    @property
    def projection_matrix(self) -> np.ndarray:
        """3x4 ``K [R | t]`` (ignores distortion)."""
        return self.matrix @ self.extrinsics

    @property
    def center(self) -> np.ndarray:
        """Position of the camera's optical centre in world coordinates."""
        return -self.rotation_matrix.T @ self.translation

    def to_camera(self, points3d: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> camera coordinates ``(..., 3)``."""
        pts = np.asarray(points3d, dtype=np.float64)
        r, t = self.rotation_matrix, self.translation
        x, y, z = pts[..., 0], pts[..., 1], pts[..., 2]
        # explicit multiply-adds: BLAS calls with an inner size of 3 are slow for many points
        return np.stack([r[i, 0] * x + r[i, 1] * y + r[i, 2] * z + t[i] for i in range(3)], axis=-1)

    def project(self, points3d: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> distorted pixel positions ``(..., 2)`` (NaN in, NaN out)."""
        cam = self.to_camera(points3d)
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = cam[..., :2] / cam[..., 2:3]
        xy = distort_normalized(xy, self.distortions)
        k = self.matrix
        u = k[0, 0] * xy[..., 0] + k[0, 1] * xy[..., 1] + k[0, 2]
        v = k[1, 1] * xy[..., 1] + k[1, 2]
        return np.stack([u, v], axis=-1)

    def undistort_points(self, points2d: np.ndarray) -> np.ndarray:
        """Pixel positions ``(..., 2)`` -> undistorted normalised coordinates ``(..., 2)`` (NaN kept)."""
        pts = np.asarray(points2d, dtype=np.float64)
        flat = pts.reshape(-1, 2)
        out = np.full_like(flat, np.nan)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any() and not self.distortions.any():  # pinhole: invert the matrix
            k = self.matrix
            y = (flat[ok, 1] - k[1, 2]) / k[1, 1]
            out[ok] = np.stack([(flat[ok, 0] - k[0, 2] - k[0, 1] * y) / k[0, 0], y], axis=1)
        elif ok.any():
            criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)
            und = cv2.undistortPoints(flat[ok].reshape(-1, 1, 2), self.matrix, self.distortions, criteria=criteria)
            out[ok] = _refine_undistorted(und.reshape(-1, 2), flat[ok], self.matrix, self.distortions)
        return out.reshape(pts.shape)

    def copy(self) -> Camera:
        """A deep copy."""
        return Camera(
            self.name,
            self.size,
            self.matrix.copy(),
            self.distortions.copy(),
            self.rotation.copy(),
            self.translation.copy(),
        )


@dataclass
class CameraGroup:
    """The calibrated cameras of a rig, in a fixed order, plus free-form metadata (errors, board...)."""

    cameras: list[Camera]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise CalibrationError(f"Camera names must be unique; got {names}.")

    def validate(self) -> None:
        """Raise :class:`CalibrationError` for a rig that cannot triangulate: cameras sharing a position, or a
        camera placed at the world origin by a translation of zero while rotated (a lost translation)."""
        for cam in self.cameras:
            cam.validate()
            if not cam.translation.any() and cam.rotation.any() and len(self.cameras) > 1:
                raise CalibrationError(
                    f"Camera {cam.name!r} has translation [0, 0, 0] but a rotation: only the reference camera of a "
                    "rig sits at the world origin unrotated; its translation was lost, recalibrate."
                )
        centers = np.stack([c.center for c in self.cameras])
        dist = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
        size = max(float(dist.max()), 1e-12)
        close = np.argwhere(np.triu(dist <= 1e-9 * size + 1e-12, k=1))
        if len(self.cameras) > 1 and len(close):
            a, b = self.names[close[0][0]], self.names[close[0][1]]
            raise CalibrationError(
                f"Cameras {a!r} and {b!r} are at the same position {centers[close[0][0]].round(6).tolist()}; "
                "3D needs cameras at different places: check their rotation and translation, or recalibrate."
            )

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self) -> Iterator[Camera]:
        return iter(self.cameras)

    def __getitem__(self, key: int | str) -> Camera:
        if isinstance(key, str):
            return self.cameras[self.index(key)]
        return self.cameras[key]

    @property
    def names(self) -> list[str]:
        """Camera names in order."""
        return [c.name for c in self.cameras]

    def index(self, name: str) -> int:
        """Position of a camera by name."""
        try:
            return self.names.index(name)
        except ValueError:
            raise CalibrationError(f"No camera named {name!r} in the calibration; it has {self.names}.") from None

    def subset(self, names: Sequence[str]) -> CameraGroup:
        """The named cameras, in the given order."""
        return CameraGroup([self[n] for n in names], dict(self.metadata))

    def project(self, points3d: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` -> pixels in every camera ``(cameras, ..., 2)``."""
        return np.stack([c.project(points3d) for c in self.cameras])

    def undistort_points(self, points2d: np.ndarray) -> np.ndarray:
        """Pixels ``(cameras, ..., 2)`` -> normalised undistorted coordinates ``(cameras, ..., 2)``."""
        if len(points2d) != len(self.cameras):
            raise CalibrationError(
                f"Got 2D points of {len(points2d)} cameras for a calibration of {len(self.cameras)}."
            )
        return np.stack([c.undistort_points(p) for c, p in zip(self.cameras, points2d)])

    def copy(self) -> CameraGroup:
        """A deep copy."""
        return CameraGroup([c.copy() for c in self.cameras], dict(self.metadata))


__all__ = ["Camera", "CameraGroup", "distort_normalized", "matrix_to_rodrigues", "rodrigues_to_matrix"]
