"""Group tracking crops: one window holds every animal; a missing, cut or new animal sends frames to the whole frame."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from markerless.analysis.analyze import analyze, analyze_videos
from markerless.analysis.model_source import AnalysisModel
from markerless.analysis.tracking_crop import AnimalGroup, CropSettings, GroupCropTracker
from markerless.io.dlc import read_predictions
from markerless.nets import create_model, save_checkpoint
from markerless.project.project import add_videos
from markerless.training.dataset import create_training_dataset
from tests.fixtures.discs import FRAME, LAYOUT, PackedDiscsNet, disc_frames
from tests.fixtures.projects import BODYPARTS, make_tiny_project, tiny_recipe
from tests.fixtures.videos import write_video


class DiscsNet:
    """A stand-in multi-animal net: its raw output ``(B, 2, 2, 3)`` is each dark disc's centroid and leftmost
    pixel (score 1; NaN rows where fewer discs), in the pixels of the frames it is given, discs ordered by x."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []  # (batch, width) of each call

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        self.calls.append((len(frames), frames.shape[2]))
        out = np.full((len(frames), 2, 2, 3), np.nan, dtype=np.float32)
        for b, frame in enumerate(frames):
            n, _labels, stats, centroids = cv2.connectedComponentsWithStats((frame[..., 0] < 100).astype(np.uint8))
            discs = sorted(range(1, n), key=lambda i: centroids[i][0])[:2]
            for row, i in enumerate(discs):
                out[b, row, 0] = [*centroids[i], 1.0]
                out[b, row, 1] = [stats[i, cv2.CC_STAT_LEFT], centroids[i][1], 1.0]
        return out


class Assembly:
    """The assembly of :class:`DiscsNet`'s output into ``(B, individuals * keypoints, 3)``, counting its batches."""

    def __init__(self) -> None:
        self.batches = 0

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        self.batches += 1
        return raw.reshape(len(raw), -1, 3)


def make_tracker(settings: CropSettings | None = None, **kwargs: int) -> tuple[GroupCropTracker, DiscsNet, DiscsNet]:
    whole, window = DiscsNet(), DiscsNet()
    group = AnimalGroup(Assembly(), LAYOUT)
    settings = settings or CropSettings(size=(160, 160), margin=8)
    return GroupCropTracker(whole, window, group, settings, FRAME, **kwargs), whole, window


def run(tracker: GroupCropTracker, frames: np.ndarray, batch: int = 4) -> np.ndarray:
    return np.concatenate([tracker(frames[i : i + batch]) for i in range(0, len(frames), batch)])


def reference(frames: np.ndarray) -> np.ndarray:
    return DiscsNet()(frames).reshape(len(frames), -1, 3)


def n_found(out: np.ndarray) -> np.ndarray:
    return np.isfinite(out.reshape(len(out), 2, 2, 3)[..., 0, 0]).sum(axis=1)


def test_a_window_holding_every_animal_is_trusted_and_shifted_to_frame_pixels() -> None:
    path = [[(100 + 2 * i, 100 + i), (150 + 2 * i, 120)] for i in range(16)]
    frames = disc_frames(path)
    tracker, whole, window = make_tracker()
    out = run(tracker, frames)
    np.testing.assert_allclose(out, reference(frames), atol=1e-4)
    assert [n for n, _ in whole.calls] == [4]  # the first batch finds the animals on whole frames
    assert window.calls == [(4, 160)] * 3
    assert (tracker.frames_in_window, tracker.frames_whole, tracker.frames_rechecked) == (12, 4, 0)
    assert tracker.expected == 2 and tracker.window_fraction == 0.75
    assembly = tracker.group.assemble
    assert isinstance(assembly, Assembly) and assembly.batches == len(whole.calls) + len(window.calls)  # once a pass


