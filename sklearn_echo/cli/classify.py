"""``sklearn-echo classify``: cross-validated k-NN fault classification of labelled recordings.

Labels come from the files' folders or a regular expression (`class_labels`);
with ``--segment`` every recording is cut into segments, each one a sample, and
the folds keep the segments of a recording together.
"""

from __future__ import annotations

import csv

from .errors import EXIT_OK, CommandError
from .files import check_output, check_recordings, load_recordings
from .labels import class_labels
from .options import (
    PATHS_HELP,
    add_command,
    add_neighbour_options,
    cv_folds,
    make_embedder,
    positive_float,
)

__all__ = ["register", "segments"]


def register(sub, common):
    """Register ``classify`` and its options."""
    p = add_command(
        sub, "classify", _cmd_classify, common,
        help="cross-validate k-NN fault classification",
        description="Cross-validate a k-nearest-neighbour classifier on the embeddings of "
        "labelled recordings (the protocol of the ECHO paper's SIREN benchmark: "
        "leave-one-out or k-fold) and print the accuracy overall and per class.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATHS_HELP)
    p.add_argument(
        "--labels-from",
        default="folder",
        metavar="folder|REGEX",
        help="'folder' (the folder holding each file, the default) or a regular expression "
        "searched in each file's path; the label is its group 'label', else its groups "
        "joined, else the whole match",
    )
    p.add_argument(
        "--cv", type=cv_folds, default="loo", metavar="loo|K",
        help="leave-one-out or stratified K-fold (default: %(default)s)",
    )
    add_neighbour_options(p, k=5, k_help="neighbours that vote")
    p.add_argument(
        "--segment",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="cut every recording into non-overlapping segments of this length, each one a "
        "sample; the folds keep the segments of a recording together",
    )
    p.add_argument("--seed", type=int, default=0, help="shuffling of the K folds (default: %(default)s)")
    p.add_argument("--confusion", metavar="FILE.png", help="confusion-matrix plot (needs matplotlib)")
    p.add_argument("-o", "--output", metavar="FILE.csv", help="CSV of path, label, predicted")
    return p


def segments(signals, paths, seconds: float):
    """Cut signals into non-overlapping segments; returns (signals, file index per segment).

    Each segment is a view of its recording, named ``"<path> [a-b s]"``.
    """
    import numpy as np

    from ..signals import Signal

    out, owner = [], []
    for i, s in enumerate(signals):
        n = int(round(seconds * s.sample_rate))
        count = s.n_samples // n if n > 0 else 0
        if count == 0:
            raise CommandError(
                f"{paths[i]} lasts {s.duration:.3g} s, shorter than one --segment of {seconds:g} s"
            )
        for j in range(count):
            out.append(
                Signal(
                    data=s.data[:, j * n:(j + 1) * n],
                    sample_rate=s.sample_rate,
                    source=f"{paths[i]} [{j * seconds:g}-{(j + 1) * seconds:g} s]",
                    path=s.path,
                )
            )
            owner.append(i)
    return out, np.asarray(owner)


def _cmd_classify(args) -> int:
    import numpy as np
    from sklearn.model_selection import (
        LeaveOneGroupOut,
        LeaveOneOut,
        StratifiedGroupKFold,
        StratifiedKFold,
        cross_val_predict,
    )

    from ..neighbors import EchoKNNClassifier
    from ..signals import expand_paths

    check_output(args.output, "predictions")
    check_output(args.confusion, "confusion-matrix plot")
    paths = expand_paths(args.paths)
    file_labels = class_labels(paths, args.labels_from)
    if len(set(file_labels)) < 2:
        raise CommandError(
            f"--labels-from {args.labels_from!r} gives a single class ({file_labels[0]!r}) "
            f"for all {len(paths)} files; classification needs at least two"
        )
    _, signals = load_recordings(args, paths)
    if args.segment:
        samples, owner = segments(signals, paths, args.segment)
    else:
        samples, owner = signals, np.arange(len(signals))
    y = np.asarray(file_labels, dtype=object)[owner].astype(str)
    # checked here, so that errors name each sample by its file
    X = make_embedder(args).fit_transform(check_recordings(args, samples))

    grouped = args.segment is not None
    if args.cv == "loo":
        cv = LeaveOneGroupOut() if grouped else LeaveOneOut()
        cv_name = "leave-one-file-out" if grouped else "leave-one-out"
    else:
        splitter = StratifiedGroupKFold if grouped else StratifiedKFold
        cv = splitter(n_splits=args.cv, shuffle=True, random_state=args.seed)
        cv_name = f"stratified {args.cv}-fold" + (" (files kept whole)" if grouped else "")
    clf = EchoKNNClassifier(n_neighbors=args.k, metric=args.metric)
    pred = cross_val_predict(clf, X, y, cv=cv, groups=owner if grouped else None)

    classes = sorted(set(y))
    unit = "segments" if grouped else "files"
    print(
        f"k-NN (k={args.k}, {args.metric}) {cv_name} cross-validation: {len(y)} {unit}"
        + (f" from {len(paths)} files" if grouped else "")
        + f", {len(classes)} classes, {X.shape[1]} features"
    )
    width = max(len("overall"), *(len(c) for c in classes))
    print(f"{'class':<{width}}  {'n':>5}  {'correct':>7}  {'accuracy':>8}")
    for c in classes:
        mask = y == c
        correct = int(np.sum(pred[mask] == c))
        print(f"{c:<{width}}  {int(mask.sum()):>5}  {correct:>7}  {correct / mask.sum():>8.4f}")
    correct = int(np.sum(pred == y))
    accuracy = correct / len(y)
    print(f"{'overall':<{width}}  {len(y):>5}  {correct:>7}  {accuracy:>8.4f}")
    print(f"accuracy: {accuracy:.4f}")
    if args.output:
        with open(args.output, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "label", "predicted"])
            for i in range(len(y)):
                writer.writerow([samples[i].source if grouped else paths[i], y[i], pred[i]])
        print(f"wrote {args.output}")
    if args.confusion:
        from .plots import confusion_plot

        confusion_plot(
            args.confusion, y, pred, classes,
            f"k-NN (k={args.k}) {cv_name}: accuracy {accuracy:.3f}",
        )
        print(f"wrote {args.confusion}")
    return EXIT_OK
