"""SLEAP projects: a ``.slp`` labels file imported as a project, a project's labels and predictions exported.

``import_sleap`` makes a DeepLabCut-layout project (multi-animal when the file has several tracks or
instances per frame): the ``.slp`` file's tracks become ``individuals``, its nodes the body parts, its
edges the ``skeleton``; each labelled frame is written from the video as
``labeled-data/<video>/img<N>.png`` (``N`` the frame number, so split files can name frames) with the
labels in ``CollectedData_<scorer>.h5/.csv``. ``export_sleap`` writes the labels back (and prediction
files, as predicted instances) so SLEAP users can proofread them there.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from markerless.errors import LabelFileError, ProjectError, VideoError
from markerless.io.dlc import read_predictions, write_config
from markerless.io.sleap import SleapFile, SleapVideoData, read_slp_labels, write_slp
from markerless.io.video import VideoReader
from markerless.labelling.frames import write_frames
from markerless.model.labels import Labels
from markerless.project.project import Project, ProjectSource, create_project, load_project

PathLike = str | os.PathLike[str]
_FRAME_NUMBER = re.compile(r"(\d+)\.[A-Za-z]+$")


def parse_frames(spec: Iterable[str | int]) -> list[int]:
    """Frame numbers from integers, ``start:stop[:step]`` ranges (stop excluded) or JSON split files
    (their ``train_frames`` + ``test_frames``)."""
    frames: list[int] = []
    for item in spec:
        text = str(item).strip()
        if text.lower().endswith(".json"):
            frames += _split_file_frames(Path(text))
        elif ":" in text:
            try:
                bounds = [int(p) for p in text.split(":")]
            except ValueError:
                raise ProjectError(f"Frame range {text!r} is not start:stop[:step] in whole numbers.") from None
            frames += list(range(*bounds))
        else:
            try:
                frames.append(int(text))
            except ValueError:
                raise ProjectError(
                    f"Frame {text!r} is not a whole number, a start:stop range or a JSON split file."
                ) from None
    return sorted(set(frames))


def _split_file_frames(path: Path) -> list[int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [int(f) for key in ("train_frames", "test_frames") for f in data.get(key, [])]
    except FileNotFoundError:
        raise ProjectError(f"The split file {path} does not exist.") from None
    except (ValueError, TypeError, AttributeError) as err:
        raise ProjectError(
            f"The split file {path} must be JSON with lists 'train_frames' and 'test_frames' of frame numbers ({err})."
        ) from None


def _check_videos(slp: SleapFile, videos: Sequence[PathLike] | None) -> list[tuple[Path, int]]:
    """Each labelled video of ``slp`` (``videos`` replaces them, in order) with its frame count; checked to
    decode and to hold every labelled frame."""
    if videos is not None and len(videos) != len(slp.videos):
        raise ProjectError(
            f"{slp.path} labels {len(slp.videos)} videos ({[v.stored_video for v in slp.videos]}); "
            f"give one --video per video, in that order (got {len(videos)})."
        )
    out = []
    for k, entry in enumerate(slp.videos):
        path = Path(videos[k]) if videos is not None else entry.video
        given = "" if videos is None else " (given with --video)"
        if not path.is_file():
            raise VideoError(
                f"{slp.path} labels frames of the video {entry.stored_video!r}, looked for at {path}{given}, which "
                "does not exist; pass the video's path with --video PATH."
            )
        try:
            with VideoReader(path) as reader:
                n_frames = reader.n_frames
        except VideoError as err:
            raise VideoError(
                f"{slp.path}: its video cannot be read ({err}); pass a readable copy with --video PATH."
            ) from None
        beyond = entry.frames[entry.frames >= n_frames]
        if len(beyond):
            raise VideoError(
                f"{slp.path} labels frame {int(beyond[0])} of {path}, which has {n_frames} frames; "
                "is it the video the labels were made on? Pass that video with --video PATH."
            )
        out.append((path, n_frames))
    return out


def import_sleap(
    labels_file: PathLike,
    videos: Sequence[PathLike] | None = None,
    working_directory: PathLike | None = None,
    project: str | None = None,
    experimenter: str = "sleap",
    frames: Sequence[int] | None = None,
    copy_videos: bool = False,
) -> Path:
    """Create a project from the user labels of a SLEAP ``.slp`` file; returns its ``config.yaml``.

    Args:
        labels_file: the ``.slp`` file (predicted instances in it are not imported).
        videos: the labelled videos, one per video of the file in its order (default: where the file
            says they are, relative to the file when not found as written).
        working_directory: where to create ``<project>-<experimenter>-<date>/`` (default: current folder).
        project: the task name (default: the file's name without ``.slp``).
        experimenter: the scorer of the labels.
        frames: import only these frame numbers (of every video); default all labelled frames.
        copy_videos: copy the videos into the project instead of linking them.
    """
    path = Path(labels_file)
    slp = read_slp_labels(path)
    if not slp.videos or not any(len(v.frames) for v in slp.videos):
        raise LabelFileError(f"{path} holds no user-labelled frames; label frames in SLEAP first.")
    sources = _check_videos(slp, videos)
    stems = [p.stem for p, _ in sources]
    if len(set(stems)) != len(stems):
        raise ProjectError(f"{path} labels several videos named {stems}; rename them so that each name is unique.")
    keep = [np.ones(len(v.frames), bool) if frames is None else np.isin(v.frames, frames) for v in slp.videos]
    if frames is not None:
        labelled = np.concatenate([v.frames for v in slp.videos])
        absent = sorted(set(frames) - set(labelled.tolist()))
        if absent:
            raise ProjectError(
                f"{path} has no user labels on frames {absent[:10]}{' ...' if len(absent) > 10 else ''}; "
                "choose labelled frames."
            )
    layout = slp.layout
    config = create_project(
        project or path.stem,
        experimenter,
        [p for p, _ in sources],
        working_directory,
        multi_animal=layout.multi_animal,
        individuals=list(layout.individuals) if layout.multi_animal else None,
        bodyparts=list(layout.bodyparts),
        copy_videos=copy_videos,
    )
    created = Project.load(config)
    cfg = dict(created.config)
    if layout.multi_animal:
        cfg["uniquebodyparts"] = list(layout.unique_bodyparts)
    cfg["skeleton"] = [list(e) for e in layout.skeleton.edges]
    if layout.skeleton.symmetric_pairs:
        cfg["symmetric_pairs"] = [list(p) for p in layout.skeleton.symmetric_pairs]
    write_config(cfg, config)
    created = Project.load(config)
    for entry, (video, _), rows in zip(slp.videos, sources, keep, strict=True):
        chosen = entry.frames[rows]
        if not len(chosen):
            continue
        folder = created.labeled_data_dir(video.stem)
        with VideoReader(video, color="bgr") as reader:
            written = write_frames(reader, chosen, folder)  # in frame order, as ``chosen``
        images = [f"labeled-data/{video.stem}/{p.name}" for p in written]
        labels = Labels(created.layout, images, entry.xy[rows], entry.occluded[rows], created.scorer)
        created.save_labels(labels, video.stem)
    return config


def image_frame_number(image: str) -> int | None:
    """The frame number in an image name ``img<N>.png`` (None when the name holds none)."""
    match = _FRAME_NUMBER.search(image.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def export_sleap(
    config: ProjectSource,
    output: PathLike,
    predictions: Sequence[PathLike] = (),
) -> Path:
    """Write the project's labels (and prediction files, as predicted instances) to a SLEAP ``.slp`` file.

    Each ``labeled-data/<video>`` folder whose video is in the project becomes one video of the file
    (frame numbers from the image names ``img<N>.png``); each prediction file is matched to the project
    video whose name starts its file name. Returns ``output``.
    """
    proj = load_project(config)
    output = Path(output)
    if output.suffix != ".slp":
        raise ProjectError(f"SLEAP files end in .slp; got {output}.")
    labels = proj.load_labels()
    per_video: dict[Path, SleapVideoData] = {}
    for stem in proj.video_folders():
        rows = [i for i, v in enumerate(labels.video_of_images) if v == stem]
        if not rows:
            continue
        video = proj.video_path(stem)
        if video is None:
            warnings.warn(
                f"{proj.labeled_data_dir(stem)} has labels but the project has no video {stem!r}; they are not "
                "exported (add the video with `markerless add-videos`).",
                stacklevel=2,
            )
            continue
        part = labels.select(rows)
        numbers = [image_frame_number(p) for p in part.images]
        bad = [p for p, n in zip(part.images, numbers, strict=True) if n is None]
        if bad:
            raise ProjectError(
                f"Images {bad[:3]} have no frame number in their name (img<N>.png), so their video frame is "
                "unknown; SLEAP needs it."
            )
        per_video[video] = SleapVideoData(video, part, np.array(numbers, dtype=np.int64))
    videos = {v.name: v for v in proj.videos}
    for file in predictions:
        file = Path(file)
        video = max((v for v in proj.videos if file.name.startswith(v.stem)), key=lambda v: len(v.stem), default=None)
        if video is None:
            raise ProjectError(
                f"Prediction file {file} does not start with the name of a project video ({sorted(videos)}); "
                "pass files written by `markerless analyze` for this project."
            )
        if video in per_video and per_video[video].poses is not None:
            raise ProjectError(f"Two prediction files for {video.name}; pass one per video.")
        poses = read_predictions(file, proj.layout)
        old = per_video.get(video, SleapVideoData(video))
        per_video[video] = SleapVideoData(video, old.labels, old.label_frames, poses)
    if not per_video:
        raise ProjectError(f"{proj.root} has no labels of its videos and no predictions were given; nothing to export.")
    return write_slp(output, proj.layout, list(per_video.values()))


__all__ = ["export_sleap", "image_frame_number", "import_sleap", "parse_frames"]
