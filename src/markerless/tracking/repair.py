"""Identity-swap repair: find frames where identities may have switched, swap two animals' tracks.

* :func:`suspicious_frames` lists the events worth a look: two animals closer than a fraction of their
  body size (``close``), or an animal's centre moving more than ``jump`` body sizes between two
  consecutive frames (``jump``).
* :func:`swap_identities` exchanges two individuals' poses over a range of frames (its own inverse).
* :func:`swap_in_prediction_file` does the same on a prediction ``.h5`` in place, atomically, and
  keeps a journal ``<prediction stem>_swaps.json`` beside it, so :func:`undo_swap` and
  :func:`redo_swap` can step through the applied swaps (a new swap clears the redo list).

The file is edited as a table: only the two individuals' cells in the swapped rows change, every
other cell keeps its value and dtype (``-1`` markers and float64 values of DeepLabCut's files
included), and the key, format, columns and markerless metadata stay, so every reader of
prediction files reads the result. The journal records a digest of the table it describes and a
pending entry while a write is in flight: if the file was changed by something else (analysed or
stitched again), undo and redo are refused with :class:`~markerless.errors.ConflictError` and a new
swap starts a fresh journal. A ``_filtered.h5`` beside the file is left alone and reported stale
(run ``markerless filter`` again).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from markerless.errors import ConfigError, ConflictError, LabelFileError
from markerless.io.atomic import atomic_path, write_text
from markerless.model.poses import Poses
from markerless.model.skeleton import UNIQUE_INDIVIDUAL
from markerless.project.prediction_files import filtered_path
from markerless.project.project import DEFAULT_PCUTOFF

PathLike = str | os.PathLike[str]

SWAPS_SUFFIX = "_swaps.json"
"""Suffix of the swap journal beside a prediction file: ``<prediction stem>_swaps.json``."""
CLOSE_FRACTION = 0.5
"""Two animals are close when their centres are nearer than this many body sizes."""
JUMP_SIZES = 1.0
"""A track jumps when its centre moves more than this many body sizes from where it was last seen."""
JUMP_GAP = 10
"""... when it was last seen at most this many frames earlier."""


@dataclass(frozen=True)
class Suspicion:
    """Frames ``start`` to ``stop`` (exclusive, frame numbers) where an identity switch may have happened.

    ``kind`` is ``close`` (two animals near each other) or ``jump`` (one track moved too far);
    ``peak`` is the frame of the smallest distance or of the jump; ``value`` that distance or the
    jump in body sizes.
    """

    kind: Literal["close", "jump"]
    start: int
    stop: int
    peak: int
    individuals: tuple[str, ...]
    value: float


@dataclass(frozen=True)
class Swap:
    """Two individuals exchanged from frame ``start`` to ``stop`` (exclusive; None = to the end)."""

    a: str
    b: str
    start: int
    stop: int | None = None
    time: float = 0.0


@dataclass
class SwapJournal:
    """The swaps applied to a prediction file (oldest first), those undone (most recent last), and
    derived files that the swaps made stale."""

    applied: list[Swap] = field(default_factory=list)
    undone: list[Swap] = field(default_factory=list)
    stale: list[Path] = field(default_factory=list)


# --- poses ---------------------------------------------------------------------------------------
def centroids(poses: Poses, pcutoff: float = DEFAULT_PCUTOFF) -> tuple[np.ndarray, np.ndarray]:
    """Each animal's centre per frame ``(frames, animals, 2)`` (NaN where no point is visible) and its
    body size ``(animals,)``: the median over frames of the diagonal of its visible points' box."""
    n = len(poses.layout.individuals)
    data = poses.data[:, :n][:, :, poses.layout.valid[0]]
    visible = np.isfinite(data[..., :2]).all(-1) & (data[..., 2] >= pcutoff)
    xy = np.where(visible[..., None], data[..., :2], np.nan)
    count = visible.sum(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames where an animal has no visible point
        centre = np.nanmean(xy, axis=2)
        diag = np.hypot(*(np.nanmax(xy, axis=2) - np.nanmin(xy, axis=2)).transpose(2, 0, 1))
        diag = np.where(count >= 2, diag, np.nan)
        size = np.nanmedian(diag, axis=0) if len(diag) else np.full(n, np.nan)
        fallback = np.nanmedian(size) if np.isfinite(size).any() else np.nan
    size = np.where(np.isfinite(size) & (size > 0), size, fallback)
    return centre, size


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(column, start row, stop row)`` of each run of True in each column of a 2D mask."""
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1]), dtype=np.int8)
    padded[1:-1] = mask
    change = np.diff(padded, axis=0).T  # column-major order pairs each start with its stop
    column, start = np.nonzero(change == 1)
    stop = np.nonzero(change == -1)[1]
    return column, start, stop


def _moved_since_seen(centre: np.ndarray, gap: int) -> np.ndarray:
    """``(frames, animals)`` distance of each centre from the same animal's centre in the last row it
    was seen, when that row is at most ``gap`` rows back (NaN otherwise, and where it is hidden)."""
    rows = np.arange(len(centre))[:, None]
    seen = np.isfinite(centre).all(-1)
    last = np.maximum.accumulate(np.where(seen, rows, -1), axis=0)
    previous = np.vstack([np.full((1, centre.shape[1]), -1), last[:-1]])  # last row seen before this one
    ok = seen & (previous >= 0) & (rows - previous <= gap)
    before = np.take_along_axis(centre, np.maximum(previous, 0)[..., None], axis=0)
    return np.where(ok, np.linalg.norm(centre - before, axis=-1), np.nan)


def suspicious_frames(
    poses: Poses,
    *,
    pcutoff: float = DEFAULT_PCUTOFF,
    close: float = CLOSE_FRACTION,
    jump: float = JUMP_SIZES,
    gap: int = JUMP_GAP,
) -> list[Suspicion]:
    """Events where an identity switch may have happened, sorted by frame.

    ``close``: two animals' centres nearer than ``close`` x their mean body size (one event per run
    of such frames, peak at the smallest distance); ``jump``: an animal's centre moving more than
    ``jump`` body sizes from where it was last seen, at most ``gap`` rows earlier (a track that
    reappears elsewhere after a short occlusion counts). Points under ``pcutoff`` do not count.
    """
    names = poses.layout.individuals
    centre, size = centroids(poses, pcutoff)
    frames = poses.frames
    events: list[Suspicion] = []
    first, second = np.triu_indices(len(names), k=1)
    if len(first) and len(frames):
        dist = np.linalg.norm(centre[:, first] - centre[:, second], axis=-1)
        ratio = dist / ((size[first] + size[second]) / 2)
        col, start, stop = _runs(np.nan_to_num(ratio, nan=np.inf) < close)
        for c, s, e in zip(col, start, stop, strict=True):
            peak = s + int(np.argmin(ratio[s:e, c]))
            pair = (names[first[c]], names[second[c]])
            events.append(
                Suspicion(
                    "close", int(frames[s]), int(frames[e - 1]) + 1, int(frames[peak]), pair, float(ratio[peak, c])
                )
            )
    if len(frames) > 1:
        moved = _moved_since_seen(centre, gap) / size
        rows, animals = np.nonzero(np.nan_to_num(moved, nan=0.0) > jump)
        for r, a in zip(rows, animals, strict=True):
            events.append(
                Suspicion("jump", int(frames[r]), int(frames[r]) + 1, int(frames[r]), (names[a],), float(moved[r, a]))
            )
    return sorted(events, key=lambda e: (e.start, e.kind, e.individuals))


def _individual(names: tuple[str, ...] | list[str], who: int | str, where: str) -> int:
    """Position of an animal given by name or position; the pseudo-individual is refused."""
    if isinstance(who, (int, np.integer)) and not isinstance(who, bool):
        if 0 <= who < len(names):
            return int(who)
    elif str(who) in names:
        return list(names).index(str(who))
    hint = (
        "the pseudo-individual 'single' holds unique body parts and cannot be swapped; "
        if who == UNIQUE_INDIVIDUAL
        else ""
    )
    raise ConfigError(f"{where} has no animal {who!r}; {hint}choose one of {list(names)}.")


def _check_range(start: int, stop: int | None, where: str) -> None:
    if start < 0 or (stop is not None and stop <= start):
        raise ConfigError(f"{where}: cannot swap frames {start} to {stop}; give 0 <= start < stop (stop is exclusive).")


def swap_identities(poses: Poses, a: int | str, b: int | str, start: int, stop: int | None = None) -> Poses:
    """A copy of ``poses`` with animals ``a`` and ``b`` (names or positions) exchanged in the frames
    numbered ``start`` to ``stop`` (exclusive; None = to the end). Applying it twice restores ``poses``."""
    where = poses.source or "the poses"
    names = poses.layout.individuals
    i, j = _individual(names, a, where), _individual(names, b, where)
    if i == j:
        raise ConfigError(f"{where}: swap two different animals (got {names[i]!r} twice).")
    _check_range(start, stop, where)
    rows = (poses.frames >= start) & (poses.frames < (np.iinfo(np.int64).max if stop is None else stop))
    data = poses.data.copy()
    data[rows, i], data[rows, j] = poses.data[rows, j], poses.data[rows, i]
    return poses.with_data(data)


# --- prediction files -----------------------------------------------------------------------------
def journal_path(prediction: PathLike) -> Path:
    """The swap journal of a prediction file: ``<its stem>_swaps.json`` beside it."""
    prediction = Path(prediction)
    return prediction.with_name(f"{prediction.stem}{SWAPS_SUFFIX}")


def _read_table(path: Path) -> tuple[pd.DataFrame, str, str]:
    """The prediction table of an ``.h5`` file, its key and its pandas format (``table`` or ``fixed``)."""
    if path.suffix.lower() != ".h5" or not path.is_file():
        raise LabelFileError(
            f"{path} is not a prediction .h5 file; swaps edit the .h5 written by `markerless analyze`."
        )
    try:
        with pd.HDFStore(path, mode="r") as store:
            keys = store.keys()
            if len(keys) != 1:
                raise LabelFileError(f"{path} holds {len(keys)} tables ({keys}); expected one prediction table.")
            fmt = "table" if store.get_storer(keys[0]).is_table else "fixed"
            df = store.get(keys[0])
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise LabelFileError(f"{path} cannot be read as a prediction table ({err}); analyse the video again.") from None
    if not isinstance(df.columns, pd.MultiIndex) or df.columns.nlevels != 4:
        raise LabelFileError(f"{path} is not a multi-animal prediction table (no individuals column level).")
    return df, keys[0].lstrip("/"), fmt


def _digest(df: pd.DataFrame) -> str:
    values = np.ascontiguousarray(df.to_numpy())
    return hashlib.sha256(values.tobytes() + repr(df.shape).encode()).hexdigest()


def _swapped_table(df: pd.DataFrame, swap: Swap, where: Path) -> pd.DataFrame:
    """``df`` with the two individuals' columns exchanged in the swap's rows; other cells untouched."""
    columns = df.columns
    level = columns.get_level_values(1)
    names = [n for n in dict.fromkeys(map(str, level)) if n != UNIQUE_INDIVIDUAL]
    a, b = (names[_individual(names, who, str(where))] for who in (swap.a, swap.b))
    if a == b:
        raise ConfigError(f"{where}: swap two different animals (got {a!r} twice).")
    _check_range(swap.start, swap.stop, str(where))
    cols_a = np.nonzero(np.asarray(level == a))[0]
    partner = [(key[0], b, key[2], key[3]) for key in columns[cols_a]]
    cols_b = columns.get_indexer(pd.MultiIndex.from_tuples(partner))
    if (cols_b < 0).any() or len(cols_b) != int((level == b).sum()):
        raise LabelFileError(f"{where}: {a!r} and {b!r} have different body parts; they cannot be swapped.")
    frames = np.asarray(df.index, dtype=np.int64)
    rows = np.nonzero((frames >= swap.start) & (frames < (np.iinfo(np.int64).max if swap.stop is None else swap.stop)))[
        0
    ]
    values = df.to_numpy(copy=True)
    block = np.ix_(rows, cols_a), np.ix_(rows, cols_b)
    values[block[0]], values[block[1]] = df.to_numpy()[block[1]], df.to_numpy()[block[0]]
    return pd.DataFrame(values, index=df.index, columns=columns).astype(df.dtypes.to_dict())


def _write_table(path: Path, df: pd.DataFrame, key: str, fmt: str) -> None:
    """Replace the table of ``path`` atomically, keeping its other HDF5 nodes (markerless metadata)."""
    import tables

    with atomic_path(path) as tmp:
        df.to_hdf(tmp, key=key, mode="w", format=fmt)
        with tables.open_file(path, mode="r") as src, tables.open_file(tmp, mode="a") as dst:
            for node in src.root._f_iter_nodes():
                if node._v_name not in dst.root:
                    node._f_copy(newparent=dst.root, recursive=True)


def _load_journal(path: Path, digest: str) -> tuple[dict[str, Any], bool]:
    """The journal of ``path`` brought up to date with the file (a pending write that landed is
    committed, one that did not is dropped), and whether it describes the file's current table."""
    jpath = journal_path(path)
    empty: dict[str, Any] = {"file": path.name, "digest": digest, "applied": [], "undone": []}
    if not jpath.is_file():
        return empty, True
    try:
        journal = json.loads(jpath.read_text(encoding="utf-8"))
        pending = journal.pop("pending", None)
        if pending is not None and pending["digest"] == digest:
            journal["applied"], journal["undone"] = pending["applied"], pending["undone"]
            journal["digest"] = digest
        return journal, journal.get("digest") == digest
    except (OSError, ValueError, KeyError, TypeError):
        return empty, False


