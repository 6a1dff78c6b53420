"""API tests of the labelling server: token checks, confinement to the project, versioned saves, refine."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from markerless.app.server import TOKEN_HEADER, create_app, serve_url

TOKEN = "s3cret-token"
AUTH = {TOKEN_HEADER: TOKEN}


@pytest.fixture
def client(tiny_project: Path) -> TestClient:
    return TestClient(create_app(tiny_project, TOKEN))


def _frame(client: TestClient, name: str = "img07.png") -> dict:
    res = client.get(f"/api/videos/mouse1/frames/{name}", headers=AUTH)
    assert res.status_code == 200, res.text
    return res.json()


def _put(client: TestClient, frame: dict, name: str = "img07.png"):
    body = {"version": frame["version"], "points": frame["points"], "occluded": frame["occluded"]}
    return client.put(f"/api/videos/mouse1/frames/{name}", json=body, headers=AUTH)


@pytest.mark.parametrize(
    "path", ["/", "/api/project", "/api/videos/mouse1/frames", "/api/image/mouse1/img00.png", "/static/app.js"]
)
def test_every_route_needs_the_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={TOKEN_HEADER: "wrong"}).status_code == 403
    assert client.get(path, params={"token": "wrong"}).status_code == 403
    assert client.get(path, headers=AUTH).status_code == 200


def test_writes_need_the_token(client: TestClient, tiny_project: Path) -> None:
    frame = _frame(client)
    frame["points"][0][0] = [1.0, 2.0]
    body = {"version": frame["version"], "points": frame["points"], "occluded": frame["occluded"]}
    assert client.put("/api/videos/mouse1/frames/img07.png", json=body).status_code == 401
    assert client.put("/api/videos/mouse1/frames/img07.png", json=body, headers={TOKEN_HEADER: "x"}).status_code == 403
    assert not (tiny_project.parent / "labeled-data" / "mouse1" / "CollectedData_tester.h5").exists()


def test_page_sets_a_cookie_that_authorises_later_requests(tiny_project: Path) -> None:
    client = TestClient(create_app(tiny_project, TOKEN))
    page = client.get("/", params={"token": TOKEN})
    assert page.status_code == 200 and "<canvas" in page.text
    assert "httponly" in page.headers["set-cookie"].lower()
    assert client.get("/api/project").status_code == 200  # cookie sent by the client now


def test_project_summary(client: TestClient) -> None:
    info = client.get("/api/project", headers=AUTH).json()
    assert info["keypoints"] == ["snout", "leftear", "rightear", "tailbase"]
    assert info["edges"] == [[0, 1], [0, 2], [1, 3]]
    assert info["videos"] == [
        {"name": "mouse1", "n_frames": 3, "n_labelled": 0, "n_started": 0, "n_suggested": 0, "notices": []}
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/api/image/mouse1/..%2F..%2Fconfig.yaml",
        "/api/image/mouse1/%2e%2e",
        "/api/image/%2e%2e/config.yaml",
        "/api/image/mouse1/%2Fetc%2Fpasswd",
        "/api/videos/..%2F..%2F/frames",
        "/api/image/mouse1/config.yaml",
        "/api/image/nosuchvideo/img00.png",
        "/api/image/mouse1/img99.png",
    ],
)
def test_paths_outside_the_project_are_refused(client: TestClient, path: str) -> None:
    res = client.get(path, headers=AUTH)
    assert res.status_code in (400, 404), (path, res.status_code)
    assert b"Task" not in res.content and b"root:" not in res.content


def test_symlink_leaving_the_project_is_refused(client: TestClient, tiny_project: Path, tmp_path: Path) -> None:
    secret = tmp_path / "outside.png"
    secret.write_bytes(b"not yours")
    os.symlink(secret, tiny_project.parent / "labeled-data" / "mouse1" / "leak.png")
    res = client.get("/api/image/mouse1/leak.png", headers=AUTH)
    assert res.status_code == 400
    assert b"not yours" not in res.content


def test_image_is_served(client: TestClient, tiny_project: Path) -> None:
    res = client.get("/api/image/mouse1/img00.png", headers=AUTH)
    assert res.status_code == 200
    assert res.content == (tiny_project.parent / "labeled-data" / "mouse1" / "img00.png").read_bytes()


def test_save_writes_dlc_files_readable_by_pandas(client: TestClient, tiny_project: Path) -> None:
    frame = _frame(client)
    frame["points"][0][0] = [10.25, 12.5]
    frame["points"][0][3] = [30.0, 40.0]
    frame["occluded"][0][3] = True
    res = _put(client, frame)
    assert res.status_code == 200
    assert res.json()["version"] == frame["version"] + 1
    folder = tiny_project.parent / "labeled-data" / "mouse1"
    df = pd.read_hdf(folder / "CollectedData_tester.h5")
    assert df.columns.names == ["scorer", "bodyparts", "coords"]
    assert df.loc[("labeled-data", "mouse1", "img07.png"), ("tester", "snout", "x")] == 10.25
    assert df.loc[("labeled-data", "mouse1", "img07.png"), ("tester", "tailbase", "y")] == 40.0
    assert np.isnan(df.loc[("labeled-data", "mouse1", "img07.png"), ("tester", "leftear", "x")])
    assert (folder / "CollectedData_tester.csv").exists()
    assert "tailbase" in (folder / "occluded_tester.json").read_text()
    # a fresh server (after closing the browser) sees the same labels
    again = _frame(TestClient(create_app(tiny_project, TOKEN)))
    assert again["points"][0][0] == [10.25, 12.5] and again["occluded"][0][3] is True
    summary = client.get("/api/project", headers=AUTH).json()["videos"][0]
    assert summary["n_started"] == 1 and summary["n_labelled"] == 0  # two of four points: not complete


def test_stale_version_gets_409_and_keeps_the_first_write(client: TestClient, tiny_project: Path) -> None:
    tab_a, tab_b = _frame(client), _frame(client)
    tab_a["points"][0][0] = [1.0, 1.0]
    tab_b["points"][0][1] = [2.0, 2.0]
    assert _put(client, tab_a).status_code == 200
    res = _put(client, tab_b)
    assert res.status_code == 409
    assert "changed elsewhere" in res.json()["detail"]
    now = _frame(client)
    assert now["points"][0][0] == [1.0, 1.0] and now["points"][0][1] is None


def test_file_changed_on_disk_invalidates_versions(client: TestClient, tiny_project: Path) -> None:
    frame = _frame(client)
    frame["points"][0][0] = [1.0, 1.0]
    assert _put(client, frame).status_code == 200
    stale = _frame(client)
    from markerless.project.project import Project

    project = Project.load(tiny_project)
    labels = project.load_labels("mouse1")
    labels.xy[0, 0, 0] = [5.0, 5.0]
    h5 = project.label_file("mouse1")
    before = h5.stat().st_mtime_ns
    project.save_labels(labels, "mouse1")
    os.utime(h5, ns=(before + 10**9, before + 10**9))
    assert _put(client, stale).status_code == 409
    assert _frame(client)["points"][0][0] == [5.0, 5.0]


def test_bad_payloads_are_rejected(client: TestClient) -> None:
    frame = _frame(client)
    body = {"version": frame["version"], "points": [[None]], "occluded": frame["occluded"]}
    assert client.put("/api/videos/mouse1/frames/img07.png", json=body, headers=AUTH).status_code == 400
    body = {"version": frame["version"], "points": frame["points"], "occluded": [[True]]}
    assert client.put("/api/videos/mouse1/frames/img07.png", json=body, headers=AUTH).status_code == 400
    assert _put(client, frame, name="img99.png").status_code == 404


def _write_suggestions(config: Path) -> np.ndarray:
    from markerless.labelling.machine_labels import write_machine_labels
    from markerless.project.project import Project

    project = Project.load(config)
    data = np.array([[[[5.0, 6.0, 0.9], [7.0, 8.0, 0.4], [np.nan, np.nan, 0.0], [20.0, 21.0, 0.8]]]])
    write_machine_labels(
        project.labeled_data_dir("mouse1"),
        0,
        ["labeled-data/mouse1/img14.png"],
        data,
        project.layout,
        "DLC_resnet50_tinyOct1shuffle1_100",
    )
    return data


def test_refine_accept_one_then_all(tiny_project: Path) -> None:
    _write_suggestions(tiny_project)
    client = TestClient(create_app(tiny_project, TOKEN))
    frames = client.get("/api/videos/mouse1/frames", headers=AUTH).json()
    assert [f["suggested"] for f in frames] == [False, False, True]
    frame = _frame(client, "img14.png")
    assert frame["suggestions"][0][1] == [7.0, 8.0, 0.4] and frame["suggestions"][0][2] is None
    url = "/api/videos/mouse1/frames/img14.png/accept"
    res = client.post(url, json={"version": frame["version"], "cells": [[0, 1]]}, headers=AUTH)
    assert res.status_code == 200
    assert res.json()["points"][0] == [None, [7.0, 8.0], None, None]
    # a corrected point (dragged suggestion) is a normal save; accepting all keeps it
    frame = res.json()
    frame["points"][0][0] = [4.0, 4.5]
    frame = _put(client, frame, "img14.png").json()
    stale = frame["version"] - 1
    assert client.post(url, json={"version": stale}, headers=AUTH).status_code == 409
    res = client.post(url, json={"version": frame["version"]}, headers=AUTH)
    assert res.json()["points"][0] == [[4.0, 4.5], [7.0, 8.0], None, [20.0, 21.0]]
    df = pd.read_hdf(tiny_project.parent / "labeled-data" / "mouse1" / "CollectedData_tester.h5")
    assert df.loc[("labeled-data", "mouse1", "img14.png"), ("tester", "tailbase", "x")] == 20.0
    frames = client.get("/api/videos/mouse1/frames", headers=AUTH).json()
    assert not frames[2]["suggested"]  # only the suggestion without a position is left: nothing to refine
    assert "likelihood" not in df.columns.get_level_values("coords")


def test_accept_without_suggestions_is_404(client: TestClient) -> None:
    frame = _frame(client)
    res = client.post("/api/videos/mouse1/frames/img07.png/accept", json={"version": frame["version"]}, headers=AUTH)
    assert res.status_code == 404


def test_multi_animal_layout_and_save(tiny_ma_project: Path) -> None:
    client = TestClient(create_app(tiny_ma_project, TOKEN))
    info = client.get("/api/project", headers=AUTH).json()
    assert info["individuals"] == ["mouse1", "mouse2", "single"]
    assert info["valid"][2] == [False, False, False, False, True]
    frame = _frame(client)
    frame["points"][1][2] = [11.0, 12.0]
    frame["points"][2][4] = [1.0, 2.0]
    frame["points"][0][4] = [9.0, 9.0]  # impossible cell: dropped
    saved = _put(client, frame).json()
    assert saved["points"][0][4] is None
    df = pd.read_hdf(tiny_ma_project.parent / "labeled-data" / "mouse1" / "CollectedData_tester.h5")
    assert df.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert df.loc[("labeled-data", "mouse1", "img07.png"), ("tester", "mouse2", "rightear", "x")] == 11.0
    assert df.loc[("labeled-data", "mouse1", "img07.png"), ("tester", "single", "corner", "y")] == 2.0


def test_openfield_project_frames(openfield_project: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "openfield"
    shutil.copytree(openfield_project, root, ignore=shutil.ignore_patterns("*.mp4", "*.avi"))
    client = TestClient(create_app(root / "config.yaml", TOKEN))
    info = client.get("/api/project", headers=AUTH).json()
    video = info["videos"][0]
    assert video["name"] == "m4s1" and video["n_labelled"] == video["n_frames"] > 0
    frame = client.get("/api/videos/m4s1/frames/img0000.png", headers=AUTH).json()
    assert all(p is not None for p in frame["points"][0])
    frame["points"][0][0] = [100.0, 200.0]
    body = {"version": frame["version"], "points": frame["points"], "occluded": frame["occluded"]}
    assert client.put("/api/videos/m4s1/frames/img0000.png", json=body, headers=AUTH).status_code == 200
    df = pd.read_hdf(root / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5")
    assert len(df) == video["n_frames"]
    row = df.xs("img0000.png", level=2, drop_level=False).iloc[0] if df.index.nlevels == 3 else df.iloc[0]
    assert row[("Pranav", "snout", "x")] == 100.0


def test_serve_url_names_token_and_port() -> None:
    assert serve_url("127.0.0.1", 8765, "abc") == "http://127.0.0.1:8765/?token=abc"
    import socket

    assert serve_url("0.0.0.0", 80, "t") == f"http://{socket.gethostname()}:80/?token=t"
    assert serve_url("::1", 80, "t") == "http://[::1]:80/?token=t"


def test_new_outlier_frames_appear_while_serving_without_disturbing_others(
    client: TestClient, tiny_project: Path
) -> None:
    frame = _frame(client)
    frame["points"][0][0] = [1.0, 1.0]
    frame = _put(client, frame).json()
    _write_suggestions(tiny_project)
    frames = {f["name"]: f for f in client.get("/api/videos/mouse1/frames", headers=AUTH).json()}
    assert frames["img14.png"]["suggested"] and frames["img07.png"]["version"] == frame["version"]
    frame["points"][0][1] = [2.0, 2.0]
    assert _put(client, frame).status_code == 200  # the unchanged frame's version still holds


def test_rows_of_deleted_images_are_kept_but_not_listed(client: TestClient, tiny_project: Path) -> None:
    first = _frame(client, "img00.png")
    first["points"][0][0] = [1.0, 1.0]
    assert _put(client, first, "img00.png").status_code == 200
    folder = tiny_project.parent / "labeled-data" / "mouse1"
    (folder / "img00.png").unlink()
    assert [f["name"] for f in client.get("/api/videos/mouse1/frames", headers=AUTH).json()] == [
        "img07.png",
        "img14.png",
    ]
    frame = _frame(client)
    frame["points"][0][0] = [2.0, 2.0]
    assert _put(client, frame).status_code == 200
    df = pd.read_hdf(folder / "CollectedData_tester.h5")
    assert [row[-1] for row in df.index] == ["img00.png", "img07.png"]


# --- issue 15: never lose a label, open every project --------------------------------------------
def _label_all(config: Path, video: str = "mouse1") -> pd.DataFrame:
    """Label every frame of the tiny project fully (snout, ears, tail base) and return the file's table."""
    from markerless.project.project import Project

    project = Project.load(config)
    folder = project.labeled_data_dir(video)
    images = sorted(p.name for p in folder.glob("*.png"))
    n = len(images)
    xy = np.arange(n * 4 * 2, dtype=float).reshape(n, 1, 4, 2) % 40 + 1.25
    from markerless.model import Labels

    project.save_labels(Labels(project.layout, [f"labeled-data/{video}/{i}" for i in images], xy), video)
    return pd.read_hdf(project.label_file(video))


