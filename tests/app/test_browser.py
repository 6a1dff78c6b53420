"""The labelling page in a real browser (Playwright driving Debian's Chromium).

Set ``MARKERLESS_SCREENSHOT=1`` to refresh ``docs/images/label-app.png`` from the refine test.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from markerless.app.server import AppServer
from markerless.errors import MarkerlessError

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


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


def _click_until(page, point: tuple[float, float], placed: str, tries: int = 3) -> None:
    """Click image pixel ``point`` until ``placed`` holds: the view can still be refitted to a freshly shown image
    (the layout settling after a video switch) between reading it and clicking, on a busy machine."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for attempt in range(tries):
        page.mouse.click(*_canvas_point(page, *point))
        try:
            page.wait_for_function(placed, timeout=5000)
            return
        except PlaywrightTimeoutError:
            if attempt == tries - 1:
                raise


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


# --- issue 15: never lose a label, open every project, pleasant multi-animal labelling --------------
def _seed(config: Path, video: str, points: dict[str, list]) -> None:
    """Write labels: image name -> (individuals x body parts) list of [x, y] or None."""
    from markerless.model import Labels
    from markerless.project.project import Project

    project = Project.load(config)
    names = sorted(points)
    xy = np.array([[[p if p is not None else [np.nan, np.nan] for p in row] for row in points[n]] for n in names])
    project.save_labels(Labels(project.layout, [f"labeled-data/{video}/{n}" for n in names], xy), video)


def _idle(page) -> None:
    page.wait_for_function("state.pending === 0 && !state.loading && state.frame && state.frame.name === state.current")


def _disk(config: Path, video: str, image: str) -> np.ndarray:
    """(individuals, keypoints, 2) of one image as the project reads it from disk."""
    from markerless.project.project import Project

    labels = Project.load(config).load_labels(video)
    return labels.select([f"labeled-data/{video}/{image}"]).xy[0]


