"""End to end: `markerless filter`, `create-labeled-video`, `plot-trajectories` on a tiny project."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from markerless.cli import main
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout

W, H, N = 64, 48, 30
SCORER = "DLC_Tiny_tinyNov24shuffle1_snapshot_5"
PARTS = ["nose", "tail"]


def _tiny_project(root: Path) -> tuple[Path, Path, Poses]:
    """A project with one grey video and a noisy prediction file beside it: (config, video, poses)."""
    from markerless.io.dlc import write_config, write_predictions
    from markerless.io.video import VideoWriter

    (root / "videos").mkdir(parents=True)
    video = root / "videos" / "clip.mp4"
    with VideoWriter(video, 15.0, (W, H)) as writer:
        writer.write_batch(np.full((N, H, W, 3), 100, dtype=np.uint8))
    write_config(
        {
            "Task": "Tiny",
            "scorer": "tester",
            "date": "Nov24",
            "project_path": str(root),
            "bodyparts": PARTS,
            "skeleton": [PARTS],
            "pcutoff": 0.5,
            "dotsize": 6,
            "iteration": 0,
        },
        root / "config.yaml",
    )
    rng = np.random.default_rng(0)
    t = np.arange(N)[:, None]
    xy = np.stack([10 + t + np.array([0, 20]), 20 + 0 * t + np.array([0, 5])], axis=-1) + rng.normal(0, 1, (N, 2, 2))
    like = np.full((N, 2, 1), 0.9)
    like[5:8, 0] = 0.0  # a short dropout of the nose
    poses = Poses(
        np.concatenate([xy, like], axis=-1)[:, None], PoseLayout.single_animal(PARTS), scorer=SCORER, fps=15.0
    )
    write_predictions(poses, root / "videos" / f"clip{SCORER}.h5")
    return root / "config.yaml", video, poses


def test_filter_labeled_video_and_plots_end_to_end(tmp_path, capsys) -> None:
    from markerless.io.dlc import read_predictions
    from markerless.io.nwb import read_nwb

    config, video, poses = _tiny_project(tmp_path / "proj")
    assert (
        main(
            [
                "filter",
                str(config),
                str(video),
                "--method",
                "kalman",
                "--max-gap",
                "5",
                "--p-bound",
                "0.1",
                "--save-as-csv",
                "--nwb",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.split()
    filtered = video.parent / f"clip{SCORER}_filtered.h5"
    assert printed == [str(filtered), str(filtered.with_suffix(".nwb"))]
    assert filtered.with_suffix(".csv").is_file()
    out = read_predictions(filtered)
    assert out.layout.keypoint_names == poses.layout.keypoint_names and len(out) == N
    assert np.isfinite(out.data[5:8, 0, 0, :2]).all()  # gap filled
    np.testing.assert_allclose(read_nwb(filtered.with_suffix(".nwb")).data, out.data, rtol=1e-6)

    assert main(["create-labeled-video", str(config), str(video.parent), "--filtered", "--trail", "5"]) == 0
    labeled = Path(capsys.readouterr().out.strip())
    assert labeled == video.parent / f"clip{SCORER}_filtered_labeled.mp4"
    from markerless.io.video import video_info

    info = video_info(labeled)
    assert (info.n_frames, info.width, info.height) == (N, W, H)

    assert main(["plot-trajectories", str(config), str(video)]) == 0
    plots = [Path(p) for p in capsys.readouterr().out.split()]
    assert {p.name for p in plots} == {"trajectory.png", "plot.png", "plot-likelihood.png", "hist.png"}
    assert all(p.is_file() and p.parent == video.parent / "plot-poses" / "clip" for p in plots)


def test_user_errors_are_reported_not_raised(tmp_path, capsys) -> None:
    config, video, _ = _tiny_project(tmp_path / "proj")
    assert main(["create-labeled-video", str(config), str(video), "--filtered"]) == 1
    assert "markerless filter" in capsys.readouterr().err
    assert main(["filter", str(config), str(video), "--window", "4"]) == 1
    assert "odd" in capsys.readouterr().err
    assert main(["plot-trajectories", str(tmp_path / "nowhere.yaml"), str(video)]) == 1
    assert "config" in capsys.readouterr().err.lower()
    with pytest.raises(SystemExit):
        main(["filter", str(config), str(video), "--p-bound", "2"])
