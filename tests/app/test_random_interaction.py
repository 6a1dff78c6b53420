"""A seeded random labelling session in a real browser, checked against a model of what the user did.

Several hundred clicks, drags (some off the image), deletes, occlusion toggles, undos, body-part,
individual and frame switches, page reloads and edits from a second tab run on a multi-animal
project whose label file also holds a body part the config does not name. Afterwards the labels on
disk equal the model, and no cell the user did not edit differs from the original file.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest

from markerless.app.server import AppServer

pytestmark = pytest.mark.browser

SEED = 15
N_ACTIONS = 260
HIT = 9  # the page's grab radius in screen pixels


def _project(tmp_path: Path) -> tuple[Path, Path]:
    """A three-animal synthetic project; its label file gets an extra body part ``tail`` the config lacks."""
    from markerless.synthetic import make_synthetic_project

    config = make_synthetic_project(tmp_path, n_animals=3, n_frames=20, n_labelled=5, size=(240, 180), seed=4)
    h5 = next((config.parent / "labeled-data").glob("*/CollectedData_synth.h5"))
    with pd.HDFStore(h5, mode="r") as store:
        key = store.keys()[0]
        fmt = "table" if store.get_storer(key).is_table else "fixed"
        df = store.get(key)
    rng = np.random.default_rng(0)
    for ind in ("individual1", "individual2"):
        for c in ("x", "y"):
            df[("synth", ind, "tail", c)] = rng.uniform(5, 150, len(df))
    h5.unlink()
    df.to_hdf(h5, key=key, format=fmt)
    df.to_csv(h5.with_suffix(".csv"))
    return config, h5


class Model:
    """What the user did, as the user sees it: labels per frame, the current frame's undo history,
    and whether the first tab's frame was changed by the second tab since it was loaded."""

    def __init__(self, xy: dict[str, np.ndarray], occ: dict[str, np.ndarray]) -> None:
        self.xy, self.occ = xy, occ
        self.undo: list[tuple[np.ndarray, np.ndarray]] = []
        self.stale = False
        self.edited: set[tuple[str, int, int]] = set()

    def edit(self, frame: str, change) -> bool:
        """Apply ``change(xy, occ)`` to ``frame`` as the first tab would; False when refused as stale."""
        if self.stale:  # refused (409): the frame reloads with what is on disk, its history is gone
            self.reload()
            return False
        self.undo.append((self.xy[frame].copy(), self.occ[frame].copy()))
        before = self.xy[frame].copy(), self.occ[frame].copy()
        change(self.xy[frame], self.occ[frame])
        self._mark(frame, before)
        return True

    def undo_last(self, frame: str) -> None:
        if not self.undo:
            return
        if self.stale:
            self.reload()
            return
        before = self.xy[frame].copy(), self.occ[frame].copy()
        self.xy[frame], self.occ[frame] = self.undo.pop()
        self._mark(frame, before)

    def _mark(self, frame: str, before: tuple[np.ndarray, np.ndarray]) -> None:
        xy, occ = before
        diff = ~(np.isclose(xy, self.xy[frame], atol=0, rtol=0) | (np.isnan(xy) & np.isnan(self.xy[frame]))).all(-1)
        for i, k in zip(*np.nonzero(diff | (occ != self.occ[frame])), strict=True):
            self.edited.add((frame, int(i), int(k)))

    def reload(self) -> None:
        self.undo = []
        self.stale = False


def _serve(config: Path) -> Iterator[AppServer]:
    server = AppServer(config, port=0).start()
    try:
        yield server
    finally:
        server.stop()


def _idle(page) -> None:
    page.wait_for_function(
        "state.pending === 0 && !state.loading && state.frame && state.frame.name === state.current", timeout=15000
    )


