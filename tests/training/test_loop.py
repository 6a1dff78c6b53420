"""The training loop: a tiny model learns, a seed fixes the first epoch, SIGKILL then resume continues."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from markerless.errors import TrainingError
from markerless.nets import create_model
from markerless.project.shuffle import Shuffle
from markerless.training.dataset import create_training_dataset
from markerless.training.loop import lr_factor, param_groups, train, validation_interval
from tests.fixtures.projects import tiny_recipe


def _stats(sh: Shuffle) -> list[dict[str, str]]:
    with open(sh.train_dir / "learning_stats.csv") as f:
        return list(csv.DictReader(f))


def test_schedule_warms_up_then_decays() -> None:
    assert lr_factor(0.0, 0.1, 0.01) == pytest.approx(0.01)
    assert lr_factor(0.05, 0.1, 0.01) == pytest.approx(0.5)
    assert lr_factor(0.1, 0.1, 0.01) == pytest.approx(1.0)
    assert lr_factor(0.55, 0.1, 0.01) == pytest.approx(0.505)
    assert lr_factor(1.0, 0.1, 0.01) == pytest.approx(0.01)
    assert lr_factor(2.0, 0.1, 0.01) == pytest.approx(0.01)


def test_backbone_learning_rate_factor_splits_the_parameters() -> None:
    net = create_model("mobilenetv2", 3, pretrained=False)
    backbone = {id(p) for p in net.backbone.parameters()}
    [everything] = param_groups(net, 1.0)
    assert everything["lr_factor"] == 1.0 and len(everything["params"]) == len(list(net.parameters()))
    slow, fast = param_groups(net, 0.25)
    assert slow["lr_factor"] == 0.25 and {id(p) for p in slow["params"]} == backbone
    assert fast["lr_factor"] == 1.0 and fast["params"] and not backbone & {id(p) for p in fast["params"]}
    assert len(slow["params"]) + len(fast["params"]) == len(list(net.parameters()))
    with pytest.raises(TrainingError, match="backbone_lr_factor"):
        param_groups(net, 0.0)


@pytest.mark.slow
def test_tiny_model_learns_and_writes_snapshots(tiny_config: Path) -> None:
    sh = create_training_dataset(tiny_config, shuffle=1, seed=0)
    tiny_recipe(tiny_config, keep_snapshots=2)
    final = train(tiny_config, 1, epochs=6)
    rows = _stats(sh)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 7))
    losses = [float(r["loss"]) for r in rows]
    assert sum(losses[-2:]) < 0.8 * sum(losses[:2]), losses
    assert float(rows[0]["lr"]) > float(rows[-1]["lr"])
    assert rows[-1]["test_error_px"] and rows[-1]["train_error_px"]
    names = [p.name for p in sh.snapshots()]
    assert names == ["snapshot-005.pt", "snapshot-006.pt"]  # keep 2; none chosen by its test error
    assert final == sh.snapshots()[-1] == sh.best_snapshot()
    assert (sh.train_dir / "markerless.yaml").exists()


@pytest.mark.slow
def test_same_seed_same_first_epoch_loss(tiny_config: Path) -> None:
    sh = create_training_dataset(tiny_config, shuffle=1, seed=0)
    tiny_recipe(tiny_config)
    train(tiny_config, 1, epochs=1, seed=11, resume=False)
    first = float(_stats(sh)[0]["loss"])
    train(tiny_config, 1, epochs=1, seed=11, resume=False)
    assert float(_stats(sh)[0]["loss"]) == pytest.approx(first, rel=1e-5)
    train(tiny_config, 1, epochs=1, seed=12, resume=False)
    assert float(_stats(sh)[0]["loss"]) != pytest.approx(first, rel=1e-5)


@pytest.mark.slow
def test_sigkill_then_resume_continues_from_the_last_snapshot(tiny_config: Path) -> None:
    sh = create_training_dataset(tiny_config, shuffle=1, seed=0)
    tiny_recipe(tiny_config, eval_every_epochs=0)
    code = f"from markerless.training.loop import train;train({str(tiny_config)!r}, 1, epochs=200)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (sh.train_dir / "snapshot-002.pt").exists():
            time.sleep(0.2)
        assert (sh.train_dir / "snapshot-002.pt").exists(), "training wrote no snapshot in time"
        time.sleep(0.3)  # somewhere in a later epoch
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    last = int(sh.snapshots()[-1].stem.split("-")[-1])
    assert 2 <= last < 200
    final = train(tiny_config, 1, epochs=last + 2)
    payload = torch.load(sh.train_dir / f"snapshot-{last + 2:03d}.pt", weights_only=True)
    assert payload["state"]["resumed_from"] == [last]
    assert payload["state"]["epoch"] == last + 2
    assert payload["state"]["elapsed_s"] > 0
    assert [int(r["epoch"]) for r in _stats(sh)] == list(range(1, last + 3))
    assert final == sh.train_dir / f"snapshot-{last + 2:03d}.pt"


@pytest.mark.slow
def test_weight_average_is_deployed_and_resumed(tiny_config: Path) -> None:
    """With ema_decay the snapshot's model is the average; the raw weights travel along for resuming."""
    sh = create_training_dataset(tiny_config, shuffle=1, seed=0)
    tiny_recipe(tiny_config, ema_decay=0.9, eval_every_epochs=0)
    train(tiny_config, 1, epochs=2)
    first = torch.load(sh.train_dir / "snapshot-002.pt", weights_only=True)
    assert first["ema_updates"] == first["state"]["step"] > 0
    floats = [k for k, v in first["model"].items() if v.dtype.is_floating_point]
    assert any(not torch.equal(first["model"][k], first["train_model"][k]) for k in floats)
    train(tiny_config, 1, epochs=3)
    second = torch.load(sh.train_dir / "snapshot-003.pt", weights_only=True)
    assert second["state"]["resumed_from"] == [2]
    assert second["ema_updates"] == second["state"]["step"] > first["ema_updates"]


