"""Offline ImageNet weights: packaged files map onto timm by position and classify a cat as a cat."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from markerless.errors import ModelError
from markerless.nets import create_model, has_imagenet_weights, imagenet_classifier
from markerless.nets.registry import REGISTRY
from markerless.nets.weights import PackagedWeights, load_into_backbone, map_by_position, read_state_dict

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def _chelsea(mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    skimage_data = pytest.importorskip("skimage.data")
    image = torch.from_numpy(skimage_data.chelsea()).permute(2, 0, 1)[None].float() / 255
    image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    return (image - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@pytest.mark.parametrize("name", ["mobilenetv2", "efficientnet-lite0"])
def test_packaged_imagenet_weights_see_a_cat(name: str) -> None:
    assert has_imagenet_weights(name)
    classifier = imagenet_classifier(name)
    entry = REGISTRY[name]
    with torch.no_grad():
        probs = classifier(_chelsea(entry.mean, entry.std)).softmax(1)[0]
    assert int(probs.argmax()) in IMAGENET_CATS
    assert float(probs[list(IMAGENET_CATS)].sum()) > 0.9


@pytest.mark.parametrize("name", ["mobilenetv2", "efficientnet-lite0"])
def test_pose_backbone_receives_the_imagenet_weights(name: str) -> None:
    classifier_state = imagenet_classifier(name).state_dict()
    net = create_model(name, 3, pretrained=True)
    for key, tensor in net.backbone.state_dict().items():
        assert torch.equal(tensor, classifier_state[key]), key
    random_net = create_model(name, 3, pretrained=False)
    first = next(iter(net.backbone.state_dict()))
    assert not torch.equal(random_net.backbone.state_dict()[first], net.backbone.state_dict()[first])


def test_missing_package_says_run_make_install() -> None:
    missing = PackagedWeights("no_such_weights_pkg_h3a", "no-such-weights", "w.pth")
    with pytest.raises(ModelError, match="make install"):
        missing.path()


def test_position_mapping_checks_count_and_shapes() -> None:
    target = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    assert map_by_position({"x": torch.ones(2, 3), "y": torch.ones(4)}, target, origin="f")["b"].shape == (4,)
    with pytest.raises(ModelError, match="shape"):
        map_by_position({"x": torch.ones(3, 2), "y": torch.ones(4)}, target, origin="f")
    with pytest.raises(ModelError, match="tensors"):
        map_by_position({"x": torch.ones(2, 3)}, target, origin="f")


def test_local_weight_file_loads_into_backbone(tmp_path: Path) -> None:
    donor = create_model("resnet18", 2, pretrained=False)
    path = tmp_path / "backbone.pth"
    torch.save({"state_dict": donor.backbone.state_dict()}, path)
    net = create_model("resnet18", 2, weights=path)
    for key, tensor in net.backbone.state_dict().items():
        assert torch.equal(tensor, donor.backbone.state_dict()[key])
    # renamed tensors (another naming scheme) still load by position
    renamed = {f"layer{i}": t for i, t in enumerate(donor.backbone.state_dict().values())}
    load_into_backbone(net.backbone, renamed, origin="renamed")


def test_bad_weight_files_raise_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match=r"junk\.pth"):
        create_model("resnet18", 2, weights=junk)
    wrong = tmp_path / "wrong.pth"
    torch.save(create_model("mobilenetv2", 2, pretrained=False).backbone.state_dict(), wrong)
    with pytest.raises(ModelError, match="architecture"):
        create_model("resnet18", 2, weights=wrong)
