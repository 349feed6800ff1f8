"""Turn the ``X`` users pass into validated signals.

Every estimator and the command line read their input through this module, so
that a recording is accepted (or rejected, with the same message) the same way
everywhere. The accepted forms of ``X`` are:

* a list, tuple, 1-D object or string ndarray or pandas Series whose items are
  signals (1-D ``(samples,)`` or 2-D ``(channels, samples)`` arrays, nested lists
  of numbers, torch tensors, `Signal` objects), file paths (``str`` or
  ``os.PathLike``) or ``(signal_or_path, sample_rate)`` pairs;
* a dense numeric ndarray (or torch tensor) of shape ``(n_signals, n_samples)``
  (one mono signal per row) or ``(n_signals, n_channels, n_samples)``;
* a pandas DataFrame with a ``"signal"``, ``"path"`` or ``"file"`` column and an
  optional ``"sample_rate"`` or ``"sr"`` column.

`list_items` normalises the container without reading anything,
`load_item` reads and validates one item, `load_signals` does both
for every item and reports every bad item in a single `SignalError`.
`scan_signals` validates the same way but keeps no file's samples: its
`ScannedSignals` reads the files again block by block, so a folder of
recordings is embedded in bounded memory.
`expand_paths` turns command-line arguments (files, folders, glob
patterns) into a sorted list of files.
"""

from __future__ import annotations

import glob as _glob
import math
import numbers
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np

__all__ = [
    "SIGNAL_COLUMNS",
    "SUPPORTED_EXTENSIONS",
    "check_signal_input",
    "is_dense_block",
    "Item",
    "ScannedSignals",
    "Signal",
    "SignalInfo",
    "SignalError",
    "SignalFileNotFoundError",
    "expand_paths",
    "iter_signals",
    "list_items",
    "load_item",
    "load_signals",
    "scan_signals",
    "supported_extensions",
]

SIGNAL_COLUMNS: tuple[str, ...] = ("signal", "path", "file")
"""DataFrame columns that hold the signals (the first one present is used)."""

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mat", ".npy", ".csv")
"""File extensions every installation reads (compared case-insensitively)."""

