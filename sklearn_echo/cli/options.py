"""The options every command shares, the number types of the command line, and what they build.

`common_options` is the parent parser of every command (model and recording
options); ``--sample-rate`` takes rate rules (``HZ`` or ``PATTERN=HZ``, read
by `sklearn_echo.signals.parse_rate_rule`). `make_embedder` and `load_model`
turn the parsed options into an ``EchoEmbedder`` or an encoder. Building the
parser imports no torch: the defaults come from light modules
(`sklearn_echo.echo.models`, `sklearn_echo.band_layout`) and the
``EchoEmbedder`` defaults written here (a test checks they agree).
"""

from __future__ import annotations

import argparse
import math

__all__ = [
    "PATHS_HELP",
    "add_command",
    "add_neighbour_options",
    "add_on_error",
    "add_training_options",
    "common_options",
    "csv_columns",
    "cv_folds",
    "load_model",
    "make_embedder",
    "positive_float",
    "positive_int",
    "rate_list",
    "rate_rule",
]

PATHS_HELP = "files, folders (searched recursively) or glob patterns"
"""Help of the arguments that name recordings."""


# --------------------------------------------------------------------------- number types
def _number(text: str, cast, valid, not_a_number: str, invalid: str):
    """``cast(text)`` when it parses and passes ``valid``; else a usage error with the message."""
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(not_a_number) from None
    if not valid(value):
        raise argparse.ArgumentTypeError(invalid)
    return value


def positive_float(text: str) -> float:
    """A positive finite number (``--segment``, ``--rates``)."""
    return _number(
        text, float, lambda v: math.isfinite(v) and v > 0,
        f"{text!r} is not a number", f"{text!r} must be a positive number",
    )


def positive_int(text: str) -> int:
    """An integer of at least 1 (``--k``, ``--batch-size``)."""
    return _number(
        text, int, lambda v: v >= 1,
        f"{text!r} is not an integer", f"{text!r} must be at least 1",
    )


def cv_folds(text: str):
    """``loo`` (leave-one-out) or a number of folds of at least 2 (``--cv``)."""
    if text.lower() == "loo":
        return "loo"
    return _number(
        text, int, lambda v: v >= 2,
        f"{text!r} is neither 'loo' (leave-one-out) nor a number of folds",
        f"{text!r}: k-fold cross-validation needs at least 2 folds",
    )


def rate_list(text: str) -> list[float]:
    """Rates separated by commas or semicolons (``--rates``)."""
    return [positive_float(t) for t in text.replace(";", ",").split(",") if t.strip()]


def csv_columns(text: str) -> list:
    """Column indices or header names separated by commas (``--csv-columns``).

    Examples
    --------
    >>> from sklearn_echo.cli.options import csv_columns
    >>> csv_columns("4,5"), csv_columns("-2,-1"), csv_columns("h_acc, v_acc")
    ([4, 5], [-2, -1], ['h_acc', 'v_acc'])
    """
    out = []
    for field in text.split(","):
        field = field.strip()
        if not field:
            continue
        try:
            out.append(int(field))
        except ValueError:
            out.append(field)
    if not out:
        raise argparse.ArgumentTypeError(
            f"{text!r} names no column; give indices or header names separated by commas"
        )
    return out


def rate_rule(text: str) -> tuple[str | None, float]:
    """``HZ`` -> ``(None, hz)``; ``PATTERN=HZ`` -> ``(pattern, hz)`` (``--sample-rate``)."""
    from ..signals.paths import parse_rate_rule

    try:
        return parse_rate_rule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --------------------------------------------------------------------------- parsers
