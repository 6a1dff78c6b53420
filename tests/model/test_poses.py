"""Poses: shapes, views, DeepLabCut DataFrames and movement-style xarray datasets."""

from __future__ import annotations

import numpy as np
import pytest

from markerless.errors import LabelFileError
from markerless.model import PoseLayout, Poses, Skeleton

SA = PoseLayout.single_animal(["snout", "leftear", "rightear"])
MA = PoseLayout(Skeleton.from_names(["nose", "tail"]), ("m1", "m2"), ("corner",), multi_animal=True)


def poses(layout: PoseLayout, n: int = 5, seed: int = 0) -> Poses:
    rng = np.random.default_rng(seed)
    data = rng.uniform(0, 1, (n, *layout.shape, 3)).astype(np.float32) * [640, 480, 1]
    data[:, ~layout.valid] = np.nan
    return Poses(data, layout, scorer="DLC_x", frames=np.arange(n) + 10, fps=25.0)


def test_shapes_views_and_errors() -> None:
    p = poses(MA)
    assert p.data.dtype == np.float32 and len(p) == 5
    assert p.xy.shape == (5, 3, 3, 2) and p.likelihood.shape == (5, 3, 3)
    p.xy[0, 0, 0] = (1, 2)
    assert tuple(p.data[0, 0, 0, :2]) == (1, 2)  # views
    sub = p.select_frames(slice(1, 3))
    np.testing.assert_array_equal(sub.frames, [11, 12])
    assert p.with_data(np.zeros_like(p.data)).fps == 25.0
    assert np.isnan(Poses.empty(4, SA).data).all() and list(Poses.empty(4, SA).frames) == [0, 1, 2, 3]
    with pytest.raises(LabelFileError, match="shape"):
        Poses(np.zeros((2, 1, 2, 3)), SA)
    with pytest.raises(LabelFileError, match="frame numbers"):
        Poses(np.zeros((2, 1, 3, 3)), SA, frames=np.arange(3))


@pytest.mark.parametrize("layout", [SA, MA])
def test_dataframe_round_trip(layout: PoseLayout) -> None:
    p = poses(layout)
    df = p.to_dataframe()
    levels = (
        ["scorer", "individuals", "bodyparts", "coords"] if layout.multi_animal else ["scorer", "bodyparts", "coords"]
    )
    assert list(df.columns.names) == levels
    assert list(df.index) == list(p.frames)
    assert df.shape[1] == 3 * int(layout.valid.sum())
    back = Poses.from_dataframe(df)
    np.testing.assert_array_equal(back.data, p.data)
    np.testing.assert_array_equal(back.frames, p.frames)
    assert back.layout.keypoint_names == layout.keypoint_names and back.scorer == "DLC_x"


@pytest.mark.parametrize("layout", [SA, MA])
def test_movement_xarray_round_trip(layout: PoseLayout) -> None:
    p = poses(layout)
    ds = p.to_xarray()
    assert ds["position"].dims == ("time", "space", "keypoints", "individuals")
    assert ds["confidence"].dims == ("time", "keypoints", "individuals")
    assert ds.attrs["ds_type"] == "poses" and ds.attrs["fps"] == 25.0
    np.testing.assert_allclose(ds["time"].values, p.frames / 25.0)
    back = Poses.from_xarray(ds, skeleton=layout.skeleton)
    np.testing.assert_array_equal(back.frames, p.frames)
    assert back.layout.individual_names == layout.individual_names
    np.testing.assert_array_equal(back.data, p.data)
    guessed = Poses.from_xarray(ds)  # without a skeleton: unique parts are those no animal has
    assert guessed.layout.keypoint_names == layout.keypoint_names
    assert guessed.layout.unique_bodyparts == layout.unique_bodyparts
    np.testing.assert_array_equal(guessed.data, p.data)


def test_xarray_without_fps_counts_frames() -> None:
    p = poses(SA)
    p.fps = None
    ds = p.to_xarray()
    assert ds.attrs["time_unit"] == "frames"
    np.testing.assert_array_equal(Poses.from_xarray(ds).frames, p.frames)
