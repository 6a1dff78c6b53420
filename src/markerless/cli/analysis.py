"""``markerless analyze`` and ``export``: parse, call the API, print the paths written."""

from __future__ import annotations

import argparse

from markerless.analysis.backends import BACKEND_CHOICES, DEVICES, PRECISIONS
from markerless.cli import Command


def _add_analyze_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="the project's config.yaml (or its folder)")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of videos")
    p.add_argument("--shuffle", type=int, default=1, help="shuffle whose model analyses (default 1)")
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default="auto",
        help="inference engine (default auto: OpenVINO on CPU, PyTorch on CUDA)",
    )
    p.add_argument("--batch-size", type=int, default=None, help="frames per batch (default 4 on CPU, 64 on CUDA)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where to run (default auto)")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="arithmetic (default auto: bf16 for OpenVINO on bf16 CPUs, fp16 on CUDA, else fp32)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address (tcp://host:8786), or 'local' for a local cluster",
    )
    p.add_argument("--dest", default=None, help="folder for the results (default: beside each video)")
    p.add_argument("--save-as-csv", action="store_true", help="also write a .csv beside each .h5")
    p.add_argument("--snapshot", default=None, help="snapshot file to use (default: the shuffle's best)")
    p.add_argument("--overwrite", action="store_true", help="analyse again videos that already have results")
    p.add_argument(
        "--tracking-crop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="analyse a window that follows the (single) animal instead of whole frames; frames where it "
        "loses the animal are analysed whole (default: on for single-animal projects on the CPU when the "
        "window is at most 60%% of the frame)",
    )
    p.add_argument(
        "--crop-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("W", "H"),
        help="tracking-crop window in frame pixels (default: the training crop plus a sixth, over the input scale)",
    )


def _run_analyze(args: argparse.Namespace) -> int:
    from markerless.analysis.analyze import analyze

    outputs = analyze(
        args.config,
        args.videos,
        shuffle=args.shuffle,
        backend=args.backend,
        batch_size=args.batch_size,
        device=args.device,
        scheduler=args.scheduler,
        dest=args.dest,
        save_as_csv=args.save_as_csv,
        snapshot=args.snapshot,
        overwrite=args.overwrite,
        precision=args.precision,
        tracking_crop=args.tracking_crop,
        crop_size=tuple(args.crop_size) if args.crop_size else None,
    )
    for path in outputs:
        print(path)
    return 0


def _add_export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="the project's config.yaml (or its folder)")
    p.add_argument("--shuffle", type=int, default=1, help="shuffle whose model to export (default 1)")
    p.add_argument("--format", choices=["onnx", "openvino"], default="onnx", help="export format (default onnx)")
    p.add_argument("--snapshot", default=None, help="snapshot file to export (default: the shuffle's best)")
    p.add_argument(
        "--frame-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("W", "H"),
        help="frame size the model takes (default: that of the project's first video)",
    )


def _run_export(args: argparse.Namespace) -> int:
    from markerless.analysis.export import export

    print(
        export(
            args.config,
            shuffle=args.shuffle,
            format=args.format,
            snapshot=args.snapshot,
            frame_size=tuple(args.frame_size) if args.frame_size else None,
        )
    )
    return 0


COMMANDS = {
    "analyze": Command(
        "Predict poses in videos with a trained shuffle (writes <video><scorer>.h5)", _add_analyze_args, _run_analyze
    ),
    "export": Command(
        "Export a trained shuffle's model to ONNX or OpenVINO for deployment", _add_export_args, _run_export
    ),
}