def _disk_when_saved(config: Path, video: str, image: str, timeout_s: float = 10.0) -> np.ndarray:
    """:func:`_disk` once the image's labels are on disk (a first save creates the file after the click)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return _disk(config, video, image)
        except MarkerlessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _shown(page) -> np.ndarray:
    pts = page.evaluate("state.frame.points")
    return np.array([[p if p is not None else [np.nan, np.nan] for p in row] for row in pts], dtype=float)


FULL = [[[10.0, 10.0], [20.0, 10.0], [30.0, 10.0], [40.0, 30.0]]]


def test_conflict_reload_keeps_the_selection_and_never_deletes_the_other_tabs_edit(
    browser, server: AppServer, tiny_project: Path
) -> None:
    """Issue 15.2: B's reloads are serialised, keep B's selection, and the disk equals what B shows."""
    _seed(tiny_project, "mouse1", {"img00.png": FULL})
    a, b = _open(browser, server.url), _open(browser, server.url)
    b.click("#parts li[data-kp='1']")  # B works on the left ear
    a.mouse.move(*_canvas_point(a, 10, 10))  # A moves the snout
    a.mouse.down()
    a.mouse.move(*_canvas_point(a, 12, 30), steps=4)
    a.mouse.up()
    _wait_saved(a)
    b.keyboard.press("Delete")  # stale: refused, the frame reloads
    _idle(b)
    assert b.evaluate("state.kp") == 1  # the selection did not jump to the first body part
    assert b.locator("#conflict").is_visible()
    b.keyboard.press("Delete")  # now deletes the left ear, as B meant
    _idle(b)
    disk = _disk(tiny_project, "mouse1", "img00.png")
    assert np.allclose(disk[0, 0], [12, 30], atol=0.6) and np.isnan(disk[0, 1]).all()
    # the race of the issue: A edits again, B presses Delete, down, Delete, down, Delete at once
    a.reload()  # A sees B's deletion
    a.wait_for_function("state.frame && state.frame.name === 'img00.png'")
    a.mouse.move(*_canvas_point(a, 12, 30))
    a.mouse.down()
    a.mouse.move(*_canvas_point(a, 14, 25), steps=3)
    a.mouse.up()
    _wait_saved(a)
    b.click("#parts li[data-kp='1']")  # from the left ear down, never up to the snout
    for key in ("Delete", "ArrowDown", "Delete", "ArrowDown", "Delete"):
        b.keyboard.press(key)
    _idle(b)
    b.wait_for_timeout(300)
    _idle(b)
    disk = _disk(tiny_project, "mouse1", "img00.png")
    assert np.allclose(disk[0, 0], [14, 25], atol=0.6)  # B never selected the snout: A's edit stays
    np.testing.assert_allclose(_shown(b), disk, atol=1e-9)  # what B shows is what is on disk
    assert b.locator("#log li").count() >= 1  # the conflict is recorded, not only flashed
    a.close()
    b.close()


def test_placing_moves_on_to_a_missing_part_wrapping_around(browser, server: AppServer, tiny_project: Path) -> None:
    """Issue 15.3: after the last body part the selection wraps to a missing earlier one."""
    page = _open(browser, server.url)
    page.click("#parts li[data-kp='2']")
    page.mouse.click(*_canvas_point(page, 30, 10))  # right ear -> tail base
    page.mouse.click(*_canvas_point(page, 40, 30))  # tail base -> wraps to snout
    assert page.evaluate("state.kp") == 0
    page.mouse.click(*_canvas_point(page, 10, 10))
    _wait_saved(page)
    disk = _disk(server.app.state.store.project.config_path, "mouse1", "img00.png")
    assert np.allclose(disk[0, [0, 2, 3]], [[10, 10], [30, 10], [40, 30]], atol=0.6)
    page.close()


def test_switching_individual_selects_its_first_missing_part(browser, tiny_ma_project: Path) -> None:
    """Issue 15.3: a new individual starts at its first missing body part."""
    for server in _serve(tiny_ma_project):
        page = _open(browser, server.url)
        page.mouse.click(*_canvas_point(page, 10, 10))  # mouse1 snout; selection moves to its left ear
        _wait_saved(page)
        page.keyboard.press("i")
        assert page.evaluate("[state.ind, state.kp]") == [1, 0]
        page.mouse.click(*_canvas_point(page, 30, 30))
        _wait_saved(page)
        disk = _disk(tiny_ma_project, "mouse1", "img00.png")
        assert np.allclose(disk[0, 0], [10, 10], atol=0.6) and np.allclose(disk[1, 0], [30, 30], atol=0.6)
        page.select_option("#individual", "0")
        assert page.evaluate("[state.ind, state.kp]") == [0, 1]
        page.close()


def test_dragged_points_stay_on_the_image(browser, server: AppServer, tiny_project: Path) -> None:
    """Issue 15.4."""
    _seed(tiny_project, "mouse1", {"img00.png": FULL})
    page = _open(browser, server.url)
    page.mouse.move(*_canvas_point(page, 10, 10))
    page.mouse.down()
    page.mouse.move(*_canvas_point(page, -20, -3), steps=5)
    page.mouse.up()
    _wait_saved(page)
    page.mouse.move(*_canvas_point(page, 40, 30))
    page.mouse.down()
    page.mouse.move(*_canvas_point(page, 90, 60), steps=5)
    page.mouse.up()
    _wait_saved(page)
    disk = _disk(tiny_project, "mouse1", "img00.png")
    assert np.allclose(disk[0, 0], [-0.5, -0.5]) and np.allclose(disk[0, 3], [63.5, 47.5])
    page.close()


def test_failed_save_is_retried_and_closing_warns(browser, server: AppServer, tiny_project: Path) -> None:
    """Issue 15.5: a save the server never received is sent again; the tab warns before closing."""
    failures = {"left": 2}

    def flaky(route) -> None:
        if route.request.method == "PUT" and failures["left"] > 0:
            failures["left"] -= 1
            route.abort()
        else:
            route.continue_()

    page = _open(browser, server.url)
    page.route("**/api/videos/**", flaky)
    page.mouse.click(*_canvas_point(page, 10, 12))
    _wait_saved(page)
    assert failures["left"] == 0
    assert np.allclose(_disk(tiny_project, "mouse1", "img00.png")[0, 0], [10, 12], atol=0.6)
    failures["left"] = 10**6  # the server is gone for good
    page.mouse.click(*_canvas_point(page, 20, 22))
    page.wait_for_function("document.querySelector('#status').textContent.includes('retrying')")
    warned = page.evaluate(
        "(() => { const e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e);"
        " return e.defaultPrevented; })()"
    )
    assert warned  # closing the tab now asks first
    page.close()


def test_press_grabs_the_nearest_point(browser, server: AppServer, tiny_project: Path) -> None:
    """Issue 15.7: two points 0.6 px apart; pressing on the second moves the second."""
    _seed(tiny_project, "mouse1", {"img00.png": [[[20.0, 20.0], [20.6, 20.0], None, None]]})
    page = _open(browser, server.url)
    page.mouse.move(*_canvas_point(page, 20.6, 20.0))
    page.mouse.down()
    page.mouse.move(*_canvas_point(page, 30, 30), steps=4)
    page.mouse.up()
    _wait_saved(page)
    disk = _disk(tiny_project, "mouse1", "img00.png")
    assert np.allclose(disk[0, 0], [20, 20]) and np.allclose(disk[0, 1], [30, 30], atol=0.6)
    page.close()


def test_odd_folder_names_open_and_save(browser, odd_project: Path) -> None:
    """Issue 15.8: spaces and non-ASCII letters in the project, folder and image names."""
    for server in _serve(odd_project):
        page = _open(browser, server.url)
        assert page.locator("#videos li").count() == 3
        page.click("#videos li:has-text('Maus_ü1')")
        page.wait_for_function("state.video === 'Maus_ü1' && state.frame && state.frame.name === 'img 005.png'")
        _idle(page)
        page.wait_for_function("state.image && state.image.naturalWidth > 0")  # the view fits this image
        _click_until(page, (11, 13), "state.frame.points[0][0] !== null")  # the click placed the point
        _wait_saved(page)
        assert np.allclose(_disk_when_saved(odd_project, "Maus_ü1", "img 005.png")[0, 0], [11, 13], atol=0.6)
        page.reload()
        page.wait_for_function("state.frame && state.frame.name === 'img 005.png' && state.video === 'Maus_ü1'")
        page.close()


def test_url_token_of_another_server_wins_over_its_cookie(browser, tiny_project: Path) -> None:
    """Issue 15.9: two servers (or a restarted one) in one browser: each printed URL works, images too."""
    context = browser.new_context()
    for first in _serve(tiny_project):
        for second in _serve(tiny_project):
            one = context.new_page()
            one.goto(first.url)
            one.wait_for_function("state.frame && state.image && state.image.naturalWidth > 0")
            two = context.new_page()
            assert two.goto(second.url).status == 200  # the first server's cookie does not win
            two.wait_for_function("state.frame && state.image && state.image.naturalWidth > 0")
            one.keyboard.press("ArrowRight")  # the first tab's images still load
            one.wait_for_function("state.frame.name === 'img07.png' && !state.loading")
            assert one.evaluate("state.image.naturalWidth") == 64
            assert one.locator("#status").get_attribute("data-state") == "idle"
            assert one.goto(second.url).status == 200  # a tab of the old server opening the new URL
    context.close()


def test_symlinked_folder_and_refused_image_links(browser, tiny_project: Path, tmp_path: Path) -> None:
    """Issue 15.10: a folder on another disk opens; an image link leaving it is not listed, even first."""
    elsewhere = tmp_path / "other disk" / "mouse2"
    shutil.copytree(tiny_project.parent / "labeled-data" / "mouse1", elsewhere)
    secret = tmp_path / "secret.png"
    shutil.copy(elsewhere / "img00.png", secret)
    os.symlink(secret, elsewhere / "aaa.png")
    os.symlink(elsewhere, tiny_project.parent / "labeled-data" / "mouse2")
    for server in _serve(tiny_project):
        page = _open(browser, server.url + "#mouse2/")
        page.wait_for_function("state.video === 'mouse2' && state.frame && state.frame.name === 'img00.png'")
        assert page.locator("#frames li").count() == 3
        page.keyboard.press("ArrowRight")
        page.wait_for_function("state.frame.name === 'img07.png'")
        page.close()


def test_multi_animal_overview_colours_names_and_dotsize(browser, tmp_path: Path) -> None:
    """Issue 15.11: per-animal colours and names, an overview of the animals of a frame, the config's dotsize."""
    from markerless.io.dlc import read_config, write_config
    from markerless.synthetic import make_synthetic_project

    config = make_synthetic_project(tmp_path, n_animals=3, n_frames=20, n_labelled=3, size=(200, 150), seed=3)
    cfg = read_config(config)
    cfg["dotsize"] = 4
    write_config(cfg, config)
    for server in _serve(config):
        page = _open(browser, server.url)
        rows = page.locator("#individuals li")
        assert rows.count() == 3 and "/" in rows.first.inner_text()
        assert page.evaluate("new Set([0, 1, 2].map((i) => colour(i, 0))).size") == 3
        assert page.evaluate("state.project.dotsize") == 4
        assert page.evaluate("markerRadius()") == pytest.approx(min(6, max(2.5, 2 * page.evaluate("state.view.scale"))))
        drawn = page.evaluate(
            "(() => { const seen = []; const orig = ctx.fillText.bind(ctx);"
            " ctx.fillText = (t, x, y) => { seen.push(t); orig(t, x, y); }; draw(); ctx.fillText = orig; return seen; })()"
        )
        assert {"individual1", "individual2", "individual3"} <= set(drawn)
        rows.nth(1).click()
        assert page.evaluate("state.ind") == 1
        # a frame whose present animals are complete counts as labelled
        assert page.locator("#frames li.done").count() >= 1
        assert page.locator("#frame-progress").inner_text().split("/")[0] != "0"
        page.close()


