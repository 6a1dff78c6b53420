"""Every tracking and stitching setting and its default, in one frozen dataclass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from markerless.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class TrackingSettings:
    """How animals are followed from frame to frame and tracklets joined into animals.

    Attributes:
        pcutoff: points with a lower likelihood do not count as seen.
        min_keypoints: an animal needs this many seen points in a frame to be tracked there.
        kappa: width of the pose similarity (OKS-like) as a fraction of the animal's size.
        min_similarity: a track and a detection with a lower similarity are never matched.
        ambiguity_margin: a match whose track (or detection) is nearly as similar to another detection
            (or track) ends the tracklet there, so the stitcher decides (0: never).
        max_gap: frames a track may pause (animal hidden) and still continue.
        motion_noise: standard deviation of the centre's acceleration, pixels per frame squared.
        position_noise: standard deviation of a detected centre around the true one, in animal sizes.
        size: the animal's size in pixels; None: the median bounding-box diagonal of the detections.
        gap_cost: stitching cost per frame of gap between two tracklets, in animal sizes.
        shape_weight: weight of the difference between the pose shapes either side of a gap in the stitching cost.
        identity_weight: weight of identity votes (when the tracklets have them) in the stitching cost.
        max_link_cost: tracklets whose link costs more stay apart while the number of animals allows.
    """

    pcutoff: float = 0.1
    min_keypoints: int = 1
    kappa: float = 0.25
    min_similarity: float = 0.05
    ambiguity_margin: float = 0.0
    max_gap: int = 25
    motion_noise: float = 1.0
    position_noise: float = 0.05
    size: float | None = None
    gap_cost: float = 0.02
    shape_weight: float = 0.5
    identity_weight: float = 1.0
    max_link_cost: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.pcutoff <= 1.0:
            raise ConfigError(f"Tracking pcutoff {self.pcutoff} must lie between 0 and 1.")
        for name in (
            "kappa",
            "motion_noise",
            "position_noise",
            "gap_cost",
            "shape_weight",
            "identity_weight",
            "max_link_cost",
        ):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"Tracking setting {name}={getattr(self, name)} must be 0 or more.")
        if self.min_keypoints < 1 or self.max_gap < 0:
            raise ConfigError("Tracking needs min_keypoints >= 1 and max_gap >= 0.")
        if self.size is not None and not self.size > 0:
            raise ConfigError(f"Tracking size {self.size} must be a positive number of pixels.")

    def with_overrides(self, **changes: object) -> TrackingSettings:
        """A copy with some settings changed; unknown names refused with the closest one."""
        names = {f.name for f in fields(self)}
        for key in changes:
            if key not in names:
                raise ConfigError(f"Unknown tracking setting {key!r}; {did_you_mean(key, names)}")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return TrackingSettings(**values)


def check_n_animals(n_animals: int | None, individuals: Sequence[str], source: object = "config.yaml") -> int:
    """The number of animals to track: ``n_animals``, or all individuals; more than the individuals is refused."""
    if n_animals is None:
        return len(individuals)
    if not 1 <= n_animals <= len(individuals):
        raise ConfigError(
            f"{n_animals} animals asked for but {source} lists {len(individuals)} individuals {list(individuals)}; "
            "add individuals to the project's config.yaml or ask for at least 1 and at most that many animals."
        )
    return n_animals
