"""Labels read from file paths: DCASE normal/anomaly (`anomaly_label`) and classes (`class_labels`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import CommandError

__all__ = ["ANOMALY_WORDS", "NORMAL_WORDS", "anomaly_label", "class_labels"]

ANOMALY_WORDS = ("anomaly", "anomalous", "abnormal")
"""Words of a path that mark an anomalous recording."""
NORMAL_WORDS = ("normal",)
"""Words of a path that mark a normal recording."""
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


def anomaly_label(path) -> int | None:
    """DCASE label read from a file's path: 1 anomaly, 0 normal, ``None`` unknown.

    The path is split into its components (folders, then the file name
    without extension), each component into words at every character that is
    not a letter or a digit (``_``, ``-``, ``.``, space ...), compared
    case-insensitively. Components are examined from the file name up to the
    root and the first one holding a label word decides: ``anomaly``,
    ``anomalous`` or ``abnormal`` mean 1, ``normal`` means 0 (an anomaly word
    wins when a component holds both). ``normal`` must be a whole word, so
    ``abnormal`` is never read as normal.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    int or None

    Examples
    --------
    >>> from sklearn_echo.cli import anomaly_label
    >>> anomaly_label("mimii/fan/abnormal/00000003.wav")
    1
    >>> anomaly_label("dcase/section_00_source_test_normal_0012.wav")
    0
    >>> anomaly_label("plant/line2/pump_0001.wav") is None
    True
    """
    parts = Path(os.fspath(path)).parts
    for i in range(len(parts) - 1, -1, -1):
        part = parts[i]
        if i == len(parts) - 1:
            part = os.path.splitext(part)[0]
        words = set(_TOKEN_SPLIT.split(part.lower()))
        if words.intersection(ANOMALY_WORDS):
            return 1
        if words.intersection(NORMAL_WORDS):
            return 0
    return None


def class_labels(paths, how: str) -> list[str]:
    """Class label of every file, from its folder name or a regular expression.

    Parameters
    ----------
    paths : list of str
        File paths.
    how : str
        ``"folder"``: the name of the folder holding the file. Anything else
        is a regular expression searched (``re.search``) in the file's
        absolute path written with ``/``; the label is the named group
        ``label`` if the pattern has one, else its groups joined (groups
        that did not take part in the match are skipped), else the whole
        match.

    Returns
    -------
    list of str

    Raises
    ------
    CommandError
        An invalid pattern, or files it does not match (all of them named).

    Examples
    --------
    >>> from sklearn_echo.cli import class_labels
    >>> class_labels(["cwru/12k_Drive_End_IR007_0_105.mat",
    ...               "cwru/12k_Drive_End_OR021@6_1_235.mat"], r"_(B|IR|OR)(\\d{3})")
    ['IR007', 'OR021']
    >>> class_labels(["data/inner_race/a.wav", "data/ball/b.wav"], "folder")
    ['inner_race', 'ball']
    """
    if how == "folder":
        return [Path(p).parent.name for p in paths]
    try:
        pattern = re.compile(how)
    except re.error as exc:
        raise CommandError(f"--labels-from {how!r} is not a valid regular expression: {exc}") from None
    labels, missing = [], []
    for p in paths:
        text = Path(os.path.abspath(p)).as_posix()
        m = pattern.search(text)
        if m is None:
            missing.append(p)
            continue
        if "label" in pattern.groupindex:
            label = m.group("label")
        elif pattern.groups:
            label = "".join(g for g in m.groups() if g is not None)
        else:
            label = m.group(0)
        if not label:
            missing.append(p)
            continue
        labels.append(label)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CommandError(
            f"--labels-from {how!r} does not give a label for {len(missing)} of {len(paths)} "
            f"files: {shown}"
        )
    return labels
