"""The ``sklearn-echo`` command: ECHO embeddings, anomaly detection and fault classification.

One subcommand per job, all reading recordings through the package's loading
layer (``sklearn_echo.signals.expand_paths`` and
``sklearn_echo.signals.load_signals``), so files are accepted or rejected
exactly as ``sklearn_echo.EchoEmbedder`` accepts or rejects them:

    sklearn-echo embed recordings/ -o embeddings.npz
    sklearn-echo detect --normal train/normal --test test/ -o scores.csv --roc roc.png
    sklearn-echo classify cwru/12k/ --sample-rate 12000 --labels-from "(B|IR|OR)\\d{3}"
    sklearn-echo info --model /models/echo-small.safetensors

Exit codes: ``0`` success, ``2`` usage error (bad option or value, reported
by argparse), ``1`` bad input or model (a file that is missing, unreadable or
invalid, a model that cannot be found, labels that cannot be read), reported
as ``error: ...`` on stderr without a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "DEFAULT_RATES",
    "CommandError",
    "anomaly_label",
    "class_labels",
    "file_rates",
    "model_info",
    "build_parser",
    "main",
]

EXIT_OK = 0
"""Exit status of a command that succeeded."""
EXIT_ERROR = 1
"""Exit status for bad input or an unavailable model (an ``error: ...`` line on stderr)."""
EXIT_USAGE = 2
"""Exit status for a usage error (unknown option, bad value), as argparse reports it."""

DEFAULT_RATES = (8000.0, 12000.0, 16000.0, 22050.0, 44100.0, 48000.0)
"""Sampling rates ``sklearn-echo info`` describes unless ``--rates`` is given."""

ANOMALY_WORDS = ("anomaly", "anomalous", "abnormal")
NORMAL_WORDS = ("normal",)
_MAX_LINES = 6
_ITEM_PATH = re.compile(r"X\[\d+\] \(([^()]*)\)")
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


class CommandError(Exception):
    """A problem with a command's input, reported as one ``error: ...`` line."""


# --------------------------------------------------------------------------- labels
def anomaly_label(path) -> int | None:
    """DCASE label read from a file's path: 1 anomaly, 0 normal, ``None`` unknown.

    The path is split into its components (folders, then the file name
    without extension), each component into words at every character that is
    not a letter or a digit (``_``, ``-``, ``.``, space ...), compared
    case-insensitively. Components are examined from the file name up to the
    root and the first one holding a label word decides: ``anomaly``,
    ``anomalous`` or ``abnormal`` mean 1, ``normal`` means 0 (an anomaly word
    wins when a component holds both). ``normal`` must be a whole word, so
    ``abnormal`` is never read as normal.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    int or None

    Examples
    --------
    >>> from sklearn_echo.cli import anomaly_label
    >>> anomaly_label("mimii/fan/abnormal/00000003.wav")
    1
    >>> anomaly_label("dcase/section_00_source_test_normal_0012.wav")
    0
    >>> anomaly_label("plant/line2/pump_0001.wav") is None
    True
    """
    parts = Path(os.fspath(path)).parts
    for i in range(len(parts) - 1, -1, -1):
        part = parts[i]
        if i == len(parts) - 1:
            part = os.path.splitext(part)[0]
        words = set(_TOKEN_SPLIT.split(part.lower()))
        if words.intersection(ANOMALY_WORDS):
            return 1
        if words.intersection(NORMAL_WORDS):
            return 0
    return None


