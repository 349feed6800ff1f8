"""``sklearn-echo dcase``: the DCASE Task 2 (SIREN) evaluation of a dataset folder.

The clips are found and named by `sklearn_echo.datasets.parse_dcase` (the
official layout ``<root>/<machine>/{train,test}/`` or a flat folder of
DCASE-named files), checked by the loading layer (every bad file named at
once, or skipped with ``--on-error skip``), and evaluated by
`sklearn_echo.evaluation.evaluate_dcase` with ECHO embeddings and a k-NN
detector per machine and section. The figures are printed as a table and
written with ``-o`` (CSV), the official score files with ``--scores-dir`` and
one ROC plot per machine with ``--roc-dir``.

A development set that only holds test clips (as the shared DCASE 2023 valve
clips) gets its training clips with ``--train-from-test FRACTION``: that
fraction of the normal test clips of every machine, section and domain,
drawn with ``--seed``, becomes the memory bank and is left out of the test.
"""

from __future__ import annotations

import math
import os
import sys

from .errors import CommandError
from .files import check_output, file_name, finish, note_skipped, skipped_files
from .options import (
    PATHS_HELP,
    add_command,
    add_neighbour_options,
    add_on_error,
    make_embedder,
)

__all__ = ["hold_out_training_clips", "register"]


