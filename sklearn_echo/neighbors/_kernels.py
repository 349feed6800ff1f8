"""float64 products of float32 rows, compiled, outside the interpreter lock.

The exact search ranks its candidates by distances computed in float64 from
the float32 vectors (see `._space`): one inner product (cosine) or squared
difference (euclidean) per (query, bank row) pair, and the squared norm of
every row. numpy computes these by gathering the rows, converting the copies
to float64 and reducing them, three passes over memory, and its reductions
keep the interpreter lock, so the query blocks that a search runs on several
threads wait for each other there. These kernels read each row in place,
convert and accumulate in one pass, and let the lock go (``nogil``): on
``benchmarks/profile_exact_search.py``'s banks the ranking took about a fifth
of numpy's time.

They are compiled by numba at their first call in a process, for the one
signature the wrappers give them (C-contiguous float32 rows, int64 indices),
and the machine code is kept on disk (``cache=True``) for the next process.

Every pair is summed by the same compiled loop whatever its place in the
arrays: equal pairs get bitwise equal results (duplicate bank rows then tie
exactly, and ties go to the lower index), and the distances that
`._space.row_distances` and `._space.exact_distances` give one pair are the
same. The loop may reorder its sum (``fastmath`` with reassociation, the
order fixed by the vector length of the compiled code) but keeps NaN and
infinity, so a row that holds them gets a norm that is not finite.
"""

# License: MIT

import numba
import numpy as np

__all__ = ["pair_products", "row_squared_norms"]

# Reassociation lets the compiler vectorise the sums; NaN and infinity keep
# their meaning (no "nnan" / "ninf"): the input checks read them from the norms.
_FASTMATH = {"reassoc", "contract", "nsz"}
# read-only array types also take writable arrays (a memory-mapped bank is read-only)
_ROWS = numba.types.Array(numba.float32, 2, "C", readonly=True)
_INDEX = numba.types.Array(numba.int64, 1, "C", readonly=True)
_OUT = numba.float64[::1]


@numba.njit([numba.void(_ROWS, _ROWS, _INDEX, _INDEX, _OUT)], nogil=True, cache=True,
            fastmath=_FASTMATH)
def _dots(a, b, rows, cols, out):  # pragma: no cover (compiled)
    d = a.shape[1]
    for p in range(rows.shape[0]):
        x, y = a[rows[p]], b[cols[p]]
        s = 0.0
        for j in range(d):
            s += np.float64(x[j]) * np.float64(y[j])
        out[p] = s


@numba.njit([numba.void(_ROWS, _ROWS, _INDEX, _INDEX, _OUT)], nogil=True, cache=True,
            fastmath=_FASTMATH)
def _squared_differences(a, b, rows, cols, out):  # pragma: no cover (compiled)
    d = a.shape[1]
    for p in range(rows.shape[0]):
        x, y = a[rows[p]], b[cols[p]]
        s = 0.0
        for j in range(d):
            t = np.float64(x[j]) - np.float64(y[j])
            s += t * t
        out[p] = s


@numba.njit([numba.void(_ROWS, _OUT)], nogil=True, cache=True, fastmath=_FASTMATH)
def _squares(a, out):  # pragma: no cover (compiled)
    d = a.shape[1]
    for i in range(a.shape[0]):
        x = a[i]
        s = 0.0
        for j in range(d):
            s += np.float64(x[j]) * np.float64(x[j])
        out[i] = s


def _index(ind, n, what):
    """``ind`` as a flat int64 array, checked to lie in ``[0, n)``."""
    ind = np.ascontiguousarray(ind, dtype=np.int64).reshape(-1)
    if ind.size and (ind.min() < 0 or ind.max() >= n):
        raise IndexError(f"{what} index out of range [0, {n}): {ind.min()} .. {ind.max()}.")
    return ind


def pair_products(a, b, rows, cols, metric):
    """float64 inner products (cosine) or squared differences (euclidean) of row pairs.

    Parameters
    ----------
    a, b : ndarray of shape (n_a, d) and (n_b, d)
        Rows (converted to C-contiguous float32 if they are not).
    rows, cols : array-like of int, same shape
        The pairs: ``a[rows[p]]`` with ``b[cols[p]]``.
    metric : {"cosine", "euclidean"}
        ``"cosine"``: ``sum(a_i * b_i)``; ``"euclidean"``: ``sum((a_i - b_i)**2)``,
        each term in float64.

    Returns
    -------
    out : ndarray of the shape of ``rows``, float64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._kernels import pair_products
    >>> a = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    >>> pair_products(a, a, np.array([0, 1]), np.array([1, 1]), "cosine")
    array([11., 25.])
    >>> pair_products(a, a, np.array([0]), np.array([1]), "euclidean")
    array([8.])
    """
    shape = np.shape(rows)
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    rows, cols = _index(rows, a.shape[0], "Row"), _index(cols, b.shape[0], "Column")
    out = np.empty(rows.shape[0], dtype=np.float64)
    kernel = _dots if metric == "cosine" else _squared_differences
    kernel(a, b, rows, cols, out)
    return out.reshape(shape)


def row_squared_norms(X):
    """float64 squared norm of every row of ``X`` (float32, converted if not C-contiguous).

    A row holding NaN or infinity gets a norm that is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._kernels import row_squared_norms
    >>> row_squared_norms(np.array([[3.0, 4.0], [np.inf, 0.0]], np.float32))
    array([25., inf])
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    out = np.empty(X.shape[0], dtype=np.float64)
    _squares(X, out)
    return out
