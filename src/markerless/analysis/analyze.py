"""``markerless analyze``: predict the poses in every frame of videos with a trained shuffle.

Per video: decode (background thread) -> infer (chosen backend) -> record in crash-safe chunks
(:mod:`markerless.analysis.results_writer`) -> write ``<stem><scorer>.h5`` (+ ``.csv``; a tracked multi-animal
video: ``<stem><scorer>_el.h5``, see :func:`~markerless.project.prediction_files.analysis_suffix`) and
``<stem><scorer>_meta.pickle`` atomically. Existing complete results are kept unless
``overwrite=True`` (an existing result that cannot be read is moved aside to ``<name>.unreadable``
and the video analysed again); an interrupted run resumes where it stopped. A video that decodes
fewer frames than its header promises is analysed up to its last frame, with a warning. How to
analyse is an :class:`~markerless.analysis.options.AnalysisOptions`.
"""

from __future__ import annotations

import pickle
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from markerless.analysis.cluster import (
    RangeTask,
    TrackingCrop,
    dask_client,
    frames_backend,
    run_tasks,
    split_ranges,
)
from markerless.analysis.model_source import AnalysisModel, BackendSpec, resolve_model
from markerless.analysis.options import AnalysisOptions, analysis_options
from markerless.analysis.pipeline import run_ranges
from markerless.analysis.results_writer import PartialResults
from markerless.analysis.tracking_crop import AnimalGroup, CropSettings, CropTracker, GroupCropTracker
from markerless.errors import VideoError
from markerless.io.atomic import atomic_path
from markerless.io.dlc import write_predictions
from markerless.io.video import VideoReader, find_videos
from markerless.model.poses import Poses
from markerless.project.prediction_files import analysis_suffix, prediction_path, untracked_path
from markerless.project.recipe import WINDOW_GROWTH, Recipe
from markerless.tracking.api import track_poses
from markerless.tracking.tracklets import tracklets_path, write_tracklets


def _log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


