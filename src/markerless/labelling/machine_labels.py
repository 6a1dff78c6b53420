"""DeepLabCut's machine label files: a model's predictions on extracted frames, shown as suggestions.

``machinelabels-iter<i>.h5`` (+ ``machinelabels.csv``) in ``labeled-data/<video>/`` holds x, y and
likelihood per image; the labelling app offers them to accept or correct, and ``merge`` counts the
ones still unreviewed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from markerless.io.atomic import atomic_path
from markerless.io.dlc import read_table
from markerless.model import PoseLayout, image_key
from markerless.model.tables import array_to_frame, frame_to_array

MACHINE_KEY = "df_with_missing"
_MACHINE_FILE = re.compile(r"^machinelabels-iter(\d+)\.h5$")


def read_machine_labels(folder: Path, layout: PoseLayout) -> tuple[list[str], np.ndarray] | None:
    """The newest ``machinelabels-iter<i>.h5`` of a folder: image paths and ``(images, I, K, 3)`` x, y,
    likelihood; None when the folder has none."""
    files = sorted(
        (
            (int(m.group(1)), p)
            for p in Path(folder).glob("machinelabels-iter*.h5")
            if (m := _MACHINE_FILE.match(p.name))
        ),
    )
    if not files:
        return None
    df = read_table(files[-1][1])
    data = frame_to_array(df, layout, ("x", "y", "likelihood"))
    images = [
        "/".join(str(part) for part in row if str(part)) if isinstance(row, tuple) else image_key(str(row))
        for row in df.index
    ]
    return images, data


def write_machine_labels(
    folder: Path, iteration: int, images: list[str], data: np.ndarray, layout: PoseLayout, scorer: str
) -> Path:
    """Write (or extend) ``machinelabels-iter<i>.h5`` and ``machinelabels.csv``; rows of the same image
    are replaced. Returns the h5 path."""
    folder = Path(folder)
    h5 = folder / f"machinelabels-iter{iteration}.h5"
    index = pd.MultiIndex.from_arrays([np.array([p.split("/", 2)[i] for p in images], dtype=object) for i in range(3)])
    df = array_to_frame(data, layout, scorer, ("x", "y", "likelihood"), index)
    df.columns = pd.MultiIndex.from_arrays(
        [np.asarray(df.columns.get_level_values(i), dtype=object) for i in range(df.columns.nlevels)],
        names=df.columns.names,
    )
    if h5.exists():
        old = read_table(h5)
        if old.shape[1] == df.shape[1]:
            old.columns = df.columns
            df = pd.concat([old[~old.index.isin(df.index)], df]).sort_index()
    with atomic_path(h5) as tmp:
        df.to_hdf(tmp, key=MACHINE_KEY, mode="w", format="fixed")
    with atomic_path(folder / "machinelabels.csv") as tmp:
        df.to_csv(tmp)
    return h5
