"""Which files a list of arguments names, and which sampling rate each file has.

`expand_paths` turns files, folders and glob patterns (as typed on a command
line) into a sorted list of files. Files whose format stores no sampling rate
(``.mat``, ``.npy``, ``.csv``) get theirs from rate rules ``(pattern, hz)``:
``PATTERN=HZ`` for the files whose path matches the glob ``PATTERN``, a plain
``HZ`` for the rest (`parse_rate_rule` reads one, `file_rates` applies them).
"""

from __future__ import annotations

import glob as _glob
import math
import os
from fnmatch import fnmatchcase

from ._kinds import ext, is_path
from .containers import SignalFileNotFoundError
from .readers import stores_rate, supported_extensions

__all__ = ["default_rate", "expand_paths", "file_rates", "parse_rate_rule", "rule_rates"]


# --------------------------------------------------------------------------- expand_paths
def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _folder_files(folder: str, recursive: bool, exts) -> list[str]:
    found = []
    if recursive:
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(
                os.path.join(root, f) for f in files if not f.startswith(".") and ext(f) in exts
            )
    else:
        found = [
            os.path.join(folder, f)
            for f in os.listdir(folder)
            if not f.startswith(".") and ext(f) in exts and os.path.isfile(os.path.join(folder, f))
        ]
    return found


def expand_paths(patterns, *, recursive=True, extensions=None) -> list[str]:
    """Expand files, folders and glob patterns into a sorted list of files.

    Parameters
    ----------
    patterns : str, os.PathLike or iterable of them
        Each is an existing file (kept whatever its extension), a folder (all
        supported files inside, hidden ones skipped; sub-folders too when
        ``recursive``) or a glob pattern (``*``, ``?``, ``[...]``; ``**``
        crosses folders when ``recursive``); files a pattern matches are kept
        when their extension is supported, folders it matches are expanded.
    recursive : bool, default=True
        Descend into sub-folders.
    extensions : iterable of str or None, default=None
        Extensions to collect from folders and patterns (for example
        ``[".wav"]``); ``None`` means `supported_extensions`.

    Returns
    -------
    list of str
        Sorted, unique, absolute paths.

    Raises
    ------
    SignalFileNotFoundError
        Naming every pattern or folder that matched no supported file.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_echo.signals import expand_paths
    >>> d = tempfile.mkdtemp()
    >>> for name in ["b.wav", "a.npy", "notes.txt"]:
    ...     open(os.path.join(d, name), "w").close()
    >>> [os.path.basename(p) for p in expand_paths([d])]
    ['a.npy', 'b.wav']
    """
    if is_path(patterns):
        patterns = [patterns]
    if extensions is None:
        exts = set(supported_extensions())
    else:
        if isinstance(extensions, str):
            extensions = [extensions]
        exts = {("." + e.lstrip(".")).lower() for e in extensions}
    found: set[str] = set()
    problems = []
    for pattern in patterns:
        if not is_path(pattern):
            raise TypeError(f"paths must be str or os.PathLike, got {type(pattern).__name__}")
        text = os.path.expanduser(os.fspath(pattern))
        if os.path.isfile(text):
            found.add(os.path.abspath(text))
            continue
        if os.path.isdir(text):
            files = _folder_files(text, recursive, exts)
            if not files:
                problems.append(
                    f"folder {os.path.abspath(text)} contains no files with a supported "
                    f"extension ({', '.join(sorted(exts))})"
                )
            found.update(os.path.abspath(f) for f in files)
            continue
        if _has_magic(text):
            matches = _glob.glob(text, recursive=recursive)
            files = []
            for m in matches:
                if os.path.isdir(m):
                    files.extend(_folder_files(m, recursive, exts))
                elif ext(m) in exts:
                    files.append(m)
            if not files:
                if matches:
                    problems.append(
                        f"pattern {os.fspath(pattern)!r} matched {len(matches)} paths but no "
                        f"file with a supported extension ({', '.join(sorted(exts))})"
                    )
                else:
                    problems.append(f"pattern {os.fspath(pattern)!r} matched nothing")
            found.update(os.path.abspath(f) for f in files)
            continue
        problems.append(f"{os.fspath(pattern)!r}: no such file or folder")
    if problems:
        if len(problems) == 1:
            text = f"no input files: {problems[0]}"
        else:
            text = "no input files for some arguments:\n" + "\n".join(f"  - {p}" for p in problems)
        raise SignalFileNotFoundError(text, [(None, p) for p in problems])
    return sorted(found)


