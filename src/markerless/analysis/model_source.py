"""Which trained model analyses the videos: snapshot, scorer, body parts, input scale, exports.

:func:`resolve_model` finds a shuffle's snapshot (the best one unless told); :class:`BackendSpec` is
the small picklable description from which any process (a Dask worker too) builds the backend, with
the loaded model cached per process.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from markerless.analysis.animal_model import AnimalInferenceModel, assemble_packed, max_peaks_for
from markerless.analysis.backends import Backend, create_backend
from markerless.analysis.exported import export_cached
from markerless.errors import ModelError, ProjectError
from markerless.io.video import ColorOrder
from markerless.model.skeleton import PoseLayout
from markerless.nets import InferenceModel, load_checkpoint
from markerless.nets.checkpoint import check_trained_bodyparts, checkpoint_extra
from markerless.project.project import Project
from markerless.project.shuffle import Shuffle


def load_torch_inference_model(
    snapshot: str | Path, scale: float = 1.0, color: ColorOrder = "bgr", bodyparts: Sequence[str] = ()
) -> Any:
    """The :class:`markerless.nets.InferenceModel` (raw frames in, keypoints out) of a snapshot; ``bodyparts``
    name the channels of a multi-animal snapshot that does not list its own (see :func:`animal_edges`)."""

    path = Path(snapshot)
    if not path.exists():
        raise ModelError(f"The snapshot {path} does not exist; train the shuffle first (`markerless train`).")
    net, extra = load_checkpoint(path)
    edges = animal_edges(extra, bodyparts)
    if edges is not None:
        peaks = max_peaks_for(len(extra.get("individuals") or ()))
        return AnimalInferenceModel(net, edges, peaks, color=color, scale=scale).eval()
    return InferenceModel(net, color=color, scale=scale).eval()


def animal_edges(extra: dict[str, Any], bodyparts: Sequence[str] = ()) -> np.ndarray | None:
    """The part-affinity edges ``(E, 2)`` (body-part indices) of a multi-animal snapshot's entries, else None;
    ``bodyparts`` name the channels of a snapshot that does not list its own."""
    edges = extra.get("edges") or []
    if not edges:
        return None
    names = list(extra.get("bodyparts") or bodyparts)
    try:
        return np.array([[names.index(a), names.index(b)] for a, b in edges], dtype=np.int64)
    except ValueError:
        raise ModelError(f"The snapshot's edges {edges} name body parts it was not trained on {names}.") from None


@dataclass(frozen=True)
class BackendSpec:
    """Everything needed to build a backend in any process.

    ``model_path`` is the snapshot (``torch``) or the exported model (``onnxruntime``/``openvino``).
    """

    backend: str
    model_path: str
    device: str = "cpu"
    precision: str = "auto"
    scale: float = 1.0
    color: ColorOrder = "bgr"
    options: tuple[tuple[str, Any], ...] = ()

    def build(self) -> Backend:
        """A new backend for this spec."""
        if self.backend == "torch":
            return create_backend(
                "torch",
                device=self.device,
                precision=self.precision,
                torch_model=lambda: load_torch_inference_model(self.model_path, self.scale, self.color),
            )
        return create_backend(
            self.backend,
            device=self.device,
            precision=self.precision,
            exported=lambda _fmt: Path(self.model_path),
            options=dict(self.options),
        )


_CACHE: dict[BackendSpec, Backend] = {}
_CACHE_LOCK = threading.Lock()


def cached_backend(spec: BackendSpec) -> Backend:
    """The backend of ``spec``, built once per process (Dask workers reuse it across tasks)."""
    with _CACHE_LOCK:
        if spec not in _CACHE:
            _CACHE[spec] = spec.build()
        return _CACHE[spec]


def clear_backend_cache() -> None:
    """Forget the backends built so far (frees their models)."""
    with _CACHE_LOCK:
        _CACHE.clear()


@dataclass
class AnalysisModel:
    """A trained shuffle's snapshot, as analysis needs it."""

    project: Any  # markerless.project.project.Project
    shuffle: int
    snapshot: Path
    scorer: str
    layout: PoseLayout
    scale: float = 1.0
    net_name: str = "net"
    recipe: dict[str, Any] = field(default_factory=dict)
    train_fraction: float | None = None
    color: ColorOrder = "bgr"
    edges: np.ndarray | None = None  # part-affinity edges of a multi-animal net; None: one animal

    def postprocess(self, values: np.ndarray) -> np.ndarray:
        """A backend's output batch as keypoints ``(B, k, 3)``: a multi-animal net's peaks and affinities are
        assembled into ``(B, individuals * keypoints, 3)`` of the layout (unique body parts in ``single``)."""
        if self.edges is None:
            return values
        n_ind, n_kp = self.layout.shape
        n_unique = len(self.layout.unique_bodyparts)
        animals = assemble_packed(values, n_kp, self.edges, len(self.layout.individuals), n_unique)
        return animals.reshape(len(values), n_ind * n_kp, 3)

    @property
    def export_dir(self) -> Path:
        """``exported-models-pytorch/DLC_<Task>_<net>_iteration-<i>_shuffle-<k>/`` of the project."""
        p = self.project
        return (
            Path(p.root)
            / "exported-models-pytorch"
            / f"DLC_{p.task}_{self.net_name}_iteration-{p.iteration}_shuffle-{self.shuffle}"
        )

    def torch_module(self) -> Any:
        """The PyTorch inference module of the snapshot."""
        return load_torch_inference_model(self.snapshot, self.scale, self.color, self.layout.keypoint_names)

    def exported(self, fmt: str, frame_size: tuple[int, int]) -> Path:
        """The exported model for frames of ``frame_size`` (width, height), exporting it when needed."""

        return export_cached(
            self.torch_module, self.snapshot, self.export_dir, fmt, frame_size, scale=self.scale, color=self.color
        )

    def spec(
        self,
        backend: str,
        device: str,
        frame_size: tuple[int, int],
        precision: str = "auto",
        options: dict[str, Any] | None = None,
    ) -> BackendSpec:
        """The backend spec to analyse frames of ``frame_size`` with."""
        if backend == "torch":
            path = self.snapshot
        else:
            path = self.exported("onnx" if backend == "onnxruntime" else "openvino", frame_size)
        return BackendSpec(
            backend, str(path), device, precision, self.scale, self.color, tuple(sorted((options or {}).items()))
        )

    def to_layout(self, values: np.ndarray) -> np.ndarray:
        """``(frames, K, 3)`` network outputs -> ``(frames, individuals, keypoints, 3)`` in the project's layout."""
        n_ind, n_kp = self.layout.shape
        n, k = values.shape[:2]
        if k == n_ind * n_kp:
            return values.reshape(n, n_ind, n_kp, 3)
        if k == len(self.layout.bodyparts):
            data = np.full((n, n_ind, n_kp, 3), np.nan, dtype=np.float32)
            data[:, 0, :k] = values
            return data
        raise ModelError(
            f"The model predicts {k} keypoints but the project has {n_kp} body parts for {n_ind} individuals; "
            "train a model for this project (`markerless train`)."
        )


