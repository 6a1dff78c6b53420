"""DeepLabCut files: project ``config.yaml``, ``CollectedData_<scorer>`` labels and prediction tables.

Files we write look like DeepLabCut's (and plain ``pandas.read_hdf`` reads them); files DeepLabCut,
napari-deeplabcut or older DeepLabCut versions wrote are read whatever their HDF key, row-index form
or CSV header layout.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from ruamel.yaml import YAML, CommentedMap
from ruamel.yaml.error import YAMLError as RuamelYAMLError

from markerless.errors import ConfigError, LabelFileError
from markerless.io.atomic import atomic_path, write_text
from markerless.model.labels import Labels, image_key
from markerless.model.poses import Poses
from markerless.model.skeleton import PoseLayout
from markerless.model.tables import MULTI_ANIMAL_LEVELS, SINGLE_ANIMAL_LEVELS, table_scorer

#: HDF key DeepLabCut writes labels and per-frame predictions under.
LABELS_KEY = "df_with_missing"
#: HDF key of multi-animal tracks files (``<video><scorer>_el.h5``).
TRACKS_KEY = "tracks"
#: Keys preferred, in order, when an HDF file holds more than one table.
_KNOWN_KEYS = (LABELS_KEY, TRACKS_KEY, "keypoints")
#: Stem endings of tracks files (ellipse, box, skeleton trackers).
_TRACKS_ENDINGS = ("_el", "_bx", "_sk")
#: Endings of prediction-file stems that mark derived files (filtered, tracks, skeleton).
_DERIVED_ENDINGS = ("_filtered", "_eks", "_el", "_bx", "_sk", "_skeleton", "_full", "_meta", "_assemblies")
_LEVEL_NAMES = {"scorer", "individuals", "bodyparts", "coords"}
_META_NODE = "markerless_meta"

PathLike = str | os.PathLike[str]


# --- config.yaml -------------------------------------------------------------------------------
def read_config(path: PathLike) -> dict[str, Any]:
    """The mapping stored in a YAML config file, keys in file order."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist; pass the path of the project's config.yaml.")
    try:
        with path.open(encoding="utf-8") as handle:
            cfg = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"Cannot read config file {path}: {err}.") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"Config file {path} is not valid YAML ({err}). Fix the line named above.") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"Config file {path} does not hold a key: value mapping; is it a project config.yaml?")
    return cfg


#: Section comments DeepLabCut writes above these keys of a project config.yaml.
_SECTION_COMMENTS = {
    "Task": "# Project definitions (do not edit)",
    "project_path": "# Project path (change when moving around)",
    "engine": "# Default DeepLabCut engine to use for shuffle creation (either pytorch or tensorflow)",
    "video_sets": "# Annotation data set configuration (and individual video cropping parameters)",
    "start": "# Fraction of video to start/stop when extracting frames for labeling/refinement",
    "skeleton": "# Plotting configuration",
    "TrainingFraction": "# Training,Evaluation and Analysis configuration",
    "cropping": "# Cropping Parameters (for analysis and outlier frame detection)",
    "corner2move2": "# Refinement configuration (parameters from annotation dataset configuration also relevant in this stage)",
}


def write_config(cfg: dict[str, Any], path: PathLike) -> None:
    """Write a config mapping as YAML (keys in the given order), atomically.

    An existing file keeps its comments and untouched lines: only the top-level keys whose values
    change are rewritten. A new project config (with a ``Task`` key) gets DeepLabCut's section comments.
    """
    edited = _edit_config_text(Path(path), _plain(cfg))
    if edited is not None:
        write_text(path, edited)
        return
    text = _dump(cfg)
    if "Task" in cfg:
        lines: list[str] = []
        for line in text.splitlines():
            key = line.split(":", 1)[0] if line[:1].isalpha() else None
            if key in _SECTION_COMMENTS:
                lines += (["", ""] if lines else []) + [_SECTION_COMMENTS[key]]
            lines.append(line)
        text = "\n".join(lines) + "\n"
    write_text(path, text)


