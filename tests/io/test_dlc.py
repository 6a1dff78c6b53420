"""DeepLabCut files: config, CollectedData labels and prediction tables (round trips, foreign forms, errors)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from markerless.errors import ConfigError, LabelFileError
from markerless.io.dlc import (
    find_prediction_files,
    occlusion_path,
    read_config,
    read_labels,
    read_predictions,
    read_table,
    write_config,
    write_labels,
    write_predictions,
)
from markerless.model import Labels, PoseLayout, Poses, Skeleton
from tests.fixtures.data import shared_path

# names with spaces, punctuation, CSV-special characters and non-ASCII letters
NAME = st.text(alphabet="abcXYZ019 _-.,'\"éü()", min_size=1, max_size=8).filter(
    lambda s: s.strip() == s and s not in ("single", "scorer", "individuals", "bodyparts", "coords")
)
COORD = st.one_of(st.floats(-500, 5000, allow_nan=False, width=64), st.just(np.nan))


@st.composite
def layouts(draw: st.DrawFn) -> PoseLayout:
    """Single-animal or multi-animal layouts (with or without unique body parts)."""
    names = draw(st.lists(NAME, min_size=1, max_size=7, unique=True))
    n_parts = draw(st.integers(1, len(names)))
    parts, unique = names[:n_parts], names[n_parts:]
    skeleton = Skeleton.from_names(parts, symmetric_pairs=())
    if draw(st.booleans()):
        return PoseLayout(skeleton)
    individuals = draw(st.lists(NAME, min_size=1, max_size=3, unique=True))
    return PoseLayout(skeleton, tuple(individuals), tuple(unique), multi_animal=True)


@st.composite
def label_sets(draw: st.DrawFn) -> Labels:
    layout = draw(layouts())
    n = draw(st.integers(1, 4))
    images = [
        f"labeled-data/vid 1/img{i:03d}.png" for i in sorted(draw(st.sets(st.integers(0, 999), min_size=n, max_size=n)))
    ]
    shape = (n, *layout.shape, 2)
    xy = np.array(draw(st.lists(COORD, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))), dtype=np.float64)
    xy = xy.reshape(shape)
    xy[:, ~layout.valid] = np.nan
    occluded = np.array(
        draw(st.lists(st.booleans(), min_size=int(np.prod(shape[:-1])), max_size=int(np.prod(shape[:-1]))))
    )
    return Labels(layout, images, xy, occluded.reshape(shape[:-1]), scorer=draw(NAME))


def assert_same_labels(a: Labels, b: Labels) -> None:
    assert a.images == b.images
    assert a.layout.keypoint_names == b.layout.keypoint_names
    assert a.layout.individual_names == b.layout.individual_names
    assert a.layout.multi_animal == b.layout.multi_animal
    assert a.scorer == b.scorer
    np.testing.assert_array_equal(a.xy, b.xy)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels=label_sets())
def test_labels_round_trip_h5_and_csv(labels: Labels) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        h5 = write_labels(labels, Path(tmp) / "labeled-data" / "vid 1" / f"CollectedData_{labels.scorer}.h5")
        for path in (h5, h5.with_suffix(".csv")):
            back = read_labels(path)
            assert_same_labels(labels, back)
            np.testing.assert_array_equal(back.occluded, labels.occluded & labels.layout.valid)
        # with the project's layout given, the same
        assert_same_labels(labels, read_labels(h5, labels.layout))


def poses_for(layout: PoseLayout, n: int, seed: int) -> Poses:
    rng = np.random.default_rng(seed)
    data = rng.uniform(0, 1000, (n, *layout.shape, 3)).astype(np.float32)
    data[..., 2] = rng.uniform(0, 1, (n, *layout.shape))
    data[rng.uniform(size=(n, *layout.shape)) < 0.2] = np.nan
    data[:, ~layout.valid] = np.nan
    return Poses(data, layout, scorer="DLC_Resnet50_testJan1shuffle1_snapshot_10", frames=np.arange(n) * 2 + 5)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=layouts(), n=st.integers(1, 30), seed=st.integers(0, 2**16))
def test_predictions_round_trip_h5_and_csv(layout: PoseLayout, n: int, seed: int) -> None:
    poses = poses_for(layout, n, seed)
    poses.fps, poses.source = 30.0, "videos/a.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        path = write_predictions(poses, Path(tmp) / f"vid{poses.scorer}.h5", save_as_csv=True)
        for file in (path, path.with_suffix(".csv")):
            back = read_predictions(file)
            np.testing.assert_array_equal(back.data, poses.data)
            np.testing.assert_array_equal(back.frames, poses.frames)
            assert back.layout.keypoint_names == layout.keypoint_names
            assert back.layout.individual_names == layout.individual_names
            assert back.scorer == poses.scorer
        assert read_predictions(path).fps == 30.0
        assert read_predictions(path).source == "videos/a.mp4"


def sa_labels() -> Labels:
    layout = PoseLayout.single_animal(["snout", "tail"])
    xy = np.array([[[[101.5, 200.25], [150.0, 220.0]]], [[[np.nan, np.nan], [160.0, 230.5]]]])
    return Labels(layout, ["labeled-data/video1/img017.png", "labeled-data/video1/img042.png"], xy, scorer="alice")


def test_written_labels_look_like_deeplabcuts(tmp_path: Path) -> None:
    h5 = write_labels(sa_labels(), tmp_path / "CollectedData_alice.h5")
    with pd.HDFStore(h5, mode="r") as store:
        assert store.keys() == ["/df_with_missing"]
    df = pd.read_hdf(h5)
    assert list(df.columns.names) == ["scorer", "bodyparts", "coords"]
    assert df.index.nlevels == 3
    assert df.index[0] == ("labeled-data", "video1", "img017.png")
    assert df.loc[("labeled-data", "video1", "img017.png"), ("alice", "snout", "x")] == 101.5
    csv_text = (tmp_path / "CollectedData_alice.csv").read_text().splitlines()
    assert csv_text[0] == "scorer,,,alice,alice,alice,alice"
    assert csv_text[3] == "labeled-data,video1,img017.png,101.5,200.25,150.0,220.0"
    assert csv_text[4] == "labeled-data,video1,img042.png,,,160.0,230.5"
    assert not occlusion_path(h5, "alice").exists()


def test_reads_reference_csv_forms(tmp_path: Path) -> None:
    """The SA/MA examples of DeepLabCut's docs and the legacy one-column index form."""
    sa = tmp_path / "sa.csv"
    sa.write_text(
        "scorer,,,alice,alice,alice,alice\nbodyparts,,,snout,snout,tail,tail\ncoords,,,x,y,x,y\n"
        "labeled-data,video1,img017.png,101.5,200.25,150.0,220.0\nlabeled-data,video1,img042.png,,,160.0,230.5\n"
    )
    assert_same_labels(sa_labels(), read_labels(sa))
    excel = tmp_path / "excel.csv"
    excel.write_bytes(b"\xef\xbb\xbf" + sa.read_bytes())  # byte-order mark, as spreadsheets save
    assert_same_labels(sa_labels(), read_labels(excel))
    legacy = tmp_path / "legacy.csv"
    legacy.write_text(
        "scorer,alice,alice,alice,alice\nbodyparts,snout,snout,tail,tail\ncoords,x,y,x,y\n"
        "labeled-data\\video1\\img017.png,101.5,200.25,150.0,220.0\nlabeled-data/video1/img042.png,,,160.0,230.5\n"
    )
    assert_same_labels(sa_labels(), read_labels(legacy))
    ma = tmp_path / "ma.csv"
    ma.write_text(
        "scorer,,,alice,alice,alice,alice,alice,alice\nindividuals,,,mouse1,mouse1,mouse2,mouse2,single,single\n"
        "bodyparts,,,nose,nose,nose,nose,corner1,corner1\ncoords,,,x,y,x,y,x,y\n"
        "labeled-data,video1,img017.png,10.0,20.0,30.0,40.0,5.0,5.0\n"
    )
    labels = read_labels(ma)
    assert labels.layout.individual_names == ("mouse1", "mouse2", "single")
    assert labels.layout.keypoint_names == ("nose", "corner1")
    np.testing.assert_array_equal(labels.xy[0, :, 0], [[10, 20], [30, 40], [np.nan, np.nan]])
    np.testing.assert_array_equal(labels.xy[0, 2, 1], [5, 5])


