"""``markerless create-training-dataset``, ``train`` and ``evaluate`` end to end on a tiny project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from markerless.cli import main
from tests.fixtures.projects import make_tiny_project, tiny_recipe


@pytest.mark.slow
def test_cli_dataset_train_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_tiny_project(tmp_path)
    assert (
        main(["create-training-dataset", str(config), "--shuffle", "2", "--train-fraction", "0.75", "--seed", "3"]) == 0
    )
    out = capsys.readouterr().out
    assert "9 train, 3 test images" in out
    assert out.strip().splitlines()[-1].endswith("tinyNov24-trainset75shuffle2")
    tiny_recipe(config, shuffle=2)
    assert main(["train", str(config), "--shuffle", "2", "--epochs", "2", "--device", "cpu", "--seed", "1"]) == 0
    final = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert final.exists() and final.name == "snapshot-002.pt"
    assert main(["evaluate", str(config), "--shuffle", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    folder = Path(lines[-1])
    assert folder.name == "tinyNov24-trainset75shuffle2" and folder.is_dir()
    results = json.loads((folder / "results.json").read_text())
    assert results["n_train"] == 9 and results["n_test"] == 3
    assert any(line.startswith("test error:") for line in lines)


def test_cli_errors_are_friendly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_tiny_project(tmp_path, n_per_video=2)
    assert main(["train", str(config), "--shuffle", "5"]) == 1
    assert "create-training-dataset" in capsys.readouterr().err
    assert main(["create-training-dataset", str(config), "--leave-out-video", "zzz"]) == 1
    assert "zzz" in capsys.readouterr().err
