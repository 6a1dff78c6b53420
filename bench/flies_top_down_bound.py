"""Upper bound of a top-down design on the flies benchmark: each fly cut out around its labelled thorax,
turned so its head points up, and posed by a single-animal model.

The crops use the *labelled* thorax and head of every fly, in training and in testing, so the figures
are what a top-down model could reach with a perfect first stage (a bottom-up model finds the head and
thorax to 1-2 px on these test frames). The split is ``benchmark-split.json``'s (train on every 10th
frame of 0-999, test on every 5th frame of 1000-1499); the recipe is the one ``fit_recipe`` chooses for
the crops (``--set`` overrides it, e.g. ``augmentation.hflip=0.5``: flips swap left/right parts). The
single-animal predictions are turned back into frame pixels and scored as the multi-animal benchmark
scores its animals (OKS mAP with sigma 0.1 and 0.025, pixel error after matching).

    .venv/bin/python bench/flies_top_down_bound.py --minutes 25 --set augmentation.hflip=0.5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml

from markerless.io.sleap import read_slp_labels
from markerless.io.video import VideoReader
from markerless.model.labels import Labels
from markerless.project.project import Project, create_project
from markerless.project.recipe import read_recipe, write_recipe
from markerless.training.dataset import create_training_dataset
from markerless.training.evaluation import evaluate
from markerless.training.loop import train
from markerless.training.oks import multi_animal_summary
from multianimal_flies import DATA, HERE, save_result


def aligned(anchor: np.ndarray, head: np.ndarray, crop: int) -> np.ndarray:
    """``(N, 2, 3)`` affine maps frame -> crop: the anchor at the crop's centre, the head straight above it."""
    angle = np.degrees(np.arctan2(head[:, 1] - anchor[:, 1], head[:, 0] - anchor[:, 0])) + 90.0
    maps = np.stack([cv2.getRotationMatrix2D((float(x), float(y)), float(a), 1.0) for (x, y), a in zip(anchor, angle)])
    maps[:, :, 2] += crop / 2 - anchor
    return maps


def transform(maps: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Points ``(N, K, 2)`` through affine maps ``(N, 2, 3)``."""
    return np.einsum("nij,nkj->nki", maps[:, :, :2], xy) + maps[:, None, :, 2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=25.0, help="training budget (default 25)")
    p.add_argument("--crop", type=int, default=192, help="side of the square crop around each fly (default 192)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="recipe overrides after fitting")
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp folder, removed)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)
    if not (DATA / "clip.slp").is_file():
        sys.exit(f"The flies clip is not at {DATA}.")
    work = args.work or Path(tempfile.mkdtemp(prefix="markerless-topdown-"))
    slp = read_slp_labels(DATA / "clip.slp")
    video, names = slp.videos[0], list(slp.layout.bodyparts)
    thorax, head = names.index("thorax"), names.index("head")
    split = json.loads((DATA / "benchmark-split.json").read_text())
    row = {int(f): i for i, f in enumerate(video.frames)}
    chosen = {"train": [int(f) for f in split["train_frames"]], "test": [int(f) for f in split["test_frames"]]}
    frames = np.array(chosen["train"] + chosen["test"])
    xy = np.asarray(video.xy)[[row[f] for f in frames]]  # (F, animals, K, 2)
    n_animals = xy.shape[1]
    flies = np.argwhere(np.isfinite(xy[:, :, [thorax, head]]).all(axis=(2, 3)))  # (N, 2): frame row, animal
    maps = aligned(xy[flies[:, 0], flies[:, 1], thorax], xy[flies[:, 0], flies[:, 1], head], args.crop)

    config = create_project("fliestopdown", "bench", [DATA / "clip.mp4"], work, bodyparts=names)
    project = Project.load(config)
    folder = project.labeled_data_dir("clip")
    folder.mkdir(parents=True, exist_ok=True)
    images = [f"labeled-data/clip/img{frames[r]:05d}-{a}.png" for r, a in flies]
    with VideoReader(DATA / "clip.mp4", color="bgr") as reader:
        for (r, _a), image, m in zip(flies, images, maps, strict=True):
            crop = cv2.warpAffine(reader.read(int(frames[r])), m, (args.crop, args.crop), flags=cv2.INTER_LINEAR)
            cv2.imwrite(str(project.root / image), crop)
    labels = transform(maps, xy[flies[:, 0], flies[:, 1]])[:, None]
    project.save_labels(Labels(project.layout, images, labels, None, project.scorer), "clip")
    is_test = np.isin(frames[flies[:, 0]], chosen["test"])
    split_file = work / "split.json"
    parts = {"train": [i for i, t in zip(images, is_test) if not t], "test": [i for i, t in zip(images, is_test) if t]}
    split_file.write_text(json.dumps(parts))
    sh = create_training_dataset(config, shuffle=1, split_file=split_file)
    overrides = {key: yaml.safe_load(value) for key, _, value in (item.partition("=") for item in args.set)}
    recipe = read_recipe(sh.recipe_file).with_overrides({"eval_every_epochs": 0, **overrides})
    write_recipe(sh.recipe_file, recipe, sh.recipe_choices())
    t0 = time.time()
    snapshot = train(config, 1, max_minutes=args.minutes, resume=False)
    train_wall = time.time() - t0
    result = evaluate(config, 1, snapshot=snapshot)

    table = pd.read_hdf(sh.evaluation_dir / f"{result['scorer']}.h5")
    keys = ["/".join(map(str, key)) if isinstance(key, tuple) else str(key) for key in table.index]
    by_image = dict(zip(keys, table.to_numpy(dtype=np.float64).reshape(len(table), -1, 3), strict=True))
    tested = np.flatnonzero(is_test)
    points = np.stack([by_image[images[k]] for k in tested])  # (T, K, 3) in crop pixels
    back = np.stack([cv2.invertAffineTransform(m) for m in maps[tested]])
    rows, animals = flies[tested, 0] - len(chosen["train"]), flies[tested, 1]  # test frames follow the train frames
    gt = np.full((len(chosen["test"]), n_animals, len(names), 2), np.nan)
    pred = np.full((len(chosen["test"]), n_animals, len(names), 3), np.nan)
    gt[rows, animals] = xy[flies[tested, 0], animals]
    pred[rows, animals] = np.concatenate([transform(back, points[..., :2]), points[..., 2:]], axis=-1)
    half, test = len(gt) // 2, chosen["test"]
    halves = {
        "all": slice(None),
        f"{test[0]}-{test[half - 1]}": slice(0, half),
        f"{test[half]}-{test[-1]}": slice(half, None),
    }
    figures = {}
    for name, part in halves.items():
        s = multi_animal_summary(gt[part], pred[part], bodyparts=names)
        figures[name] = {"test_map": s["map"], "test_map_sleap": s["map_sleap"], "test_error_px": s["error_px"]}
        print(
            f"top-down bound, test frames {name}: mAP {s['map']:.1f} (sigma 0.1), {s['map_sleap']:.1f} (0.025), {s['error_px']:.2f} px"
        )
        if name == "all":
            figures["per_bodypart_px"] = s["per_keypoint"]
    payload = {
        "benchmark": "flies_top_down_bound",
        "figures": figures,
        "train_error_px": result["train_error_px"],
        "training_minutes": args.minutes,
        "training_wall_s": train_wall,
        "epoch": result["epoch"],
        "recipe": recipe.to_dict(),
        "recipe_choices": sh.recipe_choices(),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "command": " ".join([sys.executable, *sys.argv]),
    }
    print(save_result(args.out, f"flies_top_down_bound-{args.minutes:g}min", payload))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