class Session:
    """Drives the first tab (and sometimes a second one) and keeps the model in step."""

    ACTIONS: ClassVar[dict[str, int]] = {
        "place": 30, "drag": 22, "delete": 10, "occlude": 5, "undo": 10,
        "part": 8, "individual": 5, "frame": 6, "reload": 2, "second": 3,
    }  # fmt: skip

    def __init__(
        self, page, second, url: str, video: str, names: list[str], model: Model, valid: np.ndarray, seed: int
    ) -> None:
        self.page, self.second_page, self.url, self.video, self.names = page, second, url, video, names
        self.model, self.valid = model, valid
        self.rng = random.Random(seed)
        self.scales: set[float] = set()
        self.counts: dict[str, int] = {}
        self.w, self.h = page.evaluate("[state.image.naturalWidth, state.image.naturalHeight]")

    def _look(self, page) -> dict:
        """What the user sees: frame, selection, and where the image is on the page."""
        box = page.locator("#canvas").bounding_box()
        seen = page.evaluate(
            "({frame: state.frame.name, ind: state.ind, kp: state.kp, v: [state.view.scale, state.view.ox, state.view.oy]})"
        )
        scale, ox, oy = seen["v"]
        self.scales.add(scale)
        seen["scale"] = scale
        seen["to_page"] = lambda x, y: (box["x"] + ox + (x + 0.5) * scale, box["y"] + oy + (y + 0.5) * scale)
        return seen

    def _placed(self, frame: str) -> list[tuple[int, int]]:
        ok = np.isfinite(self.model.xy[frame]).all(-1) & self.valid
        return [(int(i), int(k)) for i, k in zip(*np.nonzero(ok), strict=True)]

    def _free_spot(self, frame: str, scale: float) -> tuple[float, float] | None:
        """A spot on the image farther than the grab radius from every point."""
        xy = self.model.xy[frame]
        for _ in range(30):
            x, y = self.rng.uniform(1, self.w - 2), self.rng.uniform(1, self.h - 2)
            if all(math.dist((x, y), xy[i, k]) * scale > HIT + 2 for i, k in self._placed(frame)):
                return x, y
        return None

    def step(self) -> None:
        action = self.rng.choices(list(self.ACTIONS), list(self.ACTIONS.values()))[0]
        self.counts[action] = self.counts.get(action, 0) + 1
        seen = self._look(self.page)
        getattr(self, action)(seen)
        _idle(self.page)

    def place(self, seen: dict) -> None:
        spot = self._free_spot(seen["frame"], seen["scale"])
        if spot is None:
            return
        self.page.mouse.click(*seen["to_page"](*spot))

        def put(pts, occ, i=seen["ind"], k=seen["kp"]):
            pts[i, k] = spot
            occ[i, k] = False

        self.model.edit(seen["frame"], put)

    def drag(self, seen: dict) -> None:
        frame, scale = seen["frame"], seen["scale"]
        xy, placed = self.model.xy[frame], self._placed(frame)
        if not placed:
            return
        i, k = self.rng.choice(placed)
        if any(math.dist(xy[i, k], xy[j, m]) * scale < 3 for j, m in placed if (j, m) != (i, k)):
            return
        if self.rng.random() < 0.15:  # off the image: the point stops at the edge
            tx, ty = self.rng.choice(
                [(-15.0, self.rng.uniform(0, self.h)), (self.w + 15.0, self.rng.uniform(0, self.h))]
            )
        else:
            tx, ty = self.rng.uniform(1, self.w - 2), self.rng.uniform(1, self.h - 2)
        if math.dist((tx, ty), xy[i, k]) * scale < 8:
            return
        self.page.mouse.move(*seen["to_page"](*xy[i, k]))
        self.page.mouse.down()
        self.page.mouse.move(*seen["to_page"](tx, ty), steps=3)
        self.page.mouse.up()
        end = (min(max(tx, -0.5), self.w - 0.5), min(max(ty, -0.5), self.h - 0.5))

        def move(pts, occ):
            pts[i, k] = end

        self.model.edit(frame, move)

    def delete(self, seen: dict) -> None:
        self.page.keyboard.press(self.rng.choice(["Delete", "Backspace"]))
        i, k = seen["ind"], seen["kp"]
        if np.isfinite(self.model.xy[seen["frame"]][i, k]).all():

            def remove(pts, occ):
                pts[i, k] = np.nan
                occ[i, k] = False

            self.model.edit(seen["frame"], remove)

    def occlude(self, seen: dict) -> None:
        self.page.keyboard.press("o")
        i, k = seen["ind"], seen["kp"]
        if np.isfinite(self.model.xy[seen["frame"]][i, k]).all():

            def toggle(pts, occ):
                occ[i, k] = not occ[i, k]

            self.model.edit(seen["frame"], toggle)

    def undo(self, seen: dict) -> None:
        self.page.keyboard.press(self.rng.choice(["u", "Control+z"]))
        self.model.undo_last(seen["frame"])

    def part(self, seen: dict) -> None:
        key = self.rng.choice(["ArrowDown", "ArrowUp", "Tab", "click"])
        if key == "click":
            items = self.page.locator("#parts li")
            items.nth(self.rng.randrange(items.count())).click()
        else:
            self.page.keyboard.press(key)

    def individual(self, seen: dict) -> None:
        if self.rng.random() < 0.5 or self.valid.shape[0] == 1:  # single animal: no picker
            self.page.keyboard.press("i")
        else:
            self.page.select_option("#individual", str(self.rng.randrange(self.valid.shape[0])))

    def frame(self, seen: dict) -> None:
        how = self.rng.choice(["ArrowRight", "ArrowLeft", "click"])
        if how == "click":
            target = self.rng.randrange(len(self.names))
            self.page.locator("#frames li").nth(target).click()
        else:
            self.page.keyboard.press(how)
            target = self.names.index(seen["frame"]) + (1 if how == "ArrowRight" else -1)
        if 0 <= target < len(self.names):
            self.model.reload()

    def reload(self, seen: dict) -> None:
        self.page.reload()
        self.model.reload()

    def second(self, seen: dict) -> None:
        """Another tab places a point on some frame, maybe the one the first tab shows."""
        target = self.rng.choice(self.names)
        self.second_page.goto(f"{self.url}#{self.video}/{quote(target)}")
        _idle(self.second_page)
        other = self._look(self.second_page)
        spot = self._free_spot(target, other["scale"])
        if spot is None:
            return
        self.second_page.mouse.click(*other["to_page"](*spot))
        _idle(self.second_page)
        before = self.model.xy[target].copy(), self.model.occ[target].copy()
        self.model.xy[target][other["ind"], other["kp"]] = spot
        self.model.occ[target][other["ind"], other["kp"]] = False
        self.model._mark(target, before)
        if target == seen["frame"]:
            self.model.stale = True


