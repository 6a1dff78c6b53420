"""What is tracked: body parts, how they connect, which mirror each other, and who carries them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from markerless.errors import ConfigError

#: DeepLabCut's pseudo-individual that carries the unique body parts of multi-animal projects.
UNIQUE_INDIVIDUAL = "single"

#: Name of the one individual of single-animal data (as the ``movement`` package names it).
SINGLE_ANIMAL_INDIVIDUAL = "individual_0"

_SIDE_WORD = re.compile(r"left|right", re.I)
_SIDE_LETTER = re.compile(r"(?<![a-z])[lr](?![a-z])", re.I)
_SIDE_SUFFIX = re.compile(r"(?<=[a-z])[LR](?![a-z])")  # camel case as SLEAP's skeletons: wingL, forelegR4
_OPPOSITE = {"left": "right", "right": "left", "l": "r", "r": "l"}


def _opposite(match: re.Match[str]) -> str:
    word = match.group(0)
    other = _OPPOSITE[word.lower()]
    if word.isupper():
        return other.upper()
    return other.capitalize() if word[0].isupper() else other


def guess_symmetric_pairs(bodyparts: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Left/right pairs found from names such as ``leftear``/``rightear``, ``paw_L``/``paw_R`` or ``wingL``/``wingR``."""
    names = set(bodyparts)
    pairs: dict[frozenset[str], tuple[str, str]] = {}
    for name in bodyparts:
        for pattern in (_SIDE_WORD, _SIDE_LETTER, _SIDE_SUFFIX):
            mirrored = pattern.sub(_opposite, name)
            if mirrored != name and mirrored in names:
                pairs.setdefault(frozenset((name, mirrored)), (name, mirrored))
                break
    return tuple(pairs.values())


