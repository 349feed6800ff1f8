"""Ground truth of DCASE evaluation sets, whose file names carry no label.

Two sources are read:

* the ground-truth folders of the official evaluators: ``ground_truth_data/``
  (``file name,label``, 1 = anomaly) with, for 2022 to 2024,
  ``ground_truth_domain/`` (``file name,domain``, 1 = target) and
  ``ground_truth_attributes/`` (``evaluation name,full name``); the 2021
  files hold one section and domain each
  (``ground_truth_<machine>_section_<XX>_<source|target>_test.csv``);
* the evaluation lists of the SIREN benchmark
  (``eval_data_list_<year>_converted.csv``): a line with the machine type,
  then ``evaluation name,reference name,label`` lines.
"""

# License: MIT

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

__all__ = ["attach_ground_truth", "read_ground_truth"]

_GT = re.compile(
    r"ground_truth_(?P<machine>[^_]+)_section_(?P<section>\d+)_(?:(?P<domain>source|target)_)?test\.csv\Z"
)


def _rows(path):
    with open(path, newline="") as f:
        return [r for r in csv.reader(f) if r]


def _label(value, where):
    value = value.strip()
    if value not in ("0", "1"):
        raise ValueError(f"{where}: label must be 0 (normal) or 1 (anomaly), got {value!r}.")
    return "anomaly" if value == "1" else "normal"


def _from_folders(root):
    data_dir = root / "ground_truth_data"
    out = []
    for path in sorted(data_dir.glob("ground_truth_*.csv")):
        m = _GT.match(path.name)
        if m is None:
            raise ValueError(
                f"{os.fspath(path)!r} is not named ground_truth_<machine>_section_<XX>[_<domain>]_test.csv."
            )
        domains, references = {}, {}
        for sub, store in (("ground_truth_domain", domains), ("ground_truth_attributes", references)):
            extra = root / sub / path.name
            if extra.is_file():
                store.update({r[0]: r[1] for r in _rows(extra)})
        for i, row in enumerate(_rows(path)):
            name = row[0]
            domain = m["domain"]
            if name in domains:
                domain = "target" if domains[name].strip() == "1" else "source"
            reference = references.get(name)
            out.append({
                "machine": m["machine"], "section": m["section"], "name": name,
                "label": _label(row[1], f"{os.fspath(path)!r} line {i + 1}"), "domain": domain,
                "reference": None if reference is None else reference + ".wav",
            })
    if not out:
        raise FileNotFoundError(f"No ground_truth_*.csv file in {os.fspath(data_dir)!r}.")
    return out


def _from_list(path):
    from ..datasets.dcase import parse_dcase_name

    out, machine = [], None
    for i, row in enumerate(_rows(path)):
        if len(row) == 1:
            machine = row[0].strip()
            continue
        if machine is None or len(row) < 3:
            raise ValueError(
                f"{os.fspath(path)!r} line {i + 1}: expected a machine line, then "
                f"'evaluation name,reference name,label' lines; got {row!r}."
            )
        name, reference = row[0], row[1]
        parsed = parse_dcase_name(name)
        ref = parse_dcase_name(reference)
        out.append({
            "machine": machine, "section": parsed["section"], "name": name,
            "label": _label(row[2], f"{os.fspath(path)!r} line {i + 1}"),
            "domain": parsed["domain"] or ref["domain"], "reference": reference,
        })
    return out


def read_ground_truth(path):
    """Labels (and domains) of evaluation clips from official or SIREN ground-truth files.

    Parameters
    ----------
    path : str or path-like
        A folder holding ``ground_truth_data/`` (and, optionally,
        ``ground_truth_domain/`` and ``ground_truth_attributes/``), as the
        official DCASE 2021-2024 evaluators ship them, or an evaluation list
        CSV file of the SIREN benchmark.

    Returns
    -------
    truth : pandas.DataFrame
        One row per clip: ``machine``, ``section``, ``name`` (the evaluation
        file name), ``label`` (``"normal"``/``"anomaly"``), ``domain``
        (``"source"``/``"target"``, or None when the files do not say) and
        ``reference`` (the development-style name, or None).

    Examples
    --------
    >>> from sklearn_echo.evaluation import read_ground_truth
    >>> truth = read_ground_truth("tests/data/dcase/official_2023")
    >>> truth.iloc[0][["machine", "name", "label", "domain"]].tolist()
    ['bandsaw', 'section_00_0000.wav', 'normal', 'target']
    >>> truth.iloc[0]["reference"]
    'section_00_target_test_normal_0000_vel_12.wav'
    """
    import pandas as pd

    path = Path(path)
    rows = _from_list(path) if path.is_file() else _from_folders(path)
    return pd.DataFrame(rows, columns=["machine", "section", "name", "label", "domain", "reference"])


def attach_ground_truth(table, truth):
    """Fill the missing labels and domains of a clip or score table from the ground truth.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with ``machine``, ``name``, ``label`` and ``domain`` columns
        (`sklearn_echo.datasets.parse_dcase`, `read_score_files`).
    truth : pandas.DataFrame
        `read_ground_truth` output.

    Returns
    -------
    table : pandas.DataFrame
        A copy where the rows without a label take the ground truth's label
        (and the domain, when theirs is missing), matched by machine and
        file name (the evaluation name or the reference name). Rows
        with a label keep it; rows the ground truth does not list keep
        None.

    Examples
    --------
    >>> from sklearn_echo.evaluation import attach_ground_truth, read_ground_truth, read_score_files
    >>> truth = read_ground_truth("tests/data/dcase/official_2021")
    >>> scores = read_score_files("tests/data/dcase/official_2021/scores")
    >>> scores["label"].isna().all()
    np.True_
    >>> attach_ground_truth(scores, truth)["label"].value_counts().to_dict()
    {'anomaly': 227, 'normal': 173}
    """
    lookup = {}
    for m, n, r, lab, dom in zip(truth["machine"], truth["name"], truth["reference"],
                                 truth["label"], truth["domain"]):
        lookup[(m, n)] = (lab, dom)
        if r is not None:
            lookup[(m, r)] = (lab, dom)
    out = table.copy()
    labels, domains = list(out["label"]), list(out["domain"])
    for i, key in enumerate(zip(out["machine"], out["name"])):
        found = lookup.get(key)
        if found is None:
            continue
        if labels[i] is None or labels[i] != labels[i]:
            labels[i] = found[0]
        if (domains[i] is None or domains[i] != domains[i]) and found[1] is not None:
            domains[i] = found[1]
    out["label"], out["domain"] = labels, domains
    return out
