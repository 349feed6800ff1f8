"""Exact k-NN: a faiss flat index picks candidates, float64 ranks them.

`FlatSearch` keeps the bank's search-space vectors (see `._space`) in a
faiss ``IndexFlatIP`` (cosine: unit rows) or ``IndexFlatL2`` (euclidean:
shifted rows), which scans every bank vector with float32 matrix products
(BLAS) and keeps the best scores per query (cosine queries go in as given,
their scores divided by their norms afterwards). For each query it asks for the
``k + 8`` best candidates (one more when a bank row is left out), or first
for ``k + 1`` where a pilot of the block found near ties rare (see
`FlatSearch.kneighbors`), computes in float64 the distances of those whose
score is within twice the float32 rounding bound of the k-th best, and sorts
them by (distance, bank index).

The float32 scores only pick candidates. If the weakest candidate is within
twice the float32 rounding bound of the k-th best, a vector outside the
candidates could still belong to the k nearest (a near tie), so the query is
rescanned: every bank vector whose score (numpy float32 products, bank block
by bank block, on one BLAS thread) reaches the k-th best less that bound is
ranked in float64. The result is therefore the exact float64 ranking, ties
going to the lower bank index, as
`sklearn.neighbors.NearestNeighbors(algorithm="brute")` computes it on
float64 copies.

Without distances (``NeighborIndex.kneighbors(..., return_distance=False)``),
a query whose k best scores lie more than twice the bound apart, with no
other candidate within it of the k-th, already has its exact order, and only
the other queries are ranked in float64.
"""

# License: MIT

import math

import numpy as np

from ._faiss import import_faiss
from ._kernels import OPEN, settle
from ._space import rank_candidates
from ._threads import one_blas_thread

__all__ = ["EXTRA_CANDIDATES", "PILOT_QUERIES", "FlatSearch", "narrow_share"]

#: Candidates per query beyond k; near ties among them are ranked in float64.
EXTRA_CANDIDATES = 8
#: Queries of a block searched first, to choose between k + 1 and
#: k + EXTRA_CANDIDATES candidates for the others (see `FlatSearch.kneighbors`).
PILOT_QUERIES = 64
_EPS32 = float(np.finfo(np.float32).eps)


def narrow_share(dim):
    """Largest share of pilot queries left open by ``k + 1`` candidates for which
    the others are searched with ``k + 1`` first.

    faiss's flat search keeps its best candidates in a heap whose cost per
    scanned bank vector hardly depends on the dimension, beside a product
    whose cost grows with it: searching ``k + 8`` instead of ``k + 1``
    candidates took about ``64 / (64 + d)`` more time on this project's
    benchmark machine (2,000 queries, 1,000 bank vectors, one thread:
    ``benchmarks/profile_exact_search.py``). Searching the open queries again
    costs about their share of the search, so ``k + 1`` first pays while that
    share stays below the saving; half of it is taken, as a margin.
    """
    return 32.0 / (64.0 + dim)


def _some(vectors, queries, excl, rows):
    """Queries ``rows`` (a slice or an index array) of a block, as `FlatSearch._search` takes them:
    their search vectors, their `Rows` and their left-out bank rows (or None)."""
    return vectors[rows], queries.take(rows), None if excl is None else excl[rows]


def serialize(index):
    """A faiss index as a uint8 array (``faiss.serialize_index``)."""
    return import_faiss().serialize_index(index)


def deserialize(data):
    """The faiss index written by `serialize`."""
    return import_faiss().deserialize_index(data)


