"""What the labelled data looks like: image size, the animal's extent, how much its heading and size vary.

:func:`measure_labels` reduces a set of labels to a :class:`DataShape`; the recipe is fitted to it
(:func:`markerless.project.recipe.fit_recipe`). Each labelled animal (an image's individual with two or
more visible points) is one pose. Heading and size come from aligning every pose to a common mean pose
with a similarity transform (Procrustes, in complex numbers, vectorised over poses): the spread of the
rotation angles says whether the animal takes any heading (a top-down arena) or keeps one (a side or
head-fixed view), whatever body parts were labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from markerless.errors import ProjectError

#: Percentile of the labelled extent that a crop must hold (the largest few poses may be cut).
EXTENT_PERCENTILE = 95.0


@dataclass(frozen=True)
class DataShape:
    """Measurements of labelled poses (pixels of the original images).

    Attributes:
        n_poses: labelled animals measured (two or more visible points each).
        image_size: median (width, height) of the images.
        extent: (width, height) of the box around a pose's visible points, at :data:`EXTENT_PERCENTILE`.
        extent_median: the median (width, height) of that box.
        heading_spread_deg: circular standard deviation of the poses' rotation against the mean pose
            (about 100 or more when headings are uniform; a few degrees for a fixed side view).
        size_ratio: 95th over 5th percentile of the poses' scale against the mean pose.
        travel: how far the animal moves: the larger of the 5th-95th percentile ranges of its centre in
            x and in y, over the median diagonal of its box (head-fixed: ~0.1; an arena: 1 or more).
        has_pairs: the skeleton names left/right pairs (flips can swap them).
        group_extent: several individuals: (width, height) of the box around every visible point of an
            image (all its animals together), the largest over the images; None for one individual.
    """

    n_poses: int
    image_size: tuple[int, int]
    extent: tuple[float, float]
    extent_median: tuple[float, float]
    heading_spread_deg: float
    size_ratio: float
    travel: float
    has_pairs: bool
    group_extent: tuple[float, float] | None = None

    @property
    def fill(self) -> float:
        """The larger fraction of the image's width or height that the animal (:attr:`extent`) spans."""
        return max(self.extent[0] / max(self.image_size[0], 1), self.extent[1] / max(self.image_size[1], 1))

    def describe(self) -> str:
        """The measurements in one line."""
        return (
            f"{self.n_poses} labelled poses in {self.image_size[0]}x{self.image_size[1]} images; "
            f"animal {self.extent_median[0]:.0f}x{self.extent_median[1]:.0f} px "
            f"(p{EXTENT_PERCENTILE:.0f} {self.extent[0]:.0f}x{self.extent[1]:.0f}); heading spread "
            f"{self.heading_spread_deg:.0f} deg; size ratio {self.size_ratio:.2f}; travel {self.travel:.1f} sizes; "
            f"left/right pairs: {'yes' if self.has_pairs else 'no'}"
            + (
                f"; all animals within {self.group_extent[0]:.0f}x{self.group_extent[1]:.0f} px (largest)"
                if self.group_extent
                else ""
            )
        )


