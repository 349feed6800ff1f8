"""One nearest-neighbour search layer shared by the k-NN estimators.

`NeighborIndex` holds a memory bank of vectors and answers k-nearest
neighbour queries with

* ``algorithm="brute"``: exact search. Similarities are computed block by
  block with float32 matrix products (``torch.matmul``) and reduced with
  ``torch.topk``, so memory stays bounded (one ``query_block x bank_block``
  matrix at a time, never ``n_queries x n_bank``). The returned distances
  are then recomputed in float64 for the selected neighbours, and near ties
  (within the float32 rounding error) are re-ranked in float64, so the result
  is the exact float64 ranking.
* ``algorithm="pynndescent"``: approximate search with a NN-descent graph
  (`pynndescent.NNDescent`). Distances of the returned neighbours are
  recomputed in float64 exactly as for brute force.
* ``algorithm="auto"``: brute force below `AUTO_BRUTE_MAX_BANK` bank
  vectors, pynndescent above.

Distances
---------
``metric="cosine"``: ``1 - cos(q, b)`` in ``[0, 2]``. A zero vector has no
direction: as in `sklearn.metrics.pairwise.cosine_distances`, its
distance to every vector (another zero vector included) is 1, and a
`ZeroNormWarning` names the rows.
``metric="euclidean"``: ``||q - b||_2``.

Ordering and ties
-----------------
Neighbours are returned by increasing distance. Equal distances are ordered
by increasing bank index (the lower index comes first, also when choosing
which of several equidistant vectors make it into the k nearest), so results
are deterministic.
"""

# License: MIT

import hashlib
import math
import os
import threading
import warnings
from contextlib import contextmanager
from numbers import Integral

import numpy as np

__all__ = [
    "NeighborIndex",
    "ZeroNormWarning",
    "AUTO_BRUTE_MAX_BANK",
    "VALID_METRICS",
    "VALID_ALGORITHMS",
]

VALID_METRICS = ("cosine", "euclidean")
VALID_ALGORITHMS = ("auto", "brute", "pynndescent")

#: Bank size (number of vectors) up to which ``algorithm="auto"`` uses exact
#: brute force; above it, ``"auto"`` builds a pynndescent graph. Measured with
#: ``benchmarks/bench_knn.py`` (see ``docs/neighbors.md``): on 100,000 x 2,688
#: vectors exact brute force answers 10,000 queries in 41 s, while the
#: pynndescent graph takes 134 s to build (plus a one-off numba compilation of
#: about 65 s per process, and 3 GiB of peak memory) before 19 s of queries at
#: recall@5 0.965. Brute force stays exact and cheaper than a graph build until
#: banks several times larger than a memory bank of machine recordings.
AUTO_BRUTE_MAX_BANK = 200_000

_EPS32 = float(np.finfo(np.float32).eps)
# Candidates kept per query beyond k: near ties at the k-th position are
# re-ranked in float64 among them.
_EXTRA_CANDIDATES = 8
# Low-rank pruning of exact brute force: banks of at least this many vectors
# and dimensions, rank of the bounds, largest residual energy share, largest k.
_PRUNE_MIN_BANK = 8192
_PRUNE_MIN_DIM = 256
_PRUNE_MAX_RANK = 128
_PRUNE_MAX_RESIDUAL = 0.1
_PRUNE_MAX_K = 256
# Candidates per query (at least this many, or this share of the bank) beyond
# which a query falls back to the full products.
_PRUNE_MIN_BUDGET = 256
_PRUNE_BUDGET_SHARE = 1 / 16
# Default bound on the similarity block held at once (bytes of float32).
_DEFAULT_BLOCK_BYTES = 64 * 2**20

_torch_threads_lock = threading.Lock()


class ZeroNormWarning(UserWarning):
    """A zero vector was given to the cosine metric (distance 1 to everything)."""


def _torch():
    import torch

    return torch


def _resolve_n_threads(n_jobs):
    """Number of torch threads for ``n_jobs`` (``None`` keeps torch's setting)."""
    if n_jobs is None:
        return None
    n_cpus = os.cpu_count() or 1
    if n_jobs < 0:
        return max(1, n_cpus + 1 + n_jobs)
    return max(1, int(n_jobs))


@contextmanager
def _torch_threads(n_jobs):
    torch = _torch()
    n = _resolve_n_threads(n_jobs)
    if n is None or n == torch.get_num_threads():
        yield
        return
    with _torch_threads_lock:
        previous = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


_ROW_CHUNK = 4096