def class_labels(paths, how: str) -> list[str]:
    """Class label of every file, from its folder name or a regular expression.

    Parameters
    ----------
    paths : list of str
        File paths.
    how : str
        ``"folder"``: the name of the folder holding the file. Anything else
        is a regular expression searched (``re.search``) in the file's
        absolute path written with ``/``; the label is the named group
        ``label`` if the pattern has one, else its groups joined (groups
        that did not take part in the match are skipped), else the whole
        match.

    Returns
    -------
    list of str

    Raises
    ------
    CommandError
        An invalid pattern, or files it does not match (all of them named).

    Examples
    --------
    >>> from sklearn_echo.cli import class_labels
    >>> class_labels(["cwru/12k_Drive_End_IR007_0_105.mat",
    ...               "cwru/12k_Drive_End_OR021@6_1_235.mat"], r"_(B|IR|OR)(\\d{3})")
    ['IR007', 'OR021']
    >>> class_labels(["data/inner_race/a.wav", "data/ball/b.wav"], "folder")
    ['inner_race', 'ball']
    """
    if how == "folder":
        return [Path(p).parent.name for p in paths]
    try:
        pattern = re.compile(how)
    except re.error as exc:
        raise CommandError(f"--labels-from {how!r} is not a valid regular expression: {exc}") from None
    labels, missing = [], []
    for p in paths:
        text = Path(os.path.abspath(p)).as_posix()
        m = pattern.search(text)
        if m is None:
            missing.append(p)
            continue
        if "label" in pattern.groupindex:
            label = m.group("label")
        elif pattern.groups:
            label = "".join(g for g in m.groups() if g is not None)
        else:
            label = m.group(0)
        if not label:
            missing.append(p)
            continue
        labels.append(label)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise CommandError(
            f"--labels-from {how!r} does not give a label for {len(missing)} of {len(paths)} "
            f"files: {shown}"
        )
    return labels


# --------------------------------------------------------------------------- argument types
def _number(text: str, cast, valid, not_a_number: str, invalid: str):
    """``cast(text)`` when it parses and passes ``valid``; else a usage error with the message."""
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(not_a_number) from None
    if not valid(value):
        raise argparse.ArgumentTypeError(invalid)
    return value


def _positive_float(text: str) -> float:
    return _number(
        text, float, lambda v: math.isfinite(v) and v > 0,
        f"{text!r} is not a number", f"{text!r} must be a positive number",
    )


def _positive_int(text: str) -> int:
    return _number(
        text, int, lambda v: v >= 1,
        f"{text!r} is not an integer", f"{text!r} must be at least 1",
    )


def _cv(text: str):
    if text.lower() == "loo":
        return "loo"
    return _number(
        text, int, lambda v: v >= 2,
        f"{text!r} is neither 'loo' (leave-one-out) nor a number of folds",
        f"{text!r}: k-fold cross-validation needs at least 2 folds",
    )


def _rates(text: str) -> list[float]:
    return [_positive_float(t) for t in text.replace(";", ",").split(",") if t.strip()]


def _rate_rule(text: str) -> tuple[str | None, float]:
    """``HZ`` -> ``(None, hz)``; ``PATTERN=HZ`` -> ``(pattern, hz)``."""
    pattern, sep, rate = text.rpartition("=")
    if sep and not pattern:
        raise argparse.ArgumentTypeError(f"{text!r} has no pattern before '='; use PATTERN=HZ")
    return (pattern or None), _positive_float(rate)


def _default_rate(rules) -> float | None:
    """The plain ``--sample-rate HZ`` among ``rules`` (the last one given), if any."""
    plain = [hz for pattern, hz in rules or () if pattern is None]
    return plain[-1] if plain else None


def _all_rates(args) -> list[float]:
    """Every rate ``--sample-rate`` names, in order, without repeats."""
    rates = []
    for _, hz in args.sample_rate or ():
        if hz not in rates:
            rates.append(hz)
    return rates


