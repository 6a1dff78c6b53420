"""``markerless train`` options: invalid numbers are refused up front, and only typed options reach the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from markerless.cli import main
from markerless.training import loop


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--epochs", "-2", "argument --epochs: must be an integer >= 1, got -2"),
        ("--epochs", "0", "argument --epochs: must be an integer >= 1, got 0"),
        ("--max-minutes", "-1", "argument --max-minutes: must be a number of minutes > 0, got -1"),
        ("--max-minutes", "0", "argument --max-minutes: must be a number of minutes > 0, got 0"),
        ("--max-minutes", "nan", "argument --max-minutes: must be a number of minutes > 0, got nan"),
        ("--batch-size", "0", "argument --batch-size: must be an integer >= 1, got 0"),
        ("--batch-size", "two", "argument --batch-size: must be an integer >= 1, got 'two'"),
    ],
)
def test_invalid_numbers_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(tmp_path), option, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"markerless train: error: {message}"


def test_only_typed_options_are_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[tuple, dict]] = []

    def fake_train(*args: object, **kwargs: object) -> Path:
        calls.append((args, kwargs))
        return tmp_path / "snapshot-best-001.pt"

    monkeypatch.setattr(loop, "train", fake_train)
    assert main(["train", str(tmp_path)]) == 0
    assert calls[-1] == ((str(tmp_path),), {})
    assert main(["train", str(tmp_path), "--shuffle", "2", "--epochs", "5", "--no-resume", "--device", "cpu"]) == 0
    assert calls[-1] == ((str(tmp_path),), {"shuffle": 2, "resume": False, "epochs": 5, "device": "cpu"})
    assert main(["train", str(tmp_path), "--max-minutes", "1.5", "--batch-size", "4", "--seed", "3"]) == 0
    assert calls[-1][1] == {"max_minutes": 1.5, "batch_size": 4, "seed": 3}
    assert capsys.readouterr().out.strip().endswith("snapshot-best-001.pt")
