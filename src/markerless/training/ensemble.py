"""Ensembles: several networks of one split, trained with different seeds, whose predictions are smoothed together.

An ensemble of ``N`` members based on shuffle ``k`` is the shuffles ``k .. k+N-1`` (one shuffle per
member, as :mod:`markerless.project.prediction_files` decides). :func:`prepare_ensemble` creates the
missing members with shuffle ``k``'s split and recipe, seed ``recipe seed + i`` for member ``i``.
:func:`train_ensemble` trains them one after another (in sequence: one CPU or GPU at a time); the time
budget ``max_minutes`` is **per member**, so the ensemble trains ``N x max_minutes`` in all. A member that
has snapshots resumes (its stored budget), a member whose budget is spent is left as it is, so an
interrupted ensemble continues where it stopped. :func:`analyze_ensemble` analyses videos with every
member and writes the ensemble Kalman smoother's file (``<first member's file>_eks.h5``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from markerless.analysis.analyze import analyze
from markerless.errors import ProjectError, RecipeError
from markerless.project.project import Project
from markerless.project.recipe import read_recipe, write_recipe
from markerless.project.shuffle import Shuffle
from markerless.results.eks import smooth_predictions
from markerless.training.dataset import create_training_dataset
from markerless.training.loop import train

ProjectSource = str | os.PathLike[str] | Project


def ensemble_shuffles(shuffle: int, members: int) -> list[int]:
    """The shuffles of an ensemble of ``members`` based on ``shuffle``: ``shuffle .. shuffle+members-1``."""
    if members < 2:
        raise RecipeError(f"An ensemble needs at least 2 members, got {members}; pass --ensemble 2 or more.")
    return list(range(shuffle, shuffle + members))


def _exists(config: ProjectSource, shuffle: int) -> Shuffle | None:
    """Shuffle ``shuffle`` when it exists with its recipe, else None."""
    try:
        sh = Shuffle(config, shuffle)
    except ProjectError:
        return None
    return sh if sh.recipe_file.is_file() else None


def prepare_ensemble(config: ProjectSource, shuffle: int = 1, members: int = 3) -> list[Shuffle]:
    """The ensemble's member shuffles, creating those that are missing from shuffle ``shuffle``.

    A new member ``i`` gets shuffle ``shuffle``'s split (``from_shuffle``) and its recipe with seed
    ``recipe seed + i``. Raises :class:`~markerless.errors.ProjectError` when shuffle ``shuffle`` does not
    exist, or when an existing member has another split (the fix: delete it or base the ensemble elsewhere).
    """
    numbers = ensemble_shuffles(shuffle, members)
    base = _exists(config, shuffle)
    if base is None:
        raise ProjectError(
            f"Shuffle {shuffle} of {config} does not exist; create it with `markerless create-training-dataset "
            f"--shuffle {shuffle}` before training an ensemble on it."
        )
    base_recipe = read_recipe(base.recipe_file)
    out = [base]
    for i, number in enumerate(numbers[1:], start=1):
        sh = _exists(config, number)
        if sh is None:
            sh = create_training_dataset(config, shuffle=number, from_shuffle=shuffle)
            write_recipe(sh.recipe_file, base_recipe.with_overrides(seed=base_recipe.seed + i), base.recipe_choices())
        elif sorted(sh.train_images()) != sorted(base.train_images()):
            raise ProjectError(
                f"Shuffle {number} ({sh.model_dir}) exists with another split than shuffle {shuffle}, so it cannot be "
                f"member {i} of its ensemble; delete that folder, or base the ensemble on another --shuffle."
            )
        out.append(sh)
    return out


def train_ensemble(
    config: ProjectSource,
    shuffle: int = 1,
    members: int = 3,
    *,
    max_minutes: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    resume: bool = True,
    evaluate_at_minutes: Sequence[float] = (),
) -> list[Path]:
    """Train an ensemble of ``members`` networks (shuffles ``shuffle ..``), one after another.

    ``max_minutes`` and ``epochs`` are each member's budget (the whole ensemble trains ``members`` times
    as long); they apply to members that start training. Members with snapshots resume with their stored
    budget (``resume=False`` starts every member over). Returns each member's last snapshot.
    """
    shuffles = prepare_ensemble(config, shuffle, members)
    budget = f"{max_minutes:g} min" if max_minutes is not None else (f"{epochs} epochs" if epochs else "the recipe's")
    total = f", {members * max_minutes:g} min in all" if max_minutes is not None else ""
    tqdm.write(
        f"Ensemble of {members} members (shuffles {shuffle}..{shuffle + members - 1}), trained in sequence: "
        f"{budget} per member{total}."
    )
    snapshots = []
    for i, sh in enumerate(shuffles):
        started = resume and bool(sh.snapshots())
        options: dict[str, Any] = {} if started else {"max_minutes": max_minutes, "epochs": epochs}
        if batch_size is not None and not started:
            options["batch_size"] = batch_size
        tqdm.write(
            f"member {i + 1}/{members}: shuffle {sh.index}, seed {read_recipe(sh.recipe_file).seed}"
            + (" (resuming)" if started else "")
        )
        snapshots.append(
            train(
                config,
                sh.index,
                device=device,
                resume=resume,
                evaluate_at_minutes=evaluate_at_minutes,
                **options,
            )
        )
    return snapshots


@dataclass(frozen=True)
class EnsembleAnalysis:
    """What :func:`analyze_ensemble` wrote: each member's prediction files (per member, per video) and the EKS files."""

    members: list[list[Path]]
    eks: list[Path]


