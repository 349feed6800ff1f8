"""The float64 ranking of candidates and the squared norms, compiled, outside the interpreter lock.

Every search backend ranks its candidates by distances computed in float64
from the float32 vectors as given (see `._space`). numpy computed them by
gathering the candidate rows, converting the copies to float64, reducing
them, then sorting, each a pass over memory with the interpreter lock held
in between, so the query blocks that a search runs on several threads waited
for each other there. `rank` does it in one compiled loop per query: it reads
each candidate row in place, sums its float64 products, turns the sum into a
distance and keeps the k nearest, and it lets the lock go (``nogil``).
`settle` runs the same loop on the candidates of a faiss search with their
float32 scores: it takes the candidates within the rounding bound of the
k-th score, and tells which queries need more candidates (`OPEN`) and, when
no distances are wanted, which already have their exact order (`KEPT`).
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

__all__ = ["KEPT", "OPEN", "RANKED", "rank", "row_squared_norms", "settle"]

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


#: `settle` states of a query.
RANKED, KEPT, OPEN = 0, 1, 2


@_compiled(
    numba.void(_VECTORS, _readonly(numba.int64, 1), _readonly(numba.float64, 1), _VECTORS,
               _readonly(numba.float64, 1), _readonly(numba.int64, 2), _readonly(numba.boolean, 2),
               _readonly(numba.float32, 2), _readonly(numba.float32, 1), _readonly(numba.float64, 1),
               _readonly(numba.float64, 1), numba.boolean, numba.boolean, numba.boolean, numba.boolean,
               numba.float64[:, ::1], numba.int64[:, ::1], numba.int8[::1])
)
def _rank(q, q_rows, q_sq, b, b_sq, cand, take, S, weakest, kth_scores, bound, by_scores,
          check_open, distances, cosine, out_d, out_i, state):  # pragma: no cover (compiled)
    # by_scores (`settle`): the candidates taken are the first k and those
    # scoring at least kth_scores (the k-th less the bound); else (`rank`)
    # those in `take`
    m, c = cand.shape
    k = out_d.shape[1]
    d = q.shape[1]
    n_q, n_b = q.shape[0], b.shape[0]
    for i in range(m):
        r = q_rows[i]
        if r < 0 or r >= n_q:
            raise IndexError("query row out of range")
        kth = 0.0
        if by_scores:
            kth = kth_scores[i]
            if check_open and weakest[i] >= kth:
                state[i] = OPEN
                continue
            if not distances:
                # scores further apart than the bound keep their order in float64
                kept = c == k or S[i, k] < kth
                for j in range(k - 1):
                    if not S[i, j] - S[i, j + 1] > bound[i]:
                        kept = False
                if kept:
                    for j in range(k):
                        out_i[i, j] = cand[i, j]
                    state[i] = KEPT
                    continue
        x = q[r]
        filled = 0
        for j in range(c):
            if by_scores:
                if j >= k and not S[i, j] >= kth:
                    continue
            elif not take[i, j]:
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
        state[i] = RANKED


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
    unused = np.empty(0, np.float32)  # scores: `settle` only
    out_d, out_i, _ = _call(q, q_rows, q_sq, b, b_sq, cand, take, unused.reshape(0, 0), unused,
                            np.empty(0), np.empty(0), False, False, True, metric, k)
    return out_d, out_i


def settle(metric, q, q_sq, b, b_sq, S, cand, weakest, kth, bound, k, check_open, distances):
    """Each query's k nearest among faiss's candidates, or why it needs no ranking or more candidates.

    For query ``i``, ``kth[i] = S[i, k - 1] - bound[i]``: a vector scoring
    below it cannot be among the k nearest. The query is

    * `OPEN` when ``check_open`` and ``weakest[i] >= kth``: a vector outside
      its candidates may still be among them (nothing written);
    * `KEPT` when ``distances`` is False and its k best scores lie more than
      ``bound[i]`` apart with no other candidate reaching ``kth``: faiss's
      order is the exact order (indices written, no distances);
    * `RANKED` otherwise: its first k candidates and the others scoring at
      least ``kth`` are ranked by float64 distance, in the loop `rank` uses.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}
        Distance.
    q : ndarray of shape (m, d), float32
        The queries as given.
    q_sq : ndarray of shape (m,), float64
        Their squared norms.
    b : ndarray of shape (n_b, d), float32
        The bank as given.
    b_sq : ndarray of shape (n_b,), float64
        Its squared norms.
    S : ndarray of shape (m, c), float32
        Candidate scores, best first (larger = nearer), ``c >= k``.
    cand : ndarray of shape (m, c), int
        Candidate bank rows.
    weakest : ndarray of shape (m,), float32
        A score no vector outside the candidates exceeds.
    kth : ndarray of shape (m,), float64
        The k-th score less ``bound``.
    bound : ndarray of shape (m,), float64
        Twice the float32 rounding bound of a score.
    k : int
        Neighbours kept per query.
    check_open : bool
        Whether vectors outside the candidates remain (else none is `OPEN`).
    distances : bool
        Whether distances are wanted (else queries may be `KEPT`).

    Returns
    -------
    dist : ndarray of shape (m, k), float64
        Meaningful in the `RANKED` rows.
    ind : ndarray of shape (m, k), int64
        Meaningful in the `RANKED` and `KEPT` rows.
    state : ndarray of shape (m,), int8

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._kernels import row_squared_norms, settle
    >>> b = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    >>> q = np.array([[1.0, 0.1]], np.float32)
    >>> S = np.array([[0.995, 0.774]], np.float32)  # faiss's 2 best cosine scores
    >>> bound = np.array([1e-5])
    >>> dist, ind, state = settle("cosine", q, row_squared_norms(q), b, row_squared_norms(b), S,
    ...                           np.array([[0, 2]]), S[:, 1], S[:, 0] - bound, bound, 1, True, True)
    >>> ind, state
    (array([[0]]), array([0], dtype=int8))
    """
    return _call(q, np.arange(cand.shape[0]), q_sq, b, b_sq, cand, np.empty((0, 0), bool), S,
                 weakest, kth, bound, True, check_open, distances, metric, k)


def _call(q, q_rows, q_sq, b, b_sq, cand, take, S, weakest, kth, bound, by_scores, check_open,
          distances, metric, k):
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    m = cand.shape[0]
    out_d = np.empty((m, k), dtype=np.float64)
    out_i = np.empty((m, k), dtype=np.int64)
    state = np.empty(m, dtype=np.int8)
    _rank(
        np.ascontiguousarray(q, dtype=np.float32),
        np.ascontiguousarray(q_rows, dtype=np.int64),
        np.ascontiguousarray(q_sq, dtype=np.float64),
        np.ascontiguousarray(b, dtype=np.float32),
        np.ascontiguousarray(b_sq, dtype=np.float64),
        np.ascontiguousarray(cand, dtype=np.int64),
        np.ascontiguousarray(take, dtype=np.bool_),
        np.ascontiguousarray(S, dtype=np.float32),
        np.ascontiguousarray(weakest, dtype=np.float32),
        np.ascontiguousarray(kth, dtype=np.float64),
        np.ascontiguousarray(bound, dtype=np.float64),
        by_scores,
        bool(check_open),
        bool(distances),
        metric == "cosine",
        out_d,
        out_i,
        state,
    )
    return out_d, out_i, state


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
