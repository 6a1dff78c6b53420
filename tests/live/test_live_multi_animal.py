"""Live posing with a multi-animal (bottom-up) model: every animal of a frame, assembled as analysis does."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from markerless.analysis.analyze import analyze
from markerless.analysis.model_source import AnalysisModel, BackendSpec
from markerless.analysis.options import AnalysisOptions
from markerless.analysis.tracking_crop import GroupCropTracker
from markerless.errors import ModelError, VideoError
from markerless.io.dlc import read_predictions
from markerless.io.video import VideoReader
from markerless.live import LiveEstimator, VideoSource, run_live
from markerless.nets import create_model, save_checkpoint
from markerless.project.project import add_videos
from markerless.training.dataset import create_training_dataset
from tests.fixtures.discs import FRAME, LAYOUT, PackedDiscsNet, disc_frames
from tests.fixtures.projects import BODYPARTS, make_tiny_project, tiny_recipe
from tests.fixtures.videos import write_video

EDGES = [[BODYPARTS[0], BODYPARTS[1]], [BODYPARTS[0], BODYPARTS[2]], [BODYPARTS[0], BODYPARTS[3]]]


@pytest.fixture(scope="module")
def two_animal_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.yaml of a tiny two-animal project whose shuffle 1 has a random-weight bottom-up snapshot, with videos/vidA.avi."""
    dest = tmp_path_factory.mktemp("live-multi")
    config = make_tiny_project(dest, multi_animal=True)
    sources = dest / "sources"
    sources.mkdir()
    add_videos(config, [write_video(sources / "vidA.avi", n_frames=12, size=(96, 80))], copy_videos=True)
    sh = create_training_dataset(config, shuffle=1)
    tiny_recipe(config)
    sh.train_dir.mkdir(parents=True, exist_ok=True)
    net = create_model("mobilenetv2", len(BODYPARTS), pretrained=False, limbs=len(EDGES))
    extra = {"epoch": 1, "bodyparts": BODYPARTS, "edges": EDGES, "individuals": ["a", "b"]}
    save_checkpoint(sh.train_dir / "snapshot-001.pt", net, extra=extra)
    return config


def test_every_animal_is_returned_as_analyze_assembles_it(two_animal_project: Path, tmp_path: Path) -> None:
    """Whole frames (no window for the group in this recipe): (individuals, keypoints, 3) equal to analyze's untracked file."""
    video = two_animal_project.parent / "videos" / "vidA.avi"
    estimator = LiveEstimator.from_project(two_animal_project, backend="torch", device="cpu")
    with VideoReader(video, color="bgr") as reader:
        frames = reader.read_frames(range(8))
    live = np.stack([estimator.pose(f) for f in frames])
    assert live.shape == (8, 2, len(BODYPARTS), 3) and live.dtype == np.float32
    assert estimator.window_fraction is None and estimator.tracker is None
    assert estimator.layout is not None and list(estimator.layout.individuals) == ["a", "b"]
    [h5] = analyze(two_animal_project, video, backend="torch", device="cpu", track=False, dest=tmp_path, stop=8)
    offline = read_predictions(h5).data
    np.testing.assert_allclose(live, offline, atol=1e-3)


def test_run_live_records_every_animal(two_animal_project: Path, tmp_path: Path) -> None:
    video = two_animal_project.parent / "videos" / "vidA.avi"
    estimator = LiveEstimator.from_project(two_animal_project, backend="torch", device="cpu")
    result = run_live(estimator, VideoSource(video, realtime=False), record=tmp_path)
    assert result.frames == 12
    poses = read_predictions(next(tmp_path.glob("*.h5")))
    assert poses.data.shape == (12, 2, len(BODYPARTS), 3)


def test_the_dynamic_crop_needs_a_window_for_the_group(two_animal_project: Path) -> None:
    """The tiny recipe has no window holding every animal: dynamic_crop=True asks for one, auto poses whole frames."""
    estimator = LiveEstimator.from_project(two_animal_project, backend="torch", device="cpu", dynamic_crop=True)
    with pytest.raises(VideoError, match="--crop-size W H"):
        estimator.pose(np.zeros((80, 96, 3), np.uint8))
    sized = LiveEstimator.from_project(
        two_animal_project, backend="torch", device="cpu", dynamic_crop=True, crop_size=(64, 64)
    )
    pose = sized.pose(np.zeros((80, 96, 3), np.uint8))
    assert pose.shape == (2, len(BODYPARTS), 3)
    assert isinstance(sized.tracker, GroupCropTracker) and sized.tracker.settings.size == (64, 64)


def test_the_dynamic_crop_follows_every_animal_and_poses_what_whole_frames_pose(monkeypatch) -> None:
    """A stand-in net for two discs: the window holds both, its animals are assembled once and shifted to
    frame pixels; an animal running off sends its frames to the whole frame; the poses equal whole frames'."""
    paths = [[(60 + 3 * i, 100 + i), (110 + 3 * i, 130)] for i in range(30)]
    for i in range(12, 15):
        paths[i][1] = (290, 215)  # far from the other: no window of the recipe holds both
    frames = disc_frames(paths)
    net = PackedDiscsNet()
    monkeypatch.setattr(BackendSpec, "build", lambda spec: net)
    model = AnalysisModel(
        project=SimpleNamespace(root=Path("."), task="discs", date="Dec3", iteration=0),
        shuffle=1,
        snapshot=Path("snapshot-001.pt"),
        scorer="DLC_fake_discsDec3shuffle1_snapshot_1",
        layout=LAYOUT,
        recipe={"analysis_window": [160, 160]},
        edges=np.array([[0, 1]]),
    )
    options = AnalysisOptions(backend="torch", device="cpu")
    cropped = LiveEstimator.from_model(model, options)  # auto: the recipe's window, on the CPU
    live = np.stack([cropped.pose(f) for f in frames])
    assert isinstance(cropped.tracker, GroupCropTracker) and cropped.tracker.settings.size == (160, 160)
    assert 160 in net.widths
    assert cropped.window_fraction is not None and 0.6 < cropped.window_fraction < 1.0
    net.widths.clear()
    whole = LiveEstimator.from_model(model, options, dynamic_crop=False)
    reference = np.stack([whole.pose(f) for f in frames])
    assert set(net.widths) == {FRAME[0]} and whole.tracker is None
    assert live.shape == reference.shape == (30, 2, 2, 3) and np.isfinite(reference).all()
    np.testing.assert_allclose(live, reference, atol=1e-3)


def test_an_export_folder_of_a_multi_animal_model_points_to_the_project(two_animal_project: Path) -> None:
    """Its outputs are peaks and affinities, assembled with the snapshot's edges: from_export names from_project."""
    folder = two_animal_project.parent / "exported-models-pytorch" / "DLC_tiny_mobilenetv2_iteration-0_shuffle-1"
    folder.mkdir(parents=True)
    (folder / "snapshot-001_96x80.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match="from_project"):
        LiveEstimator.from_export(folder)
