"""API tests of the track view: prediction files, lanes, frame images, swap, undo and redo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from markerless.app.server import TOKEN_HEADER, create_app
from markerless.io.dlc import read_predictions, write_predictions
from markerless.project.prediction_files import tracks_path
from tests.app.conftest import make_tiny_project
from tests.fixtures.tracks import SCORER, write_crossing_predictions

TOKEN = "tracks-token"
AUTH = {TOKEN_HEADER: TOKEN}
NAME = f"mouse1{SCORER}.h5"


@pytest.fixture
def prediction(tiny_ma_project: Path) -> Path:
    return write_crossing_predictions(tiny_ma_project)


@pytest.fixture
def client(tiny_ma_project: Path, prediction: Path) -> TestClient:
    return TestClient(create_app(tiny_ma_project, TOKEN))


def test_lists_prediction_files_of_multi_animal_projects_only(client: TestClient, tmp_path: Path) -> None:
    assert client.get("/api/tracks", headers=AUTH).json() == [{"name": NAME, "video": "mouse1.avi"}]
    assert client.get("/api/tracks").status_code == 401
    single = TestClient(create_app(make_tiny_project(tmp_path / "single"), TOKEN))
    assert single.get("/api/tracks", headers=AUTH).json() == []


def test_lanes_summarise_every_animal_and_mark_the_crossing(client: TestClient) -> None:
    lanes = client.get(f"/api/tracks/{NAME}", headers=AUTH).json()
    assert lanes["individuals"] == ["mouse1", "mouse2"] and len(lanes["colors"]) == 2
    assert lanes["frames"] == list(range(40))
    assert np.array(lanes["visible"]).shape == (2, 40) and min(map(min, lanes["visible"])) == 100
    assert lanes["x"][0][0] < lanes["x"][0][-1] and lanes["x"][1][0] > lanes["x"][1][-1]
    close = [e for e in lanes["events"] if e["kind"] == "close"]
    assert len(close) == 1 and close[0]["individuals"] == ["mouse1", "mouse2"]
    assert close[0]["start"] <= 19 < 20 < close[0]["stop"]
    assert lanes["applied"] == [] and lanes["undone"] == [] and lanes["stale"] == []


def test_frame_image_draws_the_animals(client: TestClient) -> None:
    res = client.get(f"/api/tracks/{NAME}/frames/5", headers=AUTH)
    assert res.status_code == 200 and res.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(res.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (48, 64, 3)
    assert client.get(f"/api/tracks/{NAME}/frames/400", headers=AUTH).status_code == 404


def test_unknown_files_are_refused(client: TestClient, tiny_ma_project: Path) -> None:
    for name in ("nothing.h5", "..%2Fconfig.yaml", "mouse1.avi"):
        assert client.get(f"/api/tracks/{name}", headers=AUTH).status_code in (400, 404)  # ../ is a bad path
    body = {"a": "mouse1", "b": "mouse2", "start": 3}
    assert client.post("/api/tracks/other.h5/swap", json=body, headers=AUTH).status_code == 404


def test_swap_undo_redo_change_the_file_on_disk(client: TestClient, prediction: Path) -> None:
    before = pd.read_hdf(prediction)
    body = {"a": "mouse1", "b": "mouse2", "start": 25}
    res = client.post(f"/api/tracks/{NAME}/swap", json=body, headers=AUTH)
    assert res.status_code == 200, res.text
    lanes = res.json()
    assert [(s["a"], s["b"], s["start"], s["stop"]) for s in lanes["applied"]] == [("mouse1", "mouse2", 25, None)]
    assert lanes["x"][0][30] < lanes["x"][0][25] < lanes["x"][0][24]  # mouse1 now walks back from frame 25
    after = read_predictions(prediction)
    raw = pd.read_hdf(prediction)
    assert np.array_equal(raw.iloc[:25].to_numpy(), before.iloc[:25].to_numpy(), equal_nan=True)
    assert not np.array_equal(raw.iloc[25:].to_numpy(), before.iloc[25:].to_numpy(), equal_nan=True)
    assert after.metadata == {"tracked": True}
    res = client.post(f"/api/tracks/{NAME}/undo", headers=AUTH)
    assert res.status_code == 200 and res.json()["applied"] == [] and len(res.json()["undone"]) == 1
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), before.to_numpy(), equal_nan=True)
    assert client.post(f"/api/tracks/{NAME}/undo", headers=AUTH).status_code == 409
    assert client.post(f"/api/tracks/{NAME}/redo", headers=AUTH).json()["undone"] == []
    range_swap = {"a": "mouse2", "b": "mouse1", "start": 5, "stop": 10}
    assert len(client.post(f"/api/tracks/{NAME}/swap", json=range_swap, headers=AUTH).json()["applied"]) == 2


def test_bad_swaps_are_refused_with_a_message(client: TestClient, prediction: Path) -> None:
    before = prediction.read_bytes()
    for body in (
        {"a": "mouse1", "b": "mouse1", "start": 3},
        {"a": "mouse1", "b": "single", "start": 3},
        {"a": "mouse1", "b": "mouse2", "start": 8, "stop": 4},
    ):
        res = client.post(f"/api/tracks/{NAME}/swap", json=body, headers=AUTH)
        assert res.status_code == 400 and res.json()["detail"]
    assert prediction.read_bytes() == before


def test_tracks_files_are_listed_first_and_swapped_in_place(tiny_ma_project: Path, prediction: Path) -> None:
    """DeepLabCut's tracks file ``_el.h5`` (what analysis writes) is listed before a raw file of an older
    run; a swap edits it (key ``tracks`` kept) and leaves the raw file byte for byte."""
    tracks = write_predictions(read_predictions(prediction), tracks_path(prediction))
    raw = prediction.read_bytes()
    client = TestClient(create_app(tiny_ma_project, TOKEN))
    listed = client.get("/api/tracks", headers=AUTH).json()
    assert listed == [{"name": tracks.name, "video": "mouse1.avi"}, {"name": NAME, "video": "mouse1.avi"}]
    body = {"a": "mouse1", "b": "mouse2", "start": 25}
    res = client.post(f"/api/tracks/{tracks.name}/swap", json=body, headers=AUTH)
    assert res.status_code == 200, res.text
    with pd.HDFStore(tracks, mode="r") as store:
        assert store.keys() == ["/tracks"]
    assert not np.array_equal(pd.read_hdf(tracks).to_numpy(), pd.read_hdf(prediction).to_numpy(), equal_nan=True)
    assert prediction.read_bytes() == raw