def _unchanged_except(before: pd.DataFrame, after: pd.DataFrame, edited: set[tuple]) -> None:
    assert list(after.columns) == list(before.columns) and list(after.index) == list(before.index)
    for col in before.columns:
        for row in before.index:
            if (row, col) in edited:
                continue
            a, b = before.loc[row, col], after.loc[row, col]
            assert (np.isnan(a) and np.isnan(b)) or a == b, (row, col, a, b)


def test_body_part_missing_from_config_survives_a_save(tiny_project: Path) -> None:
    """Issue 15.1: a column the config does not name is kept, values and all."""
    from markerless.io.dlc import read_config, write_config

    before = _label_all(tiny_project)
    cfg = read_config(tiny_project)
    cfg["bodyparts"] = ["snout", "leftear", "rightear"]
    cfg["skeleton"] = [["snout", "leftear"]]
    write_config(cfg, tiny_project)
    client = TestClient(create_app(tiny_project, TOKEN))
    info = client.get("/api/project", headers=AUTH).json()
    assert "tailbase" in " ".join(info["videos"][0]["notices"])  # said in the browser, not only the terminal
    frame = _frame(client)
    assert len(frame["points"][0]) == 3
    frame["points"][0][0] = [3.5, 4.5]
    assert _put(client, frame).status_code == 200
    folder = tiny_project.parent / "labeled-data" / "mouse1"
    for after in (pd.read_hdf(folder / "CollectedData_tester.h5"), pd.read_csv(folder / "CollectedData_tester.csv")):
        if not isinstance(after.columns, pd.MultiIndex):  # the CSV through the project's own reader
            from markerless.io.dlc import read_table

            after = read_table(folder / "CollectedData_tester.csv")
            after.index = before.index
        row = ("labeled-data", "mouse1", "img07.png")
        edited = {(row, ("tester", "snout", "x")), (row, ("tester", "snout", "y"))}
        _unchanged_except(before, after, edited)
        assert after.loc[row, ("tester", "snout", "x")] == 3.5


