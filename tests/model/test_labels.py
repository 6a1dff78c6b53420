"""Labels: shapes, flags, selecting and merging images, DeepLabCut DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.errors import LabelFileError
from markerless.model import Labels, PoseLayout, Skeleton, image_key

LAYOUT = PoseLayout(Skeleton.from_names(["nose", "tail"]), ("m1", "m2"), ("corner",), multi_animal=True)


def labels(n: int = 3, folder: str = "v", seed: int = 0) -> Labels:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, *LAYOUT.shape, 2))
    xy[:, ~LAYOUT.valid] = np.nan
    return Labels(LAYOUT, [f"labeled-data/{folder}/img{i}.png" for i in range(n)], xy, scorer="s")


def test_image_key() -> None:
    assert image_key("labeled-data\\v\\img1.png") == "labeled-data/v/img1.png"
    assert image_key("./././labeled-data/v/a.png") == "labeled-data/v/a.png"


def test_shapes_and_flags() -> None:
    lab = labels()
    lab.xy[0, 0, 0] = np.nan
    lab.occluded[1, 0, 1] = True
    assert lab.occluded.shape == (3, 3, 3) and len(lab) == 3
    assert not lab.labelled[0, 0, 0] and lab.labelled[0, 0, 1]
    assert lab.labelled[0].sum() == 4  # 5 valid cells, one unlabelled
    assert lab.labelled[1, 0, 1] and not lab.trainable[1, 0, 1]
    assert lab.videos == ["v"] and lab.video_of_images == ["v"] * 3
    with pytest.raises(LabelFileError, match="shape"):
        Labels(LAYOUT, ["a.png"], np.zeros((1, 2, 3, 2)))
    with pytest.raises(LabelFileError, match="Occlusion"):
        Labels(LAYOUT, ["a.png"], np.zeros((1, 3, 3, 2)), np.zeros((1, 3), bool))
    with pytest.raises(LabelFileError, match="more than once"):
        Labels(LAYOUT, ["a.png", "./a.png"], np.zeros((2, 3, 3, 2)))
    empty = Labels.empty(LAYOUT, ["x.png"])
    assert np.isnan(empty.xy).all() and not empty.occluded.any()


def test_select_merge_concatenate() -> None:
    lab = labels(3)
    picked = lab.select([2, 0])
    assert picked.images == [lab.images[2], lab.images[0]]
    np.testing.assert_array_equal(picked.xy, lab.xy[[2, 0]])
    assert lab.select(["labeled-data\\v\\img1.png"]).images == [lab.images[1]]
    with pytest.raises(LabelFileError, match="not among"):
        lab.select(["labeled-data/v/nope.png"])
    update = labels(2, seed=1).select([1])  # replaces img1
    update.images = ["labeled-data/v/img1.png"]
    extra = labels(1, folder="w", seed=2)
    merged = lab.with_images(update).with_images(extra)
    assert merged.images == lab.images + extra.images
    np.testing.assert_array_equal(merged.xy[1], update.xy[0])
    np.testing.assert_array_equal(merged.xy[0], lab.xy[0])
    both = Labels.concatenate([lab, extra])
    assert both.videos == ["v", "w"] and len(both) == 4
    with pytest.raises(LabelFileError):
        Labels.concatenate([])
    with pytest.raises(LabelFileError, match="different body parts"):
        lab.with_images(Labels.empty(PoseLayout.single_animal(["x"]), ["a.png"]))


def test_dataframe_layout() -> None:
    df = labels(2).to_dataframe()
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.shape == (2, 10)  # 2 animals x 2 parts + 1 unique part, x and y
    assert df.index[0] == ("labeled-data", "v", "img0.png")
    assert ("s", "single", "corner", "x") in df.columns and ("s", "m1", "corner", "x") not in df.columns


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(0, 1000), st.booleans())
def test_dataframe_round_trip(n: int, seed: int, string_index: bool) -> None:
    lab = labels(n, seed=seed)
    lab.xy[np.random.default_rng(seed).uniform(size=lab.xy.shape[:-1]) < 0.3] = np.nan
    df = lab.to_dataframe()
    if string_index:
        df.index = pd.Index(["/".join(r) for r in df.index])
    back = Labels.from_dataframe(df)
    assert back.images == lab.images and back.scorer == "s"
    assert back.layout.keypoint_names == LAYOUT.keypoint_names
    assert back.layout.individual_names == LAYOUT.individual_names
    np.testing.assert_array_equal(back.xy, lab.xy)
    shuffled = df.iloc[:, np.random.default_rng(seed).permutation(df.shape[1])]
    np.testing.assert_array_equal(Labels.from_dataframe(shuffled, LAYOUT).xy, lab.xy)