def _dump(cfg: dict[str, Any]) -> str:
    return yaml.safe_dump(_plain(cfg), sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


def _edit_config_text(path: Path, cfg: dict[str, Any]) -> str | None:
    """The text of the existing YAML file at ``path`` with only the top-level keys that differ from ``cfg``
    changed (ruamel's round trip keeps comments, order and layout); None when there is no such file or it
    is not a mapping (then the whole file is written anew)."""
    editor = YAML()  # round trip
    editor.width = 1000
    try:
        doc = editor.load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RuamelYAMLError):
        return None
    if not isinstance(doc, CommentedMap):
        return None
    for key in [k for k in doc if k not in cfg]:
        del doc[key]
    for key, value in cfg.items():
        if key not in doc or doc[key] != value:
            doc[key] = value
    out = io.StringIO()
    editor.dump(doc, out)
    edited = out.getvalue()
    return edited if yaml.safe_load(edited) == cfg else None


def _plain(value: Any) -> Any:
    """Plain YAML-safe Python values (paths -> str, tuples -> lists, NumPy scalars -> Python)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return value


# --- tables --------------------------------------------------------------------------------------
def read_table(path: PathLike) -> pd.DataFrame:
    """A DeepLabCut table from ``.h5`` (any single key) or ``.csv`` (either header/index form)."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"File {path} does not exist.")
    if path.suffix.lower() == ".csv":
        return _read_csv_table(path)
    if path.suffix.lower() in {".h5", ".hdf", ".hdf5"}:
        try:
            return _read_hdf_table(path)
        except LabelFileError as err:
            beside = path.with_suffix(".csv")
            if not beside.is_file():
                raise
            warnings.warn(f"{err} Using {beside.name} beside it instead.", stacklevel=2)
            return _read_csv_table(beside)
    raise LabelFileError(f"File {path} is neither a DeepLabCut .h5 nor a .csv table.")


def _read_hdf_table(path: Path) -> pd.DataFrame:
    return _read_hdf(path)[0]


def _read_hdf(path: Path) -> tuple[pd.DataFrame, str, str]:
    """The table of an HDF5 file with its key and storage format (``"fixed"`` or ``"table"``)."""
    import tables

    tables.silence_hdf5_messages()  # a damaged file raises below; HDF5's own C back trace is noise
    try:
        with pd.HDFStore(path, mode="r") as store:
            keys = [k.lstrip("/") for k in store]
            if not keys:
                raise LabelFileError(
                    f"HDF5 file {path} holds no pandas table; is it a DeepLabCut label or prediction file?"
                )
            key = keys[0] if len(keys) == 1 else next((k for k in _KNOWN_KEYS if k in keys), None)
            if key is None:
                raise LabelFileError(
                    f"HDF5 file {path} holds several tables {keys}; expected one (e.g. {LABELS_KEY!r})."
                )
            df = store.get(key)
            fmt = "table" if store.get_storer(key).is_table else "fixed"
    except LabelFileError:
        raise
    except Exception as err:  # PyTables/HDF5 raise many types for damaged or foreign files
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else ""  # HDF5 puts its summary last
        raise LabelFileError(
            f"Cannot read {path} as a pandas HDF5 table ({type(err).__name__}: {reason}); "
            "restore it from a backup or delete it."
        ) from None
    if not isinstance(df, pd.DataFrame):
        raise LabelFileError(f"{path} holds a {type(df).__name__}, not a DeepLabCut table.")
    _check_columns(df, path)
    return df, key, fmt


