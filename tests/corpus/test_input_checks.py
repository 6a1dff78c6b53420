"""Issue 16, one test per item: inputs are checked where they enter, with one-line errors naming file, row and fix."""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from markerless.cli import main
from markerless.errors import LabelFileError, ModelError
from markerless.io.dlc import read_labels, read_table, write_config
from markerless.nets import create_model, save_checkpoint
from markerless.project.project import Project, add_videos
from markerless.training.dataset import create_training_dataset
from tests.fixtures.projects import BODYPARTS
from tests.fixtures.videos import write_video


def _edit_config(config: Path, **changes: object) -> None:
    cfg = yaml.safe_load(config.read_text())
    cfg.update(changes)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The one-line error of a command that must fail with exit code 1."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "\n" not in lines[0].split("error:", 1)[1], err
    return lines[0]


# --- item 1 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["banana", ["banana"], [0.0], [1.5], [], True])
def test_training_fraction_that_is_not_a_fraction_is_refused(
    tiny_config: Path, capsys: pytest.CaptureFixture[str], value: object
) -> None:
    _edit_config(tiny_config, TrainingFraction=value)
    line = _error(capsys, ["create-training-dataset", str(tiny_config)])
    assert "TrainingFraction" in line and "config.yaml" in line


def test_training_fraction_default_and_list(tiny_config: Path) -> None:
    assert Project.load(tiny_config).training_fractions == [0.8]
    _edit_config(tiny_config, TrainingFraction=None)
    assert Project.load(tiny_config).training_fractions == [0.95]


