"""The bad-input corpus (issue 16): broken copies of a small project, every relevant command run on each, in-process.

Each case breaks one input of a working project (videos, label files, images, config.yaml, prediction
files). Every command must end without a traceback (exit code 0, 1 or 2, an error on one line),
leave every file that existed before unchanged, and fail (not exit 0) where its result would be
wrong. The base project (labels, videos, a random-weight snapshot, predictions) is made once.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from markerless.cli import main
from markerless.io.dlc import read_predictions
from markerless.nets import create_model, save_checkpoint
from markerless.project.project import add_videos
from markerless.training.dataset import create_training_dataset
from tests.fixtures.projects import BODYPARTS, make_tiny_project
from tests.fixtures.videos import write_video

ROOT_NAME = "tiny-tester-2026-11-24"


@pytest.fixture(scope="module")
def base_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working tiny project: labels, videos/vidA.mp4 and vidB.mp4, shuffle 1 with a snapshot, predictions."""
    dest = tmp_path_factory.mktemp("corpus")
    config = make_tiny_project(dest)
    sources = dest / "sources"
    sources.mkdir()
    videos = [write_video(sources / f"{name}.mp4", n_frames=8, size=(96, 80)) for name in ("vidA", "vidB")]
    add_videos(config, videos, copy_videos=True)
    sh = create_training_dataset(config, shuffle=1)
    sh.train_dir.mkdir(parents=True, exist_ok=True)
    net = create_model("mobilenetv2", len(BODYPARTS), pretrained=False)
    save_checkpoint(sh.train_dir / "snapshot-001.pt", net, extra={"epoch": 1, "bodyparts": BODYPARTS})
    video = config.parent / "videos" / "vidA.mp4"
    assert main(["analyze", str(config), str(video), "--device", "cpu", "--backend", "torch"]) == 0
    shutil.rmtree(sources)
    return config.parent


# --- how each case breaks the project ---------------------------------------------------------------
def _video(root: Path) -> Path:
    return root / "videos" / "vidA.mp4"


def _label_h5(root: Path) -> Path:
    return root / "labeled-data" / "vidA" / "CollectedData_tester.h5"


def _prediction(root: Path) -> Path:
    return next(p for p in (root / "videos").glob("vidA*.h5"))


def _edit_config(root: Path, **changes: object) -> None:
    cfg = yaml.safe_load((root / "config.yaml").read_text())
    cfg.update(changes)
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def _edit_csv(root: Path, edit: Callable[[list[str]], None]) -> None:
    csv = _label_h5(root).with_suffix(".csv")
    lines = csv.read_text().splitlines()
    edit(lines)
    csv.write_text("\n".join(lines) + "\n")
    _label_h5(root).unlink()


def _cell(lines: list[str], row: int, col: int, text: str) -> None:
    cells = lines[row].split(",")
    cells[col] = text
    lines[row] = ",".join(cells)


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)


GARBAGE_YAML = "Task: tiny\nscorer: [tester\nbodyparts:\n- snout\n"


def _new_video(root: Path, content: bytes | None) -> None:
    """vidA.mp4 replaced by ``content`` (None: removed), never analysed (no predictions)."""
    _prediction(root).unlink()
    if content is None:
        _video(root).unlink()
    else:
        _video(root).write_bytes(content)


def _garbage_labels(root: Path) -> None:
    _garbage(_label_h5(root))
    _label_h5(root).with_suffix(".csv").unlink()


def _remove_images(root: Path) -> None:
    for image in (root / "labeled-data" / "vidB").glob("img00[0-4].png"):
        image.unlink()