@pytest.mark.parametrize(
    "point",
    ["[Infinity, 3]", "[3, NaN]", "[1e300, 2]", "[-88.7, 173.9]", "[-0.9, -21.4]", "[64, 10]", "[3, 48]"],
)
def test_non_finite_or_outside_points_are_refused(client: TestClient, tiny_project: Path, point: str) -> None:
    """Issue 15.4 and 15.6: the server's own checks (the image is 64 x 48)."""
    frame = _frame(client)
    body = (
        f'{{"version": {frame["version"]}, "points": [[{point}, null, null, null]], '
        '"occluded": [[false, false, false, false]]}'
    )
    res = client.put(
        "/api/videos/mouse1/frames/img07.png", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert res.status_code in (400, 422), res.text
    assert not (tiny_project.parent / "labeled-data" / "mouse1" / "CollectedData_tester.h5").exists()


def test_points_on_the_image_edge_are_accepted(client: TestClient) -> None:
    frame = _frame(client)
    frame["points"][0][0] = [-0.5, -0.5]
    frame["points"][0][1] = [63.5, 47.5]
    assert _put(client, frame).status_code == 200


def test_occlusion_flag_without_a_point_is_refused(client: TestClient, tiny_project: Path) -> None:
    """Issue 15.6: ``O`` on a body part without a point must not store a flag."""
    frame = _frame(client)
    frame["occluded"][0][2] = True
    res = _put(client, frame)
    assert res.status_code == 400 and "place the point first" in res.json()["detail"]
    assert not (tiny_project.parent / "labeled-data" / "mouse1" / "occluded_tester.json").exists()


def _odd_names_project(tiny_project: Path) -> Path:
    """The tiny project with folders 'open field 1' and 'Maus_ü1' and an image 'img 005.png'."""
    labeled = tiny_project.parent / "labeled-data"
    for name in ("open field 1", "Maus_ü1"):
        (labeled / name).mkdir()
        for img in ("img 005.png", "imgé07.png"):
            (labeled / name / img).write_bytes((labeled / "mouse1" / "img07.png").read_bytes())
    return labeled


def test_folders_and_images_with_spaces_and_non_ascii_letters(client: TestClient, tiny_project: Path) -> None:
    """Issue 15.8: any name that really is in labeled-data works; one bad folder does not take down the others."""
    from urllib.parse import quote

    labeled = _odd_names_project(tiny_project)
    os.symlink(labeled / "no such folder", labeled / "broken link")
    info = client.get("/api/project", headers=AUTH).json()
    by_name = {v["name"]: v for v in info["videos"]}
    assert by_name["open field 1"]["n_frames"] == 2 and by_name["Maus_ü1"]["n_frames"] == 2
    assert by_name["mouse1"]["n_frames"] == 3 and "error" not in by_name["mouse1"]
    for video in ("open field 1", "Maus_ü1"):
        v = quote(video)
        names = [f["name"] for f in client.get(f"/api/videos/{v}/frames", headers=AUTH).json()]
        assert names == ["img 005.png", "imgé07.png"]
        assert client.get(f"/api/image/{v}/{quote('img 005.png')}", headers=AUTH).status_code == 200
        frame = client.get(f"/api/videos/{v}/frames/{quote('imgé07.png')}", headers=AUTH).json()
        frame["points"][0][1] = [5.0, 6.0]
        body = {"version": frame["version"], "points": frame["points"], "occluded": frame["occluded"]}
        assert client.put(f"/api/videos/{v}/frames/{quote('imgé07.png')}", json=body, headers=AUTH).status_code == 200
        df = pd.read_hdf(labeled / video / "CollectedData_tester.h5")
        assert df.loc[("labeled-data", video, "imgé07.png"), ("tester", "leftear", "y")] == 6.0
    assert client.get("/api/videos/..%2Fmouse1/frames", headers=AUTH).status_code in (400, 404)


def test_url_token_wins_over_an_old_cookie(tiny_project: Path) -> None:
    """Issue 15.9: after a restart (new token) the printed URL works although the browser still has the
    old cookie; two servers' cookies do not collide."""
    from markerless.app.server import token_cookie

    old = TestClient(create_app(tiny_project, "old-token"))
    assert old.get("/", params={"token": "old-token"}).status_code == 200
    new = TestClient(create_app(tiny_project, TOKEN))
    new.cookies.set("markerless_token", "old-token")
    new.cookies.set(token_cookie("old-token"), "old-token")
    page = new.get("/", params={"token": TOKEN})
    assert page.status_code == 200
    assert token_cookie(TOKEN) in page.headers["set-cookie"] and token_cookie(TOKEN) != token_cookie("old-token")
    assert new.get("/api/image/mouse1/img00.png").status_code == 200  # the new cookie authorises images


def test_symlinked_folder_on_another_disk_is_served(tiny_project: Path, tmp_path: Path) -> None:
    """Issue 15.10: a labeled-data folder that is a symlink works; image links leaving it are not listed."""
    import shutil

    elsewhere = tmp_path / "other disk" / "mouse2"
    shutil.copytree(tiny_project.parent / "labeled-data" / "mouse1", elsewhere)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    os.symlink(secret, elsewhere / "aaa_leak.png")
    os.symlink(elsewhere / "img00.png", elsewhere / "img99.png")  # a link inside the folder: fine
    os.symlink(elsewhere, tiny_project.parent / "labeled-data" / "mouse2")
    client = TestClient(create_app(tiny_project, TOKEN))
    names = [f["name"] for f in client.get("/api/videos/mouse2/frames", headers=AUTH).json()]
    assert names == ["img00.png", "img07.png", "img14.png", "img99.png"]
    assert client.get("/api/image/mouse2/aaa_leak.png", headers=AUTH).status_code in (400, 404)
    assert client.get("/api/image/mouse2/img99.png", headers=AUTH).status_code == 200
    frame = client.get("/api/videos/mouse2/frames/img07.png", headers=AUTH).json()
    frame["points"][0][0] = [1.0, 2.0]
    body = {"version": frame["version"], "points": frame["points"], "occluded": frame["occluded"]}
    assert client.put("/api/videos/mouse2/frames/img07.png", json=body, headers=AUTH).status_code == 200
    assert (elsewhere / "CollectedData_tester.h5").is_file()


@pytest.mark.parametrize(
    ("key", "fmt", "flat"),  # pandas cannot store a three-level row index in table format
    [
        ("keypoints", "table", True),
        ("df_with_missing", "table", True),
        ("keypoints", "fixed", False),
        ("df_with_missing", "fixed", True),
    ],
)
def test_save_keeps_the_files_key_format_and_index(tiny_project: Path, key: str, fmt: str, flat: bool) -> None:
    """Issue 15.12: a flat row index stays flat, table format stays table, the key stays."""
    before = _label_all(tiny_project)
    h5 = tiny_project.parent / "labeled-data" / "mouse1" / "CollectedData_tester.h5"
    if flat:
        before.index = pd.Index(["/".join(r) for r in before.index], dtype=object)
    h5.unlink()
    before.to_hdf(h5, key=key, format=fmt)
    client = TestClient(create_app(tiny_project, TOKEN))
    frame = _frame(client)
    frame["points"][0][2] = [7.0, 8.0]
    assert _put(client, frame).status_code == 200
    frame = _frame(client, "img14.png")
    frame["points"][0][0] = None
    assert _put(client, frame, "img14.png").status_code == 200
    with pd.HDFStore(h5, mode="r") as store:
        assert store.keys() == [f"/{key}"]
        assert store.get_storer(key).is_table == (fmt == "table")
        after = store.get(key)
    assert after.index.nlevels == (1 if flat else 3)
    row7 = "labeled-data/mouse1/img07.png" if flat else ("labeled-data", "mouse1", "img07.png")
    row14 = "labeled-data/mouse1/img14.png" if flat else ("labeled-data", "mouse1", "img14.png")
    edited = {(row7, ("tester", "rightear", c)) for c in "xy"} | {(row14, ("tester", "snout", c)) for c in "xy"}
    _unchanged_except(before, after, edited)
    assert after.loc[row7, ("tester", "rightear", "x")] == 7.0 and np.isnan(after.loc[row14, ("tester", "snout", "x")])


def test_scorer_changed_in_config_is_said(tiny_project: Path) -> None:
    """Issue 15.13: labels of another scorer are not shown, and the page is told why."""
    from markerless.io.dlc import read_config, write_config

    _label_all(tiny_project)
    cfg = read_config(tiny_project)
    cfg["scorer"] = "someone"
    write_config(cfg, tiny_project)
    info = TestClient(create_app(tiny_project, TOKEN)).get("/api/project", headers=AUTH).json()
    notices = " ".join(info["videos"][0]["notices"])
    assert "CollectedData_tester.h5" in notices and "scorer" in notices


def test_video_count_counts_complete_frames(client: TestClient, tiny_project: Path) -> None:
    """Issue 15.13: a frame with one point of four is started, not labelled."""
    frame = _frame(client)
    frame["points"][0][0] = [1.0, 1.0]
    _put(client, frame)
    frame = _frame(client, "img14.png")
    frame["points"][0] = [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]]
    _put(client, frame, "img14.png")
    video = client.get("/api/project", headers=AUTH).json()["videos"][0]
    assert (video["n_labelled"], video["n_started"]) == (1, 2)
    done = {f["name"]: f["done"] for f in client.get("/api/videos/mouse1/frames", headers=AUTH).json()}
    assert done == {"img00.png": False, "img07.png": False, "img14.png": True}