def _journal_of(journal: dict[str, Any], path: Path) -> SwapJournal:
    stale = [p for p in (filtered_path(path),) if p.is_file()]
    return SwapJournal([Swap(**s) for s in journal["applied"]], [Swap(**s) for s in journal["undone"]], stale)


def swap_history(path: PathLike) -> SwapJournal:
    """The swaps applied to a prediction file and those undone (empty when the file changed since)."""
    path = Path(path)
    df, _, _ = _read_table(path)
    journal, current = _load_journal(path, _digest(df))
    return _journal_of(journal if current else {"applied": [], "undone": []}, path)


def _apply(path: Path, swap: Swap, before: dict[str, Any], after: dict[str, Any]) -> SwapJournal:
    """Write the swapped table; the journal goes from ``before`` (its ``applied`` / ``undone``) to ``after``.

    The journal is written first with the new state pending (and the digest it will have), so a crash
    between the two writes leaves a journal that :func:`_load_journal` resolves either way.
    """
    df, key, fmt = _read_table(path)
    new = _swapped_table(df, swap, path)
    state = {"applied": after["applied"], "undone": after["undone"]}
    jpath = journal_path(path)
    start = {"file": path.name, "digest": _digest(df), "applied": before["applied"], "undone": before["undone"]}
    write_text(jpath, json.dumps({**start, "pending": {"digest": _digest(new), **state}}, indent=1))
    _write_table(path, new, key, fmt)
    write_text(jpath, json.dumps({"file": path.name, "digest": _digest(new), **state}, indent=1))
    result = _journal_of(state, path)
    if result.stale:
        warnings.warn(
            f"{result.stale[0]} was made before this swap and is now stale; run `markerless filter` again.",
            stacklevel=3,
        )
    return result