CASES: dict[str, Callable[[Path], object]] = {
    "video-truncated": lambda r: _new_video(r, _video(r).read_bytes()[:2000]),
    "video-empty": lambda r: _new_video(r, b""),
    "video-text": lambda r: _new_video(r, b"this is not a video\n"),
    "video-missing": lambda r: _new_video(r, None),
    "labels-h5-garbage": _garbage_labels,
    "labels-h5-garbage-csv-beside": lambda r: _garbage(_label_h5(r)),
    "labels-csv-wrong-header": lambda r: _edit_csv(
        r, lambda lines: lines.__setitem__(1, lines[1].replace("snout", "nose"))
    ),
    "labels-csv-text-number": lambda r: _edit_csv(r, lambda lines: _cell(lines, 4, 3, "abc")),
    "labels-outside-image": lambda r: _edit_csv(r, lambda lines: _cell(lines, 4, 3, "5000")),
    "images-missing": _remove_images,
    "image-corrupt": lambda r: (r / "labeled-data/vidA/img002.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40),
    "config-broken-yaml": lambda r: (r / "config.yaml").write_text(GARBAGE_YAML),
    "config-empty": lambda r: (r / "config.yaml").write_text(""),
    "config-no-bodyparts": lambda r: _edit_config(r, bodyparts=None),
    "config-bodyparts-string": lambda r: _edit_config(r, bodyparts="snout"),
    "config-training-fraction-text": lambda r: _edit_config(r, TrainingFraction="banana"),
    "config-pcutoff-text": lambda r: _edit_config(r, pcutoff="high"),
    "config-bodyparts-disagree": lambda r: _edit_config(r, bodyparts=["nose", *BODYPARTS[1:]]),
    "config-extra-bodypart": lambda r: _edit_config(r, bodyparts=[*BODYPARTS, "paw"]),
    "predictions-garbage": lambda r: _garbage(_prediction(r)),
    "config-iteration-text": lambda r: _edit_config(r, iteration="first"),
    "config-video-sets-list": lambda r: _edit_config(r, video_sets=["videos/vidA.mp4"]),
    "config-skeleton-text": lambda r: _edit_config(r, skeleton="snout-tailbase"),
    "config-bodyparts-numbers": lambda r: _edit_config(r, bodyparts=[1, 2, 3]),
    "config-a-list": lambda r: (r / "config.yaml").write_text("- Task\n- tiny\n"),
    "labels-csv-short-row": lambda r: _edit_csv(r, lambda lines: lines.__setitem__(4, lines[4].rsplit(",", 2)[0])),
    "labels-csv-empty": lambda r: _edit_csv(r, lambda lines: lines.clear()),
}

_ALL = "ALL"
_PREDICTION_USERS = {
    "filter",
    "plot-trajectories",
    "create-labeled-video",
    "extract-outliers",
    "smooth",
    "export-sleap",
}
#: Commands that must fail (exit code != 0) on each case; the others may succeed or fail, never crash.
MUST_FAIL: dict[str, set[str] | str] = {
    "video-truncated": {"analyze", "add-videos", "live", *_PREDICTION_USERS},
    "video-empty": {"analyze", "add-videos", "live", *_PREDICTION_USERS},
    "video-text": {"analyze", "add-videos", "live", *_PREDICTION_USERS},
    "video-missing": {"analyze", "add-videos", "live", *_PREDICTION_USERS},
    "labels-h5-garbage": {"check-labels", "create-training-dataset"},
    "labels-h5-garbage-csv-beside": set(),
    "labels-csv-wrong-header": {"check-labels", "create-training-dataset"},
    "labels-csv-text-number": {"check-labels", "create-training-dataset"},
    "labels-outside-image": {"create-training-dataset"},
    "images-missing": {"create-training-dataset"},
    "image-corrupt": {"create-training-dataset"},
    "config-broken-yaml": _ALL,
    "config-empty": _ALL,
    "config-no-bodyparts": _ALL,
    "config-bodyparts-string": _ALL,
    "config-training-fraction-text": _ALL,
    "config-pcutoff-text": _ALL,
    # predictions keep the model's body-part names (checked below) or the command fails
    "config-bodyparts-disagree": {"check-labels", "create-training-dataset", "analyze", "evaluate"},
    "config-extra-bodypart": {"create-training-dataset", "analyze", "evaluate"},
    "predictions-garbage": _PREDICTION_USERS,
    "config-iteration-text": _ALL,
    "config-video-sets-list": _ALL,
    "config-skeleton-text": set(),
    "config-bodyparts-numbers": {"check-labels", "create-training-dataset", "analyze", "evaluate"},
    "config-a-list": _ALL,
    "labels-csv-short-row": {"check-labels", "create-training-dataset"},
    "labels-csv-empty": {"check-labels", "create-training-dataset"},
}

COMMANDS: dict[str, list[str]] = {
    "check-labels": ["check-labels", "{config}"],
    "create-training-dataset": ["create-training-dataset", "{config}", "--shuffle", "2"],
    "analyze": ["analyze", "{config}", "{video}", "--device", "cpu", "--backend", "torch"],
    "filter": ["filter", "{config}", "{video}"],
    "plot-trajectories": ["plot-trajectories", "{config}", "{video}"],
    "create-labeled-video": ["create-labeled-video", "{config}", "{video}"],
    "extract-outliers": ["extract-outliers", "{config}", "{video}"],
    "extract-frames": ["extract-frames", "{config}", "--algo", "uniform", "--num-frames", "2"],
    "add-videos": ["add-videos", "{config}", "{video}"],
    "evaluate": ["evaluate", "{config}"],
    "train": ["train", "{config}", "--shuffle", "1", "--epochs", "1"],
    "smooth": ["smooth", "{config}", "{video}", "--predictions", "{prediction}", "{prediction}"],
    "export-sleap": ["export-sleap", "{config}", "--predictions", "{prediction}", "--output", "{out}/out.slp"],
    "stitch": ["stitch", "{config}", "{video}"],
    "live": ["live", "{config}", "--video", "{video}", "--max-frames", "3", "--record", "{out}/live"],
}
#: Commands run only on the cases that must make every command fail (they would otherwise train).
ONLY_WHEN_ALL_FAIL = {"train"}
SLOW = {"analyze", "create-labeled-video", "live"}
#: Commands that read only some inputs, run only on the cases that break those (they are slow to start).
ONLY_ON: dict[str, tuple[str, ...]] = {"live": ("video-", "config-")}
#: Commands for multi-animal projects only: they must refuse the corpus's single-animal project.
MULTI_ANIMAL_ONLY = {"stitch"}


def _argv(command: str, root: Path, tmp_path: Path, base: Path) -> list[str]:
    """The command line of ``command`` on the copy at ``root`` of the project ``base`` (whose prediction file
    it names, even where a case removed it); outputs outside the project go to ``tmp_path``."""
    prediction = root / "videos" / _prediction(base).name
    paths = {"config": root / "config.yaml", "video": root / "videos" / "vidA.mp4", "prediction": prediction}
    return [a.format(out=tmp_path, **paths) for a in COMMANDS[command]]


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _without_path(config: Path) -> list[str]:
    """The lines of a config.yaml but ``project_path``."""
    return [line for line in config.read_text().splitlines() if not line.startswith("project_path:")]


def _params() -> list[Any]:
    out = []
    for case in CASES:
        for command in COMMANDS:
            if command in ONLY_WHEN_ALL_FAIL and MUST_FAIL[case] != _ALL:
                continue
            if command in ONLY_ON and not case.startswith(ONLY_ON[command]):
                continue
            marks = [pytest.mark.slow] if command in SLOW else []
            out.append(pytest.param(case, command, id=f"{case}-{command}", marks=marks))
    return out


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("case", "command"), _params())
def test_bad_input(
    base_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    root = tmp_path / ROOT_NAME
    shutil.copytree(base_project, root, symlinks=True)
    CASES[case](root)
    before = _hashes(root)
    config_before = _without_path(root / "config.yaml") if command == "add-videos" else None
    argv = _argv(command, root, tmp_path, base_project)
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse
        code = int(stop.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    must_fail = MUST_FAIL[case] == _ALL or command in MUST_FAIL[case] or command in MULTI_ANIMAL_ONLY
    if must_fail:
        assert code in (1, 2), f"{command} exited {code} on {case}:\n{err}"
    else:
        assert code in (0, 1, 2), err
    if code:
        errors = [line for line in err.splitlines() if line.startswith("markerless ") and ": error: " in line]
        assert len(errors) == 1, err
    after = _hashes(root)
    changed = sorted(k for k, h in before.items() if after.get(k) != h)
    if command == "add-videos" and code == 0:  # the config's project_path follows the copied folder
        assert _without_path(root / "config.yaml") == config_before
        changed = [k for k in changed if k != "config.yaml"]
    if command == "create-training-dataset" and code == 0:  # the dataset's shuffle registry gains shuffle 2
        changed = [k for k in changed if not k.startswith("training-datasets/")]
    if command == "filter" and code == 0:
        filtered = next((root / "videos").glob("vidA*_filtered.h5"))
        assert read_predictions(filtered).layout.keypoint_names == tuple(BODYPARTS)  # the model's, not renamed
    if case == "predictions-garbage" and command == "analyze":  # the unreadable result is set aside and redone
        changed = [k for k in changed if not k.startswith("videos/vidA")]
    assert not changed, f"{command} changed or removed {changed} on {case}"


def test_base_project_works(base_project: Path, tmp_path: Path) -> None:
    """Every command of the corpus succeeds on the unbroken project (so a failure above is the breakage's)."""
    root = tmp_path / ROOT_NAME
    shutil.copytree(base_project, root, symlinks=True)
    for name in COMMANDS:
        if name in SLOW or name in ONLY_WHEN_ALL_FAIL:
            continue
        assert main(_argv(name, root, tmp_path, base_project)) == (1 if name in MULTI_ANIMAL_ONLY else 0), name
