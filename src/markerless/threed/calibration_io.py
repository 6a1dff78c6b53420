"""Calibration files: aniposelib's ``calibration.toml``, DeepLabCut 3D pickles, DANNCE/MATLAB ``.mat``.

``calibration.toml`` (aniposelib's layout, read by Anipose)::

    [cam_0]
    name = "camera-1"
    size = [ 640, 480,]
    matrix = [ [ 530.1, 0.0, 320.2,], [ 0.0, 530.4, 240.8,], [ 0.0, 0.0, 1.0,],]
    distortions = [ -0.27, 0.1, 0.0, 0.0, 0.0,]
    rotation = [ 0.0, 0.0, 0.0,]
    translation = [ 0.0, 0.0, 0.0,]

    [metadata]
    adjusted = true
    error = 0.21
"""

from __future__ import annotations

import math
import os
import pickle
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from markerless.errors import CalibrationError
from markerless.io.atomic import write_text
from markerless.threed.cameras import Camera, CameraGroup, matrix_to_rodrigues


def _toml_value(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return "[ " + " ".join(_toml_value(v) + "," for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    raise CalibrationError(f"Cannot write {type(value).__name__} value {value!r} into calibration.toml metadata.")


def _toml_key(key: str) -> str:
    key = str(key)
    return key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)


def calibration_to_toml(group: CameraGroup) -> str:
    """The text of a ``calibration.toml`` for these cameras (aniposelib's layout)."""
    lines: list[str] = []
    for i, cam in enumerate(group.cameras):
        lines += [
            f"[cam_{i}]",
            f"name = {_toml_value(cam.name)}",
            f"size = {_toml_value(list(cam.size))}",
            f"matrix = {_toml_value(cam.matrix)}",
            f"distortions = {_toml_value(cam.distortions)}",
            f"rotation = {_toml_value(cam.rotation)}",
            f"translation = {_toml_value(cam.translation)}",
            "",
        ]
    lines.append("[metadata]")
    for key, value in group.metadata.items():
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save_calibration(group: CameraGroup, path: str | os.PathLike[str]) -> Path:
    """Write ``calibration.toml`` atomically; returns its path."""
    path = Path(path)
    write_text(path, calibration_to_toml(group))
    return path


def load_calibration(path: str | os.PathLike[str]) -> CameraGroup:
    """Read a calibration: aniposelib ``.toml``, DeepLabCut ``stereo_params.pickle`` or DANNCE ``.mat``.

    Every camera is checked as it is read (finite values, positive focal lengths, distinct positions):
    a bad entry raises :class:`CalibrationError` naming the file and the key.
    """
    path = Path(path)
    if not path.exists():
        raise CalibrationError(f"Calibration file {path} does not exist; run `markerless calibrate` first.")
    if path.is_dir():
        raise CalibrationError(
            f"Calibration file {path} is a folder; give the calibration.toml (or .pickle/.mat) file itself."
        )
    reader = {".pickle": read_dlc_stereo_pickle, ".mat": read_dannce_mat}.get(path.suffix, _read_toml)
    try:
        group = reader(path)
        group.validate()
    except CalibrationError as err:
        if str(path) in str(err):
            raise
        raise CalibrationError(f"{path}: {err}") from None
    return group


def _read_toml(path: Path) -> CameraGroup:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as err:
        raise CalibrationError(f"{path} is not a valid calibration.toml: {err}") from None
    cams = []
    keys = [k for k in data if k.startswith("cam_")]
    for key in sorted(keys, key=lambda k: int(k[4:]) if k[4:].isdigit() else 0):
        section = data[key]
        if not isinstance(section, dict):
            raise CalibrationError(
                f"{path}: {key} = {section!r} is not a camera section; write it as a table [{key}] with name, size, "
                "matrix, distortions, rotation and translation (or recalibrate)."
            )
        try:
            cams.append(
                Camera(
                    name=str(section.get("name", key)),
                    size=tuple(section.get("size", (0, 0))),
                    matrix=np.asarray(section["matrix"], dtype=np.float64),
                    distortions=np.asarray(section.get("distortions", np.zeros(5)), dtype=np.float64),
                    rotation=np.asarray(section.get("rotation", np.zeros(3)), dtype=np.float64),
                    translation=np.asarray(section.get("translation", np.zeros(3)), dtype=np.float64),
                )
            )
        except KeyError as err:
            raise CalibrationError(f"{path}: section [{key}] has no {err}; recalibrate.") from None
        except (ValueError, TypeError) as err:
            raise CalibrationError(f"{path}: section [{key}] is malformed ({err}); recalibrate.") from None
        except CalibrationError as err:
            raise CalibrationError(f"{path}: section [{key}]: {err}") from None
    if not cams:
        raise CalibrationError(f"{path} lists no cameras (no [cam_N] sections).")
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise CalibrationError(f"{path}: metadata = {metadata!r} is not a table; write it as [metadata] or remove it.")
    return CameraGroup(cams, dict(metadata))


def _load_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError) as err:
        raise CalibrationError(f"Cannot read the DeepLabCut calibration pickle {path}: {err}") from None


