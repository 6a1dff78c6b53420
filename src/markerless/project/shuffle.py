"""A shuffle: one train/test split of a project's labels and the model trained on it.

Everything about a shuffle is found from the project folder (DeepLabCut's layout): the registry
``training-datasets/iteration-<i>/UnaugmentedDataSet_<Task><date>/metadata.yaml``, our readable split
file beside it, the model folder ``dlc-models-pytorch/iteration-<i>/<Task><date>-trainset<pct>shuffle<k>/``
and the evaluation folder ``evaluation-results-pytorch/iteration-<i>/<same name>/``.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from markerless.errors import ProjectError
from markerless.model.labels import image_key
from markerless.project.project import ProjectSource, load_project
from markerless.project.recipe import RECIPE_FILE, Recipe, read_recipe

METADATA_FILE = "metadata.yaml"
_SNAPSHOT = re.compile(r"^snapshot-(best-)?(\d+)\.pt$")


def training_fraction_pct(train_fraction: float) -> int:
    """DeepLabCut's percentage in folder names (``0.95`` -> ``95``)."""
    return round(100 * float(train_fraction))


def dataset_dir(project: Any) -> Path:
    """``training-datasets/iteration-<i>/UnaugmentedDataSet_<Task><date>/`` of the project."""
    return (
        Path(project.root)
        / "training-datasets"
        / f"iteration-{project.iteration}"
        / f"UnaugmentedDataSet_{project.task}{project.date}"
    )


def shuffle_name(project: Any, train_fraction: float, index: int) -> str:
    """``<Task><date>-trainset<pct>shuffle<k>``."""
    return f"{project.task}{project.date}-trainset{training_fraction_pct(train_fraction)}shuffle{index}"


def read_registry(project: Any) -> dict[str, dict[str, Any]]:
    """The shuffles registered in ``metadata.yaml`` (name -> train_fraction, index, split, engine)."""
    path = dataset_dir(project) / METADATA_FILE
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ProjectError(f"{path} is not valid YAML ({err}); fix it or create the training dataset again.") from None
    return dict(data.get("shuffles") or {})


def net_display_name(net: str) -> str:
    """DeepLabCut's net name in scorers: split on ``_``, capitalise each part (``resnet_50`` -> ``Resnet50``)."""
    return "".join(part.capitalize() for part in re.split(r"[_\-]", net) if part)


