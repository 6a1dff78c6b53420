"""A tiny single-animal project on disk for training tests: coloured dots on noise, exact labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from markerless.io.dlc import write_config
from markerless.model import Labels, PoseLayout
from markerless.project.project import Project

BODYPARTS = ["snout", "leftear", "rightear", "tailbase"]
COLOURS = [(255, 40, 40), (40, 255, 40), (40, 40, 255), (255, 255, 40)]  # RGB, one per body part


def make_tiny_project(
    dest: Path,
    n_per_video: int = 6,
    videos: tuple[str, ...] = ("vidA", "vidB"),
    size: tuple[int, int] = (96, 80),
    seed: int = 0,
    multi_animal: bool = False,
) -> Path:
    """A project with ``len(videos) * n_per_video`` labelled images of ``size`` (w, h); returns config.yaml."""
    rng = np.random.default_rng(seed)
    root = Path(dest) / "tiny-tester-2026-11-24"
    root.mkdir(parents=True)
    cfg = {
        "Task": "tiny",
        "scorer": "tester",
        "date": "Nov24",
        "multianimalproject": multi_animal,
        "project_path": str(root),
        "video_sets": {},
        "skeleton": [],
        "pcutoff": 0.4,
        "TrainingFraction": [0.8],
        "iteration": 0,
        "snapshotindex": -1,
    }
    if multi_animal:
        cfg.update(bodyparts="MULTI!", multianimalbodyparts=BODYPARTS, individuals=["a", "b"], uniquebodyparts=[])
    else:
        cfg["bodyparts"] = BODYPARTS
    write_config(cfg, root / "config.yaml")
    project = Project.load(root / "config.yaml")
    w, h = size
    layout: PoseLayout = project.layout
    for video in videos:
        folder = root / "labeled-data" / video
        folder.mkdir(parents=True)
        images = [f"labeled-data/{video}/img{i:03d}.png" for i in range(n_per_video)]
        xy = np.full((n_per_video, *layout.shape, 2), np.nan)
        for i, image in enumerate(images):
            canvas = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
            centre = rng.uniform([20, 20], [w - 20, h - 20])
            for k, colour in enumerate(COLOURS):
                p = centre + rng.uniform(-12, 12, 2)
                cv2.circle(canvas, (round(p[0]), round(p[1])), 3, colour, -1)
                xy[i, 0, k] = np.round(p)
            if i == 1:
                xy[i, 0, 3] = np.nan  # an unlabelled point
            cv2.imwrite(str(root / image), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        project.save_labels(Labels(layout, images, xy, scorer="tester"), video)
    return root / "config.yaml"


def tiny_recipe(config: Path, shuffle: int = 1, **changes) -> None:
    """Make shuffle's recipe tiny and fast (random-init MobileNetV2, 48x48 crops, batch 4)."""
    from markerless.project.recipe import read_recipe, write_recipe
    from markerless.project.shuffle import Shuffle

    sh = Shuffle(config, shuffle)
    recipe = read_recipe(sh.recipe_file)
    recipe.update(
        pretrained=False,
        crop_size=[48, 48],
        batch_size=4,
        eval_every_epochs=2,
        save_every_epochs=1,
        eval_batch_size=4,
        optimizer={"lr": 2e-3, "weight_decay": 1e-4},
    )
    recipe["augmentation"].update(motion_blur=0.0, noise=0.0, rotation=10.0, crop_jitter=0.1)
    recipe.update(changes)
    write_recipe(sh.recipe_file, recipe)
