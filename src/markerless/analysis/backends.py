"""Inference backends: one small interface over PyTorch, ONNX Runtime and OpenVINO.

A backend is a callable taking a batch of raw decoded frames, ``uint8 (B, H, W, 3)`` in the colour
order the model was built for (BGR from OpenCV by default), and returning ``float32 (B, K, 3)`` =
x, y, score in frame pixels. Colour order, normalisation, resizing and decoding happen inside the
network (:class:`markerless.nets.InferenceModel`), so the exported backends take frames as decoded.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from markerless.errors import ModelError
from markerless.nets.denormals import flush_denormals
from markerless.nets.device import device_name

BACKENDS = ("torch", "openvino", "onnxruntime")
BACKEND_CHOICES = ("auto", *BACKENDS)
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_OPENVINO_FIRST_INPUT = threading.Lock()
"""Held for the process's first OpenVINO input: its Python bindings set up C++ statics there that need the
GIL, and two threads doing it at once deadlock (one holds the GIL and waits for the static's guard)."""
_openvino_inputs_ready = threading.Event()


class Backend(Protocol):
    """Runs the pose network on a batch of frames."""

    name: str
    precision: str
    device: str

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """``uint8 (B, H, W, 3)`` frames -> ``float32 (B, K, 3)`` x, y, score in frame pixels."""
        ...


def available_backends() -> list[str]:
    """Backends whose runtime is installed (``torch`` always is)."""
    found = ["torch"]
    for name in ("openvino", "onnxruntime"):
        if importlib.util.find_spec(name) is not None:
            found.append(name)
    return found


def resolve_backend(backend: str, device: str) -> str:
    """The concrete backend for a request: ``auto`` picks the fastest available for the device.

    On CUDA that is PyTorch (autocast fp16, channels-last); on CPU OpenVINO, else ONNX Runtime,
    else PyTorch.
    """
    if backend not in BACKEND_CHOICES:
        raise ModelError(f"Unknown backend {backend!r}; choose one of {', '.join(BACKEND_CHOICES)}.")
    available = available_backends()
    if backend == "auto":
        if device == "cuda":
            return "torch"
        return next(b for b in ("openvino", "onnxruntime", "torch") if b in available)
    if backend not in available:
        raise ModelError(f"Backend {backend!r} is not installed; pip install {backend}, or use --backend auto.")
    if backend == "openvino" and device == "cuda":
        raise ModelError("The OpenVINO backend runs on the CPU here; use --backend torch for --device cuda.")
    return backend


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), as OpenVINO reports it."""
    try:
        import openvino as ov

        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # pragma: no cover - OpenVINO missing or broken
        return False


# --- PyTorch -----------------------------------------------------------------------------------
class TorchBackend:
    """PyTorch eager: CPU fp32 channels-last; CUDA with fp16/bf16 autocast and channels-last."""

    name = "torch"

    def __init__(self, model: Any, device: str = "cpu", precision: str = "auto") -> None:
        import torch

        self.device = device_name(device)
        if precision == "auto":
            precision = "fp16" if self.device == "cuda" else "fp32"
        if precision not in PRECISIONS[1:]:
            raise ModelError(f"Unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}.")
        self.precision = precision
        self.model = model.eval().to(self.device).to(memory_format=torch.channels_last)
        self._dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
        self._torch = torch

        self._flush_denormals = flush_denormals

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(frames))
        if self.device == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        with torch.inference_mode(), self._flush_denormals():
            if self._dtype is not None:
                with torch.autocast(self.device, dtype=self._dtype):
                    out = self.model(x)
            else:
                out = self.model(x)
        return out.float().cpu().numpy()


# --- ONNX Runtime ------------------------------------------------------------------------------
class OnnxRuntimeBackend:
    """ONNX Runtime on an exported ``.onnx`` model (CPU, or CUDA when its provider is installed)."""

    name = "onnxruntime"

    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        self.device = device_name(device)
        self.precision = "fp32"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:
            raise ModelError(f"ONNX Runtime cannot load {path}: {err}. Re-export it with `markerless export`.") from err
        inp = self.session.get_inputs()[0]
        self._input = inp.name
        self._dtype = np.uint8 if "uint8" in inp.type else np.float32

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self._input: np.ascontiguousarray(frames, dtype=self._dtype)})[0]
        return np.asarray(out, dtype=np.float32)


# --- OpenVINO ----------------------------------------------------------------------------------
class OpenVINOBackend:
    """OpenVINO on the CPU: the model is compiled for each frame size with a static shape.

    ``precision="auto"`` uses bf16 where the CPU computes it natively (AVX-512 BF16 / AMX), else
    fp32. ``hint`` is OpenVINO's performance hint: ``THROUGHPUT`` (default: OpenVINO picks parallel
    streams, and each batch is split across that many infer requests; on a 2-core CPU with decoding
    beside it this beat ``LATENCY`` in our runs) or ``LATENCY`` (one request using every core);
    ``streams``/``threads`` override OpenVINO's choice of streams and threads.
    """

    name = "openvino"

    def __init__(
        self,
        path: str | Path,
        precision: str = "auto",
        hint: str = "THROUGHPUT",
        streams: int | None = None,
        threads: int | None = None,
    ) -> None:
        import openvino as ov

        if precision == "auto":
            precision = "bf16" if cpu_supports_bf16() else "fp32"
        if precision not in ("fp32", "bf16", "fp16"):
            raise ModelError(f"Unknown OpenVINO precision {precision!r}; choose fp32 or bf16.")
        self.device = "cpu"
        self.precision = precision
        self.path = Path(path)
        self.hint = hint
        self.streams = streams
        self.threads = threads
        self._ov = ov
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(path))
        except Exception as err:
            raise ModelError(f"OpenVINO cannot read {path}: {err}. Re-export it with `markerless export`.") from err
        element = self._model.inputs[0].get_element_type()
        self._dtype = np.uint8 if element == ov.Type.u8 else np.float32
        # compiled models are shared by all threads; infer requests are per thread (a request runs
        # one inference at a time: a Dask worker's threads share this backend through the cache)
        self._compiled: dict[tuple[int, ...], tuple[Any, int, int]] = {}
        self._n_requests: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}[self.precision],
            "PERFORMANCE_HINT": self.hint,
        }
        if self.streams:
            config["NUM_STREAMS"] = str(self.streams)
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = self.threads
        return config

    def _requests_for(self, height: int, width: int) -> int:
        """Parallel infer requests for frames of this size: OpenVINO's choice under THROUGHPUT, else the streams."""
        if self.hint != "THROUGHPUT" or self.streams:
            return self.streams or 1
        if (height, width) not in self._n_requests:  # ask OpenVINO how many streams it wants
            probe = self._model.clone()
            probe.reshape([1, height, width, 3])
            compiled = self._core.compile_model(probe, "CPU", self._config())
            self._n_requests[(height, width)] = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        return self._n_requests[(height, width)]

    def _requests(self, batch: int, height: int, width: int) -> tuple[list[Any], int]:
        """This thread's infer requests for ``batch`` frames of this size, and the frames each takes."""
        key = (batch, height, width)
        with self._lock:
            if key not in self._compiled:
                n_requests = max(1, min(batch, self._requests_for(height, width)))
                sub_batch = math.ceil(batch / n_requests)
                model = self._model.clone()
                model.reshape([sub_batch, height, width, 3])
                self._compiled[key] = (self._core.compile_model(model, "CPU", self._config()), n_requests, sub_batch)
            compiled, n_requests, sub_batch = self._compiled[key]
        mine: dict[tuple[int, ...], list[Any]] = self._local.__dict__.setdefault("requests", {})
        if key not in mine:
            mine[key] = [compiled.create_infer_request() for _ in range(n_requests)]
        return mine[key], sub_batch

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        batch, height, width = frames.shape[:3]
        with self._lock:
            largest = max((k[0] for k in self._compiled if k[1:] == (height, width)), default=0)
        if 0 < batch < largest and (batch, height, width) not in self._compiled:
            # fewer frames than the compiled batch (a video's last batch, frames a tracking crop redoes
            # whole): run them in power-of-two pieces rather than padding them to the full batch
            pieces, start = [], 0
            for bit in reversed(range(batch.bit_length())):
                if batch & (1 << bit):
                    pieces.append(self._run(frames[start : start + (1 << bit)]))
                    start += 1 << bit
            return np.concatenate(pieces)
        return self._run(frames)

    def _run(self, frames: np.ndarray) -> np.ndarray:
        batch, height, width = frames.shape[:3]
        requests, sub_batch = self._requests(batch, height, width)
        frames = np.ascontiguousarray(frames, dtype=self._dtype)
        # plain requests started together and waited for in turn: no Python callbacks in OpenVINO's
        # threads (callbacks needing the GIL deadlocked now and then beside ONNX Runtime and PyTorch)
        started = []
        for request, start in zip(requests, range(0, batch, sub_batch)):
            chunk = frames[start : start + sub_batch]
            if len(chunk) < sub_batch:  # pad the last chunk to the compiled shape
                chunk = np.concatenate([chunk, np.zeros((sub_batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            if _openvino_inputs_ready.is_set():
                request.start_async({0: chunk})
            else:
                with _OPENVINO_FIRST_INPUT:
                    request.start_async({0: chunk})
                    _openvino_inputs_ready.set()
            started.append(request)
        outputs = []
        for request in started:
            request.wait()
            outputs.append(request.get_output_tensor(0).data.copy())
        return np.concatenate(outputs)[:batch].astype(np.float32, copy=False)


def resolved_precision(backend: str, device: str, precision: str = "auto") -> str:
    """The precision a backend will compute in: ``auto`` -> fp16 on CUDA, bf16 for OpenVINO on bf16 CPUs, else fp32."""
    if precision != "auto":
        return precision
    if device == "cuda":
        return "fp16"
    if backend == "openvino" and cpu_supports_bf16():
        return "bf16"
    return "fp32"


def create_backend(
    name: str,
    *,
    device: str = "cpu",
    torch_model: Callable[[], Any] | None = None,
    exported: Callable[[str], Path] | None = None,
    precision: str = "auto",
    options: dict[str, Any] | None = None,
) -> Backend:
    """Build a backend by (resolved) name.

    ``torch_model`` builds the PyTorch inference module; ``exported(format)`` returns the path of the
    exported model for ``onnx`` / ``openvino`` (exporting it first when needed).
    """
    options = options or {}
    if name == "torch":
        if torch_model is None:
            raise ModelError("The torch backend needs the PyTorch model.")
        return TorchBackend(torch_model(), device=device, precision=precision)
    if exported is None:
        raise ModelError(f"The {name} backend needs an exported model.")
    if name == "onnxruntime":
        return OnnxRuntimeBackend(exported("onnx"), device=device, threads=options.get("threads"))
    if name == "openvino":
        return OpenVINOBackend(exported("openvino"), precision=precision, **options)
    raise ModelError(f"Unknown backend {name!r}; choose one of {', '.join(BACKEND_CHOICES)}.")
