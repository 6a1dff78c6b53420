"""Projects: creating, adding videos, opening DeepLabCut projects, labels per folder, moving."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from markerless.errors import ConfigError, LabelFileError, ProjectError, VideoError
from markerless.io.dlc import read_labels, write_config, write_labels
from markerless.model import Labels, PoseLayout
from markerless.project.project import Project, add_videos, create_project, load_project
from tests.fixtures.data import shared_path


def make_video(path: Path, n_frames: int = 6, size: tuple[int, int] = (64, 48)) -> Path:
    """A tiny mp4 whose frames get brighter."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(n_frames):
        writer.write(np.full((size[1], size[0], 3), 20 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture
def videos(tmp_path: Path) -> list[Path]:
    return [make_video(tmp_path / "raw" / "mouse1.mp4"), make_video(tmp_path / "raw" / "mouse2.avi", size=(80, 60))]


def test_create_project_writes_deeplabcut_layout(tmp_path: Path, videos: list[Path]) -> None:
    config = create_project("reach", "alice", videos[:1], working_directory=tmp_path / "work")
    root = config.parent
    assert config.name == "config.yaml" and root.parent == tmp_path / "work"
    assert root.name.startswith("reach-alice-20")
    for folder in ("videos", "labeled-data/mouse1", "training-datasets", "dlc-models-pytorch"):
        assert (root / folder).is_dir(), folder
    assert (root / "videos" / "mouse1.mp4").is_symlink()
    cfg = yaml.safe_load(config.read_text())
    assert list(cfg)[:6] == ["config_version", "Task", "scorer", "date", "multianimalproject", "identity"]
    assert cfg["Task"] == "reach" and cfg["scorer"] == "alice" and cfg["multianimalproject"] is False
    assert cfg["video_sets"] == {"videos/mouse1.mp4": {"crop": "0, 64, 0, 48"}}
    assert cfg["bodyparts"] == ["bodypart1", "bodypart2", "bodypart3", "objectA"]
    for key, value in {
        "TrainingFraction": [0.95],
        "numframes2pick": 20,
        "pcutoff": 0.6,
        "snapshotindex": -1,
        "batch_size": 8,
        "default_net_type": "resnet_50",
        "engine": "pytorch",
        "iteration": 0,
    }.items():
        assert cfg[key] == value, key
    project = load_project(config)
    assert project.videos == [root / "videos" / "mouse1.mp4"]
    assert project.video_folders() == ["mouse1"]
    assert project.layout.keypoint_names == ("bodypart1", "bodypart2", "bodypart3", "objectA")
    assert project.scorer == "alice" and project.task == "reach" and project.iteration == 0
    assert len(project.load_labels()) == 0


def test_create_multi_animal_project(tmp_path: Path, videos: list[Path]) -> None:
    config = create_project(
        "tri",
        "bob",
        videos,
        working_directory=tmp_path,
        multi_animal=True,
        individuals=["m1", "m2"],
        bodyparts=["nose", "ear", "tail"],
        copy_videos=True,
    )
    cfg = yaml.safe_load(config.read_text())
    assert cfg["bodyparts"] == "MULTI!" and cfg["multianimalproject"] is True
    assert cfg["individuals"] == ["m1", "m2"] and cfg["multianimalbodyparts"] == ["nose", "ear", "tail"]
    assert cfg["default_track_method"] == "ellipse"
    layout = Project.load(config.parent).layout
    assert layout.multi_animal and layout.individual_names == ("m1", "m2")
    assert len(layout.skeleton.edges) == 3
    assert not (config.parent / "videos" / "mouse1.mp4").is_symlink()
    assert (config.parent / "labeled-data" / "mouse2").is_dir()


def test_create_project_refuses_bad_input(tmp_path: Path, videos: list[Path]) -> None:
    with pytest.raises(VideoError, match="missing"):
        create_project("t", "a", [tmp_path / "missing.mp4"], working_directory=tmp_path)
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    with pytest.raises(VideoError, match="broken"):
        create_project("t", "a", [broken], working_directory=tmp_path / "w")
    assert not (tmp_path / "w").exists()  # nothing created for an unreadable video
    with pytest.raises(ProjectError, match="slashes"):
        create_project("a/b", "a", videos, working_directory=tmp_path)
    with pytest.raises(ProjectError, match="multi-animal"):
        create_project("t", "a", videos, working_directory=tmp_path, individuals=["x", "y"])
    create_project("t", "a", videos[:1], working_directory=tmp_path)
    with pytest.raises(ProjectError, match="already exists"):
        create_project("t", "a", videos[:1], working_directory=tmp_path)


def test_add_videos(tmp_path: Path, videos: list[Path]) -> None:
    config = create_project("t", "a", videos[:1], working_directory=tmp_path)
    added = add_videos(config, [videos[1]])
    assert added == [config.parent / "videos" / "mouse2.avi"]
    cfg = yaml.safe_load(config.read_text())
    assert cfg["video_sets"]["videos/mouse2.avi"] == {"crop": "0, 80, 0, 60"}
    add_videos(config, [videos[1]])  # again: no duplicate
    project = load_project(config)
    assert [v.name for v in project.videos] == ["mouse1.mp4", "mouse2.avi"]
    assert project.video_folders() == ["mouse1", "mouse2"]
    assert project.video_path("mouse2") == config.parent / "videos" / "mouse2.avi"
    other = make_video(tmp_path / "elsewhere" / "mouse1.mp4")
    with pytest.raises(ProjectError, match="already exists"):
        add_videos(config, [other])


def labels_for(project: Project, stem: str, n: int, seed: int) -> Labels:
    rng = np.random.default_rng(seed)
    images = [f"labeled-data/{stem}/img{i:03d}.png" for i in range(n)]
    xy = rng.uniform(0, 40, (n, *project.layout.shape, 2))
    xy[0, 0, 1] = np.nan
    occluded = np.zeros((n, *project.layout.shape), bool)
    occluded[-1, 0, 0] = True
    return Labels(project.layout, images, xy, occluded, scorer=project.scorer)


def test_labels_saved_per_folder_and_merged(tmp_path: Path, videos: list[Path]) -> None:
    config = create_project("t", "a", videos, working_directory=tmp_path)
    project = load_project(config)
    one, two = labels_for(project, "mouse1", 3, 0), labels_for(project, "mouse2", 2, 1)
    project.save_labels(one, "mouse1")
    project.save_labels(two, "mouse2")
    assert (project.labeled_data_dir("mouse1") / "CollectedData_a.csv").is_file()
    (project.root / "labeled-data" / "mouse1_labeled").mkdir()
    write_labels(one, project.root / "labeled-data" / "mouse1_labeled" / "CollectedData_a.h5")  # ignored
    merged = load_project(config).load_labels()
    assert merged.images == one.images + two.images
    np.testing.assert_array_equal(merged.xy, np.concatenate([one.xy, two.xy]))
    np.testing.assert_array_equal(merged.occluded, np.concatenate([one.occluded, two.occluded]))
    assert load_project(config).load_labels("mouse2").images == two.images
    with pytest.raises(ProjectError, match="other folders"):
        project.save_labels(merged, "mouse1")
    with pytest.raises(LabelFileError, match="project has"):
        project.save_labels(Labels.empty(PoseLayout.single_animal(["x"]), ["labeled-data/mouse1/a.png"]), "mouse1")


def test_labels_follow_config_order_of_body_parts(tmp_path: Path, videos: list[Path]) -> None:
    config = create_project("t", "a", videos[:1], working_directory=tmp_path, bodyparts=["nose", "tail"])
    project = load_project(config)
    labels = labels_for(project, "mouse1", 2, 0)
    project.save_labels(labels, "mouse1")
    project.config["bodyparts"] = ["tail", "nose", "paw"]
    project.save()
    reordered = load_project(config).load_labels()
    assert reordered.layout.keypoint_names == ("tail", "nose", "paw")
    np.testing.assert_array_equal(reordered.xy[:, 0, 0], labels.xy[:, 0, 1])
    assert np.isnan(reordered.xy[:, 0, 2]).all()


def test_moved_project_still_opens(tmp_path: Path, videos: list[Path]) -> None:
    config = create_project("t", "a", videos, working_directory=tmp_path / "here", copy_videos=True)
    project = load_project(config)
    labels = labels_for(project, "mouse1", 2, 0)
    project.save_labels(labels, "mouse1")
    moved = tmp_path / "there" / "renamed"
    moved.parent.mkdir()
    shutil.move(config.parent, moved)
    again = load_project(moved / "config.yaml")
    assert again.root == moved.resolve()
    assert again.config["project_path"] == str(moved.resolve())
    assert [v.name for v in again.videos] == ["mouse1.mp4", "mouse2.avi"]
    assert all(v.is_file() and moved.resolve() in v.parents for v in again.videos)
    np.testing.assert_array_equal(again.load_labels().xy, labels.xy)


def deeplabcut_config(root: Path, **changes: object) -> Path:
    cfg: dict[str, object] = {
        "Task": "reach",
        "scorer": "Mackenzie",
        "date": "Aug30",
        "multianimalproject": False,
        "project_path": "/home/someone/reach-Mackenzie-2018-08-30",
        "video_sets": {
            "/home/someone/reach-Mackenzie-2018-08-30/videos/mouse1.mp4": {"crop": "0, 64, 0, 48"},
            "C:\\Users\\someone\\reach\\videos\\mouse2.avi": {"crop": "0, 80, 0, 60"},
        },
        "bodyparts": ["hand", "finger"],
        "individuals": ["individual_1"],
        "skeleton": [["hand", "finger"]],
        "iteration": 2,
    }
    cfg.update(changes)
    root.mkdir(parents=True, exist_ok=True)
    write_config(cfg, root / "config.yaml")
    return root / "config.yaml"


def test_absolute_paths_from_other_machines_are_rerooted(tmp_path: Path, videos: list[Path]) -> None:
    root = tmp_path / "proj"
    config = deeplabcut_config(root)
    for video in videos:
        shutil.copy(video, (root / "videos").mkdir(exist_ok=True) or root / "videos" / video.name)
    before = config.read_text()
    project = load_project(root)
    assert config.read_text() == before  # opening changes nothing on disk
    assert not project.layout.multi_animal  # 'individuals' of DLC 3.0.1 SA projects is ignored
    assert project.layout.skeleton.edges == (("hand", "finger"),)
    assert project.iteration == 2
    assert project.videos == [root.resolve() / "videos" / "mouse1.mp4", root.resolve() / "videos" / "mouse2.avi"]
    project.save()
    cfg = yaml.safe_load(config.read_text())
    assert list(cfg["video_sets"]) == ["videos/mouse1.mp4", "videos/mouse2.avi"]


def test_multi_animal_deeplabcut_config(tmp_path: Path) -> None:
    config = deeplabcut_config(
        tmp_path,
        multianimalproject=True,
        bodyparts="MULTI!",
        individuals=["m1", "m2"],
        multianimalbodyparts=["nose", "tail"],
        uniquebodyparts=["corner"],
        skeleton=[["nose", "tail"], ["tail", "corner"]],
    )
    with pytest.warns(UserWarning, match="corner"):
        layout = load_project(config).layout
    assert layout.individual_names == ("m1", "m2", "single")
    assert layout.keypoint_names == ("nose", "tail", "corner")
    assert layout.skeleton.edges == (("nose", "tail"),)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bodyparts": []}, "bodyparts"),
        ({"bodyparts": "MULTI!"}, "multianimalproject"),
        ({"scorer": None}, "scorer"),
        ({"multianimalproject": True, "multianimalbodyparts": ["a"], "individuals": []}, "individuals"),
        ({"multianimalproject": True}, "multianimalbodyparts"),
        ({"bodyparts": ["a", "a"], "skeleton": []}, "unique"),
        ({"iteration": "two"}, "iteration"),
    ],
)
def test_bad_configs(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    config = deeplabcut_config(tmp_path, **changes)
    with pytest.raises(ConfigError, match=message):
        load_project(config)


def test_missing_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="create-project"):
        load_project(tmp_path)


