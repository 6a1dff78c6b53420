"""The inference graph of a multi-animal net: raw frames in, body-part peaks and their pair affinities out.

:class:`AnimalInferenceModel` keeps every fixed-shape step inside the graph (colour swap, normalisation,
scaling, the network, peak finding and the part-affinity line integrals of
:mod:`markerless.analysis.assembly`), so PyTorch, ONNX Runtime and OpenVINO run it alike and hand back
one small array per frame: the peaks ``(K, M, 3)`` (x, y in frame pixels, score) followed by the
affinities ``(E, M, M)``, flattened. :func:`assemble_packed` unpacks a batch of them and assembles
the animals in NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from markerless.analysis.assembly import assemble, find_peaks, paf_affinities
from markerless.errors import ModelError
from markerless.nets import InferenceModel
from markerless.nets.posenet import PoseNet


def max_peaks_for(individuals: int) -> int:
    """Peaks kept per body part and frame: two per animal (a false detection beside each true one)."""
    return 2 * max(int(individuals), 1)


class AnimalInferenceModel(InferenceModel):
    """``forward(frames (B, H, W, 3)) -> (B, K*M*3 + E*M*M)``: peaks then affinities (see the module notes)."""

    def __init__(
        self,
        net: PoseNet,
        edges: Sequence[Sequence[int]] | np.ndarray,
        max_peaks: int,
        color: Literal["bgr", "rgb"] = "bgr",
        scale: float = 1.0,
    ) -> None:
        super().__init__(net, color=color, scale=scale)
        self.edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        self.max_peaks = int(max_peaks)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Packed peaks and affinities of each frame."""
        heatmaps, offsets, pafs = self.net(self.preprocess(frames))
        stride, stdev = self.net.stride, self.net.spec.locref_stdev
        peaks = find_peaks(heatmaps, offsets, stride, max_peaks=self.max_peaks, locref_stdev=stdev)
        affinity = paf_affinities(pafs, peaks, self.edges, stride)
        return torch.cat([self.to_frame(peaks).flatten(1), affinity.flatten(1)], dim=1)


def _unpack(values: np.ndarray, n_parts: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peaks ``(B, n_parts, M, 3)`` and affinities ``(B, E, M, M)`` from packed outputs ``(B, F)``."""
    b, width = values.shape
    e = len(edges)  # width = n_parts * M * 3 + e * M * M: the peaks per part M is the positive root
    max_peaks = (
        round((-3 * n_parts + math.sqrt(9 * n_parts**2 + 4 * e * width)) / (2 * e)) if e else width // (3 * n_parts)
    )
    if n_parts * max_peaks * 3 + e * max_peaks**2 != width:
        raise ModelError(
            f"The multi-animal model gave {width} values per frame, which do not fit its {n_parts} body parts and {e} "
            "edges; export or train the shuffle again with this version of markerless."
        )
    n_peaks = n_parts * max_peaks * 3
    peaks = values[:, :n_peaks].reshape(b, n_parts, max_peaks, 3)
    return peaks, values[:, n_peaks:].reshape(b, e, max_peaks, max_peaks)


def assemble_packed(
    values: np.ndarray, n_parts: int, edges: np.ndarray, max_individuals: int, n_unique: int = 0
) -> np.ndarray:
    """Animals ``(B, max_individuals, n_parts, 3)`` (NaN where not found) from packed outputs ``(B, F)``.

    ``n_parts`` counts every channel; with ``n_unique`` the last ``n_unique`` are unique body parts, which
    come back in one more row, ``single`` (see :func:`markerless.analysis.assembly.assemble`).
    """
    return assemble_scored(values, n_parts, edges, max_individuals, n_unique)[0]


def assemble_scored(
    values: np.ndarray, n_parts: int, edges: np.ndarray, max_individuals: int, n_unique: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`assemble_packed`'s animals and their scores ``(B, max_individuals)``."""
    peaks, affinity = _unpack(values, n_parts, edges)
    return assemble(peaks, affinity, edges, max_individuals, n_unique=n_unique)
