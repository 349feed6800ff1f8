"""The float64 ranking of candidates and the squared norms, compiled, outside the interpreter lock.

Every search backend ranks its candidates by distances computed in float64
from the float32 vectors as given (see `._space`). numpy computed them by
gathering the candidate rows, converting the copies to float64, reducing
them, then sorting, each a pass over memory with the interpreter lock held
in between, so the query blocks that a search runs on several threads waited
for each other there. `rank` does it in one compiled loop per query: it reads
each candidate row in place, sums its float64 products, turns the sum into a
distance and keeps the k nearest, and it lets the lock go (``nogil``).
`row_squared_norms` gives the squared norms the same way.

The loops are compiled by numba at the first search of a process, for the
one signature each wrapper gives them (C-contiguous float32 rows, int64
indices), and the machine code is kept on disk (``cache=True``) for the next
process.

Every pair is summed by the same compiled loop whatever its place in the
arrays, so equal pairs get bitwise equal distances: duplicate bank rows tie
exactly, and ties go to the lower bank index. The loop may reorder its sum
(reassociation, which lets the compiler vectorise it; the order is fixed by
the compiled code) and keeps NaN and infinity, so a row that holds them gets
a norm that is not finite.
"""

# License: MIT

import numba
import numpy as np

__all__ = ["rank", "row_squared_norms"]

# Reassociation lets the compiler vectorise the sums; NaN and infinity keep
# their meaning (no "nnan" / "ninf"): the input checks read them from the norms.
_FASTMATH = {"reassoc", "contract"}


def _compiled(signature):
    """``numba.njit`` for one signature, its machine code cached on disk where numba can write.

    Without a writable cache directory (numba tries the package's folder,
    then the user's cache folder) the loop is compiled in memory at each
    process's first search instead.
    """

    def decorate(fn):
        try:
            return numba.njit([signature], nogil=True, cache=True, fastmath=_FASTMATH)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit([signature], nogil=True, fastmath=_FASTMATH)(fn)

    return decorate


def _readonly(dtype, ndim):
    # read-only array types also take writable arrays (a memory-mapped bank is read-only)
    return numba.types.Array(dtype, ndim, "C", readonly=True)


_VECTORS = _readonly(numba.float32, 2)


@_compiled(
    numba.void(_VECTORS, _readonly(numba.int64, 1), _readonly(numba.float64, 1), _VECTORS,
               _readonly(numba.float64, 1), _readonly(numba.int64, 2), _readonly(numba.boolean, 2),
               numba.boolean, numba.float64[:, ::1], numba.int64[:, ::1])
)
def _rank(q, q_rows, q_sq, b, b_sq, cand, take, cosine, out_d, out_i):  # pragma: no cover (compiled)
    m, c = cand.shape
    k = out_d.shape[1]
    d = q.shape[1]
    n_q, n_b = q.shape[0], b.shape[0]
    for i in range(m):
        r = q_rows[i]
        if r < 0 or r >= n_q:
            raise IndexError("query row out of range")
        x = q[r]
        filled = 0
        for j in range(c):
            if not take[i, j]:
                continue
            col = cand[i, j]
            if col < 0 or col >= n_b:
                raise IndexError("candidate bank row out of range")
            y = b[col]
            s = 0.0
            if cosine:
                for t in range(d):
                    s += np.float64(x[t]) * np.float64(y[t])
                norm = np.sqrt(q_sq[r] * b_sq[col])
                # a zero vector is at distance 1 from everything
                dist = 1.0 if norm == 0.0 else min(max(1.0 - s / norm, 0.0), 2.0)
            else:
                for t in range(d):
                    u = np.float64(x[t]) - np.float64(y[t])
                    s += u * u
                dist = np.sqrt(s)
            # insert (dist, col) among the nearest so far, ordered by
            # (distance, bank index); the k-th drops out when full
            if filled == k:
                last = out_d[i, k - 1]
                if dist > last or (dist == last and col > out_i[i, k - 1]):
                    continue
                p = k - 1
            else:
                p = filled
                filled += 1
            while p > 0 and (dist < out_d[i, p - 1]
                             or (dist == out_d[i, p - 1] and col < out_i[i, p - 1])):
                out_d[i, p] = out_d[i, p - 1]
                out_i[i, p] = out_i[i, p - 1]
                p -= 1
            out_d[i, p] = dist
            out_i[i, p] = col
        if filled < k:
            raise ValueError("a query has fewer candidates to rank than neighbours asked for")


@_compiled(numba.void(_VECTORS, numba.float64[::1]))
def _squares(a, out):  # pragma: no cover (compiled)
    d = a.shape[1]
    for i in range(a.shape[0]):
        x = a[i]
        s = 0.0
        for t in range(d):
            s += np.float64(x[t]) * np.float64(x[t])
        out[i] = s


def rank(metric, q, q_rows, q_sq, b, b_sq, cand, take, k):
    """The k nearest of each query's candidates by float64 distance (ties: lower bank index first).

    Parameters
    ----------
    metric : {"cosine", "euclidean"}
        ``1 - cos`` (1 where either vector is zero, clipped to ``[0, 2]``) or
        the euclidean distance, from float64 products of the float32 rows.
    q : ndarray of shape (n_q, d), float32
        Query vectors as given.
    q_rows : ndarray of shape (m,), int
        The row of ``q`` of each ranked query.
    q_sq : ndarray of shape (n_q,), float64
        Squared norms of the rows of ``q`` (cosine; unused by euclidean).
    b : ndarray of shape (n_b, d), float32
        Bank vectors as given.
    b_sq : ndarray of shape (n_b,), float64
        Squared norms of the rows of ``b`` (cosine; unused by euclidean).
    cand : ndarray of shape (m, c), int
        Candidate bank rows of each ranked query.
    take : ndarray of shape (m, c), bool
        The candidates ranked (at least ``k`` per query); the others are
        skipped, their bank rows unread.
    k : int
        Neighbours kept per query.

    Returns
    -------
    dist : ndarray of shape (m, k), float64
    ind : ndarray of shape (m, k), int64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._kernels import rank, row_squared_norms
    >>> b = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], np.float32)
    >>> q = np.array([[2.0, 1.0]], np.float32)
    >>> cand = np.array([[2, 1, 0]])
    >>> dist, ind = rank("euclidean", q, np.array([0]), row_squared_norms(q), b,
    ...                  row_squared_norms(b), cand, np.ones((1, 3), bool), 2)
    >>> ind  # rows 0 and 2 tie: the lower index first
    array([[0, 2]])
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    m = cand.shape[0]
    out_d = np.empty((m, k), dtype=np.float64)
    out_i = np.empty((m, k), dtype=np.int64)
    _rank(
        np.ascontiguousarray(q, dtype=np.float32),
        np.ascontiguousarray(q_rows, dtype=np.int64),
        np.ascontiguousarray(q_sq, dtype=np.float64),
        np.ascontiguousarray(b, dtype=np.float32),
        np.ascontiguousarray(b_sq, dtype=np.float64),
        np.ascontiguousarray(cand, dtype=np.int64),
        np.ascontiguousarray(take, dtype=np.bool_),
        metric == "cosine",
        out_d,
        out_i,
    )
    return out_d, out_i


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
