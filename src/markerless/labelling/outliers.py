"""Active learning: find frames a trained model gets wrong, hand them to the labeller, fold them back in.

``extract_outliers`` reads a video's predictions, picks candidate frames (jumps, low likelihood, large
residuals of a smoothing model, or a given list), keeps a diverse subset (k-means on the images) and
writes them into ``labeled-data/<video>/`` with the model's predictions as ``machinelabels-iter<i>.h5``
+ ``machinelabels.csv`` (DeepLabCut's files). The labelling app shows those as suggestions to accept
or correct. ``markerless.labelling.merge`` then starts the next iteration.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from markerless.errors import ConfigError, ProjectError
from markerless.io.atomic import atomic_path
from markerless.io.dlc import read_predictions
from markerless.io.video import VideoReader
from markerless.labelling.frames import existing_frame_indices, image_name, select_frames_kmeans
from markerless.labelling.machine_labels import write_machine_labels
from markerless.model import PoseLayout, Poses
from markerless.project.prediction_files import prediction_file, prediction_suffixes, shuffle_scorer
from markerless.project.project import Project
from markerless.results.filters import kalman_smooth

log = logging.getLogger(__name__)

ALGORITHMS = ("jump", "uncertain", "fitting", "list")
#: Pixels a point may move between frames (``jump``) or lie off its fitted track (``fitting``) (DeepLabCut's default).
EPSILON_PX = 20.0
#: Likelihood below which a point is uncertain (DeepLabCut's default).
P_BOUND = 0.01


# --- candidate frames -------------------------------------------------------------------------
def jump_frames(xy: np.ndarray, epsilon: float) -> np.ndarray:
    """Frames where any point moved more than ``epsilon`` pixels since the previous frame.

    ``xy``: ``(frames, individuals, keypoints, 2)``; NaN points never count as jumps.
    """
    d2 = np.sum(np.diff(xy, axis=0) ** 2, axis=-1)  # (T-1, I, K)
    moved = np.nan_to_num(d2, nan=0.0) > epsilon**2
    return np.flatnonzero(moved.reshape(len(d2), -1).any(axis=1)) + 1


def uncertain_frames(likelihood: np.ndarray, p_bound: float) -> np.ndarray:
    """Frames where any point's likelihood is below ``p_bound``. ``likelihood``: ``(frames, I, K)``."""
    low = likelihood < p_bound  # NaN (impossible cells) compare False
    return np.flatnonzero(low.reshape(len(likelihood), -1).any(axis=1))


