"""The SIREN fault-classification settings as named presets (``classify --preset``).

The ECHO paper (section 4, Table 1) evaluates fault classification on four
datasets with a k-nearest-neighbour vote (``k = 5``) over file-level
embeddings, and reports the accuracy:

========  =============================  ============================
preset    dataset                        protocol
========  =============================  ============================
cwru      CWRU bearing data (12 kHz)     leave-one-out
mafaulda  MAFAULDA (50 kHz)              leave-one-out
iica      IDMT compressed air (48 kHz)   stratified 5-fold
iiee      IDMT electric engine (44.1k)   the official train/test split
========  =============================  ============================

The IIEE split is given as a CSV list (`read_split_list`): a header row, then
one file a row with its ``path`` and its ``split`` (``train`` or ``test``),
and optionally its ``label``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

from .errors import CommandError

__all__ = ["PRESETS", "Preset", "apply_preset", "read_split_list"]


@dataclass(frozen=True)
class Preset:
    """One SIREN fault-classification setting."""

    dataset: str
    """The dataset's name in the paper's tables."""
    cv: object
    """``"loo"``, a number of folds, or ``"list"`` (a train/test list, ``--split-list``)."""
    protocol: str
    """The protocol in words."""
    paper_accuracy: str
    """ECHO-Small's accuracy in the paper's Table 2 (%)."""
    k: int = 5
    """Neighbours that vote (the paper's tables use k = 5)."""


PRESETS = {
    "cwru": Preset("CWRU", "loo", "leave-one-out", "90.48"),
    "mafaulda": Preset("MAFAULDA", "loo", "leave-one-out", "99.54 / 82.42"),
    "iica": Preset("IICA", 5, "stratified 5-fold", "93.67"),
    "iiee": Preset("IIEE", "list", "the official train/test split", "99.85"),
}
"""The presets of ``classify --preset``, by name."""


def apply_preset(args, *, default_k: int = 5, default_cv="loo"):
    """Set ``args.k`` and ``args.cv`` from ``args.preset``; returns the `Preset` (or None).

    A preset fixes the protocol: ``--segment`` (the paper classifies whole
    files) and a ``--k`` or ``--cv`` other than the preset's are errors.
    """
    name = getattr(args, "preset", None)
    if name is None:
        return None
    preset = PRESETS[name]
    if args.segment is not None:
        raise CommandError(
            f"--preset {name} classifies whole files, as the SIREN benchmark does; leave "
            "--segment out"
        )
    if args.k not in (default_k, preset.k):
        raise CommandError(f"--preset {name} uses k = {preset.k}; leave --k out")
    if args.cv not in (default_cv, preset.cv) or (preset.cv == "list" and args.cv != default_cv):
        raise CommandError(f"--preset {name} uses {preset.protocol}; leave --cv out")
    if preset.cv == "list" and not args.split_list:
        raise CommandError(
            f"--preset {name} evaluates on {preset.protocol}: give it with --split-list "
            "FILE.csv (columns path, split and optionally label)"
        )
    args.k = preset.k
    if preset.cv != "list":
        args.cv = preset.cv
    return preset


def read_split_list(path):
    """Files, splits and labels of a train/test list.

    Parameters
    ----------
    path : str
        A CSV file with a header row naming a ``path`` (or ``file``)
        column and a ``split`` column (``train`` or ``test``), and
        optionally a ``label`` column. Relative paths are taken from the
        list's folder.

    Returns
    -------
    paths : list of str
    splits : list of str
    labels : list of str or None
        None when the list has no ``label`` column.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_echo.cli.presets import read_split_list
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "split.csv"), "w") as f:
    ...     _ = f.write("path,split,label\\ngood/a.wav,train,good\\nbroken/b.wav,test,broken\\n")
    >>> paths, splits, labels = read_split_list(os.path.join(folder, "split.csv"))
    >>> [os.path.relpath(p, folder) for p in paths], splits, labels
    (['good/a.wav', 'broken/b.wav'], ['train', 'test'], ['good', 'broken'])
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
            columns = [c.strip().lower() for c in (rows[0].keys() if rows else [])]
    except OSError as exc:
        raise CommandError(f"cannot read the split list {path}: {exc}") from None
    if not rows:
        raise CommandError(f"the split list {path} holds no file (a header row, then one file a row)")
    rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in r.items()} for r in rows]
    path_column = next((c for c in ("path", "file") if c in columns), None)
    if path_column is None or "split" not in columns:
        raise CommandError(
            f"the split list {path} needs a 'path' (or 'file') column and a 'split' column; "
            f"its columns: {', '.join(columns)}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    paths, splits, labels = [], [], []
    for line, row in enumerate(rows, start=2):
        split = row["split"].lower()
        if split not in ("train", "test"):
            raise CommandError(
                f"{path} line {line}: split {row['split']!r} must be 'train' or 'test'"
            )
        if not row[path_column]:
            raise CommandError(f"{path} line {line}: no file in the {path_column!r} column")
        paths.append(os.path.join(folder, row[path_column]))
        splits.append(split)
        labels.append(row.get("label", ""))
    for name in ("train", "test"):
        if name not in splits:
            raise CommandError(f"the split list {path} has no {name} file")
    if "label" not in columns:
        return paths, splits, None
    missing = [i + 2 for i, lab in enumerate(labels) if not lab]
    if missing:
        raise CommandError(f"{path}: no label on line {missing[0]} ({len(missing)} rows without one)")
    return paths, splits, labels