def _read_csv_table(path: Path) -> pd.DataFrame:
    """Parse a DeepLabCut CSV by hand: pandas' header sniffing mistakes all-empty first rows for index names."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise LabelFileError(f"Cannot read {path} as CSV: {err}.") from None
    n_header = 0
    while n_header < len(rows) and rows[n_header] and rows[n_header][0] in _LEVEL_NAMES:
        n_header += 1
    if n_header < 3 or rows[n_header - 1][0] != "coords":
        raise LabelFileError(
            f"{path} does not start with DeepLabCut's header rows (scorer, [individuals,] bodyparts, coords)."
        )
    header = rows[:n_header]
    n_index = 1
    while n_index < len(header[0]) and header[0][n_index] == "":
        n_index += 1
    if n_index >= len(header[0]):
        raise LabelFileError(f"{path} has no data columns.")
    width = len(header[0])
    body = rows[n_header:]
    # a row of index names (pandas writes one when the index is named) has no values
    if body and all(c == "" for c in body[0][n_index:]) and body[0][0] in ("", "index", "frame", "frame_index"):
        body = body[1:]
    if any(len(r) != width for r in body if r):
        bad = next(i for i, r in enumerate(body) if r and len(r) != width)
        raise LabelFileError(f"{path}: row {bad + n_header + 1} has a different number of cells than the header.")
    body = [r for r in body if r]
    cells = np.array(body, dtype=object).reshape(len(body), width)
    names = [h[0] for h in header]
    if names[-1] != "coords":
        raise LabelFileError(f"{path}: header rows {names} do not end with 'coords'.")
    columns = pd.MultiIndex.from_arrays([h[n_index:] for h in header], names=names)
    raw = cells[:, n_index:].astype(str)
    try:
        values = np.where(raw == "", "nan", raw).astype(np.float64)
    except ValueError:
        number = np.vectorize(_is_number, otypes=[bool])(raw)
        row, col = (int(v[0]) for v in np.nonzero(~number & (raw != "")))
        what = "/".join(h[n_index + col] for h in header[1:])
        raise LabelFileError(
            f"{path}: row {row + n_header + 1}, column {n_index + col + 1} ({what}) holds {str(raw[row, col])!r}, "
            "not a number; correct it or leave the cell empty."
        ) from None
    if n_index == 1:
        index: pd.Index = pd.Index(cells[:, 0].astype(str).tolist(), dtype=object)
    else:
        index = pd.MultiIndex.from_arrays([cells[:, i].astype(str).tolist() for i in range(n_index)])
    df = pd.DataFrame(values, index=index, columns=columns)
    _check_columns(df, path)
    return df


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_columns(df: pd.DataFrame, path: Path) -> None:
    cols = df.columns
    if not isinstance(cols, pd.MultiIndex) or cols.nlevels not in (3, 4):
        raise LabelFileError(
            f"{path} does not have DeepLabCut's column levels {list(SINGLE_ANIMAL_LEVELS)} "
            f"or {list(MULTI_ANIMAL_LEVELS)}; is it a DeepLabCut label or prediction file?"
        )


def _write_table(
    df: pd.DataFrame,
    h5_path: Path | None,
    csv_path: Path | None,
    key: str,
    fmt: str,
    meta: dict[str, Any] | None = None,
) -> None:
    """Write the CSV first and the HDF5 file last (its presence means the result is complete)."""
    if csv_path is not None:
        with atomic_path(csv_path) as tmp:
            df.to_csv(tmp)
    if h5_path is not None:
        with atomic_path(h5_path) as tmp:
            df.to_hdf(tmp, key=key, mode="w", format=fmt)
            if meta:
                _write_meta(tmp, meta)


def _write_meta(path: Path, meta: dict[str, Any]) -> None:
    """Keep ``meta`` as JSON bytes in a plain PyTables array, which pandas' readers do not see."""
    import tables

    payload = np.frombuffer(json.dumps(meta, default=str).encode("utf-8"), dtype=np.uint8)
    with tables.open_file(path, mode="a") as handle:
        handle.create_carray(
            "/", _META_NODE, obj=payload, filters=tables.Filters(complevel=5, complib="zlib") if payload.size else None
        )


def _object_levels(index: pd.Index) -> pd.Index:
    """Index with object-dtype string levels, as DeepLabCut's own files have."""
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_arrays(
            [np.asarray(index.get_level_values(i), dtype=object) for i in range(index.nlevels)], names=index.names
        )
    return pd.Index(np.asarray(index, dtype=object), name=index.name)