def _pick_snapshot(shuffle: Any, snapshot: str | Path | None) -> Path:
    if snapshot is not None:
        path = Path(snapshot)
        if not path.is_absolute() and not path.exists():
            path = Path(shuffle.train_dir) / path
        if not path.exists():
            raise ProjectError(
                f"The snapshot {path} does not exist; list the shuffle's snapshots in {shuffle.train_dir}."
            )
        return path
    snapshots = shuffle.snapshots()
    if not snapshots:
        raise ProjectError(
            f"Shuffle {shuffle.index} has no trained model (no snapshot in {shuffle.train_dir}); "
            f"train it first with `markerless train CONFIG --shuffle {shuffle.index}`."
        )
    return Path(shuffle.snapshot())  # config snapshotindex (-1: the last, or a DeepLabCut best), as DeepLabCut picks it


def resolve_model(config: str | Path, shuffle: int = 1, snapshot: str | Path | None = None) -> AnalysisModel:
    """The model of shuffle ``shuffle`` of a project (config snapshotindex's snapshot, the last by default, unless ``snapshot``)."""

    project = Project.load(config)
    try:
        sh = Shuffle(project, shuffle)
    except (FileNotFoundError, KeyError) as err:
        raise ProjectError(
            f"Shuffle {shuffle} of {project.root} does not exist ({err}); create it with "
            "`markerless create-training-dataset` and train it with `markerless train`."
        ) from None
    path = _pick_snapshot(sh, snapshot)
    extra = checkpoint_extra(path)
    check_trained_bodyparts(extra, project.layout.keypoint_names, path, project.config_path)
    recipe = sh.recipe
    return AnalysisModel(
        project=project,
        shuffle=shuffle,
        snapshot=path,
        scorer=sh.scorer(path),
        layout=project.layout,
        scale=recipe.model.input_scale,
        net_name=recipe.model.net,
        recipe=recipe.to_dict(),
        train_fraction=sh.train_fraction,
        edges=animal_edges(extra, project.layout.keypoint_names),
    )