def _fraction(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a fraction between 0 and 1 (exclusive)")
    return value


def register(sub, common):
    """Register ``dcase`` and its options."""
    p = add_command(
        sub, "dcase", _cmd_dcase, common,
        help="evaluate a DCASE Task 2 dataset (AUC, pAUC, official score files)",
        description="Run the DCASE Task 2 anomaly-detection evaluation (the SIREN "
        "protocol): for every machine and section, a k-NN detector on ECHO embeddings of "
        "the normal training clips scores the test clips; print the official figures (AUC "
        "per domain, pAUC, their harmonic means) per section, per machine and overall. "
        "ROOT is a dataset folder in the official layout (<machine>/train, <machine>/test) "
        "or a folder of DCASE-named files. Needs pandas (pip install 'sklearn-echo[pandas]').",
    )
    p.add_argument("roots", nargs="+", metavar="ROOT", help=f"DCASE folders or files: {PATHS_HELP}")
    add_neighbour_options(p, k=1, k_help="neighbours averaged (the paper scores by the nearest, 1)")
    p.add_argument(
        "--domain-banks", action="store_true",
        help="one memory bank per domain (source, target); a clip's score is its smallest "
        "distance over both, as SIREN scores DCASE 2021-2025",
    )
    p.add_argument(
        "--protocol", default="2022", choices=("2022", "2021"),
        help="evaluation rules of the figures and layout of the score files: the DCASE "
        "2022-2024 evaluators' or the 2021 evaluator's (default: %(default)s)",
    )
    p.add_argument("--machines", nargs="+", metavar="MACHINE", help="evaluate only these machine types")
    p.add_argument(
        "--train-from-test", type=_fraction, default=None, metavar="FRACTION",
        help="use this fraction of the normal test clips of every machine, section and domain "
        "(at least one, and one left for the test) as training clips, for development sets "
        "that hold only test clips; drawn with --seed",
    )
    p.add_argument("--seed", type=int, default=0, help="draw of --train-from-test (default: %(default)s)")
    p.add_argument(
        "-o", "--output", metavar="FILE.csv",
        help="CSV of the figures: one row per section, per machine and overall (rows of "
        "level 'skipped' list skipped files)",
    )
    p.add_argument(
        "--scores-dir", metavar="DIR",
        help="write the official anomaly_score_* and decision_result_* files here",
    )
    p.add_argument("--roc-dir", metavar="DIR", help="write one ROC plot per machine here (needs matplotlib)")
    add_on_error(p)
    return p


def hold_out_training_clips(table, fraction: float, seed: int = 0):
    """Turn a fraction of the normal test clips of each machine, section and domain into training clips.

    Parameters
    ----------
    table : pandas.DataFrame
        A table of `sklearn_echo.datasets.parse_dcase`.
    fraction : float
        Share of the normal test clips of every (machine, section, domain)
        that become training clips: ``round(fraction * n)``, at least 1 and
        at most ``n - 1`` (a group of one clip stays in the test).
    seed : int, default=0
        Seed of the draw.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` whose drawn clips have ``split == "train"``.

    Examples
    --------
    >>> from sklearn_echo.datasets import parse_dcase
    >>> from sklearn_echo.cli.dcase import hold_out_training_clips
    >>> table = hold_out_training_clips(parse_dcase("../shared/data/dcase2023_valve"), 0.2)
    >>> table.groupby(["domain", "split", "label"]).size().tolist()
    [50, 40, 10, 50, 40, 10]
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    table = table.copy()
    normal_test = table[(table["split"] == "test") & (table["label"] == "normal")]
    keys = [normal_test[c].fillna("") for c in ("machine", "section", "domain")]
    for _, part in normal_test.groupby(keys, sort=True):
        n = len(part)
        take = min(max(int(round(fraction * n)), 1), n - 1)
        if take <= 0:
            continue
        order = part.sort_values("name", kind="stable").index.to_numpy()
        chosen = rng.choice(order, size=take, replace=False)
        table.loc[chosen, "split"] = "train"
    return table


def _require_pandas():
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise CommandError(
            "sklearn-echo dcase needs pandas, which is not installed: pip install "
            "'sklearn-echo[pandas]' (or pip install pandas)"
        ) from None


def _check_folder(path, what):
    if path is None:
        return
    if os.path.isfile(path):
        raise CommandError(f"cannot write {what} into {path}: it is a file, not a folder")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CommandError(f"cannot write {what} into {path}: folder {parent} does not exist")


def _clips(args):
    """The clip table of the roots, with training clips and without skipped files."""
    from ..datasets.dcase import parse_dcase

    table = parse_dcase(args.roots)
    if args.machines:
        unknown = sorted(set(args.machines) - set(table["machine"].dropna()))
        if unknown:
            raise CommandError(
                f"--machines {' '.join(unknown)}: no such machine under {' '.join(args.roots)} "
                f"(machines found: {', '.join(sorted(set(table['machine'].dropna())))})"
            )
        table = table[table["machine"].isin(args.machines)].reset_index(drop=True)
    unsplit = table[~table["split"].isin(["train", "test"])]
    if len(unsplit):
        raise CommandError(
            f"{len(unsplit)} clips have no split: neither their name nor their folder says "
            f"train or test (first: {unsplit['path'].iloc[0]}); put them in "
            "<machine>/train and <machine>/test folders"
        )
    if args.train_from_test is not None:
        table = hold_out_training_clips(table, args.train_from_test, args.seed)
    trained = set(zip(table.loc[table["split"] == "train", "machine"],
                      table.loc[table["split"] == "train", "section"]))
    untrained = sorted({(m, s) for m, s in zip(table["machine"], table["section"])} - trained)
    if untrained:
        m, s = untrained[0]
        raise CommandError(
            f"machine {m!r} section {s!r} has no training clip (no {m}/train folder and no "
            f"name with '_train_'); use --train-from-test FRACTION to take part of its normal "
            f"test clips as training clips ({len(untrained)} sections without training clips)"
        )
    return _drop_bad_clips(args, table)


def _drop_bad_clips(args, table):
    """Check every clip as the embedder will; stop naming every bad one, or skip them."""
    from ..echo.bands import WINDOW_SECONDS
    from ..signals import scan_signals

    paths = table["path"].tolist()
    skip = args.on_error == "skip"
    scanned = scan_signals(
        paths, mat_key=args.mat_key, min_duration=WINDOW_SECONDS, item_name=file_name,
        errors="skip" if skip else "raise",
    )
    if not scanned.skipped:
        return table
    for index, _, reason in scanned.skipped:
        row = table.iloc[index]
        note_skipped(args, paths[index], reason, f"{row['machine']} section {row['section']} ")
    if not len(scanned):
        raise CommandError(f"all {len(paths)} clips were skipped (--on-error skip): nothing to evaluate")
    left_out = [i for i, _, _ in scanned.skipped]
    return table.drop(index=table.index[left_out]).reset_index(drop=True)


def _fmt(value) -> str:
    return "  n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _print_table(result, out=None):
    out = sys.stdout if out is None else out
    sections = result.sections
    domains = bool(sections["has_domains"].any())
    names = ["auc_source", "auc_target", "pauc"] if domains else ["auc_all", "pauc"]
    if result.protocol == "2021":
        names = ["auc_source", "auc_target", "pauc_source", "pauc_target"]
    mw = max(len("machine"), *(len(str(m)) for m in sections["machine"]))
    header = f"{'machine':<{mw}}  section  n_train  n_test  " + "  ".join(f"{n:>10}" for n in names)
    print(header, file=out)
    for _, row in sections.iterrows():
        figures = "  ".join(f"{_fmt(row[n]):>10}" for n in names)
        print(f"{row['machine']:<{mw}}  {row['section']:>7}  {row['n_train']:>7}  "
              f"{row['n_test']:>6}  {figures}", file=out)
    print(file=out)
    for _, row in result.machines.iterrows():
        print(f"{row['machine']}: official score {_fmt(row['official_score'])}, "
              f"hmean AUC {_fmt(row['hmean_auc'])}, hmean pAUC {_fmt(row['hmean_pauc'])}", file=out)
    summary = result.summary
    print(f"official score (harmonic mean of AUCs and pAUCs): {_fmt(summary['official_score'])}", file=out)
    for note in summary.get("notes", []):
        print(f"undefined: {note}; left out of the means", file=out)


def _roc_plots(result, folder) -> list:
    """One ROC plot per machine, a curve per section (sections with both labels)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from .plots import figure, save

    os.makedirs(folder, exist_ok=True)
    written = []
    scores = result.scores
    for machine, part in scores.groupby("machine", sort=True):
        fig = figure(5.0, 5.0)
        ax = fig.add_subplot(1, 1, 1)
        drawn = 0
        for section, sec in part.groupby("section", sort=True):
            labelled = sec[sec["label"].isin(["normal", "anomaly"])]
            y = (labelled["label"] == "anomaly").to_numpy(dtype=int)
            if len(set(y.tolist())) < 2:
                continue
            s = labelled["anomaly_score"].to_numpy(dtype=float)
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, label=f"section {section} (AUC = {roc_auc_score(y, s):.3f})")
            drawn += 1
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        title = f"{machine}: ROC per section"
        if not drawn:
            title += " (no section has normal and anomalous test clips)"
        ax.set_title(title, fontsize=9)
        ax.legend(loc="lower right", fontsize=8)
        path = os.path.join(folder, f"roc_{machine}.png")
        save(fig, path)
        written.append(path)
    return written


