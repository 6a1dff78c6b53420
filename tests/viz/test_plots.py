"""Tests of markerless.viz.plots: the four DeepLabCut-style plots per video (and per individual)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markerless.errors import ProjectError
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout, Skeleton
from markerless.viz.plots import plot_poses, plot_trajectories

SCORER = "DLC_Tiny_tinyNov24shuffle1_snapshot_5"


def _poses(n: int = 200) -> Poses:
    layout = PoseLayout.single_animal(["snout", "leftear", "rightear", "tailbase"])
    t = np.arange(n)[:, None]
    rng = np.random.default_rng(0)
    x = 320 + 150 * np.sin(t / 30) + np.array([0, -10, 10, 0]) + rng.normal(0, 1, (n, 4))
    y = 240 + 100 * np.cos(t / 30) + np.array([-20, -10, -10, 30]) + rng.normal(0, 1, (n, 4))
    like = np.clip(0.95 - 0.6 * (rng.random((n, 4)) < 0.05), 0, 1)
    return Poses(np.stack([x, y, like], axis=-1)[:, None], layout, scorer=SCORER, fps=30.0)


def _png_ok(path: Path) -> None:
    import cv2

    assert path.is_file()
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 200 and image.shape[1] > 300
    assert image.std() > 5  # not blank


def test_plot_poses_writes_four_pngs(tmp_path) -> None:
    paths = plot_poses(_poses(), tmp_path, pcutoff=0.6, frame_size=(640, 480))
    assert [p.name for p in paths] == ["trajectory.png", "plot.png", "plot-likelihood.png", "hist.png"]
    for path in paths:
        _png_ok(path)


def test_plot_poses_survives_missing_and_low_likelihood(tmp_path) -> None:
    poses = _poses(30)
    poses.data[:, 0, 1, :2] = np.nan
    poses.data[:, 0, 2, 2] = 0.0  # never above the cutoff
    for path in plot_poses(poses, tmp_path, suffix="_filtered"):
        assert path.stem.endswith("_filtered")
        _png_ok(path)
    empty = Poses.empty(5, poses.layout)
    assert len(plot_poses(empty, tmp_path / "empty")) == 4


def test_plot_trajectories_in_a_project(tmp_path) -> None:
    from markerless.io.dlc import write_config, write_predictions

    root = tmp_path / "proj"
    (root / "videos").mkdir(parents=True)
    video = root / "videos" / "clip.mp4"
    video.touch()  # the plots only need the predictions; an unreadable video just frames nothing
    write_config(
        {
            "Task": "Tiny",
            "scorer": "tester",
            "date": "Nov24",
            "project_path": str(root),
            "bodyparts": ["snout", "leftear", "rightear", "tailbase"],
            "pcutoff": 0.6,
            "colormap": "viridis",
            "iteration": 0,
        },
        root / "config.yaml",
    )
    write_predictions(_poses(), root / "videos" / f"clip{SCORER}.h5")
    paths = plot_trajectories(root / "config.yaml", [video])
    folder = root / "videos" / "plot-poses" / "clip"
    assert sorted(paths) == sorted(folder / f"{n}.png" for n in ("trajectory", "plot", "plot-likelihood", "hist"))
    with pytest.raises(ProjectError):
        plot_trajectories(root / "config.yaml", [video], filtered=True)


def test_multi_animal_gets_one_set_per_individual(tmp_path) -> None:
    layout = PoseLayout(Skeleton.from_names(["head", "tail"]), ("m1", "m2"), ("led",), multi_animal=True)
    rng = np.random.default_rng(1)
    data = np.concatenate([rng.uniform(0, 100, (40, 3, 3, 2)), np.full((40, 3, 3, 1), 0.9)], axis=-1)
    data[:, ~layout.valid] = np.nan
    poses = Poses(data, layout)
    for i, name in enumerate(layout.individual_names):
        paths = plot_poses(poses, tmp_path, suffix=name, individual=i)
        assert all(p.stem.endswith(name) for p in paths)
    assert len(list(tmp_path.glob("*.png"))) == 12


def test_plot_poses_says_when_nothing_passes_the_cutoff(tmp_path, caplog) -> None:
    poses = _poses(30)
    poses.data[..., 2] = 0.1  # an undertrained model: every likelihood under the cut-off
    with caplog.at_level("WARNING", logger="markerless.viz.plots"):
        plot_poses(poses, tmp_path, pcutoff=0.6)
    assert "no point has likelihood >= 0.6" in caplog.text
    confident = _poses(30)
    caplog.clear()
    with caplog.at_level("WARNING", logger="markerless.viz.plots"):
        plot_poses(confident, tmp_path / "ok", pcutoff=0.6)
    assert "no point has likelihood" not in caplog.text


def _project_with_pcutoff(root: Path, pcutoff: object) -> tuple[Path, Path]:
    from markerless.io.dlc import write_config, write_predictions

    (root / "videos").mkdir(parents=True)
    video = root / "videos" / "clip.mp4"
    video.touch()
    config = {"Task": "Tiny", "scorer": "tester", "date": "Nov24", "project_path": str(root), "bodyparts": ["a"]}
    if pcutoff is not None:
        config["pcutoff"] = pcutoff
    write_config(config, root / "config.yaml")
    layout = PoseLayout.single_animal(["a"])
    write_predictions(Poses(np.full((5, 1, 1, 3), 0.5), layout, scorer=SCORER), root / "videos" / f"clip{SCORER}.h5")
    return root / "config.yaml", video


@pytest.mark.parametrize(("in_config", "used"), [(0.25, 0.25), (None, 0.6)])
def test_pcutoff_comes_from_the_project(tmp_path, monkeypatch, in_config, used) -> None:
    """None means the project's ``pcutoff`` (DeepLabCut's 0.6 when config.yaml has none); a typed one wins."""
    import markerless.viz.plots as plots
    from markerless.project.project import DEFAULT_PCUTOFF

    seen: list[float] = []
    monkeypatch.setattr(plots, "plot_poses", lambda *a, pcutoff, **k: seen.append(pcutoff) or [])
    config, video = _project_with_pcutoff(tmp_path, in_config)
    plots.plot_trajectories(config, [video])
    plots.plot_trajectories(config, [video], pcutoff=0.9)
    assert seen == [used, 0.9] and DEFAULT_PCUTOFF == 0.6


def test_a_bad_pcutoff_in_the_config_names_the_file(tmp_path) -> None:
    from markerless.errors import ConfigError

    config, video = _project_with_pcutoff(tmp_path, "high")
    with pytest.raises(ConfigError, match=r"config\.yaml.*pcutoff"):
        plot_trajectories(config, [video])
