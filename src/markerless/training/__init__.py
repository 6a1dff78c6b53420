"""markerless.training: training datasets, augmentation, batches, targets, the training loop and evaluation.

Public API: :func:`create_training_dataset`, :func:`train`, :func:`evaluate` (imported on first use, so
importing this package does not load PyTorch).
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "create_training_dataset": "markerless.training.dataset",
    "train": "markerless.training.loop",
    "evaluate": "markerless.training.evaluation",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'markerless.training' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
