"""Targets and loss: peaks at the keypoint cell, exact encode->decode round trip, masking."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from markerless.nets import InferenceModel, create_model
from markerless.nets.decode import LOCREF_STDEV, decode_heatmaps
from markerless.training.targets import make_targets, pose_loss


def _perfect_logits(targets: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.logit(targets["heatmaps"].clamp(1e-6, 1 - 1e-6))


def test_shapes_and_peak_at_keypoint_cell() -> None:
    keypoints = torch.tensor([[[20.0, 44.0], [3.0, 3.0]]])  # cell (5, 2) and (0, 0) at stride 8
    targets = make_targets(keypoints, torch.ones(1, 2), (8, 6), stride=8, sigma=4.0, locref_radius=10.0)
    assert targets["heatmaps"].shape == (1, 2, 8, 6)
    assert targets["offsets"].shape == (1, 4, 8, 6)
    assert targets["offset_mask"].shape == (1, 2, 8, 6)
    heat = targets["heatmaps"][0, 0]
    assert divmod(int(heat.argmax()), 6) == (5, 2)
    # cell centre (20, 44) = (2*8 + 4, 5*8 + 4): exactly on the keypoint
    assert math.isclose(float(heat[5, 2]), 1.0)
    assert math.isclose(float(heat[5, 3]), math.exp(-(8.0**2) / (2 * 4.0**2)), rel_tol=1e-5)
    # offsets of the neighbouring cell point back at the keypoint, in locref_stdev units
    assert math.isclose(float(targets["offsets"][0, 0, 5, 3]), (20 - 28) / LOCREF_STDEV, rel_tol=1e-5)
    assert float(targets["offsets"][0, 1, 5, 3]) == 0.0
    # the mask covers cells within the radius only
    mask = targets["offset_mask"][0, 0]
    assert mask[5, 2] == 1 and mask[5, 3] == 1 and mask[5, 4] == 0 and mask[3, 2] == 0


@settings(max_examples=30, deadline=None)
@given(
    b=st.integers(1, 3),
    k=st.integers(1, 5),
    stride=st.sampled_from([4, 8]),
    seed=st.integers(0, 2**31 - 1),
)
def test_encode_decode_round_trip(b: int, k: int, stride: int, seed: int) -> None:
    h, w = 9, 7
    gen = torch.Generator().manual_seed(seed)
    keypoints = torch.rand(b, k, 2, generator=gen) * torch.tensor([w * stride - 1, h * stride - 1])
    targets = make_targets(keypoints, torch.ones(b, k), (h, w), stride=stride, sigma=stride * 0.8)
    decoded = decode_heatmaps(_perfect_logits(targets), targets["offsets"], stride)
    assert decoded.shape == (b, k, 3)
    assert torch.allclose(decoded[..., :2], keypoints, atol=0.01)
    assert torch.all(decoded[..., 2] > 0.5)


@pytest.mark.parametrize("kind", ["bce", "mse"])
def test_perfect_prediction_has_near_zero_loss_and_errors_cost(kind: str) -> None:
    keypoints = torch.tensor([[[10.0, 12.0], [40.0, 30.0]]])
    targets = make_targets(keypoints, torch.ones(1, 2), (8, 8), stride=8)
    perfect = (_perfect_logits(targets), targets["offsets"].clone())
    loss, parts = pose_loss(perfect, targets, heatmap_loss=kind)
    assert float(loss) < 1e-3 and float(parts["locref"]) == 0.0
    wrong, _ = pose_loss((torch.zeros_like(perfect[0]), torch.zeros_like(perfect[1])), targets, heatmap_loss=kind)
    assert float(wrong) > 0.5
    with pytest.raises(ValueError, match="heatmap_loss"):
        pose_loss(perfect, targets, heatmap_loss="l1")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["bce", "mse"])
def test_masked_keypoints_contribute_zero_loss_and_zero_gradient(kind: str) -> None:
    keypoints = torch.tensor([[[10.0, 12.0], [40.0, 30.0], [float("nan"), float("nan")]]])
    weights = torch.tensor([[1.0, 0.0, 1.0]])  # second: occluded/unlabelled; third: NaN (unlabelled)
    targets = make_targets(keypoints, weights, (8, 8), stride=8)
    assert torch.equal(targets["weights"], torch.tensor([[1.0, 0.0, 0.0]]))
    assert not torch.isnan(targets["heatmaps"]).any() and not torch.isnan(targets["offsets"]).any()
    logits = torch.randn(1, 3, 8, 8, requires_grad=True)
    offsets = torch.randn(1, 6, 8, 8, requires_grad=True)
    loss, _ = pose_loss((logits, offsets), targets, heatmap_loss=kind)
    loss.backward()
    assert torch.all(logits.grad[0, 1:] == 0) and torch.all(offsets.grad[0, 2:] == 0)
    assert logits.grad[0, 0].abs().sum() > 0 and offsets.grad[0, :2].abs().sum() > 0
    # changing the masked keypoints' outputs leaves the loss unchanged
    with torch.no_grad():
        changed, _ = pose_loss(
            (torch.cat([logits[:, :1], logits[:, 1:] + 5], 1), offsets * 3), targets, heatmap_loss=kind
        )
        unchanged_offsets = torch.cat([offsets[:, :2], offsets[:, 2:] * 3], 1)
        same, _ = pose_loss(
            (torch.cat([logits[:, :1], logits[:, 1:] + 5], 1), unchanged_offsets), targets, heatmap_loss=kind
        )
    assert torch.isclose(same, loss.detach())
    assert not torch.isclose(changed, loss.detach())


def test_all_masked_batch_gives_zero_loss() -> None:
    targets = make_targets(torch.rand(2, 3, 2) * 30, torch.zeros(2, 3), (4, 4), stride=8)
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss, _ = pose_loss((logits, torch.randn(2, 6, 4, 4)), targets)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.all(logits.grad == 0)


def _blob_images(n: int, gen: torch.Generator, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB images (n, size, size, 3) with a red and a blue blob at the two keypoints (n, 2, 2)."""
    keypoints = torch.rand(n, 2, 2, generator=gen) * (size - 16) + 8
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images = torch.zeros(n, size, size, 3)
    for k, channel in ((0, 0), (1, 2)):
        dist2 = (xx - keypoints[:, k, 0, None, None]) ** 2 + (yy - keypoints[:, k, 1, None, None]) ** 2
        images[..., channel] = 255 * torch.exp(-dist2 / 8)
    return images, keypoints