def test_a_missing_animal_or_one_near_the_window_edge_sends_its_frame_to_the_whole_frame() -> None:
    still = [(120, 110), (160, 130)]
    path = [list(still) for _ in range(12)]
    path[5] = [still[0], (300, 220)]  # the second animal jumps out of the window
    path[10] = [still[0], (220, 130)]  # ... and to the window's right edge (window x 64..223), cut by it
    frames = disc_frames(path)
    tracker, whole, _window = make_tracker()
    out = run(tracker, frames)
    np.testing.assert_allclose(out, reference(frames), atol=1e-4)
    assert [n for n, _ in whole.calls] == [4, 1, 1]  # the first batch, then frames 5 and 10 alone
    assert (tracker.frames_in_window, tracker.frames_whole) == (6, 6)
    assert n_found(out).tolist() == [2] * 12


def test_an_animal_walking_in_is_found_by_the_regular_whole_frame_check() -> None:
    path: list[list[tuple[int, int] | None]] = [[(100, 120), None] for _ in range(9)]
    path += [[(100, 120), (210, 120)] for _ in range(15)]  # the second one enters at frame 9, outside the window
    frames = disc_frames(path)
    tracker, whole, _window = make_tracker(recheck_frames=8)
    out = run(tracker, frames)
    assert n_found(out).tolist() == [1] * 11 + [2] * 13  # missed in frames 9-10 until the check at frame 11
    assert [n for n, _ in whole.calls] == [4, 1]
    assert tracker.frames_rechecked == 1 and tracker.expected == 2
    np.testing.assert_allclose(out[11:], reference(frames)[11:], atol=1e-4)
    assert tracker.frames_in_window + tracker.frames_whole == len(frames) and tracker.frames_whole == 5
    # with every animal in view the checks stop
    more = disc_frames([[(100, 120), (210, 120)]] * 16)
    run(tracker, more)
    assert tracker.frames_rechecked == 1 and tracker.frames_whole == 5


def test_animals_spread_wider_than_the_window_go_straight_to_whole_frames() -> None:
    frames = disc_frames([[(40, 40), (280, 200)]] * 8 + [[(120, 110), (160, 130)]] * 8)
    tracker, whole, window = make_tracker()
    out = run(tracker, frames)
    np.testing.assert_allclose(out, reference(frames), atol=1e-4)
    assert [n for n, _ in whole.calls] == [4, 4, 4] and window.calls == [(4, 160)]  # no window wasted on them
    assert (tracker.frames_in_window, tracker.frames_whole) == (4, 12)


def test_reset_forgets_the_animals() -> None:
    frames = disc_frames([[(120, 110), (160, 130)]] * 8)
    tracker, whole, _window = make_tracker()
    run(tracker, frames)
    tracker.reset()
    assert tracker.centre is None and tracker.expected == 0
    run(tracker, frames[:4])
    assert [n for n, _ in whole.calls] == [4, 4]


def test_a_missing_animal_in_the_whole_frame_lowers_what_is_expected() -> None:
    """One animal leaves the view for good: after one whole frame the window is trusted with the other alone."""
    frames = disc_frames([[(120, 110), (160, 130)]] * 4 + [[(120, 110), None]] * 8)
    tracker, whole, _window = make_tracker(recheck_frames=1000)
    out = run(tracker, frames)
    np.testing.assert_allclose(out, reference(frames), atol=1e-4)
    assert [n for n, _ in whole.calls] == [4, 4] and tracker.expected == 1  # frames 4-7 redone (1 of 2 found)
    assert tracker.frames_in_window == 4


def test_a_recheck_interval_below_one_is_refused() -> None:
    from markerless.errors import ModelError

    with pytest.raises(ModelError, match="recheck_frames"):
        make_tracker(recheck_frames=0)


# --- end to end: analyse a two-animal video with the group crop and on whole frames --------------------------


def write_discs_video(path: Path, paths: list[list[tuple[int, int]]]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, FRAME)
    for frame in disc_frames(paths):  # type: ignore[arg-type]
        writer.write(frame)
    writer.release()
    return path


