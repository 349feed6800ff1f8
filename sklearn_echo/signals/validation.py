"""The rules a signal must follow, and the messages that name the rule broken.

`to_float32` turns an array into a checked ``float32`` C-contiguous
``(channels, samples)`` array (real numbers, at most two dimensions, more
samples than channels, every value finite); `rate_problem` checks a sampling
rate, `check_duration` a length, `check_options` the reading options
(`check_csv_columns` the columns of CSV files, `check_errors` what to do with a
bad item).
`to_array` gives the array view of an in-memory item. Messages write rates
with `fmt_rate` and durations with `fmt_seconds`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._kinds import is_number, is_torch_tensor
from .containers import Signal, SignalError

__all__ = [
    "ERRORS",
    "RATE_RULE",
    "check_csv_columns",
    "check_duration",
    "check_errors",
    "check_options",
    "dtype_problem",
    "fmt_rate",
    "fmt_seconds",
    "rate_problem",
    "to_array",
    "to_float32",
]

RATE_RULE = "sampling rates must be real, positive, finite numbers in Hz"
"""The rule every sampling rate follows, as error messages state it."""


def fmt_rate(rate: float) -> str:
    """A rate as messages write it: ``16000``, ``22050.5``.

    Examples
    --------
    >>> from sklearn_echo.signals.validation import fmt_rate
    >>> fmt_rate(16000.0), fmt_rate(22050.5)
    ('16000', '22050.5')
    """
    rate = float(rate)
    if rate.is_integer():
        return str(int(rate))
    return f"{rate:g}"


def fmt_seconds(seconds: float) -> str:
    """A duration as messages write it: ``25 ms``, ``1.5 s``."""
    if seconds < 1:
        return f"{seconds * 1000:g} ms"
    return f"{seconds:g} s"


def rate_problem(value):
    """Check a sampling rate: ``(rate, None)`` when valid, ``(None, reason)`` otherwise.

    Examples
    --------
    >>> from sklearn_echo.signals.validation import rate_problem
    >>> rate_problem(16000), rate_problem(-3)
    ((16000.0, None), (None, '-3 is not positive'))
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        return None, f"{value!r} is a bool"
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        return None, f"{value!r} is a string"
    if isinstance(value, (numbers.Complex, np.complexfloating)) and not isinstance(
        value, (numbers.Real, np.floating, np.integer)
    ):
        return None, f"{value!r} is complex"
    if not isinstance(value, (numbers.Real, np.integer, np.floating)):
        return None, f"{value!r} has type {type(value).__name__}"
    rate = float(value)
    if math.isnan(rate):
        return None, "it is NaN"
    if math.isinf(rate):
        return None, f"it is {rate}"
    if rate <= 0:
        return None, f"{fmt_rate(rate)} is not positive"
    return rate, None


def dtype_problem(dtype) -> str | None:
    """Why an array of ``dtype`` cannot be a signal (``None`` for integers and floats)."""
    kind = dtype.kind
    if kind in "iuf":
        return None
    what = {
        "b": "booleans",
        "c": "complex numbers",
        "U": "strings",
        "S": "bytes",
        "O": "Python objects",
        "M": "datetimes",
        "m": "timedeltas",
        "V": "structured records",
    }.get(kind, "non-numeric values")
    note = "Complex data not supported; " if kind == "c" else ""
    return f"has dtype {dtype} ({what}); {note}signals must be real numbers (integer or floating point)"


