"""Bottom-up assembly on maps rendered from exact keypoints: parts are put back into the right animal."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from markerless.analysis.assembly import _local_max, assemble, assemble_maps, find_peaks, paf_affinities
from markerless.nets.decode import LOCREF_STDEV, cell_centres
from markerless.training.oks import oks_map
from markerless.training.paf_targets import paf_targets
from tests.fixtures.data import shared_path

STRIDE = 8
# a fly-like star: head, thorax, abdomen, wings, six legs, eyes (the SLEAP flies skeleton's shape)
TEMPLATE = np.array(
    [
        [30, 0],
        [0, 0],
        [-40, 0],
        [-30, 14],
        [-30, -14],
        [28, 24],
        [28, -24],
        [0, 34],
        [0, -34],
        [-26, 30],
        [-26, -30],
        [36, 6],
        [36, -6],
    ],
    dtype=np.float64,
)
EDGES = np.array([[0, 11], [0, 12], [1, 0], [1, 2], [1, 3], [1, 4], [1, 5], [1, 6], [1, 7], [1, 8], [1, 9], [1, 10]])


def _animal(x: float, y: float, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return TEMPLATE @ np.array([[c, s], [-s, c]]) + [x, y]


def render(
    animals: np.ndarray, shape: tuple[int, int], sigma: float = 6.0, edges: np.ndarray = EDGES
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Heatmap logits, offsets and affinity fields (1, ...) for animals (N, K, 2): max of Gaussians,
    offsets to the nearest animal's point, affinity fields from paf_targets."""
    h, w = shape
    kp = torch.as_tensor(animals, dtype=torch.float32)  # (N, K, 2)
    cx = cell_centres(w, STRIDE).view(1, 1, 1, w)
    cy = cell_centres(h, STRIDE).view(1, 1, h, 1)
    dx = kp[..., 0, None, None] - cx  # (N, K, 1, w)
    dy = kp[..., 1, None, None] - cy  # (N, K, h, 1)
    d2 = torch.nan_to_num(dx.square() + dy.square(), nan=1e12)  # (N, K, h, w)
    heat = torch.exp(-d2 / (2 * sigma**2)).amax(dim=0) if len(kp) else torch.zeros(TEMPLATE.shape[0], h, w)
    nearest = d2.argmin(dim=0, keepdim=True) if len(kp) else None
    if nearest is None:
        offsets = torch.zeros(2 * TEMPLATE.shape[0], h, w)
    else:
        ox = torch.gather(dx.expand_as(d2), 0, nearest)[0] / LOCREF_STDEV
        oy = torch.gather(dy.expand_as(d2), 0, nearest)[0] / LOCREF_STDEV
        offsets = torch.stack([ox, oy], dim=1).reshape(-1, h, w)
    logits = torch.logit(heat.clamp(1e-6, 1 - 1e-6))
    pafs = paf_targets(animals.reshape(-1, TEMPLATE.shape[0], 2), edges, shape, STRIDE, width=8.0)
    return logits[None], offsets[None], pafs[None]


def _same_animals(found: np.ndarray, truth: np.ndarray, atol: float = 0.01) -> bool:
    """Each true animal is one found animal (any order), point for point; NaN where the truth is NaN."""
    present = found[np.isfinite(found[..., 2]).any(axis=-1)]
    if len(present) != len(truth):
        return False
    for perm in itertools.permutations(range(len(truth))):
        a, b = present[list(perm), :, :2], truth
        if np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a[~np.isnan(a)], b[~np.isnan(b)], atol=atol):
            return True
    return False


def test_two_close_animals_are_assembled_exactly() -> None:
    truth = np.stack([_animal(150, 160, 0.3), _animal(220, 185, 2.2)])  # 6 px apart; same parts 15 px
    logits, offsets, pafs = render(truth, (48, 48))
    poses, scores = assemble_maps(logits, offsets, pafs, EDGES, STRIDE, max_individuals=2)
    assert poses.shape == (1, 2, 13, 3) and scores.shape == (1, 2)
    assert _same_animals(poses[0], truth)
    assert np.all(scores > 0.7)  # the mean peak probability (the points lie between cell centres)


@pytest.mark.parametrize("radius", [1, 2])
def test_local_max_is_max_pool(radius: int) -> None:
    maps = torch.randn(2, 3, 17, 12)
    assert torch.equal(_local_max(maps, radius), torch.nn.functional.max_pool2d(maps, 2 * radius + 1, 1, radius))


