"""`NeighborIndex`: the memory bank of vectors the k-NN estimators search.

The index validates the bank and the queries, keeps the vectors as given
(for the float64 distances) and hands them, block by block, to a search
backend in the search space of the metric (see `._space`):

* ``algorithm="brute"``: exact search, `._exact.FlatSearch` (faiss flat
  index, float64 ranking of the candidates, near ties searched again);
* ``algorithm="hnsw"``: approximate search, `._hnsw.HNSWSearch` (faiss
  HNSW graph);
* ``algorithm="ivf"``: approximate search, `._ivf.IVFSearch` (faiss
  inverted lists);
* ``algorithm="auto"``: exact up to `AUTO_BRUTE_MAX_BANK` bank vectors,
  IVF above.

The backend is built at the first query (and after unpickling, unless it was
pickled with ``serialize_index=True``); vectors added later are appended to
it.
"""

# License: MIT

from numbers import Integral

import numpy as np

from ._exact import FlatSearch
from ._hnsw import HNSW_DEFAULTS, HNSWSearch
from ._ivf import IVF_DEFAULTS, IVFSearch
from ._space import ZeroNormWarning, make_rows
from ._threads import faiss_threads, thread_scope, thread_team
from ._validation import check_bank_like, check_n_neighbors, check_vectors

__all__ = [
    "AUTO_BRUTE_MAX_BANK",
    "VALID_ALGORITHMS",
    "VALID_METRICS",
    "NeighborIndex",
    "ZeroNormWarning",
]

VALID_METRICS = ("cosine", "euclidean")
VALID_ALGORITHMS = ("auto", "brute", "hnsw", "ivf")

#: Bank size (number of vectors) up to which ``algorithm="auto"`` searches
#: exactly; above it, ``"auto"`` builds an IVF index. Measured with
#: ``benchmarks/bench_knn.py`` (see ``docs/neighbors.md``): an approximate
#: index pays off once the queries number more than about a tenth of the
#: bank; at 1,000,000 x 384 the IVF index builds in 55 s where an HNSW graph
#: takes 1,061 s, and reaches recall@5 0.979 (HNSW: 0.950).
AUTO_BRUTE_MAX_BANK = 200_000

# Default bound on the candidate scores and query vectors held at once (bytes).
_DEFAULT_BLOCK_BYTES = 64 * 2**20
# Query rows per search call, at most (faiss scans the bank once per call).
_MAX_QUERY_BLOCK = 8192
# Queries per thread below which a search runs in one block on faiss's threads.
_MIN_QUERIES_PER_THREAD = 64


