"""``sklearn-echo classify``: cross-validated k-NN fault classification of labelled recordings.

Labels come from the files' folders or a regular expression (`class_labels`);
with ``--segment`` every recording is cut into segments, each one a sample, and
the folds keep the segments of a recording together. ``--preset`` applies the
SIREN benchmark's settings (`sklearn_echo.cli.presets`); ``--split-list``
evaluates on a given train/test list instead of cross-validating.
"""

from __future__ import annotations

import csv

from .errors import CommandError
from .files import (
    check_output,
    check_recordings,
    finish,
    load_recordings,
    skipped_files,
)
from .labels import class_labels
from .options import (
    PATHS_HELP,
    add_command,
    add_neighbour_options,
    add_on_error,
    cv_folds,
    make_embedder,
    positive_float,
)
from .presets import PRESETS, apply_preset, read_split_list

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
    p.add_argument(
        "paths", nargs="*", metavar="PATH",
        help=f"{PATHS_HELP} (none with --split-list, which names the files)",
    )
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
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="the SIREN benchmark's setting for a dataset (ECHO paper, Table 1): k = 5 on "
        "whole files; leave-one-out for cwru and mafaulda, stratified 5-fold for iica, the "
        "official train/test list (--split-list) for iiee; prints the accuracy as the "
        "paper's Table 2 reports it",
    )
    p.add_argument(
        "--split-list",
        metavar="FILE.csv",
        default=None,
        help="evaluate on a train/test list instead of cross-validating: a CSV with a header "
        "and the columns path (relative to the list's folder), split (train or test) and "
        "optionally label (else labels come from --labels-from)",
    )
    p.add_argument("--confusion", metavar="FILE.png", help="confusion-matrix plot (needs matplotlib)")
    p.add_argument(
        "-o", "--output", metavar="FILE.csv",
        help="CSV of path, label, predicted (and 'skipped' with the reason of each skipped file)",
    )
    add_on_error(p)
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


def _files_and_labels(args):
    """The files, their labels and their splits (None when cross-validating)."""
    from ..signals import expand_paths

    if args.split_list:
        if args.paths:
            raise CommandError(
                "--split-list names the files; give no PATH with it (relative paths in the "
                "list are taken from the list's folder)"
            )
        paths, splits, labels = read_split_list(args.split_list)
        if labels is None:
            labels = class_labels(paths, args.labels_from)
        return paths, labels, splits
    if not args.paths:
        raise CommandError("classify needs recordings: give PATH arguments or --split-list FILE.csv")
    paths = expand_paths(args.paths)
    return paths, class_labels(paths, args.labels_from), None


def _cross_validation(args, grouped):
    from sklearn.model_selection import (
        LeaveOneGroupOut,
        LeaveOneOut,
        StratifiedGroupKFold,
        StratifiedKFold,
    )

    if args.cv == "loo":
        cv = LeaveOneGroupOut() if grouped else LeaveOneOut()
        return cv, "leave-one-file-out" if grouped else "leave-one-out"
    splitter = StratifiedGroupKFold if grouped else StratifiedKFold
    cv = splitter(n_splits=args.cv, shuffle=True, random_state=args.seed)
    return cv, f"stratified {args.cv}-fold" + (" (files kept whole)" if grouped else "")


