"""Approximate k-NN: a faiss HNSW graph (hierarchical navigable small world).

`HNSWSearch` keeps the bank's search-space vectors (see `._space`) in a
faiss ``IndexHNSWFlat`` (inner product for cosine, L2 for euclidean). Each
vector is linked to about ``2 M`` neighbours on the bottom layer; a query
walks the graph greedily, keeping a list of ``ef_search`` candidates. Larger
``M``, ``ef_construction`` (list length while building) and ``ef_search``
raise recall at the cost of time.

Vectors are inserted into the graph as they are added (no rebuild), and the
graph pickles through ``faiss.serialize_index``. The neighbours found are
approximate; their distances are recomputed in float64 from the vectors as
given and sorted by (distance, bank index).
"""

# License: MIT

import numpy as np

from ._exact import deserialize, serialize
from ._space import drop_excluded, rank_candidates
from ._faiss import import_faiss

__all__ = ["HNSW_DEFAULTS", "HNSWSearch"]

#: Graph and search settings of `HNSWSearch` (see ``docs/neighbors.md``):
#: recall@5 0.993 on a 100,000 x 2,688 benchmark bank (0.976 at
#: ``ef_search=64``).
HNSW_DEFAULTS = {"M": 32, "ef_construction": 64, "ef_search": 128}


class HNSWSearch:
    """Approximate search over search-space vectors with a faiss HNSW graph.

    Parameters
    ----------
    metric : {"cosine", "euclidean"}
        Distance; selects inner product or L2 scores.
    dim : int
        Dimension of the vectors.
    M : int, default=32
        Graph degree parameter (links per vector per layer; twice that on
        the bottom layer).
    ef_construction : int, default=64
        Candidate list length while inserting vectors.
    ef_search : int, default=128
        Candidate list length while searching (at least ``k`` is used).
    seed : int or None, default=None
        Seed of the random layer assignment. The graph is reproducible
        only with one thread (insertion runs in parallel otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors._hnsw import HNSWSearch
    >>> from sklearn_echo.neighbors._space import make_rows
    >>> bank = make_rows(np.eye(3, dtype=np.float32), "cosine", None, "The bank")
    >>> search = HNSWSearch("cosine", 3, seed=0)
    >>> search.add(bank.search_vectors(None), bank.sq)
    >>> queries = make_rows(np.array([[1.0, 0.2, 0.0]], np.float32), "cosine", None, "q")
    >>> vectors = search.query_vectors(queries, None)
    >>> dist, ind = search.kneighbors(vectors, queries, bank, 2, None, 1024)
    >>> ind
    array([[0, 1]])
    """

    def __init__(self, metric, dim, M=32, ef_construction=64, ef_search=128, seed=None):
        faiss = import_faiss()
        self.metric = metric
        self.ef_search = int(ef_search)
        kind = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
        self.index = faiss.IndexHNSWFlat(dim, int(M), kind)
        self.index.hnsw.efConstruction = int(ef_construction)
        if seed is not None:
            self.index.hnsw.rng = faiss.RandomGenerator(int(seed))

    def __getstate__(self):
        return {"metric": self.metric, "ef_search": self.ef_search, "index": serialize(self.index)}

    def __setstate__(self, state):
        self.metric, self.ef_search = state["metric"], state["ef_search"]
        self.index = deserialize(state["index"])

    @property
    def n_samples(self):
        """Number of vectors in the graph."""
        return int(self.index.ntotal)

    def add(self, vectors, sq):
        """Insert search-space vectors (float32) into the graph."""
        self.index.add(vectors)

    def query_vectors(self, queries, shift):
        """The search-space vectors of `Rows` ``queries``."""
        return queries.search_vectors(shift)

    def kneighbors(self, vectors, queries, bank, k, excl, max_cells, distances=True):
        """Approximate k nearest bank vectors of a block of queries.

        Parameters and returns as `sklearn_echo.neighbors._exact.FlatSearch.kneighbors`,
        except that the distances always come back: they order the candidates
        (``distances`` and ``max_cells`` are unused: a query holds ``ef_search``
        candidates).
        """
        faiss = import_faiss()
        n = self.n_samples
        extra = 0 if excl is None else 1
        kq = min(n, k + extra)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, kq)
        _, cand = self.index.search(vectors, kq, params=params)
        cand = drop_excluded(cand.astype(np.int64, copy=False), k, excl)
        if (cand < 0).any():
            raise RuntimeError(
                f"The HNSW graph returned fewer than {k} neighbours for some queries; "
                "raise ef_search in hnsw_params or use algorithm='brute'."
            )
        return rank_candidates(self.metric, queries, bank, cand)
