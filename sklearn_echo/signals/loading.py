"""Read and check the items of ``X``: one reading loop behind every loading function.

`load_item` reads (if a file) and checks one `Item`. `load_signals` does it
for every item of ``X`` and reports every bad item in a single `SignalError`;
`scan_signals` checks the same way but keeps no file's samples (its
`ScannedSignals` reads the files again block by block, so a folder of
recordings is embedded in bounded memory); `iter_signals` yields one signal at
a time and stops at the first bad item. All of them take ``item_name``, which
names the items in errors (see `list_items`), and ``csv_columns``, which
chooses the columns of CSV files. With ``errors="skip"``, `load_signals` and
`scan_signals` leave the bad items out instead of raising, and list them with
their reasons in ``.skipped`` (`SkippedItem`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from ._kinds import abspath, ext, is_path
from .containers import (
    Item,
    Signal,
    SignalError,
    SignalFileNotFoundError,
    SignalInfo,
    SignalList,
    combine_errors,
    skipped_item,
)
from .items import collect_items, collection_noun, list_items
from .readers import reader_for, supported_extensions
from .validation import (
    RATE_RULE,
    check_csv_columns,
    check_duration,
    check_errors,
    check_options,
    fmt_rate,
    rate_problem,
    to_array,
    to_float32,
)

__all__ = ["ScannedSignals", "iter_signals", "load_item", "load_signals", "scan_signals"]


def _no_rate_error(item: Item, path: str | None) -> SignalError:
    extra = ""
    if path is not None:
        extra = f" ({ext(path) or 'this'} files do not store one)"
    return SignalError(
        f"no sampling rate for {item.source}; pass sample_rate=... (one number for all items, "
        f"one per item, or a (signal, rate) pair){extra}"
    )


def _read_file(item: Item, mat_key, csv_columns=None):
    """Read the file ``item`` names: ``(path, raw)`` with the reader's `Raw`."""
    source = item.source
    path = abspath(item.value)
    if not os.fspath(item.value):
        raise SignalError(f"{source} is an empty path")
    if not os.path.exists(path):
        raise SignalFileNotFoundError(f"{source}: file not found")
    if os.path.isdir(path):
        raise SignalError(
            f"{source}: {path} is a folder, not a file; list its files (for example "
            "with sklearn_echo.signals.expand_paths)"
        )
    if os.path.getsize(path) == 0:
        raise SignalError(f"{source}: empty file (0 bytes)")
    reader = reader_for(path)
    if reader is None:
        suffix = ext(path)
        raise SignalError(
            f"{source}: unsupported file type {suffix or '(no extension)'!r} for {path}; "
            f"supported: {', '.join(supported_extensions())}"
        )
    if not reader.stores_rate and item.sample_rate is None:
        raise _no_rate_error(item, path)
    try:
        return path, reader.read(path, item, mat_key=mat_key, csv_columns=csv_columns)
    except SignalError:
        raise
    except FileNotFoundError as exc:
        raise SignalFileNotFoundError(f"{source}: file not found ({exc})") from None
    except MemoryError:
        raise
    except Exception as exc:
        raise SignalError(
            f"{source}: cannot read {path} as a {ext(path)} file: {type(exc).__name__}: {exc}"
        ) from None


