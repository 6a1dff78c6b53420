"""The labelling page in a real browser (Playwright driving Debian's Chromium).

Set ``MARKERLESS_SCREENSHOT=1`` to refresh ``docs/images/label-app.png`` from the refine test.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerless.app.server import AppServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed: run make test as root or apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def _serve(config: Path) -> Iterator[AppServer]:
    server = AppServer(config, port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(tiny_project: Path) -> Iterator[AppServer]:
    yield from _serve(tiny_project)


def _open(browser, url: str, size=(1100, 600)):
    page = browser.new_page(viewport={"width": size[0], "height": size[1]})
    page.goto(url)
    page.wait_for_selector("#frames li")
    page.wait_for_function("document.querySelector('#frame-title').textContent.includes('img')")
    return page


def _canvas_point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y)."""
    box = page.locator("#canvas").bounding_box()
    view = page.evaluate("[state.view.scale, state.view.ox, state.view.oy]")
    scale, ox, oy = view
    return box["x"] + ox + (x + 0.5) * scale, box["y"] + oy + (y + 0.5) * scale


def _wait_saved(page) -> None:
    page.wait_for_function("state.pending === 0 && document.querySelector('#status').dataset.state === 'idle'")


def _labels(config: Path) -> pd.DataFrame:
    return pd.read_hdf(config.parent / "labeled-data" / "mouse1" / "CollectedData_tester.h5")


def test_click_points_reload_and_find_them_on_disk(browser, server: AppServer, tiny_project: Path) -> None:
    page = _open(browser, server.url)
    assert "token=" not in page.url  # the token leaves the address bar once read
    page.click("#frames li:nth-child(2)")
    page.wait_for_function("document.querySelector('#frame-title').textContent.includes('img07')")
    page.mouse.click(*_canvas_point(page, 10, 12))  # snout, then the selection moves on to leftear
    page.mouse.click(*_canvas_point(page, 20, 30))
    _wait_saved(page)
    page.keyboard.press("ArrowUp")  # back to leftear
    page.keyboard.press("o")  # mark it occluded
    _wait_saved(page)
    page.reload()
    page.wait_for_function("state.frame && state.frame.name === 'img07.png'")
    points = page.evaluate("state.frame.points[0]")
    assert np.allclose(points[0], [10, 12], atol=0.6) and np.allclose(points[1], [20, 30], atol=0.6)
    assert points[2] is None
    assert page.evaluate("state.frame.occluded[0][1]") is True
    assert page.locator("#frames li:nth-child(2) .count").inner_text() == "2/4"
    df = _labels(tiny_project)
    row = df.loc[("labeled-data", "mouse1", "img07.png")]
    assert abs(row[("tester", "snout", "x")] - 10) < 0.6 and abs(row[("tester", "leftear", "y")] - 30) < 0.6
    # drag a point, delete one, undo the delete
    page.mouse.move(*_canvas_point(page, 10, 12))
    page.mouse.down()
    page.mouse.move(*_canvas_point(page, 30, 20), steps=5)
    page.mouse.up()
    _wait_saved(page)
    assert np.allclose(page.evaluate("state.frame.points[0][0]"), [30, 20], atol=0.6)
    page.keyboard.press("Delete")  # the dragged point (snout) is selected
    _wait_saved(page)
    assert np.isnan(_labels(tiny_project).loc[("labeled-data", "mouse1", "img07.png"), ("tester", "snout", "x")])
    page.keyboard.press("Control+z")
    _wait_saved(page)
    assert abs(_labels(tiny_project).loc[("labeled-data", "mouse1", "img07.png"), ("tester", "snout", "x")] - 30) < 0.6
    # next frame by keyboard; help overlay
    page.keyboard.press("ArrowRight")
    page.wait_for_function("state.frame.name === 'img14.png'")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    page.close()