def test_swapped_parts_are_put_back() -> None:
    rng = np.random.default_rng(1)
    truth = np.stack([_animal(140, 150, 0.0), _animal(230, 170, 3.0)])
    logits, offsets, pafs = render(truth, (48, 48))
    peaks = find_peaks(logits, offsets, STRIDE, max_peaks=4)
    for _ in range(5):
        # reorder the peaks of random body parts: the first peak is animal A's for some parts, B's for others
        mixed = peaks.clone()
        swap = rng.random(13) < 0.5
        mixed[0, swap, :2] = peaks[0, swap][:, [1, 0]]
        affinity = paf_affinities(pafs, mixed, EDGES, STRIDE)
        poses, _ = assemble(mixed, affinity, EDGES, 2)
        assert _same_animals(poses[0], truth)


def test_as_many_animals_as_there_are() -> None:
    truth = np.stack([_animal(100, 100, 0.0), _animal(300, 120, 1.0), _animal(200, 300, 2.0)])
    for n in (0, 1, 3):
        logits, offsets, pafs = render(truth[:n], (56, 56))
        poses, scores = assemble_maps(logits, offsets, pafs, EDGES, STRIDE, max_individuals=4)
        assert _same_animals(poses[0], truth[:n])
        assert np.isnan(poses[0, n:]).all() and np.isnan(scores[0, n:]).all()
    poses, _ = assemble_maps(logits, offsets, pafs, EDGES, STRIDE, max_individuals=2)  # more than allowed
    assert np.isfinite(poses[0, :, :, 2]).all()
    assert poses.shape[1] == 2


def test_missing_joint_leaves_nan_and_pieces_rejoin() -> None:
    truth = np.stack([_animal(150, 150, 0.2), _animal(260, 190, 2.8)])
    truth[0, 1] = np.nan  # thorax of animal 0 not detected: every edge through it is gone
    truth[1, 7] = np.nan  # and one leg of animal 1
    logits, offsets, pafs = render(truth, (48, 48))
    poses, _ = assemble_maps(logits, offsets, pafs, EDGES, STRIDE, max_individuals=2)
    assert _same_animals(poses[0], truth)  # NaN kept, never invented


def test_cycle_edges_merge_pieces() -> None:
    edges = np.concatenate([EDGES, [[0, 2], [11, 3], [12, 4]]])  # edges closing cycles
    truth = np.stack([_animal(150, 150, 0.2), _animal(270, 190, 2.8)])
    truth[:, 1] = np.nan  # no thorax: the tree falls apart, the cycle edges hold the pieces together
    logits, offsets, pafs = render(truth, (48, 48), edges=edges)
    peaks = find_peaks(logits, offsets, STRIDE, max_peaks=4)
    poses, _ = assemble(peaks, paf_affinities(pafs, peaks, edges, STRIDE), edges, 2)
    assert _same_animals(poses[0], truth)


def test_duplicate_animal_is_dropped() -> None:
    a, b = _animal(120, 120, 0.0), _animal(300, 260, 1.0)
    ghost = a + 2.0  # every part detected twice, 2 px apart, weaker
    peaks = np.full((1, 13, 3, 3), np.nan)
    peaks[0, :, 0] = np.c_[a, np.full(13, 0.9)]
    peaks[0, :, 1] = np.c_[b, np.full(13, 0.9)]
    peaks[0, :, 2] = np.c_[ghost, np.full(13, 0.5)]
    _, _, pafs = render(np.stack([a, b]), (48, 48))
    affinity = paf_affinities(pafs, torch.as_tensor(peaks, dtype=torch.float32), EDGES, STRIDE)
    poses, scores = assemble(peaks, affinity, EDGES, 3)
    assert np.isfinite(scores[0, :2]).all() and np.isnan(scores[0, 2])
    assert _same_animals(poses[0], np.stack([a, b]), atol=2.01)


