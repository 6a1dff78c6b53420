"""Checks of labelled images before they are used: every image present and decodable, every label inside it.

Training datasets are made only from labels that pass (:func:`check_label_images` raises one error
listing every problem); ``check-labels`` reports the same problems as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from markerless.errors import LabelFileError
from markerless.model.labels import Labels

_SHOWN = 10


@dataclass(frozen=True)
class LabelImageProblems:
    """What is wrong with the images of a set of labels (project-relative image paths)."""

    missing: list[str]
    unreadable: list[str]
    outside: list[str]  # "<image> (row r) <body part> (x, y) outside WxH"
    half: list[str]  # "<image> (row r) <body part>" with only one of x and y
    unlabelled_parts: list[str]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unreadable or self.outside or self.half or self.unlabelled_parts)

    def message(self, root: Path) -> str:
        """One line naming every kind of problem with up to ten examples each, and the fix."""
        pieces = []
        if self.missing:
            pieces.append(f"{len(self.missing)} missing images {_examples(self.missing)}")
        if self.unreadable:
            pieces.append(f"{len(self.unreadable)} images that do not decode {_examples(self.unreadable)}")
        if self.outside:
            pieces.append(f"{len(self.outside)} labels outside their image {_examples(self.outside)}")
        if self.half:
            pieces.append(f"{len(self.half)} labels with only one of x and y {_examples(self.half)}")
        if self.unlabelled_parts:
            pieces.append(f"body parts with no label in any image {self.unlabelled_parts}")
        fixes = []
        if self.missing or self.unreadable:
            fixes.append("restore or re-extract the images (or delete their rows)")
        if self.outside or self.half:
            fixes.append("correct those labels (`markerless label`)")
        if self.unlabelled_parts:
            fixes.append("label those body parts or remove them from config.yaml's bodyparts")
        return f"Labelled images in {root / 'labeled-data'}: " + "; ".join(pieces) + ". Fix: " + "; ".join(fixes) + "."


def _examples(items: list[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "[" + ", ".join(items[:_SHOWN]) + more + "]"


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of an image that exists and decodes completely, else None."""
    try:
        with Image.open(path) as im:
            im.load()
            return int(im.width), int(im.height)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None


def find_label_image_problems(root: Path, labels: Labels) -> LabelImageProblems:
    """Images of ``labels`` (relative to ``root``) that are missing or do not decode, and labels outside them.

    Rows are numbered within their folder's label file (1 = the first data row); rows without any
    label are not checked (nothing is trained on them).

    A label is outside when x is not in [0, width] or y not in [0, height]. Labels with only one
    coordinate (a column renamed in the file) and body parts without a label in any image (a network
    cannot learn them) are listed too.
    """
    missing, unreadable, outside = [], [], []
    layout = labels.layout
    names = layout.keypoint_names

    def who(ind: int, kp: int) -> str:
        return f"{layout.individual_names[ind]}/{names[kp]}" if layout.multi_animal else names[kp]

    folders = labels.video_of_images
    file_row = [int(n) for n in pd.Series(folders).groupby(folders).cumcount() + 1]  # row in the folder's file
    x, y = labels.xy[..., 0], labels.xy[..., 1]
    half_rows, half_ind, half_kp = np.nonzero(np.isnan(x) != np.isnan(y))
    half = [
        f"{labels.images[r]} (row {file_row[r]}) {who(int(i), int(k))}"
        for r, i, k in zip(half_rows, half_ind, half_kp, strict=True)
    ]
    used = np.isfinite(labels.xy).any(axis=(1, 2, 3))
    for row, image in enumerate(labels.images):
        if not used[row]:
            continue  # a row without labels is not trained on
        path = Path(root) / image
        if not path.is_file():
            missing.append(image)
            continue
        size = image_size(path)
        if size is None:
            unreadable.append(image)
            continue
        w, h = size
        xy = labels.xy[row]
        bad = np.isfinite(xy).all(axis=-1) & ((xy[..., 0] < 0) | (xy[..., 0] > w) | (xy[..., 1] < 0) | (xy[..., 1] > h))
        for ind, kp in zip(*np.nonzero(bad), strict=True):
            px, py = xy[ind, kp]
            outside.append(
                f"{image} (row {file_row[row]}) {who(int(ind), int(kp))} ({px:.0f}, {py:.0f}) outside {w}x{h}"
            )
    labelled = np.isfinite(labels.xy).all(axis=-1).any(axis=(0, 1)) if len(labels) else np.ones(len(names), bool)
    unlabelled = [names[k] for k in np.flatnonzero(~labelled)]
    return LabelImageProblems(missing, unreadable, outside, half, unlabelled)


def check_label_images(root: Path, labels: Labels) -> None:
    """Raise one :class:`LabelFileError` listing every problem :func:`find_label_image_problems` finds."""
    problems = find_label_image_problems(root, labels)
    if problems:
        raise LabelFileError(problems.message(Path(root)))


__all__ = ["LabelImageProblems", "check_label_images", "find_label_image_problems", "image_size"]
