"""DEGram against fixed front ends on CWRU: load 0 -> load 1, and 12 kHz -> 48 kHz.

Every model is a :class:`~sklearn_echo.degram.DEGramClassifier` with the same
small CNN backbone, training recipe (40 epochs of random 1 s crops, AdamW,
cosine schedule, batch 32, one torch thread) and seeds; only the front end
changes:

* ``degram``: learnable SincGram (64 filters, mel-initialised) + TF-DE
  attention (maxout), global normalisation (the classifier's default);
* ``degram-freqnorm``: the same with the paper's per-frequency normalisation;
* ``sincgram-only``: learnable SincGram, no attention;
* ``fixed-mel``: the SincGram frozen at its mel initialisation, no attention;
* ``log-stft``: the plain log power STFT (257 bins at 12 kHz), no filterbank,
  no attention (the classifier refuses this combination; the benchmark
  allows it through a subclass).

Protocol: train on the nine 12 kHz drive-end fault recordings at load 0
(labels from the file names); accuracy per non-overlapping 1 s window of the
nine load 1 recordings (90 windows) and per file (windows averaged); the
same trained model on the 48 kHz load 0 recordings (41 windows), without
resampling. Training time per epoch is measured in the same process, one
model after the other, so the ratios compare like with like. A last section
times one epoch with 1 and with 2 torch threads (``n_jobs``).

Run::

    python benchmarks/bench_degram.py                 # 3 seeds, all front ends
    python benchmarks/bench_degram.py --quick         # 1 seed, 8 epochs (smoke test)
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import numpy as np

from sklearn_echo.degram import DEGramClassifier
from sklearn_echo.signals import load_signals

ROOT = Path(__file__).resolve().parents[1]
LABEL = re.compile(r"_Drive_End_(?P<label>.+?)_(?P<load>\d)_\d+\.mat$")

CONFIGS = {
    "degram": dict(),
    "degram-freqnorm": dict(normalization="frequency"),
    "sincgram-only": dict(attention=False),
    "fixed-mel": dict(train_filterbank=False, attention=False),
    "log-stft": dict(sincgram=False, attention=False),
}


class PlainFrontendClassifier(DEGramClassifier):
    """DEGramClassifier that also accepts sincgram=False, attention=False (the log-STFT baseline)."""

    _allow_plain_frontend = True


def recordings(folder: Path, load: int):
    paths = sorted(p for p in folder.glob("*.mat") if int(LABEL.search(p.name)["load"]) == load)
    return [str(p) for p in paths], np.array([LABEL.search(p.name)["label"] for p in paths])


def windows(paths, labels, rate):
    W, Y = [], []
    n = int(rate)
    for s, label in zip(load_signals(paths, rate), labels):
        for k in range(s.n_samples // n):
            W.append(s.data[0, k * n:(k + 1) * n])
            Y.append(label)
    return np.stack(W), np.array(Y)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--quick", action="store_true", help="seed 0 only, 8 epochs")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = [0], 8

    cwru = Path(args.data) / "cwru"
    train = recordings(cwru / "12k_drive_end", 0)
    test_paths, test_labels = recordings(cwru / "12k_drive_end", 1)
    W1, Y1 = windows(test_paths, test_labels, 12000)
    paths48, labels48 = recordings(cwru / "48k_drive_end", 0)
    W48, Y48 = windows(paths48, labels48, 48000)
    print(f"CPU cores: {os.cpu_count()}; load average (1, 5, 15 min): "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"train: {len(train[0])} files (12 kHz, load 0); test: {len(W1)} windows (load 1), "
          f"{len(W48)} windows (48 kHz); seeds {args.seeds}; {args.epochs} epochs\n")

    rows = []
    header = f"{'front end':16s} {'seed':>4s} {'load1/win':>9s} {'load1/file':>10s} {'48k/win':>8s} {'s/epoch':>8s} {'fit s':>6s}"
    print(header)
    for name in args.configs:
        for seed in args.seeds:
            clf = PlainFrontendClassifier(
                sample_rate=12000, max_epochs=args.epochs, random_state=seed, **CONFIGS[name]
            )
            t0 = time.perf_counter()
            clf.fit(*train)
            fit_s = time.perf_counter() - t0
            r = dict(
                name=name,
                seed=seed,
                win=clf.score(W1, Y1, sample_rate=12000),
                file=clf.score(test_paths, test_labels, sample_rate=12000),
                w48=clf.score(W48, Y48, sample_rate=48000),
                epoch=clf.epoch_time_,
                fit=fit_s,
            )
            rows.append(r)
            print(f"{name:16s} {seed:4d} {r['win']:9.3f} {r['file']:10.3f} {r['w48']:8.3f} "
                  f"{r['epoch']:8.2f} {r['fit']:6.1f}", flush=True)

    print("\nsummary (mean +- std over seeds; epoch time relative to degram)")
    ref = np.mean([r["epoch"] for r in rows if r["name"] == "degram"]) if any(
        r["name"] == "degram" for r in rows) else None
    print(f"| front end | load 1 per window | load 1 per file | 48 kHz per window | s / epoch | x degram |")
    print("|---|---|---|---|---|---|")
    for name in args.configs:
        rs = [r for r in rows if r["name"] == name]
        def ms(key):
            v = np.array([r[key] for r in rs])
            return f"{v.mean():.3f} +- {v.std():.3f}"
        ep = np.mean([r["epoch"] for r in rs])
        ratio = f"{ep / ref:.2f}" if ref else "-"
        print(f"| {name} | {ms('win')} | {ms('file')} | {ms('w48')} | {ep:.2f} | {ratio} |")

    print("\ntorch threads (n_jobs), degram, 3 epochs each, alternated twice:")
    times = {1: [], 2: []}
    for _ in range(2):
        for n_jobs in (1, 2):
            clf = DEGramClassifier(sample_rate=12000, max_epochs=3, random_state=0, n_jobs=n_jobs)
            clf.fit(*train)
            times[n_jobs].append(clf.epoch_time_)
    t1, t2 = np.median(times[1]), np.median(times[2])
    print(f"n_jobs=1: {t1:.2f} s/epoch; n_jobs=2: {t2:.2f} s/epoch; speed-up of 2 threads: {t1 / t2:.2f}x")
    print(f"CPU cores: {os.cpu_count()}; load average (1, 5, 15 min): "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