def test_batch_of_frames_and_empty_input() -> None:
    rng = np.random.default_rng(2)
    frames = [
        np.stack([_animal(rng.uniform(100, 280), rng.uniform(100, 280), rng.uniform(0, 6)) for _ in range(2)])
        for _ in range(4)
    ]
    maps = [render(f, (48, 48)) for f in frames]
    logits, offsets, pafs = (torch.cat(parts) for parts in zip(*maps, strict=True))
    poses, _ = assemble_maps(logits, offsets, pafs, EDGES, STRIDE, max_individuals=2)
    gt = np.stack(frames)
    # animals drawn at random may overlap; most frames must be exact and the OKS mAP high
    assert sum(_same_animals(p, f) for p, f in zip(poses, frames, strict=True)) >= 3
    assert oks_map(gt, poses)["mAP"] > 70
    with pytest.raises(ValueError, match="edges"):
        assemble(np.full((1, 13, 4, 3), np.nan), np.full((1, 0, 4, 4), np.nan), np.zeros((0, 2), int), 2)
    one_part = np.full((1, 1, 4, 3), np.nan)
    one_part[0, 0, :2] = [[10.0, 10.0, 0.9], [50.0, 50.0, 0.8]]  # one body part per animal: no edges needed
    poses, scores = assemble(one_part, np.zeros((1, 0, 4, 4)), np.zeros((0, 2), int), 3)
    np.testing.assert_allclose(poses[0, :2, 0], [[10.0, 10.0, 0.9], [50.0, 50.0, 0.8]], rtol=1e-6)
    assert np.isnan(scores[0, 2])
    empty, scores = assemble(np.full((3, 13, 4, 3), np.nan), np.full((3, 12, 4, 4), np.nan), EDGES, 2)
    assert empty.shape == (3, 2, 13, 3) and np.isnan(empty).all() and np.isnan(scores).all()


@pytest.mark.shared_data
def test_flies_ground_truth_reassembled() -> None:
    """Maps rendered from the human labels of the SLEAP flies clip (2 flies, 1024x1024, stride 8)."""
    sio = pytest.importorskip("sleap_io")
    labels = sio.load_slp(str(shared_path("sleap-flies-clip", "clip.slp")))
    truth = labels.numpy()[::50]  # 30 frames across the clip
    edges = np.array(labels.skeletons[0].edge_inds)
    maps = [render(frame, (128, 128), edges=edges) for frame in truth]
    logits, offsets, pafs = (torch.cat(parts) for parts in zip(*maps, strict=True))
    poses, _ = assemble_maps(logits, offsets, pafs, edges, STRIDE, max_individuals=2)
    exact = np.mean([_same_animals(p, f, atol=0.05) for p, f in zip(poses, truth, strict=True)])
    assert exact >= 0.95, f"only {exact:.0%} of frames reassembled exactly"  # all 150 of every 10th frame are
    assert oks_map(truth, poses)["mAP"] >= 95


