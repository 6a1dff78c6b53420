"""import-sleap / export-sleap: a SLEAP labels file as a DeepLabCut-layout project and back."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import sleap_io as sio
import yaml

from markerless.cli import main
from markerless.errors import LabelFileError, ProjectError, VideoError
from markerless.io.dlc import write_predictions
from markerless.io.sleap import read_slp_labels
from markerless.io.video import VideoReader, VideoWriter
from markerless.labelling.sleap import export_sleap, import_sleap, parse_frames
from markerless.model import Poses
from markerless.project.project import Project
from markerless.training.dataset import create_training_dataset
from tests.fixtures.data import shared_path

NODES = ("head", "thorax", "tail")
LABELLED = [2, 5, 9]


def make_slp(folder: Path, n_frames: int = 12) -> tuple[Path, np.ndarray]:
    """``folder/arena.avi`` (written with the project's VideoWriter) and ``folder/arena.slp`` labelling two
    tracked animals on frames 2, 5 and 9 (the second missing on frame 9); returns the .slp and the
    ``(3, 2, 3, 2)`` labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (n_frames, 48, 64, 3), dtype=np.uint8)
    with VideoWriter(folder / "arena.avi", fps=10, size=(64, 48), codec="MJPG") as writer:
        writer.write_batch(frames)
    skeleton = sio.Skeleton(nodes=list(NODES), edges=[["head", "thorax"], ["thorax", "tail"]])
    video = sio.Video(filename="arena.avi", open_backend=False)
    tracks = [sio.Track(name="alice"), sio.Track(name="bob")]
    xy = np.round(rng.uniform(2, 40, (len(LABELLED), 2, 3, 2)), 2)
    xy[1, 0, 2] = np.nan  # alice's tail not labelled on frame 5
    xy[2, 1] = np.nan  # bob not on frame 9
    labelled = []
    for row, frame in enumerate(LABELLED):
        instances = [
            sio.Instance.from_numpy(xy[row, k], skeleton=skeleton, track=tracks[k])
            for k in range(2)
            if np.isfinite(xy[row, k]).any()
        ]
        labelled.append(sio.LabeledFrame(video=video, frame_idx=frame, instances=instances))
    path = folder / "arena.slp"
    sio.save_slp(sio.Labels(labeled_frames=labelled, videos=[video], skeletons=[skeleton], tracks=tracks), str(path))
    return path, xy


def test_import_sleap_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slp, xy = make_slp(tmp_path / "data")
    code = main(["import-sleap", str(slp), "--working-directory", str(tmp_path / "work"), "--experimenter", "ann"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    config = Path(out[-1])
    assert config.name == "config.yaml" and config.parent.parent == tmp_path / "work"
    cfg = yaml.safe_load(config.read_text())
    assert cfg["multianimalproject"] is True and cfg["individuals"] == ["alice", "bob"]
    assert cfg["multianimalbodyparts"] == list(NODES) and cfg["uniquebodyparts"] == []
    assert cfg["skeleton"] == [["head", "thorax"], ["thorax", "tail"]] and cfg["scorer"] == "ann"
    project = Project.load(config)
    folder = project.labeled_data_dir("arena")
    assert sorted(p.name for p in folder.glob("*.png")) == ["img02.png", "img05.png", "img09.png"]
    with VideoReader(tmp_path / "data" / "arena.avi") as reader:
        png = cv2.imread(str(folder / "img05.png"))
        assert png is not None
        np.testing.assert_array_equal(png[..., ::-1], reader.read(5))
    df = pd.read_hdf(project.label_file("arena"))
    assert df.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.index.tolist()[0] == ("labeled-data", "arena", "img02.png")
    labels = project.load_labels()
    np.testing.assert_array_equal(labels.xy, xy)


def test_frame_split_file_maps_to_imported_images(tmp_path: Path) -> None:
    slp, _ = make_slp(tmp_path / "data")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"video": "arena.avi", "train_frames": [2, 9], "test_frames": [5]}))
    config = import_sleap(slp, working_directory=tmp_path / "work", frames=parse_frames([str(split)]))
    shuffle = create_training_dataset(config, split_file=split)
    assert shuffle.train_images() == ["labeled-data/arena/img02.png", "labeled-data/arena/img09.png"]
    assert shuffle.test_images() == ["labeled-data/arena/img05.png"]
    split.write_text(json.dumps({"train_frames": [2, 3], "test_frames": [5]}))
    with pytest.raises(ProjectError, match=r"split\.json names frames \[3\] \(train_frames\) of video 'arena'"):
        create_training_dataset(config, split_file=split)