def test_first_row_all_empty_is_data_not_index_names(tmp_path: Path) -> None:
    labels = sa_labels()
    labels.xy[0] = np.nan
    h5 = write_labels(labels, tmp_path / "CollectedData_alice.h5")
    back = read_labels(h5.with_suffix(".csv"))
    assert back.images == labels.images
    np.testing.assert_array_equal(back.xy, labels.xy)


@pytest.mark.parametrize("key", ["keypoints", "df_with_missing", "anything"])
@pytest.mark.parametrize("row_form", ["tuple", "slash", "backslash"])
def test_any_single_key_and_both_row_index_forms(tmp_path: Path, key: str, row_form: str) -> None:
    labels = sa_labels()
    df = labels.to_dataframe()
    if row_form != "tuple":
        sep = "/" if row_form == "slash" else "\\"
        df.index = pd.Index([sep.join(r) for r in df.index], dtype=object)
    path = tmp_path / "labeled-data" / "video1" / "CollectedData_alice.h5"
    path.parent.mkdir(parents=True)
    df.to_hdf(path, key=key, mode="w")
    assert_same_labels(labels, read_labels(path))


def test_bare_image_names_get_their_folder(tmp_path: Path) -> None:
    df = sa_labels().to_dataframe()
    df.index = pd.Index([r[-1] for r in df.index], dtype=object)
    path = tmp_path / "video1" / "CollectedData_alice.h5"
    path.parent.mkdir()
    df.to_hdf(path, key="df_with_missing", mode="w")
    assert read_labels(path).images == sa_labels().images