def measure_labels(xy: np.ndarray, image_sizes: np.ndarray, has_pairs: bool) -> DataShape:
    """The :class:`DataShape` of labelled points.

    Args:
        xy: ``(images, individuals, keypoints, 2)`` pixel coordinates, NaN where unlabelled.
        image_sizes: ``(images, 2)`` width, height of each image.
        has_pairs: whether the skeleton has left/right pairs.

    Raises:
        ProjectError: no image has an animal with two visible points.
    """
    xy = np.asarray(xy, dtype=np.float64)
    group = _group_extent(xy) if xy.shape[1] > 1 else None
    poses = xy.reshape(-1, xy.shape[-2], 2)
    visible = np.isfinite(poses).all(axis=-1)
    keep = visible.sum(axis=1) >= 2
    if not keep.any():
        raise ProjectError("No labelled animal has two visible body parts; label more points before training.")
    poses, visible = poses[keep], visible[keep]
    z = np.where(visible, poses[..., 0] + 1j * poses[..., 1], np.nan)
    low = np.nanmin(poses, axis=1)
    high = np.nanmax(poses, axis=1)
    extent = high - low
    angles, scales = _similarity_to_mean(z, visible)
    spread = float(np.degrees(np.sqrt(-2 * np.log(max(np.abs(np.exp(1j * angles).mean()), 1e-12)))))
    sizes = np.median(np.asarray(image_sizes, dtype=np.float64), axis=0)
    centre = np.where(visible[..., None], poses, 0).sum(axis=1) / visible.sum(axis=1)[:, None]
    reach = np.percentile(centre, 95, axis=0) - np.percentile(centre, 5, axis=0)
    diagonal = max(float(np.median(np.hypot(extent[:, 0], extent[:, 1]))), 1.0)
    ratio = float(np.percentile(scales, 95) / max(np.percentile(scales, 5), 1e-9))
    return DataShape(
        n_poses=len(poses),
        image_size=(round(float(sizes[0])), round(float(sizes[1]))),
        extent=tuple(float(v) for v in np.percentile(extent, EXTENT_PERCENTILE, axis=0)),  # type: ignore[arg-type]
        extent_median=tuple(float(v) for v in np.median(extent, axis=0)),  # type: ignore[arg-type]
        heading_spread_deg=spread,
        size_ratio=ratio,
        travel=float(reach.max() / diagonal),
        has_pairs=bool(has_pairs),
        group_extent=group,
    )


def _group_extent(xy: np.ndarray) -> tuple[float, float] | None:
    """The largest (width, height) of the box around every visible point of an image ``(individuals, keypoints, 2)``
    of ``xy``, over the images with two or more visible points (None without any)."""
    points = xy.reshape(len(xy), -1, 2)
    visible = np.isfinite(points).all(axis=-1)
    keep = visible.sum(axis=1) >= 2
    if not keep.any():
        return None
    points = np.where(visible[keep, :, None], points[keep], np.nan)
    extent = np.nanmax(np.nanmax(points, axis=1) - np.nanmin(points, axis=1), axis=0)
    return float(extent[0]), float(extent[1])


def _similarity_to_mean(z: np.ndarray, visible: np.ndarray, rounds: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Rotation angles (radians) and scales of each pose ``z`` (poses, keypoints; complex, NaN hidden) against
    their mean pose, found by aligning to a reference and re-estimating it ``rounds`` times."""
    reference = z[np.argmax(visible.sum(axis=1))]
    angles = np.zeros(len(z))
    scales = np.ones(len(z))
    for _ in range(rounds):
        both = visible & np.isfinite(reference)[None]
        count = np.maximum(both.sum(axis=1, keepdims=True), 1)
        zc = np.where(both, z, 0) - np.where(both, z, 0).sum(axis=1, keepdims=True) / count
        rc = np.where(both, reference[None], 0) - np.where(both, reference[None], 0).sum(axis=1, keepdims=True) / count
        zc, rc = np.where(both, zc, 0), np.where(both, rc, 0)
        fit = (np.conj(rc) * zc).sum(axis=1)  # z ~ fit / |r|^2 * r: rotation and scale of each pose
        norm = np.maximum((np.abs(rc) ** 2).sum(axis=1), 1e-12)
        angles, scales = np.angle(fit), np.abs(fit) / norm
        usable = both.sum(axis=1) >= 2
        angles, scales = np.where(usable, angles, 0.0), np.where(usable, scales, 1.0)
        own = visible.sum(axis=1, keepdims=True)
        centred = np.where(visible, z - np.where(visible, z, 0).sum(axis=1, keepdims=True) / own, 0)
        aligned = centred * (np.exp(-1j * angles) / np.maximum(scales, 1e-9))[:, None]
        seen = visible.sum(axis=0)
        reference = np.where(seen > 0, aligned.sum(axis=0) / np.maximum(seen, 1), np.nan)
    return angles, scales
