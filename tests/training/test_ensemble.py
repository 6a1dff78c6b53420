"""Ensembles: members share the split and differ in seed, train in sequence, resume, and analyse into an EKS file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from markerless.cli import main
from markerless.errors import ProjectError
from markerless.io.dlc import read_config, read_predictions, write_config
from markerless.project.recipe import read_recipe
from markerless.project.shuffle import Shuffle
from markerless.training.dataset import create_training_dataset
from markerless.training.ensemble import analyze_ensemble, prepare_ensemble, train_ensemble
from tests.fixtures.projects import make_tiny_project, tiny_recipe
from tests.fixtures.videos import write_video


@pytest.fixture
def base(tiny_config: Path) -> Shuffle:
    sh = create_training_dataset(tiny_config, shuffle=1, seed=0)
    tiny_recipe(tiny_config, epochs=1, eval_every_epochs=0)
    return sh


def test_members_share_the_split_and_recipe_with_their_own_seed(tiny_config: Path, base: Shuffle) -> None:
    members = prepare_ensemble(tiny_config, 1, 3)
    assert [m.index for m in members] == [1, 2, 3]
    seeds = [read_recipe(m.recipe_file).seed for m in members]
    assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2]
    assert all(sorted(m.train_images()) == sorted(base.train_images()) for m in members)
    assert read_recipe(members[2].recipe_file).with_overrides(seed=seeds[0]) == read_recipe(base.recipe_file)
    create_training_dataset(tiny_config, shuffle=5, seed=7)  # another split
    with pytest.raises(ProjectError, match="another split"):
        prepare_ensemble(tiny_config, 1, 5)
    with pytest.raises(ProjectError, match="does not exist"):
        prepare_ensemble(tiny_config, 9, 2)


def test_multi_animal_ensembles_are_not_smoothed(tmp_path: Path) -> None:
    config = make_tiny_project(tmp_path, multi_animal=True)
    with pytest.raises(ProjectError, match="multi-animal"):
        analyze_ensemble(config, [tmp_path / "v.avi"], 1, 2)


@pytest.mark.slow
def test_ensemble_trains_resumes_and_analyses_into_an_eks_file(
    tiny_config: Path, base: Shuffle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = train_ensemble(tiny_config, 1, 2, epochs=1)
    assert [p.parent for p in first] == [Shuffle(tiny_config, k).train_dir for k in (1, 2)]
    done = first[0].stat().st_mtime_ns
    for path in Shuffle(tiny_config, 2).snapshots():  # member 2 interrupted before its first snapshot
        path.unlink()
    again = train_ensemble(tiny_config, 1, 2, epochs=1)
    assert again[0] == first[0] and first[0].stat().st_mtime_ns == done  # member 1 not trained again
    assert again[1].is_file()

    video = write_video(tmp_path / "clip.avi", n_frames=10, size=(96, 80))
    config = read_config(tiny_config)
    write_config({**config, "pcutoff": 1e-4}, tiny_config)  # members of one epoch are sure of nothing
    capsys.readouterr()
    assert (
        main(["analyze", str(tiny_config), str(video), "--ensemble", "2", "--backend", "torch", "--device", "cpu"]) == 0
    )
    captured = capsys.readouterr()
    paths = [Path(line) for line in captured.out.split()]
    assert len(paths) == 3 and all(p.is_file() for p in paths)
    assert "shuffle1" in paths[0].name and "shuffle2" in paths[1].name and paths[2].name.endswith("_eks.h5")
    assert paths[2].name.startswith(paths[0].stem)
    eks = read_predictions(paths[2]).data
    assert eks.shape == (10, 1, 4, 3)
    # points under the project's pcutoff are not observations: a body part no member is ever sure of stays
    # NaN, the others are bridged over every frame
    sure = np.stack([read_predictions(p).data[..., 2] >= 1e-4 for p in paths[:2]]).any(axis=(0, 1))
    assert sure.any()
    np.testing.assert_array_equal(np.isfinite(eks[..., :2]).all(axis=(0, 3)), sure)
    assert captured.err.count("plausibility: ") == 3
    report = json.loads(paths[2].with_name(paths[2].stem + "_plausibility.json").read_text())
    assert 0.0 <= report["jump_fraction"] <= 1.0 and report["frames"] == 10

    other = write_video(tmp_path / "other.avi", n_frames=6, size=(96, 80))
    assert main(["evaluate", str(tiny_config), "--shuffle", "2", "--device", "cpu", "--video", str(other)]) == 0
    captured = capsys.readouterr()
    result = Path(next(line for line in captured.out.splitlines() if "otherDLC_" in line))
    assert result.name.startswith("otherDLC_") and "shuffle2" in result.name and result.is_file()
    assert f"plausibility: {result.name}: jumps > 20 px" in captured.err