# --- labels ------------------------------------------------------------------------------------
def occlusion_path(label_path: PathLike, scorer: str) -> Path:
    """Where the occlusion flags of a ``CollectedData`` file live (``occluded_<scorer>.json`` beside it)."""
    return Path(label_path).with_name(f"occluded_{scorer}.json")


def _normalise_image(path: str, folder: str) -> str:
    """Project-relative ``labeled-data/<video>/<image>`` path from any row-index form."""
    parts = [p for p in image_key(path).split("/") if p not in ("", ".")]
    if "labeled-data" in parts:
        start = len(parts) - 1 - parts[::-1].index("labeled-data")
        parts = parts[start:]
    elif len(parts) < 3:
        parts = ["labeled-data", folder, *parts[-1:]] if len(parts) == 1 else ["labeled-data", *parts]
    return "/".join(parts)


def read_labels(path: PathLike, layout: PoseLayout | None = None) -> Labels:
    """Ground-truth labels from ``CollectedData_<scorer>.h5`` or ``.csv`` (+ occlusion flags beside it).

    ``layout`` (the project's) fixes the order of individuals and body parts; columns of the file
    that it does not name are dropped. Without it the layout is read from the file's columns.
    """
    path = Path(path)
    df = read_table(path)
    folder = path.parent.name
    rows = df.index.tolist()
    images = [
        _normalise_image(
            "/".join(str(p) for p in r if str(p) not in ("", "nan")) if isinstance(r, tuple) else str(r), folder
        )
        for r in rows
    ]
    df = df.copy()
    df.index = pd.Index(images, dtype=object)
    if layout is not None:
        in_file = set(map(str, df.columns.get_level_values(-2)))
        extra = sorted(in_file - set(layout.keypoint_names))
        missing = [k for k in layout.keypoint_names if k not in in_file]
        if extra and missing:  # a renamed body part: its labels would be lost silently
            raise LabelFileError(
                f"{path}: body parts {extra} of the file are not in config.yaml and the config's {missing} are "
                "not in the file; rename the file's columns or the config's bodyparts so that they match."
            )
        if extra and len(extra) < len(in_file):  # none in common: an error below
            warnings.warn(
                f"{path}: body parts {extra} are not in the project's config and are not used (the labelling "
                "app keeps their values in the file); add them to config.yaml to use them.",
                stacklevel=2,
            )
        _check_individuals(df, layout, path)
    try:
        labels = Labels.from_dataframe(df, layout)
    except LabelFileError as err:
        raise LabelFileError(f"{path}: {err}") from None
    except Exception as err:  # malformed level values
        raise LabelFileError(f"{path} is not a valid DeepLabCut label table ({type(err).__name__}: {err}).") from None
    _read_occlusions(labels, occlusion_path(path, labels.scorer))
    return labels


def _check_individuals(df: pd.DataFrame, layout: PoseLayout, path: Path) -> None:
    """Refuse a multi-animal label file whose labelled individuals the config does not list (their labels
    would be lost silently, e.g. after renaming an individual in config.yaml or labelling more animals)."""
    if df.columns.nlevels != 4:
        return
    individuals = df.columns.get_level_values(1).astype(str)
    labelled = df.notna().any(axis=0).to_numpy()
    extra = sorted(set(individuals[labelled]) - set(layout.individual_names))
    if extra:
        missing = [i for i in layout.individuals if i not in set(individuals)]
        unused = f" and the config's {missing} are not in the file" if missing else ""
        raise LabelFileError(
            f"{path}: individuals {extra} of the file have labels but are not in config.yaml's individuals "
            f"{list(layout.individuals)}{unused}; add them to 'individuals' in config.yaml (or rename them so that "
            "file and config match)."
        )


def _read_occlusions(labels: Labels, path: Path) -> None:
    if not path.is_file():
        return
    try:
        flags = json.loads(path.read_text(encoding="utf-8"))
        pos = {p: i for i, p in enumerate(labels.images)}
        ind = {n: i for i, n in enumerate(labels.layout.individual_names)}
        kp = {n: i for i, n in enumerate(labels.layout.keypoint_names)}
        for image, cells in dict(flags).items():
            row = pos.get(image_key(image))
            if row is None:
                continue
            for individual, part in cells:
                if individual in ind and part in kp:
                    labels.occluded[row, ind[individual], kp[part]] = True
    except (ValueError, TypeError, OSError) as err:
        raise LabelFileError(
            f"Occlusion file {path} is malformed ({err}); it must map image paths to lists of "
            "[individual, bodypart]. Fix or delete it."
        ) from None


