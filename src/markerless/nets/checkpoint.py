"""Checkpoints: ``{"spec": ..., "model": state_dict, **extra}`` files that rebuild a PoseNet by name.

Loading never needs the ImageNet weight packages or a network: the backbone is built with random
weights and the snapshot's state dict is loaded over it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from markerless.errors import ModelError
from markerless.io.atomic import atomic_path
from markerless.nets.posenet import ModelSpec, PoseNet
from markerless.nets.registry import build_from_spec

RESERVED = ("spec", "model")


def save_checkpoint(path: str | Path, net: PoseNet, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``net`` (spec + state dict) and ``extra`` (optimizer, epoch, metrics...) atomically to ``path``."""
    extra = dict(extra or {})
    clash = [k for k in RESERVED if k in extra]
    if clash:
        raise ModelError(f"Checkpoint extra keys {clash} are reserved; rename them.")
    payload = {"spec": net.spec.to_dict(), "model": net.state_dict(), **_plain(extra)}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars/arrays and paths turned into types ``torch.load(weights_only=True)`` reads."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, Path):
        return value.as_posix()
    return value


def checkpoint_extra(path: str | Path) -> dict[str, Any]:
    """The entries of a checkpoint besides the weights (recipe, body parts, epoch...), without building the net."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # missing, truncated, not a torch zip file...
        raise ModelError(f"Checkpoint {path} is unreadable or corrupt ({exc}): use another snapshot.") from None
    if not isinstance(payload, dict) or "spec" not in payload:
        raise ModelError(f"{path} is not a markerless checkpoint (no 'spec'/'model' entries).")
    return {k: v for k, v in payload.items() if k not in RESERVED}


def check_trained_bodyparts(
    extra: Mapping[str, Any], bodyparts: Sequence[str], path: str | Path, config: str | Path
) -> None:
    """Refuse a checkpoint (its ``extra`` entries) trained on other body parts than the config's ``bodyparts``.

    Snapshots written before the body parts were recorded pass unchecked.
    """
    trained = extra.get("bodyparts")
    if trained is not None and [str(b) for b in trained] != list(bodyparts):
        raise ModelError(
            f"The model {path} was trained on body parts {list(trained)} but {config} lists "
            f"{list(bodyparts)}; restore the config's bodyparts or train a new model."
        )


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[PoseNet, dict[str, Any]]:
    """The PoseNet stored at ``path`` (eval mode, on ``device``) and the checkpoint dict's other entries."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Checkpoint {path} does not exist: check the path or train a model first.")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelError(
            f"Checkpoint {path} holds objects that cannot be loaded safely ({str(exc).splitlines()[0]}): "
            "it was not written by markerless.nets.save_checkpoint, or with unsupported extra values."
        ) from exc
    except Exception as exc:  # truncated zip, not a torch file...
        raise ModelError(f"Checkpoint {path} is unreadable or corrupt ({exc}): use another snapshot.") from exc
    if not isinstance(payload, dict) or "spec" not in payload or "model" not in payload:
        raise ModelError(f"{path} is not a markerless checkpoint (no 'spec'/'model' entries).")
    try:
        spec = ModelSpec.from_dict(payload["spec"])
    except TypeError as exc:
        raise ModelError(f"{path}: malformed model spec ({exc}).") from exc
    net = build_from_spec(spec, pretrained=False)
    try:
        net.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit model {spec.name!r} ({exc}).") from exc
    net.to(device).eval()
    extra = {k: v for k, v in payload.items() if k not in RESERVED}
    return net, extra