class _VideoRun:
    """One video being analysed: its reader facts, chunk store and output files."""

    def __init__(
        self,
        video: Path,
        output: Path,
        model: AnalysisModel,
        spec: BackendSpec,
        info: dict[str, Any],
        batch_size: int,
        chunk_frames: int,
        crop: TrackingCrop | None = None,
    ) -> None:
        self.video, self.output, self.model, self.spec, self.info = video, output, model, spec, info
        self.batch_size = batch_size
        self.crop = crop
        self.assembled = crop is not None and crop.group is not None  # a group crop hands out animals
        n_ind, n_kp = model.layout.shape
        self.n_keypoints = n_ind * n_kp
        fingerprint = {
            "scorer": model.scorer,
            "snapshot": str(model.snapshot),
            "backend": spec.backend,
            "precision": spec.precision,
            "scale": model.scale,
            "video": str(video),
            "video_bytes": video.stat().st_size,  # a replaced video starts afresh
            "video_mtime_ns": video.stat().st_mtime_ns,
            "width": info["width"],
            "height": info["height"],
            "tracking_crop": list(crop[0].size) if crop else None,
        }
        self.partial = PartialResults(output, info["n_frames"], self.n_keypoints, fingerprint, chunk_frames)
        self.started = datetime.now()
        self.clock = time.perf_counter()
        self.window_fraction: float | None = None

    def backend(self) -> Any:
        """The backend to run this video's frames through: the model, or a tracking crop around it."""
        return frames_backend(self.spec, self.crop, (self.info["width"], self.info["height"]))

    def add(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Record a backend's outputs: keypoints ``(B, k, 3)`` (padded with NaN to the layout's keypoint count),
        or a multi-animal net's peaks and affinities, assembled into animals here unless the backend is a group
        tracking crop (:attr:`assembled`: it assembled them, window and whole frames alike)."""
        if not self.assembled:
            values = self.model.postprocess(values)
        if values.shape[1] < self.n_keypoints:
            pad = np.full((len(values), self.n_keypoints - values.shape[1], 3), np.nan, dtype=np.float32)
            values = np.concatenate([values, pad], axis=1)
        self.partial.add(indices, values)

    def finish(
        self, save_as_csv: bool, backend_name: str, precision: str, track: bool = True, n_animals: int | None = None
    ) -> Path:
        """Write the result files atomically and drop the chunks; a multi-animal video's animals are tracked
        (identities kept over time) unless ``track`` is False, and its tracklets written beside."""

        self.partial.flush()
        if not self.partial.complete():
            raise VideoError(
                f"Frames {self.partial.missing()[:3]}... of {self.video} could not be analysed; "
                "the video may be damaged. Run analyze again to retry the missing frames."
            )
        values = self.partial.result()
        model, info = self.model, self.info
        if len(values) < info["n_frames"]:
            _log(
                f"{self.video}: its header promises {info['n_frames']} frames but only {len(values)} could be "
                f"decoded; the results hold those {len(values)} frames (the file may be cut short: check it "
                "or re-encode it)."
            )
        poses = Poses(
            model.to_layout(values),
            model.layout,
            scorer=model.scorer,
            fps=info["fps"],
            source=str(self.video),
            metadata={"backend": backend_name, "precision": precision},
        )
        tracked = self.model.edges is not None and track
        side = untracked_path(self.output)  # the side files' name: without _el
        if tracked:
            poses, tracklets = track_poses(poses, n_animals)
            write_tracklets(tracklets, tracklets_path(side))
        meta = {
            "data": {
                "tracked": tracked,
                "start": self.started.timestamp(),
                "stop": datetime.now().timestamp(),
                "run_duration": time.perf_counter() - self.clock,
                "Scorer": model.scorer,
                "pytorch-config": model.recipe,
                "fps": info["fps"],
                "batch_size": self.batch_size,
                "frame_dimensions": (info["width"], info["height"]),
                "nframes": len(values),
                "header_nframes": info["n_frames"],
                "iteration": getattr(model.project, "iteration", 0),
                "training set fraction": model.train_fraction,
                "cropping": False,
                "cropping_parameters": [0, info["width"], 0, info["height"]],
                "individuals": list(model.layout.individuals),
                "bodyparts": list(model.layout.bodyparts),
                "unique_bodyparts": list(model.layout.unique_bodyparts),
                "snapshot": str(model.snapshot),
                "input_scale": model.scale,
                "backend": backend_name,
                "precision": precision,
                "device": self.spec.device,
                "resumed_frames": self.partial.resumed_frames,
                "tracking_crop": list(self.crop[0].size) if self.crop else None,
                "tracking_crop_window_fraction": self.window_fraction,
            }
        }
        meta_path = side.with_name(f"{side.stem}_meta.pickle")
        with atomic_path(meta_path) as tmp:
            tmp.write_bytes(pickle.dumps(meta))
        write_predictions(poses, self.output, save_as_csv=save_as_csv)  # the .h5 last: it means "complete"
        self.partial.discard()
        return self.output


def _video_info(video: Path) -> dict[str, Any]:
    with VideoReader(video) as reader:
        return {
            "n_frames": int(reader.n_frames),
            "fps": float(reader.fps or 0.0) or None,
            "width": int(reader.width),
            "height": int(reader.height),
        }


def _analyze_locally(run: _VideoRun, bar: tqdm, decoders: int = 1) -> None:
    run.started, run.clock = datetime.now(), time.perf_counter()
    wanted = run.partial.missing()
    backend = run.backend()
    if run.crop is not None:
        decoders = 1  # the window follows the animal from batch to batch: frames must come in order
    for indices, values in run_ranges(
        lambda: VideoReader(run.video, color=run.spec.color), backend, run.batch_size, wanted, decoders=decoders
    ):
        run.add(indices, values)
        bar.update(len(indices))
    run.partial.flush()
    _note_truncation(run)
    if isinstance(backend, CropTracker):
        run.window_fraction = backend.window_fraction
        if backend.window_fraction < 0.7:
            w, h = backend.settings.size
            group = isinstance(backend, GroupCropTracker)
            _log(
                f"{run.video.name}: the {w}x{h} tracking crop lost {'some of the animals' if group else 'the animal'} "
                f"in {1 - backend.window_fraction:.0%} of the frames, which were analysed whole; if the "
                f"{'animals spread wide' if group else 'animal is large'} or move fast, pass a larger crop size "
                "(--crop-size W H) or --no-tracking-crop."
            )


def tracking_crop_settings(
    model: AnalysisModel,
    frame_size: tuple[int, int],
    device: str,
    tracking_crop: bool | None = None,
    crop_size: tuple[int, int] | None = None,
) -> CropSettings | None:
    """The tracking crop to analyse frames of ``frame_size`` with, or None for whole frames.

    ``tracking_crop`` None (auto) crops on the CPU when the window is at most 60 % of the frame; True crops
    whenever the window fits the frames. A single animal's window defaults to the recipe's, else the training
    crop plus a sixth, in frame pixels: with 192x192 training crops, batches of 4 and the window led by the
    animal's velocity, the openfield video (640x480) keeps 99 % of its frames in a 224x224 window (223
    frames/s end to end vs 193 with 256x256; without the velocity lead and with batches of 8, a 192x192
    window kept only 64 %). A multi-animal model's window follows every animal
    (:class:`~markerless.analysis.tracking_crop.GroupCropTracker`): the recipe's window holding them all
    (``fit_recipe``) or ``crop_size``; a recipe without that window analyses whole frames (auto) or asks
    for ``crop_size`` (True).
    """
    if tracking_crop is False:
        return None
    several = model.edges is not None
    if crop_size is None:  # the recipe's window, else (one animal) the training crop plus a sixth
        recipe = Recipe.from_dict(model.recipe)
        window = recipe.analysis_window
        if window is None and several:
            if tracking_crop:
                raise VideoError(
                    "This multi-animal model's recipe has no analysis window holding every animal (trained before "
                    "group crops, or the animals spread over most of the frame); pass --crop-size W H with "
                    "--tracking-crop (live: --dynamic-crop), or leave that option out."
                )
            return None
        size = window or tuple(c * WINDOW_GROWTH for c in recipe.crop_size)
        crop_size = (round(size[0] / model.scale), round(size[1] / model.scale))
    settings = CropSettings(size=(int(crop_size[0]), int(crop_size[1])))
    if tracking_crop is None:
        return settings if device == "cpu" and settings.fits(frame_size) else None
    if not settings.fits(frame_size, max_fraction=1.0):
        raise VideoError(
            f"A {settings.size[0]}x{settings.size[1]} tracking crop does not fit {frame_size[0]}x{frame_size[1]} "
            "frames; pass a smaller --crop-size or leave out --tracking-crop."
        )
    return settings


def _note_truncation(run: _VideoRun) -> None:
    """When only the tail is missing after decoding, the video ends there (its header promised more)."""
    missing = run.partial.missing()
    if len(missing) == 1 and missing[0][1] == run.partial.n_valid and missing[0][0] > 0:
        run.partial.mark_end(missing[0][0])


def analyze(
    config: str | Path,
    videos: str | Path | Iterable[str | Path],
    shuffle: int = 1,
    *,
    snapshot: str | Path | None = None,
    options: AnalysisOptions | None = None,
    **overrides: Any,
) -> list[Path]:
    """Predict poses in ``videos`` (files or folders) with shuffle ``shuffle``'s model.

    Writes ``<video stem><scorer>.h5`` (and ``.csv`` with ``save_as_csv``) plus ``_meta.pickle`` beside
    each video (or in ``dest``) and returns the ``.h5`` paths, in the order of the videos; a multi-animal
    video that is tracked gets ``<video stem><scorer>_el.h5`` (HDF key ``tracks``, as DeepLabCut) and
    ``_tracklets.npz`` for ``markerless stitch``. ``snapshot``:
    the snapshot file to use (default: the shuffle's model, its last snapshot). How to analyse (backend, device, precision,
    batch size, Dask scheduler, tracking crop, dest, save_as_csv, overwrite...) is an
    :class:`~markerless.analysis.options.AnalysisOptions`, given whole as ``options`` and/or as keyword
    ``overrides`` of its fields (``analyze(config, video, device="cpu", batch_size=8)``); an unknown
    keyword raises a :class:`~markerless.errors.ConfigError` naming the closest option.
    Videos whose results exist are skipped unless ``overwrite``; interrupted analyses resume.
    """
    settings = analysis_options(options, **overrides)
    paths = find_videos(videos)
    return analyze_videos(resolve_model(config, shuffle, snapshot), paths, settings)


def _readable(path: Path) -> bool:
    """Whether ``path`` opens as an HDF5 table store holding at least one table (a cheap check)."""
    try:
        with pd.HDFStore(path, mode="r") as store:
            return bool(store.keys())
    except Exception:  # any failure to open means the file cannot be used as a result
        return False


def _set_aside(path: Path) -> Path:
    """Rename an unreadable result to ``<name>.unreadable`` (``.unreadable-2``... if taken); returns the new path."""
    target = path.with_name(f"{path.name}.unreadable")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.unreadable-{n}")
    path.rename(target)
    return target


def analyze_videos(
    model: AnalysisModel,
    videos: Iterable[str | Path],
    options: AnalysisOptions | None = None,
    **overrides: Any,
) -> list[Path]:
    """:func:`analyze` with a resolved model (benchmarks and tools that build their own).

    ``options`` and ``overrides`` as for :func:`analyze`; the ``auto`` choices (device, backend,
    precision, batch size, decoders) are made here, once per call.
    """
    opts = analysis_options(options, **overrides).resolve()
    device, backend_name, precision = opts.device, opts.backend, opts.precision
    batch_size = opts.batch
    backend_options = dict(opts.backend_options)
    outputs: list[Path] = []
    pending: list[tuple[Path, Path, dict[str, Any], BackendSpec, TrackingCrop | None]] = []
    suffix = analysis_suffix(model.edges is not None, opts.track)  # a tracked multi-animal video: _el
    for video in map(Path, videos):
        out = prediction_path(video, model.scorer, suffix=suffix, dest=opts.dest)
        outputs.append(out)
        if out.exists() and not opts.overwrite:
            if _readable(out):
                _log(f"{out} exists: skipping {video.name} (pass overwrite=True / --overwrite to analyse again).")
                continue
            aside = _set_aside(out)
            _log(f"{out} exists but cannot be read: moved it to {aside.name} and analysing {video.name} again.")
        info = _video_info(video)
        if opts.stop is not None:
            info["n_frames"] = min(info["n_frames"], int(opts.stop))
        frame_size = (info["width"], info["height"])
        spec = model.spec(backend_name, device, frame_size, precision, backend_options)
        settings = tracking_crop_settings(model, frame_size, device, opts.tracking_crop, opts.crop_size)
        crop = None
        if settings is not None:  # a multi-animal net's crop assembles the animals itself, window and whole
            group = AnimalGroup(model.postprocess, model.layout) if model.edges is not None else None
            crop = TrackingCrop(
                settings, model.spec(backend_name, device, settings.size, precision, backend_options), group
            )
        pending.append((video, out, info, spec, crop))
    if not pending:
        return outputs

    def open_run(
        video: Path, out: Path, info: dict[str, Any], spec: BackendSpec, crop: TrackingCrop | None
    ) -> _VideoRun:
        run = _VideoRun(video, out, model, spec, info, batch_size, opts.chunk_frames, crop)
        bar.update(run.partial.resumed_frames)
        return run

    total = sum(item[2]["n_frames"] for item in pending)
    with tqdm(total=total, unit="frames", desc="analyze", disable=None, smoothing=0.1) as bar:
        if opts.scheduler:  # every video at once: their tasks share the cluster
            runs = [open_run(*item) for item in pending]
            _analyze_on_dask(runs, opts.scheduler, batch_size, opts.range_frames, bar)
            for run in runs:
                run.finish(opts.save_as_csv, backend_name, precision, opts.track, opts.n_animals)
        else:  # one video at a time: only its predictions are held in memory
            for item in pending:
                bar.set_description(item[0].name)
                run = open_run(*item)
                _analyze_locally(run, bar, opts.decoders or 1)
                run.finish(opts.save_as_csv, backend_name, precision, opts.track, opts.n_animals)
    return outputs


def _analyze_on_dask(runs: list[_VideoRun], scheduler: str, batch_size: int, range_frames: int, bar: tqdm) -> None:
    by_key = {str(r.output): r for r in runs}
    tasks = [
        RangeTask(str(r.video), a, b, r.spec, batch_size, str(r.output), r.crop, (r.info["width"], r.info["height"]))
        for r in runs
        for a, b in split_ranges(r.partial.missing(), range_frames)
    ]
    with dask_client(scheduler) as client:
        for task, indices, values in run_tasks(client, tasks):
            run = by_key[task.key]
            if len(indices):
                run.add(indices, values)
            run.partial.flush()  # one chunk per task: resumable at task granularity
            bar.update(len(indices))
    for run in runs:
        _note_truncation(run)