def test_likelihood_columns_in_labels_are_ignored(tmp_path: Path) -> None:
    poses = poses_for(PoseLayout.single_animal(["a", "b"]), 3, 0)
    df = poses.to_dataframe()
    df.index = pd.Index([f"labeled-data/v/img{i}.png" for i in range(3)], dtype=object)
    path = tmp_path / "CollectedData_x.h5"
    df.to_hdf(path, key="df_with_missing", mode="w")
    labels = read_labels(path)
    np.testing.assert_array_equal(labels.xy, poses.data[..., :2])


def test_layout_reorders_columns_to_config_order(tmp_path: Path) -> None:
    h5 = write_labels(sa_labels(), tmp_path / "CollectedData_alice.h5")
    layout = PoseLayout.single_animal(["tail", "snout", "paw"])
    labels = read_labels(h5, layout)
    assert labels.layout == layout
    np.testing.assert_array_equal(labels.xy[:, 0, 0], sa_labels().xy[:, 0, 1])
    assert np.isnan(labels.xy[:, 0, 2]).all()


def test_occlusion_flags_round_trip_and_cleared(tmp_path: Path) -> None:
    labels = sa_labels()
    labels.occluded[0, 0, 1] = True
    h5 = write_labels(labels, tmp_path / "CollectedData_alice.h5")
    occ = occlusion_path(h5, "alice")
    assert occ.name == "occluded_alice.json"
    assert '"labeled-data/video1/img017.png"' in occ.read_text()
    np.testing.assert_array_equal(read_labels(h5).occluded, labels.occluded)
    labels.occluded[:] = False
    write_labels(labels, h5)
    assert not read_labels(h5).occluded.any()


def test_bad_occlusion_file_is_named(tmp_path: Path) -> None:
    h5 = write_labels(sa_labels(), tmp_path / "CollectedData_alice.h5")
    occlusion_path(h5, "alice").write_text("[1, 2")
    with pytest.raises(LabelFileError, match=r"occluded_alice\.json"):
        read_labels(h5)


