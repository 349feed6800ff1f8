"""How a command fails: exit statuses, `CommandError`, and the ``error: ...`` report.

A problem with the input or the model ends a command with `EXIT_ERROR` and an
``error: ...`` message on stderr (its first lines; ``--debug`` raises the
exception instead, with its traceback); argparse ends a usage error with
`EXIT_USAGE`. A command run with ``--on-error skip`` that left bad files out
finishes its work and ends with `EXIT_SKIPPED`.
"""

from __future__ import annotations

import sys

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_SKIPPED",
    "EXIT_USAGE",
    "MAX_LINES",
    "CommandError",
    "report",
]

EXIT_OK = 0
"""Exit status of a command that succeeded."""
EXIT_ERROR = 1
"""Exit status for bad input or an unavailable model (an ``error: ...`` line on stderr)."""
EXIT_USAGE = 2
"""Exit status for a usage error (unknown option, bad value), as argparse reports it."""
EXIT_SKIPPED = 3
"""Exit status of a command that did its work but skipped bad files (``--on-error skip``);
each one is listed, with its reason, on stderr and in the outputs."""

MAX_LINES = 6
"""Lines of a long message printed after its first one (``--debug`` shows all)."""


class CommandError(Exception):
    """A problem with a command's input, reported as one ``error: ...`` line."""


def report(exc: BaseException, file=None):
    """Print ``exc`` as ``error: <first line>`` and at most `MAX_LINES` more lines.

    Examples
    --------
    >>> import sys
    >>> from sklearn_echo.cli.errors import CommandError, report
    >>> report(CommandError("cannot write x.npz"), file=sys.stdout)
    error: cannot write x.npz
    >>> report(KeyError("labels"), file=sys.stdout)
    error: missing 'labels'
    """
    file = sys.stderr if file is None else file
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError):  # str(KeyError) is the quoted key
        text = f"missing {text}"
    lines = text.splitlines()
    print(f"error: {lines[0]}", file=file)
    rest = lines[1:]
    for line in rest[:MAX_LINES]:
        print(line, file=file)
    if len(rest) > MAX_LINES:
        print(f"  ... and {len(rest) - MAX_LINES} more lines (--debug shows all)", file=file)
