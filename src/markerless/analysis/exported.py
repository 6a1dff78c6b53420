"""ONNX and OpenVINO files of an inference network, made once per snapshot and frame size and cached.

The exported graph is :class:`markerless.nets.InferenceModel`: raw ``uint8`` BGR frames
``(B, H, W, 3)`` in, ``(B, K, 3)`` x, y, score in frame pixels out, so a deployment only decodes video
and runs the graph. One export per snapshot and frame size (the graph has a static frame size, which
lets OpenVINO plan its kernels), cached under ``exported-models-pytorch/`` with a JSON sidecar saying
what it was made from; analysis reuses it while the snapshot is unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from markerless.errors import ModelError
from markerless.io.atomic import atomic_path, write_text

FORMATS = ("onnx", "openvino")
SUFFIX = {"onnx": ".onnx", "openvino": ".xml"}
OPSET = 17
GRAPH_VERSION = 2
"""Bumped when the exported graph changes for the same snapshot (2: decoding averages neighbouring votes)."""


def _input_dtype(module: Any, frame_size: tuple[int, int]) -> Any:
    """``torch.uint8`` when the module takes raw uint8 frames, else ``torch.float32``."""
    import torch

    w, h = frame_size
    try:
        with torch.inference_mode():
            module(torch.zeros((1, h, w, 3), dtype=torch.uint8))
        return torch.uint8
    except (RuntimeError, TypeError):
        return torch.float32


def export_onnx(module: Any, path: str | Path, frame_size: tuple[int, int]) -> Path:
    """Write ``module`` (frames ``(B, H, W, 3)`` -> ``(B, K, 3)``) as ONNX with a dynamic batch axis, atomically."""
    import torch

    w, h = frame_size
    module = module.eval().float()
    dtype = _input_dtype(module, frame_size)
    example = torch.zeros((2, h, w, 3), dtype=dtype)
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module,
                (example,),
                str(tmp),
                dynamo=False,
                input_names=["frames"],
                output_names=["keypoints"],
                dynamic_axes={"frames": {0: "batch"}, "keypoints": {0: "batch"}},
                opset_version=OPSET,
                do_constant_folding=True,
            )
        except Exception as err:
            raise ModelError(f"Could not export the network to ONNX ({path}): {err}") from err
    return path


def export_openvino(onnx_path: str | Path, path: str | Path) -> Path:
    """Convert an ONNX export to OpenVINO IR (``.xml`` + ``.bin``, fp32 weights), atomically."""
    import openvino as ov

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        model = ov.convert_model(str(onnx_path))
    except Exception as err:
        raise ModelError(f"OpenVINO cannot convert {onnx_path}: {err}") from err
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent))
    try:
        ov.save_model(model, str(tmp_dir / path.name), compress_to_fp16=False)
        os.replace(tmp_dir / path.with_suffix(".bin").name, path.with_suffix(".bin"))
        os.replace(tmp_dir / path.name, path)  # the .xml last: it existing means the pair is complete
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


def _fingerprint(snapshot: Path, fmt: str, frame_size: tuple[int, int], scale: float, color: str) -> dict[str, Any]:
    stat = snapshot.stat()
    return {
        "snapshot": snapshot.name,
        "snapshot_size": stat.st_size,
        "snapshot_mtime_ns": stat.st_mtime_ns,
        "format": fmt,
        "graph_version": GRAPH_VERSION,
        "frame_size": list(frame_size),
        "input_scale": scale,
        "color": color,
        "input": "frames uint8 (B, H, W, 3) in the colour order above",
        "output": "keypoints float32 (B, K, 3) = x, y, score in frame pixels",
    }


def export_cached(
    torch_module: Callable[[], Any],
    snapshot: str | Path,
    export_dir: str | Path,
    fmt: str,
    frame_size: tuple[int, int],
    *,
    scale: float = 1.0,
    color: str = "bgr",
) -> Path:
    """The export of ``snapshot`` for ``frame_size`` (width, height) in ``export_dir``; made when missing or stale."""
    if fmt not in FORMATS:
        raise ModelError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    snapshot = Path(snapshot)
    w, h = (int(v) for v in frame_size)
    stem = f"{snapshot.stem}_{w}x{h}"
    path = Path(export_dir) / f"{stem}{SUFFIX[fmt]}"
    sidecar = path.with_suffix(path.suffix + ".json")
    wanted = _fingerprint(snapshot, fmt, (w, h), scale, color)
    if path.exists() and sidecar.exists():
        try:
            if json.loads(sidecar.read_text(encoding="utf-8")) == wanted:
                return path
        except ValueError:
            pass
    onnx_path = path.with_suffix(".onnx")
    if fmt == "onnx" or not (onnx_path.exists() and _fresh(onnx_path, snapshot, scale, color, (w, h))):
        export_onnx(torch_module(), onnx_path, (w, h))
        write_text(
            onnx_path.with_suffix(".onnx.json"),
            json.dumps(_fingerprint(snapshot, "onnx", (w, h), scale, color), indent=1),
        )
    if fmt == "openvino":
        export_openvino(onnx_path, path)
        write_text(sidecar, json.dumps(wanted, indent=1))
    return path


def _fresh(onnx_path: Path, snapshot: Path, scale: float, color: str, frame_size: tuple[int, int]) -> bool:
    try:
        stored = json.loads(onnx_path.with_suffix(".onnx.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return stored == _fingerprint(snapshot, "onnx", frame_size, scale, color)