def to_array(value, source: str) -> np.ndarray:
    """Array view of an in-memory item (no copy when possible).

    Raises
    ------
    SignalError
        ``value`` is not something that holds a signal (``None``, bytes, a
        single number, a complex or boolean tensor, a ragged sequence, an
        object of another type); the message names ``source``.
    """
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Signal):
        return value.data
    if value is None:
        raise SignalError(f"{source} is None; expected a signal or a file path")
    if isinstance(value, bytes):
        raise SignalError(f"{source} is bytes; pass file paths as str or pathlib.Path")
    if is_number(value):
        raise SignalError(
            f"{source} is a single number ({value!r}), not a signal; a signal is a 1-D or "
            "2-D (channels, samples) array"
        )
    if is_torch_tensor(value):
        t = value.detach().cpu()
        if t.is_complex():
            raise SignalError(f"{source} is a complex tensor; signals must be real numbers")
        if str(t.dtype) == "torch.bool":
            raise SignalError(f"{source} is a boolean tensor; signals must be real numbers")
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return t.resolve_conj().resolve_neg().numpy()
    if isinstance(value, (list, tuple)) or hasattr(value, "__array__"):
        try:
            return np.asarray(value)
        except (ValueError, TypeError) as exc:
            hint = ""
            if isinstance(value, list) and len(value) == 2 and is_number(value[1]):
                hint = "; to give a rate with a signal use a tuple (signal, sample_rate)"
            raise SignalError(
                f"{source} is a ragged nested sequence that is not a rectangular array "
                f"(channels of different lengths?): {exc}{hint}"
            ) from None
    raise SignalError(
        f"{source} has unsupported type {type(value).__name__}; expected an array, a list "
        "of numbers, a torch tensor, a file path or a (signal, sample_rate) pair"
    )


def _nonfinite_message(original: np.ndarray, data: np.ndarray, source: str) -> str:
    """Say which non-finite values data (C, N) holds and where; original is the input before the cast."""
    multi = data.shape[0] > 1

    def where(flat_index):
        ch, s = divmod(int(flat_index), data.shape[1])
        return f"channel {ch}, sample {s}" if multi else f"sample {s}"

    flat = data.reshape(-1)
    parts = []
    nan = np.isnan(flat)
    if nan.any():
        parts.append(f"NaN (first at {where(np.argmax(nan))})")
    del nan
    inf = np.isinf(flat)
    if inf.any():
        first = int(np.argmax(inf))
        ch, s = divmod(first, data.shape[1])
        before = original[ch, s]
        if original.dtype != data.dtype and np.isfinite(before):
            return (
                f"{source} has a value too large for float32 at {where(first)} "
                f"({float(before):g}); values must lie within +-3.4e38"
            )
        parts.append(f"Inf (first at {where(first)})")
    return f"{source} contains {' and '.join(parts)}; all values must be finite (no NaN or inf)"


def to_float32(array: np.ndarray, source: str, layout_hint: str) -> np.ndarray:
    """Check ``array`` and convert it to float32 C-contiguous ``(channels, samples)``.

    Parameters
    ----------
    array : ndarray
        1-D ``(samples,)`` or 2-D ``(channels, samples)``, real numbers.
    source : str
        How the message names the item.
    layout_hint : str
        What the message suggests when there are more channels than samples.

    Returns
    -------
    ndarray of shape (n_channels, n_samples), dtype float32
        ``array`` itself (or a view) when it already is float32 and
        C-contiguous.

    Raises
    ------
    SignalError
        A non-numeric dtype, more than two dimensions, no sample, more channels
        than samples, or a value that is NaN, infinite or too large for float32
        (its first place is named).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.signals.validation import to_float32
    >>> to_float32(np.arange(3), "X[0]", "").dtype
    dtype('float32')
    >>> to_float32(np.array([0.0, np.inf]), "X[1]", "")
    Traceback (most recent call last):
    ...
    sklearn_echo.signals.SignalError: X[1] contains Inf (first at sample 1); all values must be finite (no NaN or inf)
    """
    problem = dtype_problem(array.dtype)
    if problem:
        raise SignalError(f"{source} {problem}")
    if array.ndim == 0:
        raise SignalError(
            f"{source} is a single number, not a signal; a signal is a 1-D or 2-D "
            "(channels, samples) array"
        )
    if array.ndim > 2:
        raise SignalError(
            f"{source} has {array.ndim} dimensions (shape {array.shape}); a signal is 1-D "
            "(samples,) or 2-D (channels, samples)"
        )
    if array.ndim == 1:
        array = array.reshape(1, -1)
    n_channels, n_samples = array.shape
    if n_samples == 0 or n_channels == 0:
        what = "0 samples" if n_samples == 0 else "0 channels"
        raise SignalError(f"{source} is empty ({what}, shape {array.shape}); a signal needs at least one sample")
    if n_channels > n_samples:
        raise SignalError(
            f"{source} has shape {array.shape}: more rows than columns. Signals are laid "
            f"out (channels, samples); {layout_hint}"
        )
    original = array
    if array.dtype != np.float32:
        with np.errstate(over="ignore"):  # overflow is reported below, with its place
            array = array.astype(np.float32, order="C")
    elif not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    # A sum is finite only if every value is; it allocates nothing and is ~2x
    # faster than np.isfinite(array).all(). Overflow of the sum only sends us
    # to the exact check below.
    with np.errstate(all="ignore"):
        total = array.sum()
    if not np.isfinite(total):
        if not np.isfinite(array).all():
            raise SignalError(_nonfinite_message(original, array, source))
    return array