def common_options() -> argparse.ArgumentParser:
    """The parent parser of every command: model and recording options, ``--debug``."""
    from ..band_layout import LAYOUTS
    from ..echo.models import DEFAULT_MODEL

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
        "--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)"
    )
    g.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "bfloat16", "float16", "int8"),
        help="compute precision; int8 on CPUs with VNNI (default: %(default)s)",
    )
    g.add_argument(
        "--backend",
        default="torch",
        help="torch, onnxruntime (exported on the fly) or an .onnx file written by "
        "`sklearn-echo export` (default: %(default)s)",
    )
    g.add_argument(
        "--band-layout",
        default="hz",
        choices=LAYOUTS,
        help="how band vectors become features; relative and hz give one width at any mix "
        "of sampling rates (default: %(default)s)",
    )
    s = common.add_argument_group("recordings")
    s.add_argument(
        "--sample-rate",
        type=rate_rule,
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
        default="DE_time",
        help="variable read from .mat files: the one named so or ending in _KEY "
        "(default: %(default)s)",
    )
    s.add_argument(
        "--csv-columns",
        type=csv_columns,
        default=None,
        metavar="COLS",
        help="columns of .csv files that hold the signal, by index (0 the first, -1 the "
        "last) or header name, separated by commas, e.g. '4,5', '-2,-1' or 'h_acc,v_acc'; "
        "they become the channels, in that order (default: every column)",
    )
    s.add_argument(
        "--multichannel",
        default="concatenate",
        choices=("concatenate", "mean", "first"),
        help="multichannel recordings: channel embeddings side by side, their mean, or "
        "the first channel (default: %(default)s)",
    )
    s.add_argument(
        "--batch-size",
        type=positive_int,
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


def add_command(sub, name, func, common, *, help, description) -> argparse.ArgumentParser:
    """A subcommand taking the ``common`` options, run by ``func``."""
    p = sub.add_parser(name, parents=[common], help=help, description=description)
    p.set_defaults(func=func)
    return p


def add_on_error(p):
    """``--on-error stop|skip``: what a command does with bad recordings."""
    p.add_argument(
        "--on-error",
        default="stop",
        choices=("stop", "skip"),
        help="bad recordings (unreadable, empty, too short, not finite): 'stop' before any "
        "work, naming every one of them, or 'skip' them, listing each with its reason on "
        "stderr and in the outputs, and end with exit status 3 (default: %(default)s)",
    )


def add_neighbour_options(p, *, k: int, k_help: str):
    """``--k`` and ``--metric`` of the k-NN commands (detect, classify)."""
    p.add_argument("--k", type=positive_int, default=k, help=f"{k_help} (default: %(default)s)")
    p.add_argument(
        "--metric", default="cosine", choices=("cosine", "euclidean"), help="distance (default: %(default)s)"
    )


def add_training_options(p, *, steps: int, batch: int, batch_help: str, lr_help: str):
    """The step loop's options shared by the training commands (pretrain, finetune).

    ``--steps``, ``--train-batch-size``, ``--lr``, ``--crop-seconds``,
    ``--checkpoint-dir``, ``--workers`` and ``--seed``.
    """
    p.add_argument("--steps", type=positive_int, default=steps,
                   help="optimiser steps (default: %(default)s)")
    p.add_argument("--train-batch-size", type=positive_int, default=batch,
                   help=f"{batch_help} per step and process (default: %(default)s)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help=f"peak learning rate (default: {lr_help})")
    p.add_argument("--crop-seconds", type=positive_float, default=None,
                   help="training crop (default: the shortest recording, at most 20 s)")
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="training state, saved regularly; a later run with it resumes")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")


# --------------------------------------------------------------------------- what they build
def make_embedder(args, **overrides):
    """The ``EchoEmbedder`` the shared options describe (``--n-jobs`` passed on as ``n_jobs``)."""
    from ..embedder import EchoEmbedder
    from ..signals.paths import default_rate

    params = dict(
        model=args.model,
        revision=args.revision,
        sample_rate=default_rate(args.sample_rate),
        band_layout=args.band_layout,
        multichannel=args.multichannel,
        device=args.device,
        dtype=args.dtype,
        backend=getattr(args, "backend", "torch"),
        batch_size=args.batch_size,
        cache=True if args.cache is None else args.cache,
        n_jobs=args.n_jobs,
        progress=args.progress,
        mat_key=args.mat_key,
        csv_columns=getattr(args, "csv_columns", None),
    )
    params.update(overrides)
    return EchoEmbedder(**params)


def load_model(args):
    """The encoder ``--model``, ``--revision``, ``--device`` and ``--dtype`` name."""
    from ..echo.checkpoint import get_encoder

    return get_encoder(args.model, args.revision, device=args.device, dtype=args.dtype)
