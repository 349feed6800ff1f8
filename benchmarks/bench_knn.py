"""k-NN search: scikit-learn brute force, raw faiss and `NeighborIndex`, side by side.

For every bank in the table (synthetic banks of 1,000 / 20,000 / 100,000
vectors at 384 and 2,688 dimensions with noise 0.1 and 0.5, and real ECHO
embeddings), on the same float32 arrays, in one process, k = 5, cosine:

1. ``sklearn``: ``NearestNeighbors(algorithm="brute", metric="cosine")``
   fit + kneighbors;
2. ``faiss``: raw faiss, the rows normalised, ``IndexFlatIP`` add + search;
3. ``exact``: ``NeighborIndex(algorithm="brute")`` fit + kneighbors (faiss
   flat index, float64 ranking of the candidates);
   ``indices``: the same with ``return_distance=False`` (only the queries
   whose float32 scores leave the order open are ranked in float64), the
   call behind ``EchoKNNClassifier.predict`` with uniform weights;
4. ``hnsw`` and ``ivf``: ``NeighborIndex(algorithm="hnsw")`` and
   ``NeighborIndex(algorithm="ivf")``: build (fit and the first query),
   then the queries.

Methods 1-3 (and ``indices``) run ``--repeats`` times (ten times as often for banks of at
most 4,000,000 values, whose searches take milliseconds), interleaved in
rotating order, 150 ms apart (`SETTLE_S`: longer than numpy's BLAS threads keep
spinning after scikit-learn's products, which the script measures and prints
first), and the best time of each is kept
(the machine is shared); the median times of raw faiss and exact search and
their ratio are printed as well (raw faiss's OpenMP threads, woken after the
pause, make its times spread far more than the exact search's). Peak memory (resident set size above the start of
the step, sampled every 5 ms) comes from a first run of each, not timed: the
sampling thread takes the interpreter lock, which slows methods running
Python threads of their own and not a single faiss call. Printed per bank:
times, ratios, the share of queries whose k neighbours (indices and order) are
identical to scikit-learn's, recall@k of HNSW and IVF against exact search,
and peak memory.
Where exact search and scikit-learn differ, up to 20 of the queries are
checked against a float64 computation (scikit-learn computes in float32 on
float32 input, so near ties can flip).

Synthetic data: a Gaussian mixture of 50 clusters in a random 64-dimensional
subspace plus isotropic noise of the given scale per dimension (`make_data`).
Real embeddings: the segment rows (160 ms each) of
``EchoEmbedder(model=<fixture checkpoint>).transform_segments`` over the WAV
mono recordings of ``../shared/data``; the rows of every 10th file are the
queries, the others the bank (cached in ``--embeddings-cache``).

``--approx-study`` instead compares the approximate backends on one large
bank (faiss HNSW at several ``ef_search``, faiss IVF with the settings of
``NeighborIndex(algorithm="ivf")`` at several ``nprobe``, pynndescent if
installed): build time (pynndescent's numba compilation
measured apart), query time, recall@k against faiss flat search, peak memory.

Usage::

    python benchmarks/bench_knn.py --n-jobs 2                     # the whole table
    python benchmarks/bench_knn.py --n-jobs 2 --sizes 20000 --dims 384 --noises 0.5 --no-real
    python benchmarks/bench_knn.py --n-jobs 2 --approx-study --n-bank 100000 --dim 2688
    python benchmarks/bench_knn.py --n-jobs 2 --approx-study --n-bank 1000000 --dim 384
    python benchmarks/bench_knn.py --n-jobs 2 --approx-study --skip-hnsw --skip-pynndescent  # IVF only
"""

import argparse
import gc
import glob
import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from sklearn_echo.neighbors import NeighborIndex
from sklearn_echo.neighbors._faiss import import_faiss

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TINY = ROOT.parent / "shared" / "fixtures" / "echo_reference" / "tiny_echo.safetensors"
# Idle time before every timed run (seconds). The thread teams of the previous
# run keep spinning on the cores after it returns and would slow whichever
# method runs next: faiss's OpenMP threads for a few milliseconds, the threads
# of numpy's OpenBLAS (scikit-learn's products) for about 100 ms on this
# project's machine (OpenBLAS's thread timeout; the script measures and prints
# it, `blas_spin_ms`). With 50 ms, the method run after scikit-learn shared a
# core with a spinning thread.
SETTLE_S = 0.15


