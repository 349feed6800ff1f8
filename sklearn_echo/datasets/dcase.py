"""DCASE Task 2 file names (2020 to 2025): machine, section, domain, split, label.

The DCASE anomalous-sound-detection datasets encode everything the
evaluation needs in the file names and folders:

* **2020** (development): ``<machine>/{train,test}/normal_id_00_00000000.wav``
  and ``anomaly_id_00_00000000.wav``; the machine ID plays the part of the
  later sections; there are no domains.
* **2020** (evaluation, no labels): ``id_01_00000000.wav``.
* **2021 to 2025**: ``section_00_{source,target}_{train,test}_{normal,anomaly}_0000[_attributes].wav``,
  with the attributes (``pat_00``, ``vel_12``, ``mdl_B_spd_2``,
  ``noAttribute``, ...) from 2022 on and in some 2021 training names.
* **2021** (evaluation test, no labels): ``section_03_source_test_0000.wav``.
* **2022 to 2025** (evaluation test, no labels): ``section_03_0000.wav``.
* a domain without split or label, ``section_00_target_0001.wav``, as the
  2025 evaluation lists of the SIREN benchmark name the test clips.

The machine type is the folder above the split folder in the official
layout ``<root>/<machine>/{train,test,source_test,target_test}/<file>.wav``,
or a ``<machine>_`` prefix in flattened layouts
(``fan_section_00_source_test_normal_0000.wav``,
``fan_test_section_00_source_test_normal_0000.wav``).

Only names are read: no audio is opened, and pandas is imported when
`parse_dcase` is called, not with this module.
"""

# License: MIT

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DCASE_COLUMNS", "DCASE_CONVENTIONS", "DCASENameError", "parse_dcase", "parse_dcase_name"]

#: Folders that name the split of the clips they hold (2021 development
#: data has ``source_test`` / ``target_test`` folders).
SPLIT_FOLDERS = {"train": "train", "test": "test", "source_test": "test", "target_test": "test"}

#: Columns of the table `parse_dcase` returns, in order.
DCASE_COLUMNS = (
    "machine", "section", "domain", "split", "label", "attributes", "index",
    "convention", "name", "path",
)


@dataclass(frozen=True)
class _Convention:
    name: str
    example: str
    pattern: re.Pattern


def _rx(text):
    return re.compile(text + r"\Z")


#: The naming conventions tried, in order: ``(name, example, regex)``.
DCASE_CONVENTIONS = tuple(
    _Convention(n, e, _rx(p))
    for n, e, p in [
        (
            "2020-dev", "normal_id_00_00000000.wav",
            r"(?P<label>normal|anomaly)_id_(?P<section>\d+)_(?P<index>\d+)",
        ),
        ("2020-eval", "id_01_00000000.wav", r"id_(?P<section>\d+)_(?P<index>\d+)"),
        (
            "2021-2025", "section_00_source_train_normal_0000_pat_00.wav",
            (r"section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)_"
            r"(?P<label>normal|anomaly)_(?P<index>\d+)(?:_(?P<attributes>.*))?"),
        ),
        (
            "2021-eval", "section_03_source_test_0000.wav",
            r"section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)_(?P<index>\d+)",
        ),
        ("2022-2025-eval", "section_03_0000.wav", r"section_(?P<section>\d+)_(?P<index>\d+)"),
        (
            "domain-only", "section_00_target_0001.wav",
            r"section_(?P<section>\d+)_(?P<domain>source|target)_(?P<index>\d+)",
        ),
    ]
)

_PREFIX = re.compile(r"(?P<machine>[A-Za-z0-9-]+)_(?:(?P<split>train|test)_)?(?P<rest>.+)\Z")


class DCASENameError(ValueError):
    """A file name that follows none of the DCASE naming conventions."""


def _match(stem):
    for conv in DCASE_CONVENTIONS:
        m = conv.pattern.match(stem)
        if m:
            return conv, m.groupdict(), None, None
    m = _PREFIX.match(stem)
    if m:  # flattened layout: <machine>_[<split>_]<official name>
        for conv in DCASE_CONVENTIONS:
            inner = conv.pattern.match(m["rest"])
            if inner:
                return conv, inner.groupdict(), m["machine"], m["split"]
    return None, None, None, None


def _tried():
    return "; ".join(f"{c.name} ({c.example})" for c in DCASE_CONVENTIONS)