def _figures_table(result, args):
    import pandas as pd

    table = result.figures_table()
    skipped = skipped_files(args)
    if skipped:
        rows = [{"level": "skipped", "machine": "", "section": "", "notes": f"{p}: {r}"}
                for p, r in skipped]
        table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    return table


def _cmd_dcase(args) -> int:
    import warnings

    _require_pandas()
    from sklearn.pipeline import make_pipeline

    from ..evaluation import evaluate_dcase
    from ..neighbors import EchoKNNAnomalyDetector

    check_output(args.output, "figures")
    _check_folder(args.scores_dir, "score files")
    _check_folder(args.roc_dir, "ROC plots")
    table = _clips(args)
    n_train = int((table["split"] == "train").sum())
    n_test = int((table["split"] == "test").sum())
    print(
        f"{len(table)} clips: {n_train} training, {n_test} test, "
        f"{table.groupby(['machine', 'section']).ngroups} machine sections",
        file=sys.stderr,
    )
    detector = make_pipeline(
        make_embedder(args), EchoKNNAnomalyDetector(n_neighbors=args.k, metric=args.metric)
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="DCASE machine", category=UserWarning)
        result = evaluate_dcase(
            table, detector, domain_banks=args.domain_banks, protocol=args.protocol
        )
    _print_table(result)
    if args.output:
        _figures_table(result, args).to_csv(args.output, index=False)
        print(f"wrote {args.output}")
    if args.scores_dir:
        os.makedirs(args.scores_dir, exist_ok=True)
        files = result.write_score_files(args.scores_dir)
        print(f"wrote {len(files)} score files to {args.scores_dir}")
    if args.roc_dir:
        plots = _roc_plots(result, args.roc_dir)
        print(f"wrote {len(plots)} ROC plots to {args.roc_dir}")
    return finish(args)