def test_zoom_and_pan_change_the_view(browser, server: AppServer) -> None:
    page = _open(browser, server.url)
    scale0, _, _ = page.evaluate("[state.view.scale, state.view.ox, state.view.oy]")
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    page.wait_for_function(f"state.view.scale > {scale0 * 1.2}")
    _, ox1, _ = page.evaluate("[state.view.scale, state.view.ox, state.view.oy]")
    page.mouse.move(box["x"] + 5, box["y"] + 5)  # empty space (outside the image)
    page.mouse.down()
    page.mouse.move(box["x"] + 85, box["y"] + 45, steps=4)
    page.mouse.up()
    _, ox2, _ = page.evaluate("[state.view.scale, state.view.ox, state.view.oy]")
    assert ox2 == pytest.approx(ox1 + 80, abs=1)
    assert page.evaluate("state.frame.points[0].every((p) => p === null)")  # panning placed nothing
    page.close()


def test_refine_suggestions(browser, tiny_project: Path) -> None:
    from markerless.labelling.machine_labels import write_machine_labels
    from markerless.project.project import Project

    project = Project.load(tiny_project)
    data = np.array([[[[5.0, 6.0, 0.91], [15.0, 8.0, 0.42], [25.0, 9.0, 0.07], [40.0, 30.0, 0.88]]]])
    write_machine_labels(
        project.labeled_data_dir("mouse1"),
        0,
        ["labeled-data/mouse1/img14.png"],
        data,
        project.layout,
        "DLC_resnet50_tinyOct1shuffle1_100",
    )
    for server in _serve(tiny_project):
        page = _open(browser, server.url + "#mouse1/img14.png", size=(1280, 720))
        page.wait_for_function("state.frame.name === 'img14.png'")
        assert page.locator("#accept-all").is_visible()
        assert "suggested 0.42" in page.locator("#parts").inner_text()
        # drag the low-likelihood suggestion (rightear) to where it belongs
        page.mouse.move(*_canvas_point(page, 25, 9))
        page.mouse.down()
        page.mouse.move(*_canvas_point(page, 28, 14), steps=5)
        page.mouse.up()
        _wait_saved(page)
        # click one suggestion to accept it as is
        page.mouse.click(*_canvas_point(page, 5, 6))
        _wait_saved(page)
        page.click("#accept-all")
        _wait_saved(page)
        assert page.locator("#accept-all").is_hidden()
        row = _labels(tiny_project).loc[("labeled-data", "mouse1", "img14.png")]
        got = row.to_numpy().reshape(4, 2)
        assert np.allclose(got, [[5, 6], [15, 8], [28, 14], [40, 30]], atol=0.6)
        page.close()


def test_conflict_between_two_pages(browser, server: AppServer, tiny_project: Path) -> None:
    first, second = _open(browser, server.url), _open(browser, server.url)
    first.mouse.click(*_canvas_point(first, 10, 10))
    _wait_saved(first)
    second.mouse.click(*_canvas_point(second, 40, 40))  # based on the version before first's change
    second.wait_for_selector("#conflict:not([hidden])")
    assert "changed elsewhere" in second.locator("#conflict").inner_text()
    # reloaded: it now shows first's point instead of its own refused one
    second.wait_for_function("state.frame.points[0][0] !== null && state.frame.points[0][0][0] < 20")
    assert np.allclose(second.evaluate("state.frame.points[0][0]"), [10, 10], atol=0.6)
    row = _labels(tiny_project).loc[("labeled-data", "mouse1", "img00.png")]
    assert abs(row[("tester", "snout", "x")] - 10) < 0.6  # first's change kept, second's not applied silently
    # after the reload the second page saves normally
    second.mouse.click(*_canvas_point(second, 40, 40))
    _wait_saved(second)
    assert (
        abs(_labels(tiny_project).loc[("labeled-data", "mouse1", "img00.png"), ("tester", "leftear", "x")] - 40) < 0.6
    )
    first.close()
    second.close()


