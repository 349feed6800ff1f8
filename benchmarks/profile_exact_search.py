"""Where the time of an exact `NeighborIndex` search goes, beside raw faiss's.

One bank of ``--n-bank`` vectors and ``--n-queries`` queries from
``bench_knn.make_data`` (noise 0.5), cosine, k = 5, ``--n-jobs`` threads. Prints the
best of ``--repeats`` wall times of `NeighborIndex(algorithm="brute")` fit + kneighbors
and of raw faiss (normalise, ``IndexFlatIP`` add + search), their ratio; then
faiss's search alone on one thread with k, k + 1 and the exact search's k + 8
candidates (what each block of a threaded exact search runs), and per query for
1 to 256 queries with faiss's default BLAS threshold and inside
``blas_from_few_queries``; then a timeline of ``--timeline`` threaded exact
searches (median over the runs, `bench_knn.SETTLE_S` of idle before each, as in the benchmark):
the input checks and index build before the query blocks start, the start and
end of the search threads, each thread's time in faiss (and in its pilot search
and its second searches of open queries, each a faiss call of its own) and in
the float64 ranking,
and raw faiss's median and best time measured the same way; then what a few of
those steps cost right after the idle pause against at once again (the faiss call of a
pilot, the bank's input check, a pure-Python call, raw faiss's normalise and add); then the float64
ranking (``_space.rank_candidates``) of each thread's share of the queries and
their k neighbours, one share alone and all shares side by side on their own
threads, and how fast a pure-Python loop runs while another thread computes
float64 products with ``np.vecdot`` (what the ranking used before its compiled
loop) and while it runs the compiled ranking (which lets go of the interpreter lock);
then the functions that take the most time (cProfile, own time) over 10 exact searches with
``n_jobs=1`` (with more threads the blocks run in threads of their own, which cProfile
does not see); last, in fresh processes sharing an empty numba cache folder, what
the first search of a process costs beyond the second (the compiled ranking's
loops compiled by the first process, loaded from the cache by the next).

Run::

    python benchmarks/profile_exact_search.py                       # 1,000 x 2,688
    python benchmarks/profile_exact_search.py --dim 384
    python benchmarks/profile_exact_search.py --dim 384 --no-distances   # return_distance=False
"""

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_knn import SETTLE_S, make_data, run_exact, run_exact_indices, run_faiss
from timed_calls import timed_calls

import sklearn_echo.neighbors._exact as exact_module
import sklearn_echo.neighbors._index as index_module
from sklearn_echo.neighbors import NeighborIndex
from sklearn_echo.neighbors._exact import EXTRA_CANDIDATES
from sklearn_echo.neighbors._faiss import import_faiss
from sklearn_echo.neighbors._space import make_rows, rank_candidates
from sklearn_echo.neighbors._threads import (
    BLAS_MIN_QUERIES,
    blas_from_few_queries,
    faiss_threads,
    one_blas_thread,
)


def _timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def timeline(bank, queries, n_jobs, runs, return_distance=True):
    """Median phases (ms) of ``runs`` threaded exact searches, functions timed in place."""
    targets = [
        (exact_module.FlatSearch, "scores", lambda args: ("faiss", len(args[1]))),
        (exact_module.FlatSearch, "kneighbors", "block"),
        (index_module.NeighborIndex, "_query", "query"),
        (index_module.NeighborIndex, "_search", "build"),
    ]
    phases = {}
    with timed_calls(targets) as log:
        for _ in range(runs):
            log.clear()
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            NeighborIndex(metric="cosine", algorithm="brute", n_jobs=n_jobs).fit(bank).kneighbors(
                queries, 5, return_distance=return_distance)
            total = time.perf_counter() - t0
            spans = {label: (a - t0, b - t0) for label, _, a, b, _ in log if label in ("query", "build")}
            blocks = [(a - t0, b - t0) for label, _, a, b, _ in log if label == "block"]
            faiss_by_thread, block_by_thread, calls = {}, {}, {}
            for label, tid, a, b, m in log:
                if label == "faiss":
                    faiss_by_thread[tid] = faiss_by_thread.get(tid, 0.0) + b - a
                    calls.setdefault(tid, []).append((a, b - a, m))
                elif label == "block":
                    block_by_thread[tid] = block_by_thread.get(tid, 0.0) + b - a
            # each thread's faiss calls in time order: the one with the most
            # queries is its main search; before it, the pilot; after, second searches
            pilot, second = [], []
            for found in calls.values():
                found.sort()
                main = max(range(len(found)), key=lambda i: found[i][2])
                pilot.append(sum(f[1] for f in found[:main]))
                second.append(sum(f[1] for f in found[main + 1 :]))
            row = {
                "checks and index build, before the query blocks": spans["query"][0],
                "  of which the index build": spans["build"][1] - spans["build"][0],
                "thread start (query call to first block)": min(a for a, _ in blocks) - spans["query"][0],
                "per thread: faiss": np.mean(list(faiss_by_thread.values())),
                "  of which the pilot (64 queries, k + 8 candidates)": np.mean(pilot),
                "  of which second searches of open queries": np.mean(second),
                "per thread: float64 ranking and the rest of its blocks": np.mean(
                    [block_by_thread[t] - faiss_by_thread.get(t, 0.0) for t in block_by_thread]),
                "thread end (last block to the results)": spans["query"][1] - max(b for _, b in blocks),
                "whole search": total,
            }
            for key, value in row.items():
                phases.setdefault(key, []).append(value)
    return {key: 1e3 * float(np.median(values)) for key, values in phases.items()}


