"""check-labels: every labelled frame drawn with its labels, to catch labelling mistakes by eye."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from markerless.errors import ProjectError
from markerless.io.atomic import atomic_path
from markerless.project.label_images import find_label_image_problems
from markerless.project.project import LABELED_SUFFIX, Project
from markerless.viz.draw import draw_poses, pose_colors


def _legend(image: np.ndarray, names: list[str], colors: np.ndarray) -> None:
    """A key in the top-left corner, drawn in place: a dot of each colour and its name."""
    scale = max(image.shape[0] / 900, 0.35)
    sizes = [cv2.getTextSize(n, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0] for n in names]
    step = max(h for _, h in sizes) + 6
    dot = max(step // 3, 2)
    width = max(w for w, _ in sizes) + 3 * dot + 10
    box = image[: step * len(names) + 6, :width]
    box[:] = (0.3 * box + 0.7 * 255).astype(np.uint8)  # light panel behind the key
    for row, (name, color) in enumerate(zip(names, colors, strict=True)):
        y = step * (row + 1)
        cv2.circle(image, (4 + dot, y - step // 3), dot, tuple(int(c) for c in color), cv2.FILLED, cv2.LINE_AA)
        cv2.putText(image, name, (8 + 2 * dot, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def check_labels(
    config: str | os.PathLike[str], draw_skeleton: bool = True, color_by: str = "bodypart", legend: bool = True
) -> list[Path]:
    """Draw every labelled frame of every video folder into ``labeled-data/<video>_labeled/<image>.png``.

    Points are coloured by body part (the config's ``colormap``; ``color_by="individual"`` colours
    multi-animal projects by individual), occluded points are hollow rings, and the config's
    ``skeleton`` is drawn when ``draw_skeleton``. Returns the written images.
    """
    project = Project.load(config)
    labels = project.load_labels()
    if len(labels) == 0:
        raise ProjectError(
            f"No labelled frames in {project.root / 'labeled-data'}: label frames first "
            "(`markerless extract-frames`, then `markerless label`)."
        )
    cfg = project.config
    colors = pose_colors(project.layout, str(cfg.get("colormap") or "rainbow"), by=color_by)  # type: ignore[arg-type]
    dot_size = float(cfg.get("dotsize") or 8)
    skeleton_color = cfg.get("skeleton_color") or None
    if color_by == "bodypart":
        legend_entries = (list(project.layout.keypoint_names), colors[0])
    else:
        legend_entries = (list(project.layout.individual_names), colors[:, 0])
    written: list[Path] = []
    missing: list[str] = []
    for row, image_name in enumerate(tqdm(labels.images, desc="check-labels", unit="frame", disable=None)):
        source = project.image_path(image_name)
        bgr = cv2.imread(str(source), cv2.IMREAD_COLOR) if source.is_file() else None
        if bgr is None:
            missing.append(image_name)
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        line_width = max(1, round(max(rgb.shape[:2]) / 600))
        drawn = draw_poses(
            rgb,
            labels.xy[row],
            project.layout,
            colors=colors,
            dot_size=dot_size,
            skeleton=draw_skeleton,
            skeleton_color=skeleton_color,
            hollow=labels.occluded[row],
            line_width=line_width,
            copy=False,
        )
        if legend and rgb.shape[1] >= 200:
            _legend(drawn, *legend_entries)
        folder, name = image_name.split("/")[-2:]
        target = project.root / "labeled-data" / f"{folder}{LABELED_SUFFIX}" / f"{Path(name).stem}.png"
        with atomic_path(target) as tmp:
            if not cv2.imwrite(str(tmp), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)):
                raise ProjectError(f"Cannot write {target}; check that the folder is writable.")
        written.append(target)
    problems = find_label_image_problems(project.root, labels)
    if problems:
        skipped = f" ({len(missing)} images skipped)" if missing else ""
        warnings.warn(problems.message(project.root) + skipped, stacklevel=2)
    return written


__all__ = ["check_labels"]
