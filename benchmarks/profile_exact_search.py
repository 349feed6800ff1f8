"""Where the time of an exact `NeighborIndex` search goes, beside raw faiss's.

One bank of ``--n-bank`` vectors and ``--n-queries`` queries from
``bench_knn.make_data`` (noise 0.5), cosine, k = 5, ``--n-jobs`` threads. Prints the
best of ``--repeats`` wall times of `NeighborIndex(algorithm="brute")` fit + kneighbors
and of raw faiss (normalise, ``IndexFlatIP`` add + search), their ratio, then the
functions that take the most time (cProfile, own time) over 10 exact searches.

Run::

    python benchmarks/profile_exact_search.py                       # 1,000 x 2,688
    python benchmarks/profile_exact_search.py --dim 384
"""

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_knn import SETTLE_S, make_data, run_exact, run_faiss


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-bank", type=int, default=1000)
    p.add_argument("--n-queries", type=int, default=2000)
    p.add_argument("--dim", type=int, default=2688)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--rows", type=int, default=12, help="functions listed")
    args = p.parse_args(argv)
    X = make_data(args.n_bank + args.n_queries, args.dim, 64, 50, 0.5, 0)
    bank, queries = X[: args.n_bank], X[args.n_bank :]
    runs = {
        "exact": lambda: run_exact(bank, queries, 5, args.n_jobs),
        "faiss": lambda: run_faiss(bank, queries, 5, args.n_jobs),
    }
    best = dict.fromkeys(runs, float("inf"))
    for f in runs.values():
        f()  # warm-up
    for _ in range(args.repeats):
        for name, f in runs.items():
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            f()
            best[name] = min(best[name], time.perf_counter() - t0)
    print(f"{args.n_bank:,} x {args.dim:,} bank, {args.n_queries:,} queries, k = 5, "
          f"{args.n_jobs} threads: exact {best['exact'] * 1e3:.1f} ms, raw faiss "
          f"{best['faiss'] * 1e3:.1f} ms, exact / faiss {best['exact'] / best['faiss']:.2f}x")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(10):
        runs["exact"]()
    profile.disable()
    print("\nexact search, 10 runs, by own time:")
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.rows)


if __name__ == "__main__":
    main()