def swap_in_prediction_file(
    path: PathLike, a: int | str, b: int | str, start: int, stop: int | None = None
) -> SwapJournal:
    """Exchange animals ``a`` and ``b`` (names or positions) from frame ``start`` to ``stop``
    (exclusive; None = to the end) in a multi-animal prediction ``.h5``, atomically; the swap is
    journalled beside the file for :func:`undo_swap`. Returns the journal (with stale derived files)."""
    path = Path(path)
    df, _, _ = _read_table(path)
    names = [n for n in dict.fromkeys(map(str, df.columns.get_level_values(1))) if n != UNIQUE_INDIVIDUAL]
    swap = Swap(
        names[_individual(names, a, str(path))],
        names[_individual(names, b, str(path))],
        int(start),
        None if stop is None else int(stop),
        time.time(),
    )
    journal, current = _load_journal(path, _digest(df))
    before = journal if current else {"applied": [], "undone": []}
    return _apply(path, swap, before, {"applied": [*before["applied"], asdict(swap)], "undone": []})


def _step(path: PathLike, undo: bool) -> SwapJournal:
    path = Path(path)
    df, _, _ = _read_table(path)
    journal, current = _load_journal(path, _digest(df))
    what = "undo" if undo else "redo"
    if not current:
        raise ConflictError(
            f"{path} changed since its last swap (analysed or stitched again?), so there is nothing to {what}; "
            f"delete {journal_path(path).name} to start a new history."
        )
    applied, undone = list(journal["applied"]), list(journal["undone"])
    source, target = (applied, undone) if undo else (undone, applied)
    if not source:
        raise ConflictError(f"{path}: no swap to {what}.")
    entry = source.pop()
    target.append(entry)
    return _apply(path, Swap(**entry), journal, {"applied": applied, "undone": undone})


def undo_swap(path: PathLike) -> SwapJournal:
    """Undo the last swap applied to a prediction file (a swap is its own inverse)."""
    return _step(path, undo=True)


def redo_swap(path: PathLike) -> SwapJournal:
    """Apply again the swap undone last."""
    return _step(path, undo=False)


__all__ = [
    "CLOSE_FRACTION",
    "JUMP_GAP",
    "JUMP_SIZES",
    "SWAPS_SUFFIX",
    "Suspicion",
    "Swap",
    "SwapJournal",
    "centroids",
    "journal_path",
    "redo_swap",
    "suspicious_frames",
    "swap_history",
    "swap_identities",
    "swap_in_prediction_file",
    "undo_swap",
]
