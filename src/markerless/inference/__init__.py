"""markerless.inference: analysing videos (``analyze``), deployable exports (``export``), backends.

Modules: ``analyze`` (the workflow), ``pipeline`` (decode -> infer), ``backends`` (PyTorch, ONNX
Runtime, OpenVINO), ``export`` (ONNX / OpenVINO files), ``model_source`` (which snapshot, cached
backends), ``results_writer`` (crash-safe chunks), ``cluster`` (Dask tasks).
"""

from markerless.inference.analyze import analyze, analyze_videos
from markerless.inference.export import export

__all__ = ["analyze", "analyze_videos", "export"]
