"""One nearest-neighbour search layer shared by the k-NN estimators.

:class:`NeighborIndex` holds a memory bank of vectors and answers k-nearest
neighbour queries with

* ``algorithm="brute"``: exact search. Similarities are computed block by
  block with float32 matrix products (``torch.matmul``) and reduced with
  ``torch.topk``, so memory stays bounded (one ``query_block x bank_block``
  matrix at a time, never ``n_queries x n_bank``). The returned distances
  are then recomputed in float64 for the selected neighbours, and near ties
  (within the float32 rounding error) are re-ranked in float64, so the result
  is the exact float64 ranking.
* ``algorithm="pynndescent"``: approximate search with a NN-descent graph
  (:class:`pynndescent.NNDescent`). Distances of the returned neighbours are
  recomputed in float64 exactly as for brute force.
* ``algorithm="auto"``: brute force below :data:`AUTO_BRUTE_MAX_BANK` bank
  vectors, pynndescent above.

Distances
---------
``metric="cosine"``: ``1 - cos(q, b)`` in ``[0, 2]``. A zero vector has no
direction: as in :func:`sklearn.metrics.pairwise.cosine_distances`, its
distance to every vector (another zero vector included) is 1, and a
:class:`ZeroNormWarning` names the rows.
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
#: brute force. Above it, ``"auto"`` builds a pynndescent graph. Measured with
#: ``benchmarks/bench_knn.py`` (see ``docs/neighbors.md``): exact brute force
#: answers 10,000 queries against 100,000 x 2,688 vectors in about the time a
#: pynndescent graph takes to build, and pynndescent pays a one-off numba
#: compilation of 20-40 s per process, so approximate search only pays off
#: for banks well beyond what a memory bank of machine recordings holds.
AUTO_BRUTE_MAX_BANK = 200_000

_EPS32 = float(np.finfo(np.float32).eps)
# Candidates kept per query beyond k: near ties at the k-th position are
# re-ranked in float64 among them.
_EXTRA_CANDIDATES = 8
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


def _check_finite_2d(X, what):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, got shape {X.shape}.")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{what} must hold numbers, got dtype {X.dtype}.")
    X = np.ascontiguousarray(X, dtype=np.float32)
    finite = np.isfinite(X)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(
            f"{what} contains NaN or infinity (after conversion to float32) in "
            f"row(s) {_list_rows(bad)}; every value must be finite."
        )
    return X


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


class NeighborIndex:
    """Memory bank of vectors with exact or approximate k-NN queries.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"`` is ``1 - cos(q, b)``; a zero vector is at distance 1 from
        everything (with a :class:`ZeroNormWarning`).
    algorithm : {"auto", "brute", "pynndescent"}, default="auto"
        ``"brute"`` is exact; ``"pynndescent"`` approximate; ``"auto"`` picks
        brute force for banks of at most :data:`AUTO_BRUTE_MAX_BANK` vectors.
    n_jobs : int, default=None
        Threads for the search: torch threads for brute force, numba threads
        for pynndescent. ``None`` keeps the current torch setting (all
        physical cores unless ``torch.set_num_threads`` or
        ``OMP_NUM_THREADS`` says otherwise) and one pynndescent thread less
        than none, i.e. pynndescent's own default; ``-1`` means all cores.
    random_state : int or None, default=None
        Seed of the pynndescent graph construction.
    block_bytes : int, default=64 MiB
        Upper bound on the float32 similarity block computed at once by
        brute force.
    pynndescent_params : dict, default=None
        Extra keyword arguments for :class:`pynndescent.NNDescent`.
    epsilon : float, default=0.1
        Search breadth of pynndescent queries (larger = more accurate, slower).

    Attributes
    ----------
    n_samples_ : int
        Number of vectors in the bank.
    n_features_in_ : int
        Dimension of the vectors.
    algorithm_ : str
        The algorithm in use (``"brute"`` or ``"pynndescent"``).

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
        epsilon=0.1,
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

    def _prepare(self, X, what, offset=0):
        """float32 copy in the search space: unit rows (cosine) or shifted rows."""
        X = _check_finite_2d(X, what)
        if self.metric == "cosine":
            norms = np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
            zero = norms == 0.0
            if zero.any():
                warnings.warn(
                    f"{what} has zero-norm row(s) {_list_rows(np.flatnonzero(zero) + offset)}: "
                    "a zero vector has no direction, so its cosine distance to any "
                    "vector is taken as 1 (as in sklearn.metrics.pairwise."
                    "cosine_distances). Check these embeddings or use metric='euclidean'.",
                    ZeroNormWarning,
                )
                norms[zero] = 1.0
            out = (X / norms[:, None]).astype(np.float32, copy=False)
        else:
            out = X - self._shift
        return np.ascontiguousarray(out, dtype=np.float32)

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
        # Shift the euclidean bank to its mean: distances are translation
        # invariant and smaller norms mean smaller float32 rounding errors.
        self._shift = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        self._bank = self._prepare(X, "The bank")
        self._finish_bank()
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
        new = self._prepare(X, "The added vectors", offset=self.n_samples_)
        self._bank = np.concatenate([self._bank, new], axis=0)
        self._finish_bank()
        return self

    def _finish_bank(self):
        self.n_samples_ = self._bank.shape[0]
        if self.algorithm == "auto":
            self.algorithm_ = (
                "brute" if self.n_samples_ <= AUTO_BRUTE_MAX_BANK else "pynndescent"
            )
        else:
            self.algorithm_ = self.algorithm
        self._half_sq_norm = (
            0.5 * np.einsum("ij,ij->i", self._bank, self._bank, dtype=np.float64)
        ).astype(np.float32)
        self._bank_max_norm = float(np.sqrt(2.0 * self._half_sq_norm.max()))
        self._nnd = None  # pynndescent graph, built lazily

    def __getstate__(self):
        state = self.__dict__.copy()
        # The pynndescent graph holds compiled numba objects: rebuild it on
        # the first query after unpickling instead of storing it.
        state["_nnd"] = None
        return state

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
        if not hasattr(self, "_bank"):
            raise ValueError("This NeighborIndex has no bank yet: call fit first.")
        if X is None:
            Q = self._bank
            n_q = self.n_samples_
        else:
            X = np.asarray(X)
            if X.ndim != 2 or X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"Queries must have {self.n_features_in_} features like the "
                    f"bank, got shape {X.shape}."
                )
            Q = self._prepare(X, "The queries")
            n_q = Q.shape[0]
        excl = self._exclusions(n_q, exclude, exclude_self)
        if not isinstance(n_neighbors, Integral) or n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive int, got {n_neighbors!r}.")
        available = self.n_samples_ - (1 if excl is not None and (excl >= 0).any() else 0)
        if n_neighbors > available:
            raise ValueError(
                f"n_neighbors={n_neighbors} is larger than the {available} bank "
                f"vector(s) available to each query (bank size {self.n_samples_}"
                + (", one left out per query)." if available < self.n_samples_ else ").")
            )
        if n_q == 0:
            return np.empty((0, n_neighbors)), np.empty((0, n_neighbors), dtype=np.int64)
        if self.algorithm_ == "brute":
            return self._brute(Q, n_neighbors, excl)
        return self._pynndescent(Q, n_neighbors, excl)

    def bank_kneighbors(self, X, n_neighbors=1):
        """For every bank vector, its nearest rows of ``X`` (exact, brute force).

        This is the reverse of :meth:`kneighbors`: the bank vectors are the
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
        if not hasattr(self, "_bank"):
            raise ValueError("This NeighborIndex has no bank yet: call fit first.")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Candidates must have {self.n_features_in_} features like the "
                f"bank, got shape {X.shape}."
            )
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
        other._bank = other._prepare(X, "The candidates")
        other._finish_bank()
        return other._brute(self._bank, n_neighbors, None)

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

    # exact float64 distances between query rows and chosen bank rows
    def _refine(self, Q, rows, cols):
        """float64 distances between ``Q[rows]`` and ``bank[cols]`` (1-D pairs)."""
        out = np.empty(rows.shape[0], dtype=np.float64)
        step = max(1, (32 * 2**20) // (8 * self.n_features_in_))
        for s in range(0, rows.shape[0], step):
            q = Q[rows[s : s + step]].astype(np.float64)
            b = self._bank[cols[s : s + step]].astype(np.float64)
            if self.metric == "cosine":
                # renormalise in float64 so that equal directions give exactly 0
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
        d = self.n_features_in_
        factor = max(4.0 * math.sqrt(d), 16.0) * _EPS32
        if self.metric == "cosine":
            return np.full(Q.shape[0], factor)
        q_norm = np.sqrt(np.einsum("ij,ij->i", Q, Q, dtype=np.float64))
        b = self._bank_max_norm
        return factor * (q_norm * b + 0.5 * b * b) + 1e-30

    def _similarity_block(self, torch, Qt, b0, b1, excl_t, q0):
        """Similarities (larger = closer) of a query block to bank[b0:b1]."""
        Bt = torch.from_numpy(self._bank[b0:b1])
        S = Qt @ Bt.T
        if self.metric == "euclidean":
            S -= torch.from_numpy(self._half_sq_norm[b0:b1])
        if excl_t is not None:
            hit = (excl_t >= b0) & (excl_t < b1)
            if bool(hit.any()):
                r = torch.nonzero(hit).reshape(-1)
                S[r, excl_t[r] - b0] = -math.inf
        return S

    def _blocks(self, n_q):
        """Query and bank block sizes with ``4 * qb * bb <= block_bytes``."""
        qb = int(max(1, min(n_q, 1024, self.block_bytes // 4)))
        bb = int(max(1, min(self.n_samples_, self.block_bytes // (4 * qb))))
        return qb, bb

    def _brute(self, Q, k, excl):
        torch = _torch()
        n_q = Q.shape[0]
        n_b = self.n_samples_
        kc = min(n_b, k + _EXTRA_CANDIDATES)
        dist = np.empty((n_q, k), dtype=np.float64)
        ind = np.empty((n_q, k), dtype=np.int64)
        tol = self._tolerance(Q)
        qb, bb = self._blocks(n_q)
        with _torch_threads(self.n_jobs), torch.inference_mode():
            for q0 in range(0, n_q, qb):
                q1 = min(n_q, q0 + qb)
                Qt = torch.from_numpy(Q[q0:q1])
                excl_t = None if excl is None else torch.from_numpy(excl[q0:q1])
                best_v = best_i = None
                for b0 in range(0, n_b, bb):
                    b1 = min(n_b, b0 + bb)
                    S = self._similarity_block(torch, Qt, b0, b1, excl_t, q0)
                    v, i = torch.topk(S, min(kc, b1 - b0), dim=1)
                    i += b0
                    if best_v is None:
                        best_v, best_i = v, i
                    else:
                        best_v, best_i = _merge_top(
                            torch, torch.cat([best_v, v], 1), torch.cat([best_i, i], 1), kc
                        )
                cand_v = best_v.numpy().astype(np.float64)
                cand_i = best_i.numpy()
                d_blk, i_blk = self._rank_candidates(Q, q0, cand_v, cand_i, k, tol[q0:q1], excl)
                dist[q0:q1] = d_blk
                ind[q0:q1] = i_blk
        return dist, ind

    def _rank_candidates(self, Q, q0, cand_v, cand_i, k, tol, excl):
        """Exact float64 ranking of the candidates; rescan rows with wide ties."""
        m, kc = cand_i.shape
        valid = np.isfinite(cand_v)  # excluded rows show up as -inf
        rows = np.repeat(np.arange(m), kc)
        d = np.full(m * kc, np.inf)
        flat_ok = valid.reshape(-1)
        d[flat_ok] = self._refine(Q, rows[flat_ok] + q0, cand_i.reshape(-1)[flat_ok])
        d = d.reshape(m, kc)
        order = _lexsort_rows(d, cand_i)
        d_sorted = np.take_along_axis(d, order, 1)[:, :k]
        i_sorted = np.take_along_axis(cand_i, order, 1)[:, :k]
        # A row is ambiguous when the weakest candidate kept could be tied with
        # the k-th neighbour within the float32 error: vectors not kept as
        # candidates might then belong in the k nearest. Rescan those rows.
        if kc < self.n_samples_:
            v_sorted = -np.sort(-cand_v, axis=1)
            ambiguous = np.flatnonzero(v_sorted[:, kc - 1] >= v_sorted[:, k - 1] - 2 * tol)
            if ambiguous.size:
                d_amb, i_amb = self._rescan(
                    Q, q0 + ambiguous, v_sorted[ambiguous, k - 1] - 2 * tol[ambiguous], k, excl
                )
                d_sorted[ambiguous] = d_amb
                i_sorted[ambiguous] = i_amb
        return d_sorted, i_sorted

    def _rescan(self, Q, qrows, thresholds, k, excl):
        """Exact k-NN of a few queries: every bank vector above a threshold."""
        torch = _torch()
        n_b = self.n_samples_
        qb, bb = self._blocks(len(qrows))
        out_d = np.empty((len(qrows), k))
        out_i = np.empty((len(qrows), k), dtype=np.int64)
        for s in range(0, len(qrows), qb):
            sel = qrows[s : s + qb]
            Qt = torch.from_numpy(np.ascontiguousarray(Q[sel]))
            excl_t = None if excl is None else torch.from_numpy(excl[sel])
            thr = torch.from_numpy(thresholds[s : s + qb].astype(np.float32))[:, None]
            pr, pc = [], []
            for b0 in range(0, n_b, bb):
                b1 = min(n_b, b0 + bb)
                S = self._similarity_block(torch, Qt, b0, b1, excl_t, 0)
                nz = torch.nonzero(S >= thr)
                pr.append(nz[:, 0].numpy())
                pc.append(nz[:, 1].numpy() + b0)
            pr = np.concatenate(pr)
            pc = np.concatenate(pc)
            dist = self._refine(Q, sel[pr], pc)
            order = np.lexsort((pc, dist, pr))
            pr, pc, dist = pr[order], pc[order], dist[order]
            starts = np.searchsorted(pr, np.arange(len(sel)))
            take = starts[:, None] + np.arange(k)
            out_d[s : s + len(sel)] = dist[take]
            out_i[s : s + len(sel)] = pc[take]
        return out_d, out_i

    def _pynndescent(self, Q, k, excl):
        if self._nnd is None:
            self._build_nnd()
        extra = 0 if excl is None else 1
        kq = min(self.n_samples_, k + extra)
        with _numba_threads(self.n_jobs):
            ind, _ = self._nnd.query(Q, k=kq, epsilon=self.epsilon)
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
        rows = np.repeat(np.arange(Q.shape[0]), k)
        d = self._refine(Q, rows, ind.reshape(-1)).reshape(ind.shape)
        order = _lexsort_rows(d, ind)
        return np.take_along_axis(d, order, 1), np.take_along_axis(ind, order, 1)

    def _build_nnd(self):
        from pynndescent import NNDescent

        params = {"n_neighbors": 30, "low_memory": True}
        params.update(self.pynndescent_params or {})
        n_jobs = _resolve_n_threads(self.n_jobs)
        # Cosine on unit rows: pynndescent's "cosine" is 1 - cos as well.
        metric = "cosine" if self.metric == "cosine" else "euclidean"
        params["n_neighbors"] = int(min(params["n_neighbors"], self.n_samples_ - 1))
        if params["n_neighbors"] < 2:
            raise ValueError("pynndescent needs a bank of at least 3 vectors; use algorithm='brute'.")
        self._nnd = NNDescent(
            self._bank,
            metric=metric,
            random_state=self.random_state,
            n_jobs=n_jobs,
            **params,
        )
        self._nnd.prepare()


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


def _lexsort_rows(d, idx):
    """Per-row order by (distance, index)."""
    # argsort is stable with kind="stable": sort by index, then by distance.
    o1 = np.argsort(idx, axis=1, kind="stable")
    d1 = np.take_along_axis(d, o1, 1)
    o2 = np.argsort(d1, axis=1, kind="stable")
    return np.take_along_axis(o1, o2, 1)


def _merge_top(torch, v, i, kc):
    """Keep the ``kc`` largest similarities per row, lower index first on ties."""
    o1 = torch.argsort(i, dim=1, stable=True)
    v1 = torch.gather(v, 1, o1)
    i1 = torch.gather(i, 1, o1)
    o2 = torch.argsort(v1, dim=1, descending=True, stable=True)[:, :kc]
    return torch.gather(v1, 1, o2), torch.gather(i1, 1, o2)
