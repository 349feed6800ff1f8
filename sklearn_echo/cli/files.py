"""The files a command reads and writes.

Recordings named on the command line (files, folders, glob patterns) are read
through the package's loading layer, `sklearn_echo.signals`, so a file is
accepted or rejected exactly as ``EchoEmbedder`` accepts or rejects it; errors
name each file by its path (`file_name`). Output files are checked before any
work (`check_output`).
"""

from __future__ import annotations

import os

from .errors import CommandError

__all__ = ["check_output", "check_recordings", "file_name", "load_recordings"]


def file_name(index: int, path: str | None) -> str:
    """How command errors name a recording: by its path.

    The ``item_name`` the commands give the loading layer. A path holding a
    parenthesis keeps the loading layer's ``X[3] (path)``, whose brackets show
    where the path ends.

    Examples
    --------
    >>> from sklearn_echo.cli.files import file_name
    >>> file_name(3, "/data/fan/00000003.wav")
    '/data/fan/00000003.wav'
    >>> file_name(3, "/data/run (2)/a.wav")
    'X[3] (/data/run (2)/a.wav)'
    """
    if path is None or "(" in path or ")" in path:
        from ..signals import default_item_name

        return default_item_name(index, path)
    return path


def check_output(path, what: str):
    """Fail before any work when an output file cannot be written."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"cannot write {what} {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise CommandError(f"cannot write {what} {path}: it is a folder")


def load_recordings(args, patterns, *, scan: bool = False):
    """Files named by ``patterns`` and their validated signals (the shared loading layer).

    Every file is checked (at least one ECHO window long, a rate for each one
    that stores none, from ``--sample-rate``). With ``scan=True`` the signals
    come as ``ScannedSignals`` (every file checked, no samples held), which
    ``EchoEmbedder`` embeds block by block.

    Returns
    -------
    paths : list of str
    signals : list of Signal or ScannedSignals
    """
    from ..echo.bands import WINDOW_SECONDS
    from ..signals import expand_paths, file_rates, load_signals, scan_signals

    paths = expand_paths(patterns)
    rates, missing = file_rates(paths, args.sample_rate)
    if missing:
        kinds = sorted({os.path.splitext(p)[1].lower() for p in missing})
        if args.sample_rate:
            hint = "no --sample-rate pattern matches them; add PATTERN=HZ or a plain HZ"
        else:
            hint = "give it with --sample-rate HZ (or PATTERN=HZ per group of files)"
        raise CommandError(
            f"{len(missing)} of {len(paths)} files store no sampling rate "
            f"({', '.join(kinds)}; first: {missing[0]}); {hint}"
        )
    read = scan_signals if scan else load_signals
    signals = read(
        paths, rates, mat_key=args.mat_key, min_duration=WINDOW_SECONDS, item_name=file_name
    )
    return paths, signals


def check_recordings(args, signals):
    """Check in-memory signals (cut from recordings) as the embedder would, naming their files.

    Returns the ``ScannedSignals`` that ``EchoEmbedder`` takes without
    checking them again.
    """
    from ..echo.bands import WINDOW_SECONDS
    from ..signals import scan_signals

    return scan_signals(
        signals, mat_key=args.mat_key, min_duration=WINDOW_SECONDS, item_name=file_name
    )
