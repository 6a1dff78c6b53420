"""Which device a computation runs on: the one place that turns ``auto``/``cpu``/``cuda`` into a device."""

from __future__ import annotations

import re

import torch

from markerless.errors import DeviceError

DEVICES = ("auto", "cpu", "cuda")
"""Device names a user may pass (``cuda:<n>`` picks one GPU of several)."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when PyTorch sees a GPU, else CPU; ``cpu``, ``cuda`` and ``cuda:<n>`` are checked.

    Raises :class:`~markerless.errors.DeviceError` for an unknown name or a GPU that is not there.
    """
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not re.fullmatch(r"cuda(:\d+)?", name):
        raise DeviceError(f"Unknown device {name!r}; choose one of {', '.join(DEVICES)} (or cuda:<n>).")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device={name!r} was asked for but PyTorch sees no CUDA GPU here; use --device cpu (or auto), "
            "or install a CUDA build of PyTorch on a machine with an NVIDIA GPU."
        )
    resolved = torch.device(name)
    if resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise DeviceError(
            f"device={name!r} was asked for but PyTorch sees {torch.cuda.device_count()} CUDA GPU(s); "
            "use cuda:0 ... or --device auto."
        )
    return resolved


def device_name(device: str | torch.device = "auto") -> str:
    """The kind of device ``device`` resolves to: ``"cpu"`` or ``"cuda"`` (what backends and batch defaults key on)."""
    return resolve_device(device).type