def _cmd_classify(args) -> int:
    import numpy as np
    from sklearn.model_selection import cross_val_predict

    from ..neighbors import EchoKNNClassifier

    preset = apply_preset(args)
    check_output(args.output, "predictions")
    check_output(args.confusion, "confusion-matrix plot")
    paths, file_labels, splits = _files_and_labels(args)
    if len(set(file_labels)) < 2:
        raise CommandError(
            f"--labels-from {args.labels_from!r} gives a single class ({file_labels[0]!r}) "
            f"for all {len(paths)} files; classification needs at least two"
        )
    _, signals = load_recordings(args, paths)
    if signals.skipped:
        left_out = {item.index for item in signals.skipped}
        kept = [i for i in range(len(paths)) if i not in left_out]
        skipped_labels = {paths[i]: file_labels[i] for i in left_out}
        paths = [paths[i] for i in kept]
        file_labels = [file_labels[i] for i in kept]
        splits = None if splits is None else [splits[i] for i in kept]
    if args.segment:
        samples, owner = segments(signals, paths, args.segment)
    else:
        samples, owner = list(signals), np.arange(len(signals))
    y = np.asarray(file_labels, dtype=object)[owner].astype(str)
    # checked here, so that errors name each sample by its file
    X = make_embedder(args).fit_transform(check_recordings(args, samples))

    grouped = args.segment is not None
    clf = EchoKNNClassifier(n_neighbors=args.k, metric=args.metric)
    if splits is None:
        cv, cv_name = _cross_validation(args, grouped)
        pred = cross_val_predict(clf, X, y, cv=cv, groups=owner if grouped else None)
        rows = np.arange(len(y))
    else:
        is_test = np.asarray(splits, dtype=object)[owner] == "test"
        if is_test.all() or not is_test.any():
            raise CommandError(
                f"the split list {args.split_list} leaves no "
                f"{'training' if is_test.all() else 'test'} file after the skipped ones"
            )
        rows = np.flatnonzero(is_test)
        pred = clf.fit(X[~is_test], y[~is_test]).predict(X[is_test])
        n_train_files = len({int(o) for o in owner[~is_test]})
        cv_name = f"train/test list ({n_train_files} training files)"
    y_eval = y[rows]

    classes = sorted(set(y_eval))
    unit = "segments" if grouped else "files"
    evaluated = "tested" if splits is not None else "cross-validation:"
    print(
        f"k-NN (k={args.k}, {args.metric}) {cv_name} {evaluated} {len(y_eval)} {unit}"
        + (f" from {len(set(owner[rows].tolist()))} files" if grouped else "")
        + f", {len(classes)} classes, {X.shape[1]} features"
    )
    width = max(len("overall"), *(len(c) for c in classes))
    print(f"{'class':<{width}}  {'n':>5}  {'correct':>7}  {'accuracy':>8}")
    for c in classes:
        mask = y_eval == c
        correct = int(np.sum(pred[mask] == c))
        print(f"{c:<{width}}  {int(mask.sum()):>5}  {correct:>7}  {correct / mask.sum():>8.4f}")
    correct = int(np.sum(pred == y_eval))
    accuracy = correct / len(y_eval)
    print(f"{'overall':<{width}}  {len(y_eval):>5}  {correct:>7}  {accuracy:>8.4f}")
    print(f"accuracy: {accuracy:.4f}")
    if preset is not None:
        print(
            f"SIREN {preset.dataset} accuracy (%): {100 * accuracy:.2f}  ({preset.protocol}, "
            f"k = {preset.k}, file level; the ECHO paper's Table 2 reports "
            f"{preset.paper_accuracy} for ECHO-Small)"
        )
    if args.output:
        with open(args.output, "w", newline="") as f:
            writer = csv.writer(f)
            skipped = skipped_files(args)
            writer.writerow(["path", "label", "predicted"] + (["skipped"] if skipped else []))
            for j, i in enumerate(rows):
                name = samples[i].source if grouped else paths[i]
                writer.writerow([name, y[i], pred[j]] + ([""] if skipped else []))
            for path, reason in skipped:
                writer.writerow([path, skipped_labels.get(path, ""), "", reason])
        print(f"wrote {args.output}")
    if args.confusion:
        from .plots import confusion_plot

        confusion_plot(
            args.confusion, y_eval, pred, classes,
            f"k-NN (k={args.k}) {cv_name}: accuracy {accuracy:.3f}",
        )
        print(f"wrote {args.confusion}")
    return finish(args)