class FlatSearch:
    """Exact search over search-space vectors with a faiss flat index.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}
        Distance; selects inner product or squared L2 scores.
    dim : int
        Dimension of the vectors.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._exact import FlatSearch
    >>> from sklearn_echo.neighbors._space import make_rows
    >>> bank = make_rows(np.eye(3, dtype=np.float32), "cosine", None, "The bank")
    >>> search = FlatSearch("cosine", 3)
    >>> search.add(bank.search_vectors(None), bank.sq)
    >>> queries = make_rows(np.array([[1.0, 0.2, 0.0]], np.float32), "cosine", None, "q")
    >>> vectors = search.query_vectors(queries, None)
    >>> dist, ind = search.kneighbors(vectors, queries, bank, 2, None, 1024)
    >>> ind
    array([[0, 1]])
    """

    def __init__(self, metric, dim):
        faiss = import_faiss()
        self.metric = metric
        self.index = faiss.IndexFlatIP(dim) if metric == "cosine" else faiss.IndexFlatL2(dim)
        self.max_sq = 0.0

    def __getstate__(self):
        return {"metric": self.metric, "index": serialize(self.index), "max_sq": self.max_sq}

    def __setstate__(self, state):
        self.metric, self.max_sq = state["metric"], state["max_sq"]
        self.index = deserialize(state["index"])

    @property
    def n_samples(self):
        """Number of vectors in the index."""
        return int(self.index.ntotal)

    def reserve(self, n):
        """Allocate faiss's storage for ``n`` more vectors at once.

        faiss grows a flat index's storage to the exact size at every ``add``,
        copying what it holds each time: a bank added in three blocks took
        twice the time of one ``add`` (100,000 x 384: 180 ms against 85 in a
        one-off comparison).
        Growing the storage once and shrinking it back keeps the allocation
        (a ``std::vector`` keeps its capacity), so the blocks that follow are
        appended in place. Growing writes zeros over the new storage, which
        the ``add`` of a bank in one block writes over again: such a bank
        is added without it.
        """
        codes = self.index.codes
        size = codes.size()
        codes.resize(size + n * self.index.code_size)
        codes.resize(size)

    def add(self, vectors, sq):
        """Append search-space vectors (float32) with their squared norms."""
        self.index.add(vectors)
        if len(sq):
            self.max_sq = max(self.max_sq, float(np.max(sq)))

    def tolerance(self, queries):
        """Bound on the float32 error of a candidate score, per query."""
        d = self.index.d
        factor = max(4.0 * math.sqrt(d), 16.0) * _EPS32
        if self.metric == "cosine":
            return np.full(len(queries), 2.0 * factor)
        # |q|^2 + |b|^2 - 2 q.b, every term rounded in float32
        return 2.0 * factor * (np.sqrt(queries.sq) + math.sqrt(self.max_sq)) ** 2 + 1e-30

    def query_vectors(self, queries, shift):
        """The vectors searched for `Rows` ``queries`` (float32, C-contiguous).

        Cosine queries are searched as given: their inner products rank the
        bank as those of the unit queries do, and `scores` divides them by
        the query norms afterwards, so no normalised copy of the queries is
        made. Euclidean queries are shifted into the search space.
        """
        if self.metric == "cosine":
            return queries.raw
        return queries.search_vectors(shift)

    def scores(self, vectors, kc, scale=None):
        """The ``kc`` best float32 scores (larger = nearer) and their bank indices.

        ``scale`` (cosine) multiplies each query's scores: ``1 / |q|`` for
        queries searched as given.
        """
        S, ind = self.index.search(vectors, kc)
        if self.metric == "euclidean":
            S = -S
        elif scale is not None:
            S *= scale[:, None]
        return S, ind.astype(np.int64, copy=False)

    def kneighbors(self, vectors, queries, bank, k, excl, max_cells, distances=True):
        """Exact k nearest bank vectors of a block of queries.

        Parameters
        ----------
        vectors : ndarray of shape (m, d), float32
            The queries as `query_vectors` gives them.
        queries : Rows
            The queries as given (for the float64 distances).
        bank : Rows
            The bank as given.
        k : int
            Number of neighbours.
        excl : ndarray of shape (m,), int, or None
            Bank index to leave out per query (``-1``: none).
        max_cells : int
            Most candidate scores held at once (bounds memory).
        distances : bool, default=True
            Whether to return the float64 distances. Without them, the
            queries whose k best float32 scores lie more than twice the
            rounding bound apart, with no other candidate within it of the
            k-th, keep faiss's order, which is then the exact order; only
            the others are ranked in float64.

        Returns
        -------
        dist : ndarray of shape (m, k), float64, or None
            None when ``distances`` is False.
        ind : ndarray of shape (m, k), int64

        Notes
        -----
        A block of at least ``4 * PILOT_QUERIES`` queries (of at most 1,984
        dimensions, where one open query in the pilot is within
        `narrow_share`) starts with its first `PILOT_QUERIES` searched with
        ``k + EXTRA_CANDIDATES`` candidates, counting the queries for which
        ``k + 1`` would have left a near tie open. When they are few, the other
        queries are searched with ``k + 1`` candidates and only the open
        ones again with ``k + EXTRA_CANDIDATES``; otherwise (embeddings with
        many near duplicates) all of them get ``k + EXTRA_CANDIDATES`` at
        once. The results are the same either way.
        """
        n, m = self.n_samples, len(queries)
        left_out = 0 if excl is None else 1
        wide = min(n, k + EXTRA_CANDIDATES + left_out)
        narrow = min(n, k + 1 + left_out)
        allowed = narrow_share(self.index.d) * PILOT_QUERIES  # open pilot queries
        if narrow >= wide or m < 4 * PILOT_QUERIES or allowed < 1:
            return self._search(
                vectors, queries, excl, bank, k, max_cells, (wide,), distances=distances
            )[:2]
        dist = np.empty((m, k)) if distances else None
        ind = np.empty((m, k), dtype=np.int64)
        head, tail = slice(0, PILOT_QUERIES), slice(PILOT_QUERIES, m)
        d_head, ind[head], n_open = self._search(
            *_some(vectors, queries, excl, head), bank, k, max_cells, (wide,),
            probe=narrow, distances=distances,
        )
        stages = (narrow, wide) if n_open <= allowed else (wide,)
        d_tail, ind[tail], _ = self._search(
            *_some(vectors, queries, excl, tail), bank, k, max_cells, stages, distances=distances,
        )
        if distances:
            dist[head], dist[tail] = d_head, d_tail
        return dist, ind

    def _search(
        self, vectors, queries, excl, bank, k, max_cells, stages, probe=None, distances=True
    ):
        """`kneighbors` with ``stages[0]`` candidates per query.

        Queries left with a possible near tie outside their candidates are
        searched again with the next number of candidates in ``stages``,
        and rescanned after the last. With ``probe``, also counts the queries
        whose first ``probe`` candidates would have left a near tie open.

        Returns
        -------
        dist : ndarray of shape (m, k), float64, or None
            None when ``distances`` is False (see `kneighbors`).
        ind : ndarray of shape (m, k), int64
        n_open : int
            The count for ``probe`` (0 without it).
        """
        n = self.n_samples
        kc = stages[0]
        S, cand = self.scores(vectors, kc, queries.scale)  # best first
        # every bank vector outside the candidates scores at most the weakest
        weakest = S[:, -1].copy()
        probed = None if probe is None else S[:, probe - 1].copy()
        if excl is not None:
            out = cand == excl[:, None]
            if out.any():  # the left-out row goes last, the others keep their order
                S[out] = -np.inf
                last = np.argsort(out, axis=1, kind="stable")
                S, cand = np.take_along_axis(S, last, 1), np.take_along_axis(cand, last, 1)
        bound = 2.0 * self.tolerance(queries)
        kth = S[:, k - 1] - bound  # a vector scoring below cannot be among the k nearest
        # queries with a possible near tie outside their candidates (OPEN) are
        # searched again with the next stage, or rescanned after the last
        dist, ind, state = self._settle(
            S, cand, weakest, kth, bound, queries, bank, k, kc < n, distances
        )
        if not distances:
            dist = None
        n_open = 0 if probed is None else int(np.count_nonzero(probed >= kth))
        sub = np.flatnonzero(state == OPEN)
        if sub.size:
            part = _some(vectors, queries, excl, sub)
            if len(stages) > 1:
                d_sub, ind[sub], _ = self._search(
                    *part, bank, k, max_cells, stages[1:], distances=distances
                )
            else:
                d_sub, ind[sub] = self._rescan(*part, bank, k, kth[sub], max_cells)
            if distances:
                dist[sub] = d_sub
        return dist, ind, n_open

    def _settle(self, S, cand, weakest, kth, bound, queries, bank, k, check_open, distances):
        """The k nearest of each query's candidates by float64 distance, or why not (`._kernels.settle`).

        Only candidates within the rounding bound of the k-th score can be
        among the k nearest: the k best and the few others scoring at least
        ``kth`` (the k-th less the bound) are ranked in float64, the others skipped.
        A query whose weakest candidate is within that bound (with vectors
        left outside the candidates: ``check_open``) is `OPEN`; without
        ``distances``, one whose order is already exact is `KEPT`.
        """
        return settle(
            self.metric, queries.raw, queries.sq, bank.raw, bank.sq, S, cand, weakest, kth, bound,
            k, check_open, distances,
        )

    def _bank_vectors(self):
        """The search-space bank inside the faiss index (a view, not a copy)."""
        faiss = import_faiss()
        n, d = self.n_samples, self.index.d
        return faiss.rev_swig_ptr(self.index.get_xb(), n * d).reshape(n, d)

    def _rescan(self, vectors, queries, excl, bank, k, thresholds, max_cells):
        """Exact k-NN of a few queries: every bank vector scoring above a threshold.

        Scores are recomputed with numpy's float32 products, bank block by
        bank block, on the scale of `scores`; a vector among the k nearest
        scores at least ``thresholds`` (the k-th score less twice the
        rounding bound) under either computation. The products run on one
        BLAS thread (`one_blas_thread`): a multithreaded BLAS keeps its
        threads spinning after a product, and they would take the cores from
        the next faiss search (see `one_blas_thread`).
        """
        with one_blas_thread():
            return self._rescan_products(vectors, queries, excl, bank, k, thresholds, max_cells)

    def _rescan_products(self, vectors, queries, excl, bank, k, thresholds, max_cells):
        xb = self._bank_vectors()
        n, m = xb.shape[0], len(queries)
        bb = int(max(1, min(n, max_cells // max(1, m))))
        if self.metric == "cosine":  # queries as given: unit scores after scaling
            scale = queries.scale[:, None]
        else:
            q_sq = np.einsum("ij,ij->i", vectors, vectors)
        pr, pc = [], []
        for b0 in range(0, n, bb):
            B = xb[b0 : b0 + bb]
            S = vectors @ B.T
            if self.metric == "cosine":
                S *= scale
            else:  # minus the squared distance
                S *= 2.0
                S -= np.einsum("ij,ij->i", B, B)[None, :]
                S -= q_sq[:, None]
            if excl is not None:
                hit = np.flatnonzero((excl >= b0) & (excl < b0 + B.shape[0]))
                S[hit, excl[hit] - b0] = -np.inf
            r, c = np.nonzero(S >= thresholds[:, None])
            pr.append(r)
            pc.append(c + b0)
        rows, cols = np.concatenate(pr), np.concatenate(pc)
        # each query's pairs side by side, padded to the longest: every query
        # has at least k (its k nearest score above its threshold)
        order = np.argsort(rows, kind="stable")
        rows, cols = rows[order], cols[order]
        counts = np.bincount(rows, minlength=m)
        pos = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        cand = np.zeros((m, int(counts.max())), dtype=np.int64)
        take = np.zeros(cand.shape, dtype=bool)
        cand[rows, pos] = cols
        take[rows, pos] = True
        return rank_candidates(self.metric, queries, bank, cand, k, take)