def check_duration(n_samples: int, rate: float, min_duration, source: str):
    """Raise a `SignalError` when a signal is shorter than ``min_duration`` seconds.

    At least ``floor(min_duration * rate)`` samples (and at least 1) are
    needed; ``min_duration=None`` checks nothing.
    """
    if min_duration is None:
        return
    needed = max(1, math.floor(min_duration * rate + 1e-9))
    if n_samples < needed:
        raise SignalError(
            f"{source} has {n_samples} samples; at {fmt_rate(rate)} Hz at least {needed} "
            f"({fmt_seconds(min_duration)}) are needed"
        )


def check_options(mat_key, min_duration, item_name=None):
    """Check the reading options shared by every loading function.

    Raises
    ------
    TypeError
        ``mat_key`` is neither a str nor None, or ``item_name`` is neither
        callable nor None.
    ValueError
        ``min_duration`` is not None or a non-negative finite number.
    """
    if mat_key is not None and not isinstance(mat_key, str):
        raise TypeError(f"mat_key must be a str or None, got {type(mat_key).__name__}")
    if item_name is not None and not callable(item_name):
        raise TypeError(
            f"item_name must be None or a callable (index, path) -> str, got "
            f"{type(item_name).__name__}"
        )
    if min_duration is None:
        return
    ok = isinstance(min_duration, (numbers.Real, np.integer, np.floating)) and not isinstance(
        min_duration, (bool, np.bool_)
    )
    if not ok or not math.isfinite(float(min_duration)) or float(min_duration) < 0:
        raise ValueError(
            "min_duration must be None or a non-negative finite number of seconds; "
            f"got {min_duration!r}"
        )


ERRORS = ("raise", "skip")
"""What the loading functions do with bad items: raise one error naming them all, or skip them."""


def check_errors(errors: str) -> str:
    """Check the ``errors`` option of the loading functions (`ERRORS`)."""
    if errors not in ERRORS:
        raise ValueError(
            f"errors must be 'raise' (one error naming every bad item) or 'skip' (leave bad "
            f"items out and list them in .skipped); got {errors!r}"
        )
    return errors


def check_csv_columns(csv_columns):
    """Check the ``csv_columns`` option; returns it as a tuple (``None`` stays ``None``).

    ``csv_columns`` chooses the columns of CSV files that hold the signal: a
    column index (``0`` is the first, ``-1`` the last), a header name, or a
    non-empty list or tuple of them (the channels, in that order).

    Examples
    --------
    >>> from sklearn_echo.signals.validation import check_csv_columns
    >>> check_csv_columns([4, 5]), check_csv_columns("h_acc"), check_csv_columns(None)
    ((4, 5), ('h_acc',), None)
    """
    if csv_columns is None:
        return None
    values = csv_columns if isinstance(csv_columns, (list, tuple)) else [csv_columns]
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, str)):
            raise TypeError(
                "csv_columns must be None, a column index (int), a header name (str) or a "
                f"list of them; got {csv_columns!r}"
            )
        out.append(v if isinstance(v, str) else int(v))
    if not out:
        raise ValueError("csv_columns must name at least one column (or be None for all of them)")
    return tuple(out)
