"""import-labels: a project from a DeepLabCut-style CollectedData.csv with its images and videos (no config.yaml)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from markerless.cli import main
from markerless.errors import LabelFileError, ProjectError
from markerless.io.video import VideoWriter
from markerless.project.import_labels import import_labels
from markerless.project.project import load_project
from markerless.training.dataset import create_training_dataset

PARTS = ["nose_top", "tail_top", "nose_bot", "tail_bot"]
MIRROR = Path(__file__).resolve().parents[3] / "shared" / "data" / "lightning-pose-mirror-mouse"


def make_dataset(root: Path, n: int = 6) -> tuple[Path, np.ndarray]:
    """A Lightning Pose style folder: CollectedData.csv, labeled-data/imgNN.png, videos/clip.avi."""
    rng = np.random.default_rng(0)
    (root / "labeled-data").mkdir(parents=True)
    (root / "videos").mkdir()
    with VideoWriter(root / "videos" / "clip.avi", fps=10, size=(64, 48), codec="MJPG") as writer:
        for _ in range(5):
            writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    xy = rng.uniform(5, 40, (n, len(PARTS), 2))
    xy[1, 2] = np.nan  # unlabelled points stay unlabelled
    rows = [f"labeled-data/img{i:02d}.png" for i in range(n)]
    for row in rows:
        cv2.imwrite(str(root / row), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    columns = pd.MultiIndex.from_product([["rick"], PARTS, ["x", "y"]], names=["scorer", "bodyparts", "coords"])
    pd.DataFrame(xy.reshape(n, -1), index=rows, columns=columns).to_csv(root / "CollectedData.csv")
    return root / "CollectedData.csv", xy


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def test_import_makes_a_project_whose_labels_and_images_match_the_source(tmp_path: Path, capsys) -> None:
    csv, xy = make_dataset(tmp_path / "mirror-set")
    before = digest(csv.parent)
    assert main(["import-labels", str(csv), "--working-directory", str(tmp_path / "out")]) == 0
    config = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert config.name == "config.yaml" and config.is_file()
    project = load_project(config)
    assert list(project.layout.keypoint_names) == PARTS and project.scorer == "rick"
    labels = project.load_labels()
    assert labels.images == [f"labeled-data/mirror-set/img{i:02d}.png" for i in range(len(xy))]
    np.testing.assert_allclose(labels.xy[:, 0], xy, equal_nan=True)
    for image in labels.images:
        assert (project.root / image).read_bytes() == (csv.parent / "labeled-data" / Path(image).name).read_bytes()
    assert [v.name for v in project.videos] == ["clip.avi"]
    assert digest(csv.parent) == before  # the source is only read
    sh = create_training_dataset(config, shuffle=1, seed=0)
    assert len(sh.train_images()) + len(sh.test_images()) == len(xy)


def test_missing_image_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    csv, _ = make_dataset(tmp_path / "set")
    (csv.parent / "labeled-data" / "img03.png").unlink()
    with pytest.raises(LabelFileError, match=r"img03\.png"):
        import_labels(csv, working_directory=tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_importing_twice_refuses_to_overwrite_the_project(tmp_path: Path) -> None:
    csv, _ = make_dataset(tmp_path / "set")
    config = import_labels(csv, working_directory=tmp_path / "out")
    before = digest(config.parent)
    with pytest.raises(ProjectError, match="already exists"):
        import_labels(csv, working_directory=tmp_path / "out")
    assert digest(config.parent) == before


def test_a_missing_video_folder_names_the_fix(tmp_path: Path) -> None:
    csv, _ = make_dataset(tmp_path / "set")
    with pytest.raises(ProjectError, match="--videos"):
        import_labels(csv, videos=tmp_path / "nowhere", working_directory=tmp_path / "out")


@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"the shared mirror-mouse data is not at {MIRROR}")
def test_the_lightning_pose_mirror_mouse_set_imports(tmp_path: Path) -> None:
    config = import_labels(MIRROR / "CollectedData.csv", working_directory=tmp_path, folder="mirror")
    labels = load_project(config).load_labels()
    assert len(labels) == 90 and labels.xy.shape[2] == 17
    assert 0.05 < np.isnan(labels.xy).any(axis=-1).mean() < 0.15  # the set's missing labels (8.8 %) kept as NaN