def file_rates(paths, rules) -> tuple[list, list]:
    """Sampling rate of each file that stores none, from ``--sample-rate`` rules.

    Parameters
    ----------
    paths : list of str
        Files, as :func:`sklearn_echo.signals.expand_paths` lists them.
    rules : list of (pattern or None, float)
        ``--sample-rate`` values in command-line order: ``(pattern, hz)`` applies
        to files whose absolute path matches the glob ``pattern`` or the pattern
        made absolute (so ``data/48k/*`` works from the current folder; ``*``
        also matches ``/``), the first matching rule winning; ``(None, hz)``
        applies to the rest (the last one given wins).

    Returns
    -------
    rates : list of (float or None)
        One per path; None for sound files, which use their own rate (and for
        files of an unsupported type, which the loading layer rejects).
    missing : list of str
        Files that store no rate and that no rule covers.

    Examples
    --------
    >>> from sklearn_echo.cli import file_rates
    >>> file_rates(["/d/48k/a.mat", "/d/12k/b.mat", "/d/c.wav"], [("*/48k/*", 48000.0)])
    ([48000.0, None, None], ['/d/12k/b.mat'])
    """
    from fnmatch import fnmatchcase

    from .signals import _ext, _stores_rate, supported_extensions

    readable = set(supported_extensions())
    default = _default_rate(rules)
    patterns = [
        ((pattern, os.path.abspath(pattern)), hz) for pattern, hz in rules or () if pattern is not None
    ]
    rates, missing = [], []
    for path in paths:
        rate = None
        # sound files carry their rate; unsupported files are reported by the loading layer
        if _ext(path) in readable and not _stores_rate(path):
            path = os.path.abspath(path)
            rate = next(
                (hz for forms, hz in patterns if any(fnmatchcase(path, f) for f in forms)),
                default,
            )
            if rate is None:
                missing.append(path)
        rates.append(rate)
    return rates, missing


# --------------------------------------------------------------------------- parser
def _common_options() -> argparse.ArgumentParser:
    from .band_layout import LAYOUTS
    from .echo.models import DEFAULT_MODEL
    from .embedder import EchoEmbedder

    defaults = EchoEmbedder().get_params()
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("model")
    g.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="Hugging Face Hub repo id or alias, local directory, .safetensors or .pth "
        "checkpoint (default: %(default)s)",
    )
    g.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) to pin")
    g.add_argument(
        "--device", default=defaults["device"], help="auto, cpu, cuda or cuda:N (default: %(default)s)"
    )
    g.add_argument(
        "--dtype",
        default=defaults["dtype"],
        choices=("float32", "bfloat16", "float16"),
        help="compute precision (default: %(default)s)",
    )
    g.add_argument(
        "--band-layout",
        default=defaults["band_layout"],
        choices=LAYOUTS,
        help="how band vectors become features; relative and hz give one width at any mix "
        "of sampling rates (default: %(default)s)",
    )
    s = common.add_argument_group("recordings")
    s.add_argument(
        "--sample-rate",
        type=_rate_rule,
        action="append",
        default=None,
        metavar="[PATTERN=]HZ",
        help="sampling rate of files that store none (.mat, .npy, .csv): HZ for all of "
        "them, or PATTERN=HZ for those whose path matches the glob PATTERN (e.g. "
        "'*/48k*/*=48000'); repeat it for several rates, the first matching pattern "
        "wins; sound files (.wav, .flac, .ogg ...) use their own",
    )
    s.add_argument(
        "--mat-key",
        default=defaults["mat_key"],
        help="variable read from .mat files: the one named so or ending in _KEY "
        "(default: %(default)s)",
    )
    s.add_argument(
        "--multichannel",
        default=defaults["multichannel"],
        choices=("concatenate", "mean", "first"),
        help="multichannel recordings: channel embeddings side by side, their mean, or "
        "the first channel (default: %(default)s)",
    )
    s.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="band sequences of a full 20 s chunk per encoder call",
    )
    s.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="folder where embeddings are kept, so a rerun does not embed a file twice",
    )
    s.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="processes to spread the encoder over (-1: all cores)",
    )
    s.add_argument("--progress", action="store_true", help="show a progress bar")
    common.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error"
    )
    return common


