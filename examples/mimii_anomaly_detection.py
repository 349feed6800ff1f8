"""MIMII fan anomaly detection: distance to normal ECHO embeddings, AUC and pAUC.

Data: MIMII fan, machine id_00 (``mimii_fan_id00``): 20 normal and 20
abnormal 10 s clips at 16 kHz (channel 0 of the microphone array); the label
comes from the folder name.

Protocol (the DCASE memory-bank baseline): the first half of the normal clips
is the memory bank; the other normal clips and all abnormal ones are scored
by their cosine distance to the nearest bank embedding (k = 1). Prints AUC and
pAUC (false-positive rate <= 0.1) as the DCASE evaluators compute them and
writes ``mimii_roc.png`` to ``--out``. ``--quick`` uses the first 2 s of 14
clips.

Run::

    python examples/mimii_anomaly_detection.py --model echo-small
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.pipeline import make_pipeline

from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector
from sklearn_echo.metrics import anomaly_scores_of, dcase_auc, dcase_pauc
from sklearn_echo.signals import expand_paths, load_signals

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"),
                   help="folder holding mimii_fan_id00/ (default: ../shared/data)")
    p.add_argument("--model", default="echo-small", help="Hub id, alias or local checkpoint")
    p.add_argument("--quick", action="store_true", help="2 s crops of 14 clips")
    p.add_argument("--out", default=".", help="folder for the figure")
    return p.parse_args(argv)


def clips(files, seconds=None):
    """Files as they are, or their first ``seconds`` as (signal, rate) pairs."""
    if seconds is None:
        return list(files)
    return [(s.data[0, : int(seconds * s.sample_rate)], s.sample_rate) for s in load_signals(files)]


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(args.data) / "mimii_fan_id00"
    normal = expand_paths(root / "normal")
    abnormal = expand_paths(root / "abnormal")
    seconds = None
    if args.quick:
        normal, abnormal, seconds = normal[:10], abnormal[:4], 2.0
    bank, normal_test = normal[: len(normal) // 2], normal[len(normal) // 2:]
    test = normal_test + abnormal
    y_test = np.r_[np.zeros(len(normal_test), int), np.ones(len(abnormal), int)]  # 1 = anomaly

    detector = make_pipeline(EchoEmbedder(model=args.model), EchoKNNAnomalyDetector(n_neighbors=1))
    detector.fit(clips(bank, seconds))
    scores = anomaly_scores_of(detector, clips(test, seconds))  # higher = more anomalous
    auc, pauc = dcase_auc(y_test, scores), dcase_pauc(y_test, scores)
    print(f"memory bank: {len(bank)} normal clips; test: {len(normal_test)} normal, "
          f"{len(abnormal)} abnormal")
    print(f"AUC: {auc:.4f}")
    print(f"pAUC (max_fpr=0.1): {pauc:.4f}")
    flagged = detector.predict(clips(test, seconds)) == -1
    print(f"flagged as anomalous: {int(flagged[y_test == 1].sum())} of {len(abnormal)} abnormal, "
          f"{int(flagged[y_test == 0].sum())} of {len(normal_test)} normal")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import RocCurveDisplay

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    RocCurveDisplay.from_predictions(y_test, scores, ax=ax, name="ECHO 1-NN")
    ax.axvspan(0, 0.1, color="tab:orange", alpha=0.15, label=f"pAUC region ({pauc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_title("MIMII fan id_00")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = out / "mimii_roc.png"
    fig.savefig(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