def make_data(n, dim, rank, clusters, noise, seed):
    """Gaussian mixture in a ``rank``-dimensional subspace plus noise, float32."""
    rng = np.random.RandomState(seed)
    basis = rng.normal(size=(rank, dim)).astype(np.float32) / np.sqrt(rank)
    centers = rng.normal(scale=2.0, size=(clusters, rank)).astype(np.float32)
    weights = rng.dirichlet(np.ones(clusters))
    out = np.empty((n, dim), dtype=np.float32)
    step = 8192
    for s in range(0, n, step):
        m = min(step, n - s)
        labels = rng.choice(clusters, size=m, p=weights)
        latent = centers[labels] + rng.normal(size=(m, rank)).astype(np.float32)
        out[s : s + m] = latent @ basis
        out[s : s + m] += noise * rng.normal(size=(m, dim)).astype(np.float32)
    return out


class PeakMemory:
    """Wall time and peak resident set size (sampled) above the start of a step."""

    def __init__(self, interval=0.005):
        self.interval = interval
        self.process = psutil.Process(os.getpid())

    def __enter__(self):
        gc.collect()
        self.rss0 = self.process.memory_info().rss
        self.rss_peak = self.rss0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self.t0 = time.perf_counter()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.rss_peak = max(self.rss_peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self._stop.set()
        self._thread.join()
        self.rss_peak = max(self.rss_peak, self.process.memory_info().rss)
        return False

    @property
    def mib(self):
        return (self.rss_peak - self.rss0) / 2**20


def real_embeddings(cache, n_jobs):
    """Segment embeddings of the shared WAV recordings: (bank, queries)."""
    if cache and os.path.exists(cache):
        saved = np.load(cache)
        return saved["bank"], saved["queries"]
    from sklearn_echo import EchoEmbedder

    files = [  # mono recordings (the 8-channel MIMII clips are left out)
        f for f in sorted(glob.glob(str(DATA / "**" / "*.wav"), recursive=True)) if "multichannel" not in f
    ]
    t = time.perf_counter()
    emb = EchoEmbedder(model=str(TINY), n_jobs=n_jobs).fit(files)
    segments = emb.transform_segments(files)
    print(f"embedded {len(files)} recordings in {time.perf_counter() - t:.0f} s", flush=True)
    bank = np.concatenate([s for i, s in enumerate(segments) if i % 10]).astype(np.float32)
    queries = np.concatenate([s for i, s in enumerate(segments) if i % 10 == 0]).astype(np.float32)
    if cache:
        np.savez(cache, bank=bank, queries=queries)
    return bank, queries


def blas_kernels():
    """The kernel family of every loaded BLAS library, as threadpoolctl reports it."""
    from threadpoolctl import threadpool_info

    return ", ".join(f"{i['filepath'].split('/')[-1]} {i.get('architecture')}"
                     for i in threadpool_info() if i["user_api"] == "blas")


def blas_spin_ms(n_threads, window_s=0.3):
    """CPU time (ms) the process spends in the ``window_s`` seconds after a product on
    ``n_threads`` threads of numpy's BLAS, sleeping itself: its threads' spinning."""
    from threadpoolctl import threadpool_limits

    a = np.ones((1000, 1000), np.float32)
    with threadpool_limits(n_threads, user_api="blas"):
        time.sleep(window_s)
        a @ a
        c0 = time.process_time()
        time.sleep(window_s)
        return 1e3 * (time.process_time() - c0)


def run_sklearn(bank, queries, k, n_jobs):
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="cosine", n_jobs=n_jobs)
    return nn.fit(bank).kneighbors(queries)[1]


def run_faiss(bank, queries, k, n_jobs):
    return faiss_scores(bank, queries, k, n_jobs)[1]