def test_openfield_edit_keeps_the_file_as_it_was(browser, openfield_project: Path, tmp_path: Path) -> None:
    """Issues 15.1 and 15.12 on openfield without tail base in its config: the notice is shown, the
    tail base column, the flat row index, the table format and every unedited cell survive."""
    from markerless.io.dlc import read_config, write_config

    root = tmp_path / "openfield"
    shutil.copytree(openfield_project, root, ignore=shutil.ignore_patterns("*.mp4", "*.avi"))
    cfg = read_config(root / "config.yaml")
    cfg["bodyparts"] = [b for b in cfg["bodyparts"] if b != "tailbase"]
    cfg["skeleton"] = [e for e in cfg.get("skeleton") or [] if "tailbase" not in e]
    write_config(cfg, root / "config.yaml")
    h5 = root / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    before = pd.read_hdf(h5)
    for server in _serve(root / "config.yaml"):
        page = _open(browser, server.url + "#m4s1/img0003.png")
        page.wait_for_function("state.frame.name === 'img0003.png'")
        assert "tailbase" in page.locator("#notices").inner_text()
        x, y = page.evaluate("state.frame.points[0][0]")
        page.mouse.move(*_canvas_point(page, x, y))
        page.mouse.down()
        page.mouse.move(*_canvas_point(page, x + 20, y + 10), steps=4)
        page.mouse.up()
        _wait_saved(page)
        page.close()
    with pd.HDFStore(h5, mode="r") as store:
        assert store.keys() == ["/df_with_missing"] and store.get_storer("df_with_missing").is_table
        after = store.get("df_with_missing")
    assert after.index.nlevels == before.index.nlevels == 1
    assert list(after.columns) == list(before.columns)
    changed = ~((after == before) | (after.isna() & before.isna()))
    assert changed.to_numpy().sum() == 2
    assert set(changed.columns[changed.any()]) == {("Pranav", "snout", "x"), ("Pranav", "snout", "y")}


