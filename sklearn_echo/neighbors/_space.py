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

Returned distances never come from the float32 search: `exact_distances`
recomputes them in float64 from the vectors as given (converted to float32),
as `sklearn.neighbors.NearestNeighbors` does on float64 copies, and
`order_by_distance` sorts them, equal distances by increasing bank index.
"""

# License: MIT

import warnings

import numpy as np

from ._validation import ROW_CHUNK, list_rows, squared_norms

__all__ = [
    "Rows",
    "ZeroNormWarning",
    "drop_excluded",
    "exact_distances",
    "make_rows",
    "order_by_distance",
    "rank_candidates",
    "row_distances",
    "sort_by_distance",
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
    if metric == "cosine":
        sq = squared_norms(X) if sq is None else sq
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
        sq[s : s + ROW_CHUNK] = squared_norms(X[s : s + ROW_CHUNK] - shift)
    return Rows(X, None, sq)


def exact_distances(metric, queries, bank, rows, cols):
    """float64 distances between ``queries.raw[rows]`` and ``bank.raw[cols]`` (pairs).

    Parameters
    ----------
    metric : {"cosine", "euclidean"}
        Distance.
    queries, bank : Rows
        The two sets of vectors (cosine uses their float64 squared norms).
    rows, cols : ndarray of int, same shape
        The pairs.

    Returns
    -------
    dist : ndarray of the shape of ``rows``, float64
        ``1 - cos`` (1 where either vector is zero, clipped to ``[0, 2]``)
        or the euclidean distance, computed in float64 from the float32
        vectors by `._kernels.pair_products` (one compiled loop for every
        pair, so equal pairs get bitwise equal distances).
    """
    from ._kernels import pair_products

    dots = pair_products(queries.raw, bank.raw, rows, cols, metric)
    return _distances(metric, dots, queries.sq[rows], bank.sq[cols])


def _distances(metric, dots, q_sq, b_sq):
    """Distances from float64 inner products (cosine) or squared differences (euclidean).

    ``q_sq`` and ``b_sq``: the squared norms of each pair's query and bank
    row (cosine; broadcastable to ``dots``). ``dots`` is overwritten.
    """
    if metric != "cosine":
        return np.sqrt(dots, out=dots)
    norm = np.sqrt(q_sq * b_sq)
    zero = norm == 0.0  # zero vectors: distance 1 to everything
    norm[zero] = 1.0
    dots[zero] = 0.0
    np.divide(dots, norm, out=dots)
    np.subtract(1.0, dots, out=dots)
    return np.clip(dots, 0.0, 2.0, out=dots)


def row_distances(metric, queries, bank, ind):
    """float64 distances from each query to its own row of bank indices.

    `exact_distances` on the pairs ``(i, ind[i, j])``.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}
        Distance.
    queries, bank : Rows
        The two sets of vectors.
    ind : ndarray of shape (n_queries, m), int
        Bank indices per query.

    Returns
    -------
    dist : ndarray of shape (n_queries, m), float64
    """
    n, m = ind.shape
    return exact_distances(metric, queries, bank, np.repeat(np.arange(n), m).reshape(n, m), ind)


def order_by_distance(dist, ind):
    """Per-row order by increasing distance, equal distances by increasing index.

    Parameters
    ----------
    dist : ndarray of shape (n, m), float64
    ind : ndarray of shape (n, m), int

    Returns
    -------
    order : ndarray of shape (n, m)
        Column order of each row (use with ``np.take_along_axis``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._space import order_by_distance
    >>> order_by_distance(np.array([[0.5, 0.1, 0.5]]), np.array([[9, 4, 2]]))
    array([[1, 2, 0]])
    """
    return np.lexsort((ind, dist), axis=1)


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


def sort_by_distance(dist, ind, k=None):
    """The first ``k`` pairs of each row by increasing distance, equal distances by increasing index.

    Rows whose first ``k`` pairs already come in that order, every later pair
    farther than the k-th, are taken as they are: candidates usually arrive
    in order of their float32 scores, and only the few rows that rounding or
    a near tie put out of order are sorted (`order_by_distance`).

    Parameters
    ----------
    dist : ndarray of shape (n, m), float64
        Distances (no NaN).
    ind : ndarray of shape (n, m), int
        Bank indices.
    k : int, default=None
        Pairs kept per row (at most ``m``); None keeps all.

    Returns
    -------
    dist : ndarray of shape (n, k), float64
    ind : ndarray of shape (n, k), int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._space import sort_by_distance
    >>> d, i = sort_by_distance(np.array([[0.1, 0.5, 0.3], [0.2, 0.2, 0.9]]),
    ...                         np.array([[4, 2, 7], [6, 1, 3]]), k=2)
    >>> d
    array([[0.1, 0.3],
           [0.2, 0.2]])
    >>> i
    array([[4, 7],
           [1, 6]])
    """
    k = dist.shape[1] if k is None else k
    head_d, head_i = dist[:, :k], ind[:, :k]
    later_d, later_i = head_d[:, 1:], head_i[:, 1:]
    unsorted = (later_d < head_d[:, :-1]) | ((later_d == head_d[:, :-1]) & (later_i < head_i[:, :-1]))
    unsorted = unsorted.any(axis=1)
    if dist.shape[1] > k and k > 0:
        unsorted |= dist[:, k:].min(axis=1) <= head_d[:, -1]
    out_d, out_i = head_d.copy(), head_i.copy()
    rows = np.flatnonzero(unsorted)
    if rows.size:
        d, i = dist[rows], ind[rows]
        order = order_by_distance(d, i)[:, :k]
        out_d[rows] = np.take_along_axis(d, order, 1)
        out_i[rows] = np.take_along_axis(i, order, 1)
    return out_d, out_i


def rank_candidates(metric, queries, bank, cand):
    """Each query's candidates in order of their float64 distance (ties: lower index first).

    Returns
    -------
    dist : ndarray of shape (n_queries, m), float64
    ind : ndarray of shape (n_queries, m), int64
    """
    return sort_by_distance(row_distances(metric, queries, bank, cand), cand)