# Formats read with soundfile, which also gives the sampling rate stored in the
# file. The extra ones are only offered when the installed libsndfile has them.
_SOUNDFILE_BASE = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
_SOUNDFILE_EXTRA = {
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
_MAX_LISTED = 20


# --------------------------------------------------------------------------- errors
class SignalError(ValueError):
    """An input could not be turned into a valid signal.

    The message names the offending item (``X[3]`` or ``X[3] (/path/file.wav)``)
    and the rule it broke. When raised by `load_signals` it lists every bad
    item; ``errors`` then holds ``(index, message)`` pairs, one per bad item
    (``index`` is ``None`` for an error about ``X`` as a whole).
    """

    def __init__(self, message, errors=None):
        super().__init__(message)
        self.errors = list(errors) if errors is not None else []


class SignalFileNotFoundError(SignalError, FileNotFoundError):
    """A file named in ``X`` (or a pattern given to `expand_paths`) does not exist.

    It is both a `SignalError` (hence a ``ValueError``) and a
    ``FileNotFoundError``.
    """


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
        ``"X[3] (/abs/path/file.wav)"``.
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
        ``"X[3] (/abs/path/file.wav)"``.
    """

    index: int
    value: object
    sample_rate: float | None
    source: str

    @property
    def path(self) -> str | None:
        """Absolute path when the item is a file, else ``None``."""
        if _is_path(self.value):
            return _abspath(self.value)
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


# --------------------------------------------------------------------------- small helpers
def _is_path(value) -> bool:
    return isinstance(value, (str, os.PathLike))


def _abspath(value) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(value)))


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _soundfile_extensions() -> dict:
    if not hasattr(_soundfile_extensions, "_cache"):
        exts = dict(_SOUNDFILE_BASE)
        try:
            import soundfile

            formats = set(soundfile.available_formats())
        except Exception:  # pragma: no cover - soundfile is a dependency
            formats = set()
        exts.update({e: f for e, f in _SOUNDFILE_EXTRA.items() if f in formats})
        _soundfile_extensions._cache = exts
    return _soundfile_extensions._cache


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
    extra = tuple(e for e in _soundfile_extensions() if e not in SUPPORTED_EXTENSIONS)
    return SUPPORTED_EXTENSIONS + extra


def _stores_rate(path) -> bool:
    """Whether the file format stores its own sampling rate (sound files)."""
    return _ext(os.fspath(path)) in _soundfile_extensions()


def _fmt_rate(rate: float) -> str:
    rate = float(rate)
    if rate.is_integer():
        return str(int(rate))
    return f"{rate:g}"


def _fmt_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g} ms"
    return f"{seconds:g} s"


def _is_torch_tensor(value) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _is_pandas(value, name: str) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, getattr(pd, name))


def _is_number(value) -> bool:
    """A plain scalar number (bool and complex included), not a string."""
    return isinstance(value, (numbers.Number, np.generic)) and not isinstance(
        value, (str, bytes, np.str_, np.bytes_)
    )


def _is_array_like(value) -> bool:
    """Something that can hold a signal (at least one dimension)."""
    if isinstance(value, np.ndarray):
        return value.ndim >= 1
    if isinstance(value, (list, tuple, Signal)):
        return True
    if _is_torch_tensor(value):
        return value.ndim >= 1
    return hasattr(value, "__array__") and getattr(value, "ndim", 1) >= 1


def _split_pair(value):
    """``(signal_or_path, rate)`` -> (value, raw_rate, True); anything else -> (value, None, False)."""
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and (_is_path(value[0]) or _is_array_like(value[0]))
        and (
            value[1] is None
            or _is_number(value[1])
            or isinstance(value[1], (str, bytes))
            or (isinstance(value[1], np.ndarray) and value[1].ndim == 0)
        )
    ):
        return value[0], value[1], True
    return value, None, False


def _rate_problem(value):
    """Return (rate, None) for a valid rate, (None, reason) otherwise."""
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
        return None, f"{_fmt_rate(rate)} is not positive"
    return rate, None


_RATE_RULE = "sampling rates must be real, positive, finite numbers in Hz"


def _single_item_error(kind: str) -> SignalError:
    return SignalError(
        f"X must be a sequence of signals or file paths; wrap a single item in a list "
        f"(got {kind}). For example X=[signal] or X=['recording.wav']."
    )


# --------------------------------------------------------------------------- list_items
def _container_values(X):
    """Split X into (values, per-item rates from X or None, description of rate source)."""
    if X is None:
        raise SignalError("X is None; expected a sequence of signals or file paths")
    if isinstance(X, Signal):
        raise _single_item_error("a single Signal")
    if _is_path(X):
        raise _single_item_error(f"the single path {os.fspath(X)!r}")
    if isinstance(X, bytes):
        raise _single_item_error("bytes")
    if isinstance(X, (dict, set, frozenset)):
        raise SignalError(
            f"X is a {type(X).__name__}; expected an ordered sequence (list, tuple, "
            "array, pandas Series or DataFrame) of signals or file paths"
        )

    if _is_pandas(X, "DataFrame"):
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

    if _is_pandas(X, "Series"):
        if X.dtype != object and X.dtype.kind in "biufc":
            raise _single_item_error(f"a numeric pandas Series of length {len(X)}")
        X = X.to_numpy(dtype=object)

    if _is_torch_tensor(X):
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
    elif isinstance(X, (list, tuple)):
        values = list(X)
    elif hasattr(X, "__iter__") and not hasattr(X, "__array__"):
        values = list(X)
    elif hasattr(X, "__array__"):
        return _container_values(np.asarray(X))
    else:
        raise SignalError(
            f"X has type {type(X).__name__}; expected a sequence of signals or file paths"
        )
    if values and all(_is_number(v) for v in values):
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
    if _is_number(sample_rate) or isinstance(sample_rate, (str, bytes)):
        rate, problem = _rate_problem(sample_rate)
        if problem:
            raise SignalError(f"sample_rate={sample_rate!r} is not valid: {problem}; {_RATE_RULE}")
        return rate, None
    if _is_torch_tensor(sample_rate):
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


def _collect_items(X, sample_rate):
    """Like list_items, but per-item rate problems are returned instead of raised."""
    values, x_rates, x_rates_name = _container_values(X)
    n = len(values)
    if n == 0:
        raise SignalError("X is empty; at least one signal or file path is needed")
    default, arg_rates = _per_item_rates(sample_rate, n)

    items: list[Item] = []
    errors: dict[int, SignalError] = {}
    for i, raw in enumerate(values):
        value, pair_rate, is_pair = _split_pair(raw)
        if _is_path(value) and os.fspath(value):
            source = f"X[{i}] ({_abspath(value)})"
        elif isinstance(value, Signal) and value.path:
            source = f"X[{i}] ({value.path})"
        else:
            source = f"X[{i}]"
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
        for name, raw_rate in candidates:
            r, why = _rate_problem(raw_rate)
            if why:
                problem = f"{source}: the sample rate from {name} is not valid: {why}; {_RATE_RULE}"
                break
            if rate is None:
                rate, first_name = r, name
            elif not math.isclose(rate, r, rel_tol=1e-9):
                problem = (
                    f"{source}: {first_name} gives {_fmt_rate(rate)} Hz but {name} gives "
                    f"{_fmt_rate(r)} Hz; give one sampling rate per item"
                )
                break
        if problem:
            errors[i] = SignalError(problem)
            rate = None
        elif rate is None and default is not None and not (_is_path(value) and _stores_rate(value)):
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


def list_items(X, sample_rate=None) -> list[Item]:
    """Normalise the container ``X`` into items, without reading files or copying arrays.

    Parameters
    ----------
    X : sequence, ndarray, pandas Series or DataFrame
        The signals or file paths (see the module documentation for every form).
    sample_rate : None, float or 1-D array-like, default=None
        ``None``; a scalar, the default rate for items that carry none (a sound
        file's own rate takes precedence over it); or one rate per item (its
        length must equal ``len(X)``; ``None`` entries mean "no rate given").

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
    """
    items, errors = _collect_items(X, sample_rate)
    if errors:
        raise _combined_error(errors, len(items))
    return items


# --------------------------------------------------------------------------- readers
def _read_soundfile(path: str, item: Item):
    import soundfile

    with soundfile.SoundFile(path) as f:
        file_rate = float(f.samplerate)
        if item.sample_rate is not None and not math.isclose(
            item.sample_rate, file_rate, rel_tol=1e-9
        ):
            raise SignalError(
                f"{item.source}: the file {path} is sampled at {_fmt_rate(file_rate)} Hz but "
                f"{_fmt_rate(item.sample_rate)} Hz was given for it; the rates must agree "
                "(leave the rate out to use the file's)"
            )
        data = f.read(dtype="float32", always_2d=True)
    # (frames, channels) -> (channels, frames); a no-copy view for mono files
    return data.T, file_rate


def _read_mat(path: str, item: Item, mat_key):
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
    return data, None, f"variable {matches[0]!r} of {path}"


def _read_npy(path: str, item: Item):
    data = np.load(path, allow_pickle=False)
    if not isinstance(data, np.ndarray):
        raise SignalError(f"{item.source}: {path} holds an archive of arrays, not a single array")
    return data


def _read_csv(path: str, item: Item):
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
    # rows are samples, columns are channels
    return data.T


# --------------------------------------------------------------------------- validation
def _dtype_problem(dtype) -> str | None:
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


def _to_array(value, source: str) -> np.ndarray:
    """Array view of an in-memory item (no copy when possible)."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, Signal):
        return value.data
    if value is None:
        raise SignalError(f"{source} is None; expected a signal or a file path")
    if isinstance(value, bytes):
        raise SignalError(f"{source} is bytes; pass file paths as str or pathlib.Path")
    if _is_number(value):
        raise SignalError(
            f"{source} is a single number ({value!r}), not a signal; a signal is a 1-D or "
            "2-D (channels, samples) array"
        )
    if _is_torch_tensor(value):
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
            if isinstance(value, list) and len(value) == 2 and _is_number(value[1]):
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


def _validate(array: np.ndarray, source: str, layout_hint: str) -> np.ndarray:
    """Check and convert to float32 C-contiguous (channels, samples)."""
    problem = _dtype_problem(array.dtype)
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


def _check_duration(n_samples: int, rate: float, min_duration, source: str):
    if min_duration is None:
        return
    needed = max(1, math.floor(min_duration * rate + 1e-9))
    if n_samples < needed:
        raise SignalError(
            f"{source} has {n_samples} samples; at {_fmt_rate(rate)} Hz at least {needed} "
            f"({_fmt_seconds(min_duration)}) are needed"
        )


def _check_options(mat_key, min_duration):
    if mat_key is not None and not isinstance(mat_key, str):
        raise TypeError(f"mat_key must be a str or None, got {type(mat_key).__name__}")
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


def _no_rate_error(item: Item, path: str | None) -> SignalError:
    extra = ""
    if path is not None:
        extra = f" ({_ext(path) or 'this'} files do not store one)"
    return SignalError(
        f"no sampling rate for {item.source}; pass sample_rate=... (one number for all items, "
        f"one per item, or a (signal, rate) pair){extra}"
    )


# --------------------------------------------------------------------------- load_item
def load_item(item: Item, *, mat_key="DE_time", min_duration=None) -> Signal:
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
    _check_options(mat_key, min_duration)
    source = item.source
    value = item.value
    path = None
    file_rate = None
    if _is_path(value):
        path = _abspath(value)
        if not os.fspath(value):
            raise SignalError(f"{source} is an empty path")
        if not os.path.exists(path):
            raise SignalFileNotFoundError(f"{source}: file not found")
        if os.path.isdir(path):
            raise SignalError(
                f"{source}: {path} is a folder, not a file; list its files (for example "
                "with sklearn_echo.signals.expand_paths)"
            )
        ext = _ext(path)
        sound = ext in _soundfile_extensions()
        if not sound and ext not in SUPPORTED_EXTENSIONS:
            raise SignalError(
                f"{source}: unsupported file type {ext or '(no extension)'!r} for {path}; "
                f"supported: {', '.join(supported_extensions())}"
            )
        if not sound and item.sample_rate is None:
            raise _no_rate_error(item, path)
        layout_hint = f"the array in {path} looks like (samples, channels); store its transpose"
        try:
            if sound:
                raw, file_rate = _read_soundfile(path, item)
            elif ext == ".mat":
                raw, file_rate, where = _read_mat(path, item, mat_key)
                layout_hint = f"check {where}"
            elif ext == ".npy":
                raw = _read_npy(path, item)
                layout_hint = f"{path} looks like it holds (samples, channels); save arr.T instead"
            else:
                raw = _read_csv(path, item)
                layout_hint = (
                    f"in a CSV file each column is a channel and each row a sample, so {path} "
                    "should hold the signal as one column (or one column per channel)"
                )
        except SignalError:
            raise
        except FileNotFoundError as exc:
            raise SignalFileNotFoundError(f"{source}: file not found ({exc})") from None
        except MemoryError:
            raise
        except Exception as exc:
            raise SignalError(
                f"{source}: cannot read {path} as a {ext} file: {type(exc).__name__}: {exc}"
            ) from None
        data = _validate(raw, source, layout_hint)
        rate = file_rate if file_rate is not None else item.sample_rate
    else:
        raw = _to_array(value, source)
        data = _validate(
            raw,
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
    rate_value, problem = _rate_problem(rate)
    if problem:
        raise SignalError(f"{source}: the sample rate is not valid: {problem}; {_RATE_RULE}")
    _check_duration(data.shape[1], rate_value, min_duration, source)
    return Signal(data=data, sample_rate=rate_value, source=source, path=path)


# --------------------------------------------------------------------------- load_signals
def _combined_error(errors: dict, n_items: int) -> SignalError:
    indices = sorted(errors)
    messages = [str(errors[i]) for i in indices]
    k = len(messages)
    verb = "is" if k == 1 else "are"
    header = f"{k} of {n_items} items of X {verb} invalid"
    if k == 1:
        text = f"{header}: {messages[0]}"
    else:
        shown = messages[:_MAX_LISTED]
        lines = [f"{header}:"] + [f"  - {m}" for m in shown]
        if k > _MAX_LISTED:
            lines.append(f"  ... and {k - _MAX_LISTED} more")
        text = "\n".join(lines)
    pairs = [(i, str(errors[i])) for i in indices]
    if all(isinstance(errors[i], SignalFileNotFoundError) for i in indices):
        return SignalFileNotFoundError(text, pairs)
    return SignalError(text, pairs)


def load_signals(X, sample_rate=None, *, mat_key="DE_time", min_duration=None) -> list[Signal]:
    """Read and validate every item of ``X``.

    Every item is checked; if any is bad, one exception lists all bad items
    (the first 20, then "... and N more"). Good items are never dropped or
    zero-filled.

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

    Returns
    -------
    list of Signal
        One per item of ``X``, in order.

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
    """
    return [signal for _, signal in _read_all(X, sample_rate, mat_key, min_duration)]


def _read_all(X, sample_rate, mat_key, min_duration) -> Iterator[tuple[Item, Signal]]:
    """Read and check every item of ``X``: yield ``(item, signal)`` for each good one,
    then raise one `SignalError` listing every bad one (if any)."""
    _check_options(mat_key, min_duration)
    items, errors = _collect_items(X, sample_rate)
    for item in items:
        if item.index in errors:
            continue
        try:
            signal = load_item(item, mat_key=mat_key, min_duration=min_duration)
        except SignalError as exc:
            errors[item.index] = exc
            continue
        yield item, signal
    if errors:
        raise _combined_error(errors, len(items))


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


class ScannedSignals:
    """The validated items of ``X``, without the samples of its files (see `scan_signals`).

    Attributes
    ----------
    infos : list of SignalInfo
        One per item of ``X``, in order.
    """

    def __init__(self, items, infos, held, mat_key, min_duration):
        self._items = items
        self.infos = infos
        self._held = held
        self._mat_key = mat_key
        self._min_duration = min_duration

    def __len__(self) -> int:
        return len(self.infos)

    def __add__(self, other):
        """Both sets in order (items keep the names they were scanned under)."""
        if not isinstance(other, ScannedSignals):
            return NotImplemented
        if (self._mat_key, self._min_duration) != (other._mat_key, other._min_duration):
            raise ValueError(
                "cannot join signals scanned with different mat_key or min_duration"
            )
        held = dict(self._held)
        held.update((len(self) + k, v) for k, v in other._held.items())
        return ScannedSignals(
            self._items + other._items, self.infos + other.infos, held,
            self._mat_key, self._min_duration,
        )

    def _signal(self, position: int) -> Signal:
        held = self._held.get(position)
        if held is not None:
            return held
        signal = load_item(self._items[position], mat_key=self._mat_key, min_duration=self._min_duration)
        info = self.infos[position]
        if (signal.n_channels, signal.n_samples, signal.sample_rate) != (
            info.n_channels, info.n_samples, info.sample_rate
        ):
            raise SignalError(
                f"{info.source} changed while it was being read: {info.n_channels} channel(s) x "
                f"{info.n_samples} samples at {_fmt_rate(info.sample_rate)} Hz when first read, "
                f"{signal.n_channels} x {signal.n_samples} at {_fmt_rate(signal.sample_rate)} Hz now"
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
            block.append(self._signal(position))
            size += n
        if block:
            yield block


def scan_signals(X, sample_rate=None, *, mat_key="DE_time", min_duration=None) -> ScannedSignals:
    """Validate every item of ``X`` as `load_signals` does, keeping no file's samples.

    Every file is read and checked once (so every bad item is reported at once,
    before any work is done) and its samples are dropped; in-memory items
    are kept. `ScannedSignals.blocks` then reads the files again, a block
    at a time.

    Parameters
    ----------
    X, sample_rate, mat_key, min_duration
        As for `load_signals`.

    Returns
    -------
    ScannedSignals

    Raises
    ------
    SignalError
        As `load_signals`, listing every bad item.

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
    items, infos, held = [], [], {}
    for item, signal in _read_all(X, sample_rate, mat_key, min_duration):
        items.append(item)
        if not _is_path(item.value):
            held[len(infos)] = signal  # in memory already: keep it
        infos.append(
            SignalInfo(
                item.index, signal.sample_rate, signal.source,
                signal.n_channels, signal.n_samples, signal.path,
            )
        )
    return ScannedSignals(items, infos, held, mat_key, min_duration)


def check_signal_input(
    estimator,
    X,
    sample_rate=None,
    *,
    reset: bool,
    mat_key="DE_time",
    min_duration=None,
    dtype=(np.float32, np.float64),
) -> ScannedSignals:
    """The signal-input check of every estimator that takes signals or files.

    Sparse input is refused, a single 1-D array is refused with the fix
    (``X=[signal]``), a dense block of equal-length signals (rows) goes
    through scikit-learn's ``validate_data`` (which records
    ``n_features_in_`` / ``feature_names_in_`` when ``reset`` and checks them
    otherwise; NaN and Inf are left to the loading layer, whose errors name
    the row), and every item is then read and checked by `scan_signals`.
    A `ScannedSignals` is returned as it is (checked already).

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator being fitted or used (named in errors; ``validate_data``
        records its input features).
    X : signals, paths, pairs, DataFrame, 2-D array or ScannedSignals
    sample_rate : float or array-like, default=None
        Rate of items that carry none.
    reset : bool
        True in ``fit``.
    mat_key, min_duration
        As for `load_signals`.
    dtype : dtype or tuple of dtypes
        Accepted dtypes of a dense block (``validate_data``'s ``dtype``).

    Returns
    -------
    ScannedSignals

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from sklearn_echo.signals import check_signal_input
    >>> est = BaseEstimator()
    >>> check_signal_input(est, np.zeros((2, 800)), 8000, reset=True).infos[1].n_samples
    800
    >>> est.n_features_in_
    800
    """
    if isinstance(X, ScannedSignals):
        return X
    name = type(estimator).__name__
    import scipy.sparse as sp

    if sp.issparse(X):
        raise TypeError(
            f"sparse input is not supported: {name} takes signals (dense arrays) or file paths"
        )
    if isinstance(X, np.ndarray) and X.ndim == 1 and np.issubdtype(X.dtype, np.number):
        raise SignalError(
            f"X is a single 1-D array of {X.shape[0]} samples; pass a list of signals "
            "(X=[signal]) or a 2-D array with one signal per row (Reshape your data "
            "with X.reshape(1, -1) for one signal)"
        )
    if is_dense_block(X):
        from sklearn.utils.validation import validate_data

        X = np.asarray(
            validate_data(estimator, X, reset=reset, dtype=dtype, ensure_all_finite=False)
        )
    return scan_signals(X, sample_rate, mat_key=mat_key, min_duration=min_duration)


def iter_signals(X, sample_rate=None, *, mat_key="DE_time", min_duration=None) -> Iterator[Signal]:
    """Yield the signals of ``X`` one at a time (for long recordings).

    Only one item is held in memory at a time. Unlike `load_signals` it
    stops at the first bad item (its `SignalError` names it).

    Parameters
    ----------
    X, sample_rate, mat_key, min_duration
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
    _check_options(mat_key, min_duration)
    for item in list_items(X, sample_rate):
        yield load_item(item, mat_key=mat_key, min_duration=min_duration)


# --------------------------------------------------------------------------- expand_paths
def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _folder_files(folder: str, recursive: bool, exts) -> list[str]:
    found = []
    if recursive:
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            found.extend(
                os.path.join(root, f) for f in files if not f.startswith(".") and _ext(f) in exts
            )
    else:
        found = [
            os.path.join(folder, f)
            for f in os.listdir(folder)
            if not f.startswith(".") and _ext(f) in exts and os.path.isfile(os.path.join(folder, f))
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
    if _is_path(patterns):
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
        if not _is_path(pattern):
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
                elif _ext(m) in exts:
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
