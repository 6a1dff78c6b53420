"""markerless.training: training datasets (shuffles), augmentation, batches, targets and the training loop.

Public API: :func:`create_training_dataset`, :func:`train`, :class:`Shuffle` (imported on first use, so
importing this package does not load PyTorch).
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "create_training_dataset": "markerless.training.dataset",
    "train": "markerless.training.loop",
    "Shuffle": "markerless.training.shuffle",
    "default_recipe": "markerless.training.recipe",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'markerless.training' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
