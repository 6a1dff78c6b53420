"""Which torch device a computation runs on."""

from __future__ import annotations

import torch

from markerless.errors import TrainingError


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device='cuda' was asked for but no CUDA GPU is available; use --device cpu or auto.")
    return torch.device(device)