def test_dropdown_then_arrows_change_the_frame_and_a_favicon(browser, tiny_ma_project: Path) -> None:
    """Issue 15.13: arrows after the individual drop-down change the frame; the page has a favicon."""
    missing: list[str] = []
    for ma in _serve(tiny_ma_project):
        page = browser.new_page(viewport={"width": 1100, "height": 600})
        page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
        page.goto(ma.url)
        page.wait_for_function("state.frame && state.frame.name === 'img00.png'")
        assert page.locator("link[rel=icon]").count() == 1 and not missing
        page.select_option("#individual", "1")
        page.focus("#individual")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("state.frame.name === 'img07.png'")
        assert page.evaluate("state.ind") == 1
        page.close()


def test_scorer_change_is_said_in_the_browser(browser, tiny_project: Path) -> None:
    """Issue 15.13: labels of another scorer are not shown, and the page says why."""
    from markerless.io.dlc import read_config, write_config

    _seed(tiny_project, "mouse1", {"img00.png": FULL})
    cfg = read_config(tiny_project)
    cfg["scorer"] = "someone"
    write_config(cfg, tiny_project)
    for server in _serve(tiny_project):
        page = _open(browser, server.url)
        notice = page.locator("#notices").inner_text()
        assert "CollectedData_tester.h5" in notice and "scorer" in notice
        page.close()


