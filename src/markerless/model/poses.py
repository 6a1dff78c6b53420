"""Predicted poses over time: one float32 array ``(frames, individuals, keypoints, 3)`` = x, y, likelihood."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from markerless.errors import LabelFileError
from markerless.model.skeleton import SINGLE_ANIMAL_INDIVIDUAL, UNIQUE_INDIVIDUAL, PoseLayout, Skeleton
from markerless.model.tables import array_to_frame, frame_to_array, layout_from_columns, table_scorer

COORDS = ("x", "y", "likelihood")


@dataclass
class Poses:
    """Poses of every individual in every frame of one video (or camera view).

    Attributes:
        data: float32 ``(frames, individuals, keypoints, 3)``: x and y in pixels of the original
            video, and the likelihood in [0, 1]; NaN where nothing was found.
        layout: individuals, body parts and skeleton (names of the axes).
        scorer: who produced the poses (DeepLabCut's scorer string, e.g. the model name).
        frames: int64 ``(frames,)`` frame number of each row in the video.
        fps: frames per second of the video, when known.
        source: the video (or file) the poses belong to, when known.
        metadata: anything else worth keeping (model, backend, run time...).
    """

    data: np.ndarray
    layout: PoseLayout
    scorer: str = "markerless"
    frames: np.ndarray = field(default=None)  # type: ignore[arg-type]  # None: 0, 1, 2... (__post_init__)
    fps: float | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        expected = (*self.layout.shape, 3)
        if self.data.ndim != 4 or self.data.shape[1:] != expected:
            raise LabelFileError(
                f"Pose array has shape {self.data.shape}; expected (frames, {expected[0]}, {expected[1]}, 3)."
            )
        if self.frames is None:
            self.frames = np.arange(len(self.data), dtype=np.int64)
        self.frames = np.asarray(self.frames, dtype=np.int64)
        if self.frames.shape != (len(self.data),):
            raise LabelFileError(f"{len(self.frames)} frame numbers for {len(self.data)} rows of poses.")

    @classmethod
    def empty(cls, n_frames: int, layout: PoseLayout, **kwargs: Any) -> Poses:
        """All-NaN poses for ``n_frames`` frames."""
        return cls(np.full((n_frames, *layout.shape, 3), np.nan, dtype=np.float32), layout, **kwargs)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def xy(self) -> np.ndarray:
        """``(frames, individuals, keypoints, 2)`` positions (a view)."""
        return self.data[..., :2]

    @property
    def likelihood(self) -> np.ndarray:
        """``(frames, individuals, keypoints)`` likelihoods (a view)."""
        return self.data[..., 2]

    def with_data(self, data: np.ndarray, **changes: Any) -> Poses:
        """A copy with new values (same layout and metadata unless changed)."""
        return replace(self, data=data, **changes)

    def select_frames(self, rows: slice | np.ndarray) -> Poses:
        """A subset of rows."""
        return replace(self, data=self.data[rows], frames=self.frames[rows])

    # --- DeepLabCut table layout -------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """DeepLabCut prediction layout: frame-number index, ``x``/``y``/``likelihood`` columns."""
        return array_to_frame(self.data, self.layout, self.scorer, COORDS, pd.Index(self.frames))

    @classmethod
    def from_dataframe(
        cls, df: pd.DataFrame, layout: PoseLayout | None = None, skeleton: Skeleton | None = None, **kwargs: Any
    ) -> Poses:
        """Poses from a DeepLabCut prediction table (single- or multi-animal)."""
        layout = layout or layout_from_columns(df.columns, skeleton)
        data = frame_to_array(df, layout, COORDS)
        try:
            frames = np.asarray(df.index, dtype=np.int64)
        except (TypeError, ValueError):
            frames = np.arange(len(df), dtype=np.int64)
        return cls(data.astype(np.float32), layout, table_scorer(df.columns), frames, **kwargs)

    # --- movement ----------------------------------------------------------------------------
    def to_xarray(self) -> Any:
        """An ``xarray.Dataset`` in the layout of the ``movement`` package's poses datasets.

        Variables ``position`` (time, space, keypoints, individuals) and ``confidence``
        (time, keypoints, individuals); time in seconds when ``fps`` is known, else frames.
        """
        import xarray as xr

        time = self.frames / self.fps if self.fps else self.frames
        coords = {
            "time": time.astype(np.float64) if self.fps else time,
            "space": ["x", "y"],
            "keypoints": list(self.layout.keypoint_names),
            "individuals": list(self.layout.individual_names),
        }
        position = np.transpose(self.data[..., :2], (0, 3, 2, 1))
        confidence = np.transpose(self.data[..., 2], (0, 2, 1))
        return xr.Dataset(
            {
                "position": (("time", "space", "keypoints", "individuals"), position),
                "confidence": (("time", "keypoints", "individuals"), confidence),
            },
            coords=coords,
            attrs={  # as movement: no None values (netCDF cannot store them), so no fps when unknown
                key: value
                for key, value in {
                    "ds_type": "poses",
                    "source_software": "markerless",
                    "fps": self.fps,
                    "time_unit": "seconds" if self.fps else "frames",
                    "source_file": self.source,
                }.items()
                if value is not None
            },
        )

    @classmethod
    def from_xarray(cls, ds: Any, skeleton: Skeleton | None = None) -> Poses:
        """Poses from a ``movement``-style dataset."""
        individuals = [str(i) for i in ds["individuals"].values]
        keypoints = [str(k) for k in ds["keypoints"].values]
        pos = ds["position"].transpose("time", "individuals", "keypoints", "space").values
        conf = ds["confidence"].transpose("time", "individuals", "keypoints").values
        data = np.concatenate([pos, conf[..., None]], axis=-1)
        animals = [i for i in individuals if i != UNIQUE_INDIVIDUAL]
        if len(animals) < len(individuals):
            # DeepLabCut's pseudo-individual "single" carries the unique body parts: the keypoints
            # no real individual has (the skeleton's body parts when a skeleton is given)
            if skeleton is not None and set(skeleton.bodyparts) <= set(keypoints):
                animal_parts = list(skeleton.bodyparts)
            else:
                real = [individuals.index(i) for i in animals]
                seen = np.isfinite(pos[:, real]).any(axis=(0, 1, 3))
                animal_parts = [k for k, s in zip(keypoints, seen, strict=True) if s]
            unique = [k for k in keypoints if k not in animal_parts]
            skel = (
                skeleton
                if skeleton is not None and list(skeleton.bodyparts) == animal_parts
                else Skeleton.from_names(animal_parts)
            )
            layout = PoseLayout(skel, tuple(animals) or (SINGLE_ANIMAL_INDIVIDUAL,), tuple(unique), multi_animal=True)
            ind = [individuals.index(i) for i in layout.individual_names]
            kp = [keypoints.index(k) for k in layout.keypoint_names]
            data = data[:, ind][:, :, kp]
            data[:, ~layout.valid] = np.nan
        else:
            skel = (
                skeleton
                if skeleton is not None and list(skeleton.bodyparts) == keypoints
                else Skeleton.from_names(keypoints)
            )
            multi = len(individuals) > 1
            layout = PoseLayout(skel, tuple(individuals), multi_animal=multi) if multi else PoseLayout(skel)
        fps = ds.attrs.get("fps")
        time = np.asarray(ds["time"].values)
        frames = np.rint(time * fps).astype(np.int64) if fps else time.astype(np.int64)
        return cls(data, layout, frames=frames, fps=fps, source=ds.attrs.get("source_file"))
