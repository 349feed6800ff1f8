"""faiss's BLAS kernels: as its OpenBLAS detects them, AVX2, and as the package loads them.

The ``faiss-cpu`` wheel brings its own OpenBLAS, which picks its kernels for
the CPU once, when it is loaded, so the variants cannot share one process:
each runs in a child process of its own, the children alternate, and the
parent prints the best times and ratios. The variants:

1. ``detected``: ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset, faiss
   imported directly: the kernels OpenBLAS picks by itself;
2. ``haswell``: ``OPENBLAS_CORETYPE=Haswell`` (AVX2), faiss imported
   directly;
3. ``package``: both variables unset, faiss loaded by
   ``sklearn_echo.neighbors._faiss.import_faiss``, which chooses the AVX-512
   kernels (``SkylakeX``) on a CPU that has them.

Each child times, on banks of 1,000 vectors at 384 and 2,688 dimensions
(``bench_knn.make_data``, noise 0.5) and 2,000 queries, k = 5, cosine, two
threads, ``bench_knn.SETTLE_S`` of idle before each run (as ``bench_knn.py``): raw faiss
(normalise, ``IndexFlatIP`` add + search) and ``NeighborIndex(algorithm="brute")``
fit + kneighbors. It also checks the kernels' results: the largest error of
faiss's inner products against float64 products of the same float32 unit rows
(relative to float32's epsilon), and the share of queries whose exact-search
neighbours equal a float64 brute force's.

Run (the machine's own settings of the two variables are replaced in the
children only)::

    python benchmarks/bench_blas_kernels.py
    python benchmarks/bench_blas_kernels.py --rounds 3 --repeats 20
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VARIANTS = {
    "detected": ({"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}, "raw"),
    "haswell": ({"OPENBLAS_CORETYPE": "Haswell"}, "raw"),
    "package": ({"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}, "package"),
}
DIMS = (384, 2688)


def child(load, repeats):
    """Time raw faiss and the exact search in this process; print one JSON line."""
    if load == "package":
        from sklearn_echo.neighbors._faiss import import_faiss

        faiss = import_faiss()
    else:
        import faiss
    sys.path.insert(0, str(HERE))
    from bench_knn import (
        SETTLE_S,
        blas_kernels,
        faiss_scores,
        make_data,
        run_exact,
        run_faiss,
    )

    out = {"kernels": blas_kernels(), "env": os.environ.get("OPENBLAS_CORETYPE")}
    for dim in DIMS:
        data = make_data(3000, dim, 64, 50, 0.5, 0)
        bank, queries = data[:1000], data[1000:]
        run_faiss(bank, queries, 5, 2), run_exact(bank, queries, 5, 2)  # loads, first calls
        best = {"faiss": np.inf, "exact": np.inf}
        for r in range(repeats):
            for name, fn in (("faiss", run_faiss), ("exact", run_exact))[:: 1 if r % 2 else -1]:
                time.sleep(SETTLE_S)
                t0 = time.perf_counter()
                fn(bank, queries, 5, 2)
                best[name] = min(best[name], time.perf_counter() - t0)
        # the kernels' results: faiss's scores against float64 products of the same unit rows
        scores, ind = faiss_scores(bank, queries, 5, 2)
        b, q = bank.copy(), queries.copy()
        faiss.normalize_L2(b)  # the float32 unit rows faiss searched
        faiss.normalize_L2(q)
        exact = np.take_along_axis(q.astype(np.float64) @ b.astype(np.float64).T, ind, 1)
        error = float(np.max(np.abs(scores - exact))) / float(np.finfo(np.float32).eps)
        b64 = bank.astype(np.float64) / np.linalg.norm(bank.astype(np.float64), axis=1, keepdims=True)
        q64 = queries.astype(np.float64)
        truth = np.argsort(-(q64 @ b64.T), axis=1, kind="stable")[:, :5]
        same = float(np.mean(np.all(run_exact(bank, queries, 5, 2) == truth, axis=1)))
        out[str(dim)] = {**best, "score_error_eps": error, "same_as_float64": same}
    print(json.dumps(out))


def run_child(variant, repeats):
    changes, load = VARIANTS[variant]
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    cmd = [sys.executable, __file__, "--child", load, "--repeats", str(repeats)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="children per variant, alternated")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per method in a child")
    parser.add_argument("--child", choices=["raw", "package"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.repeats)
        return
    results = {v: [] for v in VARIANTS}
    for r in range(args.rounds):
        for v in list(VARIANTS)[:: 1 if r % 2 == 0 else -1]:
            results[v].append(run_child(v, args.repeats))
    print(f"{os.cpu_count()} CPUs; 1,000-vector banks, 2,000 queries, k = 5, cosine, 2 threads; "
          f"best of {args.rounds} children x {args.repeats} runs\n")
    print("| variant | faiss's OpenBLAS kernels | dim | raw faiss (ms) | exact (ms) | raw faiss: "
          "this / package | exact: this / package | score error (float32 eps) | exact = float64 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    best = {v: {d: {m: min(run[str(d)][m] for run in results[v]) for m in ("faiss", "exact")}
                for d in DIMS} for v in VARIANTS}
    for v in VARIANTS:
        faiss_lib = [k for k in results[v][0]["kernels"].split(", ") if k.startswith("libopenblas")]
        for d in DIMS:
            t, p = best[v][d], best["package"][d]
            err = max(run[str(d)]["score_error_eps"] for run in results[v])
            same = min(run[str(d)]["same_as_float64"] for run in results[v])
            print(f"| {v} | {', '.join(faiss_lib) or results[v][0]['kernels']} | {d:,} | "
                  f"{t['faiss'] * 1e3:.2f} | {t['exact'] * 1e3:.2f} | {t['faiss'] / p['faiss']:.2f}x | "
                  f"{t['exact'] / p['exact']:.2f}x | {err:.1f} | {same:.4f} |")
    for v in VARIANTS:
        ratios = [best[v][d]["faiss"] / best["package"][d]["faiss"] for d in DIMS]
        print(f"\n{v}: raw faiss takes {min(ratios):.2f}-{max(ratios):.2f}x the package's time", end="")
    print()


if __name__ == "__main__":
    main()