def parse_dcase_name(path, *, machine=None):
    """Fields of one DCASE file name (see `parse_dcase` for their meaning).

    Parameters
    ----------
    path : str or path-like
        File name or path; the folders give the machine type and the split
        when the name does not.
    machine : str, default=None
        Machine type to use instead of the one read from the path.

    Returns
    -------
    fields : dict
        The row of `parse_dcase` for this file (keys `DCASE_COLUMNS`).

    Raises
    ------
    DCASENameError
        If the name follows no convention; the message names the file and
        the conventions tried.

    Examples
    --------
    >>> from sklearn_echo.datasets import parse_dcase_name
    >>> row = parse_dcase_name("valve/test/section_00_target_test_anomaly_0003_pat_02.wav")
    >>> row["machine"], row["section"], row["domain"], row["split"], row["label"], row["attributes"]
    ('valve', '00', 'target', 'test', 'anomaly', 'pat_02')
    >>> parse_dcase_name("fan/train/normal_id_02_00000011.wav")["convention"]
    '2020-dev'
    """
    p = Path(os.fspath(path))
    name = p.name
    stem = name[: -len(p.suffix)] if p.suffix else name
    conv, g, prefix_machine, prefix_split = _match(stem)
    if conv is None:
        raise DCASENameError(
            f"{os.fspath(path)!r} follows no DCASE naming convention; tried: {_tried()}, "
            "each optionally after a '<machine>_' or '<machine>_<train|test>_' prefix."
        )
    parent = p.parent.name
    folder_split = SPLIT_FOLDERS.get(parent)
    split = g.get("split") or prefix_split or folder_split
    if split is None and conv.name in ("2020-eval", "2022-2025-eval", "domain-only"):
        split = "test"  # evaluation test clips
    if machine is None:
        machine = prefix_machine
    if machine is None:
        above = p.parent.parent.name if folder_split is not None else parent
        machine = above or None
    return {
        "machine": machine,
        "section": g["section"],
        "domain": g.get("domain"),
        "split": split,
        "label": g.get("label"),
        "attributes": g.get("attributes") or "",
        "index": int(g["index"]),
        "convention": conv.name,
        "name": name,
        "path": os.fspath(path),
    }


def _expand(paths_or_root, extensions):
    if isinstance(paths_or_root, (str, os.PathLike)):
        paths_or_root = [paths_or_root]
    if not isinstance(paths_or_root, Iterable):
        raise TypeError(
            "paths_or_root must be a folder, a file name or a list of them, got "
            f"{type(paths_or_root).__name__}."
        )
    out = []
    for item in paths_or_root:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = sorted(
                os.path.join(d, f)
                for d, _, files in os.walk(item)
                for f in files
                if f.lower().endswith(extensions)
            )
            if not found:
                raise FileNotFoundError(
                    f"No {'/'.join(extensions)} file under {item!r}: nothing to parse."
                )
            out.extend(found)
        else:
            out.append(item)
    return out


def parse_dcase(paths_or_root, *, machine=None, extensions=(".wav", ".flac")):
    """Table of DCASE clips from their names: machine, section, domain, split, label.

    Parameters
    ----------
    paths_or_root : str, path-like or iterable of them
        A dataset folder (searched recursively for ``extensions``), a file
        name, or a list of file names or folders. Names need not exist on
        disk: only the names and folders are read.
    machine : str, default=None
        Machine type of every clip, instead of the one read from the
        folders or a name prefix.
    extensions : tuple of str, default=(".wav", ".flac")
        File endings searched for in folders.

    Returns
    -------
    table : pandas.DataFrame
        One row per file, columns `DCASE_COLUMNS`: ``machine`` (str, the
        folder above ``train``/``test`` or the name prefix), ``section``
        (str, two digits as in the name; the machine ID in 2020),
        ``domain`` (``"source"``, ``"target"`` or None: 2020 has no
        domains), ``split`` (``"train"``, ``"test"`` or None when neither
        the name nor its folder tells), ``label`` (``"normal"``,
        ``"anomaly"`` or None for unlabelled evaluation clips),
        ``attributes`` (str, ``""`` if none), ``index`` (int, the clip
        number), ``convention`` (which naming convention matched, see
        `DCASE_CONVENTIONS`), ``name`` (the file name) and ``path``.

    Raises
    ------
    DCASENameError
        If a file name follows no convention; the message names the file
        and lists the conventions tried.

    Examples
    --------
    >>> from sklearn_echo.datasets import parse_dcase
    >>> table = parse_dcase("../shared/data/dcase2023_valve")
    >>> table.groupby(["domain", "label"]).size().tolist()
    [50, 50, 50, 50]
    >>> table.loc[0, ["machine", "section", "split", "attributes"]].tolist()
    ['dcase2023_valve', '00', 'test', 'pat_00']
    >>> parse_dcase(["ToyCar/test/section_03_0012.wav"])[["machine", "label", "convention"]]
      machine label      convention
    0  ToyCar  None  2022-2025-eval
    """
    import pandas as pd

    rows = [parse_dcase_name(p, machine=machine) for p in _expand(paths_or_root, tuple(extensions))]
    return pd.DataFrame(rows, columns=list(DCASE_COLUMNS))
