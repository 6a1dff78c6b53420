"""The registry of model names: ``create_model(name, K)`` builds a :class:`PoseNet` from a timm backbone."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch

from markerless.errors import ModelError
from markerless.nets.posenet import IMAGENET_MEAN, IMAGENET_STD, ModelSpec, PoseNet
from markerless.nets.weights import (
    EFFICIENTNET_LITE0_IMAGENET,
    MOBILENETV2_IMAGENET,
    PackagedWeights,
    load_into_backbone,
    load_packaged_classifier,
    read_state_dict,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backbone:
    """A registered backbone: its timm architecture and where its ImageNet weights come from."""

    timm_name: str
    imagenet: PackagedWeights | None = None  # offline ImageNet weights, if any ship with a package
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    dilatable: bool = True  # timm can run the last stage dilated (backbone stride 16)
    description: str = ""


REGISTRY: dict[str, Backbone] = {
    "mobilenetv2": Backbone("mobilenetv2_100", MOBILENETV2_IMAGENET, description="MobileNetV2 1.0, ImageNet"),
    "efficientnet-lite0": Backbone(
        "tf_efficientnet_lite0", EFFICIENTNET_LITE0_IMAGENET, description="EfficientNet-Lite0, ImageNet"
    ),
    "resnet18": Backbone("resnet18", description="ResNet-18 (random init unless weights=PATH)"),
    "resnet50": Backbone("resnet50", description="ResNet-50 (random init unless weights=PATH)"),
    "hrnet_w18": Backbone("hrnet_w18", dilatable=False, description="HRNet-W18 (random init unless weights=PATH)"),
    "hrnet_w32": Backbone("hrnet_w32", dilatable=False, description="HRNet-W32 (random init unless weights=PATH)"),
}
ALIASES = {"mobilenet_v2": "mobilenetv2", "efficientnet_lite0": "efficientnet-lite0", "resnet_50": "resnet50"}


def register_model(name: str, backbone: Backbone, *, replace: bool = False) -> None:
    """Add a backbone to the registry under ``name`` (e.g. another timm architecture)."""
    if name in REGISTRY and not replace:
        raise ModelError(f"Model name {name!r} is already registered; pass replace=True to override it.")
    REGISTRY[name] = backbone


def list_models() -> list[str]:
    """Registered model names (aliases excluded)."""
    return sorted(REGISTRY)


def has_imagenet_weights(name: str) -> bool:
    """Whether ImageNet weights for ``name`` ship offline with an installable package."""
    return _entry(name)[1].imagenet is not None


def _entry(name: str) -> tuple[str, Backbone]:
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        raise ModelError(f"Unknown model {name!r}: choose one of {', '.join(list_models())}.")
    return key, REGISTRY[key]


def imagenet_classifier(name: str) -> torch.nn.Module:
    """The full timm ImageNet classifier of ``name`` with its offline ImageNet weights (eval mode)."""
    key, entry = _entry(name)
    if entry.imagenet is None:
        raise ModelError(f"No offline ImageNet weights ship for {key!r}; pass weights=PATH instead.")
    model = timm.create_model(entry.timm_name, pretrained=False)
    return load_packaged_classifier(model, entry.imagenet).eval()


def create_model(
    name: str,
    num_keypoints: int,
    *,
    pretrained: bool = True,
    weights: str | Path | None = None,
    output_stride: int | None = None,
    backbone_stride: int = 32,
    head_channels: int | list[int] | tuple[int, ...] = 128,
    limbs: int = 0,
    **kwargs: Any,
) -> PoseNet:
    """Build a :class:`PoseNet` named ``name`` (see :func:`list_models`) for ``num_keypoints`` keypoints.

    ``output_stride`` (default 8) is the total stride of the heatmaps; ``backbone_stride`` (32, or 16
    with a dilated last stage) the stride of the deepest backbone features, upsampled by stride-2
    deconvolutions; ``head_channels`` is their width, one number or one per deconvolution (deepest
    first, e.g. ``(128, 64, 32)`` for stride 4); ``limbs`` adds part-affinity fields for that many skeleton
    edges (multi-animal). Backbone weights: ``weights=PATH`` (a local state
    dict / checkpoint) if given, else offline ImageNet weights when ``pretrained`` and they ship for
    this backbone, else random initialisation, which is logged as a warning. Extra ``kwargs`` go to ``timm.create_model``.
    """
    key, entry = _entry(name)
    if num_keypoints < 1:
        raise ModelError(f"A model needs at least one keypoint, got {num_keypoints}.")
    stride = 8 if output_stride is None else int(output_stride)
    if backbone_stride not in (16, 32):
        raise ModelError(f"backbone_stride must be 16 or 32, got {backbone_stride}.")
    timm_kwargs = dict(kwargs)
    if backbone_stride == 16:
        if not entry.dilatable:
            raise ModelError(f"{key} cannot run with backbone_stride=16; use 32.")
        timm_kwargs["output_stride"] = 16
    spec = ModelSpec(
        name=key,
        keypoints=int(num_keypoints),
        stride=stride,
        backbone_stride=backbone_stride,
        head_channels=tuple(head_channels) if isinstance(head_channels, list) else head_channels,
        mean=entry.mean,
        std=entry.std,
        extra=timm_kwargs,
        limbs=int(limbs),
    )
    return build_from_spec(spec, pretrained=pretrained, weights=weights)


def build_from_spec(spec: ModelSpec, *, pretrained: bool = False, weights: str | Path | None = None) -> PoseNet:
    """Build the PoseNet described by ``spec`` (random head; backbone weights as in :func:`create_model`)."""
    key, entry = _entry(spec.name)
    try:
        backbone = timm.create_model(entry.timm_name, pretrained=False, features_only=True, **spec.extra)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"Cannot build backbone {entry.timm_name!r} with {spec.extra}: {exc}") from exc
    if weights is not None:
        load_into_backbone(backbone, read_state_dict(weights), origin=str(weights))
        log.info("%s: backbone weights loaded from %s", key, weights)
    elif pretrained and entry.imagenet is not None:
        classifier = timm.create_model(entry.timm_name, pretrained=False)
        load_packaged_classifier(classifier, entry.imagenet)
        load_into_backbone(backbone, classifier.state_dict(), origin=entry.imagenet.distribution)
    elif pretrained:
        log.warning(
            "%s: no ImageNet weights are available offline, so the backbone starts from random weights "
            "(training needs much longer). Pass weights=PATH with a local checkpoint, or use mobilenetv2 / "
            "efficientnet-lite0.",
            key,
        )
    strides, channels = _probe(backbone)
    return PoseNet(spec, backbone, strides, channels)


def _probe(backbone: torch.nn.Module) -> tuple[list[int], list[int]]:
    """Strides and channel counts of the backbone's feature maps, measured on a small input."""
    size = 64
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        features = backbone(torch.zeros(1, 3, size, size))
    backbone.train(was_training)
    return [size // f.shape[-1] for f in features], [f.shape[1] for f in features]