def test_multi_animal_frame_is_done_when_every_started_individual_is_complete(tiny_ma_project: Path) -> None:
    """Issue 15.11: with animals out of view a multi-animal frame can still be complete."""
    client = TestClient(create_app(tiny_ma_project, TOKEN))
    frame = _frame(client)
    frame["points"][1][:4] = [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]]
    assert _put(client, frame).status_code == 200
    done = {f["name"]: f["done"] for f in client.get("/api/videos/mouse1/frames", headers=AUTH).json()}
    assert done["img07.png"] is True


def test_busy_port_is_one_line_suggesting_port_0(tiny_project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 15.13: no traceback for a port in use."""
    import socket

    from markerless.cli import main

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        assert main(["label", str(tiny_project), "--port", str(port), "--no-browser"]) == 1
    finally:
        taken.close()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--port 0" in err and str(port) in err


def test_save_is_fast_on_openfield(openfield_project: Path, tmp_path: Path) -> None:
    """A save of the openfield project (116 frames) takes under 0.3 s."""
    import shutil
    import time

    root = tmp_path / "openfield"
    shutil.copytree(openfield_project, root, ignore=shutil.ignore_patterns("*.mp4", "*.avi"))
    client = TestClient(create_app(root / "config.yaml", TOKEN))
    frame = client.get("/api/videos/m4s1/frames/img0005.png", headers=AUTH).json()
    times = []
    for i in range(5):
        frame["points"][0][0] = [100.0 + i, 200.0]
        body = {"version": frame["version"], "points": frame["points"], "occluded": frame["occluded"]}
        start = time.perf_counter()
        res = client.put("/api/videos/m4s1/frames/img0005.png", json=body, headers=AUTH)
        times.append(time.perf_counter() - start)
        frame = res.json()
    assert sorted(times)[2] < 0.3, times


@pytest.mark.parametrize("video_name", ["open field 1.avi", "Maus_ü1.avi"])
def test_project_created_for_an_odd_video_name_opens(tiny_project: Path, tmp_path: Path, video_name: str) -> None:
    """Issue 15.8: the folders our own create-project + extract-frames make for such videos work."""
    import shutil
    from urllib.parse import quote

    from markerless.labelling.frames import extract_frames
    from markerless.project.project import create_project

    source = tiny_project.parent / "videos" / "mouse1.avi"
    video = tmp_path / "raw" / video_name
    video.parent.mkdir()
    shutil.copy(source, video)
    config = create_project("odd", "tester", [video], working_directory=tmp_path / "work dir ü", copy_videos=True)
    extract_frames(config, algo="uniform", num_frames=3)
    client = TestClient(create_app(config, TOKEN))
    stem = Path(video_name).stem
    assert [v["name"] for v in client.get("/api/project", headers=AUTH).json()["videos"]] == [stem]
    frames = client.get(f"/api/videos/{quote(stem)}/frames", headers=AUTH).json()
    assert len(frames) == 3
    name = quote(frames[1]["name"])
    frame = client.get(f"/api/videos/{quote(stem)}/frames/{name}", headers=AUTH).json()
    frame["points"][0][0] = [5.0, 6.0]
    body = {"version": frame["version"], "points": frame["points"], "occluded": frame["occluded"]}
    assert client.put(f"/api/videos/{quote(stem)}/frames/{name}", json=body, headers=AUTH).status_code == 200
    assert client.get(f"/api/image/{quote(stem)}/{name}", headers=AUTH).status_code == 200
