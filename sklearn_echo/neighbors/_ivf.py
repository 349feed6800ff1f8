"""Approximate k-NN: a faiss inverted-file index (IVF, k-means lists).

`IVFSearch` clusters the bank's search-space vectors (see `._space`) with
k-means into ``nlist`` lists (``sqrt(n)`` by default) and keeps every vector
in the list of its nearest centroid (faiss ``IndexIVFFlat``, inner product
for cosine, L2 for euclidean). A query scans the ``nprobe`` lists whose
centroids are nearest. Training takes one k-means run on a sample of the bank
(at most 64 vectors per list); vectors added later go to the list of their
nearest centroid without retraining. The neighbours found are approximate;
their distances are recomputed in float64 from the vectors as given and
sorted by (distance, bank index).
"""

# License: MIT

import math

import numpy as np

from ._exact import deserialize, serialize
from ._space import drop_excluded, rank_candidates
from ._faiss import import_faiss

__all__ = ["IVF_DEFAULTS", "IVFSearch"]

#: Settings of `IVFSearch` (see ``docs/neighbors.md``): ``nlist=None`` is
#: ``sqrt(n)`` lists for a bank of ``n`` vectors; recall@5 0.979 with 32
#: probes on a 1,000,000 x 384 benchmark bank.
IVF_DEFAULTS = {"nlist": None, "nprobe": 32}

# Training vectors per list (faiss warns below 39).
_TRAIN_PER_LIST = 64


def default_nlist(n):
    """``sqrt(n)`` lists, fewer when the bank cannot train them (39 per list)."""
    return int(max(1, min(round(math.sqrt(n)), n // 39)))


class IVFSearch:
    """Approximate search with a faiss inverted-file index.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}
        Distance; selects inner product or L2 scores.
    dim : int
        Dimension of the vectors.
    nlist : int or None, default=None
        Number of lists (k-means centroids); None: `default_nlist` of the
        bank at training time.
    nprobe : int, default=32
        Lists scanned per query.
    seed : int or None, default=None
        Seed of the training sample and of k-means.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._ivf import IVFSearch
    >>> from sklearn_echo.neighbors._space import make_rows
    >>> bank = make_rows(np.eye(3, dtype=np.float32), "cosine", None, "The bank")
    >>> search = IVFSearch("cosine", 3, seed=0)
    >>> search.add(bank.search_vectors(None), bank.sq)
    >>> queries = make_rows(np.array([[1.0, 0.2, 0.0]], np.float32), "cosine", None, "q")
    >>> vectors = search.query_vectors(queries, None)
    >>> dist, ind = search.kneighbors(vectors, queries, bank, 2, None, 1024)
    >>> ind
    array([[0, 1]])
    """

    def __init__(self, metric, dim, nlist=None, nprobe=32, seed=None):
        self.metric = metric
        self.dim = int(dim)
        self.nlist = nlist
        self.nprobe = int(nprobe)
        self.seed = seed
        self.index = None  # trained on the first vectors added

    def __getstate__(self):
        state = self.__dict__.copy()
        state["index"] = None if self.index is None else serialize(self.index)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.index is not None:
            self.index = deserialize(self.index)

    @property
    def n_samples(self):
        """Number of vectors in the lists."""
        return 0 if self.index is None else int(self.index.ntotal)

    def add(self, vectors, sq):
        """Add search-space vectors (the first call trains on them if `train` was not called)."""
        if self.index is None:
            self.train(vectors, vectors.shape[0])
        self.index.add(vectors)

    def training_rows(self, n):
        """Rows of a bank of ``n`` vectors to train on (a seeded sample, sorted)."""
        nlist = self._nlist(n)
        m = min(n, _TRAIN_PER_LIST * nlist)
        if m == n:
            return np.arange(n)
        return np.sort(np.random.RandomState(self.seed).choice(n, m, replace=False))

    def _nlist(self, n):
        return default_nlist(n) if self.nlist is None else int(max(1, min(self.nlist, n)))

    def train(self, sample, n):
        """k-means lists from ``sample`` (search-space rows of a bank of ``n``)."""
        faiss = import_faiss()
        nlist = self._nlist(n)
        kind = faiss.METRIC_INNER_PRODUCT if self.metric == "cosine" else faiss.METRIC_L2
        quantizer = faiss.IndexFlat(self.dim, kind)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, kind)
        index.own_fields = True  # the index keeps its quantizer alive
        quantizer.this.disown()
        index.cp.seed = 1234 if self.seed is None else int(self.seed)
        index.cp.max_points_per_centroid = _TRAIN_PER_LIST
        index.cp.min_points_per_centroid = 1
        if sample.shape[0] > _TRAIN_PER_LIST * nlist:
            sample = sample[self.training_rows(sample.shape[0])]
        index.train(np.ascontiguousarray(sample))
        self.index = index

    def query_vectors(self, queries, shift):
        """The search-space vectors of `Rows` ``queries``."""
        return queries.search_vectors(shift)

    def kneighbors(self, vectors, queries, bank, k, excl, max_cells, distances=True):
        """Approximate k nearest bank vectors of a block of queries.

        Parameters and returns as `sklearn_echo.neighbors._exact.FlatSearch.kneighbors`,
        except that the distances always come back: they order the candidates
        (``distances`` and ``max_cells`` are unused).
        """
        faiss = import_faiss()
        n = self.n_samples
        extra = 0 if excl is None else 1
        kq = min(n, k + extra)
        nlist = int(self.index.nlist)
        params = faiss.SearchParametersIVF()
        params.nprobe = min(self.nprobe, nlist)
        _, cand = self.index.search(vectors, kq, params=params)
        cand = cand.astype(np.int64, copy=False)
        short = np.flatnonzero((cand < 0).sum(axis=1) > 0)
        if short.size:  # too few vectors in the probed lists: probe them all
            params.nprobe = nlist
            cand[short] = self.index.search(vectors[short], kq, params=params)[1]
        return rank_candidates(self.metric, queries, bank, drop_excluded(cand, k, excl))
