"""How videos are analysed: one frozen, validated :class:`AnalysisOptions` object.

Every default of ``markerless analyze`` lives here, in the dataclass's fields; the API functions
and the command line take an options object (or keyword overrides of it) instead of relaying each
setting. :meth:`AnalysisOptions.resolve` turns the ``auto`` choices (device, backend, precision,
batch size, decoding threads) into concrete ones, once per run.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markerless.analysis.backends import BACKEND_CHOICES, PRECISIONS, resolve_backend, resolved_precision
from markerless.analysis.cluster import DEFAULT_RANGE_FRAMES
from markerless.errors import ConfigError, DeviceError, ModelError, did_you_mean
from markerless.nets.device import DEVICES, device_name

DEFAULT_BATCH = {"cpu": 4, "cuda": 64}  # CPU: 4 moves the tracking crop more often (193 vs 177 frames/s)
CHUNK_FRAMES = 500
"""Frames per crash-safe chunk of a video's predictions."""


def _positive(name: str, value: Any, flag: str, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be a whole number of 1 or more, got {value!r}; pass e.g. {flag}.")


@dataclass(frozen=True)
class AnalysisOptions:
    """Settings of one analysis run (see :func:`markerless.analysis.analyze.analyze`).

    Attributes:
        backend: ``auto`` (fastest available), ``torch``, ``openvino`` or ``onnxruntime``.
        device: ``auto``, ``cpu`` or ``cuda``.
        precision: ``auto`` (fp16 on CUDA, bf16 for OpenVINO on bf16 CPUs, else fp32), ``fp32``, ``fp16``, ``bf16``.
        batch_size: frames per batch (None: :data:`DEFAULT_BATCH` of the device).
        scheduler: a Dask scheduler address, ``"local"`` for a local cluster, or None to run here.
        dest: folder for the results (None: beside each video).
        save_as_csv: also write a ``.csv`` beside each ``.h5``.
        overwrite: analyse videos again whose results exist.
        tracking_crop: analyse a window following the animal, or holding every animal of a multi-animal
            project (None: auto, on the CPU when the window is at most 60 % of the frame and, multi-animal,
            the recipe has a window for the group; False: never).
        crop_size: the tracking-crop window ``(width, height)`` in frame pixels (None: the recipe's
            analysis window, else the training crop plus a sixth).
        chunk_frames: frames per crash-safe chunk.
        range_frames: frames per Dask task.
        backend_options: passed to the backend (OpenVINO: ``hint``, ``streams``, ``threads``).
        stop: analyse only the first ``stop`` frames of each video (previews, benchmarks).
        decoders: video-decoding threads per video (None: 1 on CPU, where inference needs the
            cores; up to 4 on CUDA, where one decoding thread cannot keep up with the GPU).
        track: give a multi-animal video's animals identities over time (tracking and stitching, written as
            ``<video><scorer>_el.h5``; the tracklets are kept beside it so ``markerless stitch`` can redo it).
        n_animals: animals in the videos (None: the project's number of individuals).
    """

    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    batch_size: int | None = None
    scheduler: str | None = None
    dest: Path | None = None
    save_as_csv: bool = False
    overwrite: bool = False
    tracking_crop: bool | None = None
    crop_size: tuple[int, int] | None = None
    chunk_frames: int = CHUNK_FRAMES
    range_frames: int = DEFAULT_RANGE_FRAMES
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    stop: int | None = None
    decoders: int | None = None
    track: bool = True
    n_animals: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_CHOICES:
            raise ModelError(f"Unknown backend {self.backend!r}; choose one of {', '.join(BACKEND_CHOICES)}.")
        if self.device not in DEVICES:
            raise DeviceError(f"Unknown device {self.device!r}; choose one of {', '.join(DEVICES)}.")
        if self.precision not in PRECISIONS:
            raise ModelError(f"Unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}.")
        _positive("The batch size", self.batch_size, "--batch-size 8")
        _positive("chunk_frames", self.chunk_frames, "chunk_frames=500", allow_none=False)
        _positive("range_frames", self.range_frames, "range_frames=2000", allow_none=False)
        _positive("decoders", self.decoders, "decoders=2")
        if self.stop is not None and (
            isinstance(self.stop, bool) or not isinstance(self.stop, numbers.Integral) or self.stop < 0
        ):
            raise ConfigError(f"stop must be a frame count of 0 or more, got {self.stop!r}.")
        if self.tracking_crop not in (None, True, False):
            raise ConfigError(f"tracking_crop must be True, False or None (auto), got {self.tracking_crop!r}.")
        if self.crop_size is not None:
            size = tuple(self.crop_size)
            if len(size) != 2 or not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in size
            ):
                raise ConfigError(
                    f"crop_size must be two positive whole numbers (width, height), got {self.crop_size!r}; "
                    "pass e.g. --crop-size 224 224."
                )
            object.__setattr__(self, "crop_size", (int(size[0]), int(size[1])))
        if self.dest is not None:
            object.__setattr__(self, "dest", Path(self.dest))
        object.__setattr__(self, "backend_options", dict(self.backend_options or {}))

    def replace(self, **overrides: Any) -> AnalysisOptions:
        """A copy with some settings changed; an unknown name raises a ConfigError naming the closest one."""
        names = [f.name for f in dataclasses.fields(self)]
        for key in overrides:
            if key not in names:
                raise ConfigError(f"Unknown analysis option {key!r}; {did_you_mean(key, names)}")
        return dataclasses.replace(self, **overrides) if overrides else self

    @property
    def batch(self) -> int:
        """Frames per batch: ``batch_size``, else the default of the device it resolves to."""
        return self.batch_size or DEFAULT_BATCH[device_name(self.device)]

    def resolve(self) -> AnalysisOptions:
        """A copy with every ``auto``/None choice made for this machine: device, backend, precision, batch, decoders."""
        device = device_name(self.device)
        backend = resolve_backend(self.backend, device)
        if self.decoders is not None:
            decoders = self.decoders
        elif device == "cpu":
            decoders = 1
        else:
            decoders = max(1, min(4, (os.cpu_count() or 2) - 1))
        return dataclasses.replace(
            self,
            device=device,
            backend=backend,
            precision=resolved_precision(backend, device, self.precision),
            batch_size=self.batch,
            decoders=decoders,
        )


def analysis_options(options: AnalysisOptions | None = None, **overrides: Any) -> AnalysisOptions:
    """``options`` (default: every default) with ``overrides`` applied and checked."""
    return (options or AnalysisOptions()).replace(**overrides)


__all__ = ["CHUNK_FRAMES", "DEFAULT_BATCH", "AnalysisOptions", "analysis_options"]
