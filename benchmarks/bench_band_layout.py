"""Which band layout works best when one model sees 12 kHz and 48 kHz recordings?

CWRU bearing data: the same 9 fault classes recorded at 12 kHz (drive end,
loads 0 and 1) and at 48 kHz (drive end, load 0). Every recording is cut into
non-overlapping 1 s windows, embedded with EchoEmbedder under each fixed-width
band layout, and scored with the paper's k-NN protocol (k = 5, cosine):

* ``12k->48k``: memory bank of 12 kHz windows (load 0), queries at 48 kHz (load 0).
* ``48k->12k``: the reverse.
* ``mixed 5-fold``: stratified 5-fold cross-validation over all windows of both rates.
* ``12k load0->load1``: same rate, different motor load (``concat`` included).

Run::

    python benchmarks/bench_band_layout.py --model echo-small            # real weights
    python benchmarks/bench_band_layout.py --model ../shared/fixtures/echo_reference/tiny_echo.safetensors
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score

from sklearn_echo import EchoEmbedder
from sklearn_echo.neighbors import EchoKNNClassifier
from sklearn_echo.signals import load_signals

ROOT = Path(__file__).resolve().parents[1]
LABEL = re.compile(r"Drive_End_(B|IR|OR)(\d{3})(?:@6)?_(\d)_")


def windows(folder: Path, rate: float, seconds: float, max_per_file: int | None):
    """1 s windows of every CWRU file of a folder: (signals, labels, loads)."""
    files = sorted(folder.glob("*.mat"))
    sigs = load_signals([str(f) for f in files], rate)
    X, y, load = [], [], []
    n = int(seconds * rate)
    for f, s in zip(files, sigs):
        m = LABEL.search(f.name)
        label = f"{m.group(1)}{m.group(2)}"
        x = s.data[0]
        count = len(x) // n if max_per_file is None else min(len(x) // n, max_per_file)
        for i in range(count):
            X.append((x[i * n : (i + 1) * n], rate))
            y.append(label)
            load.append(int(m.group(3)))
    return X, np.array(y), np.array(load)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="echo-small")
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"))
    p.add_argument("--dtype", default="float32")
    p.add_argument("--max-windows", type=int, default=None, help="windows per file (default: all)")
    p.add_argument("--k", type=int, default=5)
    args = p.parse_args(argv)
    cwru = Path(args.data) / "cwru"
    X12, y12, load12 = windows(cwru / "12k_drive_end", 12000.0, 1.0, args.max_windows)
    X48, y48, _ = windows(cwru / "48k_drive_end", 48000.0, 1.0, args.max_windows)
    print(f"windows: 12 kHz {len(X12)} (load 0: {(load12 == 0).sum()}), 48 kHz {len(X48)}; "
          f"classes {len(set(y12))}; model {args.model}")
    X12_0 = [x for x, l in zip(X12, load12) if l == 0]
    y12_0 = y12[load12 == 0]
    X12_1 = [x for x, l in zip(X12, load12) if l == 1]
    y12_1 = y12[load12 == 1]
    knn = EchoKNNClassifier(n_neighbors=args.k, metric="cosine", algorithm="brute")
    rows = []
    for layout in ("relative", "hz", "mean", "concat"):
        t0 = time.perf_counter()
        emb = EchoEmbedder(model=args.model, band_layout=layout, dtype=args.dtype)
        row = {"layout": layout}
        e12_0 = emb.fit(X12_0).transform(X12_0)
        e12_1 = emb.transform(X12_1)
        row["12k load0->load1"] = knn.fit(e12_0, y12_0).score(e12_1, y12_1)
        if layout != "concat":
            emb.fit(X12_0 + X48)
            a = emb.transform(X12_0)
            b = emb.transform(X48)
            row["12k->48k"] = knn.fit(a, y12_0).score(b, y48)
            row["48k->12k"] = knn.fit(b, y48).score(a, y12_0)
            allX = np.concatenate([a, b])
            ally = np.concatenate([y12_0, y48])
            cv = StratifiedKFold(5, shuffle=True, random_state=0)
            row["mixed 5-fold"] = cross_val_score(knn, allX, ally, cv=cv).mean()
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(row, flush=True)
    cols = ["layout", "12k load0->load1", "12k->48k", "48k->12k", "mixed 5-fold", "seconds"]
    print("\n| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "n/a")
            cells.append(f"{v:.3f}" if isinstance(v, float) and c != "seconds" else
                         (f"{v:.0f}" if isinstance(v, float) else str(v)))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