def test_bad_files_raise_label_file_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.h5"
    with pytest.raises(LabelFileError, match=r"nope\.h5"):
        read_labels(missing)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(LabelFileError, match=r"text\.h5"):
        read_labels(text)
    flat = tmp_path / "flat.h5"
    pd.DataFrame({"a": [1.0]}).to_hdf(flat, key="df", mode="w")
    with pytest.raises(LabelFileError, match=r"flat\.h5"):
        read_labels(flat)
    series = tmp_path / "series.h5"
    pd.Series([1.0]).to_hdf(series, key="s", mode="w")
    with pytest.raises(LabelFileError, match=r"series\.h5"):
        read_labels(series)
    two = tmp_path / "two.h5"
    df = sa_labels().to_dataframe()
    df.to_hdf(two, key="one", mode="w")
    df.to_hdf(two, key="other", mode="a")
    with pytest.raises(LabelFileError, match="several tables"):
        read_labels(two)
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(LabelFileError, match=r"garbage\.csv"):
        read_labels(garbage)
    not_number = tmp_path / "nan.csv"
    not_number.write_text("scorer,a,a\nbodyparts,p,p\ncoords,x,y\nimg.png,1.0,oops\n")
    with pytest.raises(LabelFileError, match=r"nan\.csv"):
        read_labels(not_number)
    other = tmp_path / "labels.txt"
    other.write_text("x")
    with pytest.raises(LabelFileError, match=r"labels\.txt"):
        read_labels(other)
    wrong_parts = write_labels(sa_labels(), tmp_path / "CollectedData_alice.h5")
    with pytest.raises(LabelFileError, match=r"CollectedData_alice\.h5"):
        read_labels(wrong_parts, PoseLayout.single_animal(["ear"]))


def test_labels_file_is_not_predictions(tmp_path: Path) -> None:
    h5 = write_labels(sa_labels(), tmp_path / "CollectedData_alice.h5")
    with pytest.raises(LabelFileError, match="likelihood"):
        read_predictions(h5)


def test_prediction_files_look_like_deeplabcuts(tmp_path: Path) -> None:
    layout = PoseLayout(Skeleton.from_names(["nose", "tail"]), ("m1", "m2"), ("corner",), multi_animal=True)
    poses = poses_for(layout, 4, 1)
    path = write_predictions(poses, tmp_path / "videoDLC_x.h5")
    with pd.HDFStore(path, mode="r") as store:
        assert store.keys() == ["/df_with_missing"]
        assert store.get_storer("df_with_missing").is_table
    df = pd.read_hdf(path)
    assert list(df.columns.names) == ["scorer", "individuals", "bodyparts", "coords"]
    assert list(df.index) == [5, 7, 9, 11]
    assert ("DLC_Resnet50_testJan1shuffle1_snapshot_10", "single", "corner", "likelihood") in df.columns
    assert ("DLC_Resnet50_testJan1shuffle1_snapshot_10", "m1", "corner", "x") not in df.columns
    tracks = write_predictions(poses, tmp_path / "videoDLC_x_el.h5")
    with pd.HDFStore(tracks, mode="r") as store:
        assert store.keys() == ["/tracks"]
    np.testing.assert_array_equal(read_predictions(tracks).data, poses.data)
    only_csv = write_predictions(poses, tmp_path / "videoDLC_x.csv")
    np.testing.assert_array_equal(read_predictions(only_csv).data, poses.data)


def test_minus_one_slots_become_nan(tmp_path: Path) -> None:
    layout = PoseLayout(Skeleton.from_names(["nose"]), ("m1", "m2"), multi_animal=True)
    poses = poses_for(layout, 2, 0)
    poses.data[0, 1] = -1
    path = write_predictions(poses, tmp_path / "vDLC.h5")
    back = read_predictions(path)
    assert np.isnan(back.data[0, 1]).all()
    np.testing.assert_array_equal(back.data[1], poses.data[1])


def test_find_prediction_files(tmp_path: Path) -> None:
    names = [
        "vidDLC_Resnet50_aJan1shuffle1_snapshot_10.h5",
        "vidDLC_Resnet50_aJan1shuffle1_snapshot_20.h5",
        "vidDLC_Resnet50_aJan1shuffle1_snapshot_20_filtered.h5",
        "vidDLC_Resnet50_aJan1shuffle1_snapshot_20_el.h5",
        "vidDLC_Resnet50_aJan1shuffle1_snapshot_20_el_filtered.h5",
        "vidDeepCut_resnet50_old.h5",
        "vid2DLC_Resnet50_aJan1shuffle1_snapshot_10.h5",
        "vidDLC_Resnet50_aJan1shuffle1_snapshot_10.csv",
    ]
    for i, name in enumerate(names):
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (time.time() - 100 + i, time.time() - 100 + i))
    found = [p.name for p in find_prediction_files(tmp_path, "vid")]
    assert found == [names[5], names[1], names[0]]
    assert [p.name for p in find_prediction_files(tmp_path, "vid", "_filtered")] == [names[2]]
    assert [p.name for p in find_prediction_files(tmp_path, "vid", "_el")] == [names[3]]
    assert [p.name for p in find_prediction_files(tmp_path, "vid", "_el_filtered")] == [names[4]]
    assert find_prediction_files(tmp_path / "missing", "vid") == []


