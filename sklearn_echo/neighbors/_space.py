"""The two metrics: search-space vectors (float32) and exact float64 distances.

Every search backend works on *search-space* vectors, float32 rows in which
a larger inner product or a smaller squared L2 distance means a nearer
neighbour:

* ``"cosine"``: the unit rows ``x / |x|``; a zero row stays zero, so its
  similarity to everything is 0 (distance 1, as in
  `sklearn.metrics.pairwise.cosine_distances`), and a `ZeroNormWarning`
  names it.
* ``"euclidean"``: the rows minus a fixed shift (the mean of the bank when
  it was fitted): distances are translation invariant and smaller norms
  mean smaller float32 errors.

Returned distances never come from the float32 search: `rank_candidates`
recomputes them in float64 from the vectors as given (converted to float32),
as `sklearn.neighbors.NearestNeighbors` does on float64 copies, and keeps
the nearest, equal distances by increasing bank index.
"""

# License: MIT

import warnings

import numpy as np

from ._validation import ROW_CHUNK, list_rows

__all__ = [
    "Rows",
    "ZeroNormWarning",
    "drop_excluded",
    "make_rows",
    "rank_candidates",
]


class ZeroNormWarning(UserWarning):
    """A zero vector was given to the cosine metric (distance 1 to everything)."""


class Rows:
    """Vectors as given (float32) and their search-space statistics.

    Parameters
    ----------
    raw : ndarray of shape (n, d), float32
        The vectors as given.
    scale : ndarray of shape (n,), float32, or None
        ``1 / |x|`` (cosine; 0 for a zero row); None for euclidean.
    sq : ndarray of shape (n,), float64
        Squared norm: ``|x|^2`` (cosine), ``|x - shift|^2`` (euclidean).
    """

    __slots__ = ("raw", "scale", "sq")

    def __init__(self, raw, scale, sq):
        self.raw, self.scale, self.sq = raw, scale, sq

    def __len__(self):
        return self.raw.shape[0]

    def take(self, rows):
        """The rows ``rows`` (an index array or a slice) as a new `Rows`."""
        return Rows(
            np.ascontiguousarray(self.raw[rows]),
            None if self.scale is None else self.scale[rows],
            self.sq[rows],
        )

    def concat(self, other):
        """These rows followed by ``other``."""
        return Rows(
            np.concatenate([self.raw, other.raw]),
            None if self.scale is None else np.concatenate([self.scale, other.scale]),
            np.concatenate([self.sq, other.sq]),
        )

    def search_vectors(self, shift, start=0, stop=None):
        """Rows ``start:stop`` in the search space (float32, C-contiguous)."""
        block = self.raw[start:stop]
        if self.scale is not None:
            return np.ascontiguousarray(block * self.scale[start:stop, None])
        return np.ascontiguousarray(block - shift)


def make_rows(X, metric, shift, what, offset=0, sq=None):
    """`Rows` of validated float32 vectors ``X`` for ``metric``.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32
        Vectors (checked by `check_vectors`).
    metric : {"cosine", "euclidean"}
        Distance.
    shift : ndarray of shape (d,), float32
        Translation of the euclidean search space (unused by cosine).
    what : str
        Name of the vectors in the zero-norm warning.
    offset : int, default=0
        Added to the row numbers in the warning (rows appended to a bank).
    sq : ndarray of shape (n,), float64, default=None
        The squared norms of the rows of ``X`` when already known (as
        `check_vectors` returns them); computed when None.

    Returns
    -------
    rows : Rows
    """
    from ._kernels import row_squared_norms

    if metric == "cosine":
        sq = row_squared_norms(X) if sq is None else sq
        zero = sq == 0.0
        if zero.any():
            warnings.warn(
                f"{what} has zero-norm row(s) {list_rows(np.flatnonzero(zero) + offset)}: "
                "a zero vector has no direction, so its cosine distance to any "
                "vector is taken as 1 (as in sklearn.metrics.pairwise."
                "cosine_distances). Check these embeddings or use metric='euclidean'.",
                ZeroNormWarning,
                stacklevel=3,
            )
        with np.errstate(divide="ignore"):
            scale = np.where(zero, 0.0, 1.0 / np.sqrt(sq)).astype(np.float32)
        return Rows(X, scale, sq)
    sq = np.empty(X.shape[0], dtype=np.float64)
    for s in range(0, X.shape[0], ROW_CHUNK):
        sq[s : s + ROW_CHUNK] = row_squared_norms(X[s : s + ROW_CHUNK] - shift)
    return Rows(X, None, sq)


def drop_excluded(cand, k, excl):
    """The first ``k`` candidates of each query, its left-out bank row dropped.

    Parameters
    ----------
    cand : ndarray of shape (n_queries, m), int
        Candidate bank indices (``-1``: none), ``m >= k`` (``k + 1`` when a
        row is left out).
    k : int
        Candidates kept per query.
    excl : ndarray of shape (n_queries,), int, or None
        Bank index to leave out per query (``-1``: none).

    Returns
    -------
    cand : ndarray of shape (n_queries, k), int
        Missing candidates (``-1``) last; where the left-out row was not
        among the candidates, the last one is dropped.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._space import drop_excluded
    >>> drop_excluded(np.array([[4, 2, 7], [1, 3, 5]]), 2, np.array([2, -1]))
    array([[4, 7],
           [1, 3]])
    """
    if excl is None:
        return cand[:, :k]
    drop = (cand == excl[:, None]) | (cand < 0)
    keep = np.argsort(drop, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cand, keep, 1)


def rank_candidates(metric, queries, bank, cand, k=None, take=None, rows=None):
    """Each query's k nearest candidates in order of float64 distance (ties: lower index first).

    The distances are computed in float64 from the vectors as given, as
    `sklearn.neighbors.NearestNeighbors` computes them on float64 copies
    (`._kernels.rank`: one compiled loop for every pair, so equal pairs get
    bitwise equal distances).

    Parameters
    ----------
    metric : {"cosine", "euclidean"}
        Distance.
    queries, bank : Rows
        The two sets of vectors.
    cand : ndarray of shape (m, c), int
        Candidate bank indices of each ranked query.
    k : int, default=None
        Neighbours kept per query; None keeps all ``c``.
    take : ndarray of shape (m, c), bool, default=None
        The candidates ranked (at least ``k`` per query); None: all of them.
    rows : ndarray of shape (m,), int, default=None
        The row of ``queries`` of each ranked query; None: ``0 .. m - 1``.

    Returns
    -------
    dist : ndarray of shape (m, k), float64
        ``1 - cos`` (1 where either vector is zero, clipped to ``[0, 2]``)
        or the euclidean distance.
    ind : ndarray of shape (m, k), int64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._space import make_rows, rank_candidates
    >>> bank = make_rows(np.array([[1, 0], [0, 1], [1, 1]], np.float32), "cosine", None, "bank")
    >>> queries = make_rows(np.array([[1, 0.1]], np.float32), "cosine", None, "queries")
    >>> dist, ind = rank_candidates("cosine", queries, bank, np.array([[1, 2, 0]]), k=2)
    >>> ind
    array([[0, 2]])
    """
    from ._kernels import rank

    m, c = cand.shape
    return rank(
        metric, queries.raw, np.arange(m) if rows is None else rows, queries.sq, bank.raw, bank.sq,
        cand, np.ones((m, c), dtype=bool) if take is None else take, c if k is None else k,
    )