def fitting_residuals(
    xy: np.ndarray,
    likelihood: np.ndarray,
    p_bound: float,
    model: str = "kalman",
    ar_degree: int = 3,
    ma_degree: int = 1,
) -> np.ndarray:
    """Per frame, the distance between each point and a smoothing model of its track, averaged over points.

    ``model="kalman"`` (default): the outlier-gated constant-velocity Kalman + RTS smoother of
    :mod:`markerless.results.filters`, all tracks at once. ``model="sarimax"``: DeepLabCut's
    SARIMAX(``ar_degree``, 0, ``ma_degree``) fit per track (slow). Points below ``p_bound`` are
    missing; tracks with 10 or fewer valid samples are skipped. Returns ``(frames,)``, NaN where no
    track was fitted.
    """
    import warnings

    n_frames = len(xy)
    cells = xy.reshape(n_frames, -1, 2)
    ok = np.isfinite(cells).all(-1) & (likelihood.reshape(n_frames, -1) >= p_bound)
    ok &= ok.sum(axis=0, keepdims=True) > 10
    observed = np.where(ok[..., None], cells, np.nan)  # (T, C, 2)
    if model == "kalman":
        fitted = kalman_smooth(observed.reshape(n_frames, -1)).reshape(observed.shape)
    elif model == "sarimax":
        fitted = _sarimax_fit(observed, ar_degree, ma_degree)
    else:
        raise ConfigError(f"Unknown smoothing model {model!r}; use 'kalman' or 'sarimax'.")
    dist = np.where(ok, np.linalg.norm(cells - fitted, axis=-1), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(dist, axis=1)


def _sarimax_fit(observed: np.ndarray, ar_degree: int, ma_degree: int) -> np.ndarray:
    """One-step predictions of a SARIMAX(ar, 0, ma) fit of each ``(T, C, 2)`` track (NaN = missing)."""
    import warnings

    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    fitted = np.full(observed.shape, np.nan)
    usable = np.flatnonzero(np.isfinite(observed[..., 0]).any(axis=0))
    for c in usable:  # one model per track; each fit is vectorised over frames
        for axis in range(2):
            series = observed[:, c, axis]
            offset = np.nanmean(series)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", (ConvergenceWarning, UserWarning, RuntimeWarning))
                result = SARIMAX(series - offset, order=(ar_degree, 0, ma_degree), trend="n").fit(
                    disp=False, maxiter=50
                )
            fitted[:, c, axis] = result.get_prediction().predicted_mean + offset
    return fitted


def candidate_frames(
    poses: Poses,
    algo: str,
    *,
    epsilon: float = EPSILON_PX,
    p_bound: float = P_BOUND,
    frames: Sequence[int] | None = None,
    num_frames: int = 20,
    start: float = 0.0,
    stop: float = 1.0,
) -> np.ndarray:
    """Row indices of ``poses`` that ``algo`` flags as outliers, restricted to ``[start, stop]`` of the video."""
    if algo not in ALGORITHMS:
        raise ConfigError(f"Unknown outlier algorithm {algo!r}; use one of {', '.join(ALGORITHMS)}.")
    n = len(poses)
    valid = poses.layout.valid
    xy = np.where(valid[None, ..., None], poses.xy, np.nan).astype(np.float64)
    lik = np.where(valid[None], poses.likelihood, np.nan).astype(np.float64)
    if algo == "jump":
        rows = jump_frames(xy, epsilon)
    elif algo == "uncertain":
        rows = uncertain_frames(lik, p_bound)
    elif algo == "fitting":
        score = fitting_residuals(xy, lik, p_bound)
        rows = np.flatnonzero(np.nan_to_num(score, nan=-1.0) > epsilon)
        if len(rows) < 2 * num_frames:
            order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
            rows = np.sort(order[: min(2 * num_frames, int(np.isfinite(score).sum()))])
    else:
        if frames is None or not len(frames):
            raise ConfigError("The 'list' algorithm needs the frame numbers to extract (--frames N ...).")
        wanted = np.asarray(frames, dtype=np.int64)
        rows = np.flatnonzero(np.isin(poses.frames, wanted))
        missing = np.setdiff1d(wanted, poses.frames)
        if len(missing):
            raise ConfigError(
                f"Frames {missing[:10].tolist()} are not in the predictions (0..{int(poses.frames.max())})."
            )
        return rows
    lo, hi = math.floor(start * n), math.ceil(stop * n)
    return rows[(rows >= lo) & (rows < hi)]


# --- extraction --------------------------------------------------------------------------------
def _read_poses(path: Path, layout: PoseLayout) -> Poses:
    return read_predictions(path, layout)


def _pick(
    reader: Any,
    candidates: np.ndarray,
    k: int,
    extraction: str,
    rng: np.random.Generator,
    exclude: set[int],
    start: float,
    stop: float,
) -> np.ndarray:
    """``k`` diverse frames among ``candidates`` (k-means on the images, or uniformly at random)."""
    candidates = np.setdiff1d(candidates, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
    if len(candidates) <= k:
        return candidates
    if extraction == "uniform":
        return np.sort(rng.choice(candidates, size=k, replace=False))
    if extraction != "kmeans":
        raise ConfigError(f"Unknown extraction {extraction!r}; use 'kmeans' or 'uniform'.")
    picked = select_frames_kmeans(reader, k, start, stop, rng, exclude=tuple(exclude), candidates=candidates)
    return np.sort(np.asarray(picked, dtype=np.int64))


def extract_outliers(
    config: str | Path,
    videos: Sequence[str | Path],
    shuffle: int = 1,
    algo: str = "jump",
    frames: Sequence[int] | None = None,
    epsilon: float = EPSILON_PX,
    p_bound: float = P_BOUND,
    num_frames: int | None = None,
    extraction: str = "kmeans",
    seed: int = 0,
) -> list[Path]:
    """Extract frames the model likely got wrong, with its predictions as suggestions to refine.

    For each video: reads shuffle ``shuffle``'s predictions beside it (multi-animal: ``_el`` tracks, else raw;
    never another shuffle's, see :mod:`markerless.project.prediction_files`), flags candidates with ``algo``
    (``jump``: a point moved more than ``epsilon`` px between frames; ``uncertain``: a likelihood below
    ``p_bound``; ``fitting``: far from a smoothing model of its track; ``list``: the given ``frames``), keeps ``num_frames`` diverse ones
    (config ``numframes2pick`` by default), writes them as ``labeled-data/<stem>/img<N>.png`` and the
    predictions as ``machinelabels-iter<iteration>.h5`` + ``machinelabels.csv``.

    Returns the paths of the images written.
    """
    project = Project.load(config)
    cfg = project.config
    k = int(num_frames if num_frames is not None else cfg.get("numframes2pick", 20))
    start, stop = float(cfg.get("start", 0) or 0), float(cfg.get("stop", 1) or 1)
    rng = np.random.default_rng(seed)
    scorer = shuffle_scorer(project, shuffle)
    written: list[Path] = []
    for video in videos:
        video = Path(video)
        if not video.exists():
            raise ProjectError(f"Video {video} does not exist; pass the path of an analysed video.")
        source = prediction_file(video, shuffle, scorer=scorer, suffix=prediction_suffixes(project.multi_animal))
        poses = _read_poses(source, project.layout)
        rows = candidate_frames(
            poses, algo, epsilon=epsilon, p_bound=p_bound, frames=frames, num_frames=k, start=start, stop=stop
        )
        folder = Path(project.labeled_data_dir(video.stem))
        folder.mkdir(parents=True, exist_ok=True)
        with VideoReader(video) as reader:
            n_frames = reader.n_frames
            existing = existing_frame_indices(folder)
            cand_frames = poses.frames[rows]
            cand_frames = cand_frames[cand_frames < n_frames]
            picked = (
                cand_frames if algo == "list" else _pick(reader, cand_frames, k, extraction, rng, existing, start, stop)
            )
            if not len(picked):
                log.warning("No outlier frames found in %s with algo=%s.", video, algo)
                continue
            images = reader.read_frames(picked)
        names = [image_name(int(i), n_frames) for i in picked]
        for name, image in zip(names, images, strict=True):
            path = folder / name
            with atomic_path(path) as tmp:
                if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                    raise ProjectError(f"Could not write {path}; check the disk space and permissions.")
            written.append(path)
        row_of = {int(f): i for i, f in enumerate(poses.frames)}
        data = poses.data[[row_of[int(i)] for i in picked]].astype(np.float64)
        keys = [f"labeled-data/{video.stem}/{n}" for n in names]
        write_machine_labels(folder, project.iteration, keys, data, project.layout, poses.scorer or project.scorer)
    return written
