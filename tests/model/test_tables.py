"""DeepLabCut's column layout: columns from layouts, layouts from columns, arrays <-> frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from markerless.errors import LabelFileError
from markerless.model import PoseLayout, Skeleton
from markerless.model.tables import array_to_frame, dlc_columns, frame_to_array, layout_from_columns, table_scorer

MA = PoseLayout(Skeleton.from_names(["nose", "tail"]), ("m1", "m2"), ("corner",), multi_animal=True)


def test_columns_follow_deeplabcut() -> None:
    sa = dlc_columns(PoseLayout.single_animal(["a", "b"]), "me", ("x", "y"))
    assert list(sa) == [("me", "a", "x"), ("me", "a", "y"), ("me", "b", "x"), ("me", "b", "y")]
    ma = dlc_columns(MA, "me", ("x", "y", "likelihood"))
    assert list(ma.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert list(dict.fromkeys(ma.get_level_values("individuals"))) == ["m1", "m2", "single"]
    assert len(ma) == 15


def test_layout_from_columns() -> None:
    layout = layout_from_columns(dlc_columns(MA, "me", ("x", "y")), MA.skeleton)
    assert layout == MA
    sa = layout_from_columns(dlc_columns(PoseLayout.single_animal(["leftear", "rightear"]), "me", ("x", "y")))
    assert not sa.multi_animal and sa.skeleton.symmetric_pairs == (("leftear", "rightear"),)
    unnamed = pd.MultiIndex.from_tuples([("me", "a", "x"), ("me", "a", "y")])  # level names lost
    assert layout_from_columns(unnamed).keypoint_names == ("a",)
    assert table_scorer(unnamed) == "me"


def test_frame_to_array_matches_by_name() -> None:
    values = np.arange(2 * 3 * 3 * 2, dtype=float).reshape(2, 3, 3, 2)
    values[:, ~MA.valid] = np.nan
    df = array_to_frame(values, MA, "me", ("x", "y"), pd.RangeIndex(2))
    reversed_df = df.iloc[:, ::-1]
    np.testing.assert_array_equal(frame_to_array(reversed_df, MA, ("x", "y")), values)
    with_likelihood = frame_to_array(df, MA, ("x", "y", "likelihood"))
    assert np.isnan(with_likelihood[..., 2]).all()


def test_foreign_tables() -> None:
    with pytest.raises(LabelFileError, match="flat columns"):
        frame_to_array(pd.DataFrame({"a": [1.0]}), MA, ("x",))
    two_levels = pd.DataFrame([[1.0]], columns=pd.MultiIndex.from_tuples([("a", "x")]))
    with pytest.raises(LabelFileError, match="column levels"):
        layout_from_columns(two_levels.columns)
    other = array_to_frame(
        np.zeros((1, 1, 1, 2)), PoseLayout.single_animal(["ear"]), "me", ("x", "y"), pd.RangeIndex(1)
    )
    with pytest.raises(LabelFileError, match="body parts"):
        frame_to_array(other, MA, ("x", "y"))