def _check_disk(project, video: str, names: list[str], model: Model, tol: float) -> None:
    """The labels on disk are what the user did."""
    valid = project.layout.valid
    after = project.load_labels(video)
    for n in names:
        got = after.select([f"labeled-data/{video}/{n}"])
        want, gxy = np.where(valid[..., None], model.xy[n], np.nan), got.xy[0]
        assert (np.isnan(gxy) == np.isnan(want)).all(), n
        assert np.allclose(np.nan_to_num(gxy), np.nan_to_num(want), atol=tol), (n, np.abs(gxy - want).max())
        assert (got.occluded[0] & got.labelled[0] == model.occ[n] & np.isfinite(model.xy[n]).all(-1)).all(), n


def _check_unedited(project, original: pd.DataFrame, final: pd.DataFrame, model: Model) -> None:
    """Every cell the user did not edit is exactly as it was, columns the config lacks too."""
    assert list(final.columns) == list(original.columns) and list(final.index) == list(original.index)
    ind_names, kp_names = project.layout.individual_names, project.layout.keypoint_names
    edited = {(r, ind_names[i], kp_names[k]) for r, i, k in model.edited}
    for col in original.columns:
        for r in original.index:
            name = r[-1] if isinstance(r, tuple) else str(r).rsplit("/", 1)[-1]
            cell = (name, col[1], col[2]) if len(col) == 4 else (name, ind_names[0], col[1])
            if cell in edited:
                continue
            a, b = original.loc[r, col], final.loc[r, col]
            assert (np.isnan(a) and np.isnan(b)) or a == b, (r, col, a, b)


def _session(browser, config: Path, video: str, n_actions: int, seed: int) -> tuple[Model, Session]:
    """Run a random session on one folder of ``config``'s project and check the disk against the model."""
    from markerless.project.project import Project

    project = Project.load(config)
    h5 = project.label_file(video)
    original = pd.read_hdf(h5) if h5.is_file() else None
    labels = project.load_labels(video)
    row = {p.rsplit("/", 1)[-1]: i for i, p in enumerate(labels.images)}
    empty = np.full((*project.layout.shape, 2), np.nan)
    for server in _serve(config):
        page = browser.new_page(viewport={"width": 1200, "height": 700})
        page.goto(f"{server.url}#{quote(video)}/")
        _idle(page)
        names = page.evaluate("state.frames.map((f) => f.name)")
        assert page.evaluate("state.video") == video and names
        xy = {n: labels.xy[row[n]].copy() if n in row else empty.copy() for n in names}
        occ = {n: labels.occluded[row[n]].copy() if n in row else np.zeros(empty.shape[:2], bool) for n in names}
        model = Model(xy, occ)
        second = browser.new_page(viewport={"width": 1000, "height": 600})
        session = Session(page, second, server.url, quote(video), names, model, project.layout.valid, seed)
        for _ in range(n_actions):
            session.step()
        page.close()
        second.close()
    # a mouse position is a whole screen pixel: one of them in image pixels is the tolerance
    _check_disk(project, video, names, model, 1.0 / min(session.scales) + 1e-6)
    if original is not None:
        _check_unedited(project, original, pd.read_hdf(h5), model)
    return model, session


def test_random_session_matches_the_model(browser, tmp_path: Path) -> None:
    config, h5 = _project(tmp_path)
    model, session = _session(browser, config, h5.parent.name, N_ACTIONS, SEED)
    counts = session.counts
    assert len(model.edited) > 30 and counts.get("second", 0) > 3 and counts.get("undo", 0) > 10, counts


@pytest.mark.parametrize("which", ["openfield", "odd names"])
def test_short_random_sessions_on_other_projects(browser, which: str, tmp_path: Path, request) -> None:
    """The same check, shorter, on openfield and on a project with spaces and non-ASCII letters in its names."""
    import shutil

    if which == "openfield":
        root = tmp_path / "openfield"
        shutil.copytree(
            request.getfixturevalue("openfield_project"), root, ignore=shutil.ignore_patterns("*.mp4", "*.avi")
        )
        config, video = root / "config.yaml", "m4s1"
    else:
        config, video = request.getfixturevalue("odd_project"), "Maus_ü1"
    model, _ = _session(browser, config, video, 70, SEED + 1)
    assert len(model.edited) > 5
