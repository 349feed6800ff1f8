"""The files a command reads and writes.

Recordings named on the command line (files, folders, glob patterns) are read
through the package's loading layer, `sklearn_echo.signals`, so a file is
accepted or rejected exactly as ``EchoEmbedder`` accepts or rejects it; errors
name each file by its path (`file_name`). Output files are checked before any
work (`check_output`).

With ``--on-error skip`` bad recordings are left out instead: each one is
printed on stderr with its reason as it is found (`note_skipped`) and kept in
``args.skipped_files``, so that the command lists them in its outputs and
`finish` ends it with `EXIT_SKIPPED`.
"""

from __future__ import annotations

import os
import sys

from .errors import EXIT_OK, EXIT_SKIPPED, CommandError

__all__ = [
    "check_output",
    "check_recordings",
    "file_name",
    "finish",
    "load_recordings",
    "note_skipped",
    "skipped_files",
]


def skipped_files(args) -> list:
    """The ``(path, reason)`` of every recording the command skipped so far."""
    if not hasattr(args, "skipped_files"):
        args.skipped_files = []
    return args.skipped_files


def note_skipped(args, path: str, reason: str, what: str = ""):
    """Record a skipped recording and say so on stderr (``skipped PATH: REASON``)."""
    skipped_files(args).append((path, reason))
    print(f"skipped {what}{path}: {reason}", file=sys.stderr)


def finish(args) -> int:
    """The exit status of a command that did its work: `EXIT_SKIPPED` when it skipped files."""
    skipped = skipped_files(args)
    if not skipped:
        return EXIT_OK
    print(
        f"{len(skipped)} file{'s' if len(skipped) != 1 else ''} skipped (--on-error skip; "
        f"listed above and in the outputs); exit status {EXIT_SKIPPED}",
        file=sys.stderr,
    )
    return EXIT_SKIPPED


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


def load_recordings(args, patterns, *, scan: bool = False, what: str = ""):
    """Files named by ``patterns`` and their validated signals (the shared loading layer).

    Every file is checked (at least one ECHO window long, a rate for each one
    that stores none, from ``--sample-rate``; ``--csv-columns`` chooses the
    columns of CSV files). With ``scan=True`` the signals come as
    ``ScannedSignals`` (every file checked, no samples held), which
    ``EchoEmbedder`` embeds block by block. With ``--on-error skip`` the bad
    files are left out (`note_skipped`, ``what`` says which set they belong
    to); a `CommandError` when none is left.

    Returns
    -------
    paths : list of str
        The files kept, in order, one per signal.
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
    skip = getattr(args, "on_error", "stop") == "skip"
    signals = read(
        paths, rates, mat_key=args.mat_key, min_duration=WINDOW_SECONDS, item_name=file_name,
        csv_columns=getattr(args, "csv_columns", None), errors="skip" if skip else "raise",
    )
    if not signals.skipped:
        return paths, signals
    for index, _, reason in signals.skipped:
        note_skipped(args, paths[index], reason, what)
    if not len(signals):
        raise CommandError(
            f"all {len(paths)} {what}files were skipped (--on-error skip): nothing left to "
            "work on"
        )
    left_out = {index for index, _, _ in signals.skipped}
    return [p for i, p in enumerate(paths) if i not in left_out], signals


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
