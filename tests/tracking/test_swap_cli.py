"""markerless swap: exchange two animals in a prediction file, undo, redo, list suspicious frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerless.cli import main
from tests.app.conftest import make_tiny_project
from tests.fixtures.tracks import write_crossing_predictions


@pytest.fixture
def project_and_file(tmp_path: Path) -> tuple[Path, Path]:
    config = make_tiny_project(tmp_path, multi_animal=True)
    return config, write_crossing_predictions(config, n_frames=40)


def test_swap_undo_redo_on_the_command_line(project_and_file: tuple[Path, Path], capsys) -> None:
    config, path = project_and_file
    before = pd.read_hdf(path)
    args = ["swap", str(config), str(path)]
    assert main([*args, "--suspicious"]) == 0
    out = capsys.readouterr().out
    assert "\tclose\t" in out and "applied" not in out
    assert main([*args, "--individuals", "mouse1", "mouse2", "--start", "10", "--stop", "20"]) == 0
    assert capsys.readouterr().out.strip() == "applied: mouse1 <-> mouse2 frames 10 to 19"
    after = pd.read_hdf(path)
    changed = ~np.all((after.to_numpy() == before.to_numpy()) | (np.isnan(after) & np.isnan(before)).to_numpy(), axis=1)
    assert np.flatnonzero(changed).tolist() == list(range(10, 20))
    assert main([*args, "--undo"]) == 0
    assert capsys.readouterr().out.strip() == "undone: mouse1 <-> mouse2 frames 10 to 19"
    assert np.array_equal(pd.read_hdf(path).to_numpy(), before.to_numpy(), equal_nan=True)
    assert main([*args, "--redo"]) == 0
    assert np.array_equal(pd.read_hdf(path).to_numpy(), after.to_numpy(), equal_nan=True)
    capsys.readouterr()


def test_swap_refusals(project_and_file: tuple[Path, Path], capsys) -> None:
    config, path = project_and_file
    before = path.read_bytes()
    args = ["swap", str(config), str(path)]
    assert main([*args, "--undo"]) == 1
    assert "no swap to undo" in capsys.readouterr().err
    assert main([*args, "--individuals", "mouse1", "mouse2"]) == 2
    assert "--start" in capsys.readouterr().err
    assert main([*args, "--individuals", "mouse1", "rat", "--start", "3"]) == 1
    assert "no animal 'rat'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        main([*args, "--undo", "--redo"])
    assert err.value.code == 2
    assert path.read_bytes() == before


def test_the_swapped_file_is_read_by_other_commands(project_and_file: tuple[Path, Path], capsys) -> None:
    config, path = project_and_file
    video = config.parent / "videos" / "mouse1.avi"
    assert main(["swap", str(config), str(path), "--individuals", "mouse2", "mouse1", "--start", "20"]) == 0
    assert main(["filter", str(config), str(video)]) == 0
    filtered = path.with_name(path.stem + "_filtered.h5")
    assert filtered.is_file()
    assert main(["plot-trajectories", str(config), str(video)]) == 0
    capsys.readouterr()
    # the filtered file predates the next swap: the command warns that it is stale
    with pytest.warns(UserWarning, match="_filtered.h5 was made before this swap and is now stale"):
        assert main(["swap", str(config), str(path), "--undo"]) == 0