def test_conflict_banner_stays_until_dismissed(browser, server: AppServer, tiny_project: Path) -> None:
    """Issue 15.13: the conflict message does not vanish after 6 s and is kept under Messages."""
    first, second = _open(browser, server.url), _open(browser, server.url)
    first.mouse.click(*_canvas_point(first, 10, 10))
    _wait_saved(first)
    second.mouse.click(*_canvas_point(second, 40, 40))
    second.wait_for_selector("#conflict:not([hidden])")
    second.wait_for_timeout(6500)
    assert second.locator("#conflict").is_visible()
    assert "changed elsewhere" in second.locator("#log").inner_text()
    second.click("#conflict-close")
    assert second.locator("#conflict").is_hidden() and second.locator("#log li").count() == 1
    first.close()
    second.close()


def test_full_hd_frame_shows_in_half_a_second_and_saves_in_0_3(browser, tiny_project: Path) -> None:
    """1920x1080 frames: shown under 0.5 s after the key press, saved under 0.3 s (medians)."""
    import cv2

    folder = tiny_project.parent / "labeled-data" / "mouse1"
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.integers(0, 255, (108, 192, 3), dtype=np.uint8), (1920, 1080))
    for i, name in enumerate(sorted(folder.glob("*.png"))):
        noise = rng.integers(0, 20, base.shape, dtype=np.uint8)
        cv2.imwrite(str(name), np.roll(base, 40 * i, axis=1) + noise)
    for server in _serve(tiny_project):
        page = _open(browser, server.url, size=(1600, 900))
        for key in ("ArrowRight", "ArrowRight", "ArrowLeft", "ArrowLeft"):
            page.keyboard.press(key)
            _idle(page)
        for x in (100, 200, 300, 400):
            page.mouse.click(*_canvas_point(page, x, 500))
            _wait_saved(page)
        display, save = page.evaluate("[state.timing.display.slice(1), state.timing.save]")
        assert sorted(display)[len(display) // 2] < 500, display
        assert sorted(save)[len(save) // 2] < 300, save
        page.close()


def test_point_pending_across_a_server_restart_reaches_the_disk(browser, tiny_project: Path) -> None:
    """Issue 15.5: the server restarts (new token) while a point is pending; pasting the new URL saves it."""
    first = AppServer(tiny_project, port=0).start()
    port = first.port
    page = _open(browser, first.url)
    first.stop()
    page.mouse.click(*_canvas_point(page, 10, 12))
    page.wait_for_function("document.querySelector('#status').textContent.includes('retrying')")
    for again in _serve_on(tiny_project, port):
        page.wait_for_selector("#token-form:not([hidden])", timeout=15000)
        page.fill("#token-input", again.url)
        page.click("#token-form button")
        _wait_saved(page)
        assert np.allclose(_disk(tiny_project, "mouse1", "img00.png")[0, 0], [10, 12], atol=0.6)
    page.close()


def _serve_on(config: Path, port: int) -> Iterator[AppServer]:
    server = AppServer(config, port=port).start()
    try:
        yield server
    finally:
        server.stop()
