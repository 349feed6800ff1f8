"""CWRU bearing fault classification: ECHO embeddings + k-NN, k chosen by GridSearchCV.

Data: the eighteen 12 kHz drive-end recordings of the CWRU Bearing Data Center
(``cwru/12k_drive_end``): 9 fault classes (ball ``B``, inner race ``IR``,
outer race ``OR``, each at 0.007, 0.014 and 0.021 inch), each recorded at
motor loads 0 and 1 hp. The class is read from the file name
(``12k_Drive_End_IR014_1_170.mat`` -> ``IR014``, load 1).

Protocol: every recording is cut into non-overlapping segments (1 s; 0.5 s
with ``--quick``), one sample each. The model is trained on the recordings of
one load and tested on those of the other (cross-load generalisation); the
number of neighbours is chosen by ``GridSearchCV`` on the training load only.
Writes ``cwru_confusion.png`` (pooled test predictions) to ``--out``.

Run::

    python examples/cwru_fault_classification.py --model echo-small
    python examples/cwru_fault_classification.py --quick --model /path/to/model.safetensors
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from sklearn_echo import EchoEmbedder, EchoKNNClassifier
from sklearn_echo.signals import expand_paths, load_signals

ROOT = Path(__file__).resolve().parents[1]
RATE = 12000
NAME = re.compile(r"_(?P<fault>B|IR|OR)(?P<size>\d{3})(?:@\d+)?_(?P<load>\d)_\d+\.mat$")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"),
                   help="folder holding cwru/ (default: ../shared/data next to the repository)")
    p.add_argument("--model", default="echo-small", help="Hub id, alias or local checkpoint")
    p.add_argument("--quick", action="store_true", help="short segments, a few per file")
    p.add_argument("--out", default=".", help="folder for the figure")
    return p.parse_args(argv)


def segment_dataset(files, seconds, per_file=None):
    """(signal, rate) segments of every file, their class and the load they were recorded at."""
    X, y, load = [], [], []
    for signal, path in zip(load_signals(files, RATE), files):
        m = NAME.search(Path(path).name)
        n = int(seconds * RATE)
        count = signal.n_samples // n
        if per_file is not None:
            count = min(count, per_file)
        for j in range(count):
            X.append((signal.data[0, j * n:(j + 1) * n], RATE))
            y.append(m["fault"] + m["size"])
            load.append(int(m["load"]))
    return X, np.array(y), np.array(load)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = expand_paths(Path(args.data) / "cwru" / "12k_drive_end", extensions=[".mat"])
    seconds, per_file = (0.5, 4) if args.quick else (1.0, None)
    X, y, load = segment_dataset(files, seconds, per_file)
    print(f"{len(files)} recordings, {len(X)} segments of {seconds:g} s, "
          f"{len(set(y))} classes, loads {sorted(int(v) for v in set(load))}")

    pipe = Pipeline([
        ("echo", EchoEmbedder(model=args.model)),  # embeddings are cached: each segment once
        ("knn", EchoKNNClassifier()),
    ])
    grid = {"knn__n_neighbors": [1, 3, 5, 7]}
    pred = np.empty_like(y)
    accuracies = []
    for train_load in sorted(set(load)):
        train, test = load == train_load, load != train_load
        X_train = [x for x, t in zip(X, train) if t]
        X_test = [x for x, t in zip(X, test) if t]
        # The inner folds mix segments of the same recording; they only rank k.
        search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0))
        search.fit(X_train, y[train])
        pred[test] = search.predict(X_test)
        acc = float(np.mean(pred[test] == y[test]))
        accuracies.append(acc)
        k = search.best_params_["knn__n_neighbors"]
        print(f"train load {train_load} -> test other load: best k = {k} "
              f"(inner CV accuracy {search.best_score_:.3f}), test accuracy: {acc:.4f}")
    print(f"mean cross-load accuracy: {np.mean(accuracies):.4f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(7, 7), dpi=110)
    ConfusionMatrixDisplay.from_predictions(y, pred, ax=ax, colorbar=False, xticks_rotation=45)
    ax.set_title(f"CWRU 12 kHz, cross-load: accuracy {np.mean(pred == y):.3f}")
    fig.tight_layout()
    path = out / "cwru_confusion.png"
    fig.savefig(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
