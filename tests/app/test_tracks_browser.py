"""The track view in a real browser (Playwright driving Debian's Chromium): find the crossing, swap, undo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerless.app.server import AppServer
from tests.fixtures.tracks import write_crossing_predictions

pytestmark = pytest.mark.browser


@pytest.fixture
def prediction(tiny_ma_project: Path) -> Path:
    return write_crossing_predictions(tiny_ma_project)


@pytest.fixture
def server(tiny_ma_project: Path, prediction: Path) -> Iterator[AppServer]:
    server = AppServer(tiny_ma_project, port=0).start()
    try:
        yield server
    finally:
        server.stop()


def _swapped(df: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """``df``'s values with mouse1 and mouse2 exchanged in ``rows`` (what the file must hold)."""
    scorer = df.columns[0][0]
    out = df.copy()
    for a, b in (("mouse1", "mouse2"), ("mouse2", "mouse1")):
        out.loc[rows, (scorer, a)] = df.loc[rows, (scorer, b)].to_numpy()
    return out.to_numpy()


def _open_tracks(browser, url: str):
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(url)
    page.wait_for_selector("#tracks-button:not([hidden])")
    page.click("#tracks-button")
    page.wait_for_function("tracks.lanes && document.querySelector('#track-image').dataset.frame === '0'")
    return page


def _wait_history(page, applied: int, undone: int) -> None:
    page.wait_for_function(
        f"!tracks.busy && tracks.lanes.applied.length === {applied} && tracks.lanes.undone.length === {undone}"
    )


def test_swap_from_a_suspicious_frame_then_undo(browser, server: AppServer, prediction: Path) -> None:
    before = pd.read_hdf(prediction)
    page = _open_tracks(browser, server.url)
    assert page.locator("#lanes").bounding_box()["height"] >= 60  # two lanes
    assert page.evaluate("tracks.lanes.individuals") == ["mouse1", "mouse2"]
    page.click("#next-suspicious")
    row = page.evaluate("tracks.row")
    close = [e for e in page.evaluate("tracks.lanes.events") if e["kind"] == "close"]
    assert row == close[0]["peak"] and 18 <= row <= 21  # the animals meet halfway through 40 frames
    assert page.input_value("#swap-a") == "mouse1" and page.input_value("#swap-b") == "mouse2"
    page.wait_for_function(f"document.querySelector('#track-image').dataset.frame === '{row}'")
    page.keyboard.press("ArrowRight")  # the track view keeps the keys: one frame on, not the labelling view's
    assert page.evaluate("tracks.row") == row + 1
    page.click("#swap-from")
    _wait_history(page, 1, 0)
    assert "swapped mouse1 ⇄ mouse2 from frame" in page.inner_text("#status")
    assert "mouse1 ⇄ mouse2 from" in page.inner_text("#track-history")
    after = pd.read_hdf(prediction)
    rows = np.asarray(after.index >= row + 1)
    assert np.array_equal(after.to_numpy(), _swapped(before, rows), equal_nan=True)
    assert after.columns.equals(before.columns)
    page.click("#track-undo")
    _wait_history(page, 0, 1)
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), before.to_numpy(), equal_nan=True)
    assert page.is_disabled("#track-undo") and not page.is_disabled("#track-redo")
    page.click("#track-redo")
    _wait_history(page, 1, 0)
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), after.to_numpy(), equal_nan=True)
    page.close()


def test_swap_a_marked_range_and_undo_with_the_keyboard(browser, server: AppServer, prediction: Path) -> None:
    before = pd.read_hdf(prediction)
    page = _open_tracks(browser, server.url)
    page.evaluate("setRow(12)")
    page.click("#mark-end")  # marks may be set in either order
    page.evaluate("setRow(5)")
    page.click("#mark-start")
    assert page.inner_text("#marks") == "start 5 · end 12"
    page.select_option("#swap-a", "mouse2")
    page.select_option("#swap-b", "mouse1")
    page.click("#swap-range")
    _wait_history(page, 1, 0)
    assert page.evaluate("tracks.lanes.applied[0]")["stop"] == 13  # the end mark is included
    rows = np.asarray((before.index >= 5) & (before.index <= 12))
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), _swapped(before, rows), equal_nan=True)
    page.locator("#lanes").click(position={"x": 200, "y": 10})  # the lanes take the focus from the button
    page.keyboard.press("u")
    _wait_history(page, 0, 1)
    assert np.array_equal(pd.read_hdf(prediction).to_numpy(), before.to_numpy(), equal_nan=True)
    page.keyboard.press("Escape")
    page.wait_for_selector("#tracks-view", state="hidden")
    assert page.is_visible("#canvas")  # back to labelling
    page.close()
