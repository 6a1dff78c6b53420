"""markerless.nets: the model registry, pose networks, decoding, the in-graph inference model, checkpoints."""

from __future__ import annotations

from markerless.nets.checkpoint import load_checkpoint, save_checkpoint
from markerless.nets.decode import LOCREF_STDEV, cell_centres, decode_heatmaps
from markerless.nets.inference_model import InferenceModel
from markerless.nets.posenet import ModelSpec, PoseNet
from markerless.nets.registry import (
    Backbone,
    create_model,
    has_imagenet_weights,
    imagenet_classifier,
    list_models,
    register_model,
)

__all__ = [
    "LOCREF_STDEV",
    "Backbone",
    "InferenceModel",
    "ModelSpec",
    "PoseNet",
    "cell_centres",
    "create_model",
    "decode_heatmaps",
    "has_imagenet_weights",
    "imagenet_classifier",
    "list_models",
    "load_checkpoint",
    "register_model",
    "save_checkpoint",
]