def test_openfield_opens_unchanged(tmp_path: Path) -> None:
    source = shared_path("openfield-Pranav-2018-10-30")
    root = tmp_path / "openfield"
    shutil.copytree(source, root)
    before = (root / "config.yaml").read_bytes()
    project = load_project(root / "config.yaml")
    assert (root / "config.yaml").read_bytes() == before
    assert project.task == "openfield" and project.scorer == "Pranav" and project.date == "Oct30"
    assert not project.multi_animal
    assert project.layout.keypoint_names == ("snout", "leftear", "rightear", "tailbase")
    assert project.videos == [root.resolve() / "videos" / "m3v1mp4.mp4"]  # placeholder key: found by folder
    assert project.video_folders() == ["m4s1"]
    labels = project.load_labels()
    direct = read_labels(source / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5")
    assert labels.images == direct.images and len(labels) == 116
    np.testing.assert_array_equal(labels.xy, direct.xy)
    assert project.image_path(labels.images[0]).is_file()


def test_label_file_of_another_scorer_is_reported(tmp_path: Path, videos: list[Path]) -> None:
    config = create_project("t", "a", videos[:1], working_directory=tmp_path)
    project = load_project(config)
    labels = labels_for(project, "mouse1", 2, 0)
    write_labels(labels, project.labeled_data_dir("mouse1") / "CollectedData_someone.h5")
    with pytest.warns(UserWarning, match="CollectedData_someone.h5"):
        assert len(project.load_labels()) == 0


def test_multi_animal_labels_with_unique_parts_round_trip(tmp_path: Path, videos: list[Path]) -> None:
    config = create_project(
        "t",
        "a",
        videos[:1],
        working_directory=tmp_path,
        multi_animal=True,
        individuals=["m1", "m2"],
        bodyparts=["nose", "tail"],
    )
    project = load_project(config)
    project.config["uniquebodyparts"] = ["corner"]
    project.save()
    project = load_project(config)
    assert project.layout.individual_names == ("m1", "m2", "single")
    labels = labels_for(project, "mouse1", 3, 0)
    labels.xy[:, ~project.layout.valid] = np.nan
    project.save_labels(labels, "mouse1")
    back = load_project(config).load_labels()
    np.testing.assert_array_equal(back.xy, labels.xy)
    np.testing.assert_array_equal(back.occluded, labels.occluded)
    csv_back = read_labels(project.label_file("mouse1").with_suffix(".csv"), project.layout)
    np.testing.assert_array_equal(csv_back.xy, labels.xy)


def test_api_mirrors_the_command_line() -> None:
    import markerless
    from markerless import project as project_module
    from markerless.labelling import check_labels as check_module

    assert markerless.create_project is project_module.create_project
    assert markerless.add_videos is project_module.add_videos
    assert markerless.load_project is project_module.load_project
    assert markerless.check_labels is check_module.check_labels
