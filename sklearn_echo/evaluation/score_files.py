"""The DCASE submission files: ``anomaly_score_*`` and ``decision_result_*`` CSVs.

One pair of files per machine and section, in the format the official
DCASE 2023 and 2024 evaluators read (no header, one clip a line)::

    anomaly_score_<machine>_section_<XX>_test.csv     file name,anomaly score
    decision_result_<machine>_section_<XX>_test.csv   file name,0 or 1 (1 = anomaly)

DCASE 2020 sections are machine IDs: their files are named
``anomaly_score_<machine>_id_<XX>.csv`` as the 2020 baseline wrote them.
"""

# License: MIT

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

__all__ = ["read_score_files", "score_file_name", "write_score_files"]

_KINDS = ("anomaly_score", "decision_result")
_FILE = re.compile(
    r"(?P<kind>anomaly_score|decision_result)_(?P<machine>.+?)_"
    r"(?:section_(?P<section>\d+)_(?:(?P<domain>source|target)_)?test|id_(?P<id>\d+))\.csv\Z"
)


def score_file_name(kind, machine, section, *, domain=None, ids=False):
    """Official file name of one machine and section.

    Parameters
    ----------
    kind : {"anomaly_score", "decision_result"}
        Which file.
    machine : str
        Machine type.
    section : str
        Section number as in the clip names (``"00"``).
    domain : {"source", "target"}, default=None
        DCASE 2021 naming: one file per section and domain
        (``section_<XX>_<domain>_test``).
    ids : bool, default=False
        DCASE 2020 naming (``id_<XX>`` instead of ``section_<XX>_test``).

    Returns
    -------
    name : str
        The file name.

    Examples
    --------
    >>> from sklearn_echo.evaluation import score_file_name
    >>> score_file_name("anomaly_score", "valve", "00")
    'anomaly_score_valve_section_00_test.csv'
    >>> score_file_name("decision_result", "fan", "02", ids=True)
    'decision_result_fan_id_02.csv'
    >>> score_file_name("anomaly_score", "gearbox", "03", domain="target")
    'anomaly_score_gearbox_section_03_target_test.csv'
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
    if not re.fullmatch(r"\d+", str(section)):
        raise ValueError(f"section must be digits as in the clip names ('00'), got {section!r}.")
    if ids:
        return f"{kind}_{machine}_id_{section}.csv"
    if domain is not None:
        if domain not in ("source", "target"):
            raise ValueError(f"domain must be 'source' or 'target', got {domain!r}.")
        return f"{kind}_{machine}_section_{section}_{domain}_test.csv"
    return f"{kind}_{machine}_section_{section}_test.csv"


def write_score_files(scores, directory, *, protocol="2022"):
    """Write the anomaly-score and decision files of every machine and section.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per test clip with columns ``machine``, ``section``,
        ``name`` (file name written in the first column), ``anomaly_score``
        and, optionally, ``decision`` (0/1; rows or tables without it get no
        decision file) and ``convention`` (``"2020-*"`` selects the 2020
        file names). The `DCASEResult.scores` table has them.
    directory : str or path-like
        Folder to write into (created if missing).
    protocol : {"2022", "2021"}, default="2022"
        ``"2021"``: one pair of files per section and domain, as the DCASE
        2021 evaluator reads them (needs a ``domain`` column).

    Returns
    -------
    paths : list of str
        The files written, anomaly scores before decisions, by machine and
        section.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> from sklearn_echo.evaluation import write_score_files, read_score_files
    >>> scores = pd.DataFrame({"machine": "valve", "section": "00",
    ...     "name": ["section_00_source_test_normal_0000_pat_00.wav",
    ...              "section_00_source_test_anomaly_0000_pat_00.wav"],
    ...     "anomaly_score": [0.25, 0.75], "decision": [0, 1]})
    >>> out = tempfile.mkdtemp()
    >>> [os.path.basename(p) for p in write_score_files(scores, out)]
    ['anomaly_score_valve_section_00_test.csv', 'decision_result_valve_section_00_test.csv']
    >>> read_score_files(out)[["anomaly_score", "decision", "domain", "label"]]
       anomaly_score  decision  domain    label
    0           0.75         1  source  anomaly
    1           0.25         0  source   normal
    """
    for col in ("machine", "section", "name", "anomaly_score"):
        if col not in scores.columns:
            raise ValueError(f"scores needs a {col!r} column, got columns {list(scores.columns)}.")
    if protocol not in ("2022", "2021"):
        raise ValueError(f"protocol must be '2022' or '2021', got {protocol!r}.")
    keys = ["machine", "section"]
    if protocol == "2021":
        if "domain" not in scores.columns or not scores["domain"].isin(["source", "target"]).all():
            raise ValueError("protocol='2021' writes one file per domain: every clip needs a domain.")
        keys.append("domain")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for key, part in scores.groupby(keys, sort=True):
        machine, section = key[0], key[1]
        domain = key[2] if protocol == "2021" else None
        ids = "convention" in part.columns and str(part["convention"].iloc[0]).startswith("2020")
        names = part["name"].tolist()
        files = [("anomaly_score", [float(v) for v in part["anomaly_score"]])]
        if "decision" in part.columns and part["decision"].notna().all():
            files.append(("decision_result", [int(v) for v in part["decision"]]))
        for kind, values in files:
            path = directory / score_file_name(kind, machine, section, domain=domain, ids=ids)
            with open(path, "w", newline="") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerows([name, repr(v)] for name, v in zip(names, values))
            written.append(os.fspath(path))
    return written


def _read_rows(path):
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    for i, row in enumerate(rows):
        if len(row) < 2:
            raise ValueError(f"{os.fspath(path)!r} line {i + 1}: expected 'file name,value', got {row!r}.")
    return rows


def read_score_files(directory, *, machine=None):
    """Read back the score files of a folder, with the fields of each clip's name.

    Parameters
    ----------
    directory : str or path-like
        Folder holding ``anomaly_score_*.csv`` files (and, optionally, the
        matching ``decision_result_*.csv``), in the 2022+ layout
        (``..._section_<XX>_test.csv``), the 2021 one
        (``..._section_<XX>_<domain>_test.csv``) or the 2020 one
        (``..._id_<XX>.csv``).
    machine : str, default=None
        Read only this machine's files.

    Returns
    -------
    scores : pandas.DataFrame
        One row per clip, sorted by machine, section and file name (the
        order the official evaluators use): ``machine``, ``section``
        (from the score file's name), ``name``, ``anomaly_score``,
        ``decision`` (NaN without a decision file) and ``domain``,
        ``label``, ``attributes``, ``convention`` parsed from the clip name
        (``label`` is None for evaluation names such as
        ``section_00_0000.wav``).

    Examples
    --------
    See `write_score_files`.
    """
    import pandas as pd

    from ..datasets.dcase import parse_dcase_name

    directory = Path(directory)
    frames = []
    for path in sorted(directory.glob("anomaly_score_*.csv")):
        m = _FILE.match(path.name)
        if m is None or (machine is not None and m["machine"] != machine):
            continue
        section = m["section"] if m["section"] is not None else m["id"]
        rows = _read_rows(path)
        table = pd.DataFrame(
            {"name": [r[0] for r in rows], "anomaly_score": [float(r[1]) for r in rows]}
        )
        decision_path = path.with_name("decision_result_" + path.name[len("anomaly_score_"):])
        if decision_path.is_file():
            decisions = {r[0]: int(float(r[1])) for r in _read_rows(decision_path)}
            missing = [n for n in table["name"] if n not in decisions]
            if missing:
                raise ValueError(
                    f"{os.fspath(decision_path)!r} has no decision for {missing[:3]} "
                    f"({len(missing)} clips of {path.name})."
                )
            table["decision"] = [decisions[n] for n in table["name"]]
        else:
            table["decision"] = float("nan")
        parsed = [parse_dcase_name(n, machine=m["machine"]) for n in table["name"]]
        for col in ("domain", "label", "attributes", "convention"):
            table[col] = [p[col] for p in parsed]
        if m["domain"] is not None:  # 2021 files: one per domain
            table["domain"] = [d if d is not None else m["domain"] for d in table["domain"]]
        table.insert(0, "section", section)
        table.insert(0, "machine", m["machine"])
        frames.append(table)
    if not frames:
        raise FileNotFoundError(f"No anomaly_score_*.csv file in {os.fspath(directory)!r}.")
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["machine", "section", "name"], kind="stable", ignore_index=True)