def test_frames_restrict_the_import(tmp_path: Path) -> None:
    slp, xy = make_slp(tmp_path / "data")
    config = import_sleap(slp, working_directory=tmp_path / "work", frames=parse_frames(["5:10:4"]))
    labels = Project.load(config).load_labels()
    assert labels.images == ["labeled-data/arena/img05.png", "labeled-data/arena/img09.png"]
    np.testing.assert_array_equal(labels.xy, xy[1:])
    with pytest.raises(ProjectError, match=r"no user labels on frames \[3\]"):
        import_sleap(slp, working_directory=tmp_path / "other", frames=[3, 5])
    assert not (tmp_path / "other").exists()


def test_unreadable_video_names_where_it_looked_and_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    slp, _ = make_slp(tmp_path / "data")
    moved = (tmp_path / "data" / "arena.avi").rename(tmp_path / "arena.avi")
    with pytest.raises(
        VideoError, match=r"arena\.slp labels frames of the video 'arena\.avi', looked for at .*--video"
    ):
        import_sleap(slp, working_directory=tmp_path / "work")
    assert not (tmp_path / "work").exists()  # nothing created
    assert main(["import-sleap", str(slp), "--working-directory", str(tmp_path / "work")]) == 1
    assert "--video PATH" in capsys.readouterr().err
    (tmp_path / "data" / "arena.avi").write_bytes(b"not a video")
    with pytest.raises(VideoError, match=r"arena\.slp: its video cannot be read"):
        import_sleap(slp, working_directory=tmp_path / "work")
    config = import_sleap(slp, videos=[moved], working_directory=tmp_path / "work")
    assert len(Project.load(config).load_labels()) == 3


def test_garbage_slp_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.slp"
    bad.write_bytes(b"\x89HDF garbage")
    assert main(["import-sleap", str(bad), "--working-directory", str(tmp_path / "work")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.slp as a SLEAP .slp file" in err[0]
    assert not (tmp_path / "work").exists()


def test_existing_project_is_refused_and_kept(tmp_path: Path) -> None:
    slp, _ = make_slp(tmp_path / "data")
    config = import_sleap(slp, working_directory=tmp_path / "work")
    label_file = Project.load(config).label_file("arena")
    before = config.read_bytes(), label_file.read_bytes()
    with pytest.raises(ProjectError, match="already exists"):
        import_sleap(slp, working_directory=tmp_path / "work")
    assert (config.read_bytes(), label_file.read_bytes()) == before


def test_labels_disagreeing_with_config_individuals_are_refused(tmp_path: Path) -> None:
    slp, _ = make_slp(tmp_path / "data")
    config = import_sleap(slp, working_directory=tmp_path / "work")
    text = config.read_text()
    config.write_text(text.replace("- alice\n", "- carol\n"))
    with pytest.raises(LabelFileError, match=r"CollectedData_sleap\.h5: individuals \['alice'\] of the file have"):
        Project.load(config).load_labels()


def test_export_sleap_round_trip_with_predictions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slp, xy = make_slp(tmp_path / "data")
    config = import_sleap(slp, working_directory=tmp_path / "work")
    project = Project.load(config)
    data = np.random.default_rng(2).uniform(1, 40, (12, *project.layout.shape, 3)).astype(np.float32)
    data[..., 2] = 0.9
    data[4, 1] = np.nan
    pred = write_predictions(Poses(data, project.layout), project.root / "videos" / "arenaDLC_test.h5")
    out = tmp_path / "back.slp"
    assert main(["export-sleap", str(config), "--predictions", str(pred), "--output", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    back = read_slp_labels(out)
    assert back.layout.individuals == ("alice", "bob")
    (video,) = back.videos
    assert video.video == (project.root / "videos" / "arena.avi").absolute()
    np.testing.assert_array_equal(video.frames, LABELLED)
    np.testing.assert_array_equal(video.xy, xy)
    predicted = sio.load_slp(str(out), open_videos=False)
    assert predicted.n_pred_instances == 12 * 2 - 1
    assert export_sleap(config, tmp_path / "again.slp") == tmp_path / "again.slp"


@pytest.mark.shared_data
def test_flies_clip_split_frames(tmp_path: Path) -> None:
    """The real clip: only the benchmark split's 200 frames are imported (all 1500 would write 1500 PNGs)."""
    split = shared_path("sleap-flies-clip", "benchmark-split.json")
    slp = shared_path("sleap-flies-clip", "clip.slp")
    config = import_sleap(slp, working_directory=tmp_path, frames=parse_frames([str(split)]))
    project = Project.load(config)
    assert project.layout.individuals == ("female", "male") and len(project.layout.bodyparts) == 13
    shuffle = create_training_dataset(config, split_file=split)
    assert len(shuffle.train_images()) == 100 and len(shuffle.test_images()) == 100
    assert shuffle.train_images()[:2] == ["labeled-data/clip/img0000.png", "labeled-data/clip/img0010.png"]
    assert shuffle.test_images()[0] == "labeled-data/clip/img1000.png"