def _size_from_shape(shape: Any) -> tuple[int, int]:
    """DeepLabCut stores ``image_shape`` as NumPy's ``(height, width[, channels])``."""
    if shape is None:
        return (0, 0)
    shape = [int(s) for s in np.asarray(shape).ravel()]
    return (shape[1], shape[0]) if len(shape) >= 2 else (0, 0)


def read_dlc_stereo_pickle(path: str | os.PathLike[str]) -> CameraGroup:
    """Cameras from DeepLabCut 3D's ``camera_matrix/stereo_params.pickle`` (the first camera is the origin).

    The unit of length is DeepLabCut's: one checkerboard square.
    """
    path = Path(path)
    data = _load_pickle(path)
    if not isinstance(data, dict) or not data:
        raise CalibrationError(f"{path} does not hold DeepLabCut stereo parameters (a dict 'cam1-cam2' -> params).")
    pair, params = next(iter(data.items()))
    names = _split_pair(str(pair), path)
    shapes = params.get("image_shape") or [None, None]
    cam1 = Camera(names[0], _size_from_shape(shapes[0]), params["cameraMatrix1"], params["distCoeffs1"])
    rvec = matrix_to_rodrigues(np.asarray(params["R"], dtype=np.float64))
    cam2 = Camera(
        names[1],
        _size_from_shape(shapes[1]),
        params["cameraMatrix2"],
        params["distCoeffs2"],
        rvec,
        np.asarray(params["T"], dtype=np.float64).ravel(),
    )
    return CameraGroup([cam1, cam2], {"source": f"deeplabcut:{path.name}", "unit": "checkerboard squares"})


def _split_pair(pair: str, path: Path) -> tuple[str, str]:
    """``'camera-1-camera-2'`` -> ``('camera-1', 'camera-2')`` (names may themselves contain dashes)."""
    parts = pair.split("-")
    half = len(parts) // 2
    if len(parts) % 2 == 0 and parts[:half] != parts[half:]:
        return "-".join(parts[:half]), "-".join(parts[half:])
    if len(parts) == 2:
        return parts[0], parts[1]
    raise CalibrationError(f"Cannot tell the two camera names apart in the key {pair!r} of {path}.")


def read_dlc_intrinsics_pickle(path: str | os.PathLike[str]) -> dict[str, Camera]:
    """Per-camera intrinsics from DeepLabCut 3D's ``<cam>_intrinsic_params.pickle`` (no pose, no size)."""
    path = Path(path)
    data = _load_pickle(path)
    if not isinstance(data, dict):
        raise CalibrationError(f"{path} does not hold DeepLabCut intrinsics (a dict camera -> {{mtx, dist}}).")
    try:
        return {str(name): Camera(str(name), (0, 0), p["mtx"], p["dist"]) for name, p in data.items()}
    except (KeyError, TypeError) as err:
        raise CalibrationError(f"{path} lacks 'mtx'/'dist' for a camera ({err}).") from None


def cameras_from_matlab(names: list[str], params: list[Any], sizes: list[tuple[int, int]] | None = None) -> CameraGroup:
    """Cameras given in MATLAB's row-vector conventions (DANNCE/Label3D).

    Each ``params`` entry has ``K`` (3x3, transposed: cx, cy in the last row), ``r`` (3x3 with
    ``X_cam = X_world @ r + t``), ``t`` (3,), ``RDistort`` (k1, k2[, k3]) and ``TDistort`` (p1, p2).
    """
    cams = []
    for i, (name, p) in enumerate(zip(names, params)):
        k = np.asarray(_get(p, "K"), dtype=np.float64).T
        r = np.asarray(_get(p, "r"), dtype=np.float64).T
        t = np.asarray(_get(p, "t"), dtype=np.float64).ravel()
        rd = np.asarray(_get(p, "RDistort"), dtype=np.float64).ravel()
        td = np.asarray(_get(p, "TDistort"), dtype=np.float64).ravel()
        dist = [rd[0], rd[1] if len(rd) > 1 else 0.0, td[0], td[1], rd[2] if len(rd) > 2 else 0.0]
        size = sizes[i] if sizes else (0, 0)
        cams.append(Camera(str(name), size, k, np.asarray(dist), matrix_to_rodrigues(r), t))
    return CameraGroup(cams, {"source": "matlab", "unit": "mm"})


def _get(obj: Any, key: str) -> Any:
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)


def read_dannce_mat(path: str | os.PathLike[str]) -> CameraGroup:
    """Cameras of a DANNCE ``label3d_dannce.mat`` (``camnames`` + ``params``), lengths in mm."""
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except (ValueError, OSError, NotImplementedError) as err:
        raise CalibrationError(f"Cannot read the MATLAB file {path}: {err}") from None
    if "params" not in mat or "camnames" not in mat:
        raise CalibrationError(f"{path} has no 'params'/'camnames' variables; is it a DANNCE label3d file?")
    names = [str(n) for n in np.atleast_1d(mat["camnames"])]
    group = cameras_from_matlab(names, list(np.atleast_1d(mat["params"])))
    group.metadata["source"] = f"dannce:{path.name}"
    return group


__all__ = [
    "calibration_to_toml",
    "cameras_from_matlab",
    "load_calibration",
    "read_dannce_mat",
    "read_dlc_intrinsics_pickle",
    "read_dlc_stereo_pickle",
    "save_calibration",
]
