"""One frame in, one pose out, as fast as this machine allows: :class:`LiveEstimator`.

The estimator is built from a project's trained shuffle (:meth:`LiveEstimator.from_project`) or from
an exported model folder (:meth:`LiveEstimator.from_export`). Analysis decides the backend, device and
precision (:class:`~markerless.analysis.options.AnalysisOptions`, resolved once) and whether a
tracking crop is worth it (:func:`~markerless.analysis.analyze.tracking_crop_settings`); live runs
OpenVINO with the ``LATENCY`` hint (one request using every core) instead of analysis's throughput
setting. The models are compiled for a fixed frame size and a fixed window size on the first frame
(the warm-up), so no frame pays for a compilation afterwards. The dynamic crop is analysis's
:class:`~markerless.analysis.tracking_crop.CropTracker` run on batches of one frame: the same rules
decide when a window result stands and when the frame is analysed whole, with one addition: a frame
whose window result is not trusted but found the animal (typically near the window's edge) is first
analysed again in a window centred on it (``second_look``), so the whole frame, several times the cost
of a window, runs only when the animal is lost (these re-acquisitions set the latency's tail).
Multi-animal models assemble their peaks into animals frame by frame as analysis assembles them; their
dynamic crop is analysis's :class:`~markerless.analysis.tracking_crop.GroupCropTracker`, one window
holding every animal (the recipe's ``analysis_window``). Animals come in assembly order: the individuals
axis is not an identity over time (offline analysis tracks the whole video; live does not).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from markerless.analysis.analyze import tracking_crop_settings
from markerless.analysis.backends import create_backend
from markerless.analysis.model_source import AnalysisModel, resolve_model
from markerless.analysis.options import AnalysisOptions
from markerless.analysis.tracking_crop import AnimalGroup, CropSettings, CropTracker, GroupCropTracker
from markerless.errors import ConfigError, MarkerlessError, ModelError
from markerless.io.video import ColorOrder
from markerless.model.skeleton import PoseLayout
from markerless.project.project import Project

LIVE_BACKEND_OPTIONS = {"hint": "LATENCY", "streams": 1}
"""OpenVINO settings for one frame at a time: one stream whose request uses every core."""
WARMUP_RUNS = 3
"""Inferences per compiled model during the warm-up (the first runs allocate and tune kernels)."""

Infer = Callable[[np.ndarray], np.ndarray]


class LiveEstimator:
    """Pose of one frame at a time: ``pose(frame) -> float32 (individuals, keypoints, 3)`` = x, y, likelihood.

    Frames are ``uint8 (H, W, 3)`` in the colour order given when the estimator was built (``bgr``,
    OpenCV's order, by default; ``rgb`` otherwise), all of the size of the first frame. The first
    frame (or :meth:`warm_up`) compiles the models for that size and runs them a few times.
    Multi-animal models return every animal along the individuals axis, in assembly order (not tracked:
    the same animal may change places between frames); their dynamic crop holds every animal.
    """

    def __init__(
        self,
        layout: PoseLayout | None,
        make_whole: Callable[[tuple[int, int]], Infer],
        make_window: Callable[[tuple[int, int]], tuple[CropSettings, Infer] | None] | None = None,
        *,
        color: ColorOrder = "bgr",
        scorer: str = "markerless-live",
        to_layout: Callable[[np.ndarray], np.ndarray] | None = None,
        group: AnimalGroup | None = None,
        description: str = "",
    ) -> None:
        """Build from factories called at warm-up with the frame size (width, height).

        ``make_whole`` returns the whole-frame network ``(1, H, W, 3) -> (1, K, 3)``; ``make_window``
        returns the dynamic crop's settings and window network, or None for whole frames only.
        ``group``: the networks are a multi-animal net's, whose raw outputs ``group.assemble`` turns into
        animals (the dynamic crop then follows them all); ``to_layout`` maps the ``(1, K, 3)`` keypoints
        onto ``layout``.
        """
        if color not in ("rgb", "bgr"):
            raise ConfigError(f"color must be 'rgb' or 'bgr', got {color!r}.")
        self.layout = layout
        self.color: ColorOrder = color
        self.scorer = scorer
        self.description = description
        self._make_whole, self._make_window = make_whole, make_window
        self._to_layout = to_layout
        self.group = group
        self._infer: Infer | None = None
        self.tracker: CropTracker | None = None
        self.frame_size: tuple[int, int] | None = None
        self.warmup_seconds = 0.0

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def from_project(
        cls,
        config: str | Path,
        shuffle: int = 1,
        *,
        snapshot: str | Path | None = None,
        color: ColorOrder = "bgr",
        dynamic_crop: bool | None = None,
        crop_size: tuple[int, int] | None = None,
        options: AnalysisOptions | None = None,
        **overrides: Any,
    ) -> LiveEstimator:
        """The estimator of a project's trained shuffle (config snapshotindex's snapshot, the last by default, unless ``snapshot``).

        ``dynamic_crop``: follow the animal (a multi-animal project: every animal, in the recipe's window
        for the group) in a window (None: analysis's rule, on the CPU when the window is at most 60 % of
        the frame; False: whole frames). ``crop_size``:
        the window (width, height) (default: analysis's, the training crop plus a sixth).
        ``options``/``overrides``: backend, device, precision, backend_options as for ``analyze``.
        """
        model = dataclasses.replace(resolve_model(config, shuffle, snapshot), color=color)
        opts = _live_options(options, overrides)
        return cls.from_model(model, opts, dynamic_crop=dynamic_crop, crop_size=crop_size)

    @classmethod
    def from_model(
        cls,
        model: AnalysisModel,
        options: AnalysisOptions,
        *,
        dynamic_crop: bool | None = None,
        crop_size: tuple[int, int] | None = None,
    ) -> LiveEstimator:
        """The estimator of a resolved analysis model (``options`` already resolved)."""
        opts = options.resolve()
        backend_options = dict(opts.backend_options) if opts.backend == "openvino" else {}

        def build(size: tuple[int, int]) -> Infer:
            return model.spec(opts.backend, opts.device, size, opts.precision, backend_options).build()

        def window(frame_size: tuple[int, int]) -> tuple[CropSettings, Infer] | None:
            settings = tracking_crop_settings(model, frame_size, opts.device, dynamic_crop, crop_size)
            return None if settings is None else (settings, build(settings.size))

        return cls(
            model.layout,
            build,
            window,
            color=model.color,
            scorer=model.scorer,
            to_layout=model.to_layout,
            group=AnimalGroup(model.postprocess, model.layout) if model.edges is not None else None,
            description=f"{opts.backend} {opts.precision} on {opts.device}",
        )

    @classmethod
    def from_export(
        cls,
        folder: str | Path,
        *,
        color: ColorOrder = "bgr",
        dynamic_crop: bool | None = None,
        crop_size: tuple[int, int] | None = None,
        precision: str = "auto",
    ) -> LiveEstimator:
        """The estimator of an exported model folder (``markerless export``; ``exported-models-pytorch/...``).

        The folder holds one OpenVINO ``.xml`` (or ``.onnx``) per frame size, named ``<snapshot>_<W>x<H>``;
        the first frame picks the export of its size, and the dynamic crop uses an export of the window
        size when there is one (``crop_size``, default: the smallest export smaller than the frame).
        Exports are ``bgr`` unless their JSON sidecar says otherwise. Body part names come from the
        project the folder belongs to when there is one, else ``bodypart0``, ``bodypart1``...
        """
        folder = Path(folder)
        exports = _exports_in(folder)
        if not exports:
            raise ModelError(
                f"{folder} holds no exported model (<snapshot>_<W>x<H>.xml or .onnx); make one with "
                "`markerless export CONFIG --format openvino --frame-size W H`."
            )
        layout = _project_layout(folder)
        if layout is not None and layout.multi_animal:
            raise ModelError(
                f"{folder} is an export of a multi-animal model, whose peaks are assembled with the project's "
                "snapshot; build the estimator with LiveEstimator.from_project (`markerless live CONFIG`)."
            )
        export_color = _export_color(next(iter(exports.values())))
        if export_color != color:
            raise ModelError(
                f"The exports in {folder} take {export_color.upper()} frames, not {color.upper()}; "
                f"pass color={export_color!r} or export again."
            )

        def build(size: tuple[int, int]) -> Infer:
            path = exports.get(size)
            if path is None:
                sizes = ", ".join(f"{w}x{h}" for w, h in sorted(exports))
                raise ModelError(
                    f"{folder} has no export for {size[0]}x{size[1]} frames (it has {sizes}); export one with "
                    f"`markerless export CONFIG --format openvino --frame-size {size[0]} {size[1]}`."
                )
            name = "openvino" if path.suffix == ".xml" else "onnxruntime"
            options = LIVE_BACKEND_OPTIONS if name == "openvino" else {}
            return create_backend(name, precision=precision, exported=lambda _fmt: path, options=dict(options))

        def window(frame_size: tuple[int, int]) -> tuple[CropSettings, Infer] | None:
            if dynamic_crop is False:
                return None
            smaller = [s for s in exports if s[0] < frame_size[0] and s[1] < frame_size[1]]
            size = tuple(crop_size) if crop_size else (min(smaller, key=lambda s: s[0] * s[1]) if smaller else None)
            if size is None or size not in exports:
                if dynamic_crop:
                    raise ModelError(f"{folder} has no export of a window smaller than the frame for the dynamic crop.")
                return None
            settings = CropSettings(size=(int(size[0]), int(size[1])))
            return settings, build(settings.size)

        return cls(layout, build, window, color=color, scorer=f"DLC_{folder.name}", description=f"export {folder}")

    # --- running --------------------------------------------------------------------------------
    def warm_up(self, frame: np.ndarray) -> None:
        """Compile the models for the size of ``frame`` and run them a few times (done by the first :meth:`pose`)."""
        frame = self._check_first(frame)
        started = time.perf_counter()
        h, w = frame.shape[:2]
        whole = self._make_whole((w, h))
        window = self._make_window((w, h)) if self._make_window else None
        batch = frame[None]
        for _ in range(WARMUP_RUNS):
            whole(batch)
        if window is not None:
            settings, infer = window
            crop = np.ascontiguousarray(batch[:, : settings.size[1], : settings.size[0]])
            for _ in range(WARMUP_RUNS):
                infer(crop)
            if self.group is not None:  # assembles window and whole frames itself
                self.tracker = GroupCropTracker(whole, infer, self.group, settings, (w, h))
            else:
                self.tracker = CropTracker(whole, infer, settings, (w, h), second_look=True)
            self.tracker(batch)  # finds the animals on the whole frame: the first timed frame is a window
            self.tracker.frames_whole = 0
            self._infer = self.tracker
        elif self.group is not None:
            assemble = self.group.assemble
            self._infer = lambda frames: assemble(whole(frames))
        else:
            self._infer = whole
        self.frame_size = (w, h)
        self.warmup_seconds = time.perf_counter() - started

    def pose(self, frame: np.ndarray) -> np.ndarray:
        """``float32 (individuals, keypoints, 3)``: x, y (frame pixels) and likelihood of each keypoint in ``frame``."""
        if self._infer is None:
            self.warm_up(frame)
        else:
            self._check(frame)
        assert self._infer is not None
        values = self._infer(frame[None])
        if self._to_layout is not None:
            return self._to_layout(values)[0]
        if self.layout is None:
            k = values.shape[1]
            self.layout = PoseLayout.single_animal([f"bodypart{i}" for i in range(k)])
        return values.reshape(1, *self.layout.shape, 3)[0]

    def reset(self) -> None:
        """Forget where the animal was (the next frame is analysed whole): call between unrelated frames."""
        if self.tracker is not None:
            self.tracker.reset()

    @property
    def window_fraction(self) -> float | None:
        """Fraction of frames whose pose came from the dynamic crop's window alone (None without a crop)."""
        return self.tracker.window_fraction if self.tracker is not None else None

    def _check_first(self, frame: Any) -> np.ndarray:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ConfigError(
                f"A frame must be a uint8 array (height, width, 3) in {self.color.upper()} order, got {got}; "
                "convert it first (e.g. frame.astype(np.uint8) after scaling to 0-255)."
            )
        return frame

    def _check(self, frame: Any) -> None:
        self._check_first(frame)
        h, w = frame.shape[:2]
        if (w, h) != self.frame_size:
            fw, fh = self.frame_size or (0, 0)
            raise ConfigError(
                f"This frame is {w}x{h} but the estimator was compiled for {fw}x{fh} frames on its first frame; "
                "keep the camera's resolution fixed, or build a new estimator for the new size."
            )


def _live_options(options: AnalysisOptions | None, overrides: dict[str, Any]) -> AnalysisOptions:
    """Analysis options for one frame at a time: OpenVINO's latency settings unless given."""
    opts = (options or AnalysisOptions()).replace(**overrides)
    if not opts.backend_options:
        opts = opts.replace(backend_options=LIVE_BACKEND_OPTIONS)
    return opts


_EXPORT_NAME = re.compile(r"^(?P<stem>.+)_(?P<w>\d+)x(?P<h>\d+)$")


def _exports_in(folder: Path) -> dict[tuple[int, int], Path]:
    """``(width, height) -> export path`` of the folder (OpenVINO preferred over ONNX)."""
    if not folder.is_dir():
        raise ModelError(f"The export folder {folder} does not exist; make it with `markerless export`.")
    found: dict[tuple[int, int], Path] = {}
    for suffix in (".onnx", ".xml"):  # .xml last: it replaces the ONNX file of the same size
        for path in sorted(folder.glob(f"*{suffix}")):
            match = _EXPORT_NAME.match(path.stem)
            if match:
                found[(int(match["w"]), int(match["h"]))] = path
    return found


def _export_color(path: Path) -> str:
    try:
        return str(json.loads(Path(f"{path}.json").read_text(encoding="utf-8")).get("color", "bgr"))
    except (OSError, ValueError):
        return "bgr"


def _project_layout(folder: Path) -> PoseLayout | None:
    """The layout of the project an export folder lies in (``<project>/exported-models-pytorch/<name>``)."""
    config = folder.parent.parent / "config.yaml"
    if not config.exists():
        return None
    try:
        return Project.load(config).layout
    except MarkerlessError:
        return None
