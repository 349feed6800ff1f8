"""Turn the ``X`` users pass into a list of `Item`, each with its sampling rate.

The accepted forms of ``X`` are:

* a list, tuple, 1-D object or string ndarray or pandas Series whose items are
  signals (1-D ``(samples,)`` or 2-D ``(channels, samples)`` arrays, nested lists
  of numbers, torch tensors, `Signal` objects), file paths (``str`` or
  ``os.PathLike``) or ``(signal_or_path, sample_rate)`` pairs;
* a dense numeric ndarray (or torch tensor) of shape ``(n_signals, n_samples)``
  (one mono signal per row) or ``(n_signals, n_channels, n_samples)``;
* a pandas DataFrame with a ``"signal"``, ``"path"`` or ``"file"`` column and an
  optional ``"sample_rate"`` or ``"sr"`` column.

Nothing is read and no array is copied here. Each item gets its rate from a
pair, a `Signal`, the DataFrame's rate column, the per-item ``sample_rate``
or the scalar ``sample_rate`` (not for sound files, which store their own),
and its name from ``item_name`` (`default_item_name` unless one is given).
"""

from __future__ import annotations

import math
import os

import numpy as np

from ._kinds import abspath, is_number, is_pandas, is_path, is_torch_tensor
from .containers import Item, Signal, SignalError, combine_errors
from .readers import stores_rate
from .validation import RATE_RULE, check_options, fmt_rate, rate_problem

__all__ = [
    "SIGNAL_COLUMNS",
    "collect_items",
    "collection_noun",
    "default_item_name",
    "is_dense_block",
    "list_items",
]

SIGNAL_COLUMNS: tuple[str, ...] = ("signal", "path", "file")
"""DataFrame columns that hold the signals (the first one present is used)."""


def default_item_name(index: int, path: str | None) -> str:
    """How errors name an item unless told otherwise: ``X[3]`` or ``X[3] (/abs/path)``.

    Parameters
    ----------
    index : int
        Position in ``X``.
    path : str or None
        Absolute path of the item's file (a path, or a `Signal` read from a file).

    Examples
    --------
    >>> from sklearn_echo.signals.items import default_item_name
    >>> default_item_name(3, "/data/a.wav"), default_item_name(0, None)
    ('X[3] (/data/a.wav)', 'X[0]')
    """
    return f"X[{index}] ({path})" if path else f"X[{index}]"


def collection_noun(items, item_name=None) -> str:
    """What the header of a combined error counts.

    ``"items of X"`` with the default names; with an ``item_name`` callback,
    ``"files"`` when every item is a file (or a `Signal` read from one), else
    ``"items"``.
    """
    if item_name is None:
        return "items of X"
    return "files" if all(item.path is not None for item in items) else "items"


# --------------------------------------------------------------------------- forms of X
def _is_array_like(value) -> bool:
    """Something that can hold a signal (at least one dimension)."""
    if isinstance(value, np.ndarray):
        return value.ndim >= 1
    if isinstance(value, (list, tuple, Signal)):
        return True
    if is_torch_tensor(value):
        return value.ndim >= 1
    return hasattr(value, "__array__") and getattr(value, "ndim", 1) >= 1


def _split_pair(value):
    """``(signal_or_path, rate)`` -> (value, raw_rate, True); anything else -> (value, None, False)."""
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and (is_path(value[0]) or _is_array_like(value[0]))
        and (
            value[1] is None
            or is_number(value[1])
            or isinstance(value[1], (str, bytes))
            or (isinstance(value[1], np.ndarray) and value[1].ndim == 0)
        )
    ):
        return value[0], value[1], True
    return value, None, False


def _single_item_error(kind: str) -> SignalError:
    return SignalError(
        f"X must be a sequence of signals or file paths; wrap a single item in a list "
        f"(got {kind}). For example X=[signal] or X=['recording.wav']."
    )


