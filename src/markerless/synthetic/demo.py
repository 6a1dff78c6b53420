"""The built-in demo: the whole single-animal workflow on a synthetic project, in a few minutes on a CPU.

``make demo`` (or ``markerless demo``) renders a synthetic mouse-like animal with exact ground truth,
then runs every stage a researcher would: frames to label, check the labels, create a training set,
train, evaluate, analyse the video, filter, and write a labelled video and plots.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from markerless.io.dlc import read_predictions
from markerless.project.project import Project

#: Training budget of the demo; long enough to learn the synthetic animal on 2 CPU cores.
DEMO_TRAIN_MINUTES = 2.5


def _step(title: str, func: Callable[[], Any]) -> Any:
    print(f"\n== {title}", flush=True)
    start = time.perf_counter()
    result = func()
    print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)
    return result


def demo(
    output: str | Path = "demo-output", *, train_minutes: float = DEMO_TRAIN_MINUTES, seed: int = 0
) -> dict[str, Any]:
    """Run the whole workflow on a fresh synthetic project in ``output``; returns the key results.

    The folder is replaced if it exists. Prints each stage and where its results are.
    """
    import markerless as ml

    output = Path(output).resolve()
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    total = time.perf_counter()

    config = _step(
        "Synthetic project: a rendered animal with exact ground truth",
        lambda: ml.make_synthetic_project(
            output / "synthetic", n_animals=1, n_frames=300, n_labelled=60, size=(320, 240), seed=seed
        ),
    )
    print(f"   project: {config}")
    project = Project.load(config)
    video = project.videos[0]

    extracted = _step(
        "Extract frames to label (k-means)", lambda: ml.extract_frames(config, algo="kmeans", num_frames=8, seed=seed)
    )
    print(f"   {sum(len(v) for v in extracted.values())} new frames in labeled-data/")
    checked = _step("Check labels", lambda: ml.check_labels(config))
    print(f"   {len(checked)} labelled frames drawn into labeled-data/*_labeled/")

    _step(
        "Create training dataset", lambda: ml.create_training_dataset(config, shuffle=1, train_fraction=0.8, seed=seed)
    )
    snapshot = _step(
        f"Train ({train_minutes:g} min on this machine)",
        lambda: ml.train(config, shuffle=1, max_minutes=train_minutes, seed=seed),
    )
    print(f"   best snapshot: {snapshot}")
    results = _step("Evaluate", lambda: ml.evaluate(config, shuffle=1, plot=True))
    print(
        f"   train error {results['train_error_px']:.2f} px, test error {results['test_error_px']:.2f} px "
        f"({results['n_train']} train / {results['n_test']} test images)"
    )

    outputs = _step("Analyse the video", lambda: ml.analyze(config, [video], shuffle=1))
    poses = read_predictions(outputs[0])
    truth_file = video.with_name(f"{video.stem}_groundtruth.h5")
    if truth_file.exists():
        truth = read_predictions(truth_file)
        n = min(len(truth), len(poses))
        err = np.linalg.norm(poses.xy[:n] - truth.xy[:n], axis=-1)
        print(
            f"   error against the ground truth over all {n} frames: median {np.nanmedian(err):.2f} px, "
            f"mean {np.nanmean(err):.2f} px"
        )
    filtered = _step("Filter (median)", lambda: ml.filter_predictions(config, [video], shuffle=1, method="median"))
    labelled = _step("Labelled video", lambda: ml.create_labeled_video(config, [video], shuffle=1, trail=5))
    plots = _step("Trajectory plots", lambda: ml.plot_trajectories(config, [video], shuffle=1))

    print(f"\nDemo finished in {time.perf_counter() - total:.0f} s. Results:")
    for name, paths in (
        ("predictions", outputs),
        ("filtered", filtered),
        ("labelled video", labelled),
        ("plots", plots),
    ):
        for path in paths:
            print(f"   {name}: {path}")
    return {"config": config, "evaluation": results, "predictions": outputs, "labeled_videos": labelled}