# --------------------------------------------------------------------------- rate rules
def parse_rate_rule(text: str) -> tuple[str | None, float]:
    """Read a rate rule: ``"HZ"`` -> ``(None, hz)``, ``"PATTERN=HZ"`` -> ``(pattern, hz)``.

    Raises
    ------
    ValueError
        No pattern before ``=``, or ``HZ`` is not a positive finite number
        (the message quotes the text).

    Examples
    --------
    >>> from sklearn_echo.signals import parse_rate_rule
    >>> parse_rate_rule("12000"), parse_rate_rule("*/48k/*=48000")
    ((None, 12000.0), ('*/48k/*', 48000.0))
    >>> parse_rate_rule("*/48k/*=fast")
    Traceback (most recent call last):
    ...
    ValueError: 'fast' is not a number
    """
    pattern, sep, rate = text.rpartition("=")
    if sep and not pattern:
        raise ValueError(f"{text!r} has no pattern before '='; use PATTERN=HZ")
    try:
        hz = float(rate)
    except ValueError:
        raise ValueError(f"{rate!r} is not a number") from None
    if not (math.isfinite(hz) and hz > 0):
        raise ValueError(f"{rate!r} must be a positive number")
    return (pattern or None), hz


def default_rate(rules) -> float | None:
    """The rate of the plain ``HZ`` rules (the last one given), if any.

    Examples
    --------
    >>> from sklearn_echo.signals import default_rate
    >>> default_rate([(None, 8000.0), ("*48k*", 48000.0), (None, 12000.0)])
    12000.0
    """
    plain = [hz for pattern, hz in rules or () if pattern is None]
    return plain[-1] if plain else None


def rule_rates(rules) -> list[float]:
    """Every rate the rules name, in order, without repeats.

    Examples
    --------
    >>> from sklearn_echo.signals import rule_rates
    >>> rule_rates([("*48k*", 48000.0), (None, 12000.0), ("*/b/*", 48000.0)])
    [48000.0, 12000.0]
    """
    rates = []
    for _, hz in rules or ():
        if hz not in rates:
            rates.append(hz)
    return rates


def file_rates(paths, rules) -> tuple[list, list]:
    """Sampling rate of each file that stores none, from rate rules.

    Parameters
    ----------
    paths : list of str
        Files, as `expand_paths` lists them.
    rules : list of (pattern or None, float)
        Rate rules in the order given (``--sample-rate`` values on the command
        line): ``(pattern, hz)`` applies to files whose absolute path matches
        the glob ``pattern`` or the pattern made absolute (so ``data/48k/*``
        works from the current folder; ``*`` also matches ``/``), the first
        matching rule winning; ``(None, hz)`` applies to the rest (the last one
        given wins).

    Returns
    -------
    rates : list of (float or None)
        One per path; None for sound files, which use their own rate (and for
        files of an unsupported type, which the loading layer rejects).
    missing : list of str
        Files that store no rate and that no rule covers.

    Examples
    --------
    >>> from sklearn_echo.signals import file_rates
    >>> file_rates(["/d/48k/a.mat", "/d/12k/b.mat", "/d/c.wav"], [("*/48k/*", 48000.0)])
    ([48000.0, None, None], ['/d/12k/b.mat'])
    """
    readable = set(supported_extensions())
    default = default_rate(rules)
    patterns = [
        ((pattern, os.path.abspath(pattern)), hz) for pattern, hz in rules or () if pattern is not None
    ]
    rates, missing = [], []
    for path in paths:
        rate = None
        # sound files carry their rate; unsupported files are reported by the loading layer
        if ext(path) in readable and not stores_rate(path):
            path = os.path.abspath(path)
            rate = next(
                (hz for forms, hz in patterns if any(fnmatchcase(path, f) for f in forms)),
                default,
            )
            if rate is None:
                missing.append(path)
        rates.append(rate)
    return rates, missing