def _container_values(X):
    """Split X into (values, per-item rates from X or None, description of rate source)."""
    if X is None:
        raise SignalError("X is None; expected a sequence of signals or file paths")
    if isinstance(X, Signal):
        raise _single_item_error("a single Signal")
    if is_path(X):
        raise _single_item_error(f"the single path {os.fspath(X)!r}")
    if isinstance(X, bytes):
        raise _single_item_error("bytes")
    if isinstance(X, (dict, set, frozenset)):
        raise SignalError(
            f"X is a {type(X).__name__}; expected an ordered sequence (list, tuple, "
            "array, pandas Series or DataFrame) of signals or file paths"
        )

    if is_pandas(X, "DataFrame"):
        columns = [str(c) for c in X.columns]
        signal_col = next((c for c in SIGNAL_COLUMNS if c in X.columns), None)
        if signal_col is None:
            raise SignalError(
                "X is a DataFrame without a signal column: expected a column named "
                f"'signal', 'path' or 'file'; its columns are {columns}"
            )
        rate_col = next((c for c in ("sample_rate", "sr") if c in X.columns), None)
        values = list(X[signal_col].to_numpy(dtype=object))
        rates = None
        if rate_col is not None:
            rates = list(X[rate_col].to_numpy(dtype=object))
        return values, rates, f"column {rate_col!r}"

    if is_pandas(X, "Series"):
        if X.dtype != object and X.dtype.kind in "biufc":
            raise _single_item_error(f"a numeric pandas Series of length {len(X)}")
        X = X.to_numpy(dtype=object)

    if is_torch_tensor(X):
        t = X.detach().cpu()
        if t.ndim in (2, 3):
            if t.is_complex() or str(t.dtype) == "torch.bool":
                raise SignalError(f"X is a tensor of dtype {t.dtype}; signals must be real numbers")
            if str(t.dtype) == "torch.bfloat16":
                t = t.float()
            X = t.numpy()
        elif t.ndim <= 1:
            raise _single_item_error(f"a tensor of shape {tuple(t.shape)}")
        else:
            raise SignalError(
                f"X is a tensor with {t.ndim} dimensions {tuple(t.shape)}; expected "
                "(n_signals, n_samples) or (n_signals, n_channels, n_samples)"
            )

    if isinstance(X, np.ndarray):
        kind = X.dtype.kind
        if X.ndim == 0:
            raise _single_item_error(f"a 0-d array {X!r}")
        if kind == "O" and X.ndim in (2, 3):
            # a dense block stored as objects: numbers are accepted, anything else is not
            try:
                X = X.astype(np.float64)
            except TypeError as exc:
                raise TypeError(f"X is a {X.ndim}-D object array that is not numeric: {exc}") from None
            except ValueError:
                pass
            kind = X.dtype.kind
        if kind in "OUS":
            if X.ndim != 1:
                raise SignalError(
                    f"X is a {X.ndim}-D array of dtype {X.dtype}; an array of signals or "
                    "paths must be 1-D (dense numeric arrays may be 2-D or 3-D)"
                )
            values = list(X)
        elif kind not in "iuf":
            complex_note = "Complex data not supported; " if kind == "c" else ""
            raise SignalError(
                f"X is an array of dtype {X.dtype}; {complex_note}signals must be real numbers "
                "(integer or floating point)"
            )
        elif X.ndim == 1:
            raise _single_item_error(f"a 1-D array of {X.shape[0]} numbers")
        elif X.ndim == 2:
            # one mono signal per row, kept 2-D (1, n_samples): views, no copy
            return [X[i : i + 1] for i in range(X.shape[0])], None, None
        elif X.ndim == 3:
            return [X[i] for i in range(X.shape[0])], None, None
        else:
            raise SignalError(
                f"X is an array with {X.ndim} dimensions {X.shape}; expected (n_signals, "
                "n_samples) or (n_signals, n_channels, n_samples), or a list of signals"
            )
    elif isinstance(X, (list, tuple)) or hasattr(X, "__iter__") and not hasattr(X, "__array__"):
        values = list(X)
    elif hasattr(X, "__array__"):
        return _container_values(np.asarray(X))
    else:
        raise SignalError(
            f"X has type {type(X).__name__}; expected a sequence of signals or file paths"
        )
    if values and all(is_number(v) for v in values):
        raise _single_item_error(f"a sequence of {len(values)} numbers, i.e. one signal")
    if isinstance(X, tuple) and len(values) == 2 and _split_pair(X)[2]:
        raise SignalError(
            "X looks like a single (signal, sample_rate) pair; wrap it in a list: X=[(signal, rate)]"
        )
    return values, None, None


def _per_item_rates(sample_rate, n):
    """Split the sample_rate argument into (scalar_default, list of raw per-item rates or None)."""
    if sample_rate is None:
        return None, None
    if isinstance(sample_rate, np.ndarray) and sample_rate.ndim == 0:
        sample_rate = sample_rate[()]
    if is_number(sample_rate) or isinstance(sample_rate, (str, bytes)):
        rate, problem = rate_problem(sample_rate)
        if problem:
            raise SignalError(f"sample_rate={sample_rate!r} is not valid: {problem}; {RATE_RULE}")
        return rate, None
    if is_torch_tensor(sample_rate):
        sample_rate = sample_rate.detach().cpu().numpy()
    try:
        rates = np.asarray(sample_rate, dtype=object)
    except Exception as exc:  # ragged etc.
        raise SignalError(f"sample_rate could not be read as per-item rates: {exc}") from None
    if rates.ndim != 1:
        raise SignalError(
            f"sample_rate must be a number or a 1-D sequence of per-item rates; got shape {rates.shape}"
        )
    if len(rates) != n:
        raise SignalError(
            f"sample_rate has {len(rates)} per-item rates but X has {n} items; "
            "the lengths must be equal (or pass a single number)"
        )
    return None, list(rates)


