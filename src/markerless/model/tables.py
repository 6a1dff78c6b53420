"""DeepLabCut's table layout: keypoint arrays <-> pandas DataFrames with its column MultiIndex.

Single-animal tables have column levels ``scorer / bodyparts / coords``; multi-animal tables
``scorer / individuals / bodyparts / coords`` with unique body parts under the individual ``single``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from markerless.errors import LabelFileError
from markerless.model.skeleton import SINGLE_ANIMAL_INDIVIDUAL, UNIQUE_INDIVIDUAL, PoseLayout, Skeleton

SINGLE_ANIMAL_LEVELS = ("scorer", "bodyparts", "coords")
MULTI_ANIMAL_LEVELS = ("scorer", "individuals", "bodyparts", "coords")


def dlc_columns(layout: PoseLayout, scorer: str, coords: Sequence[str]) -> pd.MultiIndex:
    """The column MultiIndex DeepLabCut uses for ``layout`` with the given coordinate names."""
    cells = layout.columns()
    if layout.multi_animal:
        tuples: list[tuple[str, ...]] = [(scorer, ind, kp, c) for ind, kp in cells for c in coords]
        return pd.MultiIndex.from_tuples(tuples, names=MULTI_ANIMAL_LEVELS)
    tuples = [(scorer, kp, c) for _, kp in cells for c in coords]
    return pd.MultiIndex.from_tuples(tuples, names=SINGLE_ANIMAL_LEVELS)


def array_to_frame(
    values: np.ndarray, layout: PoseLayout, scorer: str, coords: Sequence[str], index: pd.Index
) -> pd.DataFrame:
    """``(rows, individuals, keypoints, len(coords))`` array -> DeepLabCut DataFrame (valid cells only)."""
    ind, kp = np.nonzero(layout.valid)
    flat = values[:, ind, kp, :].reshape(len(values), -1)
    return pd.DataFrame(flat, index=index, columns=dlc_columns(layout, scorer, coords))


def layout_from_columns(columns: pd.MultiIndex, skeleton: Skeleton | None = None) -> PoseLayout:
    """Infer the individuals and body parts of a DeepLabCut table from its columns."""
    names = _level_names(columns)
    bodyparts = list(dict.fromkeys(columns.get_level_values(names.index("bodyparts"))))
    if "individuals" not in names:
        skel = (
            skeleton
            if skeleton is not None and set(skeleton.bodyparts) == set(bodyparts)
            else Skeleton.from_names(bodyparts)
        )
        return PoseLayout(skel, (SINGLE_ANIMAL_INDIVIDUAL,))
    inds = columns.get_level_values(names.index("individuals"))
    parts = columns.get_level_values(names.index("bodyparts"))
    individuals = [i for i in dict.fromkeys(inds) if i != UNIQUE_INDIVIDUAL]
    animal_parts = list(dict.fromkeys(p for i, p in zip(inds, parts, strict=True) if i != UNIQUE_INDIVIDUAL))
    unique = list(dict.fromkeys(p for i, p in zip(inds, parts, strict=True) if i == UNIQUE_INDIVIDUAL))
    if skeleton is None or list(skeleton.bodyparts) != animal_parts:
        skeleton = Skeleton.from_names(animal_parts)
    return PoseLayout(skeleton, tuple(individuals) or (SINGLE_ANIMAL_INDIVIDUAL,), tuple(unique), multi_animal=True)


def frame_to_array(df: pd.DataFrame, layout: PoseLayout, coords: Sequence[str], fill: float = np.nan) -> np.ndarray:
    """DeepLabCut DataFrame -> ``(rows, individuals, keypoints, len(coords))`` float64 array.

    Columns are matched by name, so their order in the file does not matter; cells missing from the
    table are ``fill``; a coordinate missing from the table (e.g. ``likelihood`` in ground truth) is
    ``fill`` too.
    """
    names = _level_names(df.columns)
    n_ind, n_kp = layout.shape
    out = np.full((len(df), n_ind, n_kp, len(coords)), fill, dtype=np.float64)
    coord_level = df.columns.get_level_values(names.index("coords"))
    part_level = df.columns.get_level_values(names.index("bodyparts"))
    if "individuals" in names:
        ind_level = df.columns.get_level_values(names.index("individuals"))
    else:
        ind_level = pd.Index([layout.individual_names[0]] * len(df.columns))
    ind_pos = {n: i for i, n in enumerate(layout.individual_names)}
    kp_pos = {n: i for i, n in enumerate(layout.keypoint_names)}
    coord_pos = {n: i for i, n in enumerate(coords)}
    keep = [
        j
        for j, (i, k, c) in enumerate(zip(ind_level, part_level, coord_level, strict=True))
        if i in ind_pos and k in kp_pos and c in coord_pos
    ]
    if not keep and len(df.columns):
        raise LabelFileError(
            f"None of the table's columns match the project's body parts {list(layout.keypoint_names)}; "
            "check that the file belongs to this project."
        )
    values = df.iloc[:, keep].to_numpy(dtype=np.float64)
    ii = np.array([ind_pos[ind_level[j]] for j in keep], dtype=np.int64)
    kk = np.array([kp_pos[part_level[j]] for j in keep], dtype=np.int64)
    cc = np.array([coord_pos[coord_level[j]] for j in keep], dtype=np.int64)
    out[:, ii, kk, cc] = values
    return out


def table_scorer(columns: pd.MultiIndex) -> str:
    """The scorer named in a DeepLabCut table's first column level."""
    names = _level_names(columns)
    scorers = list(dict.fromkeys(columns.get_level_values(names.index("scorer"))))
    return str(scorers[0]) if scorers else ""


def _level_names(columns: pd.Index) -> list[str]:
    if not isinstance(columns, pd.MultiIndex):
        raise LabelFileError(
            "Expected DeepLabCut's multi-level columns (scorer/bodyparts/coords); the table has flat columns."
        )
    names = [str(n) for n in columns.names]
    if names[-1] != "coords" or "bodyparts" not in names:
        if columns.nlevels == 3:
            names = list(SINGLE_ANIMAL_LEVELS)
        elif columns.nlevels == 4:
            names = list(MULTI_ANIMAL_LEVELS)
        else:
            raise LabelFileError(
                f"Unexpected column levels {columns.names}; expected {list(SINGLE_ANIMAL_LEVELS)} or {list(MULTI_ANIMAL_LEVELS)}."
            )
    return names