def _add_command(sub, name, func, common, *, help, description) -> argparse.ArgumentParser:
    """A subcommand taking the ``common`` options, run by ``func``."""
    p = sub.add_parser(name, parents=[common], help=help, description=description)
    p.set_defaults(func=func)
    return p


def _add_neighbour_options(p, *, k: int, k_help: str):
    """``--k`` and ``--metric`` of the k-NN commands (detect, classify)."""
    p.add_argument("--k", type=_positive_int, default=k, help=f"{k_help} (default: %(default)s)")
    p.add_argument(
        "--metric", default="cosine", choices=("cosine", "euclidean"), help="distance (default: %(default)s)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``sklearn-echo`` argument parser (one subparser per command).

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> from sklearn_echo.cli import build_parser
    >>> args = build_parser().parse_args(["classify", "data/", "--cv", "loo", "--k", "3"])
    >>> args.command, args.cv, args.k, args.labels_from
    ('classify', 'loo', 3, 'folder')
    """
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="sklearn-echo",
        description="ECHO embeddings of machine signals (sound, vibration, any sampling "
        "rate) for fault classification and anomaly detection.",
        epilog="Exit codes: 0 success, 1 bad input or model, 2 usage error. "
        "Run 'sklearn-echo COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    with_signals = _common_options()
    paths_help = "files, folders (searched recursively) or glob patterns"

    p = _add_command(
        sub, "embed", _cmd_embed, with_signals,
        help="embed recordings into an .npz file",
        description="Embed recordings with ECHO and write an .npz file holding 'embeddings' "
        "(n, d) float32, 'paths', 'sample_rates', 'n_samples', 'model', 'model_fingerprint' "
        "and the settings used.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=paths_help)
    p.add_argument("-o", "--output", required=True, metavar="FILE.npz", help="output file")

    p = _add_command(
        sub, "detect", _cmd_detect, with_signals,
        help="score recordings for anomalies against normal ones",
        description="Fit a nearest-neighbour anomaly detector on the embeddings of normal "
        "recordings and score the test recordings (higher = more anomalous). When every "
        "test file's path says 'normal' or 'anomaly'/'abnormal' (in a folder name or the "
        "file name), print AUC and pAUC (max_fpr=0.1) and optionally plot the ROC curve.",
    )
    p.add_argument("--normal", nargs="+", required=True, metavar="PATH", help=f"normal recordings: {paths_help}")
    p.add_argument("--test", nargs="+", required=True, metavar="PATH", help=f"recordings to score: {paths_help}")
    p.add_argument(
        "-o", "--output", metavar="FILE.csv", help="CSV of path, anomaly_score, is_anomaly "
        "(and label when known); printed on stdout when omitted"
    )
    p.add_argument("--roc", metavar="FILE.png", help="ROC curve plot (needs labels and matplotlib)")
    _add_neighbour_options(p, k=1, k_help="neighbours averaged")

    p = _add_command(
        sub, "classify", _cmd_classify, with_signals,
        help="cross-validate k-NN fault classification",
        description="Cross-validate a k-nearest-neighbour classifier on the embeddings of "
        "labelled recordings (the protocol of the ECHO paper's SIREN benchmark: "
        "leave-one-out or k-fold) and print the accuracy overall and per class.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=paths_help)
    p.add_argument(
        "--labels-from",
        default="folder",
        metavar="folder|REGEX",
        help="'folder' (the folder holding each file, the default) or a regular expression "
        "searched in each file's path; the label is its group 'label', else its groups "
        "joined, else the whole match",
    )
    p.add_argument(
        "--cv", type=_cv, default="loo", metavar="loo|K",
        help="leave-one-out or stratified K-fold (default: %(default)s)",
    )
    _add_neighbour_options(p, k=5, k_help="neighbours that vote")
    p.add_argument(
        "--segment",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="cut every recording into non-overlapping segments of this length, each one a "
        "sample; the folds keep the segments of a recording together",
    )
    p.add_argument("--seed", type=int, default=0, help="shuffling of the K folds (default: %(default)s)")
    p.add_argument("--confusion", metavar="FILE.png", help="confusion-matrix plot (needs matplotlib)")
    p.add_argument("-o", "--output", metavar="FILE.csv", help="CSV of path, label, predicted")

    p = _add_command(
        sub, "info", _cmd_info, with_signals,
        help="describe the model and the embedding width per sampling rate",
        description="Print the checkpoint's path, SHA-256 fingerprint and architecture, and "
        "for each sampling rate the number of ECHO bands and the embedding width. It takes "
        "the options of the other commands, so a command line can be checked by replacing "
        "its command with 'info': every rate --sample-rate names is added to the table, the other "
        "recording options do not change what is printed.",
    )
    p.add_argument(
        "--rates",
        type=_rates,
        default=None,
        metavar="HZ[,HZ...]",
        help="sampling rates to describe (default: 8000,12000,16000,22050,44100,48000)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


# --------------------------------------------------------------------------- helpers
def _check_output(path, what: str):
    """Fail before any work when an output file cannot be written."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CommandError(f"cannot write {what} {path}: folder {folder} does not exist")
    if os.path.isdir(path):
        raise CommandError(f"cannot write {what} {path}: it is a folder")


def _embedder(args, **overrides):
    from .embedder import EchoEmbedder

    params = dict(
        model=args.model,
        revision=args.revision,
        sample_rate=_default_rate(args.sample_rate),
        band_layout=args.band_layout,
        multichannel=args.multichannel,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        cache=True if args.cache is None else args.cache,
        n_jobs=args.n_jobs,
        progress=args.progress,
        mat_key=args.mat_key,
    )
    params.update(overrides)
    return EchoEmbedder(**params)


def _load(args, patterns, *, scan: bool = False):
    """Files named by ``patterns`` and their validated signals (the shared loading layer).

    With ``scan=True`` the signals come as `ScannedSignals` (every file checked,
    no samples held), which ``EchoEmbedder`` embeds block by block.
    """
    from .signals import expand_paths, load_signals, scan_signals
    from .echo.bands import WINDOW_SECONDS

    paths = expand_paths(patterns)
    rates, missing = file_rates(paths, args.sample_rate)
    if missing:
        kinds = sorted({os.path.splitext(p)[1].lower() for p in missing})
        if args.sample_rate:
            hint = "no --sample-rate pattern matches them; add PATTERN=HZ or a plain HZ"
        else:
            hint = "give it with --sample-rate HZ (or PATTERN=HZ per group of files)"
        raise CommandError(
            f"{len(missing)} of {len(paths)} files store no sampling rate "
            f"({', '.join(kinds)}; first: {missing[0]}); {hint}"
        )
    read = scan_signals if scan else load_signals
    return paths, read(paths, rates, mat_key=args.mat_key, min_duration=WINDOW_SECONDS)


def _get_encoder(args):
    from .echo.checkpoint import get_encoder

    return get_encoder(args.model, args.revision, device=args.device, dtype=args.dtype)


def _figure(width=5.0, height=4.5):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is installed with the test extras
        raise CommandError("plots need matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, format="png")


def _fmt_rate(rate: float) -> str:
    return f"{rate:g}"


# --------------------------------------------------------------------------- embed
def _cmd_embed(args) -> int:
    _check_output(args.output, "embeddings")
    paths, scanned = _load(args, args.paths, scan=True)
    emb = _embedder(args)
    X = emb.fit_transform(scanned)
    signals = scanned.infos
    arrays = dict(
        embeddings=np.asarray(X, dtype=np.float32),
        paths=np.array(paths, dtype=str),
        sample_rates=np.array([s.sample_rate for s in signals], dtype=np.float64),
        n_samples=np.array([s.n_samples for s in signals], dtype=np.int64),
        n_channels=np.array([s.n_channels for s in signals], dtype=np.int64),
        model=np.array(str(args.model)),
        model_fingerprint=np.array(emb.model_fingerprint_),
        band_layout=np.array(args.band_layout),
        multichannel=np.array(args.multichannel),
        dtype=np.array(args.dtype),
    )
    with open(args.output, "wb") as f:
        np.savez(f, **arrays)
    rates = ", ".join(f"{_fmt_rate(r)} Hz" for r in emb.sample_rates_)
    print(
        f"wrote {X.shape[0]} embeddings of width {X.shape[1]} ({rates}; "
        f"band_layout={args.band_layout}) to {args.output}"
    )
    return EXIT_OK


# --------------------------------------------------------------------------- detect
def _roc_plot(path, y, scores, auc, pauc, max_fpr):
    from sklearn.metrics import RocCurveDisplay

    fig = _figure(5.0, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    RocCurveDisplay.from_predictions(y, scores, ax=ax, name="ECHO k-NN")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.axvspan(0, max_fpr, color="tab:orange", alpha=0.15, label=f"pAUC region (pAUC = {pauc:.3f})")
    ax.set_title(f"Anomaly detection: {int(np.sum(y == 0))} normal, {int(np.sum(y == 1))} anomalous")
    ax.legend(loc="lower right")
    _save(fig, path)


def _cmd_detect(args) -> int:
    from .metrics import DCASE_MAX_FPR, dcase_auc, dcase_pauc
    from .neighbors import EchoKNNAnomalyDetector

    _check_output(args.output, "scores")
    _check_output(args.roc, "ROC plot")
    from .signals import expand_paths

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
    _, normal_signals = _load(args, args.normal, scan=True)
    _, test_signals = _load(args, test_paths, scan=True)
    # The embedder learns no statistics in fit, only the rates and channel count that
    # set its output width: fitted on both sets, test files may come at any rate.
    emb = _embedder(args).fit(normal_signals + test_signals)
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
        y = np.asarray(labels, dtype=int)
        auc = dcase_auc(y, scores)
        pauc = dcase_pauc(y, scores, max_fpr=DCASE_MAX_FPR)
        print(f"AUC: {auc:.4f}", file=report)
        print(f"pAUC (max_fpr={DCASE_MAX_FPR:g}): {pauc:.4f}", file=report)
        if args.roc:
            _roc_plot(args.roc, y, scores, auc, pauc, DCASE_MAX_FPR)
            print(f"wrote {args.roc}", file=report)
    elif known:
        print(
            f"no AUC: labels read from the paths of {len(known)} of {len(labels)} test files "
            "and both normal and anomalous ones are needed",
            file=report,
        )
    return EXIT_OK


# --------------------------------------------------------------------------- classify
def _segments(signals, paths, seconds: float):
    """Cut signals into non-overlapping segments; returns (signals, file index per segment)."""
    from .signals import Signal

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


def _confusion_plot(path, y, pred, classes, title):
    from sklearn.metrics import ConfusionMatrixDisplay

    n = len(classes)
    size = max(4.5, 0.55 * n + 2.5)
    fig = _figure(size, size)
    ax = fig.add_subplot(1, 1, 1)
    ConfusionMatrixDisplay.from_predictions(
        y, pred, labels=classes, ax=ax, colorbar=False, xticks_rotation=45
    )
    ax.set_title(title)
    _save(fig, path)


def _cmd_classify(args) -> int:
    from sklearn.model_selection import (
        LeaveOneGroupOut,
        LeaveOneOut,
        StratifiedGroupKFold,
        StratifiedKFold,
        cross_val_predict,
    )

    from .neighbors import EchoKNNClassifier
    from .signals import expand_paths

    _check_output(args.output, "predictions")
    _check_output(args.confusion, "confusion-matrix plot")
    paths = expand_paths(args.paths)
    file_labels = class_labels(paths, args.labels_from)
    if len(set(file_labels)) < 2:
        raise CommandError(
            f"--labels-from {args.labels_from!r} gives a single class ({file_labels[0]!r}) "
            f"for all {len(paths)} files; classification needs at least two"
        )
    _, signals = _load(args, paths)
    if args.segment:
        samples, owner = _segments(signals, paths, args.segment)
    else:
        samples, owner = signals, np.arange(len(signals))
    y = np.asarray(file_labels, dtype=object)[owner].astype(str)
    X = _embedder(args).fit_transform(samples)

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
        _confusion_plot(
            args.confusion, y, pred, classes,
            f"k-NN (k={args.k}) {cv_name}: accuracy {accuracy:.3f}",
        )
        print(f"wrote {args.confusion}")
    return EXIT_OK


# --------------------------------------------------------------------------- info
def _width(layout: str, n_bands: int, embed_dim: int) -> int:
    return embed_dim if layout == "mean" else n_bands * embed_dim


def model_info(encoder, rates, band_layout="hz") -> dict:
    """What ``sklearn-echo info`` prints, as a dict.

    Parameters
    ----------
    encoder : EchoEncoder
        A loaded encoder (``sklearn_echo.echo.checkpoint.load_encoder``).
    rates : sequence of float
        Sampling rates to describe, in Hz.
    band_layout : {"hz", "relative", "concat", "mean"}, default="hz"
        Layout whose embedding width is reported.

    Returns
    -------
    dict
        ``model`` (checkpoint path), ``fingerprint`` (SHA-256), ``parameters``,
        ``embed_dim``, ``depth``, ``num_heads``, ``ffn_dim``, ``band_width``,
        ``patch_width``, ``chunk_seconds``, ``segment_seconds``,
        ``band_layout``, ``rates`` (one dict per rate: ``sample_rate``,
        ``n_fft``, ``hop``, ``bands``, ``width``) and ``mixed_width`` (the
        width with all ``rates`` in one model; ``None`` for ``"concat"``
        when the band counts differ).

    Examples
    --------
    >>> from sklearn_echo.echo.checkpoint import load_encoder
    >>> from sklearn_echo.cli import model_info
    >>> enc = load_encoder("../shared/fixtures/echo_reference/tiny_echo.safetensors")
    >>> info = model_info(enc, [12000, 48000])
    >>> [(r["sample_rate"], r["bands"], r["width"]) for r in info["rates"]]
    [(12000.0, 5, 640), (48000.0, 19, 2432)]
    >>> info["mixed_width"]
    640
    """
    from .band_layout import n_slots
    from .echo.bands import HOP_SECONDS, band_plan, stft_params

    cfg = encoder.config
    per_rate = []
    for sr in rates:
        plan = band_plan(sr, cfg.band_width)
        n_fft, hop = stft_params(sr)
        per_rate.append(
            {
                "sample_rate": float(sr),
                "n_fft": n_fft,
                "hop": hop,
                "bands": plan.n_bands,
                "width": _width(band_layout, plan.n_bands, cfg.embed_dim),
            }
        )
    mixed = None
    if per_rate:
        try:
            mixed = n_slots(band_layout, rates, cfg.band_width) * cfg.embed_dim
        except ValueError:  # concat cannot mix band counts
            mixed = None
    return {
        "model": str(encoder.checkpoint_path),
        "fingerprint": encoder.fingerprint,
        "parameters": int(sum(p.numel() for p in encoder.parameters())),
        "embed_dim": cfg.embed_dim,
        "depth": cfg.depth,
        "num_heads": cfg.num_heads,
        "ffn_dim": cfg.ffn_dim,
        "band_width": cfg.band_width,
        "patch_width": cfg.patch_width,
        "chunk_seconds": cfg.max_patches * cfg.patch_width * HOP_SECONDS,
        "segment_seconds": cfg.patch_width * HOP_SECONDS,
        "band_layout": band_layout,
        "rates": per_rate,
        "mixed_width": mixed,
    }


def _cmd_info(args) -> int:
    rates = list(args.rates) if args.rates else list(DEFAULT_RATES)
    # the other recording options do not change the model
    rates += [hz for hz in _all_rates(args) if hz not in rates]
    info = model_info(_get_encoder(args), rates, args.band_layout)
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    out = io.StringIO()
    w = out.write
    w(f"model        {info['model']}\n")
    w(f"fingerprint  sha256:{info['fingerprint']}\n")
    w(f"parameters   {info['parameters']:,}\n")
    w(f"embed_dim    {info['embed_dim']}\n")
    w(f"depth        {info['depth']}\n")
    w(f"num_heads    {info['num_heads']}\n")
    w(
        f"bands        {info['band_width']} frequency bins each; patches of "
        f"{info['patch_width']} frames ({info['segment_seconds'] * 1000:g} ms); "
        f"chunks of {info['chunk_seconds']:g} s\n"
    )
    w(f"band_layout  {info['band_layout']}\n\n")
    w(f"{'rate (Hz)':>9}  {'n_fft':>5}  {'bands':>5}  {'width':>6}\n")
    for r in info["rates"]:
        w(f"{_fmt_rate(r['sample_rate']):>9}  {r['n_fft']:>5}  {r['bands']:>5}  {r['width']:>6}\n")
    if len(info["rates"]) > 1:
        if info["mixed_width"] is None:
            w(
                "\nall these rates together: not possible with band_layout='concat' "
                "(band counts differ); use relative or hz\n"
            )
        else:
            w(
                f"\nall these rates together (band_layout={info['band_layout']}): width "
                f"{info['mixed_width']}\n"
            )
    w("Widths are per channel; multichannel='concatenate' multiplies them by the channel count.\n")
    sys.stdout.write(out.getvalue())
    return EXIT_OK


# --------------------------------------------------------------------------- main
def _report(exc: BaseException):
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError):  # str(KeyError) is the quoted key
        text = f"missing {text}"
    # the loading layer names items "X[3] (/abs/path)": on the command line the path says it
    text = _ITEM_PATH.sub(r"\1", text).replace(" items of X ", " files ")
    lines = text.splitlines()
    print(f"error: {lines[0]}", file=sys.stderr)
    rest = lines[1:]
    for line in rest[:_MAX_LINES]:
        print(line, file=sys.stderr)
    if len(rest) > _MAX_LINES:
        print(f"  ... and {len(rest) - _MAX_LINES} more lines (--debug shows all)", file=sys.stderr)


def main(argv=None) -> int:
    """Run ``sklearn-echo`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Commands:

    ``embed PATH... -o FILE.npz``
        Embed recordings; the ``.npz`` holds ``embeddings`` (n, d) float32,
        ``paths``, ``sample_rates``, ``n_samples``, ``n_channels``, ``model``,
        ``model_fingerprint``, ``band_layout``, ``multichannel`` and ``dtype``.
    ``detect --normal PATH... --test PATH... [-o FILE.csv] [--roc FILE.png]``
        Score test recordings by their distance to normal ones; AUC and pAUC
        when the paths give labels (see ``anomaly_label``).
    ``classify PATH... [--labels-from folder|REGEX] [--cv loo|K] [--k 5]``
        Cross-validated k-NN accuracy, overall and per class
        (labels: ``class_labels``); ``--confusion FILE.png``.
    ``info [--rates HZ,...] [--json]``
        Checkpoint path, fingerprint, architecture; bands and embedding
        width per sampling rate.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        ``EXIT_OK``, ``EXIT_ERROR`` (bad input or model, one
        ``error: ...`` message on stderr) or ``EXIT_USAGE`` (argparse
        exits with it by raising ``SystemExit``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, OSError, KeyError) as exc:
        if args.debug:
            raise
        _report(exc)
        return EXIT_ERROR