class NeighborIndex:
    """Memory bank of vectors with exact or approximate k-NN queries.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"`` is ``1 - cos(q, b)``; a zero vector is at distance 1 from
        everything (with a `ZeroNormWarning`).
    algorithm : {"auto", "brute", "hnsw", "ivf"}, default="auto"
        ``"brute"`` is exact (faiss flat index with float64 ranking);
        ``"hnsw"`` (faiss HNSW graph) and ``"ivf"`` (faiss inverted lists)
        are approximate; ``"auto"`` picks exact search for banks of at most
        `AUTO_BRUTE_MAX_BANK` vectors and IVF above.
    n_jobs : int, default=None
        Threads of the search, as scikit-learn counts them: ``None`` is 1
        unless a ``joblib.parallel_config`` context says otherwise, ``-1``
        means all cores. The process setting is restored after each call.
        With several threads and at least 64 queries per thread, the queries
        are split into blocks searched side by side, one per thread.
    random_state : int or None, default=None
        Seed of the HNSW layer assignment (the graph is reproducible with one
        thread only) and of the IVF training sample and k-means. Unused by
        exact search.
    block_bytes : int, default=64 MiB
        Upper bound on the query vectors and candidate scores held at once.
    hnsw_params : dict, default=None
        Settings of the HNSW graph: ``M`` (default 32), ``ef_construction``
        (64) and ``ef_search`` (128).
    ivf_params : dict, default=None
        Settings of the IVF index: ``nlist`` (default None: the square root
        of the bank size) and ``nprobe`` (32).
    serialize_index : bool, default=False
        Pickle the faiss index with the bank (``faiss.serialize_index``).
        By default it is left out and rebuilt at the first query after
        unpickling (cheap for exact search; an HNSW graph or IVF index is
        rebuilt from scratch).

    Attributes
    ----------
    n_samples_ : int
        Number of vectors in the bank.
    n_features_in_ : int
        Dimension of the vectors.
    algorithm_ : str
        The algorithm in use (``"brute"``, ``"hnsw"`` or ``"ivf"``).

    Notes
    -----
    Exact search returns, for every query, the k smallest float64 distances
    between the float32 vectors (as `sklearn.neighbors.NearestNeighbors`
    computes them on float64 copies), ties going to the lower bank index.
    The float32 products of faiss only pick candidates; whenever rounding
    could matter (a near tie at the k-th place) the query is searched again
    with more candidates. HNSW and IVF return approximate neighbours with
    exact float64 distances, in the same order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors import NeighborIndex
    >>> bank = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> index = NeighborIndex(metric="cosine", algorithm="brute").fit(bank)
    >>> dist, ind = index.kneighbors(np.array([[2.0, 0.1]]), n_neighbors=2)
    >>> ind
    array([[0, 2]])
    >>> dist.round(4)
    array([[0.0012, 0.2585]])
    """

    def __init__(
        self,
        metric="cosine",
        algorithm="auto",
        n_jobs=None,
        random_state=None,
        block_bytes=_DEFAULT_BLOCK_BYTES,
        hnsw_params=None,
        ivf_params=None,
        serialize_index=False,
    ):
        self.metric = metric
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.block_bytes = block_bytes
        self.hnsw_params = hnsw_params
        self.ivf_params = ivf_params
        self.serialize_index = serialize_index

    # ------------------------------------------------------------------ build
    def _check_params(self):
        if self.metric not in VALID_METRICS:
            raise ValueError(f"metric must be one of {VALID_METRICS}, got {self.metric!r}.")
        if self.algorithm not in VALID_ALGORITHMS:
            raise ValueError(
                f"algorithm must be one of {VALID_ALGORITHMS}, got {self.algorithm!r}."
            )
        if self.n_jobs is not None and (
            not isinstance(self.n_jobs, Integral) or self.n_jobs == 0
        ):
            raise ValueError(f"n_jobs must be None or a non-zero int, got {self.n_jobs!r}.")
        for name, defaults in (("hnsw_params", HNSW_DEFAULTS), ("ivf_params", IVF_DEFAULTS)):
            unknown = set(getattr(self, name) or {}) - set(defaults)
            if unknown:
                raise ValueError(
                    f"{name} has unknown key(s) {sorted(unknown)}; the keys are "
                    f"{sorted(defaults)}."
                )

    def fit(self, X):
        """Set the bank to ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Bank vectors (at least one row).

        Returns
        -------
        self : NeighborIndex
        """
        self._check_params()
        X, sq = check_vectors(X, "The bank")
        if X.shape[0] == 0:
            raise ValueError("The bank is empty: it needs at least one vector.")
        if X.shape[1] == 0:
            raise ValueError("The bank has 0 features: it needs at least one.")
        shift = None  # the euclidean search space is centred on the bank (cosine: unused)
        if self.metric == "euclidean":
            shift = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        return self._set_bank(make_rows(X, self.metric, shift, "The bank", sq=sq), shift)

    def _set_bank(self, rows, shift):
        self.n_features_in_ = rows.raw.shape[1]
        # Euclidean search works on the bank shifted to its mean (kept when
        # vectors are added): smaller norms mean smaller float32 errors.
        self._shift = shift
        self._bank = rows
        self._backend = None  # built at the first query
        self._update_size()
        return self

    def _update_size(self):
        self.n_samples_ = len(self._bank)
        if self.algorithm == "auto":
            self.algorithm_ = "brute" if self.n_samples_ <= AUTO_BRUTE_MAX_BANK else "ivf"
        else:
            self.algorithm_ = self.algorithm
        if self._backend is not None and self._backend_kind() != self.algorithm_:
            self._backend = None  # "auto" crossed the threshold

    def add(self, X):
        """Append vectors to the bank (their indices follow the existing ones).

        Parameters
        ----------
        X : array-like of shape (n_new, n_features)
            Vectors to append.

        Returns
        -------
        self : NeighborIndex
        """
        if not hasattr(self, "_bank"):
            return self.fit(X)
        X = np.asarray(X)
        if X.ndim == 2 and X.shape[0] == 0:
            return self
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Vectors added to the bank must have {self.n_features_in_} "
                f"features, got shape {X.shape}."
            )
        start = self.n_samples_
        X, sq = check_vectors(X, "The added vectors")
        new = make_rows(X, self.metric, self._shift, "The added vectors", offset=start, sq=sq)
        self._bank = self._bank.concat(new)
        self._update_size()
        if self._backend is not None:
            with faiss_threads(self.n_jobs):
                self._backend.add(new.search_vectors(self._shift), new.sq)
        return self

    def _backend_kind(self):
        kinds = {HNSWSearch: "hnsw", IVFSearch: "ivf", FlatSearch: "brute"}
        return kinds[type(self._backend)]

    def _search(self):
        """The search backend, built (inside the thread scope) when missing."""
        if self._backend is None:
            d = self.n_features_in_
            step = max(1, self.block_bytes // (4 * d))  # bank rows converted at once
            if self.algorithm_ == "hnsw":
                params = {**HNSW_DEFAULTS, **(self.hnsw_params or {})}
                backend = HNSWSearch(self.metric, d, seed=self.random_state, **params)
            elif self.algorithm_ == "ivf":
                params = {**IVF_DEFAULTS, **(self.ivf_params or {})}
                backend = IVFSearch(self.metric, d, seed=self.random_state, **params)
                sample = self._bank.take(backend.training_rows(self.n_samples_))
                backend.train(sample.search_vectors(self._shift), self.n_samples_)
            else:
                backend = FlatSearch(self.metric, d)
                if self.n_samples_ > step:  # grown once, not at every step
                    backend.reserve(self.n_samples_)
            for s in range(0, self.n_samples_, step):
                stop = min(self.n_samples_, s + step)
                backend.add(self._bank.search_vectors(self._shift, s, stop), self._bank.sq[s:stop])
            self._backend = backend
        return self._backend

    def __getstate__(self):
        state = self.__dict__.copy()
        if not self.serialize_index:
            state["_backend"] = None  # rebuilt at the first query
        return state

    # ------------------------------------------------------------------ query
    def kneighbors(
        self, X=None, n_neighbors=1, exclude=None, exclude_self=False, return_distance=True
    ):
        """Find the ``n_neighbors`` nearest bank vectors of each query.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            Queries. ``None`` queries the bank itself.
        n_neighbors : int, default=1
            Number of neighbours per query (at most the bank size, minus one
            when a bank row is excluded).
        exclude : array-like of int of shape (n_queries,), default=None
            Bank index to leave out for each query (``-1`` for none).
        exclude_self : bool, default=False
            Leave bank row ``i`` out of the neighbours of query ``i``
            (leave-self-out; requires the queries to be the bank rows, e.g.
            ``X=None``).
        return_distance : bool, default=True
            Whether to return the distances as well. Without them the exact
            search skips the float64 distances of the queries whose float32
            scores already fix the order (the same neighbours either way).

        Returns
        -------
        dist : ndarray of shape (n_queries, n_neighbors), float64
            Distances, increasing along each row (only if ``return_distance``).
        ind : ndarray of shape (n_queries, n_neighbors), int64
            Bank indices; equal distances are ordered by increasing index.
        """
        self._check_fitted()
        if X is not None:
            X = check_bank_like(X, self.n_features_in_, "Queries")
        n_threads, workers = self._workers(self.n_samples_ if X is None else X.shape[0])
        with thread_team(workers) as team:  # its threads start while the queries are checked
            if X is None:
                Q = self._bank
            else:
                X, sq = check_vectors(X, "The queries")
                Q = make_rows(X, self.metric, self._shift, "The queries", sq=sq)
            n_q = len(Q)
            excl = self._exclusions(n_q, exclude, exclude_self)
            check_n_neighbors(n_neighbors)
            available = self.n_samples_ - (1 if excl is not None and (excl >= 0).any() else 0)
            if n_neighbors > available:
                raise ValueError(
                    f"n_neighbors={n_neighbors} is larger than the {available} bank "
                    f"vector(s) available to each query (bank size {self.n_samples_}"
                    + (", one left out per query)." if available < self.n_samples_ else ").")
                )
            dist, ind = self._search_rows(Q, n_neighbors, excl, n_threads, team, return_distance)
        return (dist, ind) if return_distance else ind

    def _workers(self, n_q):
        """Threads of a search of ``n_q`` queries: ``effective_n_jobs(n_jobs)``, and how many
        of them search blocks side by side (that many with at least
        `_MIN_QUERIES_PER_THREAD` queries per thread, else 1)."""
        from sklearn_echo.device import effective_n_jobs

        n_threads = effective_n_jobs(self.n_jobs)
        return n_threads, n_threads if n_q >= _MIN_QUERIES_PER_THREAD * n_threads else 1

    def _search_rows(self, Q, k, excl, n_threads, team, distances=True):
        """The k nearest bank vectors of `Rows` ``Q``, inside this index's thread scope.

        With a `ThreadTeam` ``team`` (see `_workers`), the query blocks run
        side by side on its threads, BLAS on one thread; with None, one
        block at a time on faiss's ``n_threads`` threads. Without
        ``distances`` the returned distances are None.
        """
        with thread_scope(n_threads, self.n_features_in_, 1 if team is not None else None):
            return self._query(self._search(), Q, k, excl, team, distances)

    def _query(self, backend, Q, k, excl, team, distances=True):
        """Search query blocks with ``backend``; memory bounded by ``block_bytes``.

        With a `ThreadTeam` ``team`` (and BLAS scoped to one thread by the
        caller), each of its threads searches its own blocks with one-thread
        faiss and BLAS: the float64 ranking of the candidates then runs in
        parallel as well, and no OpenMP team is left spinning on a core
        that the next step needs. With None, the blocks are searched in
        turn on faiss's threads.
        """
        n_q = len(Q)
        dist = np.empty((n_q, k)) if distances else None
        ind = np.empty((n_q, k), dtype=np.int64)
        qb, bb = self._blocks(n_q, 1 if team is None else team.n_threads)

        def search(q0):
            q1 = min(n_q, q0 + qb)
            block = Q.take(slice(q0, q1))
            d, ind[q0:q1] = backend.kneighbors(
                backend.query_vectors(block, self._shift), block, self._bank, k,
                None if excl is None else excl[q0:q1], qb * bb, distances,
            )
            if distances:
                dist[q0:q1] = d

        starts = range(0, n_q, qb)
        if team is not None:
            team.run(search, starts)
        else:
            for q0 in starts:
                search(q0)
        return dist, ind

    def _blocks(self, n_q, workers=1):
        """Query rows per block and candidate scores per query row held at once.

        Across the ``workers`` blocks searched at once, ``qb`` query vectors
        (``4 qb d`` bytes each) and ``qb x bb`` candidates (score, index,
        distance and order: ``32 qb bb`` bytes each) stay within
        ``block_bytes``; with several workers every one gets a block.
        """
        budget = self.block_bytes // workers
        qb = int(max(1, min(-(-n_q // workers), _MAX_QUERY_BLOCK, budget // (4 * self.n_features_in_))))
        bb = int(max(1, min(self.n_samples_, budget // (32 * qb))))
        return qb, bb

    def bank_kneighbors(self, X, n_neighbors=1):
        """For every bank vector, its nearest rows of ``X`` (exact).

        This is the reverse of `kneighbors`: the bank vectors are the
        queries and the rows of ``X`` the candidates. It updates the
        neighbour lists of a bank when new vectors arrive.

        Parameters
        ----------
        X : array-like of shape (n_candidates, n_features)
            Candidate vectors.
        n_neighbors : int, default=1
            Number of neighbours per bank vector (at most ``n_candidates``).

        Returns
        -------
        dist : ndarray of shape (n_samples_, n_neighbors), float64
            Distances, increasing along each row.
        ind : ndarray of shape (n_samples_, n_neighbors), int64
            Row indices into ``X``.
        """
        self._check_fitted()
        X = check_bank_like(X, self.n_features_in_, "Candidates")
        if not isinstance(n_neighbors, Integral) or not 1 <= n_neighbors <= X.shape[0]:
            raise ValueError(
                f"n_neighbors must be an int in [1, {X.shape[0]}], got {n_neighbors!r}."
            )
        other = NeighborIndex(
            metric=self.metric, algorithm="brute", n_jobs=self.n_jobs, block_bytes=self.block_bytes
        )
        n_threads, workers = self._workers(self.n_samples_)
        with thread_team(workers) as team:  # its threads start while the candidates are checked
            X, sq = check_vectors(X, "The candidates")
            rows = make_rows(X, self.metric, self._shift, "The candidates", sq=sq)
            other._set_bank(rows, self._shift)  # same search space as this bank
            return other._search_rows(self._bank, n_neighbors, None, n_threads, team)

    def _check_fitted(self):
        if not hasattr(self, "_bank"):
            raise ValueError("This NeighborIndex has no bank yet: call fit first.")

    def _exclusions(self, n_q, exclude, exclude_self):
        if exclude_self:
            if exclude is not None:
                raise ValueError("Pass either exclude or exclude_self, not both.")
            if n_q != self.n_samples_:
                raise ValueError(
                    "exclude_self=True needs the queries to be the bank rows "
                    f"({self.n_samples_}), got {n_q} queries."
                )
            return np.arange(n_q, dtype=np.int64)
        if exclude is None:
            return None
        excl = np.asarray(exclude, dtype=np.int64).reshape(-1)
        if excl.shape[0] != n_q:
            raise ValueError(
                f"exclude must hold one bank index per query ({n_q}), got {excl.shape[0]}."
            )
        if (excl >= self.n_samples_).any():
            raise ValueError("exclude holds an index beyond the bank size.")
        return excl