def after_idle(bank, queries, runs):
    """Median ms of steps of a search run right after `SETTLE_S` of idle, and again at once.

    Every timed search of the benchmark starts after that pause. Each step
    runs twice in a row after a pause of its own: first on the idle machine,
    then with its code and data just used.
    """
    from sklearn_echo.device import effective_n_jobs
    from sklearn_echo.neighbors._validation import check_vectors

    faiss = import_faiss()
    unit = np.ascontiguousarray(bank / np.linalg.norm(bank, axis=1, keepdims=True), np.float32)
    index = faiss.IndexFlatIP(bank.shape[1])
    index.add(unit)
    pilot = np.ascontiguousarray(queries[:64])

    def normalise_and_add():
        b = bank.copy()
        faiss.normalize_L2(b)
        faiss.IndexFlatIP(bank.shape[1]).add(b)

    steps = {
        "faiss search of 64 queries, k + 8 candidates (one thread)": lambda: index.search(
            pilot, 5 + EXTRA_CANDIDATES),
        "check_vectors of the bank (float64 squared norms)": lambda: check_vectors(bank, "The bank"),
        "effective_n_jobs(2) (Python, through joblib)": lambda: effective_n_jobs(2),
        "raw faiss's normalise and add of the bank": normalise_and_add,
    }
    out = {}
    with faiss_threads(1), blas_from_few_queries(bank.shape[1]):
        for name, step in steps.items():
            step()
            pairs = []
            for _ in range(runs):
                time.sleep(SETTLE_S)
                pairs.append((_timed(step), _timed(step)))
            first, again = (1e3 * float(np.median(x)) for x in zip(*pairs))
            out[name] = (first, again)
    return out