def load_item(item: Item, *, mat_key="DE_time", min_duration=None, csv_columns=None) -> Signal:
    """Read (if a path) and validate one item.

    Parameters
    ----------
    item : Item
        An element of `list_items`'s result.
    mat_key : str or None, default="DE_time"
        For ``.mat`` files: the variable whose name equals ``mat_key`` or ends
        with it (``X118_DE_time``, ``X173_DE_time``); exactly one must match.
        ``None`` takes the only variable of the file.
    min_duration : float or None, default=None
        Minimum length in seconds: at least ``floor(min_duration *
        sample_rate)`` samples (and at least 1) are required.
    csv_columns : int, str, list of them, or None, default=None
        For ``.csv`` files: the columns that hold the signal, as indices
        (``0`` the first, ``-1`` the last) or header names; they become the
        channels, in that order. ``None`` takes every column. Other formats
        ignore it.

    Returns
    -------
    Signal

    Raises
    ------
    SignalFileNotFoundError
        The file does not exist.
    SignalError
        Any other problem; the message names ``item.source`` and the rule.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.signals import list_items, load_item
    >>> [item] = list_items([np.arange(4)], sample_rate=1000)
    >>> load_item(item).data
    array([[0., 1., 2., 3.]], dtype=float32)
    """
    check_options(mat_key, min_duration)
    csv_columns = check_csv_columns(csv_columns)
    source = item.source
    value = item.value
    if is_path(value):
        path, raw = _read_file(item, mat_key, csv_columns)
        data = to_float32(raw.data, source, raw.layout_hint)
        rate = raw.sample_rate if raw.sample_rate is not None else item.sample_rate
    else:
        path = None
        data = to_float32(
            to_array(value, source),
            source,
            f"if it is (samples, channels), pass its transpose ({source}.T)",
        )
        rate = item.sample_rate
        if isinstance(value, Signal):
            path = value.path
            if rate is None:
                rate = value.sample_rate
        if rate is None:
            raise _no_rate_error(item, None)
    rate_value, problem = rate_problem(rate)
    if problem:
        raise SignalError(f"{source}: the sample rate is not valid: {problem}; {RATE_RULE}")
    check_duration(data.shape[1], rate_value, min_duration, source)
    return Signal(data=data, sample_rate=rate_value, source=source, path=path)


def _read_all(
    X, sample_rate, mat_key, min_duration, item_name, csv_columns=None, errors="raise",
    skipped=None,
) -> Iterator[tuple[Item, Signal]]:
    """Read and check every item of ``X``: yield ``(item, signal)`` for each good one,
    then raise one `SignalError` listing every bad one (if any); with
    ``errors="skip"`` append a `SkippedItem` per bad one to ``skipped`` instead."""
    check_options(mat_key, min_duration, item_name)
    csv_columns = check_csv_columns(csv_columns)
    check_errors(errors)
    items, bad = collect_items(X, sample_rate, item_name)
    for item in items:
        if item.index in bad:
            continue
        try:
            signal = load_item(
                item, mat_key=mat_key, min_duration=min_duration, csv_columns=csv_columns
            )
        except SignalError as exc:
            bad[item.index] = exc
            continue
        yield item, signal
    if not bad:
        return
    if errors == "skip":
        names = {item.index: item.source for item in items}
        skipped.extend(skipped_item(i, names[i], bad[i]) for i in sorted(bad))
        return
    raise combine_errors(bad, len(items), collection_noun(items, item_name))


