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
as ``error: ...`` on stderr without a traceback (``--debug`` shows it),
``3`` done, but bad files were skipped (``--on-error skip``; each one is listed
with its reason on stderr and in the outputs).

The modules: ``options`` (options every command shares, number types),
``files`` (recordings read, outputs checked), ``errors`` (exit codes and the
``error: ...`` report), ``labels`` (labels read from paths), ``plots``, and one
module per command: ``embed``, ``detect``, ``classify``, ``info``, each with a
``register(subparsers, common)`` that adds its subparser (``common``: the
shared options) and the function that runs it. Building the parser imports no
torch; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys

from . import (
    classify,
    dcase,
    demo,
    detect,
    embed,
    export,
    finetune,
    fit,
    info,
    monitor,
    pretrain,
    score,
)
from .errors import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, EXIT_USAGE, CommandError, report
from .info import DEFAULT_RATES, model_info
from .labels import anomaly_label, class_labels
from .options import common_options

__all__ = [
    "DEFAULT_RATES",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_SKIPPED",
    "EXIT_USAGE",
    "CommandError",
    "anomaly_label",
    "build_parser",
    "class_labels",
    "main",
    "model_info",
]


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
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="sklearn-echo",
        description="ECHO embeddings of machine signals (sound, vibration, any sampling "
        "rate) for fault classification and anomaly detection.",
        epilog="Exit codes: 0 success, 1 bad input or model, 2 usage error, 3 done but "
        "files were skipped (--on-error skip). "
        "Run 'sklearn-echo COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options()
    for command in (
        embed, detect, classify, info, dcase, fit, finetune, score, monitor, export, pretrain, demo
    ):
        command.register(sub, common)
    return parser


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
    ``dcase ROOT... [--domain-banks] [--train-from-test F] [-o FILE.csv] [--scores-dir DIR]``
        The DCASE Task 2 evaluation (`sklearn_echo.evaluation.evaluate_dcase`):
        figures per section, machine and overall; official score files.
    ``demo [--roc FILE.png]``
        Anomaly detection on the bundled fan clips with the packaged
        ``echo-demo`` model, offline: AUC, pAUC and a ROC plot.
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
        report(exc)
        return EXIT_ERROR
