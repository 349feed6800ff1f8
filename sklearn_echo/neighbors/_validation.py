"""Input checks of the neighbour search, with messages that name the offending rows."""

# License: MIT

import hashlib
from numbers import Integral

import numpy as np

__all__ = [
    "check_bank_like",
    "check_finite_rows",
    "check_n_neighbors",
    "check_vectors",
    "list_rows",
    "row_digests",
]

# Rows checked (or reduced) at once, so that temporary arrays stay small.
ROW_CHUNK = 4096


def list_rows(rows, limit=5):
    """Row indices as text, the first ``limit`` of them and the count.

    Parameters
    ----------
    rows : iterable of int
        Row indices.
    limit : int, default=5
        Number of indices written out.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from sklearn_echo.neighbors._validation import list_rows
    >>> list_rows([3, 8])
    '3, 8'
    >>> list_rows(range(7))
    '0, 1, 2, 3, 4, ... (7 rows)'
    """
    rows = [int(r) for r in rows]
    text = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        text += f", ... ({len(rows)} rows)"
    return text


def _nonfinite_rows(X):
    """Indices of the rows of ``X`` holding NaN or infinity, checked chunk by chunk."""
    bad = []
    for s in range(0, X.shape[0], ROW_CHUNK):
        ok = np.isfinite(X[s : s + ROW_CHUNK]).all(axis=1)
        if not ok.all():
            bad.extend((np.flatnonzero(~ok) + s).tolist())
    return bad


def check_vectors(X, what):
    """``X`` as a C-contiguous float32 2-D array of finite numbers, and its row norms.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Vectors.
    what : str
        Name of the array in the messages ("The bank", "The queries").

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    sq : ndarray of shape (n_samples,), float64
        float64 squared norms of the rows (`._kernels.row_squared_norms`: a
        row holding NaN or infinity gets a norm that is not finite, finite
        float32 rows never do); the finiteness check
        reads them, and the cosine metric reuses them.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, does not hold numbers, or holds NaN or infinity
        (also after the conversion to float32); the rows are named.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._validation import check_vectors
    >>> check_vectors(np.array([[1.0, 2.0], [np.nan, 0.0]]), "The bank")
    Traceback (most recent call last):
        ...
    ValueError: The bank contains NaN or infinity (after conversion to float32) in row(s) 1; every value must be finite.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, got shape {X.shape}.")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{what} must hold numbers, got dtype {X.dtype}.")
    with np.errstate(over="ignore"):  # overflow is reported just below
        X = np.ascontiguousarray(X, dtype=np.float32)
    from ._kernels import row_squared_norms

    sq = row_squared_norms(X)
    bad = np.flatnonzero(~np.isfinite(sq))
    if bad.size:
        raise ValueError(
            f"{what} contains NaN or infinity (after conversion to float32) in "
            f"row(s) {list_rows(bad)}; every value must be finite."
        )
    return X, sq


def check_finite_rows(X, what="Input X"):
    """Raise a ``ValueError`` naming the rows of ``X`` that hold NaN or infinity.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated numeric array.
    what : str, default="Input X"
        Name of the array in the message.

    Returns
    -------
    X : ndarray
        ``X`` itself.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._validation import check_finite_rows
    >>> check_finite_rows(np.array([[1.0, np.nan]]))
    Traceback (most recent call last):
        ...
    ValueError: Input X contains NaN or infinity in row(s) 0; every value must be finite.
    """
    bad = _nonfinite_rows(X)
    if bad:
        raise ValueError(
            f"{what} contains NaN or infinity in row(s) {list_rows(bad)}; every "
            "value must be finite."
        )
    return X


def check_n_neighbors(n_neighbors):
    """Raise a ``ValueError`` unless ``n_neighbors`` is a positive int.

    Parameters
    ----------
    n_neighbors : object
        The requested number of neighbours.
    """
    if not isinstance(n_neighbors, Integral) or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be a positive int, got {n_neighbors!r}.")


def check_bank_like(X, n_features, what):
    """``X`` as an array with ``n_features`` columns, or a ``ValueError`` saying so.

    Parameters
    ----------
    X : array-like
        Queries or candidates.
    n_features : int
        Width of the bank.
    what : str
        Name of the array in the message.

    Returns
    -------
    X : ndarray
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"{what} must have {n_features} features like the bank, got shape {X.shape}."
        )
    return X


def row_digests(X):
    """Digest of every row's float32 bytes (identifies bitwise-equal rows).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows to hash; converted to C-contiguous float32 first.

    Returns
    -------
    digests : list of bytes
        A 16-byte BLAKE2b digest per row.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._validation import row_digests
    >>> a, b, c = row_digests(np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0]]))
    >>> a == c, a == b
    (True, False)
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in X]
