"""A ready-to-train project made from a rendered video: labelled frames and the ground truth of every frame."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from markerless.io.dlc import write_predictions
from markerless.io.video import VideoReader, VideoWriter
from markerless.labelling.frames import select_frames_uniform, write_frames
from markerless.model.labels import Labels
from markerless.project.project import Project, create_project
from markerless.synthetic.animals import BODYPARTS, EDGES, SYMMETRIC_PAIRS, Scene, individual_names, make_scene
from markerless.synthetic.render import iter_render, scene_poses

#: Suffix of the ground-truth file written beside the video: ``videos/<stem>_groundtruth.h5``.
GROUND_TRUTH_SUFFIX = "_groundtruth"


def ground_truth_path(video: str | os.PathLike[str]) -> Path:
    """Where :func:`make_synthetic_project` writes the ground truth of a video."""
    video = Path(video)
    return video.with_name(f"{video.stem}{GROUND_TRUTH_SUFFIX}.h5")


def write_scene_video(scene: Scene, path: str | os.PathLike[str], codec: str = "mp4v") -> np.ndarray:
    """Render a scene from above into a video file; returns the occlusion flags ``bool (F, I, K)``."""
    occluded = []
    with VideoWriter(path, scene.fps, scene.size, codec=codec) as writer:
        for _, frames, occ in iter_render(scene, chunk_size=64):
            writer.write_batch(frames)
            occluded.append(occ)
    return np.concatenate(occluded)


def make_synthetic_project(
    dest: str | os.PathLike[str],
    *,
    n_animals: int = 1,
    n_frames: int = 200,
    n_labelled: int = 40,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    fps: float = 30,
    task: str = "synthetic",
    experimenter: str = "synth",
    animal_length: float | None = None,
) -> Path:
    """Render a video of ``n_animals`` animals and write a ready project around it in the folder ``dest``.

    The project (``dest/<task>-<experimenter>-<date>/``) has the video in ``videos/``, a skeleton
    with left/right pairs in ``config.yaml`` (multi-animal when ``n_animals > 1``), ``n_labelled``
    frames (random, decoded from the video as frame extraction would) in ``labeled-data/<video>/``
    with exact labels (body parts hidden by another animal are flagged occluded), and the ground truth
    of every frame in ``videos/<video>_groundtruth.h5`` (prediction-file layout, likelihood 1).
    ``animal_length`` (snout to tail base, pixels) defaults to about a quarter of the smaller image side;
    a close-up (an animal that fills most of the frame) has about two thirds.
    Deterministic for a seed. Returns the path of ``config.yaml``.
    """

    if n_labelled < 1 or n_labelled > n_frames:
        raise ValueError(f"n_labelled must be between 1 and n_frames ({n_frames}); got {n_labelled}.")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    scene = make_scene(n_frames, size, n_animals, seed, fps, animal_length=animal_length)
    stem = f"arena{n_animals}x{seed}" if n_animals > 1 else f"arena{seed}"
    staging = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=dest))
    try:
        occluded = write_scene_video(scene, staging / f"{stem}.mp4")
        multi = n_animals > 1
        config = create_project(
            task,
            experimenter,
            [staging / f"{stem}.mp4"],
            working_directory=dest,
            multi_animal=multi,
            individuals=individual_names(n_animals) if multi else None,
            bodyparts=list(BODYPARTS),
            copy_videos=True,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    project = Project.load(config)
    project.config["skeleton"] = [list(edge) for edge in EDGES]
    project.config["symmetric_pairs"] = [list(pair) for pair in SYMMETRIC_PAIRS]
    project.config["numframes2pick"] = min(20, n_frames)
    project.save()
    project = Project.load(config)
    video = project.video_path(stem)
    assert video is not None
    poses = scene_poses(scene)
    poses.source = f"videos/{video.name}"
    hidden = np.argwhere(occluded)
    poses.metadata["occluded"] = hidden.tolist()  # [frame, individual, body part] triples
    write_predictions(poses, ground_truth_path(video))
    chosen = select_frames_uniform(n_frames, n_labelled, rng=np.random.default_rng([seed, 11]))
    with VideoReader(video, color="bgr") as reader:
        images = write_frames(reader, chosen, project.labeled_data_dir(stem), progress=False)
    labels = Labels(
        project.layout,
        [f"labeled-data/{stem}/{p.name}" for p in images],
        poses.xy[chosen].astype(np.float64),
        occluded[chosen],
        project.scorer,
    )
    project.save_labels(labels, stem)
    return config


__all__ = ["GROUND_TRUTH_SUFFIX", "ground_truth_path", "make_synthetic_project", "write_scene_video"]