class Shuffle:
    """One shuffle of a project: its split, recipe, model folder, snapshots and scorer names.

    Args:
        project: a ``Project`` or the path of its ``config.yaml`` / folder.
        index: the shuffle number ``k``.
        train_fraction: which shuffle ``k`` when several train fractions share the number (default: the
            only one, or the project's first ``TrainingFraction``).

    Raises:
        ProjectError: the shuffle was never created (run ``markerless create-training-dataset``).
    """

    def __init__(self, project: ProjectSource, index: int = 1, train_fraction: float | None = None) -> None:
        self.project = load_project(project)
        self.index = int(index)
        entries = {n: e for n, e in read_registry(self.project).items() if int(e.get("index", -1)) == self.index}
        if train_fraction is not None:
            entries = {n: e for n, e in entries.items() if abs(float(e["train_fraction"]) - train_fraction) < 1e-9}
        if not entries:
            raise ProjectError(
                f"Shuffle {self.index} does not exist in {dataset_dir(self.project) / METADATA_FILE}; "
                f"create it with `markerless create-training-dataset {self.project.root / 'config.yaml'} "
                f"--shuffle {self.index}`."
            )
        if len(entries) > 1:
            wanted = self.project.training_fractions[0]
            preferred = [n for n, e in entries.items() if abs(float(e["train_fraction"]) - wanted) < 1e-9]
            entries = {preferred[0]: entries[preferred[0]]} if preferred else dict([next(iter(entries.items()))])
        self.name, self._entry = next(iter(entries.items()))
        self.train_fraction = float(self._entry["train_fraction"])
        self.split_id = int(self._entry.get("split", self.index))

    # --- folders ------------------------------------------------------------------------------
    @property
    def dataset_dir(self) -> Path:
        """The project's ``UnaugmentedDataSet_<Task><date>`` folder."""
        return dataset_dir(self.project)

    @property
    def split_file(self) -> Path:
        """Our readable split record: JSON with project-relative ``train`` and ``test`` image paths."""
        return split_file_path(self.project, self.train_fraction, self.index)

    @property
    def model_dir(self) -> Path:
        """``dlc-models-pytorch/iteration-<i>/<name>/``."""
        return Path(self.project.root) / "dlc-models-pytorch" / f"iteration-{self.project.iteration}" / self.name

    @property
    def train_dir(self) -> Path:
        """Where the recipe, snapshots and ``learning_stats.csv`` live."""
        return self.model_dir / "train"

    @property
    def evaluation_dir(self) -> Path:
        """``evaluation-results-pytorch/iteration-<i>/<name>/``."""
        return (
            Path(self.project.root) / "evaluation-results-pytorch" / f"iteration-{self.project.iteration}" / self.name
        )

    @property
    def recipe_file(self) -> Path:
        """``train/markerless.yaml``."""
        return self.train_dir / RECIPE_FILE

    @property
    def recipe(self) -> Recipe:
        """The checked training recipe (the default recipe for a shuffle DeepLabCut created)."""
        if not self.recipe_file.exists() and (self.train_dir / "pytorch_config.yaml").exists():
            return Recipe()
        return read_recipe(self.recipe_file)

    # --- split -------------------------------------------------------------------------------
    @cached_property
    def _split(self) -> dict[str, Any]:
        try:
            return json.loads(self.split_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            split = self._split_from_documentation()
            if split is not None:
                return split
            raise ProjectError(
                f"The split file {self.split_file} of shuffle {self.index} is missing; "
                "run `markerless create-training-dataset` again."
            ) from None
        except json.JSONDecodeError as err:
            raise ProjectError(f"The split file {self.split_file} is not valid JSON ({err}).") from None

    def _split_from_documentation(self) -> dict[str, Any] | None:
        """The split of a shuffle DeepLabCut created: its Documentation pickle's indices into the merged labels."""
        import pickle

        import pandas as pd

        pct = training_fraction_pct(self.train_fraction)
        doc = self.dataset_dir / f"Documentation_data-{self.project.task}_{pct}shuffle{self.index}.pickle"
        merged = self.dataset_dir / f"CollectedData_{self.project.scorer}.h5"
        if not (doc.exists() and merged.exists()):
            return None
        try:
            with open(doc, "rb") as f:
                _, train_idx, test_idx, _ = pickle.load(f)
            index = pd.read_hdf(merged).index
        except Exception as err:
            raise ProjectError(
                f"Cannot read DeepLabCut's split {doc} ({err}); create the training dataset again."
            ) from None
        paths = [image_key("/".join(map(str, row)) if isinstance(row, tuple) else str(row)) for row in index]
        return {"train": [paths[int(i)] for i in train_idx], "test": [paths[int(i)] for i in test_idx]}

    def train_images(self) -> list[str]:
        """Project-relative paths of the training images."""
        return list(self._split["train"])

    def recipe_choices(self) -> list[str]:
        """Why the recipe's crop, scale and augmentation were chosen, as written when the dataset was made."""
        return [str(line) for line in self._split.get("recipe_choices", [])]

    def test_images(self) -> list[str]:
        """Project-relative paths of the test images."""
        return list(self._split["test"])

    # --- snapshots ---------------------------------------------------------------------------
    def snapshots(self) -> list[Path]:
        """Snapshot files sorted by epoch, the best one (if any) last (as DeepLabCut sorts them)."""
        if not self.train_dir.exists():
            return []
        found = [(m, p) for p in self.train_dir.iterdir() if (m := _SNAPSHOT.match(p.name))]
        regular = sorted((int(m.group(2)), p) for m, p in found if not m.group(1))
        best = sorted((int(m.group(2)), p) for m, p in found if m.group(1))
        return [p for _, p in regular] + [p for _, p in best[-1:]]

    def best_snapshot(self) -> Path | None:
        """A ``snapshot-best-*`` (DeepLabCut's choice, or an older markerless run's) else the last one, the model
        markerless deploys; None before training."""
        snaps = self.snapshots()
        return snaps[-1] if snaps else None

    def snapshot(self, index: int | None = None) -> Path:
        """The snapshot at ``index`` of :meth:`snapshots` (default: config ``snapshotindex``, -1 = the last, or a DeepLabCut best)."""
        snaps = self.snapshots()
        if not snaps:
            raise ProjectError(
                f"Shuffle {self.index} has no trained snapshot in {self.train_dir}; "
                f"run `markerless train {self.project.root / 'config.yaml'} --shuffle {self.index}` first."
            )
        if index is None:
            index = self.project.config.get("snapshotindex", -1)
            if index == "all" or index is None:
                index = -1
        try:
            return snaps[int(index)]
        except (IndexError, ValueError):
            raise ProjectError(
                f"Snapshot index {index} is out of range: shuffle {self.index} has {len(snaps)} snapshots "
                f"({[p.name for p in snaps]}); set snapshotindex in config.yaml to -1 for the last."
            ) from None

    def scorer(self, snapshot: str | Path | None = None) -> str:
        """DeepLabCut's scorer name ``DLC_<NetName>_<Task><date>shuffle<k>_snapshot_<epoch>``.

        The best snapshot gives ``..._snapshot_best-<epoch>`` (DeepLabCut's uid for best snapshots).
        """
        path = Path(snapshot) if snapshot is not None else self.snapshot()
        m = _SNAPSHOT.match(path.name)
        if not m:
            raise ProjectError(f"{path.name} is not a snapshot file name (snapshot-<epoch>.pt).")
        uid = f"snapshot_best-{int(m.group(2))}" if m.group(1) else f"snapshot_{int(m.group(2))}"
        net = net_display_name(self.recipe.model.net)
        return f"DLC_{net}_{self.project.task}{self.project.date}shuffle{self.index}_{uid}"

    def __repr__(self) -> str:
        return f"Shuffle({self.name!r}, train={len(self.train_images())}, test={len(self.test_images())})"


def split_file_path(project: Any, train_fraction: float, index: int) -> Path:
    """Path of the JSON split record of shuffle ``index``."""
    pct = training_fraction_pct(train_fraction)
    return dataset_dir(project) / f"{project.task}_{project.scorer}{pct}shuffle{index}.split.json"


def snapshot_epoch(path: str | Path) -> int:
    """The epoch number in a snapshot file name."""
    m = _SNAPSHOT.match(Path(path).name)
    if not m:
        raise ProjectError(f"{Path(path).name} is not a snapshot file name (snapshot-<epoch>.pt).")
    return int(m.group(2))