def analyze_ensemble(
    config: ProjectSource,
    videos: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    shuffle: int = 1,
    members: int = 3,
    *,
    state: str = "position",
    smoothing: float | None = None,
    p_bound: float | None = None,
    **overrides: Any,
) -> EnsembleAnalysis:
    """Analyse videos with each member of an ensemble, then smooth them with the ensemble Kalman smoother.

    ``overrides`` are analysis options (``AnalysisOptions`` fields: backend, device, dest, overwrite...),
    the same for every member. The smoother's observation noise is the members' variance and its
    smoothing parameter is chosen by marginal likelihood unless ``smoothing`` is given; a member's points
    under ``p_bound`` (default: the project's ``pcutoff``) are not observations. Single-animal
    projects only (a multi-animal project raises :class:`~markerless.errors.ProjectError`: members' animals
    are not matched across members).
    """
    numbers = ensemble_shuffles(shuffle, members)
    project = config if isinstance(config, Project) else Project.load(config)
    if project.layout.multi_animal:
        raise ProjectError(
            f"{project.config_path} is a multi-animal project: its ensemble members' animals are not matched to each "
            "other, so they cannot be smoothed together; analyse with one shuffle (markerless analyze --shuffle K)."
        )
    for number in numbers:
        sh = Shuffle(project, number)
        if not sh.snapshots():
            raise ProjectError(
                f"Member shuffle {number} of the ensemble on shuffle {shuffle} has no trained snapshot in {sh.train_dir}; "
                f"train it with `markerless train {project.config_path} --shuffle {shuffle} --ensemble {members}`."
            )
    given = [Path(videos)] if isinstance(videos, (str, os.PathLike)) else [Path(v) for v in videos]
    paths = [list(analyze(project.config_path, given, number, **overrides)) for number in numbers]
    eks = smooth_predictions(
        project.config_path,
        given,
        shuffles=numbers,
        state=state,
        smoothing=smoothing,
        p_bound=p_bound,
        dest=overrides.get("dest"),
        save_as_csv=bool(overrides.get("save_as_csv", False)),
    )
    return EnsembleAnalysis(paths, eks)


__all__ = ["EnsembleAnalysis", "analyze_ensemble", "ensemble_shuffles", "prepare_ensemble", "train_ensemble"]
