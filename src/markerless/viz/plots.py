"""Plots of predictions over time (matplotlib, no display needed), in DeepLabCut's layout.

For each video, ``plot-poses/<stem>/`` beside it (or in ``dest``) receives:

* ``trajectory.png``: each body part's path in the image (y down, as in the video);
* ``plot.png``: x and y of each body part over time;
* ``plot-likelihood.png``: likelihood over time, with the p-cutoff;
* ``hist.png``: histograms of frame-to-frame displacement (pixels) of each body part.

Filtered predictions add ``_filtered`` to the names; multi-animal projects get one set per individual
(``trajectory<suffix><individual>.png``, as DeepLabCut names them). Points under the p-cutoff are
left out of the trajectory, x/y and displacement plots.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from markerless.errors import MarkerlessError
from markerless.io.atomic import atomic_path
from markerless.io.video import video_info
from markerless.model.poses import Poses
from markerless.project.prediction_files import load_predictions, project_prediction_files
from markerless.project.project import DEFAULT_PCUTOFF
from markerless.viz.draw import colormap_colors

PLOTS = ("trajectory", "plot", "plot-likelihood", "hist")


log = logging.getLogger(__name__)


def _figure(width: float = 8.0, height: float = 6.0) -> Figure:
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _colors(n: int, colormap: str) -> np.ndarray:
    return colormap_colors(n, colormap) / 255.0


def plot_poses(
    poses: Poses,
    folder: str | os.PathLike[str],
    *,
    pcutoff: float | None = None,
    suffix: str = "",
    colormap: str = "rainbow",
    frame_size: tuple[int, int] | None = None,
    individual: int = 0,
    linewidth: float = 1.0,
) -> list[Path]:
    """Write the four plots of one individual of ``poses`` into ``folder``; returns their paths.

    ``pcutoff``: points under this likelihood are left out (None: :data:`~markerless.project.project.DEFAULT_PCUTOFF`);
    ``suffix`` is appended to each file name (before ``.png``), ``frame_size`` ``(width, height)``
    fixes the trajectory plot's axes to the video frame.
    """
    pcutoff = DEFAULT_PCUTOFF if pcutoff is None else float(pcutoff)
    folder = Path(folder)
    layout = poses.layout
    kps = np.flatnonzero(layout.valid[individual])
    names = [layout.keypoint_names[k] for k in kps]
    data = poses.data[:, individual][:, kps].astype(np.float64)  # (T, K, 3)
    like = data[..., 2]
    xy = np.where((like >= pcutoff)[..., None], data[..., :2], np.nan)
    nothing = f"no point has likelihood >= {pcutoff:g}\n(train longer, or plot with a lower --pcutoff)"
    if not np.isfinite(xy).any():
        log.warning("plot-trajectories: %s", nothing.replace("\n", " "))
    else:
        nothing = ""
    t = poses.frames
    colors = _colors(len(names), colormap)
    who = f" ({layout.individual_names[individual]})" if layout.multi_animal else ""
    written = []

    fig = _figure()
    ax = fig.add_subplot()
    for k, name in enumerate(names):
        ax.plot(xy[:, k, 0], xy[:, k, 1], ".", ms=2, color=colors[k], label=name)
    if frame_size:
        ax.set_xlim(0, frame_size[0])
        ax.set_ylim(frame_size[1], 0)
    else:
        ax.invert_yaxis()
    ax.set_aspect("equal", adjustable="datalim" if not frame_size else "box")
    ax.set(xlabel="x (pixels)", ylabel="y (pixels)", title=f"Trajectories{who}, likelihood >= {pcutoff:g}")
    ax.legend(loc="best", fontsize="small", markerscale=4)
    if nothing:
        ax.text(0.5, 0.5, nothing, transform=ax.transAxes, ha="center", va="center")
    written.append(_save(fig, folder / f"trajectory{suffix}.png"))

    fig = _figure(10, 6)
    ax_x, ax_y = fig.subplots(2, 1, sharex=True)
    for k, name in enumerate(names):
        ax_x.plot(t, xy[:, k, 0], "-", lw=linewidth, color=colors[k], label=name)
        ax_y.plot(t, xy[:, k, 1], "-", lw=linewidth, color=colors[k])
    ax_x.set(ylabel="x (pixels)", title=f"Position over time{who}, likelihood >= {pcutoff:g}")
    ax_y.set(xlabel="frame", ylabel="y (pixels)")
    if nothing:
        ax_x.text(0.5, 0.5, nothing, transform=ax_x.transAxes, ha="center", va="center")
    ax_x.legend(loc="upper right", fontsize="small", ncols=min(len(names), 4))
    written.append(_save(fig, folder / f"plot{suffix}.png"))

    fig = _figure(10, 4)
    ax = fig.add_subplot()
    for k, name in enumerate(names):
        ax.plot(t, like[:, k], "-", lw=linewidth, color=colors[k], label=name)
    ax.axhline(pcutoff, color="k", ls="--", lw=1, label=f"p-cutoff {pcutoff:g}")
    ax.set(xlabel="frame", ylabel="likelihood", ylim=(-0.05, 1.05), title=f"Likelihood over time{who}")
    ax.legend(loc="lower right", fontsize="small", ncols=min(len(names) + 1, 5))
    written.append(_save(fig, folder / f"plot-likelihood{suffix}.png"))

    fig = _figure()
    ax = fig.add_subplot()
    step = np.linalg.norm(np.diff(xy, axis=0), axis=-1)  # (T-1, K), NaN unless both frames are kept
    finite = step[np.isfinite(step)]
    top = float(np.percentile(finite, 99.5)) if finite.size else 1.0
    bins = np.linspace(0.0, max(top, 1e-6), 50)
    for k, name in enumerate(names):
        values = step[:, k][np.isfinite(step[:, k])]
        if values.size:
            ax.hist(
                np.minimum(values, bins[-1]), bins=bins.tolist(), histtype="step", lw=1.5, color=colors[k], label=name
            )
    ax.set(
        xlabel="displacement between consecutive frames (pixels)",
        ylabel="count",
        yscale="log",
        title=f"Frame-to-frame displacement{who}",
    )
    if finite.size:
        ax.legend(loc="upper right", fontsize="small")
    written.append(_save(fig, folder / f"hist{suffix}.png"))
    return written


def plot_trajectories(
    config: str | os.PathLike[str],
    videos: Sequence[str | os.PathLike[str]] | str,
    shuffle: int = 1,
    filtered: bool = False,
    pcutoff: float | None = None,
    dest: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Plot the predictions of each video into ``plot-poses/<stem>/`` beside it (or in ``dest``).

    Args:
        config: the project's ``config.yaml`` (or folder); ``pcutoff`` and ``colormap`` come from it.
        videos: video files or folders of videos.
        shuffle: the shuffle whose predictions are plotted.
        filtered: plot ``..._filtered.h5`` predictions (file names get ``_filtered``).
        pcutoff: leave out points under this likelihood (default: the config's ``pcutoff``).
        dest: the folder holding the predictions (default: beside each video); plots go there too.

    Returns:
        The written PNG paths.
    """

    project, pairs = project_prediction_files(config, videos, shuffle, filtered=filtered, dest=dest)
    cfg = project.config
    cutoff = project.pcutoff if pcutoff is None else float(pcutoff)
    colormap = str(cfg.get("colormap") or "rainbow")
    suffix = "_filtered" if filtered else ""
    written: list[Path] = []
    for video, prediction in pairs:
        poses = load_predictions(project, prediction)
        folder = (Path(dest) if dest is not None else video.parent) / "plot-poses" / video.stem
        try:
            frame_size = video_info(video).size
        except MarkerlessError:  # the video only frames the trajectory plot
            frame_size = None
        for i, name in enumerate(poses.layout.individual_names):
            tag = suffix + (name if poses.layout.multi_animal else "")
            written += plot_poses(
                poses, folder, pcutoff=cutoff, suffix=tag, colormap=colormap, frame_size=frame_size, individual=i
            )
    return written


__all__ = ["PLOTS", "plot_poses", "plot_trajectories"]