def load_signals(
    X, sample_rate=None, *, mat_key="DE_time", min_duration=None, item_name=None,
    csv_columns=None, errors="raise",
) -> SignalList:
    """Read and validate every item of ``X``.

    Every item is checked; if any is bad, one exception lists all bad items
    (the first 20, then "... and N more"). Good items are never dropped or
    zero-filled. With ``errors="skip"`` the bad items are left out instead
    and listed, with the rule each one broke, in the result's ``skipped``.

    Parameters
    ----------
    X : sequence, ndarray, pandas Series or DataFrame
        Signals, file paths or ``(signal_or_path, sample_rate)`` pairs.
    sample_rate : None, float or 1-D array-like, default=None
        Default rate for items that carry none, or one rate per item.
    mat_key : str or None, default="DE_time"
        Which variable of a ``.mat`` file to read (see `load_item`).
    min_duration : float or None, default=None
        Minimum length in seconds.
    item_name : callable or None, default=None
        ``item_name(index, path) -> str``: how errors (and each signal's
        ``source``) name an item, ``path`` being the absolute path of its file
        or ``None``. ``None`` keeps ``X[3]`` and ``X[3] (/abs/path)``; with a
        callback the header of a combined error counts ``files`` (every item
        a file) or ``items`` instead of ``items of X``.
    csv_columns : int, str, list of them, or None, default=None
        The columns of ``.csv`` files that hold the signal (see `load_item`).
    errors : {"raise", "skip"}, default="raise"
        What to do with bad items (unreadable, empty, too short, not finite,
        no rate ...): ``"raise"`` one error naming every one of them;
        ``"skip"`` leave them out. Problems with ``X`` as a whole (empty,
        sparse, wrong type) raise either way.

    Returns
    -------
    SignalList
        A list of `Signal`, one per good item of ``X``, in order; its
        ``skipped`` attribute lists ``(index, name, reason)``
        (`SkippedItem`) for each item left out by ``errors="skip"``.

    Raises
    ------
    SignalFileNotFoundError
        When every bad item is a missing file.
    SignalError
        Otherwise; ``errors`` holds ``(index, message)`` for each bad item.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.signals import load_signals
    >>> signals = load_signals(np.zeros((3, 800), dtype=np.float32), sample_rate=8000)
    >>> [s.data.shape for s in signals]
    [(1, 800), (1, 800), (1, 800)]
    >>> load_signals([np.ones(10), np.array([1.0, np.nan])], sample_rate=100)
    Traceback (most recent call last):
    ...
    sklearn_echo.signals.SignalError: 1 of 2 items of X is invalid: X[1] contains NaN (first at sample 1); all values must be finite (no NaN or inf)
    >>> load_signals(["/no/a.npy", "/no/b.npy"], 100, item_name=lambda i, path: path)
    Traceback (most recent call last):
    ...
    sklearn_echo.signals.SignalFileNotFoundError: 2 of 2 files are invalid:
      - /no/a.npy: file not found
      - /no/b.npy: file not found
    >>> kept = load_signals([np.ones(10), np.array([1.0, np.nan])], 100, errors="skip")
    >>> len(kept), kept.skipped[0].index, kept.skipped[0].name
    (1, 1, 'X[1]')
    """
    skipped = []
    signals = [
        s for _, s in _read_all(
            X, sample_rate, mat_key, min_duration, item_name, csv_columns, errors, skipped
        )
    ]
    return SignalList(signals, skipped)


class ScannedSignals:
    """The validated items of ``X``, without the samples of its files (see `scan_signals`).

    Attributes
    ----------
    infos : list of SignalInfo
        One per (good) item of ``X``, in order.
    skipped : list of SkippedItem
        ``(index, name, reason)`` of each bad item left out by
        ``errors="skip"`` (empty otherwise); ``index`` is its position in
        the ``X`` it was scanned from.
    """

    def __init__(self, items, infos, held, mat_key, min_duration, csv_columns=None, skipped=()):
        self._items = items
        self.infos = infos
        self._held = held
        self._mat_key = mat_key
        self._min_duration = min_duration
        self._csv_columns = csv_columns
        self.skipped = list(skipped)

    def __len__(self) -> int:
        return len(self.infos)

    def __add__(self, other):
        """Both sets in order (items keep the names they were scanned under)."""
        if not isinstance(other, ScannedSignals):
            return NotImplemented
        mine = (self._mat_key, self._min_duration, self._csv_columns)
        if mine != (other._mat_key, other._min_duration, other._csv_columns):
            raise ValueError(
                "cannot join signals scanned with different mat_key, min_duration or "
                "csv_columns"
            )
        held = dict(self._held)
        held.update((len(self) + k, v) for k, v in other._held.items())
        return ScannedSignals(
            self._items + other._items, self.infos + other.infos, held,
            self._mat_key, self._min_duration, self._csv_columns,
            self.skipped + other.skipped,
        )

    def signal(self, position: int) -> Signal:
        """Item ``position`` (0-based, in the order of `infos`), read again if it is a file.

        A file whose channels, length or rate changed since it was scanned is
        an error naming it, never different data.
        """
        held = self._held.get(position)
        if held is not None:
            return held
        signal = load_item(
            self._items[position], mat_key=self._mat_key, min_duration=self._min_duration,
            csv_columns=self._csv_columns,
        )
        info = self.infos[position]
        if (signal.n_channels, signal.n_samples, signal.sample_rate) != (
            info.n_channels, info.n_samples, info.sample_rate
        ):
            raise SignalError(
                f"{info.source} changed while it was being read: {info.n_channels} channel(s) x "
                f"{info.n_samples} samples at {fmt_rate(info.sample_rate)} Hz when first read, "
                f"{signal.n_channels} x {signal.n_samples} at {fmt_rate(signal.sample_rate)} Hz now"
            )
        return signal

    def blocks(self, max_samples: int | None = None) -> Iterator[list[Signal]]:
        """Yield the signals in order, in lists of at most ``max_samples`` samples.

        Files are read again (and checked to be unchanged); in-memory items
        are yielded as they are. A signal longer than ``max_samples`` is a
        block of its own; ``None`` yields one block.
        """
        block, size = [], 0
        for position, info in enumerate(self.infos):
            n = info.n_channels * info.n_samples
            if block and max_samples is not None and size + n > max_samples:
                yield block
                block, size = [], 0
            block.append(self.signal(position))
            size += n
        if block:
            yield block