@pytest.fixture
def one_thread() -> object:
    """Run torch on one thread (two threads beside other busy processes slow tiny batches badly)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_tiny_model_learns_to_find_keypoints() -> None:
    """End to end: targets + loss + PoseNet + InferenceModel learn two blobs to a few pixels."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    net = create_model("mobilenetv2", 2, pretrained=True, head_channels=32)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    for _ in range(100):
        images, keypoints = _blob_images(8, gen)
        outputs = net(net.normalize(images.permute(0, 3, 1, 2)))
        targets = make_targets(keypoints, torch.ones(8, 2), outputs[0].shape[-2:], net.stride, sigma=4.0)
        loss, _ = pose_loss(outputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    images, keypoints = _blob_images(32, gen)
    with torch.inference_mode():
        predicted = InferenceModel(net, color="rgb")(images)
    errors = (predicted[..., :2] - keypoints).norm(dim=-1)
    assert float(errors.median()) < 2.5  # chance level is ~20 px
    assert float(predicted[..., 2].median()) > 0.3


def test_several_animals_share_maps_each_cell_pointing_to_its_nearest_animal() -> None:
    a = torch.tensor([[[20.0, 20.0], [30.0, 20.0]]])  # (1, K=2, 2)
    b = torch.tensor([[[100.0, 60.0], [float("nan"), float("nan")]]])  # its second part unlabelled
    both = torch.stack([a, b], dim=1)  # (1, A=2, K=2, 2)
    ones = torch.ones(1, 2, 2)
    t = make_targets(both, ones, (12, 16), 8)
    ta, tb = make_targets(a, torch.ones(1, 2), (12, 16), 8), make_targets(b, torch.ones(1, 2), (12, 16), 8)
    assert torch.allclose(t["heatmaps"], torch.maximum(ta["heatmaps"], tb["heatmaps"]))
    assert t["weights"].tolist() == [[1.0, 1.0]]  # a part counts when any animal has it
    for one in (ta, tb):  # near each animal, the offsets are that animal's
        near = one["offset_mask"][0, 0] > 0
        assert torch.allclose(t["offsets"][0, :2][:, near], one["offsets"][0, :2][:, near])
    decoded = decode_heatmaps(torch.logit(t["heatmaps"].clamp(1e-6, 1 - 1e-6)), t["offsets"], 8, window=1)
    assert decoded[0, 1, :2].tolist() == pytest.approx([30.0, 20.0], abs=1e-3)  # only animal a has part 1


def test_part_affinity_loss_is_zero_for_the_target_and_positive_otherwise() -> None:
    heat, off = torch.zeros(2, 3, 8, 8), torch.zeros(2, 6, 8, 8)
    targets = make_targets(torch.full((2, 3, 2), 30.0), torch.ones(2, 3), (8, 8), 8)
    targets["pafs"] = torch.zeros(2, 4, 8, 8)
    targets["pafs"][:, 0, 2:5, 2:5] = 1.0
    base, _ = pose_loss((heat, off), targets)
    same, parts = pose_loss((heat, off, targets["pafs"].clone()), targets)
    assert same.item() == pytest.approx(base.item()) and parts["paf"].item() == 0.0
    wrong, parts = pose_loss((heat, off, torch.zeros(2, 4, 8, 8)), targets, paf_weight=2.0)
    assert parts["paf"].item() == pytest.approx(9 * 2 / 4) and wrong.item() == pytest.approx(base.item() + 9.0)
