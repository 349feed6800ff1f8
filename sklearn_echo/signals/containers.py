"""What the input layer hands out: `Signal`, `Item`, `SignalInfo`, and its errors.

An `Item` is an element of ``X`` before anything is read, a `Signal` is one
that has been read and checked, a `SignalInfo` is what a scan keeps of a
checked item (everything but its samples). `SignalError` names the offending
item and the rule it broke; `combine_errors` turns the errors of several items
into the one exception that lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ._kinds import abspath, is_path

__all__ = [
    "MAX_LISTED",
    "Item",
    "Signal",
    "SignalError",
    "SignalFileNotFoundError",
    "SignalInfo",
    "SignalList",
    "SkippedItem",
    "combine_errors",
    "skipped_item",
]

MAX_LISTED = 20
"""How many bad items a combined error lists before "... and N more"."""


# --------------------------------------------------------------------------- errors
class SignalError(ValueError):
    """An input could not be turned into a valid signal.

    The message names the offending item (``X[3]`` or ``X[3] (/path/file.wav)``,
    or the name an ``item_name`` callback gives it) and the rule it broke. When
    raised by `load_signals` it lists every bad item; ``errors`` then holds
    ``(index, message)`` pairs, one per bad item (``index`` is ``None`` for an
    error about ``X`` as a whole).
    """

    __module__ = "sklearn_echo.signals"  # tracebacks show the path it is imported from

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.errors = list(errors) if errors is not None else []


class SignalFileNotFoundError(SignalError, FileNotFoundError):
    """A file named in ``X`` (or a pattern given to `expand_paths`) does not exist.

    It is both a `SignalError` (hence a ``ValueError``) and a
    ``FileNotFoundError``.
    """

    __module__ = "sklearn_echo.signals"


def combine_errors(errors: dict, n_items: int, noun: str = "items of X") -> SignalError:
    """One exception listing the errors of several items.

    Parameters
    ----------
    errors : dict of int to SignalError
        The error of each bad item, by index.
    n_items : int
        Number of items in ``X``.
    noun : str, default="items of X"
        What the header counts: ``"k of n <noun> are invalid"``.

    Returns
    -------
    SignalError
        A `SignalFileNotFoundError` when every bad item is a missing file.
        Its message lists the first `MAX_LISTED` errors; ``errors`` holds all
        of them as ``(index, message)`` pairs.

    Examples
    --------
    >>> from sklearn_echo.signals.containers import SignalError, combine_errors
    >>> print(combine_errors({2: SignalError("X[2] is None")}, 5))
    1 of 5 items of X is invalid: X[2] is None
    """
    indices = sorted(errors)
    messages = [str(errors[i]) for i in indices]
    k = len(messages)
    verb = "is" if k == 1 else "are"
    header = f"{k} of {n_items} {noun} {verb} invalid"
    if k == 1:
        text = f"{header}: {messages[0]}"
    else:
        lines = [f"{header}:"] + [f"  - {m}" for m in messages[:MAX_LISTED]]
        if k > MAX_LISTED:
            lines.append(f"  ... and {k - MAX_LISTED} more")
        text = "\n".join(lines)
    pairs = [(i, str(errors[i])) for i in indices]
    if all(isinstance(errors[i], SignalFileNotFoundError) for i in indices):
        return SignalFileNotFoundError(text, pairs)
    return SignalError(text, pairs)


class SkippedItem(NamedTuple):
    """A bad item left out by ``errors="skip"``: its position, its name and why."""

    index: int
    """Position in ``X``."""
    name: str
    """How the item is named (its ``source``: ``X[3] (/path)`` or the ``item_name`` result)."""
    reason: str
    """The rule it broke (the error message without the leading name)."""


def skipped_item(index: int, name: str, error) -> SkippedItem:
    """The `SkippedItem` of the item ``index`` named ``name`` that raised ``error``.

    Examples
    --------
    >>> from sklearn_echo.signals.containers import SignalError, skipped_item
    >>> skipped_item(2, "a.wav", SignalError("a.wav: the file is empty"))
    SkippedItem(index=2, name='a.wav', reason='the file is empty')
    """
    reason = str(error)
    if reason.startswith(name + ": "):
        reason = reason[len(name) + 2:]
    elif reason.startswith(name + " "):
        reason = reason[len(name) + 1:]
    return SkippedItem(index, name, reason)


class SignalList(list):
    """The list of signals `load_signals` returns; ``skipped`` lists the items left out.

    Attributes
    ----------
    skipped : list of SkippedItem
        ``(index, name, reason)`` of each bad item left out with
        ``errors="skip"`` (empty otherwise).
    """

    def __init__(self, signals=(), skipped=()):
        super().__init__(signals)
        self.skipped = list(skipped)


# --------------------------------------------------------------------------- data classes
@dataclass(frozen=True, eq=False, repr=False)
class Signal:
    """One validated signal.

    Parameters
    ----------
    data : ndarray of shape (n_channels, n_samples), dtype float32
        C-contiguous, all values finite, at least one channel and one sample.
        It may be a view of the array the user passed (no copy is made when the
        input already is float32 and C-contiguous).
    sample_rate : float
        Sampling rate in Hz, positive and finite.
    source : str
        How errors and outputs name the item: ``"X[3]"`` or
        ``"X[3] (/abs/path/file.wav)"`` (or what an ``item_name`` callback
        returned).
    path : str or None, default=None
        Absolute path of the file the signal was read from, if any.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.signals import load_signals
    >>> [s] = load_signals([np.zeros(1600)], sample_rate=16000)
    >>> s
    Signal(source='X[0]', n_channels=1, n_samples=1600, sample_rate=16000.0)
    >>> s.duration
    0.1
    """

    data: np.ndarray
    sample_rate: float
    source: str
    path: str | None = None

    @property
    def n_channels(self) -> int:
        """Number of channels (rows of ``data``)."""
        return int(self.data.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of samples per channel (columns of ``data``)."""
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds, ``n_samples / sample_rate``."""
        return self.n_samples / self.sample_rate

    def __repr__(self):
        return (
            f"Signal(source={self.source!r}, n_channels={self.n_channels}, "
            f"n_samples={self.n_samples}, sample_rate={self.sample_rate!r})"
        )

    def __eq__(self, other):
        if not isinstance(other, Signal):
            return NotImplemented
        return (
            self.sample_rate == other.sample_rate
            and self.source == other.source
            and self.path == other.path
            and self.data.shape == other.data.shape
            and np.array_equal(self.data, other.data)
        )

    __hash__ = None


@dataclass(frozen=True, eq=False)
class Item:
    """One element of ``X`` before anything is read.

    Parameters
    ----------
    index : int
        Position in ``X``.
    value : object
        The signal (array-like, `Signal`) or the path (``str`` or
        ``os.PathLike``) exactly as found in ``X`` (a pair is split: its signal
        goes here, its rate into ``sample_rate``).
    sample_rate : float or None
        The rate known for this item before reading it: from a pair, from the
        per-item ``sample_rate`` array or DataFrame column, or the scalar
        ``sample_rate`` for items whose format stores no rate (arrays, ``.mat``,
        ``.npy``, ``.csv``). ``None`` when unknown, or when the file stores its
        own rate (sound files) and no explicit per-item rate was given. For a
        sound file a non-``None`` value must agree with the file's rate.
    source : str
        How errors and outputs name the item: ``"X[3]"`` or
        ``"X[3] (/abs/path/file.wav)"`` (or what an ``item_name`` callback
        returned).
    """

    index: int
    value: object
    sample_rate: float | None
    source: str

    @property
    def path(self) -> str | None:
        """Absolute path when the item is a file, else ``None``."""
        if is_path(self.value):
            return abspath(self.value)
        if isinstance(self.value, Signal):
            return self.value.path
        return None

    def __eq__(self, other):
        if not isinstance(other, Item):
            return NotImplemented
        if (self.index, self.sample_rate, self.source) != (
            other.index,
            other.sample_rate,
            other.source,
        ):
            return False
        a, b = self.value, other.value
        if a is b:
            return True
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.array_equal(np.asarray(a), np.asarray(b))
        try:
            return bool(a == b)
        except Exception:
            return False

    __hash__ = None


@dataclass(frozen=True)
class SignalInfo:
    """What `scan_signals` keeps of a valid item: everything but its samples.

    Attributes
    ----------
    index : int
        Position in ``X``.
    sample_rate : float
    source : str
        As in `Signal`.
    n_channels : int
    n_samples : int
    path : str or None
        Absolute path of the file, if the item is one.
    """

    index: int
    sample_rate: float
    source: str
    n_channels: int
    n_samples: int
    path: str | None = None

    @property
    def duration(self) -> float:
        """Length in seconds, ``n_samples / sample_rate``."""
        return self.n_samples / self.sample_rate