def _check_finite_2d(X, what):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, got shape {X.shape}.")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{what} must hold numbers, got dtype {X.dtype}.")
    with np.errstate(over="ignore"):  # overflow is reported just below
        X = np.ascontiguousarray(X, dtype=np.float32)
    bad = _nonfinite_rows(X)
    if bad:
        raise ValueError(
            f"{what} contains NaN or infinity (after conversion to float32) in "
            f"row(s) {_list_rows(bad)}; every value must be finite."
        )
    return X


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
    """
    bad = _nonfinite_rows(X)
    if bad:
        raise ValueError(
            f"{what} contains NaN or infinity in row(s) {_list_rows(bad)}; every "
            "value must be finite."
        )
    return X


def _nonfinite_rows(X):
    """Indices of the rows of ``X`` holding NaN or infinity, checked chunk by chunk."""
    bad = []
    for s in range(0, X.shape[0], _ROW_CHUNK):
        ok = np.isfinite(X[s : s + _ROW_CHUNK]).all(axis=1)
        if not ok.all():
            bad.extend((np.flatnonzero(~ok) + s).tolist())
    return bad


def check_n_neighbors(n_neighbors):
    """Raise a ``ValueError`` unless ``n_neighbors`` is a positive int.

    Parameters
    ----------
    n_neighbors : object
        The requested number of neighbours.
    """
    if not isinstance(n_neighbors, Integral) or n_neighbors < 1:
        raise ValueError(f"n_neighbors must be a positive int, got {n_neighbors!r}.")


def _row_sq_norms(X):
    """Squared row norms in float64, computed chunk by chunk."""
    out = np.empty(X.shape[0], dtype=np.float64)
    for s in range(0, X.shape[0], _ROW_CHUNK):
        block = X[s : s + _ROW_CHUNK]
        out[s : s + _ROW_CHUNK] = np.einsum("ij,ij->i", block, block, dtype=np.float64)
    return out


def _list_rows(rows, limit=5):
    rows = [int(r) for r in rows]
    text = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        text += f", ... ({len(rows)} rows)"
    return text


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
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in X]


class _Rows:
    """Vectors ready for search: float32 rows plus their per-row statistics.

    ``raw`` holds the vectors as given (float32); ``inv`` is ``1 / |x|``
    (cosine; 0 for a zero vector); ``sq`` is ``|x|^2`` (cosine) or
    ``|x - shift|^2`` (euclidean), in float64.
    """

    __slots__ = ("raw", "inv", "sq")

    def __init__(self, raw, inv, sq):
        self.raw, self.inv, self.sq = raw, inv, sq

    def __len__(self):
        return self.raw.shape[0]

    def take(self, rows):
        return _Rows(
            np.ascontiguousarray(self.raw[rows]),
            None if self.inv is None else self.inv[rows],
            self.sq[rows],
        )


class NeighborIndex:
    """Memory bank of vectors with exact or approximate k-NN queries.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"`` is ``1 - cos(q, b)``; a zero vector is at distance 1 from
        everything (with a `ZeroNormWarning`).
    algorithm : {"auto", "brute", "pynndescent"}, default="auto"
        ``"brute"`` is exact; ``"pynndescent"`` approximate; ``"auto"`` picks
        brute force for banks of at most `AUTO_BRUTE_MAX_BANK` vectors.
    n_jobs : int, default=None
        Threads for the search: torch threads for brute force, numba threads
        for pynndescent. ``None`` keeps the current settings (torch: all
        physical cores unless ``torch.set_num_threads`` or
        ``OMP_NUM_THREADS`` says otherwise); ``-1`` means all cores.
    random_state : int or None, default=None
        Seed of the pynndescent graph construction.
    block_bytes : int, default=64 MiB
        Upper bound on the float32 similarity block (and, for the euclidean
        metric, on the shifted bank block) computed at once by brute force.
    pynndescent_params : dict, default=None
        Extra keyword arguments for `pynndescent.NNDescent` (default
        here: ``n_neighbors=30``).
    epsilon : float, default=0.4
        Search breadth of pynndescent queries (larger = more accurate,
        slower). 0.4 gave a recall@5 of 0.965 on the 100,000 x 2,688
        benchmark bank (0.3 gave 0.933; 0.1, pynndescent's own default, 0.667).

    Attributes
    ----------
    n_samples_ : int
        Number of vectors in the bank.
    n_features_in_ : int
        Dimension of the vectors.
    algorithm_ : str
        The algorithm in use (``"brute"`` or ``"pynndescent"``).

    Notes
    -----
    Brute force is exact: every returned distance is the float64 distance
    between the float32 vectors (as `sklearn.neighbors.NearestNeighbors`
    computes it on float64 copies), and the neighbours are the k smallest of
    those distances, ties going to the lower bank index. The float32 matrix
    products only pick candidates; whenever rounding could matter (a near
    tie at the k-th place) the affected queries are re-ranked in float64.

    For large, high-dimensional banks (at least 8,192 vectors of at least 256
    dimensions) whose vectors mostly live in a low-dimensional subspace, as
    embeddings do, brute force first bounds every similarity with a rank-128
    projection (Cauchy-Schwarz on the residuals) and computes exact
    distances only for the vectors whose upper bound reaches the k-th best
    lower bound. This skips most of the work and stays exact; queries for
    which the bounds leave too many candidates fall back to the full
    product.

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
        pynndescent_params=None,
        epsilon=0.4,
    ):
        self.metric = metric
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.block_bytes = block_bytes
        self.pynndescent_params = pynndescent_params
        self.epsilon = epsilon

    # ------------------------------------------------------------------ build
    def _check_params(self):
        if self.metric not in VALID_METRICS:
            raise ValueError(
                f"metric must be one of {VALID_METRICS}, got {self.metric!r}."
            )
        if self.algorithm not in VALID_ALGORITHMS:
            raise ValueError(
                f"algorithm must be one of {VALID_ALGORITHMS}, got {self.algorithm!r}."
            )
        if self.n_jobs is not None and (
            not isinstance(self.n_jobs, Integral) or self.n_jobs == 0
        ):
            raise ValueError(f"n_jobs must be None or a non-zero int, got {self.n_jobs!r}.")

    def _rows(self, X, what, offset=0):
        """Validate ``X`` and compute its per-row statistics."""
        X = _check_finite_2d(X, what)
        if self.metric == "cosine":
            sq = _row_sq_norms(X)
            zero = sq == 0.0
            if zero.any():
                warnings.warn(
                    f"{what} has zero-norm row(s) {_list_rows(np.flatnonzero(zero) + offset)}: "
                    "a zero vector has no direction, so its cosine distance to any "
                    "vector is taken as 1 (as in sklearn.metrics.pairwise."
                    "cosine_distances). Check these embeddings or use metric='euclidean'.",
                    ZeroNormWarning,
                )
            with np.errstate(divide="ignore"):
                inv = np.where(zero, 0.0, 1.0 / np.sqrt(sq)).astype(np.float32)
            return _Rows(X, inv, sq)
        sq = np.empty(X.shape[0], dtype=np.float64)
        for s in range(0, X.shape[0], _ROW_CHUNK):
            sq[s : s + _ROW_CHUNK] = _row_sq_norms(X[s : s + _ROW_CHUNK] - self._shift)
        return _Rows(X, None, sq)

    def _search_space(self, rows, s0, s1):
        """Rows ``s0:s1`` as used by the matrix products: unit or shifted, float32."""
        block = rows.raw[s0:s1]
        if self.metric == "cosine":
            return block * rows.inv[s0:s1, None]
        return block - self._shift

    def fit(self, X):
        """Build the index on the bank ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Bank vectors (at least one row).

        Returns
        -------
        self : NeighborIndex
        """
        self._check_params()
        X = _check_finite_2d(X, "The bank")
        if X.shape[0] == 0:
            raise ValueError("The bank is empty: it needs at least one vector.")
        if X.shape[1] == 0:
            raise ValueError("The bank has 0 features: it needs at least one.")
        self.n_features_in_ = X.shape[1]
        # Euclidean products use the bank shifted to its mean: distances are
        # translation invariant and smaller norms mean smaller float32 errors.
        self._shift = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        self._bank = self._rows(X, "The bank")
        self._finish_bank(0)
        return self

    def add(self, X):
        """Append vectors to the bank (their indices follow the existing ones).

        With pynndescent the graph is rebuilt at the next query.

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
        new = self._rows(X, "The added vectors", offset=start)
        old = self._bank
        self._bank = _Rows(
            np.concatenate([old.raw, new.raw]),
            None if old.inv is None else np.concatenate([old.inv, new.inv]),
            np.concatenate([old.sq, new.sq]),
        )
        self._finish_bank(start)
        return self

    def _finish_bank(self, start):
        self.n_samples_ = len(self._bank)
        if self.algorithm == "auto":
            self.algorithm_ = (
                "brute" if self.n_samples_ <= AUTO_BRUTE_MAX_BANK else "pynndescent"
            )
        else:
            self.algorithm_ = self.algorithm
        if self.metric == "cosine":
            self._half_sq = np.zeros(self.n_samples_, dtype=np.float32)
            self._bank_max_norm = 1.0
        else:
            self._half_sq = (0.5 * self._bank.sq).astype(np.float32)
            self._bank_max_norm = float(np.sqrt(self._bank.sq.max()))
        self._nnd = None  # pynndescent graph, built lazily
        with _torch_threads(self.n_jobs):
            self._update_projection(start)

    def __getstate__(self):
        state = self.__dict__.copy()
        # The pynndescent graph holds compiled numba objects: rebuild it on
        # the first query after unpickling instead of storing it.
        state["_nnd"] = None
        return state

    # ------------------------------------------------- low-rank pruning (exact)
    def _update_projection(self, start):
        """Low-rank bounds that let brute force skip most exact products.

        For an orthonormal basis ``P`` of the bank's dominant subspace, every
        similarity satisfies ``|q.b - (P'q).(P'b)| <= |q_res| |b_res|``
        (Cauchy-Schwarz on the residuals). Built only for large,
        high-dimensional banks whose residual energy is small.
        """
        n, d = self._bank.raw.shape
        if start == 0 or getattr(self, "_proj", None) is None:
            tried = getattr(self, "_proj_tried_at", 0) if start else 0
            self._proj = None
            self._aug = None
            if (
                self.algorithm_ != "brute"
                or n < _PRUNE_MIN_BANK
                or d < _PRUNE_MIN_DIM
                or (tried and n < 2 * tried)
            ):
                return
            self._proj_tried_at = n
            sample = np.unique(np.linspace(0, n - 1, min(n, 8192)).astype(np.int64))
            proj = _top_subspace(
                self._search_space(self._bank.take(sample), 0, len(sample)),
                min(_PRUNE_MAX_RANK, d // 8),
            )
            aug = self._augment(self._bank, proj)
            residual = float(np.sum(aug[:, -3].astype(np.float64) ** 2))
            energy = float(np.sum(self._search_sq(self._bank)))
            if residual > _PRUNE_MAX_RESIDUAL * energy:
                return  # not low-rank enough for the bounds to prune
            self._proj, self._aug = proj, aug
        else:
            new = self._augment(self._bank.take(np.arange(start, n)), self._proj)
            self._aug = np.concatenate([self._aug, new], axis=0)

    def _search_sq(self, rows):
        """Squared norms in the search space (unit rows or shifted rows)."""
        if self.metric == "cosine":
            return rows.sq * rows.inv.astype(np.float64) ** 2
        return rows.sq

    def _augment(self, rows, proj, tol=None, sign=1.0):
        """Bank rows ``[P'b, |b_res|, -|b|^2/2 or 0, 1]`` (float32).

        With ``tol`` (queries): ``[P'q, sign |q_res|, 1, sign tol]``, so that
        the product with the bank rows is the upper (``sign=1``) or lower
        (``sign=-1``) bound of the similarity.
        """
        torch = _torch()
        r = proj.shape[1]
        n = len(rows)
        out = np.empty((n, r + 3), dtype=np.float32)
        P = torch.from_numpy(proj)
        with torch.inference_mode():
            for s in range(0, n, _ROW_CHUNK):
                block = self._search_space(rows, s, s + _ROW_CHUNK)
                out[s : s + len(block), :r] = (torch.from_numpy(block) @ P).numpy()
        sq = self._search_sq(rows)
        rho = _residual_norms(sq, out[:, :r], self.n_features_in_)
        if tol is None:
            out[:, r] = rho
            out[:, r + 1] = -0.5 * sq if self.metric == "euclidean" else 0.0
            out[:, r + 2] = 1.0
        else:
            out[:, r] = sign * rho
            out[:, r + 1] = 1.0
            out[:, r + 2] = sign * tol
        return out

    # ------------------------------------------------------------------ query
    def kneighbors(self, X=None, n_neighbors=1, exclude=None, exclude_self=False):
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

        Returns
        -------
        dist : ndarray of shape (n_queries, n_neighbors), float64
            Distances, increasing along each row.
        ind : ndarray of shape (n_queries, n_neighbors), int64
            Bank indices; equal distances are ordered by increasing index.
        """
        X = self._check_like_bank(X, "Queries")
        Q = self._bank if X is None else self._rows(X, "The queries")
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
        if n_q == 0:
            return np.empty((0, n_neighbors)), np.empty((0, n_neighbors), dtype=np.int64)
        with _torch_threads(self.n_jobs):
            if self.algorithm_ == "brute":
                return self._brute(Q, n_neighbors, excl)
            return self._pynndescent(Q, n_neighbors, excl)

    def bank_kneighbors(self, X, n_neighbors=1):
        """For every bank vector, its nearest rows of ``X`` (exact, brute force).

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
        X = self._check_like_bank(np.asarray(X), "Candidates")
        if not isinstance(n_neighbors, Integral) or not 1 <= n_neighbors <= X.shape[0]:
            raise ValueError(
                f"n_neighbors must be an int in [1, {X.shape[0]}], got {n_neighbors!r}."
            )
        other = NeighborIndex(
            metric=self.metric,
            algorithm="brute",
            n_jobs=self.n_jobs,
            block_bytes=self.block_bytes,
        )
        other.n_features_in_ = self.n_features_in_
        other._shift = self._shift  # same search space as this bank
        other._bank = other._rows(X, "The candidates")
        other._finish_bank(0)
        with _torch_threads(self.n_jobs):
            return other._brute(self._bank, n_neighbors, None)

    def _check_like_bank(self, X, what):
        """Check that the bank exists and that ``X`` (unless None) is 2-D and as wide."""
        if not hasattr(self, "_bank"):
            raise ValueError("This NeighborIndex has no bank yet: call fit first.")
        if X is None:
            return None
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{what} must have {self.n_features_in_} features like the "
                f"bank, got shape {X.shape}."
            )
        return X

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

    def _refine(self, Q, rows, cols):
        """float64 distances between ``Q[rows]`` and ``bank[cols]`` (1-D pairs)."""
        out = np.empty(rows.shape[0], dtype=np.float64)
        step = max(1, (32 * 2**20) // (8 * self.n_features_in_))
        for s in range(0, rows.shape[0], step):
            q = Q.raw[rows[s : s + step]].astype(np.float64)
            b = self._bank.raw[cols[s : s + step]].astype(np.float64)
            if self.metric == "cosine":
                norm = np.sqrt(np.einsum("ij,ij->i", q, q) * np.einsum("ij,ij->i", b, b))
                dot = np.einsum("ij,ij->i", q, b)
                zero = norm == 0.0  # zero vectors: distance 1 to everything
                norm[zero] = 1.0
                dot[zero] = 0.0
                out[s : s + step] = 1.0 - dot / norm
            else:
                diff = q - b
                out[s : s + step] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        if self.metric == "cosine":
            np.clip(out, 0.0, 2.0, out=out)
        return out

    def _tolerance(self, Q):
        """Bound on the float32 error of the block similarities, per query."""
        factor = max(4.0 * math.sqrt(self.n_features_in_), 16.0) * _EPS32
        if self.metric == "cosine":
            return np.full(len(Q), 2.0 * factor)
        q_norm = np.sqrt(Q.sq)
        b = self._bank_max_norm
        return factor * (q_norm * b + 0.5 * b * b) + 1e-30

    def _blocks(self, n_q):
        """Query and bank block sizes with ``4 * qb * bb <= block_bytes``."""
        qb = int(max(1, min(n_q, 1024, self.block_bytes // 4)))
        bb = int(max(1, min(self.n_samples_, self.block_bytes // (4 * qb))))
        # the bank block in the search space (unit or shifted rows) is bounded too
        bb = int(max(1, min(bb, self.block_bytes // (4 * self.n_features_in_))))
        return qb, bb

    def _bank_block(self, torch, b0, b1):
        return torch.from_numpy(self._search_space(self._bank, b0, b1))

    def _query_block(self, torch, Q, q0, q1):
        if self.metric == "cosine":
            return torch.from_numpy(Q.raw[q0:q1])  # scaled by 1/|q| after the product
        return torch.from_numpy(Q.raw[q0:q1] - self._shift)

    def _similarity(self, torch, Qt, inv_q, Bt, b0, b1, excl_t):
        """Similarities (larger = closer) of a query block to bank[b0:b1]."""
        S = Qt @ Bt.T
        if self.metric == "cosine":
            S *= inv_q[:, None]
        else:
            S -= torch.from_numpy(self._half_sq[b0:b1])
        if excl_t is not None:
            _mask_excluded(S, excl_t, b0, b1)
        return S

    def _brute(self, Q, k, excl):
        """Exact search: low-rank pruning when available, else full products."""
        if self._aug is None or k > _PRUNE_MAX_K:
            return self._brute_full(Q, k, excl)
        dist, ind, fallback = self._brute_pruned(Q, k, excl)
        if fallback.any():
            rows = np.flatnonzero(fallback)
            d, i = self._brute_full(Q.take(rows), k, None if excl is None else excl[rows])
            dist[rows], ind[rows] = d, i
        return dist, ind

    def _similarity_blocks(self, torch, Q, excl):
        """Yield ``(q0, q1, b0, b1, S)``: float32 similarities of every query block
        against every bank block (bank blocks outside, so each is read once)."""
        n_q, n_b = len(Q), self.n_samples_
        qb, bb = self._blocks(n_q)
        inv_q = None if Q.inv is None else torch.from_numpy(Q.inv)
        excl_t = None if excl is None else torch.from_numpy(excl)
        for b0 in range(0, n_b, bb):
            b1 = min(n_b, b0 + bb)
            Bt = self._bank_block(torch, b0, b1)
            for q0 in range(0, n_q, qb):
                q1 = min(n_q, q0 + qb)
                S = self._similarity(
                    torch,
                    self._query_block(torch, Q, q0, q1),
                    None if inv_q is None else inv_q[q0:q1],
                    Bt,
                    b0,
                    b1,
                    None if excl_t is None else excl_t[q0:q1],
                )
                yield q0, q1, b0, b1, S

    def _brute_full(self, Q, k, excl):
        """Exact search with full float32 products, bank blocks outside."""
        torch = _torch()
        n_q, n_b = len(Q), self.n_samples_
        kc = min(n_b, k + _EXTRA_CANDIDATES)
        best_v = torch.full((n_q, kc), -math.inf)
        best_i = torch.full((n_q, kc), n_b, dtype=torch.int64)
        with torch.inference_mode():
            for q0, q1, b0, b1, S in self._similarity_blocks(torch, Q, excl):
                v, i = torch.topk(S, min(kc, b1 - b0), dim=1)
                best_v[q0:q1], best_i[q0:q1] = _merge_top(
                    torch,
                    torch.cat([best_v[q0:q1], v], 1),
                    torch.cat([best_i[q0:q1], i + b0], 1),
                    kc,
                )
        return self._rank_candidates(Q, best_v.numpy().astype(np.float64), best_i.numpy(), k, excl)

    def _rank_candidates(self, Q, cand_v, cand_i, k, excl):
        """Exact float64 ranking of the candidates; rescan rows with wide ties."""
        m, kc = cand_i.shape
        valid = np.isfinite(cand_v)  # excluded rows show up as -inf
        rows = np.repeat(np.arange(m), kc)
        d = np.full(m * kc, np.inf)
        flat_ok = valid.reshape(-1)
        d[flat_ok] = self._refine(Q, rows[flat_ok], cand_i.reshape(-1)[flat_ok])
        d = d.reshape(m, kc)
        order = _lexsort_rows(d, cand_i)
        d_sorted = np.take_along_axis(d, order, 1)[:, :k]
        i_sorted = np.take_along_axis(cand_i, order, 1)[:, :k]
        # A row is ambiguous when the weakest candidate kept could be tied with
        # the k-th neighbour within the float32 error: vectors not kept as
        # candidates might then belong in the k nearest. Rescan those rows.
        if kc < self.n_samples_:
            tol = self._tolerance(Q)
            v_sorted = -np.sort(-cand_v, axis=1)
            ambiguous = np.flatnonzero(v_sorted[:, kc - 1] >= v_sorted[:, k - 1] - 2 * tol)
            if ambiguous.size:
                d_amb, i_amb = self._rescan(
                    Q.take(ambiguous),
                    v_sorted[ambiguous, k - 1] - 2 * tol[ambiguous],
                    k,
                    None if excl is None else excl[ambiguous],
                )
                d_sorted[ambiguous] = d_amb
                i_sorted[ambiguous] = i_amb
        return d_sorted, i_sorted

    def _rescan(self, Q, thresholds, k, excl):
        """Exact k-NN of a few queries: every bank vector above a threshold."""
        torch = _torch()
        n_q = len(Q)
        thr = torch.from_numpy(thresholds.astype(np.float32))[:, None]
        pr, pc = [], []
        with torch.inference_mode():
            for q0, q1, b0, _, S in self._similarity_blocks(torch, Q, excl):
                nz = torch.nonzero(S >= thr[q0:q1])
                pr.append(nz[:, 0].numpy() + q0)
                pc.append(nz[:, 1].numpy() + b0)
        pr = np.concatenate(pr)
        pc = np.concatenate(pc)
        return self._best_pairs(Q, pr, pc, k, n_q)

    def _best_pairs(self, Q, rows, cols, k, n_q):
        """The k best (float64 distance, then index) of candidate pairs per query."""
        dist = self._refine(Q, rows, cols)
        order = np.lexsort((cols, dist, rows))
        rows, cols, dist = rows[order], cols[order], dist[order]
        starts = np.searchsorted(rows, np.arange(n_q))
        # rows with fewer than k pairs get padding the caller discards
        take = np.minimum(starts[:, None] + np.arange(k), max(len(rows) - 1, 0))
        if len(rows) == 0:
            return np.full((n_q, k), np.inf), np.zeros((n_q, k), dtype=np.int64)
        return dist[take], cols[take]

    def _brute_pruned(self, Q, k, excl):
        """Exact k-NN from low-rank bounds; rows with too many candidates fall back.

        Bound products give, for every (query, bank vector), an upper and a
        lower bound of the similarity (float32 rounding included). The k-th
        best lower bound ``tau`` is at most the true k-th best similarity, so
        every vector among the k nearest (ties included) has an upper bound
        of at least ``tau``: these candidates are ranked exactly in float64.
        """
        torch = _torch()
        n_q, n_b = len(Q), self.n_samples_
        budget = max(_PRUNE_MIN_BUDGET, int(n_b * _PRUNE_BUDGET_SHARE))
        dist = np.zeros((n_q, k))
        ind = np.zeros((n_q, k), dtype=np.int64)
        fallback = np.zeros(n_q, dtype=bool)
        tol = 2.0 * self._tolerance(Q)
        qb, bb = self._blocks(2 * n_q)
        qb = max(1, qb // 2)
        with torch.inference_mode():
            for q0 in range(0, n_q, qb):
                q1 = min(n_q, q0 + qb)
                m = q1 - q0
                chunk = Q.take(np.arange(q0, q1))
                QA = np.vstack(
                    [
                        self._augment(chunk, self._proj, tol[q0:q1], 1.0),
                        self._augment(chunk, self._proj, tol[q0:q1], -1.0),
                    ]
                )
                QA = torch.from_numpy(QA)
                excl_t = None if excl is None else torch.from_numpy(excl[q0:q1])
                best_lb = None
                counts = torch.zeros(m, dtype=torch.int64)
                over = torch.zeros(m, dtype=torch.bool)
                cand_r, cand_c, cand_ub = [], [], []
                for b0 in range(0, n_b, bb):
                    b1 = min(n_b, b0 + bb)
                    S = QA @ torch.from_numpy(self._aug[b0:b1]).T
                    upper, lower = S[:m], S[m:]
                    if excl_t is not None:
                        _mask_excluded(upper, excl_t, b0, b1)
                        _mask_excluded(lower, excl_t, b0, b1)
                    v = torch.topk(lower, min(k, b1 - b0), dim=1).values
                    best_lb = v if best_lb is None else torch.cat([best_lb, v], 1)
                    if best_lb.shape[1] > k:
                        best_lb = torch.topk(best_lb, k, dim=1).values
                    if best_lb.shape[1] < k:
                        tau = torch.full((m,), -math.inf)
                    else:
                        tau = best_lb.min(dim=1).values
                    nz = torch.nonzero(upper >= tau[:, None])
                    counts += torch.bincount(nz[:, 0], minlength=m)
                    over |= counts > budget
                    if bool(over.any()):
                        nz = nz[~over[nz[:, 0]]]
                    cand_r.append(nz[:, 0])
                    cand_c.append(nz[:, 1] + b0)
                    cand_ub.append(upper[nz[:, 0], nz[:, 1]])
                tau = best_lb.min(dim=1).values.numpy()
                rows = torch.cat(cand_r).numpy()
                cols = torch.cat(cand_c).numpy()
                keep = torch.cat(cand_ub).numpy() >= tau[rows]
                rows, cols = rows[keep], cols[keep]
                over = over.numpy() | (np.bincount(rows, minlength=m) < k)
                keep = ~over[rows]
                good = np.flatnonzero(~over)
                if good.size:
                    d, i = self._best_pairs(chunk, rows[keep], cols[keep], k, m)
                    dist[q0 + good], ind[q0 + good] = d[good], i[good]
                fallback[q0:q1] = over
        return dist, ind, fallback

    # ------------------------------------------------------------ pynndescent
    def _pynndescent(self, Q, k, excl):
        if self._nnd is None:
            self._build_nnd()
        extra = 0 if excl is None else 1
        kq = min(self.n_samples_, k + extra)
        with _numba_threads(self.n_jobs):
            ind, _ = self._nnd.query(self._nnd_data(Q), k=kq, epsilon=self.epsilon)
        ind = ind.astype(np.int64)
        if (ind < 0).any():  # pynndescent pads with -1 when it finds too few
            raise RuntimeError(
                "pynndescent returned fewer neighbours than requested; use "
                "algorithm='brute' for this bank."
            )
        if excl is not None:
            # drop the excluded vector where returned, else the last one
            drop = ind == excl[:, None]
            order = np.argsort(drop, axis=1, kind="stable")[:, :k]
            ind = np.take_along_axis(ind, order, 1)
        else:
            ind = ind[:, :k]
        rows = np.repeat(np.arange(len(Q)), k)
        d = self._refine(Q, rows, ind.reshape(-1)).reshape(ind.shape)
        order = _lexsort_rows(d, ind)
        return np.take_along_axis(d, order, 1), np.take_along_axis(ind, order, 1)

    def _build_nnd(self):
        from pynndescent import NNDescent

        params = {"n_neighbors": 30, "low_memory": True}
        params.update(self.pynndescent_params or {})
        params["n_neighbors"] = int(min(params["n_neighbors"], self.n_samples_ - 1))
        if params["n_neighbors"] < 2:
            raise ValueError(
                "pynndescent needs a bank of at least 3 vectors; use algorithm='brute'."
            )
        self._nnd = NNDescent(
            self._nnd_data(self._bank),
            metric=self.metric,
            random_state=self.random_state,
            n_jobs=_resolve_n_threads(self.n_jobs),
            **params,
        )
        self._nnd.prepare()

    def _nnd_data(self, rows):
        """Rows as pynndescent sees them: unit rows (cosine) or as given (euclidean).

        pynndescent's "cosine" is ``1 - cos`` as well.
        """
        return self._search_space(rows, 0, len(rows)) if self.metric == "cosine" else rows.raw


@contextmanager
def _numba_threads(n_jobs):
    n = _resolve_n_threads(n_jobs)
    if n is None:
        yield
        return
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _residual_norms(sq, proj, d):
    """``|x - P P'x|`` from ``|x|^2`` and ``P'x``, padded to stay an upper bound.

    The padding ``8 sqrt(d) eps |x|^2`` covers the float32 rounding of the
    projection, so the Cauchy-Schwarz bounds built on it remain valid.
    """
    proj64 = proj.astype(np.float64)
    proj_sq = np.einsum("ij,ij->i", proj64, proj64)
    slack = 8.0 * math.sqrt(d) * _EPS32 * sq
    return np.sqrt(np.maximum(sq - proj_sq, 0.0) + slack).astype(np.float32)


def _top_subspace(A, r, n_iter=2, seed=0):
    """Orthonormal basis (d x r, float32) of the dominant subspace of the rows of ``A``.

    Randomised range finder with power iterations; deterministic. Its
    accuracy only affects how much the bounds prune, not the exactness of
    the search.
    """
    torch = _torch()
    d = A.shape[1]
    with torch.inference_mode():
        A = torch.from_numpy(np.ascontiguousarray(A, dtype=np.float32))
        omega = np.random.RandomState(seed).standard_normal((d, r + 16)).astype(np.float32)
        Y = A @ torch.from_numpy(omega)
        for _ in range(n_iter):
            Y, _ = torch.linalg.qr(Y)
            Z, _ = torch.linalg.qr(A.T @ Y)
            Y = A @ Z
        Y, _ = torch.linalg.qr(Y)
        C = (Y.T @ A).double()  # (r + 16) x d; its top right singular vectors
        evals, evecs = torch.linalg.eigh(C @ C.T)
        top = evecs[:, -r:] / torch.sqrt(torch.clamp(evals[-r:], min=1e-300))
        basis, _ = torch.linalg.qr(C.T @ top)  # orthonormal in float64
    return np.ascontiguousarray(basis.numpy(), dtype=np.float32)


def _lexsort_rows(d, idx):
    """Per-row order by (distance, index)."""
    # argsort is stable with kind="stable": sort by index, then by distance.
    o1 = np.argsort(idx, axis=1, kind="stable")
    d1 = np.take_along_axis(d, o1, 1)
    o2 = np.argsort(d1, axis=1, kind="stable")
    return np.take_along_axis(o1, o2, 1)


def _mask_excluded(S, excl_t, b0, b1):
    """Set ``S[i, excl_t[i] - b0]`` to -inf where query ``i`` excludes a row of ``b0:b1``."""
    hit = (excl_t >= b0) & (excl_t < b1)
    if bool(hit.any()):
        r = hit.nonzero().reshape(-1)
        S[r, excl_t[r] - b0] = -math.inf


def _merge_top(torch, v, i, kc):
    """Keep the ``kc`` largest similarities per row, lower index first on ties."""
    o1 = torch.argsort(i, dim=1, stable=True)
    v1 = torch.gather(v, 1, o1)
    i1 = torch.gather(i, 1, o1)
    o2 = torch.argsort(v1, dim=1, descending=True, stable=True)[:, :kc]
    return torch.gather(v1, 1, o2), torch.gather(i1, 1, o2)