def write_labels(labels: Labels, h5_path: PathLike) -> Path:
    """Write labels as DeepLabCut does: ``.h5`` (key ``df_with_missing``) + ``.csv``, + occlusion JSON.

    Returns the ``.h5`` path. All files are written atomically.
    """
    h5_path = Path(h5_path)
    if h5_path.suffix != ".h5":
        raise LabelFileError(f"Label files are written as .h5 (+ .csv beside); got {h5_path}.")
    df = labels.to_dataframe()
    df.index = _object_levels(df.index)
    df.columns = _object_levels(df.columns)
    _write_table(df, h5_path, h5_path.with_suffix(".csv"), LABELS_KEY, "fixed")
    occ_path = occlusion_path(h5_path, labels.scorer)
    if labels.occluded.any() or occ_path.exists():
        img, ind, kp = np.nonzero(labels.occluded & labels.layout.valid[None])
        flags: dict[str, list[list[str]]] = {}
        for i, j, k in zip(img.tolist(), ind.tolist(), kp.tolist(), strict=True):
            flags.setdefault(labels.images[i], []).append(
                [labels.layout.individual_names[j], labels.layout.keypoint_names[k]]
            )
        write_text(occ_path, json.dumps(flags, indent=1))
    return h5_path


# --- label files edited in place ----------------------------------------------------------------
@dataclass
class LabelTable:
    """A ``CollectedData`` table as stored, so that edits keep everything else about the file.

    Attributes:
        df: the table with the file's own row index (flat paths or three levels) and all of its
            columns, including body parts and individuals the project's config does not name.
        key: the HDF key it is stored under.
        fmt: the HDF storage format, ``"fixed"`` or ``"table"``.
    """

    df: pd.DataFrame
    key: str = LABELS_KEY
    fmt: str = "fixed"


def read_label_table(h5_path: PathLike) -> LabelTable | None:
    """The ``CollectedData_<scorer>.h5`` table as stored (the ``.csv`` beside it when there is no
    ``.h5``); None when neither exists."""
    h5_path = Path(h5_path)
    if h5_path.is_file():
        return LabelTable(*_read_hdf(h5_path))
    if h5_path.with_suffix(".csv").is_file():
        return LabelTable(_read_csv_table(h5_path.with_suffix(".csv")))
    return None


def _image_name(row: object) -> str:
    """The image file name of a row-index entry (flat path or level tuple)."""
    last = row[-1] if isinstance(row, tuple) else row
    return image_key(str(last)).rsplit("/", 1)[-1]


