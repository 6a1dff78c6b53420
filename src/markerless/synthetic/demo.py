"""The built-in demo: the whole single-animal workflow on a synthetic project, in a few minutes on a CPU.

``make demo`` (or ``markerless demo``) renders a synthetic mouse-like animal with exact ground truth,
then runs every stage a researcher would: frames to label, check the labels, create a training set,
train, evaluate, analyse the video, filter, and write a labelled video and plots.

The demo is budgeted in epochs, not minutes, and every random choice is seeded, so it prints the same
errors on a quiet or a busy machine; only the times it prints change with the machine's load.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from markerless.analysis.analyze import analyze
from markerless.errors import TrainingError
from markerless.io.dlc import read_predictions
from markerless.labelling.check_labels import check_labels
from markerless.labelling.frames import extract_frames
from markerless.project.project import Project
from markerless.project.recipe import read_recipe, write_recipe
from markerless.results.filters import filter_predictions
from markerless.synthetic.project import make_synthetic_project
from markerless.training.dataset import create_training_dataset
from markerless.training.evaluation import evaluate
from markerless.training.loop import train
from markerless.viz.plots import plot_trajectories
from markerless.viz.video import create_labeled_video

#: Training epochs of the demo (48 training images, 6 steps an epoch): test error 0.57 px, video error
#: 0.52 px (median) against the ground truth, every body part above pcutoff in every frame; 3 minutes for
#: the whole demo on a quiet 2-core CPU (one thread trains ~24 images/s).
DEMO_EPOCHS = 75

#: Torch threads of the demo's training and evaluation. The thread count changes the order of floating-point
#: sums, so a fixed count gives the same figures on machines with any number of cores. One thread also
#: keeps a busy machine from slowing the demo down sevenfold: two threads wait for each other whenever
#: another process takes a core (one MobileNetV2 training step on a 2-core machine with ~10 busy
#: processes: 22 s with two threads, 3 s with one).
DEMO_THREADS = 1

_T = TypeVar("_T")


def _step(title: str, func: Callable[[], _T]) -> _T:
    print(f"\n== {title}", flush=True)
    start = time.perf_counter()
    result = func()
    print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)
    return result


def demo(
    output: str | Path = "demo-output",
    *,
    epochs: int = DEMO_EPOCHS,
    seed: int = 0,
    threads: int = DEMO_THREADS,
    n_frames: int = 300,
    n_labelled: int = 60,
    size: tuple[int, int] = (320, 240),
) -> dict[str, Any]:
    """Run the whole workflow on a fresh synthetic project in ``output``; returns the key results.

    The folder is replaced if it exists. Prints each stage and where its results are. The same
    arguments give the same errors on any load: training runs ``epochs`` epochs, and ``seed`` seeds the
    synthetic video, the frame extraction, the train/test split and the training.

    Args:
        output: folder of the demo project.
        epochs: training epochs.
        seed: seed of every random choice.
        threads: torch threads of training and evaluation (the figures change slightly with the count).
        n_frames: frames of the synthetic video.
        n_labelled: labelled frames of the synthetic project (80 % train, 20 % test).
        size: width, height of the video.

    Returns:
        ``config`` (the project's ``config.yaml``), ``evaluation`` (``results.json``'s dict),
        ``video_error_px`` (median and mean error against the ground truth over every frame),
        ``confident`` (per body part, the fraction of frames above the project's pcutoff),
        ``predictions`` and ``labeled_videos`` (paths).
    """
    if epochs < 1:
        raise TrainingError(f"The demo needs at least one training epoch; got epochs={epochs}.")
    if threads < 1:
        raise TrainingError(f"The demo needs at least one thread; got threads={threads}.")
    output = Path(output).resolve()
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    total = time.perf_counter()

    config = _step(
        "Synthetic project: a rendered animal with exact ground truth",
        lambda: make_synthetic_project(
            output / "synthetic", n_animals=1, n_frames=n_frames, n_labelled=n_labelled, size=size, seed=seed
        ),
    )
    print(f"   project: {config}")
    project = Project.load(config)
    video = project.videos[0]

    extracted = _step(
        "Extract frames to label (k-means)", lambda: extract_frames(config, algo="kmeans", num_frames=8, seed=seed)
    )
    print(f"   {sum(len(v) for v in extracted.values())} new frames in labeled-data/")
    checked = _step("Check labels", lambda: check_labels(config))
    print(f"   {len(checked)} labelled frames drawn into labeled-data/*_labeled/")

    shuffle = _step(
        "Create training dataset", lambda: create_training_dataset(config, shuffle=1, train_fraction=0.8, seed=seed)
    )
    _epoch_based_checkpoints(shuffle.recipe_file)
    with _torch_threads(threads):
        snapshot = _step(
            f"Train ({epochs} epochs, {threads} thread{'s' if threads > 1 else ''})",
            lambda: train(config, shuffle=1, epochs=epochs, seed=seed, resume=False),
        )
        print(f"   snapshot: {snapshot.name}")
        results = _step("Evaluate", lambda: evaluate(config, shuffle=1, plot=True))
    print(
        f"   train error {results['train_error_px']:.2f} px, test error {results['test_error_px']:.2f} px "
        f"({results['n_train']} train / {results['n_test']} test images)"
    )

    outputs = _step("Analyse the video", lambda: analyze(config, [video], shuffle=1))
    poses = read_predictions(outputs[0])
    video_error: dict[str, float] = {}
    truth_file = video.with_name(f"{video.stem}_groundtruth.h5")
    if truth_file.exists():
        truth = read_predictions(truth_file)
        n = min(len(truth), len(poses))
        err = np.linalg.norm(poses.xy[:n] - truth.xy[:n], axis=-1)
        video_error = {"median": float(np.nanmedian(err)), "mean": float(np.nanmean(err))}
        print(
            f"   error against the ground truth over all {n} frames: median {video_error['median']:.2f} px, "
            f"mean {video_error['mean']:.2f} px"
        )
    confident = _confident_fractions(poses.likelihood, poses.layout.keypoint_names, project.pcutoff)
    print(
        f"   frames with likelihood >= pcutoff {project.pcutoff:g}: "
        + ", ".join(f"{name} {fraction:.0%}" for name, fraction in confident.items())
    )
    filtered = _step("Filter (median)", lambda: filter_predictions(config, [video], shuffle=1, method="median"))
    labelled = _step("Labelled video", lambda: create_labeled_video(config, [video], shuffle=1, trail=5))
    plots = _step("Trajectory plots", lambda: plot_trajectories(config, [video], shuffle=1))

    print(f"\nDemo finished in {time.perf_counter() - total:.0f} s. Results:")
    for name, paths in (
        ("predictions", outputs),
        ("filtered", filtered),
        ("labelled video", labelled),
        ("plots", plots),
    ):
        for path in paths:
            print(f"   {name}: {path}")
    return {
        "config": config,
        "evaluation": results,
        "video_error_px": video_error,
        "confident": confident,
        "predictions": outputs,
        "labeled_videos": labelled,
    }


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Torch computes with ``n`` threads for the duration (the previous count restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _epoch_based_checkpoints(recipe_file: Path) -> None:
    """Save snapshots and validate by epochs only (no time-based saves, no validation interval stretched by
    its duration), so the files a run leaves do not depend on load."""
    write_recipe(recipe_file, read_recipe(recipe_file).with_overrides(save_every_minutes=0.0, eval_time_share=0.0))


def _confident_fractions(likelihood: np.ndarray, names: Sequence[str], pcutoff: float) -> dict[str, float]:
    """Per body part, the fraction of frames (``likelihood``: frames, individuals, keypoints) at or above ``pcutoff``."""
    above = np.nan_to_num(likelihood, nan=0.0) >= pcutoff
    return {str(name): float(f) for name, f in zip(names, above.mean(axis=(0, 1)), strict=True)}
