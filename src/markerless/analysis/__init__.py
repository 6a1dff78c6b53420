"""markerless.analysis: analysing videos and deployable exports.

Modules: ``analyze`` (``analyze``, ``analyze_videos``: the workflow), ``options`` (``AnalysisOptions``:
every setting and default of an analysis, validated, resolved once per run), ``pipeline`` (decode -> infer),
``backends`` (PyTorch, ONNX Runtime, OpenVINO), ``export`` (``export``: ONNX / OpenVINO files),
``model_source`` (which snapshot, cached backends), ``results_writer`` (crash-safe chunks),
``cluster`` (Dask tasks). The functions are not re-exported here, so that the module names stay
modules (``markerless.analyze`` and ``markerless.export`` are the public entry points).
"""
