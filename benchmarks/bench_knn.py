"""Exact and approximate k-NN search of sklearn-echo vs. scikit-learn, side by side.

Data: a Gaussian mixture of ``--clusters`` clusters living in a random
``--rank``-dimensional subspace of ``--dim`` dimensions, plus isotropic noise
(relative scale ``--noise``), float32 -- the structure of embeddings, which
fill a low-dimensional part of their space. Bank and queries are drawn from
the same mixture.

Compared, in one process, on the same arrays:

1. ``NeighborIndex(metric="cosine", algorithm="brute")`` (exact; float32
   torch matmul + top-k per block, float64 re-ranking),
2. ``sklearn.neighbors.NearestNeighbors(algorithm="brute", metric="cosine")``,
3. ``NeighborIndex(metric="cosine", algorithm="pynndescent")`` (approximate),
   after a small warm-up build that pays pynndescent's numba compilation.

Printed: wall times (fit + query), speed ratios, the share of queries whose k
neighbours are identical (same indices, same order) between 1 and 2,
recall@k of 3 against 1, and peak memory of each step, measured two ways:
``tracemalloc`` peak (numpy and Python allocations; torch's own buffers are
not traced) and the peak resident set size (RSS, sampled every 5 ms with
psutil) above the RSS at the start of the step.

Usage::

    python benchmarks/bench_knn.py                 # 100,000 x 2,688 bank, 10,000 queries, k=5
    python benchmarks/bench_knn.py --quick         # 20,000 x 512 bank, 2,000 queries
    python benchmarks/bench_knn.py --n-bank 50000 --n-query 5000 --dim 1024
"""

import argparse
import gc
import os
import sys
import threading
import time
import tracemalloc

import numpy as np
import psutil

from sklearn_echo.neighbors import NeighborIndex


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
    """Peak tracemalloc and peak RSS (sampled) above the start of a step."""

    def __init__(self, interval=0.005):
        self.interval = interval
        self.process = psutil.Process(os.getpid())

    def __enter__(self):
        gc.collect()
        self.rss0 = self.process.memory_info().rss
        self.rss_peak = self.rss0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        tracemalloc.start()
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
        _, self.traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return False

    @property
    def rss_extra_mb(self):
        return (self.rss_peak - self.rss0) / 2**20

    @property
    def traced_mb(self):
        return self.traced_peak / 2**20


