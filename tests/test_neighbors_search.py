"""The neighbour-search layer shared by the k-NN estimators."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

import sklearn_echo.neighbors._index as search
from sklearn_echo.neighbors import NeighborIndex, ZeroNormWarning


def _clustered(n, dim, n_clusters=8, rank=6, noise=0.3, seed=0):
    """Gaussian mixture in a low-dimensional subspace plus isotropic noise."""
    rng = np.random.RandomState(seed)
    basis = rng.normal(size=(rank, dim))
    centers = rng.normal(scale=4.0, size=(n_clusters, rank))
    labels = rng.randint(n_clusters, size=n)
    latent = centers[labels] + rng.normal(size=(n, rank))
    return (latent @ basis + noise * rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture(scope="module")
def bank_and_queries():
    X = _clustered(700, 24, seed=1)
    return X[:500], X[500:]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("block_bytes", [64 * 2**20, 4 * 37 * 11])
def test_brute_equals_sklearn_nearest_neighbors(bank_and_queries, metric, block_bytes):
    bank, queries = bank_and_queries
    index = NeighborIndex(metric=metric, algorithm="brute", block_bytes=block_bytes).fit(bank)
    ref = NearestNeighbors(n_neighbors=7, algorithm="brute", metric=metric).fit(
        bank.astype(np.float64)
    )
    dist, ind = index.kneighbors(queries, 7)
    ref_dist, ref_ind = ref.kneighbors(queries.astype(np.float64))
    np.testing.assert_array_equal(ind, ref_ind)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5, atol=1e-6)
    assert dist.dtype == np.float64 and ind.dtype == np.int64

    # leave-self-out on the bank = sklearn's kneighbors(X=None)
    dist, ind = index.kneighbors(None, 5, exclude_self=True)
    ref_dist, ref_ind = ref.kneighbors(None, 5)
    np.testing.assert_array_equal(ind, ref_ind)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5, atol=1e-6)


def test_block_sizes_bound_memory():
    index = NeighborIndex(algorithm="brute", block_bytes=2**20).fit(np.ones((100_000, 2)))
    qb, bb = index._blocks(10_000)
    assert 4 * qb * bb <= 2**20
    assert qb < 10_000 and bb < 100_000


def test_ties_go_to_the_lower_bank_index():
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    cos = NeighborIndex(metric="cosine", algorithm="brute").fit(bank)
    dist, ind = cos.kneighbors([[3.0, 0.0]], 4)
    np.testing.assert_array_equal(ind, [[0, 2, 3, 4]])
    np.testing.assert_array_equal(dist, [[0.0, 0.0, 0.0, 0.0]])
    euc = NeighborIndex(metric="euclidean", algorithm="brute").fit(bank)
    dist, ind = euc.kneighbors([[1.0, 0.0]], 4)
    np.testing.assert_array_equal(ind, [[0, 2, 4, 3]])
    np.testing.assert_array_equal(dist, [[0.0, 0.0, 0.0, 1.0]])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_wide_ties_across_blocks_are_resolved_exactly(metric):
    # 300 identical rows: every candidate ties; tiny blocks force the rescan
    bank = np.vstack([np.full((300, 4), 2.0), np.full((1, 4), 9.0) * [1, -1, 1, -1]])
    index = NeighborIndex(metric=metric, algorithm="brute", block_bytes=4 * 3 * 17).fit(bank)
    dist, ind = index.kneighbors(np.full((3, 4), 2.0), 5)
    np.testing.assert_array_equal(ind, np.tile(np.arange(5), (3, 1)))
    np.testing.assert_allclose(dist, 0.0, atol=1e-12)
    dist, ind = index.kneighbors(None, 3, exclude_self=True)
    np.testing.assert_array_equal(ind[:4], [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])
    assert ind[300].tolist() == [0, 1, 2]


def test_results_are_deterministic_and_independent_of_n_jobs(bank_and_queries):
    bank, queries = bank_and_queries
    threads = torch.get_num_threads()
    a = NeighborIndex(algorithm="brute", n_jobs=1).fit(bank).kneighbors(queries, 4)
    b = NeighborIndex(algorithm="brute", n_jobs=-1).fit(bank).kneighbors(queries, 4)
    c = NeighborIndex(algorithm="brute").fit(bank).kneighbors(queries, 4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a, c):
        np.testing.assert_array_equal(x, y)
    assert torch.get_num_threads() == threads


def test_blocks_on_threads_equal_one_thread_with_left_out_rows(bank_and_queries):
    bank, queries = bank_and_queries
    for metric in ["cosine", "euclidean"]:
        one = NeighborIndex(metric=metric, algorithm="brute", n_jobs=1).fit(bank)
        two = NeighborIndex(metric=metric, algorithm="brute", n_jobs=2).fit(bank)
        for x, y in zip(one.kneighbors(None, 4, exclude_self=True),
                        two.kneighbors(None, 4, exclude_self=True)):
            np.testing.assert_array_equal(x, y)
        for x, y in zip(one.bank_kneighbors(queries, 3), two.bank_kneighbors(queries, 3)):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("algorithm", ["hnsw", "ivf"])
def test_approximate_blocks_on_threads_equal_one_thread(bank_and_queries, algorithm):
    bank, queries = bank_and_queries
    index = NeighborIndex(algorithm=algorithm, random_state=0, n_jobs=1).fit(bank)
    one = index.kneighbors(queries, 4)
    index.n_jobs = 2  # the same graph or lists, searched in two blocks side by side
    for x, y in zip(one, index.kneighbors(queries, 4)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("factor", [1e-3, 1e3])
def test_cosine_queries_are_searched_as_given_whatever_their_norm(bank_and_queries, factor):
    # the scores of raw queries are divided by the query norms: a scaled query
    # finds the same neighbours at the same distances
    bank, queries = bank_and_queries
    index = NeighborIndex(algorithm="brute").fit(bank)
    d1, i1 = index.kneighbors(queries, 5)
    d2, i2 = index.kneighbors(queries * np.float32(factor), 5)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(d1, d2, rtol=1e-5, atol=1e-7)
    ref_dist, ref_ind = (
        NearestNeighbors(n_neighbors=5, algorithm="brute", metric="cosine")
        .fit(bank.astype(np.float64)).kneighbors((queries * np.float32(factor)).astype(np.float64))
    )
    np.testing.assert_array_equal(i2, ref_ind)
    np.testing.assert_allclose(d2, ref_dist, rtol=1e-5, atol=1e-6)
    # exact ties among more bank rows than candidates: found by the rescan
    ties = np.vstack([np.full((30, 4), 2.0), np.eye(4)])
    dist, ind = NeighborIndex(algorithm="brute").fit(ties).kneighbors(np.full((3, 4), factor), 5)
    np.testing.assert_array_equal(ind, np.tile(np.arange(5), (3, 1)))
    np.testing.assert_allclose(dist, 0.0, atol=1e-12)


def test_add_equals_fit_on_the_concatenation(bank_and_queries):
    bank, queries = bank_and_queries
    for metric in ["cosine", "euclidean"]:
        grown = NeighborIndex(metric=metric, algorithm="brute").fit(bank[:200]).add(bank[200:])
        full = NeighborIndex(metric=metric, algorithm="brute").fit(bank)
        d1, i1 = grown.kneighbors(queries, 6)
        d2, i2 = full.kneighbors(queries, 6)
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(d1, d2, rtol=1e-6, atol=1e-7)
        assert grown.n_samples_ == 500


def test_bank_kneighbors_is_the_reverse_query(bank_and_queries):
    bank, queries = bank_and_queries
    index = NeighborIndex(metric="euclidean", algorithm="brute").fit(bank)
    dist, ind = index.bank_kneighbors(queries, 3)
    ref_dist, ref_ind = (
        NearestNeighbors(n_neighbors=3, algorithm="brute").fit(queries).kneighbors(bank)
    )
    np.testing.assert_array_equal(ind, ref_ind)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5)


def test_exclude_leaves_out_one_bank_row_per_query(bank_and_queries):
    bank, _ = bank_and_queries
    index = NeighborIndex(algorithm="brute").fit(bank)
    excl = np.array([0, -1, 7])
    dist, ind = index.kneighbors(bank[[0, 1, 7]], 2, exclude=excl)
    assert 0 not in ind[0] and 7 not in ind[2]
    assert ind[1, 0] == 1 and dist[1, 0] == 0.0


def test_zero_norm_rows_warn_and_sit_at_distance_one():
    bank = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    with pytest.warns(ZeroNormWarning, match=r"zero-norm row\(s\) 1"):
        index = NeighborIndex(metric="cosine", algorithm="brute").fit(bank)
    with pytest.warns(ZeroNormWarning, match=r"The queries has zero-norm row\(s\) 0"):
        dist, ind = index.kneighbors([[0.0, 0.0]], 3)
    np.testing.assert_allclose(dist, [[1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(ind, [[0, 1, 2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # euclidean has no such issue
        NeighborIndex(metric="euclidean", algorithm="brute").fit(bank).kneighbors([[0.0, 0.0]], 1)


def test_bad_input_errors():
    index = NeighborIndex(algorithm="brute").fit(np.eye(3))
    with pytest.raises(ValueError, match=r"NaN or infinity .* row\(s\) 1"):
        NeighborIndex().fit([[1.0, 2.0], [np.nan, 1.0]])
    with pytest.raises(ValueError, match=r"row\(s\) 0"):
        index.kneighbors([[np.inf, 1.0, 0.0]], 1)
    with pytest.raises(ValueError, match="float32"):  # overflows float32
        NeighborIndex().fit([[1e39, 1.0]])
    with pytest.raises(ValueError, match="must have 3 features"):
        index.kneighbors(np.ones((2, 4)), 1)
    with pytest.raises(ValueError, match="bank is empty"):
        NeighborIndex().fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match=r"n_neighbors=4 is larger than the 3 bank"):
        index.kneighbors(np.ones((1, 3)), 4)
    with pytest.raises(ValueError, match=r"larger than the 2 bank vector\(s\) available"):
        index.kneighbors(None, 3, exclude_self=True)
    with pytest.raises(ValueError, match="metric must be one of"):
        NeighborIndex(metric="manhattan").fit(np.eye(2))
    with pytest.raises(ValueError, match="algorithm must be one of"):
        NeighborIndex(algorithm="kd_tree").fit(np.eye(2))
    with pytest.raises(ValueError, match="Vectors added to the bank must have 3"):
        index.add(np.ones((1, 2)))


def test_auto_rule_uses_the_bank_size(monkeypatch):
    X = np.random.RandomState(0).normal(size=(50, 3))
    assert NeighborIndex(algorithm="auto").fit(X).algorithm_ == "brute"
    monkeypatch.setattr(search, "AUTO_BRUTE_MAX_BANK", 49)
    # the IVF index is built lazily, at the first query
    assert NeighborIndex(algorithm="auto").fit(X).algorithm_ == "ivf"
    assert NeighborIndex(algorithm="brute").fit(X).algorithm_ == "brute"


def test_pickle_round_trip(bank_and_queries):
    bank, queries = bank_and_queries
    index = NeighborIndex(metric="euclidean", algorithm="brute").fit(bank)
    clone = pickle.loads(pickle.dumps(index))
    for x, y in zip(index.kneighbors(queries, 3), clone.kneighbors(queries, 3)):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module", params=["hnsw", "ivf"])
def approximate_index(request):
    X = _clustered(3000, 32, n_clusters=12, seed=3)
    index = NeighborIndex(
        metric="cosine", algorithm=request.param, random_state=0, n_jobs=1
    ).fit(X[:2600])
    index.kneighbors(X[:1], 1)  # build the graph once for the module
    return index, X[:2600], X[2600:]


def test_approximate_agrees_with_brute(approximate_index):
    index, bank, queries = approximate_index
    exact = NeighborIndex(metric="cosine", algorithm="brute").fit(bank)
    d_apx, i_apx = index.kneighbors(queries, 5)
    _d_ex, i_ex = exact.kneighbors(queries, 5)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(i_apx, i_ex)])
    assert recall >= 0.95, recall
    # distances are exact for the neighbours it returns, sorted
    rows = np.repeat(np.arange(len(queries)), 5)
    ref = 1 - np.einsum(
        "ij,ij->i",
        queries[rows] / np.linalg.norm(queries[rows], axis=1, keepdims=True),
        bank[i_apx.ravel()] / np.linalg.norm(bank[i_apx.ravel()], axis=1, keepdims=True),
    )
    np.testing.assert_allclose(d_apx.ravel(), ref, atol=1e-6)
    assert (np.diff(d_apx, axis=1) >= 0).all()
    # leave-self-out on the bank
    _d_self, i_self = index.kneighbors(None, 3, exclude_self=True)
    assert not (i_self == np.arange(len(bank))[:, None]).any()
    exact_self = exact.kneighbors(None, 3, exclude_self=True)[1]
    assert np.mean(i_self == exact_self) >= 0.95


def test_approximate_pickles_and_grows(approximate_index):
    index, bank, queries = approximate_index
    clone = pickle.loads(pickle.dumps(index))  # graph rebuilt at the next query
    assert clone._backend is None
    i1 = index.kneighbors(queries[:50], 3)[1]
    i2 = clone.kneighbors(queries[:50], 3)[1]
    assert np.mean(i1 == i2) >= 0.95
    clone.add(queries[:10])
    _, ind = clone.kneighbors(queries[:10], 1)
    np.testing.assert_array_equal(ind[:, 0], len(bank) + np.arange(10))


def test_thread_team_raises_the_first_error_once_every_call_has_ended():
    import threading
    import time

    from sklearn_echo.neighbors._threads import thread_team

    done, main = [], threading.get_ident()

    def work(item):
        assert threading.get_ident() != main
        if item == 0:
            raise ValueError("block 0 failed")
        time.sleep(0.05)
        done.append(item)

    with thread_team(2) as team:
        with pytest.raises(ValueError, match="block 0 failed"):
            team.run(work, range(5))
        assert sorted(done) == [1, 2, 3, 4]  # none still running when run raised
        team.run(done.append, [5])  # the team goes on after a failed call
    assert done[-1] == 5
    with pytest.raises(RuntimeError, match="stopped"):
        team.run(done.append, [6])
    with thread_team(1) as team:
        assert team is None  # one thread: the caller searches


def test_n_jobs_is_sklearn_n_jobs_and_faiss_threads_are_restored(bank_and_queries, monkeypatch):
    import threading

    import faiss
    from joblib import parallel_config
    from threadpoolctl import threadpool_info

    from sklearn_echo.device import effective_n_jobs
    from sklearn_echo.neighbors._exact import FlatSearch

    def blas_threads():  # numpy's BLAS (faiss's follows faiss's OpenMP setting per thread)
        return {p["num_threads"] for p in threadpool_info() if "numpy" in p["filepath"]}

    bank, queries = bank_and_queries
    seen = []
    original = FlatSearch.kneighbors

    def spy(self, vectors, *args):
        seen.append((faiss.omp_get_max_threads(), blas_threads(), threading.get_ident(), len(vectors)))
        return original(self, vectors, *args)

    monkeypatch.setattr(FlatSearch, "kneighbors", spy)
    before, blas_before = faiss.omp_get_max_threads(), blas_threads()
    main = threading.get_ident()
    index = NeighborIndex(algorithm="brute").fit(bank)
    index.kneighbors(queries, 2)  # None: one thread, one block
    assert seen == [(1, {1}, main, 200)]
    seen.clear()
    with parallel_config(n_jobs=2):  # None inside a joblib context: its n_jobs
        index.kneighbors(queries[:10], 2)  # few queries: one block on two threads
        assert seen == [(2, {2}, main, 10)]
        seen.clear()
        index.kneighbors(queries, 2)  # a block per thread, each searched on one thread
    assert sorted(s[3] for s in seen) == [100, 100]
    assert [s[:2] for s in seen] == [(1, {1}), (1, {1})]
    assert main not in {s[2] for s in seen}  # on the pool's threads
    seen.clear()
    NeighborIndex(algorithm="brute", n_jobs=-1).fit(bank).kneighbors(queries[:10], 2)
    assert seen[0][0] == effective_n_jobs(-1)
    assert faiss.omp_get_max_threads() == before
    assert blas_threads() == blas_before


@pytest.mark.parametrize("algorithm", ["brute", "hnsw", "ivf"])
def test_pickle_with_the_serialized_faiss_index(bank_and_queries, algorithm):
    bank, queries = bank_and_queries
    index = NeighborIndex(algorithm=algorithm, serialize_index=True, random_state=0, n_jobs=1)
    index.fit(bank).kneighbors(queries[:1], 1)  # builds the faiss index
    clone = pickle.loads(pickle.dumps(index))
    assert clone._backend is not None and clone._backend.n_samples == len(bank)
    for x, y in zip(index.kneighbors(queries, 4), clone.kneighbors(queries, 4)):
        np.testing.assert_array_equal(x, y)
    plain = NeighborIndex(algorithm=algorithm).fit(bank)
    plain.kneighbors(queries[:1], 1)
    assert pickle.loads(pickle.dumps(plain))._backend is None


@pytest.mark.parametrize("algorithm", ["hnsw", "ivf"])
def test_approximate_add_inserts_without_rebuild(bank_and_queries, algorithm):
    bank, queries = bank_and_queries
    index = NeighborIndex(algorithm=algorithm, random_state=0, n_jobs=1).fit(bank)
    index.kneighbors(queries[:1], 1)
    graph = index._backend
    index.add(queries)
    assert index._backend is graph and graph.n_samples == len(bank) + len(queries)
    _, ind = index.kneighbors(queries, 1)
    np.testing.assert_array_equal(ind[:, 0], len(bank) + np.arange(len(queries)))


def test_approximate_params_are_checked():
    with pytest.raises(ValueError, match=r"hnsw_params has unknown key\(s\) \['efSearch'\]"):
        NeighborIndex(algorithm="hnsw", hnsw_params={"efSearch": 10}).fit(np.eye(3))
    with pytest.raises(ValueError, match=r"ivf_params has unknown key\(s\) \['probes'\]"):
        NeighborIndex(algorithm="ivf", ivf_params={"probes": 10}).fit(np.eye(3))


def test_ivf_probes_every_list_when_the_probed_ones_are_short():
    X = _clustered(400, 8, n_clusters=4, seed=7)
    index = NeighborIndex(algorithm="ivf", ivf_params={"nlist": 10, "nprobe": 1}, random_state=0)
    exact = NeighborIndex(algorithm="brute").fit(X)
    # k = 200 is more than one list holds: the short rows probe every list
    _, ind = index.fit(X).kneighbors(X[:5], 200)
    assert (ind >= 0).all()
    np.testing.assert_array_equal(np.sort(ind[:, :1], axis=1), exact.kneighbors(X[:5], 1)[1])


def test_near_tie_rescans_run_on_one_blas_thread_then_restore(monkeypatch):
    from threadpoolctl import threadpool_info

    from sklearn_echo.neighbors._exact import FlatSearch

    def blas_threads():
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    seen = []
    original = FlatSearch._rescan_products

    def spy(self, *args):
        seen.append(blas_threads())
        return original(self, *args)

    monkeypatch.setattr(FlatSearch, "_rescan_products", spy)
    # 40 identical rows: the candidates all tie, so every query is rescanned
    bank = np.vstack([np.ones((40, 3)), np.eye(3)])
    index = NeighborIndex(algorithm="brute", n_jobs=2).fit(bank)
    _dist, ind = index.kneighbors(np.ones((2, 3)), 3)
    np.testing.assert_array_equal(ind, [[0, 1, 2], [0, 1, 2]])
    assert seen == [{1}]
    with search.faiss_threads(2):
        assert blas_threads() == {2}


def test_flat_storage_reserved_once_holds_the_blocks_in_order():
    from sklearn_echo.neighbors._exact import FlatSearch

    rng = np.random.default_rng(0)
    blocks = [rng.standard_normal((n, 6)).astype(np.float32) for n in (5, 3, 4)]
    search = FlatSearch("euclidean", 6)
    search.reserve(12)
    assert search.n_samples == 0
    for b in blocks:
        search.add(b, np.einsum("ij,ij->i", b, b))
    np.testing.assert_array_equal(search._bank_vectors(), np.vstack(blocks))
    assert search.max_sq == max(float(np.einsum("ij,ij->i", b, b).max()) for b in blocks)


def _spy_stages(monkeypatch):
    from sklearn_echo.neighbors._exact import FlatSearch

    calls = []
    original = FlatSearch._search

    def spy(self, vectors, queries, *args, **kwargs):
        out = original(self, vectors, queries, *args, **kwargs)
        calls.append((len(queries), args[-1], out[2]))
        return out

    monkeypatch.setattr(FlatSearch, "_search", spy)
    return calls


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_pilot_then_k_plus_one_candidates_equals_sklearn(metric, monkeypatch):
    # a third of the bank's second half nearly repeats rows of its first (float32
    # near ties, distinct in float64): some queries have near ties just past
    # k + 1 and are searched again with k + 8
    X = _clustered(1500, 24, seed=3)
    bank, queries = X[:900].copy(), X[900:]
    noise = np.random.default_rng(1).standard_normal((150, 24)).astype(np.float32)
    bank[450:900:3] = bank[:150] + 1e-5 * np.abs(bank[:150]).mean() * noise
    calls = _spy_stages(monkeypatch)
    index = NeighborIndex(metric=metric, algorithm="brute").fit(bank)
    ref = NearestNeighbors(n_neighbors=5, algorithm="brute", metric=metric).fit(bank.astype(np.float64))
    for query, kwargs, ref_query in ((queries, {}, queries.astype(np.float64)),
                                     (None, {"exclude_self": True}, None)):
        calls.clear()
        dist, ind = index.kneighbors(query, 5, **kwargs)
        ref_dist, ref_ind = ref.kneighbors(ref_query)
        np.testing.assert_array_equal(ind, ref_ind)
        np.testing.assert_allclose(dist, ref_dist, rtol=1e-5, atol=1e-6)
        stages = [c[1] for c in calls]
        k1 = 5 + 1 + (1 if kwargs else 0)
        assert stages[0] == (k1 + 7,)  # the pilot: k + 8 candidates
        assert (k1, k1 + 7) in stages  # the other queries with k + 1 first
        # and those left open searched again with k + 8
        assert any(s == (k1 + 7,) and n < 600 for n, s, _ in calls[1:])


def test_banks_of_near_duplicates_skip_the_k_plus_one_search(monkeypatch):
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((60, 16)).astype(np.float32)
    bank = np.repeat(rows, 10, axis=0)  # every row ten times: ties everywhere
    queries = rows[rng.integers(0, 60, 400)] + 1e-3 * rng.standard_normal((400, 16)).astype(np.float32)
    calls = _spy_stages(monkeypatch)
    _dist, ind = NeighborIndex(algorithm="brute").fit(bank).kneighbors(queries, 5)
    np.testing.assert_array_equal(ind, _index_order_reference(bank, queries, "cosine", 5))
    assert calls[0][2] == 64  # every pilot query would have been left open
    assert all(stages == (13,) for _, stages, _ in calls)


def test_flat_searches_use_blas_from_few_queries_then_restore():
    import faiss

    from sklearn_echo.neighbors._threads import BLAS_MIN_QUERIES, blas_from_few_queries

    before = faiss.cvar.distance_compute_blas_threshold
    with blas_from_few_queries(384):
        assert faiss.cvar.distance_compute_blas_threshold == BLAS_MIN_QUERIES * 384
        with blas_from_few_queries(24):  # nested (or another thread): unchanged
            assert faiss.cvar.distance_compute_blas_threshold == BLAS_MIN_QUERIES * 384
        assert faiss.cvar.distance_compute_blas_threshold == BLAS_MIN_QUERIES * 384
    assert faiss.cvar.distance_compute_blas_threshold == before
    with pytest.raises(RuntimeError), blas_from_few_queries(8):
        raise RuntimeError
    assert faiss.cvar.distance_compute_blas_threshold == before


def test_searches_run_inside_the_blas_threshold_scope(bank_and_queries, monkeypatch):
    import faiss

    from sklearn_echo.neighbors._exact import FlatSearch
    from sklearn_echo.neighbors._threads import BLAS_MIN_QUERIES

    bank, queries = bank_and_queries
    seen = []
    original = FlatSearch.scores

    def spy(self, *args, **kwargs):
        seen.append(faiss.cvar.distance_compute_blas_threshold)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FlatSearch, "scores", spy)
    before = faiss.cvar.distance_compute_blas_threshold
    index = NeighborIndex(algorithm="brute", n_jobs=2).fit(bank)
    index.kneighbors(queries, 3)
    index.bank_kneighbors(queries, 3)
    assert seen and set(seen) == {BLAS_MIN_QUERIES * bank.shape[1]}
    assert faiss.cvar.distance_compute_blas_threshold == before


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_duplicate_bank_rows_tie_in_index_order(metric):
    # exact duplicates are at exactly equal float64 distances, wherever they
    # sit among a query's candidates (batched BLAS products rounded them by
    # position); scikit-learn leaves such ties in any order, so the reference
    # here sorts float64 distances of each pair computed alike
    X = _clustered(1500, 24, seed=3)
    bank, queries = X[:900].copy(), X[900:]
    bank[450:900:3] = bank[:150]
    index = NeighborIndex(metric=metric, algorithm="brute").fit(bank)
    np.testing.assert_array_equal(
        index.kneighbors(queries, 5)[1], _index_order_reference(bank, queries, metric, 5)
    )
    np.testing.assert_array_equal(
        index.kneighbors(None, 5, exclude_self=True)[1],
        _index_order_reference(bank, bank, metric, 5, leave_self_out=True),
    )


def _tricky_banks():
    """Banks and queries where float32 scores tie or nearly tie."""
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((60, 16)).astype(np.float32)
    near = rows[rng.integers(0, 60, 300)] + 1e-3 * rng.standard_normal((300, 16)).astype(np.float32)
    grid = rng.integers(-3, 4, (400, 12)).astype(np.float32)  # many exactly equal distances
    zeros = rng.standard_normal((300, 8)).astype(np.float32)
    zeros[::7] = 0.0
    X = _clustered(1500, 24, seed=3)
    halves = X[:900].copy()
    halves[450:900:3] = halves[:150]
    return {
        "repeated rows": (np.repeat(rows, 10, axis=0), near),
        "integer grid": (grid, grid[:200] + 0.0),
        "zero rows": (zeros, np.vstack([zeros[:40], np.zeros((3, 8), np.float32)])),
        "duplicated half": (halves, X[900:]),
    }


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_indices_without_distances_are_the_ranked_neighbours(metric, n_jobs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZeroNormWarning)
        for name, (bank, queries) in _tricky_banks().items():
            index = NeighborIndex(metric=metric, algorithm="brute", n_jobs=n_jobs).fit(bank)
            for k in (1, 5):
                ind = index.kneighbors(queries, k, return_distance=False)
                assert ind.dtype == np.int64
                np.testing.assert_array_equal(ind, index.kneighbors(queries, k)[1], err_msg=name)
                np.testing.assert_array_equal(
                    ind, _index_order_reference(bank, queries, metric, k), err_msg=name
                )
                np.testing.assert_array_equal(
                    index.kneighbors(None, k, exclude_self=True, return_distance=False),
                    _index_order_reference(bank, bank, metric, k, leave_self_out=True),
                    err_msg=name,
                )


def test_indices_without_distances_equal_sklearn(bank_and_queries):
    bank, queries = bank_and_queries
    index = NeighborIndex(algorithm="brute").fit(bank)
    ref = NearestNeighbors(n_neighbors=7, algorithm="brute", metric="cosine").fit(bank.astype(np.float64))
    np.testing.assert_array_equal(
        index.kneighbors(queries, 7, return_distance=False),
        ref.kneighbors(queries.astype(np.float64), return_distance=False),
    )


@pytest.fixture
def ranked(monkeypatch):
    """The number of queries of every float64 ranking of faiss's candidates (`FlatSearch._settle`)
    that ranked any."""
    from sklearn_echo.neighbors._exact import FlatSearch
    from sklearn_echo.neighbors._kernels import RANKED

    counts = []
    original = FlatSearch._settle

    def spy(self, *args):
        out = original(self, *args)
        n = int(np.count_nonzero(out[2] == RANKED))
        if n:
            counts.append(n)
        return out

    monkeypatch.setattr(FlatSearch, "_settle", spy)
    return counts


def test_indices_without_distances_rank_only_the_close_queries(bank_and_queries, ranked):
    bank, queries = bank_and_queries
    index = NeighborIndex(algorithm="brute").fit(bank)
    index.kneighbors(queries, 5)
    assert sum(ranked) == len(queries)  # with distances: every query
    ranked.clear()
    index.kneighbors(queries, 5, return_distance=False)
    assert sum(ranked) < len(queries) // 10  # well-separated scores: their order is exact
    # a bank of repeated rows: the tied queries are ranked, and come back in index order
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((20, 8)).astype(np.float32)
    tied = NeighborIndex(algorithm="brute").fit(np.repeat(rows, 3, axis=0))
    ranked.clear()
    ind = tied.kneighbors(rows, 2, return_distance=False)
    assert sum(ranked) == len(rows)
    np.testing.assert_array_equal(ind, 3 * np.arange(20)[:, None] + [0, 1])


@pytest.mark.parametrize("return_distance", [True, False])
def test_open_queries_are_ranked_once(ranked, return_distance):
    # every row repeated 12 times: the 12 copies tie beyond the k + 8
    # candidates, so every query is rescanned; its candidates are not ranked
    # in float64 first
    rows = np.random.default_rng(1).standard_normal((20, 8)).astype(np.float32)
    index = NeighborIndex(algorithm="brute").fit(np.repeat(rows, 12, axis=0))
    out = index.kneighbors(rows, 2, return_distance=return_distance)
    assert ranked == []
    ind = out[1] if return_distance else out
    np.testing.assert_array_equal(ind, 12 * np.arange(20)[:, None] + [0, 1])
    if return_distance:
        np.testing.assert_allclose(out[0], 0.0, atol=1e-12)


def _index_order_reference(bank, queries, metric, k, leave_self_out=False):
    """k nearest by float64 distance, ties to the lower index (each row summed alike)."""
    B = bank.astype(np.float64)
    out = []
    for i, q in enumerate(queries.astype(np.float64)):
        if metric == "cosine":  # a zero vector is at distance 1 from everything
            norm = np.sqrt((B * B).sum(1) * (q * q).sum())
            d = 1.0 - (B * q).sum(1) / np.where(norm == 0.0, 1.0, norm)
            d[norm == 0.0] = 1.0
        else:
            d = np.sqrt(((B - q) ** 2).sum(1))
        if leave_self_out:
            d[i] = np.inf
        out.append(np.lexsort((np.arange(len(B)), d))[:k])
    return np.array(out)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("k", [1, 3, 6])
def test_ranked_candidates_are_a_full_float64_sort(metric, k):
    # the compiled ranking keeps, of the candidates it is told to take, the
    # first k of the (float64 distance, bank index) sort: ties (bank rows
    # repeated), zero vectors and candidates skipped included
    from sklearn_echo.neighbors._space import make_rows, rank_candidates

    rng = np.random.default_rng(0)
    rows = rng.standard_normal((10, 7)).astype(np.float32)
    rows[3] = 0.0
    bank = np.repeat(rows, 3, axis=0)  # each row three times
    queries = np.concatenate([rng.standard_normal((39, 7)), np.zeros((1, 7))]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZeroNormWarning)
        B, Q = (make_rows(x, metric, None if metric == "cosine" else np.zeros(7, np.float32), "x")
                for x in (bank, queries))
    cand = np.stack([rng.permutation(len(bank))[:12] for _ in queries])
    take = rng.random(cand.shape) < 0.7
    take[:, :k] = True
    q_rows = rng.permutation(len(queries))
    dist, ind = rank_candidates(metric, Q, B, cand, k, take, q_rows)
    for i, r in enumerate(q_rows):
        c = cand[i, take[i]]
        b64, q64 = bank[c].astype(np.float64), queries[r].astype(np.float64)
        if metric == "cosine":
            norm = np.sqrt((b64 * b64).sum(1) * (q64 * q64).sum())
            d = np.clip(1.0 - (b64 @ q64) / np.where(norm == 0.0, 1.0, norm), 0.0, 2.0)
            d[norm == 0.0] = 1.0
        else:
            d = np.sqrt(((b64 - q64) ** 2).sum(1))
        order = np.lexsort((c, d))[:k]
        np.testing.assert_array_equal(ind[i], c[order])
        np.testing.assert_allclose(dist[i], d[order], rtol=1e-12, atol=1e-12)
    # the copies of a bank row are at bitwise equal distances, nearest copy first
    full_d, full_i = rank_candidates(metric, Q, B, np.tile(np.arange(len(bank)), (len(queries), 1)))
    np.testing.assert_array_equal(full_d[:, 0::3], full_d[:, 1::3])
    np.testing.assert_array_equal(full_d[:, 0::3], full_d[:, 2::3])
    assert (np.diff(full_i.reshape(len(queries), 10, 3), axis=2) == 1).all()


def test_ranking_names_what_it_cannot_rank():
    from sklearn_echo.neighbors._space import make_rows, rank_candidates

    X = np.eye(3, dtype=np.float32)
    R = make_rows(X, "cosine", None, "x")
    with pytest.raises(IndexError, match="candidate bank row out of range"):
        rank_candidates("cosine", R, R, np.array([[0, 3]]))
    with pytest.raises(ValueError, match="fewer candidates to rank than neighbours"):
        rank_candidates("cosine", R, R, np.array([[0, 1]]), 2, np.array([[True, False]]))
    with pytest.raises(ValueError, match="k must be at least 1"):
        rank_candidates("cosine", R, R, np.zeros((1, 0), dtype=np.int64))
    with pytest.raises(IndexError, match="query row out of range"):
        rank_candidates("cosine", R, R, np.array([[0]]), rows=np.array([3]))


def test_settled_queries_are_open_kept_or_ranked_by_their_scores():
    # faiss's candidates of each query, best first: the k-th less the bound
    # decides which are ranked, whether the query is open, and (without
    # distances) whether faiss's order already is the exact one
    from sklearn_echo.neighbors._kernels import (
        KEPT,
        OPEN,
        RANKED,
        row_squared_norms,
        settle,
    )

    rng = np.random.default_rng(3)
    b = rng.standard_normal((6, 4)).astype(np.float32)
    q = rng.standard_normal((4, 4)).astype(np.float32)
    cand = np.array([[0, 1, 2, 3], [3, 4, 5, 0], [5, 0, 1, 2], [2, 3, 4, 5]])
    S = np.array([
        [0.9, 0.5, 0.5, 0.49999],  # weakest within the bound of the k-th (0.5): open
        [0.9, 0.5, 0.1, 0.0],  # well apart: kept without distances
        [0.9, 0.89999, 0.1, 0.0],  # first two within the bound: ranked
        [0.9, 0.5, 0.49995, 0.1],  # third within the bound of the k-th: ranked with it
    ], np.float32)
    weakest, bound, k = S[:, -1].copy(), np.full(4, 1e-4), 2
    kth = S[:, k - 1] - bound
    args = ("euclidean", q, row_squared_norms(q), b, row_squared_norms(b), S, cand, weakest, kth,
            bound, k)
    _, ind, state = settle(*args, True, False)
    np.testing.assert_array_equal(state, [OPEN, KEPT, RANKED, RANKED])
    np.testing.assert_array_equal(ind[1], [3, 4])
    dist, ind, state = settle(*args, False, True)  # no vector outside the candidates
    assert (state == RANKED).all()
    full = np.sqrt(((q[:, None, :].astype(np.float64) - b[None, :, :]) ** 2).sum(-1))
    taken = [[0, 1, 2, 3], [3, 4], [5, 0], [2, 3, 4]]  # the first k and those reaching the k-th
    for i, cols in enumerate(taken):
        order = sorted(cols, key=lambda c: (full[i, c], c))[:k]
        np.testing.assert_array_equal(ind[i], order)
        np.testing.assert_allclose(dist[i], full[i, order], rtol=1e-12)
    with pytest.raises(IndexError, match="candidate bank row out of range"):
        settle("euclidean", q[:1], row_squared_norms(q[:1]), b, row_squared_norms(b), S[:1],
               np.array([[0, 9, 1, 2]]), weakest[:1], kth[:1], bound[:1], k, False, True)


def test_openblas_coretype_follows_the_user_then_the_cpu():
    from sklearn_echo.neighbors._faiss import openblas_coretype

    assert openblas_coretype({}, {"AVX512_SKX": True, "AVX2": True}) == "SkylakeX"
    assert openblas_coretype({"OPENBLAS_CORETYPE": "Haswell"}, {"AVX512_SKX": True}) is None
    assert openblas_coretype({"OPENBLAS_CORETYPE": ""}, {"AVX512_SKX": True}) is None
    assert openblas_coretype({}, {"AVX512F": True, "AVX512_SKX": False}) is None
    assert openblas_coretype({}, {}) is None


_FAISS_KERNELS = """
import json, os
from threadpoolctl import threadpool_info
from sklearn_echo.neighbors._faiss import _cpu_features, import_faiss, openblas_coretype
before = os.environ.get("OPENBLAS_CORETYPE")
chosen = openblas_coretype(os.environ, _cpu_features())
import_faiss()
kernels = [i.get("architecture") for i in threadpool_info()
           if i["user_api"] == "blas" and "faiss" in i["filepath"]]
