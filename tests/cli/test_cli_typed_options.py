"""The command line passes the API only the options that were typed: the defaults live in the API."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from markerless.cli import main


def _calls(monkeypatch: pytest.MonkeyPatch, target: str, returns: Any = ()) -> list[tuple[tuple, dict]]:
    """Replace ``module.function`` by a recorder of its arguments."""
    module, name = target.rsplit(".", 1)
    calls: list[tuple[tuple, dict]] = []

    def record(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return returns

    monkeypatch.setattr(f"{module}.{name}", record)
    return calls


CASES = [
    # (command line, API function, positional arguments, keywords of the bare command, typed options, their keywords)
    (
        ["analyze", "c.yaml", "v.mp4"],
        "markerless.analysis.analyze.analyze",
        ("c.yaml", ["v.mp4"]),
        ["--batch-size", "8", "--device", "cpu", "--no-tracking-crop", "--crop-size", "96", "64", "--overwrite"],
        {"batch_size": 8, "device": "cpu", "tracking_crop": False, "crop_size": [96, 64], "overwrite": True},
    ),
    (
        ["export", "c.yaml"],
        "markerless.analysis.export.export",
        ("c.yaml",),
        ["--frame-size", "64", "48", "--shuffle", "2"],
        {"frame_size": (64, 48), "shuffle": 2},
    ),
    (
        ["filter", "c.yaml", "v.mp4"],
        "markerless.results.filters.filter_predictions",
        ("c.yaml", ["v.mp4"]),
        ["--method", "kalman", "--p-bound", "0.2", "--nwb"],
        {"method": "kalman", "p_bound": 0.2, "nwb": True},
    ),
    (
        ["smooth", "c.yaml", "v.mp4"],
        "markerless.results.eks.smooth_predictions",
        ("c.yaml", ["v.mp4"]),
        ["--shuffles", "1", "2", "--state", "velocity", "--p-bound", "0.1"],
        {"shuffles": [1, 2], "state": "velocity", "p_bound": 0.1},
    ),
    (
        ["create-labeled-video", "c.yaml", "v.mp4"],
        "markerless.viz.video.create_labeled_video",
        ("c.yaml", ["v.mp4"]),
        ["--pcutoff", "0.3", "--no-skeleton", "--trail", "4"],
        {"pcutoff": 0.3, "draw_skeleton": False, "trail": 4},
    ),
    (
        ["plot-trajectories", "c.yaml", "v.mp4"],
        "markerless.viz.plots.plot_trajectories",
        ("c.yaml", ["v.mp4"]),
        ["--filtered", "--dest", "out"],
        {"filtered": True, "dest": "out"},
    ),
    (
        ["extract-outliers", "c.yaml", "v.mp4"],
        "markerless.labelling.outliers.extract_outliers",
        ("c.yaml", ["v.mp4"]),
        ["--algo", "uncertain", "--p-bound", "0.1"],
        {"algo": "uncertain", "p_bound": 0.1},
    ),
    (["merge", "c.yaml"], "markerless.labelling.merge.merge", ("c.yaml",), ["--shuffle", "3"], {"shuffle": 3}),
    (
        ["train", "c.yaml"],
        "markerless.training.loop.train",
        ("c.yaml",),
        ["--shuffle", "2", "--epochs", "3", "--no-resume"],
        {"shuffle": 2, "epochs": 3, "resume": False},
    ),
    (
        ["evaluate", "c.yaml"],
        "markerless.training.evaluation.evaluate",
        ("c.yaml",),
        ["--snapshot", "-1", "--plot", "--device", "cpu"],
        {"snapshot": -1, "plot": True, "device": "cpu"},
    ),
    (
        ["create-training-dataset", "c.yaml"],
        "markerless.training.dataset.create_training_dataset",
        ("c.yaml",),
        ["--shuffle", "2", "--train-fraction", "0.8", "--net", "efficientnet_lite0"],
        {"shuffle": 2, "train_fraction": 0.8, "net": "efficientnet_lite0"},
    ),
    (
        ["label", "c.yaml"],
        "markerless.app.server.label",
        ("c.yaml",),
        ["--no-browser", "--port", "0"],
        {"open_browser": False, "port": 0},
    ),
    (
        ["create-project", "t", "me", "v.mp4"],
        "markerless.project.project.create_project",
        ("t", "me", ["v.mp4"]),
        ["--multi-animal", "--individuals", "a", "b"],
        {"multi_animal": True, "individuals": ["a", "b"]},
    ),
    (
        ["import-sleap", "l.slp"],
        "markerless.labelling.sleap.import_sleap",
        ("l.slp",),
        ["--video", "v.mp4", "--frames", "0:4:2", "7", "--experimenter", "ann"],
        {"videos": ["v.mp4"], "frames": [0, 2, 7], "experimenter": "ann"},
    ),
    (
        ["export-sleap", "c.yaml", "--output", "o.slp"],
        "markerless.labelling.sleap.export_sleap",
        ("c.yaml", "o.slp"),
        ["--predictions", "a.h5", "b.h5"],
        {"predictions": ["a.h5", "b.h5"]},
    ),
    (
        ["add-videos", "c.yaml", "v.mp4"],
        "markerless.project.project.add_videos",
        ("c.yaml", ["v.mp4"]),
        ["--copy-videos"],
        {"copy_videos": True},
    ),
    (
        ["extract-frames", "c.yaml"],
        "markerless.labelling.frames.extract_frames",
        ("c.yaml",),
        ["--algo", "uniform", "--seed", "3"],
        {"algo": "uniform", "seed": 3},
    ),
    (
        ["check-labels", "c.yaml"],
        "markerless.labelling.check_labels.check_labels",
        ("c.yaml",),
        ["--no-skeleton"],
        {"draw_skeleton": False},
    ),
    (
        ["synthetic", "out"],
        "markerless.synthetic.make_synthetic_project",
        ("out",),
        ["--animals", "2", "--size", "64x48"],
        {"n_animals": 2, "size": (64, 48)},
    ),
]


@pytest.mark.parametrize(("argv", "target", "positional", "typed", "keywords"), CASES, ids=[c[0][0] for c in CASES])
def test_only_typed_options_reach_the_api(monkeypatch, capsys, argv, target, positional, typed, keywords) -> None:
    shuffle = SimpleNamespace(
        index=1,
        name="s",
        train_images=list,
        test_images=list,
        recipe_file=Path("r"),
        recipe_choices=list,
        model_dir=Path("m"),
    )
    evaluation = {
        "scorer": "s",
        "n_train": 1,
        "n_test": 1,
        "pcutoff": 0.6,
        "per_bodypart": {},
        "pck": {"test": {}},
        "evaluation_dir": "e",
        **dict.fromkeys(["train_error_px", "train_error_px_pcutoff", "test_error_px", "test_error_px_pcutoff"], 1.0),
    }
    returns = {
        "markerless.labelling.merge.merge": 1,
        "markerless.labelling.frames.extract_frames": {},
        "markerless.training.dataset.create_training_dataset": shuffle,
        "markerless.training.evaluation.evaluate": evaluation,
    }.get(target, Path("x") if target.endswith(("export", "create_project", "make_synthetic_project", "train")) else [])
    calls = _calls(monkeypatch, target, returns)
    assert main(argv) == 0
    assert main(argv + typed) == 0
    (bare_args, bare_kwargs), (args, kwargs) = calls
    assert bare_args == positional and bare_kwargs == {}  # nothing typed: the API's own defaults apply
    assert args == positional and kwargs == keywords
    capsys.readouterr()


def _subparser(name: str):
    from markerless.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[name]


@pytest.mark.parametrize(("argv", "target", "positional", "typed", "keywords"), CASES, ids=[c[0][0] for c in CASES])
def test_numbers_in_the_help_are_the_api_defaults(argv, target, positional, typed, keywords) -> None:
    """A ``(default N)`` in an option's help is the API's default of that keyword, so the two cannot drift apart."""
    import importlib
    import inspect
    import re

    module, name = target.rsplit(".", 1)
    signature = inspect.signature(getattr(importlib.import_module(module), name))
    checked = 0
    for action in _subparser(argv[0])._actions:
        match = re.search(r"\(default (-?\d+(?:\.\d+)?)[ :;)]", action.help or "")
        if match and action.dest in signature.parameters:
            assert float(match.group(1)) == signature.parameters[action.dest].default, (argv[0], action.dest)
            checked += 1
    assert checked or argv[0] in (
        "analyze",
        "filter",
        "create-project",
        "add-videos",
        "check-labels",
        "plot-trajectories",
        "import-sleap",
        "export-sleap",
        "smooth",
    )
