"""The data model: what is tracked (skeleton, individuals), labels and poses. No file I/O here."""

from markerless.model.labels import Labels, image_key
from markerless.model.poses import Poses
from markerless.model.skeleton import SINGLE_ANIMAL_INDIVIDUAL, UNIQUE_INDIVIDUAL, PoseLayout, Skeleton

__all__ = ["SINGLE_ANIMAL_INDIVIDUAL", "UNIQUE_INDIVIDUAL", "Labels", "PoseLayout", "Poses", "Skeleton", "image_key"]
