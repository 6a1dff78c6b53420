"""The labelling app keeps DeepLabCut's 4-level (multi-animal) label files: byte for byte when a frame is
saved unchanged, cell for cell when one point moves (issue 17 point 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerless.app.store import LabelStore
from markerless.project.project import Project


def _dlc_multi_animal_file(config: Path) -> Path:
    """A 4-level CollectedData file as DeepLabCut writes it: 3-level row index, two mice + ``single``,
    some cells unlabelled, a column order that is not ours (individuals interleaved by body part)."""
    project = Project.load(config)
    folder = project.labeled_data_dir("mouse1")
    images = sorted(p.name for p in folder.glob("*.png"))
    cells = [(ind, part) for part in project.layout.bodyparts for ind in project.layout.individuals]
    cells += [("single", part) for part in project.layout.unique_bodyparts]
    columns = pd.MultiIndex.from_tuples(
        [(project.scorer, ind, part, c) for ind, part in cells for c in "xy"],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    index = pd.MultiIndex.from_tuples([("labeled-data", "mouse1", name) for name in images])
    rng = np.random.default_rng(3)
    values = np.round(rng.uniform(1, 40, (len(index), len(columns))), 2)
    unlabelled = np.repeat(rng.random((len(index), len(cells))) < 0.25, 2, axis=1)  # x and y together
    values[unlabelled] = np.nan
    h5 = project.label_file("mouse1")
    df = pd.DataFrame(values, index=index, columns=columns)
    df.to_hdf(h5, key="df_with_missing", mode="w")
    df.to_csv(h5.with_suffix(".csv"))
    return h5


def _payload(store: LabelStore, name: str) -> tuple[list, list, int]:
    frame = store.frame("mouse1", name)
    return frame["points"], frame["occluded"], frame["version"]


def test_unchanged_save_keeps_the_file_byte_for_byte(tiny_ma_project: Path) -> None:
    h5 = _dlc_multi_animal_file(tiny_ma_project)
    before = h5.read_bytes(), h5.with_suffix(".csv").read_bytes()
    store = LabelStore(Project.load(tiny_ma_project))
    for name in ("img00.png", "img07.png", "img14.png"):
        points, occluded, version = _payload(store, name)
        store.save_frame("mouse1", name, version, points, occluded)
    assert (h5.read_bytes(), h5.with_suffix(".csv").read_bytes()) == before


@pytest.mark.parametrize(("ind", "part"), [(1, 2), (2, 4)])  # mouse2's right ear, the unique corner
def test_one_moved_point_changes_only_its_cells(tiny_ma_project: Path, ind: int, part: int) -> None:
    h5 = _dlc_multi_animal_file(tiny_ma_project)
    before = pd.read_hdf(h5)
    store = LabelStore(Project.load(tiny_ma_project))
    points, occluded, version = _payload(store, "img07.png")
    points[ind][part] = [12.5, 20.25]
    store.save_frame("mouse1", "img07.png", version, points, occluded)
    layout = store.layout
    column = (store.scorer, layout.individual_names[ind], layout.keypoint_names[part])
    row = ("labeled-data", "mouse1", "img07.png")
    for after in (pd.read_hdf(h5), pd.read_csv(h5.with_suffix(".csv"), header=[0, 1, 2, 3], index_col=[0, 1, 2])):
        assert list(after.columns) == list(before.columns) and list(after.index) == list(before.index)
        changed = ~((after.to_numpy() == before.to_numpy()) | (after.isna().to_numpy() & before.isna().to_numpy()))
        rows, cols = np.nonzero(changed)
        assert {(after.index[r], after.columns[c]) for r, c in zip(rows, cols, strict=True)} == {
            (row, (*column, "x")),
            (row, (*column, "y")),
        }
        assert after.loc[row, (*column, "x")] == 12.5 and after.loc[row, (*column, "y")] == 20.25