def set_label_rows(table: LabelTable, labels: Labels) -> None:
    """Write ``labels`` into ``table``: the x/y cells of the layout's individuals and body parts in the
    rows of the same image file names. Rows and columns the table lacks are added in the table's own
    form (row-index style, scorer); every other cell, row and column is left as it is."""
    df = table.df
    layout = labels.layout
    names = [str(n) for n in df.columns.names] if len(df.columns) else []
    multi = df.columns.nlevels == 4 if len(df.columns) else layout.multi_animal
    scorer = table_scorer(df.columns) if len(df.columns) else labels.scorer
    columns: dict[tuple[str, str, str], int] = {}
    for j, col in enumerate(df.columns):
        ind = str(col[1]) if multi else layout.individual_names[0]
        columns.setdefault((ind, str(col[-2]), str(col[-1])), j)
    cells = [(i, k, c) for i, k in zip(*np.nonzero(layout.valid), strict=True) for c in range(2)]
    wanted = [(layout.individual_names[i], layout.keypoint_names[k], "xy"[c]) for i, k, c in cells]
    missing = [w for w in wanted if w not in columns]
    if missing or not len(df.columns):
        new = [(scorer, *w) if multi else (scorer, w[1], w[2]) for w in missing]
        level_names = names or list(MULTI_ANIMAL_LEVELS if multi else SINGLE_ANIMAL_LEVELS)
        tuples = [tuple(map(str, c)) for c in df.columns] + new
        df = df.reindex(columns=pd.MultiIndex.from_tuples(tuples, names=level_names))
        columns = {
            w: j
            for j, w in enumerate(
                [(str(t[1]) if multi else layout.individual_names[0], str(t[-2]), str(t[-1])) for t in tuples]
            )
        }
    rows = {_image_name(r): i for i, r in enumerate(df.index)}
    added = [p for p in labels.images if p.rsplit("/", 1)[-1] not in rows]
    if added:
        df = df.reindex(index=_append_rows(df.index, added))
        rows = {_image_name(r): i for i, r in enumerate(df.index)}
    target = [rows[p.rsplit("/", 1)[-1]] for p in labels.images]
    for (i, k, c), w in zip(cells, wanted, strict=True):
        j = columns[w]
        if df.dtypes.iloc[j] != np.float64:
            df[df.columns[j]] = df.iloc[:, j].astype(np.float64)
        df.iloc[target, j] = labels.xy[:, i, k, c]
    table.df = df


def _append_rows(index: pd.Index, images: list[str]) -> pd.Index:
    """``index`` with rows for ``images`` (``labeled-data/<video>/<name>``) appended in its own form."""
    if isinstance(index, pd.MultiIndex):
        template = index[0] if len(index) else None
        if template is None or len(template) != 3:
            tuples = [tuple(p.split("/", 2)) for p in images]
        else:
            tuples = [(*template[:-1], p.rsplit("/", 1)[-1]) for p in images]
        return index.append(pd.MultiIndex.from_tuples(tuples, names=index.names))
    if len(index) == 0:
        return pd.MultiIndex.from_tuples([tuple(p.split("/", 2)) for p in images])
    first = str(index[0])
    prefix = first[: len(first) - len(_image_name(first))]
    return pd.Index(
        [*index.tolist(), *(prefix + p.rsplit("/", 1)[-1] for p in images)], dtype=index.dtype, name=index.name
    )


def write_label_table(table: LabelTable, h5_path: PathLike) -> Path:
    """Write ``table`` to ``h5_path`` (under its own key and format) and the ``.csv`` beside it, atomically."""
    h5_path = Path(h5_path)
    _write_table(table.df, h5_path, h5_path.with_suffix(".csv"), table.key, table.fmt)
    return h5_path


def update_occlusions(h5_path: PathLike, labels: Labels) -> None:
    """Replace the occlusion flags of ``labels``' images in the file beside ``h5_path`` (others kept)."""
    path = occlusion_path(h5_path, labels.scorer)
    flags: dict[str, list[list[str]]] = {}
    if path.is_file():
        try:
            flags = dict(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError, OSError) as err:
            raise LabelFileError(f"Occlusion file {path} is malformed ({err}); fix or delete it.") from None
    edited = {p.rsplit("/", 1)[-1] for p in labels.images}
    flags = {k: v for k, v in flags.items() if image_key(k).rsplit("/", 1)[-1] not in edited}
    hidden = labels.occluded & labels.layout.valid[None]
    for row, image in enumerate(labels.images):
        ind, kp = np.nonzero(hidden[row])
        if len(ind):
            flags[image] = [
                [labels.layout.individual_names[i], labels.layout.keypoint_names[k]]
                for i, k in zip(ind.tolist(), kp.tolist(), strict=True)
            ]
    if flags or path.exists():
        write_text(path, json.dumps(flags, indent=1))