print(json.dumps({"before": before, "chosen": chosen, "after": os.environ.get("OPENBLAS_CORETYPE"),
                  "kernels": kernels}))
"""


def test_import_faiss_loads_the_chosen_kernels_and_leaves_the_environment():
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _FAISS_KERNELS], capture_output=True, text=True, check=True,
        timeout=120,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["after"] == out["before"]  # set for the import only, or the user's value kept
    if not out["kernels"]:
        pytest.skip("faiss's BLAS is not an OpenBLAS that threadpoolctl reports here")
    wanted = out["before"] or out["chosen"]
    if wanted is None:
        pytest.skip("no OPENBLAS_CORETYPE set and no AVX-512: OpenBLAS detects its kernels")
    assert out["kernels"][0].lower() == wanted.lower()


def test_import_faiss_from_several_threads_loads_once_and_waits(monkeypatch):
    # sys.modules holds faiss half-initialised while one thread imports it:
    # the others must wait for the whole module, not take that one
    import threading
    import time

    from sklearn_echo.neighbors import _faiss

    loads = []

    def slow_load():
        loads.append(threading.get_ident())
        time.sleep(0.2)
        return object()

    monkeypatch.setattr(_faiss, "_LOADED", [])
    monkeypatch.setattr(_faiss, "_load", slow_load)
    go, got = threading.Barrier(4), []

    def load():
        go.wait()
        got.append(_faiss.import_faiss())

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1
    assert len(got) == 4 and all(m is got[0] for m in got)


def test_ranking_compiles_without_a_writable_cache(monkeypatch):
    # where numba finds no folder to keep machine code in, it refuses
    # cache=True; the loops are then compiled in memory
    import numba

    from sklearn_echo.neighbors import _kernels

    calls = []
    real = numba.njit

    def njit(*args, **options):
        calls.append(options.get("cache", False))
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return real(*args, **options)

    monkeypatch.setattr(numba, "njit", njit)

    @_kernels._compiled(numba.void(numba.float64[::1]))
    def double(a):  # pragma: no cover (compiled)
        for i in range(a.shape[0]):
            a[i] *= 2.0

    a = np.arange(3.0)
    double(a)
    assert calls == [True, False]
    np.testing.assert_array_equal(a, [0.0, 2.0, 4.0])