def test_requests_without_token_are_refused(browser, server: AppServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    res = page.goto(server.url.split("?")[0])
    assert res.status == 401
    res = page.goto(server.url.split("?")[0] + "?token=nope")
    assert res.status == 403
    assert page.request.get(server.url.split("?")[0] + "api/project").status == 401
    context.close()


def test_openfield_refine_screenshot(browser, openfield_project: Path, tmp_path: Path) -> None:
    """The openfield frames in the app with two points still to refine; refreshes the README screenshot."""
    from markerless.labelling.machine_labels import write_machine_labels
    from markerless.project.project import Project

    root = tmp_path / "openfield"
    shutil.copytree(openfield_project, root, ignore=shutil.ignore_patterns("*.mp4", "*.avi"))
    project = Project.load(root / "config.yaml")
    labels = project.load_labels("m4s1")
    image = labels.images[3]
    truth = labels.xy[3].copy()
    labels.xy[3, 0, 1:] = np.nan  # leave only the snout labelled: the rest comes from the "model"
    project.save_labels(labels, "m4s1")
    guess = np.concatenate([truth + np.array([3.0, -2.0]), [[[0.97], [0.64], [0.91], [0.12]]]], axis=-1)
    guess[0, 3, :2] += [25.0, 18.0]  # a wrong tail base with a low likelihood
    write_machine_labels(project.labeled_data_dir("m4s1"), 0, [image], guess[None], project.layout, "DLC_resnet50")
    for server in _serve(root / "config.yaml"):
        page = _open(browser, server.url + "#m4s1/" + image.rsplit("/", 1)[-1], size=(1280, 760))
        page.wait_for_function(f"state.frame.name === {image.rsplit('/', 1)[-1]!r}")
        assert page.locator("#accept-all").is_visible()
        page.mouse.click(*_canvas_point(page, *guess[0, 1, :2]))  # accept the left ear
        _wait_saved(page)
        page.wait_for_function("document.querySelector('#frames li.current .count').textContent === '2/4'")
        saved = project.load_labels("m4s1").select([image]).xy[0, 0]
        assert np.allclose(saved[1], guess[0, 1, :2]) and np.isnan(saved[2:]).all()
        page.mouse.move(*_canvas_point(page, *truth[0, 0]))
        page.mouse.wheel(0, -500)  # zoom in on the mouse
        page.wait_for_timeout(200)
        page.screenshot(path=str(tmp_path / "label-app.png"))
        if os.environ.get("MARKERLESS_SCREENSHOT"):
            shutil.copy(tmp_path / "label-app.png", ROOT / "docs" / "images" / "label-app.png")
        page.close()


def test_multi_animal_pick_individual(browser, tmp_path: Path) -> None:
    """On a two-animal synthetic project, points go to the individual picked in the toolbar."""
    from markerless.synthetic import make_synthetic_project

    config = make_synthetic_project(tmp_path, n_animals=2, n_frames=30, n_labelled=3, size=(160, 120), seed=2)
    h5 = next((config.parent / "labeled-data").glob("*/CollectedData_synth.h5"))
    before = pd.read_hdf(h5)
    for server in _serve(config):
        page = _open(browser, server.url)
        assert page.locator("#individual-picker").is_visible()
        page.select_option("#individual", "1")
        page.click("#parts li[data-kp='3']")  # neck
        page.keyboard.press("Delete")
        _wait_saved(page)
        page.mouse.click(*_canvas_point(page, 50, 60))
        _wait_saved(page)
        after = pd.read_hdf(h5)
        row = page.evaluate("state.frame.name")
        key = next(k for k in after.index if k[-1] == row)
        assert abs(after.loc[key, ("synth", "individual2", "neck", "x")] - 50) < 0.6
        assert (
            after.loc[key, ("synth", "individual1", "neck", "x")]
            == before.loc[key, ("synth", "individual1", "neck", "x")]
        )
        page.keyboard.press("i")  # back to the first individual
        assert page.evaluate("state.ind") == 0
        page.close()
