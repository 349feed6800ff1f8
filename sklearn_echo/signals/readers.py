"""File readers, one per format, in a ``{extension: Reader}`` registry.

A reader takes ``(path, item, mat_key=...)`` and returns a `Raw`: the array as
stored, laid out ``(channels, samples)``, the sampling rate the file stores
(``None`` for formats that store none) and a hint for the message given when
the array looks transposed. Adding a format is one function and one entry in
`READERS`. Sound files are read with soundfile (its libsndfile may offer more
formats than `SUPPORTED_EXTENSIONS`: `readers` adds them), ``.mat`` files with
scipy.io; both are imported only when a file of theirs is read.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._kinds import ext
from .containers import Item, SignalError
from .validation import fmt_rate

__all__ = [
    "READERS",
    "SUPPORTED_EXTENSIONS",
    "Raw",
    "Reader",
    "read_csv",
    "read_mat",
    "read_npy",
    "read_sound",
    "reader_for",
    "readers",
    "stores_rate",
    "supported_extensions",
]


class Raw(NamedTuple):
    """What a reader returns."""

    data: np.ndarray
    """The array as stored, laid out ``(channels, samples)``."""
    sample_rate: float | None
    """The rate the file stores, ``None`` when the format stores none."""
    layout_hint: str
    """What to do when ``data`` has more rows than columns."""


@dataclass(frozen=True)
class Reader:
    """A file format: how to read it, and whether it stores its sampling rate."""

    read: Callable[..., Raw]
    """``read(path, item, *, mat_key, csv_columns) -> Raw``; raises `SignalError` naming ``item.source``."""
    stores_rate: bool
    """Whether the file gives its own rate (else the item must carry one)."""


# --------------------------------------------------------------------------- readers
def read_sound(path: str, item: Item, *, mat_key=None, csv_columns=None) -> Raw:
    """A sound file read with soundfile, at its own rate (which must agree with ``item.sample_rate``)."""
    import soundfile

    with soundfile.SoundFile(path) as f:
        file_rate = float(f.samplerate)
        if item.sample_rate is not None and not math.isclose(
            item.sample_rate, file_rate, rel_tol=1e-9
        ):
            raise SignalError(
                f"{item.source}: the file {path} is sampled at {fmt_rate(file_rate)} Hz but "
                f"{fmt_rate(item.sample_rate)} Hz was given for it; the rates must agree "
                "(leave the rate out to use the file's)"
            )
        data = f.read(dtype="float32", always_2d=True)
    # (frames, channels) -> (channels, frames); a no-copy view for mono files
    hint = f"the array in {path} looks like (samples, channels); store its transpose"
    return Raw(data.T, file_rate, hint)


def read_mat(path: str, item: Item, *, mat_key="DE_time", csv_columns=None) -> Raw:
    """The variable of a MATLAB file named ``mat_key`` or ending with it (``None``: the only one)."""
    import scipy.io

    contents = scipy.io.loadmat(path)
    names = [k for k in contents if not k.startswith("__")]
    if mat_key is None:
        matches = names
        rule = "mat_key=None needs exactly one variable"
    else:
        matches = [k for k in names if k == mat_key]
        if not matches:
            matches = [k for k in names if k.endswith(mat_key)]
        rule = f"exactly one variable must be named {mat_key!r} or end with {mat_key!r}"
    if len(matches) != 1:
        found = "none matches" if not matches else f"{len(matches)} match ({', '.join(matches)})"
        raise SignalError(
            f"{item.source}: cannot choose the variable in {path} with mat_key={mat_key!r}: "
            f"{rule}, but {found}; variables present: {', '.join(names) or 'none'}. "
            "Pass mat_key=... to choose one."
        )
    data = contents[matches[0]]
    if not isinstance(data, np.ndarray):
        raise SignalError(f"{item.source}: variable {matches[0]!r} in {path} is not an array")
    if data.ndim == 2 and data.shape[0] > data.shape[1]:
        data = data.T  # MATLAB column vectors: (samples, channels) -> (channels, samples)
    return Raw(data, None, f"check variable {matches[0]!r} of {path}")


def read_npy(path: str, item: Item, *, mat_key=None, csv_columns=None) -> Raw:
    """The single array of a ``.npy`` file (no pickled objects)."""
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.ndarray):
        raise SignalError(f"{item.source}: {path} holds an archive of arrays, not a single array")
    return Raw(data, None, f"{path} looks like it holds (samples, channels); save arr.T instead")


def _header_names(fields) -> list[str]:
    return [f.strip().strip('"').strip("'").strip() for f in fields]


def _csv_column_positions(csv_columns, header, n_columns, source, path) -> list[int]:
    """Positions of the ``csv_columns`` (indices or header names) among ``n_columns``."""
    positions = []
    for column in csv_columns:
        if isinstance(column, str):
            if header is None:
                raise SignalError(
                    f"{source}: csv_columns names the column {column!r}, but {path} has no "
                    "header row; choose its columns by index (0 is the first, -1 the last)"
                )
            if column not in header:
                raise SignalError(
                    f"{source}: csv_columns names the column {column!r}, which is not in the "
                    f"header of {path} (columns: {', '.join(header)})"
                )
            positions.append(header.index(column))
        else:
            if not -n_columns <= column < n_columns:
                raise SignalError(
                    f"{source}: csv_columns index {column} is out of range for {path}, which "
                    f"has {n_columns} columns (indices 0 to {n_columns - 1}, or -{n_columns} "
                    "to -1 from the last)"
                )
            positions.append(column % n_columns)
    return positions


def read_csv(path: str, item: Item, *, mat_key=None, csv_columns=None) -> Raw:
    """A text table: one row per sample, one column per channel, an optional header row.

    ``csv_columns`` (indices, negative from the last column, or header names)
    keeps only those columns, in that order, as the channels.
    """
    with open(path, encoding="utf-8-sig") as f:
        first = ""
        for line in f:
            if line.strip():
                first = line.strip()
                break
    if not first:
        raise SignalError(f"{item.source}: {path} is empty (0 samples)")
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    fields = first.split(delimiter) if delimiter else first.split()
    try:
        [float(x) for x in fields]
        skip = 0
    except ValueError:
        skip = 1  # a header row of column names
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": raised below
        data = np.loadtxt(
            path,
            delimiter=delimiter,
            dtype=np.float64,
            skiprows=skip,
            ndmin=2,
            encoding="utf-8-sig",
        )
    if data.size == 0:
        raise SignalError(f"{item.source}: {path} holds no samples after its header")
    if csv_columns is not None:
        header = _header_names(fields) if skip else None
        keep = _csv_column_positions(csv_columns, header, data.shape[1], item.source, path)
        data = data[:, keep]
    hint = (
        f"in a CSV file each column is a channel and each row a sample, so {path} "
        "should hold the signal as one column (or one column per channel)"
    )
    return Raw(data.T, None, hint)  # rows are samples, columns are channels


# --------------------------------------------------------------------------- registry
_SOUND = Reader(read_sound, stores_rate=True)

READERS: dict[str, Reader] = {
    ".wav": _SOUND,
    ".flac": _SOUND,
    ".ogg": _SOUND,
    ".mat": Reader(read_mat, stores_rate=False),
    ".npy": Reader(read_npy, stores_rate=False),
    ".csv": Reader(read_csv, stores_rate=False),
}
"""The formats every installation reads, by lower-case extension."""

SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(READERS)
"""File extensions every installation reads (compared case-insensitively)."""

# Sound formats offered when the installed libsndfile has them (extension -> its format name).
_OPTIONAL_SOUND = {
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".aifc": "AIFF",
    ".au": "AU",
    ".snd": "AU",
    ".caf": "CAF",
    ".w64": "W64",
    ".rf64": "RF64",
    ".oga": "OGG",
    ".opus": "OGG",
    ".mp3": "MP3",
}


def readers() -> dict[str, Reader]:
    """Every format this installation reads: `READERS` plus the sound formats libsndfile offers.

    The first call imports soundfile; the result is kept.
    """
    if not hasattr(readers, "_cache"):
        found = dict(READERS)
        try:
            import soundfile

            formats = set(soundfile.available_formats())
        except Exception:  # pragma: no cover - soundfile is a dependency
            formats = set()
        found.update({e: _SOUND for e, f in _OPTIONAL_SOUND.items() if f in formats and e not in found})
        readers._cache = found
    return readers._cache


def reader_for(path: str) -> Reader | None:
    """The reader of ``path``'s format, by extension; ``None`` when unsupported."""
    return readers().get(ext(path))


def stores_rate(path) -> bool:
    """Whether the file format stores its own sampling rate (sound files)."""
    reader = reader_for(os.fspath(path))
    return reader is not None and reader.stores_rate


def supported_extensions() -> tuple[str, ...]:
    """All file extensions this installation reads.

    `SUPPORTED_EXTENSIONS` plus the extra sound formats the installed
    libsndfile reads (for example ``.aiff``, ``.au``, ``.mp3``).

    Returns
    -------
    tuple of str
        Lower-case extensions with the leading dot.

    Examples
    --------
    >>> from sklearn_echo.signals import SUPPORTED_EXTENSIONS, supported_extensions
    >>> set(SUPPORTED_EXTENSIONS) <= set(supported_extensions())
    True
    """
    return tuple(readers())
