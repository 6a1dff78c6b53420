"""Skeleton and PoseLayout: names, edges, left/right pairs, the individuals x keypoints grid."""

from __future__ import annotations

import numpy as np
import pytest

from markerless.errors import ConfigError
from markerless.model import SINGLE_ANIMAL_INDIVIDUAL, UNIQUE_INDIVIDUAL, PoseLayout, Skeleton
from markerless.model.skeleton import guess_symmetric_pairs


@pytest.mark.parametrize(
    ("names", "pairs"),
    [
        (["snout", "leftear", "rightear", "tailbase"], {("leftear", "rightear")}),
        (["paw_L", "paw_R", "nose"], {("paw_L", "paw_R")}),
        (["LeftEye", "RightEye"], {("LeftEye", "RightEye")}),
        (["l_hand", "r_hand", "lower", "ring"], {("l_hand", "r_hand")}),
        (
            ["wingL", "wingR", "forelegL4", "forelegR4", "eyeL", "eyeR"],
            {("wingL", "wingR"), ("forelegL4", "forelegR4"), ("eyeL", "eyeR")},
        ),
        (["headLamp", "headRamp", "tailL"], set()),  # a capital inside a word is not a side; no partner
        (["left_ear", "nose"], set()),  # no partner
        (["lower_lip", "rower_lip"], set()),  # letters inside words are not sides
    ],
)
def test_guess_symmetric_pairs(names: list[str], pairs: set[tuple[str, str]]) -> None:
    assert set(guess_symmetric_pairs(names)) == pairs


def test_skeleton_edges_and_flip() -> None:
    skel = Skeleton.from_names(["nose", "leftear", "rightear", "tail"], [("nose", "tail"), ["leftear", "nose"]])
    assert skel.symmetric_pairs == (("leftear", "rightear"),)
    np.testing.assert_array_equal(skel.edge_indices, [[0, 3], [1, 0]])
    np.testing.assert_array_equal(skel.flip_permutation, [0, 2, 1, 3])
    assert len(skel) == 4 and skel.index("tail") == 3
    assert Skeleton.from_names(["a"]).edge_indices.shape == (0, 2)
    assert Skeleton.from_names(["leftear", "rightear"], symmetric_pairs=()).symmetric_pairs == ()


def test_skeleton_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="unique"):
        Skeleton(("a", "a"))
    with pytest.raises(ConfigError, match="skeleton edge"):
        Skeleton(("a", "b"), edges=(("a", "c"),))
    with pytest.raises(ConfigError, match="symmetric pair"):
        Skeleton(("a", "b"), symmetric_pairs=(("a",),))
    with pytest.raises(ConfigError, match="Unknown body part 'z'"):
        Skeleton(("a",)).index("z")


def test_single_animal_layout() -> None:
    layout = PoseLayout.single_animal(["a", "b"])
    assert layout.individual_names == (SINGLE_ANIMAL_INDIVIDUAL,)
    assert layout.shape == (1, 2) and layout.valid.all()
    assert layout.columns() == [(SINGLE_ANIMAL_INDIVIDUAL, "a"), (SINGLE_ANIMAL_INDIVIDUAL, "b")]


def test_multi_animal_layout_grid() -> None:
    layout = PoseLayout(Skeleton.from_names(["nose", "tail"]), ("m1", "m2"), ("corner",), multi_animal=True)
    assert layout.individual_names == ("m1", "m2", UNIQUE_INDIVIDUAL)
    assert layout.keypoint_names == ("nose", "tail", "corner")
    assert layout.bodyparts == ("nose", "tail")
    np.testing.assert_array_equal(layout.valid, [[1, 1, 0], [1, 1, 0], [0, 0, 1]])
    assert layout.columns() == [("m1", "nose"), ("m1", "tail"), ("m2", "nose"), ("m2", "tail"), ("single", "corner")]
    assert layout.keypoint_index("corner") == 2 and layout.individual_index("single") == 2
    without_unique = PoseLayout(Skeleton.from_names(["nose"]), ("m1", "m2"), multi_animal=True)
    assert without_unique.individual_names == ("m1", "m2") and without_unique.valid.all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"individuals": ()}, "at least one individual"),
        ({"individuals": ("a", "a"), "multi_animal": True}, "unique"),
        ({"individuals": ("single",), "multi_animal": True}, "single"),
        ({"unique_bodyparts": ("nose",), "multi_animal": True}, "Unique body parts"),
        ({"individuals": ("a", "b")}, "multi_animal=True"),
        ({"unique_bodyparts": ("corner",)}, "multi_animal=True"),
    ],
)
def test_layout_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PoseLayout(Skeleton.from_names(["nose"]), **kwargs)


def test_unknown_names() -> None:
    layout = PoseLayout.single_animal(["a"])
    with pytest.raises(ConfigError, match="Unknown body part"):
        layout.keypoint_index("b")
    with pytest.raises(ConfigError, match="Unknown individual"):
        layout.individual_index("b")


def test_layout_flip_permutation_pairs_unique_parts_only_among_themselves() -> None:
    skeleton = Skeleton.from_names(["leftear", "rightear", "nose"])
    layout = PoseLayout(skeleton, ("m1", "m2"), ("port_left", "port_right", "corner"), multi_animal=True)
    np.testing.assert_array_equal(layout.flip_permutation, [1, 0, 2, 4, 3, 5])
    assert PoseLayout(skeleton, ("m1",), ("corner",), multi_animal=True).flip_permutation.tolist() == [1, 0, 2, 3]
    assert PoseLayout.single_animal(["leftear", "rightear"]).flip_permutation.tolist() == [1, 0]