def _links(links: Iterable[Sequence[str]], kind: str, bodyparts: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``links`` as name pairs, each of two known body parts (else ConfigError naming ``kind``)."""
    out = []
    for link in map(tuple, links):
        if len(link) != 2 or not set(link) <= set(bodyparts):
            raise ConfigError(
                f"The {kind} {list(link)} names a body part that is not in {list(bodyparts)}. "
                "Fix the names in config.yaml."
            )
        out.append((link[0], link[1]))
    return tuple(out)


@dataclass(frozen=True)
class Skeleton:
    """Body parts of one animal, the edges drawn between them and their left/right pairs.

    ``edges`` are used for drawing (and later for assembling animals); ``symmetric_pairs`` tell
    augmentation which labels to swap when an image is mirrored.
    """

    bodyparts: tuple[str, ...]
    edges: tuple[tuple[str, str], ...] = ()
    symmetric_pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "bodyparts", tuple(self.bodyparts))
        if len(set(self.bodyparts)) != len(self.bodyparts):
            raise ConfigError(
                f"Body part names must be unique; got {list(self.bodyparts)}. Rename the duplicates in config.yaml."
            )
        object.__setattr__(self, "edges", _links(self.edges, "skeleton edge", self.bodyparts))
        object.__setattr__(self, "symmetric_pairs", _links(self.symmetric_pairs, "symmetric pair", self.bodyparts))

    @classmethod
    def from_names(
        cls,
        bodyparts: Iterable[str],
        edges: Iterable[Sequence[str]] = (),
        symmetric_pairs: Iterable[Sequence[str]] | None = None,
    ) -> Skeleton:
        """A skeleton; left/right pairs are guessed from the names when not given."""
        bodyparts = tuple(bodyparts)
        pairs = (
            guess_symmetric_pairs(bodyparts)
            if symmetric_pairs is None
            else _links(symmetric_pairs, "symmetric pair", bodyparts)
        )
        return cls(bodyparts, _links(edges, "skeleton edge", bodyparts), pairs)

    def __len__(self) -> int:
        return len(self.bodyparts)

    def index(self, name: str) -> int:
        """Position of a body part."""
        try:
            return self.bodyparts.index(name)
        except ValueError:
            raise ConfigError(f"Unknown body part {name!r}; the project has {list(self.bodyparts)}.") from None

    @property
    def edge_indices(self) -> np.ndarray:
        """Edges as an ``(n_edges, 2)`` integer array of body-part positions."""
        return np.array([[self.index(a), self.index(b)] for a, b in self.edges], dtype=np.int64).reshape(-1, 2)

    @property
    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps every left/right pair (identity for unpaired parts)."""
        perm = np.arange(len(self.bodyparts))
        for a, b in self.symmetric_pairs:
            ia, ib = self.index(a), self.index(b)
            perm[ia], perm[ib] = ib, ia
        return perm


@dataclass(frozen=True)
class PoseLayout:
    """Who and what is tracked: the skeleton, the individuals and the unique body parts.

    Pose and label arrays share one layout of their individuals and keypoints axes:

    * individuals axis: ``individuals`` then, when there are unique body parts, the
      pseudo-individual ``"single"`` (DeepLabCut's convention);
    * keypoints axis: the skeleton's body parts then the unique body parts.

    Cells that cannot exist (a unique part on a real individual, an animal part on ``"single"``) are
    NaN; :attr:`valid` says which cells are real. Single-animal data has one individual and no unique
    parts, so its arrays have no empty cells.
    """

    skeleton: Skeleton
    individuals: tuple[str, ...] = (SINGLE_ANIMAL_INDIVIDUAL,)
    unique_bodyparts: tuple[str, ...] = ()
    multi_animal: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "individuals", tuple(self.individuals))
        object.__setattr__(self, "unique_bodyparts", tuple(self.unique_bodyparts))
        if not self.individuals:
            raise ConfigError("A project needs at least one individual; list them under 'individuals' in config.yaml.")
        if len(set(self.individuals)) != len(self.individuals) or UNIQUE_INDIVIDUAL in self.individuals:
            raise ConfigError(
                f"Individual names must be unique and must not be {UNIQUE_INDIVIDUAL!r}; got {list(self.individuals)}."
            )
        clash = set(self.unique_bodyparts) & set(self.skeleton.bodyparts)
        if clash or len(set(self.unique_bodyparts)) != len(self.unique_bodyparts):
            raise ConfigError(
                f"Unique body parts must differ from each other and from the animal's body parts: {sorted(clash)}."
            )
        if not self.multi_animal and (len(self.individuals) != 1 or self.unique_bodyparts):
            raise ConfigError(
                "Single-animal layouts have exactly one individual and no unique body parts; set multi_animal=True."
            )

    @classmethod
    def single_animal(
        cls,
        bodyparts: Iterable[str],
        edges: Iterable[Sequence[str]] = (),
        symmetric_pairs: Iterable[Sequence[str]] | None = None,
    ) -> PoseLayout:
        """Layout of a one-animal project."""
        return cls(Skeleton.from_names(bodyparts, edges, symmetric_pairs))

    @property
    def bodyparts(self) -> tuple[str, ...]:
        """The animal's body parts (without the unique ones)."""
        return self.skeleton.bodyparts

    @property
    def individual_names(self) -> tuple[str, ...]:
        """Names along the individuals axis of arrays (``"single"`` last when there are unique parts)."""
        return self.individuals + ((UNIQUE_INDIVIDUAL,) if self.unique_bodyparts else ())

    @property
    def keypoint_names(self) -> tuple[str, ...]:
        """Names along the keypoints axis of arrays (unique body parts last)."""
        return self.skeleton.bodyparts + self.unique_bodyparts

    @property
    def shape(self) -> tuple[int, int]:
        """``(individuals, keypoints)`` of arrays in this layout."""
        return len(self.individual_names), len(self.keypoint_names)

    @property
    def valid(self) -> np.ndarray:
        """Boolean ``(individuals, keypoints)`` mask of the cells that exist."""
        n_ind, n_kp = self.shape
        mask = np.zeros((n_ind, n_kp), dtype=bool)
        mask[: len(self.individuals), : len(self.skeleton)] = True
        if self.unique_bodyparts:
            mask[-1, len(self.skeleton) :] = True
        return mask

    @property
    def flip_permutation(self) -> np.ndarray:
        """Index array over the keypoints axis that swaps left/right parts when an image is mirrored.

        The skeleton's pairs, then pairs among the unique body parts guessed from their names
        (``port_left``/``port_right``); an unpaired unique part stays where it is.
        """
        unique = np.arange(len(self.unique_bodyparts)) + len(self.skeleton)
        for a, b in guess_symmetric_pairs(self.unique_bodyparts):
            ia, ib = self.unique_bodyparts.index(a), self.unique_bodyparts.index(b)
            unique[ia], unique[ib] = unique[ib], unique[ia]
        return np.concatenate([self.skeleton.flip_permutation, unique]).astype(np.int64)

    def columns(self) -> list[tuple[str, str]]:
        """The existing ``(individual, keypoint)`` cells in DeepLabCut's column order."""
        ind, kp = np.nonzero(self.valid)
        return [(self.individual_names[i], self.keypoint_names[k]) for i, k in zip(ind, kp, strict=True)]

    def keypoint_index(self, name: str) -> int:
        """Position of a keypoint (body part or unique body part) along the keypoints axis."""
        try:
            return self.keypoint_names.index(name)
        except ValueError:
            raise ConfigError(f"Unknown body part {name!r}; the project has {list(self.keypoint_names)}.") from None

    def individual_index(self, name: str) -> int:
        """Position of an individual along the individuals axis."""
        try:
            return self.individual_names.index(name)
        except ValueError:
            raise ConfigError(f"Unknown individual {name!r}; the project has {list(self.individual_names)}.") from None


__all__ = [
    "SINGLE_ANIMAL_INDIVIDUAL",
    "UNIQUE_INDIVIDUAL",
    "PoseLayout",
    "Skeleton",
    "guess_symmetric_pairs",
]
