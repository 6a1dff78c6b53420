"""The public API and the command line mirror each other."""

from __future__ import annotations

import numpy as np
import pytest

import markerless
from markerless.cli import WORKFLOW, build_parser, main

# CLI command -> the API function it mirrors
MIRROR = {
    "create-project": "create_project",
    "import-labels": "import_labels",
    "import-sleap": "import_sleap",
    "add-videos": "add_videos",
    "extract-frames": "extract_frames",
    "label": "label",
    "check-labels": "check_labels",
    "create-training-dataset": "create_training_dataset",
    "train": "train",
    "evaluate": "evaluate",
    "analyze": "analyze",
    "filter": "filter_predictions",
    "smooth": "smooth_predictions",
    "create-labeled-video": "create_labeled_video",
    "plot-trajectories": "plot_trajectories",
    "stitch": "stitch_videos",
    "evaluate-tracking": "evaluate_tracking",
    "swap": "swap_in_prediction_file",
    "extract-outliers": "extract_outliers",
    "merge": "merge",
    "export": "export",
    "live": "live_stream",
    "export-sleap": "export_sleap",
    "calibrate": "calibrate",
    "triangulate": "triangulate",
    "create-project-3d": "create_project_3d",
    "synthetic": "make_synthetic_project",
    "demo": "demo",
}


@pytest.mark.parametrize("name", markerless.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(markerless, name) is not None


def test_every_command_is_registered_and_mirrored() -> None:
    parser = build_parser()
    registered = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(registered) == [name for name, _ in WORKFLOW], "a command group failed to register"
    for command in registered:
        assert callable(getattr(markerless, MIRROR[command])), command


def test_help_lists_commands_in_workflow_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    positions = [out.index(f"    {name}") for name, _ in WORKFLOW]
    assert positions == sorted(positions)


def test_triangulate_takes_arrays_as_well_as_projects() -> None:
    from markerless.threed.cameras import Camera, CameraGroup

    cams = CameraGroup(
        [
            Camera(
                name=f"cam{i}",
                size=(640, 480),
                matrix=np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]]),
                rotation=np.array([0.0, 0.3 * i, 0.0]),
                translation=np.array([-100.0 * i, 0.0, 1000.0]),
            )
            for i in range(3)
        ]
    )
    points = np.random.default_rng(0).normal(0, 50, size=(4, 5, 3))
    points2d = cams.project(points)
    recovered = markerless.triangulate(points2d, cams)
    np.testing.assert_allclose(recovered, points, atol=1e-6)
