"""The project commands of the command line: create-project, add-videos, extract-frames, check-labels, synthetic, demo."""

from __future__ import annotations

import inspect
import sys
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from markerless.cli import main
from markerless.model import Labels
from markerless.project.project import load_project
from markerless.synthetic.demo import DEMO_EPOCHS, demo


def make_video(path: Path, n_frames: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(n_frames):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_project_commands_in_workflow_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    positions = [out.index(name) for name in ("create-project", "add-videos", "extract-frames", "check-labels")]
    assert positions == sorted(positions)
    for name in ("synthetic", "demo"):
        assert name in out


def test_create_project_add_videos_and_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = make_video(tmp_path / "a.mp4"), make_video(tmp_path / "b.mp4")
    code, out, err = run(
        capsys,
        "create-project",
        "maze",
        "eve",
        str(first),
        "--working-directory",
        str(tmp_path),
        "--multi-animal",
        "--individuals",
        "m1",
        "m2",
        "--bodyparts",
        "nose",
        "tail",
        "--copy-videos",
    )
    assert code == 0, err
    config = Path(out.strip())
    assert config.is_file() and config.name == "config.yaml"
    assert not (config.parent / "videos" / "a.mp4").is_symlink()
    project = load_project(config)
    assert project.layout.individual_names == ("m1", "m2") and project.layout.bodyparts == ("nose", "tail")
    code, out, err = run(capsys, "add-videos", str(config), str(second))
    assert code == 0, err
    assert out.strip() == str(config.parent / "videos" / "b.mp4")
    assert [v.name for v in load_project(config).videos] == ["a.mp4", "b.mp4"]
    cfg = yaml.safe_load(config.read_text())
    assert list(cfg["video_sets"]) == ["videos/a.mp4", "videos/b.mp4"]


def test_errors_are_one_line_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "create-project", "t", "e", str(tmp_path / "missing.mp4"))
    assert code == 1 and "missing.mp4" in err and "Traceback" not in err
    code, _out, err = run(capsys, "check-labels", str(tmp_path / "nowhere"))
    assert code == 1 and "create-project" in err
    code, _out, err = run(capsys, "add-videos", str(tmp_path / "config.yaml"), str(tmp_path / "x.mp4"))
    assert code == 1 and "config.yaml" in err


def test_extract_frames_and_check_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = make_video(tmp_path / "v.mp4")
    code, out, err = run(
        capsys,
        "create-project",
        "t",
        "e",
        str(video),
        "--working-directory",
        str(tmp_path),
        "--bodyparts",
        "nose",
        "tail",
    )
    config = Path(out.strip())
    code, out, err = run(
        capsys,
        "extract-frames",
        str(config),
        "--algo",
        "uniform",
        "--num-frames",
        "3",
        "--start",
        "0",
        "--stop",
        "1",
        "--seed",
        "1",
    )
    assert code == 0, err
    project = load_project(config)
    images = sorted(p.name for p in project.labeled_data_dir("v").glob("*.png"))
    assert len(images) == 3
    labels = Labels.empty(project.layout, [f"labeled-data/v/{name}" for name in images], scorer="e")
    labels.xy[:, 0, 0] = (10.0, 20.0)
    project.save_labels(labels, "v")
    code, out, err = run(capsys, "check-labels", str(config), "--color-by", "individual")
    assert code == 0, err
    assert "3 labelled frames" in out
    assert sorted(p.name for p in (project.root / "labeled-data" / "v_labeled").glob("*.png")) == images


def test_extract_frames_rejects_bad_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["extract-frames", str(tmp_path / "config.yaml"), "--start", "1.5"])
    assert "between 0 and 1" in capsys.readouterr().err


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, function: str, result: Any) -> list[tuple]:
    """Stand in for another engineer's module; records the calls."""
    calls: list[tuple] = []

    def record(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return result

    module = types.ModuleType(name)
    setattr(module, function, record)
    monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_synthetic_passes_its_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_module(monkeypatch, "markerless.synthetic", "make_synthetic_project", tmp_path / "config.yaml")
    code, out, err = run(
        capsys,
        "synthetic",
        str(tmp_path / "s"),
        "--animals",
        "2",
        "--frames",
        "30",
        "--labelled",
        "5",
        "--size",
        "160x120",
        "--seed",
        "7",
    )
    assert code == 0, err
    assert out.strip() == str(tmp_path / "config.yaml")
    assert calls == [
        ((str(tmp_path / "s"),), {"n_animals": 2, "n_frames": 30, "n_labelled": 5, "size": (160, 120), "seed": 7})
    ]
    with pytest.raises(SystemExit):
        main(["synthetic", "x", "--size", "big"])
    assert "320x240" in capsys.readouterr().err


def test_demo_passes_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_module(monkeypatch, "markerless.synthetic.demo", "demo", {"config": tmp_path / "config.yaml"})
    code, out, err = run(capsys, "demo", "--output", str(tmp_path / "d"))
    assert code == 0, err
    assert calls == [((str(tmp_path / "d"),), {})]
    assert out.strip() == str(tmp_path / "config.yaml")
    run(capsys, "demo")
    assert calls[-1] == ((), {})
    run(capsys, "demo", "--epochs", "5", "--seed", "2", "--threads", "2")
    assert calls[-1] == ((), {"epochs": 5, "seed": 2, "threads": 2})


def test_demo_help_gives_the_api_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"(default {DEMO_EPOCHS}:" in out
    defaults = {k: v.default for k, v in inspect.signature(demo).parameters.items()}
    assert f"(default {defaults['seed']})" in out
    assert f"(default {defaults['threads']}:" in out