def float64_agreement(bank, queries, rows, k, *candidates):
    """How many of ``rows`` each neighbour table gets exactly right (float64 cosine)."""
    norms = np.sqrt(np.einsum("ij,ij->i", bank, bank, dtype=np.float64))
    right = [0] * len(candidates)
    for row in rows:
        q = queries[row].astype(np.float64)
        dots = np.concatenate(
            [bank[s : s + 20000].astype(np.float64) @ q for s in range(0, bank.shape[0], 20000)]
        )
        exact = 1.0 - dots / (norms * np.linalg.norm(q))
        ref = np.lexsort((np.arange(exact.shape[0]), exact))[:k]  # ties: lower index
        for j, table in enumerate(candidates):
            right[j] += bool(np.array_equal(ref, table[row]))
    return right


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-bank", type=int, default=100_000)
    parser.add_argument("--n-query", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=2688)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--rank", type=int, default=64, help="dimension of the cluster subspace")
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--noise", type=float, default=0.1, help="isotropic noise scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=None, help="threads (default: all)")
    parser.add_argument("--quick", action="store_true", help="20,000 x 512 bank, 2,000 queries")
    parser.add_argument(
        "--epsilons",
        type=float,
        nargs="+",
        default=[0.1, 0.2, 0.3, 0.4],
        help="pynndescent query breadths to measure (same graph)",
    )
    parser.add_argument("--graph-neighbors", type=int, default=30, help="pynndescent graph degree")
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--skip-pynndescent", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_bank, args.n_query, args.dim = 20_000, 2_000, 512

    import sklearn
    import torch
    from sklearn.neighbors import NearestNeighbors

    print(
        f"bank {args.n_bank:,} x {args.dim:,} float32, {args.n_query:,} queries, k={args.k}; "
        f"mixture of {args.clusters} clusters in a {args.rank}-dim subspace + noise {args.noise}"
    )
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), scikit-learn {sklearn.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    t = time.perf_counter()
    data = make_data(args.n_bank + args.n_query, args.dim, args.rank, args.clusters, args.noise, args.seed)
    bank, queries = data[: args.n_bank], data[args.n_bank :]
    print(f"data generated in {time.perf_counter() - t:.1f} s ({data.nbytes / 2**20:,.0f} MiB)\n")

    rows = []
    with PeakMemory() as mem:
        exact = NeighborIndex(metric="cosine", algorithm="brute", n_jobs=args.n_jobs).fit(bank)
        d_ours, i_ours = exact.kneighbors(queries, args.k)
    rows.append(("sklearn-echo brute (exact)", mem))
    print(f"sklearn-echo brute:  {mem.seconds:8.1f} s")

    if not args.skip_sklearn:
        with PeakMemory() as mem:
            nn = NearestNeighbors(
                n_neighbors=args.k, algorithm="brute", metric="cosine", n_jobs=args.n_jobs
            ).fit(bank)
            d_sk, i_sk = nn.kneighbors(queries)
        rows.append(("sklearn NearestNeighbors brute", mem))
        print(f"sklearn brute:       {mem.seconds:8.1f} s")
        del nn

    if not args.skip_pynndescent:
        t = time.perf_counter()
        warm = NeighborIndex(metric="cosine", algorithm="pynndescent", n_jobs=args.n_jobs, random_state=0)
        warm.fit(bank[:2000]).kneighbors(queries[:10], args.k)
        compile_s = time.perf_counter() - t
        params = {"n_neighbors": args.graph_neighbors}
        with PeakMemory() as build:
            approx = NeighborIndex(
                metric="cosine",
                algorithm="pynndescent",
                n_jobs=args.n_jobs,
                random_state=0,
                pynndescent_params=params,
            ).fit(bank)
            approx._build_nnd()
        rows.append((f"pynndescent build (graph degree {args.graph_neighbors})", build))
        print(f"pynndescent build:   {build.seconds:8.1f} s (+ {compile_s:.1f} s numba warm-up)")
        recalls = []
        for eps in args.epsilons:
            approx.epsilon = eps
            with PeakMemory() as query:
                _, i_apx = approx.kneighbors(queries, args.k)
            recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(i_apx, i_ours)])
            recalls.append((eps, recall, query.seconds))
            rows.append((f"pynndescent query, epsilon={eps}", query))
            print(f"pynndescent query:   {query.seconds:8.1f} s at epsilon={eps}: recall@{args.k} {recall:.4f}")

    print("\n| step | time (s) | peak RSS above start (MiB) | tracemalloc peak (MiB) |")
    print("|---|---:|---:|---:|")
    for name, mem in rows:
        print(f"| {name} | {mem.seconds:.1f} | {mem.rss_extra_mb:,.0f} | {mem.traced_mb:,.0f} |")
    print()
    t_ours = rows[0][1].seconds
    if not args.skip_sklearn:
        t_sk = rows[1][1].seconds
        same_rows = np.mean(np.all(i_ours == i_sk, axis=1))
        same_sets = np.mean([set(a) == set(b) for a, b in zip(i_ours, i_sk)])
        print(f"speed-up, exact brute vs sklearn brute: {t_sk / t_ours:.2f}x")
        print(f"identical neighbours (indices and order): {same_rows:.4f} of queries")
        print(f"identical neighbour sets:                 {same_sets:.4f} of queries")
        print(f"max |distance difference|:                {np.abs(d_ours - d_sk).max():.2e}")
        differ = np.flatnonzero(np.any(i_ours != i_sk, axis=1))
        if differ.size:
            checked = differ[:50]
            ours_ok, sk_ok = float64_agreement(bank, queries, checked, args.k, i_ours, i_sk)
            print(
                f"queries that differ: {differ.size}; against an exact float64 reference "
                f"({len(checked)} checked) sklearn-echo is right in {ours_ok}, sklearn in "
                f"{sk_ok} (scikit-learn computes in float32 on float32 input)"
            )
        print(
            "peak RSS ratio sklearn / sklearn-echo:   "
            f"{rows[1][1].rss_extra_mb / max(rows[0][1].rss_extra_mb, 1e-9):.2f}x"
        )
    if not args.skip_pynndescent:
        t_b = build.seconds
        for eps, recall, t_q in recalls:
            print(
                f"pynndescent epsilon={eps}: recall@{args.k} {recall:.4f}; query {t_ours / t_q:.1f}x "
                f"faster than exact brute; build + query {(t_b + t_q) / t_ours:.2f}x its time"
            )

if __name__ == "__main__":
    main()