def faiss_scores(bank, queries, k, n_jobs):
    """Raw faiss: unit rows in an ``IndexFlatIP``; the k best inner products and their indices."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n_jobs)
    try:
        index = faiss.IndexFlatIP(bank.shape[1])
        b = bank.copy()
        faiss.normalize_L2(b)
        index.add(b)
        del b
        q = queries.copy()
        faiss.normalize_L2(q)
        return index.search(q, k)
    finally:
        faiss.omp_set_num_threads(previous)


def run_exact(bank, queries, k, n_jobs):
    index = NeighborIndex(metric="cosine", algorithm="brute", n_jobs=n_jobs).fit(bank)
    return index.kneighbors(queries, k)[1]


def run_exact_indices(bank, queries, k, n_jobs):
    index = NeighborIndex(metric="cosine", algorithm="brute", n_jobs=n_jobs).fit(bank)
    return index.kneighbors(queries, k, return_distance=False)


def load_previous(path):
    """The search of an earlier source tree (e.g. from ``git archive``).

    ``path``: a module file holding ``NeighborIndex``, or the ``sklearn_echo``
    package folder of an earlier tree, loaded under another name (its relative
    imports stay inside it) and its ``neighbors`` subpackage returned.
    """
    path = Path(path)
    if not path.is_dir():
        spec = importlib.util.spec_from_file_location("previous_search", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    spec = importlib.util.spec_from_file_location(
        "previous_sklearn_echo", path / "__init__.py", submodule_search_locations=[str(path)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["previous_sklearn_echo"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("previous_sklearn_echo.neighbors")


def float64_right(bank, queries, rows, k, *tables):
    """How many of ``rows`` each neighbour table gets exactly right (float64 cosine)."""
    norms = np.sqrt(np.einsum("ij,ij->i", bank, bank, dtype=np.float64))
    right = [0] * len(tables)
    for row in rows:
        q = queries[row].astype(np.float64)
        dots = np.concatenate(
            [bank[s : s + 20000].astype(np.float64) @ q for s in range(0, bank.shape[0], 20000)]
        )
        exact = 1.0 - dots / (norms * np.linalg.norm(q))
        ref = np.lexsort((np.arange(exact.shape[0]), exact))[:k]  # ties: lower index
        for j, table in enumerate(tables):
            right[j] += bool(np.array_equal(ref, table[row]))
    return right


def recall(found, truth, k):
    return float(np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(found, truth)]))


def compare(name, bank, queries, args, previous=None):
    """One row of the table: every method on the same arrays."""
    k, n_jobs = args.k, args.n_jobs
    methods = {"sklearn": run_sklearn, "faiss": run_faiss, "exact": run_exact, "indices": run_exact_indices}
    if previous is not None:
        def run_previous(b, q, kk, nj):
            index = previous.NeighborIndex(metric="cosine", algorithm="brute", n_jobs=nj).fit(b)
            return index.kneighbors(q, kk)[1]

        methods["previous"] = run_previous
    names = list(methods)
    best, mem, out, times = {}, {}, {}, {m: [] for m in names}
    # small banks take milliseconds: many more rounds steady their best time
    repeats = args.repeats * (10 if bank.size <= 4_000_000 else 1)
    # peak memory from a first run of each, not timed: the sampling thread
    # takes the interpreter lock every 5 ms, from the methods that run Python
    # threads of their own but not from one long faiss call
    for m in names:
        time.sleep(SETTLE_S)
        with PeakMemory() as pm:
            methods[m](bank, queries, k, n_jobs)
        mem[m] = pm.mib
    for r in range(repeats):
        for m in names[r % len(names):] + names[: r % len(names)]:
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            out[m] = methods[m](bank, queries, k, n_jobs)
            times[m].append(time.perf_counter() - t0)
    best = {m: min(times[m]) for m in names}
    median = {m: float(np.median(times[m])) for m in names}
    approx = {}
    for algo in args.approximate:
        with PeakMemory() as build:
            index = NeighborIndex(metric="cosine", algorithm=algo, n_jobs=n_jobs, random_state=0)
            index.fit(bank).kneighbors(queries[:1], k)
        with PeakMemory() as query:
            found = index.kneighbors(queries, k)[1]
        del index
        approx[algo] = (build.seconds, query.seconds, max(build.mib, query.mib), recall(found, out["exact"], k))
    same = {m: float(np.mean(np.all(out[m] == out["sklearn"], axis=1))) for m in names}
    differ = np.flatnonzero(np.any(out["exact"] != out["sklearn"], axis=1))
    checked = differ[:20]
    right = float64_right(bank, queries, checked, k, out["exact"], out["sklearn"]) if checked.size else (0, 0)
    row = {
        "name": name, "n": bank.shape[0], "d": bank.shape[1], "nq": queries.shape[0],
        **{f"t_{m}": best[m] for m in names}, **{f"median_{m}": median[m] for m in names},
        **{f"mem_{m}": mem[m] for m in names},
        "approx": approx, **{f"same_{m}": same[m] for m in names},
        "differ": differ.size, "checked": checked.size, "right_exact": right[0], "right_sklearn": right[1],
    }
    print(
        f"{name}: sklearn {best['sklearn']:.3g} s, faiss {best['faiss']:.3g} s, exact {best['exact']:.3g} s"
        + (f", previous {best['previous']:.3g} s (previous/exact {best['previous'] / best['exact']:.2f}x)"
           if "previous" in best else "")
        + "".join(f", {a} build {b:.2f} s + query {q:.2f} s (recall@{k} {r:.4f})" for a, (b, q, _, r) in approx.items())
        + f"; sklearn/exact {best['sklearn'] / best['exact']:.2f}x, exact/faiss {best['exact'] / best['faiss']:.2f}x"
        f" (medians: faiss {median['faiss']:.3g} s, exact {median['exact']:.3g} s, "
        f"{median['exact'] / median['faiss']:.2f}x); exact without distances {best['indices']:.3g} s, "
        f"/ faiss {best['indices'] / best['faiss']:.2f}x (medians {median['indices'] / median['faiss']:.2f}x), "
        f"same neighbours as exact: {np.mean(np.all(out['indices'] == out['exact'], axis=1)):.4f}; "
        f"identical to sklearn: exact {same['exact']:.4f}, faiss {same['faiss']:.4f}"
        + (f"; float64 check of {checked.size} differing: exact right {right[0]}, sklearn right {right[1]}"
           if checked.size else ""),
        flush=True,
    )
    return row


def print_table(rows, k, has_previous, approximate):
    head = ("| bank | queries | sklearn (s) | faiss (s) | exact (s) | sklearn / exact | exact / faiss |"
            + " exact without distances (s) | without distances / faiss |"
            + (" previous (s) | previous / exact |" if has_previous else "")
            + " identical to sklearn (exact / faiss) |"
            + "".join(f" {a.upper()} build + query (s) | {a.upper()} recall@{k} |" for a in approximate)
            + " peak MiB (sklearn / faiss / exact" + "".join(f" / {a.upper()}" for a in approximate) + ") |")
    print("\n" + head)
    print("|---|" + "---:|" * (head.count("|") - 2))
    for r in rows:
        prev = (f" {r['t_previous']:.2f} | {r['t_previous'] / r['t_exact']:.2f}x |" if has_previous else "")
        apx = "".join(f" {r['approx'][a][0]:.1f} + {r['approx'][a][1]:.2f} | {r['approx'][a][3]:.4f} |"
                      for a in approximate)
        mem = " / ".join(f"{r['mem_' + m]:,.0f}" for m in ("sklearn", "faiss", "exact"))
        mem += "".join(f" / {r['approx'][a][2]:,.0f}" for a in approximate)
        print(
            f"| {r['name']} | {r['nq']:,} | {r['t_sklearn']:.2f} | {r['t_faiss']:.2f} | {r['t_exact']:.2f} | "
            f"{r['t_sklearn'] / r['t_exact']:.2f}x | {r['t_exact'] / r['t_faiss']:.2f}x | "
            f"{r['t_indices']:.3f} | {r['t_indices'] / r['t_faiss']:.2f}x |{prev} "
            f"{r['same_exact']:.4f} / {r['same_faiss']:.4f} |{apx} {mem} |"
        )
    worst_sk = min(r["t_sklearn"] / r["t_exact"] for r in rows)
    worst_fa = max(r["t_exact"] / r["t_faiss"] for r in rows)
    worst_median = max(r["median_exact"] / r["median_faiss"] for r in rows)
    worst_ind = max(r["t_indices"] / r["t_faiss"] for r in rows)
    worst_ind_median = max(r["median_indices"] / r["median_faiss"] for r in rows)
    print(f"\nexact vs sklearn: at least {worst_sk:.2f}x as fast on every bank; "
          f"exact vs raw faiss: at most {worst_fa:.2f}x its time (best runs), "
          f"{worst_median:.2f}x (median runs); exact without distances vs raw faiss: at most "
          f"{worst_ind:.2f}x (best runs), {worst_ind_median:.2f}x (median runs)")
    checked = sum(r["checked"] for r in rows)
    if checked:
        print(f"queries differing from sklearn checked in float64: {checked}; exact right in "
              f"{sum(r['right_exact'] for r in rows)}, sklearn in {sum(r['right_sklearn'] for r in rows)}")


def approx_study(args):
    import faiss

    faiss.omp_set_num_threads(args.n_jobs)
    k = args.k
    t = time.perf_counter()
    data = make_data(args.n_bank + args.n_query, args.dim, 64, 50, args.study_noise, 0)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    bank, queries = data[: args.n_bank], data[args.n_bank :]
    del data
    print(f"bank {args.n_bank:,} x {args.dim:,}, {args.n_query:,} queries, noise {args.study_noise}, "
          f"k={k}, {args.n_jobs} threads (data {time.perf_counter() - t:.0f} s)", flush=True)
    with PeakMemory() as m:
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(bank)
        truth = flat.search(queries, k)[1]
    del flat
    print("| method | time | recall | memory |\n|---|---|---|---|")
    print(f"| faiss flat (exact) | build + query {m.seconds:.1f} s | | peak {m.mib:,.0f} MiB |", flush=True)
    if not args.skip_hnsw:
        study_hnsw(args, bank, queries, truth)
    if not args.skip_ivf:
        study_ivf(args, bank, queries, truth)
    if not args.skip_pynndescent:
        study_pynndescent(args, bank, queries, truth)


def study_hnsw(args, bank, queries, truth):
    import faiss

    k = args.k
    with PeakMemory() as m:
        hnsw = faiss.IndexHNSWFlat(args.dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 64
        hnsw.add(bank)
    print(f"| HNSW M=32 ef_construction=64 | build {m.seconds:.1f} s | | peak {m.mib:,.0f} MiB |", flush=True)
    for ef in (32, 64, 128, 256):
        hnsw.hnsw.efSearch = ef
        with PeakMemory() as mq:
            found = hnsw.search(queries, k)[1]
        print(f"| HNSW ef_search={ef} | query {mq.seconds:.2f} s | recall@{k} {recall(found, truth, k):.4f} | |",
              flush=True)
    del hnsw


def study_ivf(args, bank, queries, truth):
    from sklearn_echo.neighbors._ivf import IVFSearch

    k = args.k
    with PeakMemory() as m:  # the settings of NeighborIndex(algorithm="ivf")
        ivf = IVFSearch("cosine", args.dim, seed=0)
        ivf.train(bank[ivf.training_rows(len(bank))], len(bank))
        ivf.add(bank, None)
    index = ivf.index
    print(f"| IVF nlist={index.nlist} (sqrt(n)), 64 training vectors per list | build {m.seconds:.1f} s | "
          f"| peak {m.mib:,.0f} MiB |", flush=True)
    for nprobe in (8, 16, 32, 64):
        index.nprobe = nprobe
        with PeakMemory() as mq:
            found = index.search(queries, k)[1]
        print(f"| IVF nprobe={nprobe} | query {mq.seconds:.2f} s | recall@{k} {recall(found, truth, k):.4f} | |",
              flush=True)


def study_pynndescent(args, bank, queries, truth):
    k = args.k
    try:
        import numba
        from pynndescent import NNDescent
    except ImportError:
        print("pynndescent is not installed: skipped")
        return
    numba.set_num_threads(args.n_jobs)
    t = time.perf_counter()
    warm = NNDescent(bank[:2000], metric="cosine", n_neighbors=30, random_state=0, n_jobs=args.n_jobs)
    warm.prepare()
    warm.query(queries[:10], k=k)
    compile_s = time.perf_counter() - t
    with PeakMemory() as m:
        nnd = NNDescent(bank, metric="cosine", n_neighbors=30, random_state=0, n_jobs=args.n_jobs, low_memory=True)
        nnd.prepare()
    print(f"| pynndescent n_neighbors=30 | build {m.seconds:.1f} s (+ {compile_s:.1f} s numba compilation) | "
          f"| peak {m.mib:,.0f} MiB |", flush=True)
    for eps in (0.2, 0.4):
        with PeakMemory() as mq:
            found = nnd.query(queries, k=k, epsilon=eps)[0]
        print(f"| pynndescent epsilon={eps} | query {mq.seconds:.2f} s | recall@{k} {recall(found, truth, k):.4f} | |",
              flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 20_000, 100_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[384, 2688])
    parser.add_argument("--noises", type=float, nargs="+", default=[0.1, 0.5])
    parser.add_argument("--n-query", type=int, default=2_000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=2, help="threads of every method")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per method (best kept)")
    parser.add_argument("--no-real", action="store_true", help="skip the real embeddings")
    parser.add_argument("--real-only", action="store_true", help="only the real embeddings")
    parser.add_argument("--embeddings-cache", default="/tmp/sklearn_echo_knn_embeddings.npz")
    parser.add_argument("--previous", help="search module, or sklearn_echo package folder, of an earlier version, also timed")
    parser.add_argument("--approximate", nargs="*", default=["hnsw", "ivf"], choices=["hnsw", "ivf"],
                        help="approximate NeighborIndex algorithms in the table")
    parser.add_argument("--approx-study", action="store_true", help="compare approximate backends")
    parser.add_argument("--n-bank", type=int, default=100_000, help="bank size of --approx-study")
    parser.add_argument("--dim", type=int, default=2688, help="dimension of --approx-study")
    parser.add_argument("--study-noise", type=float, default=0.5)
    parser.add_argument("--skip-hnsw", action="store_true")
    parser.add_argument("--skip-ivf", action="store_true")
    parser.add_argument("--skip-pynndescent", action="store_true")
    args = parser.parse_args(argv)

    import sklearn
    import threadpoolctl

    faiss = import_faiss()  # loaded as the package loads it (its BLAS kernels: see _faiss)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, faiss {faiss.__version__}, "
          f"scikit-learn {sklearn.__version__}, {os.cpu_count()} CPUs, n_jobs={args.n_jobs}; "
          f"BLAS kernels: {blas_kernels()}")
    if args.approx_study:
        approx_study(args)
        return
    print(f"after a product on {args.n_jobs} threads, numpy's BLAS threads spun "
          f"{blas_spin_ms(args.n_jobs):.0f} ms of CPU in the next 300 ms; timed runs are "
          f"{1e3 * SETTLE_S:.0f} ms apart")
    # scikit-learn's float32 products run in BLAS: give it the same thread count
    threadpoolctl.threadpool_limits(args.n_jobs, user_api="blas")
    previous = load_previous(args.previous) if args.previous else None
    # first calls load libraries (torch through sklearn_echo.device, faiss): not measured
    warm = np.random.RandomState(0).normal(size=(50, 8)).astype(np.float32)
    run_sklearn(warm, warm, 2, args.n_jobs)
    run_exact(warm, warm, 2, args.n_jobs)
    rows = []
    if not args.real_only:
        for n in args.sizes:
            for d in args.dims:
                for noise in args.noises:
                    data = make_data(n + args.n_query, d, 64, 50, noise, 0)
                    rows.append(compare(f"{n:,} x {d:,}, noise {noise}", data[:n], data[n:], args, previous))
                    del data
    if not args.no_real:
        bank, queries = real_embeddings(args.embeddings_cache, args.n_jobs)
        rows.append(compare(f"ECHO segments {bank.shape[0]:,} x {bank.shape[1]:,}", bank, queries, args, previous))
    print_table(rows, args.k, previous is not None, args.approximate)


if __name__ == "__main__":
    main()
