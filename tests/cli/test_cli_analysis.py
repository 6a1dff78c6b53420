"""``markerless analyze`` / ``export`` end to end on a tiny real project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from markerless.cli import main
from markerless.io.dlc import read_predictions
from tests.fixtures.projects import make_tiny_project
from tests.fixtures.videos import write_video


@pytest.fixture
def trained_config(tmp_path: Path) -> Path:
    """A tiny project whose shuffle 1 has a snapshot (random weights: this tests the plumbing)."""
    from markerless.nets import create_model, save_checkpoint
    from markerless.training.dataset import create_training_dataset

    config = make_tiny_project(tmp_path)
    shuffle = create_training_dataset(config, shuffle=1)
    torch.manual_seed(0)
    save_checkpoint(shuffle.train_dir / "snapshot-003.pt", create_model("mobilenetv2", 4, pretrained=False))
    return config


def test_analyze_and_export_from_the_command_line(trained_config, tmp_path, capsys):
    video = write_video(tmp_path / "clip.avi", n_frames=12)
    assert (
        main(
            [
                "analyze",
                str(trained_config),
                str(video),
                "--backend",
                "onnxruntime",
                "--batch-size",
                "5",
                "--dest",
                str(tmp_path / "out"),
                "--save-as-csv",
            ]
        )
        == 0
    )
    out = Path(capsys.readouterr().out.strip())
    assert out == tmp_path / "out" / "clipDLC_Mobilenetv2_tinyNov24shuffle1_snapshot_3.h5"
    poses = read_predictions(out)
    assert poses.data.shape == (12, 1, 4, 3) and np.isfinite(poses.data).all()
    assert out.with_suffix(".csv").exists()

    assert main(["export", str(trained_config), "--format", "openvino", "--frame-size", "96", "64"]) == 0
    xml = Path(capsys.readouterr().out.strip())
    assert xml.suffix == ".xml" and xml.with_suffix(".bin").exists()
    assert xml.parent.parent.name == "exported-models-pytorch"
    assert xml.parent.name == "DLC_tiny_mobilenetv2_iteration-0_shuffle-1"


def test_errors_are_reported_with_what_to_do(trained_config, tmp_path, capsys):
    assert main(["analyze", str(trained_config), str(tmp_path / "missing.mp4")]) == 1
    assert "does not exist" in capsys.readouterr().err
    untrained = make_tiny_project(tmp_path / "other")
    video = write_video(tmp_path / "clip.avi", n_frames=3)
    assert main(["analyze", str(untrained), str(video), "--backend", "torch"]) == 1
    assert "create-training-dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analyze", str(trained_config), str(video), "--backend", "tensorrt"])
