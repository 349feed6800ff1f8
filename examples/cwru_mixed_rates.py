"""12 kHz and 48 kHz CWRU recordings in one model: band layouts across sampling rates.

ECHO splits the spectrum into bands of about 1280 Hz, so a 12 kHz recording
has 5 bands and a 48 kHz one 19: the reference embedding (``band_layout=
"concat"``) has a different width at each rate. ``"relative"`` and ``"hz"``
give one width for any mix of rates:

- ``relative``: slots on a grid of frequency relative to Nyquist (the grid of
  the lowest rate seen in ``fit``);
- ``hz`` (the default): slots on absolute frequency (band ``b`` covers the
  same Hz at every rate), over the range every fitted rate covers.

Data: CWRU drive-end recordings of the same 9 fault classes at 12 kHz
(``cwru/12k_drive_end``, loads 0 and 1) and 48 kHz (``cwru/48k_drive_end``,
load 0). ``.mat`` files store no rate, so each segment is a (signal, rate)
pair. The embedder is fitted on both rates (``fit`` learns no statistics,
only the rates that set the layout's grid), then three protocols per layout,
k-NN with k = 5 on 1 s segments (0.5 s and fewer with ``--quick``): train on
12 kHz and test on 48 kHz, the reverse, and both rates mixed (3-fold
cross-validation keeping each recording's segments in one fold). Writes
``cwru_mixed_rates.png`` to ``--out``.

Run::

    python examples/cwru_mixed_rates.py --model echo-small
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

from sklearn_echo import EchoEmbedder, EchoKNNClassifier
from sklearn_echo.signals import expand_paths, load_signals

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"_(?P<fault>B|IR|OR)(?P<size>\d{3})")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"),
                   help="folder holding cwru/ (default: ../shared/data)")
    p.add_argument("--model", default="echo-small", help="Hub id, alias or local checkpoint")
    p.add_argument("--quick", action="store_true", help="short segments, a few per file")
    p.add_argument("--out", default=".", help="folder for the figure")
    return p.parse_args(argv)


def segments(folder, rate, seconds, per_file):
    """(signal, rate) segments of every .mat file in ``folder``, class and recording index."""
    files = expand_paths(folder, extensions=[".mat"])
    X, y, group = [], [], []
    for i, signal in enumerate(load_signals(files, rate)):
        n = int(seconds * rate)
        count = min(max(signal.n_samples // n, 1), per_file or 10**9)
        m = NAME.search(Path(files[i]).name)
        for j in range(count):
            X.append((signal.data[0, j * n:(j + 1) * n], rate))
            y.append(m["fault"] + m["size"])
            group.append(f"{rate}:{i}")
    return X, np.array(y), np.array(group)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cwru = Path(args.data) / "cwru"
    seconds, per_file = (0.5, 3) if args.quick else (1.0, None)
    X12, y12, g12 = segments(cwru / "12k_drive_end", 12000, seconds, per_file)
    X48, y48, g48 = segments(cwru / "48k_drive_end", 48000, seconds, per_file)
    X_all, y_all, g_all = X12 + X48, np.r_[y12, y48], np.r_[g12, g48]
    print(f"12 kHz: {len(X12)} segments, 48 kHz: {len(X48)} segments of {seconds:g} s")

    try:
        EchoEmbedder(model=args.model, band_layout="concat").fit_transform(X_all)
    except ValueError as exc:
        print(f"band_layout='concat' cannot mix rates: {str(exc).splitlines()[0][:100]}...")

    results = {}
    for layout in ("hz", "relative"):
        # fit learns no statistics, only the rates that set the layout's frequency
        # grid: fitting it on both rates lets a 48 kHz bank be queried at 12 kHz.
        echo = EchoEmbedder(model=args.model, band_layout=layout).fit(X_all)
        E12, E48 = echo.transform(X12), echo.transform(X48)
        knn = EchoKNNClassifier(n_neighbors=5)
        acc = {
            "12k -> 48k": knn.fit(E12, y12).score(E48, y48),
            "48k -> 12k": knn.fit(E48, y48).score(E12, y12),
        }
        cv = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=0)
        pred = cross_val_predict(knn, np.vstack([E12, E48]), y_all, groups=g_all, cv=cv)
        acc["mixed 3-fold"] = float(np.mean(pred == y_all))
        results[layout] = acc
        for name, value in acc.items():
            print(f"{layout:>8}  {name:<13} accuracy: {value:.4f}")
        print(f"{layout:>8}  embedding width at both rates: {echo.n_features_out_}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(next(iter(results.values())))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for i, (layout, acc) in enumerate(results.items()):
        xs = np.arange(len(names)) + (i - 0.5) * 0.38
        bars = ax.bar(xs, [acc[n] for n in names], width=0.36, label=f"band_layout={layout!r}")
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy (9 classes)")
    ax.set_title("CWRU across sampling rates, k-NN on ECHO embeddings")
    ax.axhline(1 / 9, color="grey", linestyle=":", label="chance (1/9)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = out / "cwru_mixed_rates.png"
    fig.savefig(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
