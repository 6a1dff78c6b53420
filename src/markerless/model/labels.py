"""Ground-truth labels: where each body part of each individual is in each labelled image."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from markerless.errors import LabelFileError
from markerless.model.skeleton import PoseLayout, Skeleton
from markerless.model.tables import array_to_frame, frame_to_array, layout_from_columns, table_scorer


def image_key(path: str) -> str:
    """Canonical project-relative image path: forward slashes, no leading ``./``."""
    key = str(path).replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


@dataclass
class Labels:
    """Labelled images of a project (or of one video folder).

    Attributes:
        layout: individuals, body parts and skeleton.
        images: project-relative image paths (``labeled-data/<video>/img012.png``), one per row.
        xy: float64 ``(images, individuals, keypoints, 2)``; NaN where a point is not labelled.
        occluded: bool ``(images, individuals, keypoints)``; True where the labeller marked the point
            as hidden (its x/y, if any, is a best guess and is not trained on).
        scorer: the labeller's name (``CollectedData_<scorer>``).
    """

    layout: PoseLayout
    images: list[str]
    xy: np.ndarray
    occluded: np.ndarray = field(default=None)  # type: ignore[arg-type]  # None: no point hidden (__post_init__)
    scorer: str = "markerless"

    def __post_init__(self) -> None:
        self.images = [image_key(p) for p in self.images]
        self.xy = np.asarray(self.xy, dtype=np.float64)
        expected = (len(self.images), *self.layout.shape, 2)
        if self.xy.shape != expected:
            raise LabelFileError(f"Label array has shape {self.xy.shape}; expected {expected} for this layout.")
        if self.occluded is None:
            self.occluded = np.zeros(expected[:-1], dtype=bool)
        self.occluded = np.asarray(self.occluded, dtype=bool)
        if self.occluded.shape != expected[:-1]:
            raise LabelFileError(f"Occlusion flags have shape {self.occluded.shape}; expected {expected[:-1]}.")
        if len(set(self.images)) != len(self.images):
            dup = pd.Index(self.images)[pd.Index(self.images).duplicated()].tolist()
            raise LabelFileError(f"Images are listed more than once: {dup[:5]}. Remove the duplicate rows.")

    @classmethod
    def empty(cls, layout: PoseLayout, images: list[str] | None = None, scorer: str = "markerless") -> Labels:
        """Labels with every point unlabelled."""
        images = list(images or [])
        return cls(layout, images, np.full((len(images), *layout.shape, 2), np.nan), scorer=scorer)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labelled(self) -> np.ndarray:
        """Bool ``(images, individuals, keypoints)``: a position is known."""
        return np.isfinite(self.xy).all(axis=-1)

    @property
    def trainable(self) -> np.ndarray:
        """Bool ``(images, individuals, keypoints)``: labelled and visible (what losses are computed on)."""
        return self.labelled & ~self.occluded

    @property
    def videos(self) -> list[str]:
        """Video folder names of the images, in order of first appearance."""
        return list(dict.fromkeys(self.video_of_images))

    @property
    def video_of_images(self) -> list[str]:
        """The ``labeled-data`` sub-folder of each image."""
        return [p.split("/")[-2] if p.count("/") >= 1 else "" for p in self.images]

    def select(self, rows: np.ndarray | list[int] | list[str]) -> Labels:
        """A subset of images, by position or by path, in the given order."""
        if len(rows) and isinstance(rows[0], str):
            pos = {p: i for i, p in enumerate(self.images)}
            try:
                rows = [pos[image_key(str(r))] for r in rows]
            except KeyError as err:
                raise LabelFileError(f"Image {err.args[0]!r} is not among the labelled images.") from None
        idx = np.asarray(rows, dtype=np.int64)
        return Labels(self.layout, [self.images[i] for i in idx], self.xy[idx], self.occluded[idx], self.scorer)

    def with_images(self, labels: Labels) -> Labels:
        """These labels updated with ``labels``: rows for the same image are replaced, new ones appended."""
        if (
            labels.layout.keypoint_names != self.layout.keypoint_names
            or labels.layout.individual_names != self.layout.individual_names
        ):
            raise LabelFileError("Cannot merge labels of different body parts or individuals.")
        pos = {p: i for i, p in enumerate(self.images)}
        xy, occ, images = self.xy.copy(), self.occluded.copy(), list(self.images)
        new_rows = [i for i, p in enumerate(labels.images) if p not in pos]
        old_rows = [i for i, p in enumerate(labels.images) if p in pos]
        target = [pos[labels.images[i]] for i in old_rows]
        xy[target], occ[target] = labels.xy[old_rows], labels.occluded[old_rows]
        images += [labels.images[i] for i in new_rows]
        xy = np.concatenate([xy, labels.xy[new_rows]])
        occ = np.concatenate([occ, labels.occluded[new_rows]])
        return Labels(self.layout, images, xy, occ, self.scorer)

    @staticmethod
    def concatenate(parts: list[Labels]) -> Labels:
        """One collection from several (e.g. one per video folder); images must not repeat."""
        if not parts:
            raise LabelFileError("No labels to combine.")
        first = parts[0]
        return Labels(
            first.layout,
            [p for part in parts for p in part.images],
            np.concatenate([part.xy for part in parts]),
            np.concatenate([part.occluded for part in parts]),
            first.scorer,
        )

    # --- DeepLabCut table layout -------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """DeepLabCut ``CollectedData`` layout: 3-level row index, ``x``/``y`` columns, NaN unlabelled."""
        index = pd.MultiIndex.from_tuples(
            [tuple(p.split("/", 2)) if p.count("/") >= 2 else ("", "", p) for p in self.images]
        )
        return array_to_frame(self.xy, self.layout, self.scorer, ("x", "y"), index)

    @classmethod
    def from_dataframe(
        cls, df: pd.DataFrame, layout: PoseLayout | None = None, skeleton: Skeleton | None = None
    ) -> Labels:
        """Labels from a DeepLabCut ``CollectedData`` table (either row-index form)."""
        layout = layout or layout_from_columns(df.columns, skeleton)
        images = [_row_to_path(row) for row in df.index]
        xy = frame_to_array(df, layout, ("x", "y"))
        return cls(layout, images, xy, scorer=table_scorer(df.columns))


def _row_to_path(row: object) -> str:
    if isinstance(row, tuple):
        return "/".join(str(part) for part in row if str(part) != "")
    return image_key(str(row))
