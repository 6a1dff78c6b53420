"""check-labels and the drawing helpers it shares with labelled videos and the app."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from markerless.errors import ConfigError, ProjectError
from markerless.io.dlc import write_config
from markerless.labelling.check_labels import check_labels
from markerless.model import Labels, PoseLayout, Skeleton
from markerless.project.project import load_project
from markerless.viz.draw import colormap_colors, draw_poses, named_color, pose_colors
from tests.fixtures.data import shared_path

LAYOUT = PoseLayout(
    Skeleton.from_names(["nose", "tail"], [("nose", "tail")]), ("m1", "m2"), ("corner",), multi_animal=True
)


def gray(h: int = 60, w: int = 80) -> np.ndarray:
    return np.full((h, w, 3), 128, np.uint8)


def test_colours() -> None:
    assert named_color("black") == (0, 0, 0)
    assert named_color("#ff8000") == (255, 128, 0)
    assert named_color((1, 2, 3)) == (1, 2, 3)
    with pytest.raises(ConfigError, match="colour"):
        named_color("not-a-colour")
    colors = colormap_colors(5, "jet")
    assert colors.shape == (5, 3) and colors.dtype == np.uint8 and len({tuple(c) for c in colors}) == 5
    with pytest.raises(ConfigError, match="colormap"):
        colormap_colors(3, "nope")
    by_part = pose_colors(LAYOUT, "rainbow")
    assert by_part.shape == (3, 3, 3)
    assert (by_part[0] == by_part[1]).all() and not (by_part[0, 0] == by_part[0, 1]).all()
    by_animal = pose_colors(LAYOUT, "rainbow", by="individual")
    assert (by_animal[:, 0] == by_animal[:, 1]).all() and not (by_animal[0, 0] == by_animal[1, 0]).all()


def test_draw_poses_dots_lines_hidden_and_hollow() -> None:
    xy = np.full((3, 3, 2), np.nan)
    xy[0, 0], xy[0, 1] = (10, 10), (50, 10)  # m1 nose, tail: a skeleton line between them
    xy[1, 0] = (10, 40)  # m2 nose, hidden below
    xy[1, 1] = (40, 40)  # m2 tail, hollow
    xy[2, 2] = (70, 50)  # unique corner
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    visible = np.ones((3, 3), bool)
    visible[1, 0] = False
    hollow = np.zeros((3, 3), bool)
    hollow[1, 1] = True
    image = gray()
    out = draw_poses(
        image, xy, LAYOUT, visible=visible, colors=colors, dot_size=8, hollow=hollow, skeleton_color="black"
    )
    assert (image == 128).all()  # drawn on a copy
    assert tuple(out[10, 10]) == (255, 0, 0) and tuple(out[10, 50]) == (0, 255, 0)
    assert out[10, 30].max() < 40  # skeleton line (anti-aliased)
    assert tuple(out[40, 10]) == (128, 128, 128)  # hidden point
    assert tuple(out[40, 40]) == (128, 128, 128)  # ring: hollow centre
    assert out[40, 44, 1] > 200 and out[40, 44, 0] < 60  # on the ring
    assert tuple(out[50, 70]) == (0, 0, 255)
    assert tuple(out[40, 25]) == (128, 128, 128)  # no line to a hidden point
    faint = draw_poses(image, xy, LAYOUT, colors=colors, alpha=0.5, skeleton=False)
    assert tuple(faint[10, 10]) == (192, 64, 64) and tuple(faint[10, 30]) == (128, 128, 128)
    in_place = gray()
    draw_poses(in_place, xy, LAYOUT, colors=colors, copy=False)
    assert tuple(in_place[10, 10]) == (255, 0, 0)


def test_draw_poses_sub_pixel_positions() -> None:
    layout = PoseLayout.single_animal(["a"])
    left = draw_poses(np.zeros((20, 20, 3), np.uint8), np.array([[[9.75, 10.0]]]), layout, dot_size=3)
    right = draw_poses(np.zeros((20, 20, 3), np.uint8), np.array([[[10.25, 10.0]]]), layout, dot_size=3)
    assert left[10, 8].sum() > right[10, 8].sum() and left[10, 12].sum() < right[10, 12].sum()


def make_project(root: Path, multi: bool) -> Path:
    """A project with two labelled images in one folder (no video needed)."""
    cfg: dict[str, object] = {
        "Task": "t",
        "scorer": "s",
        "date": "Jan1",
        "video_sets": {},
        "skeleton": [["nose", "tail"]],
        "colormap": "rainbow",
        "dotsize": 12,
        "skeleton_color": "white",
    }
    if multi:
        cfg.update(
            multianimalproject=True,
            bodyparts="MULTI!",
            individuals=["m1", "m2"],
            multianimalbodyparts=["nose", "tail"],
            uniquebodyparts=["corner"],
        )
    else:
        cfg.update(multianimalproject=False, bodyparts=["nose", "tail"])
    write_config(cfg, root / "config.yaml")
    project = load_project(root)
    folder = project.labeled_data_dir("vid")
    folder.mkdir(parents=True)
    images = ["labeled-data/vid/img00.png", "labeled-data/vid/img07.png"]
    for name in images:
        cv2.imwrite(str(root / name), np.full((60, 80, 3), 100, np.uint8))
    xy = np.full((2, *project.layout.shape, 2), np.nan)
    xy[:, 0, 0] = (20, 30)
    xy[:, 0, 1] = (60, 30)
    occluded = np.zeros((2, *project.layout.shape), bool)
    occluded[1, 0, 1] = True
    project.save_labels(Labels(project.layout, images, xy, occluded, "s"), "vid")
    return root / "config.yaml"


@pytest.mark.parametrize("multi", [False, True])
def test_check_labels_draws_every_labelled_frame(tmp_path: Path, multi: bool) -> None:
    config = make_project(tmp_path, multi)
    written = check_labels(config)
    folder = tmp_path / "labeled-data" / "vid_labeled"
    assert written == [folder / "img00.png", folder / "img07.png"]
    first, second = (cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in written)
    colors = pose_colors(load_project(config).layout, "rainbow")
    assert tuple(first[30, 20]) == tuple(colors[0, 0]) and tuple(first[30, 60]) == tuple(colors[0, 1])
    assert first[30, 40].min() > 220  # skeleton in skeleton_color (anti-aliased)
    assert tuple(first[33, 62]) == tuple(colors[0, 1])
    assert tuple(second[33, 62]) == (100, 100, 100)  # occluded: hollow
    assert load_project(config).video_folders() == ["vid"]  # the output folder is not a video folder
    check_labels(config, draw_skeleton=False)
    assert tuple(cv2.imread(str(written[0]))[30, 40]) == (100, 100, 100)


def test_check_labels_without_labels(tmp_path: Path) -> None:
    write_config({"Task": "t", "scorer": "s", "date": "Jan1", "bodyparts": ["a"]}, tmp_path / "config.yaml")
    with pytest.raises(ProjectError, match="label frames first"):
        check_labels(tmp_path / "config.yaml")


def test_missing_images_are_skipped_with_a_warning(tmp_path: Path) -> None:
    config = make_project(tmp_path, False)
    (tmp_path / "labeled-data" / "vid" / "img07.png").unlink()
    with pytest.warns(UserWarning, match="img07"):
        written = check_labels(config)
    assert [p.name for p in written] == ["img00.png"]


def test_check_labels_on_openfield(tmp_path: Path) -> None:
    root = tmp_path / "openfield"
    shutil.copytree(shared_path("openfield-Pranav-2018-10-30"), root)
    written = check_labels(root / "config.yaml")
    assert len(written) == 116
    pngs = sorted((root / "labeled-data" / "m4s1_labeled").glob("*.png"))
    assert [p.name for p in pngs] == sorted(p.name for p in (root / "labeled-data" / "m4s1").glob("*.png"))
    image = cv2.imread(str(pngs[0]))
    assert image.shape == (480, 640, 3)