# --- item 4 ----------------------------------------------------------------------------------------
def test_label_file_body_parts_that_disagree_with_the_config_are_refused(
    tiny_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit_config(tiny_config, bodyparts=["nose", *BODYPARTS[1:]])  # the files say "snout"
    for command in ("check-labels", "create-training-dataset"):
        line = _error(capsys, [command, str(tiny_config)])
        assert "CollectedData_tester.h5" in line and "['snout']" in line and "['nose']" in line


def test_one_renamed_coordinate_column_is_refused(tiny_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tiny_config.parent / "labeled-data" / "vidA"
    csv = folder / "CollectedData_tester.csv"
    lines = csv.read_text().splitlines()
    lines[1] = lines[1].replace("snout", "nose", 1)  # snout x -> nose x; snout y stays
    csv.write_text("\n".join(lines) + "\n")
    (folder / "CollectedData_tester.h5").unlink()
    line = _error(capsys, ["create-training-dataset", str(tiny_config)])
    assert "only one of x and y" in line and "labeled-data/vidA/img000.png (row 1) snout" in line


def test_body_part_without_labels_is_not_trained(tiny_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit_config(tiny_config, bodyparts=[*BODYPARTS, "paw"])
    line = _error(capsys, ["create-training-dataset", str(tiny_config)])
    assert "no label in any image ['paw']" in line
    assert not (tiny_config.parent / "training-datasets").exists()


# --- item 5 ----------------------------------------------------------------------------------------
def test_label_outside_its_image_is_refused_and_flagged(tiny_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = Project.load(tiny_config)
    labels = project.load_labels("vidB")
    labels.xy[2, 0, 1] = (5000.0, 10.0)  # leftear; the images are 96x80
    project.save_labels(labels, "vidB")
    line = _error(capsys, ["create-training-dataset", str(tiny_config)])
    assert "labeled-data/vidB/img002.png (row 3) leftear (5000, 10) outside 96x80" in line
    with pytest.warns(UserWarning, match="leftear .5000, 10. outside 96x80"):
        assert main(["check-labels", str(tiny_config)]) == 0


# --- item 6 ----------------------------------------------------------------------------------------
def test_analyze_refuses_a_model_trained_on_other_body_parts(
    tiny_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sh = create_training_dataset(tiny_config, shuffle=1)
    sh.train_dir.mkdir(parents=True, exist_ok=True)
    net = create_model("mobilenetv2", len(BODYPARTS), pretrained=False)
    save_checkpoint(sh.train_dir / "snapshot-001.pt", net, extra={"epoch": 1, "bodyparts": BODYPARTS})
    video = write_video(tmp_path / "clip.mp4", n_frames=3)
    _edit_config(tiny_config, bodyparts=["nose", *BODYPARTS[1:]])
    shutil.rmtree(tiny_config.parent / "labeled-data")  # the labels are not what analysis reads
    line = _error(capsys, ["analyze", str(tiny_config), str(video)])
    assert str(BODYPARTS) in line and str(["nose", *BODYPARTS[1:]]) in line
    assert not list(tmp_path.glob("clip*.h5"))
    from markerless.analysis.model_source import resolve_model

    with pytest.raises(ModelError, match="trained on body parts"):
        resolve_model(tiny_config)


# --- item 9 ----------------------------------------------------------------------------------------
def test_labelled_videos_in_videos_folder_are_not_project_videos(tiny_config: Path) -> None:
    videos = tiny_config.parent / "videos"
    videos.mkdir()
    write_video(videos / "vidA.mp4", n_frames=3)
    write_video(videos / "vidADLC_mobilenetv2_tinyNov24shuffle1_5_labeled.mp4", n_frames=3)
    assert [v.name for v in Project.load(tiny_config).videos] == ["vidA.mp4"]


# --- item 11 ---------------------------------------------------------------------------------------
def test_every_missing_or_corrupt_image_is_named_when_the_dataset_is_made(
    tiny_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tiny_config.parent / "labeled-data"
    for name in ("vidA/img000.png", "vidA/img004.png", "vidB/img005.png"):
        (folder / name).unlink()
    data = (folder / "vidB/img001.png").read_bytes()
    (folder / "vidB/img001.png").write_bytes(data[: len(data) // 2])  # truncated PNG
    line = _error(capsys, ["create-training-dataset", str(tiny_config)])
    assert "3 missing images [labeled-data/vidA/img000.png, labeled-data/vidA/img004.png, " in line
    assert "labeled-data/vidB/img005.png]" in line
    assert "1 images that do not decode [labeled-data/vidB/img001.png]" in line


# --- item 12 ---------------------------------------------------------------------------------------
def test_garbage_h5_is_one_line_and_a_csv_beside_it_is_used(
    tiny_config: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    h5 = tiny_config.parent / "labeled-data" / "vidA" / "CollectedData_tester.h5"
    expected = read_labels(h5)
    h5.write_bytes(b"\x89HDF\r\n" + bytes(range(256)) * 4)
    with pytest.warns(UserWarning, match=r"Cannot read .*CollectedData_tester.h5.*Using CollectedData_tester.csv"):
        labels = read_labels(h5)
    np.testing.assert_allclose(labels.xy, expected.xy)
    h5.with_suffix(".csv").unlink()
    with pytest.raises(LabelFileError, match=r"Cannot read .*CollectedData_tester.h5 as a pandas HDF5 table") as err:
        read_table(h5)
    assert "\n" not in str(err.value)
    assert "HDF5-DIAG" not in capfd.readouterr().err


def test_text_in_a_csv_number_names_row_and_column(tmp_path: Path, tiny_config: Path) -> None:
    csv = tiny_config.parent / "labeled-data" / "vidA" / "CollectedData_tester.csv"
    lines = csv.read_text().splitlines()
    cells = lines[5].split(",")
    cells[4] = "abc"
    lines[5] = ",".join(cells)
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(LabelFileError, match=r"row 6, column 5 \(snout/y\) holds 'abc', not a number"):
        read_table(csv)


def test_cli_warnings_are_one_prefixed_line(tiny_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit_config(tiny_config, bodyparts=[*BODYPARTS, "paw"])
    with warnings.catch_warnings():
        warnings.simplefilter("always")

        # shown as Python shows them outside pytest (which records them instead)
        def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def,unused-ignore]
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

        warnings.showwarning = show
        assert main(["check-labels", str(tiny_config)]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "paw" in line]
    assert lines and all(line.startswith("markerless: warning: ") for line in lines), err
    assert "warnings.warn(" not in err and "UserWarning" not in err


def test_check_labels_with_missing_images_prints_no_opencv_warnings(
    tiny_config: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    for image in (tiny_config.parent / "labeled-data" / "vidA").glob("*.png"):
        image.unlink()
    (tiny_config.parent / "labeled-data/vidB/img003.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.warns(UserWarning, match="6 missing images.*1 images that do not decode"):
        assert main(["check-labels", str(tiny_config)]) == 0
    err = capfd.readouterr().err
    assert "[ WARN" not in err and "[ERROR" not in err, err


def test_add_videos_keeps_comments_and_empty_values(tiny_config: Path, tmp_path: Path) -> None:
    text = tiny_config.read_text()
    text = "# my own notes about this project\n" + text.replace("multianimalproject: false", "multianimalproject:")
    text = text.replace("pcutoff: 0.4", "pcutoff: 0.4  # tuned on session 3")
    tiny_config.write_text(text)
    video = write_video(tmp_path / "new.mp4", n_frames=3)
    add_videos(tiny_config, [video])
    after = tiny_config.read_text()
    assert after.startswith("# my own notes about this project\n")
    assert "pcutoff: 0.4  # tuned on session 3" in after
    assert "multianimalproject:\n" in after and "null" not in after
    assert "videos/new.mp4" in yaml.safe_load(after)["video_sets"]


def test_write_config_rewrites_only_changed_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# head\na: 1  # one\n\n# about b\nb:\n- x\n- y\nc: {k: 2}\n")
    write_config({"a": 1, "b": ["z"], "d": None}, path)
    assert (
        path.read_text() == "# head\na: 1  # one\n\n# about b\nb:\n- z\nd:\n"
    )  # an empty value stays empty, as DeepLabCut writes it


def test_corrupt_image_counts_as_unreadable(tmp_path: Path) -> None:
    from markerless.project.label_images import image_size

    good = tmp_path / "a.png"
    cv2.imwrite(str(good), np.zeros((8, 12, 3), np.uint8))
    (tmp_path / "b.png").write_text("not an image")
    assert image_size(good) == (12, 8) and image_size(tmp_path / "b.png") is None