class _PeaksAndAffinities(torch.nn.Module):
    def forward(self, logits: torch.Tensor, offsets: torch.Tensor, pafs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        peaks = find_peaks(logits, offsets, STRIDE, max_peaks=4)
        return peaks, paf_affinities(pafs, peaks, EDGES, STRIDE)


def test_peaks_and_affinities_export_to_onnx(tmp_path: Path) -> None:
    """Steps 1 and 2 have fixed shapes, so they can run inside an exported graph (any batch size)."""
    ort = pytest.importorskip("onnxruntime")
    truth = [np.stack([_animal(150, 160, 0.3), _animal(220, 185, 2.2)]), _animal(200, 200, 1.0)[None]]
    logits, offsets, pafs = (torch.cat(parts) for parts in zip(*[render(t, (48, 48)) for t in truth], strict=True))
    path = tmp_path / "assembly.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _PeaksAndAffinities(),
            (logits[:1], offsets[:1], pafs[:1]),
            str(path),
            dynamo=False,
            input_names=["logits", "offsets", "pafs"],
            output_names=["peaks", "affinities"],
            dynamic_axes={name: {0: "batch"} for name in ("logits", "offsets", "pafs", "peaks", "affinities")},
            opset_version=17,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    peaks, affinity = session.run(None, {"logits": logits.numpy(), "offsets": offsets.numpy(), "pafs": pafs.numpy()})
    expected = _PeaksAndAffinities()(logits, offsets, pafs)
    np.testing.assert_allclose(peaks, expected[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(affinity, expected[1].numpy(), atol=1e-4)
    poses, _ = assemble(peaks, affinity, EDGES, 2)
    assert _same_animals(poses[0], truth[0]) and _same_animals(poses[1], truth[1])


def test_peaks_average_the_offset_votes_around_them() -> None:
    # one body part at (20, 20): the peak cell (2, 2) votes 2 px off, its eight neighbours vote exactly
    logits = torch.full((1, 1, 6, 6), -6.0)
    logits[0, 0, 1:4, 1:4] = 0.0  # probability 0.5
    logits[0, 0, 2, 2] = 2.0  # 0.88: the peak
    centres = cell_centres(6, STRIDE)
    offsets = torch.zeros(1, 2, 6, 6)
    offsets[0, 0] = (20.0 - centres.view(1, 6)) / LOCREF_STDEV
    offsets[0, 1] = (20.0 - centres.view(6, 1)) / LOCREF_STDEV
    offsets[0, :, 2, 2] += 2.0 / LOCREF_STDEV
    own = find_peaks(logits, offsets, STRIDE, max_peaks=1, window=1)[0, 0, 0]
    voted = find_peaks(logits, offsets, STRIDE, max_peaks=1)[0, 0, 0]
    np.testing.assert_allclose(own[:2].numpy(), [22.0, 22.0], atol=1e-4)
    expected = 20.0 + 2.0 * 0.8808 / (0.8808 + 8 * 0.5)  # probability-weighted mean of the nine votes
    np.testing.assert_allclose(voted[:2].numpy(), [expected, expected], atol=1e-3)
    assert float(voted[2]) == pytest.approx(float(own[2]))


def test_unique_parts_go_to_single_and_leave_the_animals_unchanged() -> None:
    """Exact peaks of two animals plus two unique parts: the unique parts take their best peak in the last
    row ("single"), the animals are those assembled without them, and a unique part without a peak is NaN."""
    a, b = _animal(120, 120, 0.0), _animal(300, 260, 1.0)
    _, _, pafs = render(np.stack([a, b]), (48, 48))
    peaks = np.full((2, 15, 3, 3), np.nan)  # frames, 13 animal parts + 2 unique, 3 peaks
    peaks[:, :13, 0] = np.c_[a, np.full(13, 0.9)]
    peaks[:, :13, 1] = np.c_[b, np.full(13, 0.8)]
    peaks[0, 13, :3] = [[40.0, 30.0, 0.3], [44.0, 350.0, 0.95], [10.0, 10.0, 0.5]]  # the best is not the first
    peaks[1, 13, 0] = [42.0, 33.0, 0.7]
    peaks[0, 14, 0] = [200.0, 20.0, 0.6]  # frame 1: no peak of the second unique part (below the floor)
    pafs = torch.cat([pafs, pafs])
    affinity = paf_affinities(pafs, torch.as_tensor(peaks, dtype=torch.float32), EDGES, STRIDE)
    poses, scores = assemble(peaks, affinity, EDGES, 2, n_unique=2)
    animals, animal_scores = assemble(peaks[:, :13], affinity, EDGES, 2)
    assert poses.shape == (2, 3, 15, 3) and scores.shape == (2, 2)
    np.testing.assert_array_equal(poses[:, :2, :13], animals)
    np.testing.assert_array_equal(scores, animal_scores)
    assert _same_animals(poses[0, :2, :13], np.stack([a, b]))
    assert np.isnan(poses[:, :2, 13:]).all() and np.isnan(poses[:, 2, :13]).all()  # cells that cannot exist
    np.testing.assert_allclose(poses[0, 2, 13:], [[44.0, 350.0, 0.95], [200.0, 20.0, 0.6]], rtol=1e-6)
    np.testing.assert_allclose(poses[1, 2, 13], [42.0, 33.0, 0.7], rtol=1e-6)
    assert np.isnan(poses[1, 2, 14]).all()  # never invented
    with pytest.raises(ValueError, match="unique"):
        assemble(peaks, affinity, EDGES, 2, n_unique=3)  # edges would touch a unique part


def test_unique_parts_of_rendered_maps_come_back_from_assemble_maps() -> None:
    a, b = _animal(120, 120, 0.0), _animal(300, 260, 1.0)
    logits, offsets, pafs = render(np.stack([a, b]), (48, 48))
    x, y = 60.0, 330.0  # the landmark: one more channel after the 13 animal parts, no affinity field
    dx = (x - cell_centres(48, STRIDE).view(1, 48)).expand(48, 48)
    dy = (y - cell_centres(48, STRIDE).view(48, 1)).expand(48, 48)
    heat = torch.exp(-(dx.square() + dy.square()) / (2 * 6.0**2))
    logits = torch.cat([logits, torch.logit(heat.clamp(1e-6, 1 - 1e-6))[None, None]], dim=1)
    offsets = torch.cat([offsets, torch.stack([dx, dy])[None] / LOCREF_STDEV], dim=1)
    poses, _ = assemble_maps(logits, offsets, pafs, EDGES, STRIDE, max_individuals=2, n_unique=1)
    assert poses.shape == (1, 3, 14, 3)
    assert _same_animals(poses[0, :2, :13], np.stack([a, b]))
    np.testing.assert_allclose(poses[0, 2, 13, :2], [60.0, 330.0], atol=0.01)
    assert poses[0, 2, 13, 2] > 0.9