@pytest.mark.slow
def test_extra_evaluations_at_given_minutes_get_their_own_rows(tiny_config: Path) -> None:
    """``evaluate_at_minutes`` (a train() argument, not a recipe key) measures inside an epoch."""
    sh = create_training_dataset(tiny_config, shuffle=1, seed=0)
    tiny_recipe(tiny_config, eval_every_epochs=0)
    train(tiny_config, 1, epochs=2, evaluate_at_minutes=[1e-6])
    rows = _stats(sh)
    assert [(int(r["epoch"]), bool(r["test_error_px"])) for r in rows] == [(1, True), (1, False), (2, True)]
    assert int(rows[0]["step"]) == 1 and rows[0]["train_error_px"]


def test_a_slow_validation_stretches_the_interval() -> None:
    """Validations take at most the recipe's share of the training time; share 0 keeps the recipe's interval."""
    assert validation_interval(20, 90.0, 2.3, 0.1) == 392  # a 90 s validation against 2.3 s epochs
    assert validation_interval(20, 2.0, 2.3, 0.1) == 20  # 2 s every 20 epochs of 2.3 s: 4 %, as asked
    assert validation_interval(20, 90.0, 2.3, 0.0) == 20
    assert validation_interval(1, 0.5, 0.0, 0.1) == 1  # no epoch measured yet


@pytest.mark.slow
@pytest.mark.parametrize(("share", "validated"), [(0.1, [1, 6]), (0.0, [1, 2, 3, 4, 5, 6])])
def test_training_validates_less_often_when_validating_is_slow(
    tiny_config: Path, monkeypatch: pytest.MonkeyPatch, share: float, validated: list[int]
) -> None:
    """A validation slower than many epochs (here: 0.5 s each) is repeated only when its share allows; the
    last epoch is always validated."""
    import markerless.training.loop as loop

    original = loop._Run._validate

    def slow(self, **kwargs):
        time.sleep(0.5)
        return original(self, **kwargs)

    monkeypatch.setattr(loop._Run, "_validate", slow)
    sh = create_training_dataset(tiny_config, shuffle=1, seed=0)
    tiny_recipe(tiny_config, eval_every_epochs=1, eval_time_share=share)
    train(tiny_config, 1, epochs=6)
    rows = _stats(sh)
    assert [int(r["epoch"]) for r in rows if r["test_error_px"]] == validated