def scan_signals(
    X, sample_rate=None, *, mat_key="DE_time", min_duration=None, item_name=None,
    csv_columns=None, errors="raise",
) -> ScannedSignals:
    """Validate every item of ``X`` as `load_signals` does, keeping no file's samples.

    Every file is read and checked once (so every bad item is reported at once,
    before any work is done) and its samples are dropped; in-memory items
    are kept. `ScannedSignals.blocks` then reads the files again, a block
    at a time.

    Parameters
    ----------
    X, sample_rate, mat_key, min_duration, item_name, csv_columns, errors
        As for `load_signals`.

    Returns
    -------
    ScannedSignals
        Its ``skipped`` lists the items left out by ``errors="skip"``.

    Raises
    ------
    SignalError
        As `load_signals`, listing every bad item (unless ``errors="skip"``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.signals import scan_signals
    >>> scanned = scan_signals([np.zeros(800), np.zeros(1600), np.zeros(400)], sample_rate=8000)
    >>> [(i.n_samples, i.duration) for i in scanned.infos]
    [(800, 0.1), (1600, 0.2), (400, 0.05)]
    >>> [[s.n_samples for s in block] for block in scanned.blocks(max_samples=2000)]
    [[800], [1600, 400]]
    """
    items, infos, held, skipped = [], [], {}, []
    read = _read_all(X, sample_rate, mat_key, min_duration, item_name, csv_columns, errors, skipped)
    for item, signal in read:
        items.append(item)
        if not is_path(item.value):
            held[len(infos)] = signal  # in memory already: keep it
        infos.append(
            SignalInfo(
                item.index, signal.sample_rate, signal.source,
                signal.n_channels, signal.n_samples, signal.path,
            )
        )
    return ScannedSignals(
        items, infos, held, mat_key, min_duration, check_csv_columns(csv_columns), skipped
    )


def iter_signals(
    X, sample_rate=None, *, mat_key="DE_time", min_duration=None, item_name=None,
    csv_columns=None,
) -> Iterator[Signal]:
    """Yield the signals of ``X`` one at a time (for long recordings).

    Only one item is held in memory at a time. Unlike `load_signals` it
    stops at the first bad item (its `SignalError` names it).

    Parameters
    ----------
    X, sample_rate, mat_key, min_duration, item_name, csv_columns
        As for `load_signals`.

    Yields
    ------
    Signal

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.signals import iter_signals
    >>> [s.n_samples for s in iter_signals([np.zeros(5), np.zeros(7)], sample_rate=10)]
    [5, 7]
    """
    check_options(mat_key, min_duration, item_name)
    csv_columns = check_csv_columns(csv_columns)
    for item in list_items(X, sample_rate, item_name=item_name):
        yield load_item(item, mat_key=mat_key, min_duration=min_duration, csv_columns=csv_columns)