def test_analysis_with_the_group_crop_writes_what_whole_frames_write(tmp_path: Path, monkeypatch) -> None:
    """Auto on the CPU from the recipe's window: same files, same points, the window fraction in the meta."""
    paths = [[(60 + 3 * i, 100 + i), (110 + 3 * i, 130)] for i in range(40)]
    for i in range(20, 23):
        paths[i][1] = (290, 215)  # the second animal runs off for three frames: analysed whole
    video = write_discs_video(tmp_path / "pair.avi", paths)
    net = PackedDiscsNet()
    monkeypatch.setattr("markerless.analysis.cluster.cached_backend", lambda spec: net)
    model = AnalysisModel(
        project=SimpleNamespace(root=tmp_path, task="discs", date="Dec3", iteration=0),
        shuffle=1,
        snapshot=tmp_path / "snapshot-001.pt",
        scorer="DLC_fake_discsDec3shuffle1_snapshot_1",
        layout=LAYOUT,
        recipe={"analysis_window": [160, 160]},
        edges=np.array([[0, 1]]),
    )
    options = {"backend": "torch", "device": "cpu", "batch_size": 4}
    [cropped] = analyze_videos(model, [video], dest=tmp_path / "crop", **options)
    assert 160 in net.widths and 320 in net.widths
    net.widths.clear()
    [whole] = analyze_videos(model, [video], dest=tmp_path / "whole", tracking_crop=False, **options)
    assert set(net.widths) == {320}
    assert cropped.name == whole.name
    assert sorted(p.name for p in cropped.parent.iterdir()) == sorted(p.name for p in whole.parent.iterdir())
    a, b = read_predictions(cropped), read_predictions(whole)
    assert a.data.shape == b.data.shape == (40, 2, 2, 3) and a.layout == b.layout
    assert np.isfinite(b.data).all()
    np.testing.assert_allclose(a.data, b.data, atol=1e-3)
    meta = pickle.loads(next(cropped.parent.glob("*_meta.pickle")).read_bytes())["data"]
    assert meta["tracking_crop"] == [160, 160] and 0.7 < meta["tracking_crop_window_fraction"] < 1.0
    assert pickle.loads(next(whole.parent.glob("*_meta.pickle")).read_bytes())["data"]["tracking_crop"] is None


def test_a_real_multi_animal_net_analyses_in_the_group_crop_with_the_whole_frames_layout(tmp_path: Path) -> None:
    """A random-weight bottom-up snapshot through the PyTorch backend: the window's packed outputs are assembled
    once, and the file has the whole-frame file's name, columns and frames (``--tracking-crop --crop-size``)."""
    config = make_tiny_project(tmp_path, multi_animal=True)
    sources = tmp_path / "sources"
    sources.mkdir()
    add_videos(config, [write_video(sources / "vidA.avi", n_frames=12, size=(96, 80))], copy_videos=True)
    sh = create_training_dataset(config, shuffle=1)
    tiny_recipe(config)
    sh.train_dir.mkdir(parents=True, exist_ok=True)
    edges = [[BODYPARTS[0], BODYPARTS[1]], [BODYPARTS[0], BODYPARTS[2]], [BODYPARTS[0], BODYPARTS[3]]]
    torch.manual_seed(0)
    net = create_model("mobilenetv2", len(BODYPARTS), pretrained=False, limbs=len(edges))
    extra = {"epoch": 1, "bodyparts": BODYPARTS, "edges": edges, "individuals": ["a", "b"]}
    save_checkpoint(sh.train_dir / "snapshot-001.pt", net, extra=extra)
    video = config.parent / "videos" / "vidA.avi"
    options = {"backend": "torch", "device": "cpu", "batch_size": 4}
    [cropped] = analyze(config, video, dest=tmp_path / "crop", tracking_crop=True, crop_size=(64, 64), **options)
    [whole] = analyze(config, video, dest=tmp_path / "whole", tracking_crop=False, **options)
    assert cropped.name == whole.name
    assert sorted(p.name for p in cropped.parent.iterdir()) == sorted(p.name for p in whole.parent.iterdir())
    a, b = read_predictions(cropped), read_predictions(whole)
    assert a.data.shape == b.data.shape == (12, 2, len(BODYPARTS), 3) and a.layout == b.layout
    meta = pickle.loads(next(cropped.parent.glob("*_meta.pickle")).read_bytes())["data"]
    assert meta["tracking_crop"] == [64, 64] and 0.0 <= meta["tracking_crop_window_fraction"] <= 1.0