# --- predictions -------------------------------------------------------------------------------
def read_predictions(path: PathLike, layout: PoseLayout | None = None) -> Poses:
    """Poses from a DeepLabCut prediction file ``<video><scorer>.h5/.csv`` (or a tracks ``_el.h5``)."""
    path = Path(path)
    df = read_table(path)
    meta: dict[str, Any] = {}
    if path.suffix.lower() == ".h5":
        meta = _read_meta(path)
    if not (df.columns.get_level_values(-1) == "likelihood").any():
        raise LabelFileError(f"{path} has no likelihood columns: it looks like a label file, not predictions.")
    if layout is not None:
        in_file = list(dict.fromkeys(map(str, df.columns.get_level_values(-2))))
        if sorted(in_file) != sorted(layout.keypoint_names):
            raise LabelFileError(
                f"{path} predicts body parts {in_file} but the project lists {list(layout.keypoint_names)}; "
                "analyse the video again with a model of this project, or restore config.yaml's bodyparts."
            )
    try:
        poses = Poses.from_dataframe(df, layout)
    except LabelFileError as err:
        raise LabelFileError(f"{path}: {err}") from None
    except Exception as err:
        raise LabelFileError(
            f"{path} is not a valid DeepLabCut prediction table ({type(err).__name__}: {err})."
        ) from None
    # the PyTorch engine marks empty multi-animal slots with -1
    missing = poses.data[..., 2] < 0
    poses.data[missing] = np.nan
    poses.fps = meta.get("fps")
    poses.source = meta.get("source")
    poses.metadata = dict(meta.get("metadata") or {})
    return poses


def _read_meta(path: Path) -> dict[str, Any]:
    import tables

    try:
        with tables.open_file(path, mode="r") as handle:
            if f"/{_META_NODE}" not in handle:
                return {}
            payload = handle.get_node(f"/{_META_NODE}").read()
        return dict(json.loads(np.asarray(payload, dtype=np.uint8).tobytes().decode("utf-8")))
    except Exception:  # metadata is optional: never fail a read because of it
        return {}


def write_predictions(poses: Poses, path: PathLike, save_as_csv: bool = False) -> Path:
    """Write poses as DeepLabCut does (``format="table"``; key ``tracks`` for ``_el/_bx/_sk`` files).

    ``path`` ending in ``.h5`` writes HDF5 (plus a ``.csv`` beside it with ``save_as_csv``); ending in
    ``.csv`` writes only the CSV. fps, source and metadata are kept in the HDF5 file's attributes.
    Returns ``path``.
    """
    path = Path(path)
    df = poses.to_dataframe()
    df.columns = _object_levels(df.columns)
    meta = {"fps": poses.fps, "source": poses.source, "metadata": _plain(poses.metadata)}
    if path.suffix.lower() == ".csv":
        _write_table(df, None, path, LABELS_KEY, "table")
        return path
    if path.suffix.lower() != ".h5":
        raise LabelFileError(f"Prediction files are .h5 or .csv; got {path}.")
    key = TRACKS_KEY if path.stem.endswith(_TRACKS_ENDINGS) else LABELS_KEY
    _write_table(df, path, path.with_suffix(".csv") if save_as_csv else None, key, "table", meta)
    return path


def find_prediction_files(folder: PathLike, video_stem: str, suffix: str = "") -> list[Path]:
    """Prediction files ``<video_stem>DLC...<suffix>.h5`` (or legacy ``DeepCut``) in ``folder``, newest first.

    With ``suffix=""`` derived files (``_filtered``, ``_el``, ...) are left out; pass e.g.
    ``suffix="_filtered"`` or ``"_el"`` to find those.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(video_stem)}(DLC|DeepCut)(?P<scorer>.*){re.escape(suffix)}\.h5$")
    found = []
    for candidate in folder.iterdir():
        match = pattern.match(candidate.name)
        if match is None or not candidate.is_file():
            continue
        if match.group("scorer").endswith(_DERIVED_ENDINGS):
            continue
        found.append(candidate)
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


__all__ = [
    "LABELS_KEY",
    "TRACKS_KEY",
    "LabelTable",
    "find_prediction_files",
    "occlusion_path",
    "read_config",
    "read_label_table",
    "read_labels",
    "read_predictions",
    "read_table",
    "set_label_rows",
    "update_occlusions",
    "write_config",
    "write_label_table",
    "write_labels",
    "write_predictions",
]