def ranking_side_by_side(bank, queries, n_jobs, repeats):
    """Best ms of the float64 ranking of one thread's share of the queries, and of all shares at once."""
    index = NeighborIndex(metric="cosine", algorithm="brute", n_jobs=n_jobs).fit(bank)
    ind = index.kneighbors(queries, 5)[1]
    b = make_rows(np.ascontiguousarray(bank, np.float32), "cosine", None, "bank")
    q = make_rows(np.ascontiguousarray(queries, np.float32), "cosine", None, "queries")
    shares = np.array_split(np.arange(len(queries)), n_jobs)
    parts = [(q.take(rows), ind[rows]) for rows in shares]

    def rank(part):
        rank_candidates("cosine", part[0], b, part[1])

    def side_by_side():
        threads = [threading.Thread(target=rank, args=(part,)) for part in parts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    with one_blas_thread():
        alone = min(_timed(lambda: rank(parts[0])) for _ in range(repeats))
        together = min(_timed(side_by_side) for _ in range(repeats))
    return len(shares[0]), 1e3 * alone, 1e3 * together


def loop_rate_beside(work, seconds=0.5):
    """Iterations per second of a pure-Python loop while another thread calls ``work`` repeatedly."""
    stop = threading.Event()

    def background():
        while not stop.is_set():
            work()

    thread = threading.Thread(target=background)
    thread.start()
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        count += 1
    stop.set()
    thread.join()
    return count / seconds


_FIRST_SEARCH = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from sklearn_echo.neighbors import NeighborIndex
from sklearn_echo.neighbors._faiss import import_faiss
import_faiss()
t1 = time.perf_counter()
import sklearn_echo.neighbors._kernels
t2 = time.perf_counter()
rng = np.random.default_rng(0)
bank, queries = (rng.standard_normal((n, int(sys.argv[1]))).astype(np.float32) for n in (1000, 200))
times = []
for _ in range(2):
    t = time.perf_counter()
    NeighborIndex(metric="cosine", algorithm="brute").fit(bank).kneighbors(queries, 5)
    times.append(time.perf_counter() - t)
print(json.dumps({"faiss": t1 - t0, "kernels": t2 - t1, "first": times[0], "second": times[1]}))
"""


def first_search(dim):
    """Seconds of each step of a fresh process's first searches, numba's cache folder empty, then filled."""
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for _ in range(3):
            run = subprocess.run([sys.executable, "-c", _FIRST_SEARCH, str(dim)], env=env,
                                 capture_output=True, text=True, check=True)
            out.append(json.loads(run.stdout.strip().splitlines()[-1]))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-bank", type=int, default=1000)
    p.add_argument("--n-queries", type=int, default=2000)
    p.add_argument("--dim", type=int, default=2688)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--rows", type=int, default=12, help="functions listed")
    p.add_argument("--timeline", type=int, default=30, help="searches timed phase by phase")
    p.add_argument("--no-distances", action="store_true",
                   help="the exact search with return_distance=False throughout")
    args = p.parse_args(argv)
    exact = run_exact_indices if args.no_distances else run_exact
    X = make_data(args.n_bank + args.n_queries, args.dim, 64, 50, 0.5, 0)
    bank, queries = X[: args.n_bank], X[args.n_bank :]
    runs = {
        "exact": lambda: exact(bank, queries, 5, args.n_jobs),
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
    faiss = import_faiss()
    unit = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in (bank, queries)]
    index = faiss.IndexFlatIP(args.dim)
    index.add(unit[0])
    with faiss_threads(1):
        times = {}
        for kc in (5, 6, 5 + EXTRA_CANDIDATES):
            index.search(unit[1], kc)  # warm-up
            times[kc] = min(_timed(lambda kc=kc: index.search(unit[1], kc)) for _ in range(args.repeats))
            print(f"faiss search alone, one thread, {args.n_queries:,} queries, "
                  f"{kc} candidates: {times[kc] * 1e3:.1f} ms")
        extra = times[5 + EXTRA_CANDIDATES] / times[6] - 1
        print(f"  {5 + EXTRA_CANDIDATES} candidates instead of 6: {100 * extra:+.1f}% "
              f"(narrow_share's model, 64 / (64 + d): {100 * 64 / (64 + args.dim):.1f}%)")
        print("faiss search alone, one thread, ms per query, with faiss's default BLAS "
              f"threshold / from {BLAS_MIN_QUERIES} queries (blas_from_few_queries):")
        for nq in (1, 4, 8, 16, 64, 256):
            q = unit[1][:nq]
            per = []
            for scope in (nullcontext(), blas_from_few_queries(args.dim)):
                with scope:
                    index.search(q, 13)
                    per.append(min(_timed(lambda q=q: index.search(q, 13)) for _ in range(args.repeats)) / nq)
            print(f"  {nq:>4} queries: {per[0] * 1e3:.3f} / {per[1] * 1e3:.3f} ms")
    print(f"\ntimeline of {args.timeline} exact searches on {args.n_jobs} threads (median ms):")
    for key, value in timeline(bank, queries, args.n_jobs, args.timeline, not args.no_distances).items():
        print(f"  {key:<56} {value:7.2f}")
    raw = []
    for _ in range(args.timeline):
        time.sleep(SETTLE_S)
        raw.append(_timed(lambda: run_faiss(bank, queries, 5, args.n_jobs)))
    print(f"  {'raw faiss, the same way: median / best':<56} {1e3 * np.median(raw):7.2f} / {1e3 * min(raw):.2f}")
    print(f"\nsteps right after {1e3 * SETTLE_S:.0f} ms of idle, then again at once (median ms of "
          f"{args.timeline}):")
    for name, (first, again) in after_idle(bank, queries, args.timeline).items():
        print(f"  {name:<62} {first:6.3f} then {again:6.3f} ({first / again:.1f}x)")
    if args.n_jobs > 1:
        share, alone, together = ranking_side_by_side(bank, queries, args.n_jobs, args.repeats)
        print(f"\nfloat64 ranking of {share:,} queries x 5 neighbours (best of {args.repeats}): "
              f"alone {alone:.2f} ms; {args.n_jobs} such shares side by side on their own threads "
              f"{together:.2f} ms ({together / alone:.2f}x alone)")
    # a block of float64 products of candidate rows with their query's row
    rows = max(1, 2**18 // (5 * args.dim))
    cand = np.repeat(queries[:rows, None, :], 5, axis=1).astype(np.float64)
    own = queries[:rows, None, :].astype(np.float64)
    q = make_rows(np.ascontiguousarray(queries[:rows], np.float32), "cosine", None, "queries")
    b = make_rows(np.ascontiguousarray(bank, np.float32), "cosine", None, "bank")
    ind = np.random.default_rng(0).integers(0, len(bank), size=(rows, 5))
    idle = loop_rate_beside(lambda: time.sleep(0.001))
    for name, work in (("np.vecdot", lambda: np.vecdot(cand, own)),
                       ("the compiled ranking (rank_candidates)",
                        lambda: rank_candidates("cosine", q, b, ind))):
        print(f"a Python loop while another thread runs {name} on {rows} queries x 5: "
              f"{loop_rate_beside(work) / idle:.2f}x its speed beside a sleeping thread")
    print("\nfresh processes, one after the other, numba's cache folder empty at the first "
          "(ms: imports of sklearn_echo.neighbors and faiss; import of the compiled loops; "
          "first and second search of 200 queries in a 1,000-vector bank):")
    for i, t in enumerate(first_search(args.dim)):
        print(f"  process {i + 1}: imports {1e3 * t['faiss']:.0f}, compiled loops {1e3 * t['kernels']:.0f}, "
              f"first search {1e3 * t['first']:.1f}, second {1e3 * t['second']:.1f}")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(10):
        exact(bank, queries, 5, 1)
    profile.disable()
    print("\nexact search, n_jobs=1, 10 runs, by own time:")
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.rows)


if __name__ == "__main__":
    main()