# --------------------------------------------------------------------------- items
def collect_items(X, sample_rate, item_name=None):
    """Like `list_items`, but per-item rate problems are returned instead of raised.

    Returns
    -------
    items : list of Item
        One per element of ``X``.
    errors : dict of int to SignalError
        The rate problem of each item that has one (its rate is then ``None``).
    """
    name = default_item_name if item_name is None else item_name
    values, x_rates, x_rates_name = _container_values(X)
    n = len(values)
    if n == 0:
        raise SignalError("X is empty; at least one signal or file path is needed")
    default, arg_rates = _per_item_rates(sample_rate, n)

    items: list[Item] = []
    errors: dict[int, SignalError] = {}
    for i, raw in enumerate(values):
        value, pair_rate, is_pair = _split_pair(raw)
        if is_path(value) and os.fspath(value):
            path = abspath(value)
        elif isinstance(value, Signal) and value.path:
            path = value.path
        else:
            path = None
        source = str(name(i, path))
        # every explicit rate that applies to this item, in priority order
        candidates = []
        if is_pair and pair_rate is not None:
            candidates.append(("the (signal, sample_rate) pair", pair_rate))
        if isinstance(value, Signal):
            candidates.append(("the Signal", value.sample_rate))
        if x_rates is not None and x_rates[i] is not None:
            candidates.append((x_rates_name, x_rates[i]))
        if arg_rates is not None and arg_rates[i] is not None:
            candidates.append((f"sample_rate[{i}]", arg_rates[i]))

        rate = None
        problem = None
        for what, raw_rate in candidates:
            r, why = rate_problem(raw_rate)
            if why:
                problem = f"{source}: the sample rate from {what} is not valid: {why}; {RATE_RULE}"
                break
            if rate is None:
                rate, first = r, what
            elif not math.isclose(rate, r, rel_tol=1e-9):
                problem = (
                    f"{source}: {first} gives {fmt_rate(rate)} Hz but {what} gives "
                    f"{fmt_rate(r)} Hz; give one sampling rate per item"
                )
                break
        if problem:
            errors[i] = SignalError(problem)
            rate = None
        elif rate is None and default is not None and not (is_path(value) and stores_rate(value)):
            rate = default
        items.append(Item(index=i, value=value, sample_rate=rate, source=source))
    return items, errors


def is_dense_block(X) -> bool:
    """Whether ``X`` is a block of equal-length mono signals, one per row.

    True for a 2-D numeric ndarray and for a numeric DataFrame without a
    signal column (`SIGNAL_COLUMNS`): the form scikit-learn's own
    checks and feature-matrix habits use. Estimators validate such input with
    ``validate_data`` (recording ``n_features_in_``) before reading its rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.signals import is_dense_block
    >>> is_dense_block(np.zeros((3, 1600))), is_dense_block([np.zeros(1600)])
    (True, False)
    """
    if hasattr(X, "columns") and hasattr(X, "dtypes"):
        if any(c in X.columns for c in SIGNAL_COLUMNS):
            return False
        return len(X.columns) > 0 and all(np.issubdtype(d, np.number) for d in X.dtypes)
    return isinstance(X, np.ndarray) and X.ndim == 2 and np.issubdtype(X.dtype, np.number)


def list_items(X, sample_rate=None, *, item_name=None) -> list[Item]:
    """Normalise the container ``X`` into items, without reading files or copying arrays.

    Parameters
    ----------
    X : sequence, ndarray, pandas Series or DataFrame
        The signals or file paths (see the module documentation for every form).
    sample_rate : None, float or 1-D array-like, default=None
        ``None``; a scalar, the default rate for items that carry none (a sound
        file's own rate takes precedence over it); or one rate per item (its
        length must equal ``len(X)``; ``None`` entries mean "no rate given").
    item_name : callable or None, default=None
        ``item_name(index, path) -> str`` gives each item's ``source``, the
        name errors use (``path``: the absolute path of the item's file, or
        ``None``); ``None`` means `default_item_name` (``X[3]``,
        ``X[3] (/abs/path)``).

    Returns
    -------
    list of Item
        One per element of ``X``, in order.

    Raises
    ------
    SignalError
        When ``X`` is not a container of signals (a bare path, a single 1-D
        array, an empty sequence, a DataFrame without a signal column), when
        ``sample_rate`` is invalid or has the wrong length, or when per-item
        rates are invalid or contradict each other (all such items are listed).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.signals import list_items
    >>> items = list_items([np.zeros(100), (np.ones(50), 8000)], sample_rate=16000)
    >>> [(it.source, it.sample_rate) for it in items]
    [('X[0]', 16000.0), ('X[1]', 8000.0)]
    >>> [it.source for it in list_items(["/data/a.npy"], 100, item_name=lambda i, p: p)]
    ['/data/a.npy']
    """
    check_options(None, None, item_name)
    items, errors = collect_items(X, sample_rate, item_name)
    if errors:
        raise combine_errors(errors, len(items), collection_noun(items, item_name))
    return items
