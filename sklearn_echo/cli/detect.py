"""``sklearn-echo detect``: score recordings for anomalies against normal ones.

The test files' labels, when their paths give them (`anomaly_label`), give the
AUC, the pAUC and the ROC plot.
"""

from __future__ import annotations

import csv
import sys

from .errors import CommandError
from .files import check_output, finish, load_recordings, skipped_files
from .labels import anomaly_label
from .options import (
    PATHS_HELP,
    add_command,
    add_neighbour_options,
    add_on_error,
    make_embedder,
)

__all__ = ["register"]


def register(sub, common):
    """Register ``detect`` and its options."""
    p = add_command(
        sub, "detect", _cmd_detect, common,
        help="score recordings for anomalies against normal ones",
        description="Fit a nearest-neighbour anomaly detector on the embeddings of normal "
        "recordings and score the test recordings (higher = more anomalous). When every "
        "test file's path says 'normal' or 'anomaly'/'abnormal' (in a folder name or the "
        "file name), print AUC and pAUC (max_fpr=0.1) and optionally plot the ROC curve.",
    )
    p.add_argument("--normal", nargs="+", required=True, metavar="PATH", help=f"normal recordings: {PATHS_HELP}")
    p.add_argument("--test", nargs="+", required=True, metavar="PATH", help=f"recordings to score: {PATHS_HELP}")
    p.add_argument(
        "-o", "--output", metavar="FILE.csv", help="CSV of path, anomaly_score, is_anomaly "
        "(and label when known; with skipped files, a 'skipped' column giving each one's "
        "reason); printed on stdout when omitted"
    )
    p.add_argument("--roc", metavar="FILE.png", help="ROC curve plot (needs labels and matplotlib)")
    add_neighbour_options(p, k=1, k_help="neighbours averaged")
    add_on_error(p)
    return p


def _cmd_detect(args) -> int:
    import numpy as np

    from ..metrics import DCASE_MAX_FPR, dcase_auc, dcase_pauc
    from ..neighbors import EchoKNNAnomalyDetector
    from ..signals import expand_paths

    check_output(args.output, "scores")
    check_output(args.roc, "ROC plot")
    test_paths = expand_paths(args.test)
    labels = [anomaly_label(p) for p in test_paths]
    known = [lab for lab in labels if lab is not None]
    have_labels = len(known) == len(labels) and len(set(known)) == 2
    if args.roc and not have_labels:
        unknown = [p for p, lab in zip(test_paths, labels) if lab is None]
        why = (
            f"{len(unknown)} test files have no label in their path (first: {unknown[0]})"
            if unknown
            else "the test files are all " + ("anomalous" if known[0] == 1 else "normal")
        )
        raise CommandError(
            f"--roc needs normal and anomalous test files labelled by their paths ('normal' "
            f"vs 'anomaly'/'abnormal' in a folder or file name), but {why}"
        )
    _, normal_signals = load_recordings(args, args.normal, scan=True, what="normal ")
    n_skipped_normal = len(skipped_files(args))
    test_paths, test_signals = load_recordings(args, test_paths, scan=True, what="test ")
    if skipped_files(args):
        labels = [anomaly_label(p) for p in test_paths]
        known = [lab for lab in labels if lab is not None]
        have_labels = len(known) == len(labels) and len(set(known)) == 2
        if args.roc and not have_labels:
            raise CommandError(
                "--roc needs normal and anomalous test files, but after the skipped ones "
                "only " + ("anomalous" if known and known[0] == 1 else "normal") + " ones are left"
            )
    # The embedder learns no statistics in fit, only the rates and channel count that
    # set its output width: fitted on both sets, test files may come at any rate.
    emb = make_embedder(args).fit(normal_signals + test_signals)
    X_normal = emb.transform(normal_signals)
    X_test = emb.transform(test_signals)
    det = EchoKNNAnomalyDetector(n_neighbors=args.k, metric=args.metric).fit(X_normal)
    scores = det.anomaly_score(X_test)
    flagged = det.predict(X_test) == -1

    rows = []
    for i, p in enumerate(test_paths):
        row = {"path": p, "anomaly_score": f"{scores[i]:.9g}", "is_anomaly": int(flagged[i])}
        if have_labels:
            row["label"] = "anomaly" if labels[i] == 1 else "normal"
        rows.append(row)
    fields = ["path", "anomaly_score", "is_anomaly"] + (["label"] if have_labels else [])
    if skipped_files(args):
        fields.append("skipped")
        for i, (path, reason) in enumerate(skipped_files(args)):
            if i < n_skipped_normal:
                reason = f"normal recording left out of the bank: {reason}"
            rows.append({"path": path, "anomaly_score": "", "is_anomaly": "", "skipped": reason})
    if args.output:
        with open(args.output, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        report = sys.stdout
        print(
            f"scored {len(rows)} test files against {len(normal_signals)} normal ones; "
            f"{int(flagged.sum())} flagged as anomalous; wrote {args.output}",
            file=report,
        )
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        report = sys.stderr
    if have_labels:
        from .plots import roc_plot

        y = np.asarray(labels, dtype=int)
        auc = dcase_auc(y, scores)
        pauc = dcase_pauc(y, scores, max_fpr=DCASE_MAX_FPR)
        print(f"AUC: {auc:.4f}", file=report)
        print(f"pAUC (max_fpr={DCASE_MAX_FPR:g}): {pauc:.4f}", file=report)
        if args.roc:
            roc_plot(args.roc, y, scores, auc, pauc, DCASE_MAX_FPR)
            print(f"wrote {args.roc}", file=report)
    elif known:
        print(
            f"no AUC: labels read from the paths of {len(known)} of {len(labels)} test files "
            "and both normal and anomalous ones are needed",
            file=report,
        )
    return finish(args)
