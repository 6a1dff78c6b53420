"""Resuming keeps the run's stored budget, schedule and seed; a new budget must be asked for, and is announced."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from markerless.errors import RecipeError, TrainingError
from markerless.project.recipe import read_recipe, write_recipe
from markerless.project.shuffle import Shuffle
from markerless.training.dataset import create_training_dataset
from markerless.training.loop import train
from tests.fixtures.projects import tiny_recipe


def _stats(sh: Shuffle) -> list[dict[str, str]]:
    with open(sh.train_dir / "learning_stats.csv") as f:
        return list(csv.DictReader(f))


def _lrs(sh: Shuffle) -> list[float]:
    return [float(r["lr"]) for r in _stats(sh)]


def _interrupt_after(sh: Shuffle, epoch: int) -> None:
    """Leave the train folder as a run killed after ``epoch`` leaves it: later snapshots gone."""
    for path in sh.snapshots():
        if int(path.stem.rsplit("-", 1)[-1]) > epoch:
            path.unlink()


@pytest.fixture
def shuffle(tiny_config: Path) -> Shuffle:
    sh = create_training_dataset(tiny_config, shuffle=1, seed=0)
    tiny_recipe(tiny_config, epochs=12, eval_every_epochs=0, keep_snapshots=10)
    return sh


@pytest.mark.slow
def test_resume_without_options_continues_the_stored_schedule(tiny_config: Path, shuffle: Shuffle) -> None:
    """The recipe file says 12 epochs; the run was started with 6: resuming must finish those 6."""
    train(tiny_config, 1, epochs=6)
    whole_run = _lrs(shuffle)
    assert len(whole_run) == 6
    _interrupt_after(shuffle, 3)
    train(tiny_config, 1)
    assert [int(r["epoch"]) for r in _stats(shuffle)] == list(range(1, 7))
    assert _lrs(shuffle) == pytest.approx(whole_run, rel=1e-9)  # no new warm-up: the same cosine to its end
    assert whole_run[-1] < whole_run[3] < whole_run[1]


@pytest.mark.slow
def test_resume_keeps_a_time_budget_and_an_explicit_budget_is_announced(
    tiny_config: Path, shuffle: Shuffle, capsys: pytest.CaptureFixture[str]
) -> None:
    train(tiny_config, 1, max_minutes=0.002)
    done = _stats(shuffle)
    capsys.readouterr()
    train(tiny_config, 1)  # the stored budget is spent: nothing more is trained
    assert _stats(shuffle) == done
    assert "trained its whole budget (0.002 min)" in capsys.readouterr().out
    train(tiny_config, 1, epochs=len(done) + 2)
    assert "changed from 0.002 min to" in capsys.readouterr().out
    assert [int(r["epoch"]) for r in _stats(shuffle)] == list(range(1, len(done) + 3))
    with pytest.raises(TrainingError, match="already trained"):
        train(tiny_config, 1, epochs=len(done) + 1)


@pytest.mark.slow
def test_resume_refuses_a_new_seed_and_warns_about_recipe_edits(tiny_config: Path, shuffle: Shuffle) -> None:
    train(tiny_config, 1, epochs=3)
    _interrupt_after(shuffle, 2)
    with pytest.raises(TrainingError, match=r"trained with seed 0.*--no-resume"):
        train(tiny_config, 1, seed=5)
    write_recipe(shuffle.recipe_file, read_recipe(shuffle.recipe_file).with_overrides(lr=0.5))
    with pytest.warns(UserWarning, match=r"optimizer\.lr changed since snapshot-002\.pt"):
        train(tiny_config, 1)
    assert len(_stats(shuffle)) == 3


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"epochs": -2}, "schedule.epochs"),
        ({"max_minutes": -1}, "schedule.max_minutes"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_invalid_budgets_are_refused_before_training(tiny_config: Path, options: dict, key: str) -> None:
    create_training_dataset(tiny_config, shuffle=1, seed=0)
    with pytest.raises(RecipeError, match=f"'{key}' must be"):
        train(tiny_config, 1, **options)