def test_config_round_trip_keeps_key_order(tmp_path: Path) -> None:
    cfg = {
        "Task": "t",
        "scorer": "s",
        "date": "Jan1",
        "video_sets": {"videos/a b.mp4": {"crop": "0, 640, 0, 480"}},
        "bodyparts": ["z", "a"],
        "skeleton": [["z", "a"]],
        "pcutoff": 0.6,
        "project_path": tmp_path,
    }
    path = tmp_path / "config.yaml"
    write_config(cfg, path)
    back = read_config(path)
    assert list(back) == list(cfg)
    assert back["project_path"] == str(tmp_path)
    assert back["video_sets"] == cfg["video_sets"]


def test_bad_configs_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_config(tmp_path / "config.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("Task: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        read_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(ConfigError, match=r"scalar\.yaml"):
        read_config(scalar)


def test_openfield_labels_round_trip(tmp_path: Path) -> None:
    folder = shared_path("openfield-Pranav-2018-10-30", "labeled-data", "m4s1")
    original = read_labels(folder / "CollectedData_Pranav.h5")
    assert len(original) == 116 and original.layout.keypoint_names == ("snout", "leftear", "rightear", "tailbase")
    assert_same_labels(original, read_labels(folder / "CollectedData_Pranav.csv"))
    ours = write_labels(original, tmp_path / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5")
    again = read_labels(ours)
    assert_same_labels(original, again)
    theirs_df, ours_df = pd.read_hdf(folder / "CollectedData_Pranav.h5"), pd.read_hdf(ours)
    assert ours_df.columns.equals(theirs_df.columns)
    assert list(ours_df.columns.names) == list(theirs_df.columns.names)
    assert ["/".join(r) for r in ours_df.index] == list(theirs_df.index)
    np.testing.assert_array_equal(ours_df.to_numpy(), theirs_df.to_numpy())
    assert read_table(ours.with_suffix(".csv")).shape == theirs_df.shape


def test_large_metadata_is_kept_and_invisible_to_pandas(tmp_path: Path) -> None:
    poses = poses_for(PoseLayout.single_animal(["a"]), 3, 0)
    poses.metadata = {"occluded": [[i, 0, 0] for i in range(50_000)], "model": np.arange(3)}
    path = write_predictions(poses, tmp_path / "vDLC_x.h5")
    with pd.HDFStore(path, mode="r") as store:
        assert store.keys() == ["/df_with_missing"]
    assert pd.read_hdf(path).shape == (3, 3)
    back = read_predictions(path)
    assert len(back.metadata["occluded"]) == 50_000 and back.metadata["model"] == [0, 1, 2]


def test_body_parts_missing_from_the_layout_are_reported(tmp_path: Path) -> None:
    h5 = write_labels(sa_labels(), tmp_path / "CollectedData_alice.h5")
    with pytest.warns(UserWarning, match=r"\['tail'\]"):
        labels = read_labels(h5, PoseLayout.single_animal(["snout"]))
    np.testing.assert_array_equal(labels.xy[:, 0, 0], sa_labels().xy[:, 0, 0])


def test_project_configs_get_deeplabcuts_section_comments(tmp_path: Path) -> None:
    cfg = {
        "config_version": 0,
        "Task": "t",
        "scorer": "s",
        "date": "Jan1",
        "project_path": "/p",
        "skeleton": [],
        "TrainingFraction": [0.95],
    }
    write_config(cfg, tmp_path / "config.yaml")
    text = (tmp_path / "config.yaml").read_text()
    assert "# Project definitions (do not edit)\nTask: t" in text
    assert "# Plotting configuration\nskeleton: []" in text
    assert read_config(tmp_path / "config.yaml") == cfg
    write_config({"a": 1}, tmp_path / "other.yaml")
    assert (tmp_path / "other.yaml").read_text() == "a: 1\n"
