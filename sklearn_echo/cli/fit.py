"""``sklearn-echo fit``: fit an anomaly detector on normal recordings and save it.

The recordings are cut into non-overlapping windows of ``--window`` seconds;
the detector's memory bank holds their embeddings and its threshold is the
conformal one for ``--fpr``, calibrated leave-one-recording-out (each window
scored without the windows of its own recording), so that windows of a new
normal recording raise an alarm at a rate of at most ``--fpr``.
"""

from __future__ import annotations

import math
import os
import sys
import warnings

from .errors import EXIT_OK, CommandError
from .files import check_output, load_recordings
from .options import (
    PATHS_HELP,
    add_command,
    add_neighbour_options,
    make_embedder,
    positive_float,
)

__all__ = ["register"]


def _rate(text: str) -> float:
    import argparse

    value = positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a false-alarm rate between 0 and 1")
    return value


def register(sub, common):
    """Register ``fit`` and its options."""
    p = add_command(
        sub, "fit", _cmd_fit, common,
        help="fit an anomaly detector on normal recordings and save it",
        description="Cut normal recordings into windows, embed them, fit a nearest-neighbour "
        "anomaly detector calibrated for a false-alarm rate, and save it for 'score' and "
        "'monitor'.",
    )
    p.add_argument("--normal", nargs="+", required=True, metavar="PATH",
                   help=f"normal recordings (at least 2): {PATHS_HELP}")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="detector file to write")
    p.add_argument("--fpr", type=_rate, default=0.01,
                   help="false-alarm rate per window the threshold is set for (default: %(default)s)")
    p.add_argument("--window", type=positive_float, default=2.0, metavar="SECONDS",
                   help="seconds per analysis window (default: %(default)s)")
    p.add_argument("--joblib", action="store_true",
                   help="write a joblib pickle instead of the default npz file")
    add_neighbour_options(p, k=1, k_help="neighbours averaged")
    return p


def _cmd_fit(args) -> int:
    import numpy as np
    from sklearn.pipeline import make_pipeline

    from ..neighbors import EchoKNNAnomalyDetector
    from ..persistence import save_detector
    from .detectors import cut_windows

    check_output(args.output, "detector")
    paths, signals = load_recordings(args, args.normal)
    if len(signals) < 2:
        raise CommandError(
            f"fit needs at least 2 normal recordings to calibrate the threshold (each window is "
            f"scored without its own recording), got {len(signals)}: {paths[0]}; cut a long "
            "recording into several files"
        )
    windows, groups = [], []
    for i, s in enumerate(signals):
        cut = cut_windows(s, args.window)
        windows += cut
        groups += [i] * len(cut)
    model = args.model
    if os.path.exists(model):  # a local checkpoint: the detector file names it absolutely
        model = os.path.abspath(model)
    embedder = make_embedder(args, model=model, cache=False, sample_rate=None)
    detector = EchoKNNAnomalyDetector(n_neighbors=args.k, metric=args.metric, fpr=args.fpr)
    pipe = make_pipeline(embedder, detector)
    with warnings.catch_warnings():  # too few windows for --fpr: said below, once
        warnings.filterwarnings("ignore", message=".*calibration scores cannot give")
        pipe.fit(windows, echoknnanomalydetector__groups=np.asarray(groups))
    if len(embedder.sample_rates_) == 1:  # arrays given to the saved pipeline are at this rate
        embedder.set_params(sample_rate=float(embedder.sample_rates_[0]))
    save_detector(pipe, args.output, window=args.window, format="joblib" if args.joblib else "npz")
    n = len(windows)
    needed = math.ceil(1 / args.fpr - 1 - 1e-9)
    rates = ", ".join(f"{r:g} Hz" for r in embedder.sample_rates_)
    print(
        f"fitted on {n} windows of {args.window:g} s from {len(signals)} recordings ({rates}); "
        f"anomaly-score threshold {-detector.offset_:.6g} for a false-alarm rate of {args.fpr:g}; "
        f"wrote {args.output}"
    )
    if n < needed:
        print(
            f"warning: {n} windows cannot give a false-alarm rate of {args.fpr:g} (at least "
            f"{needed} are needed): no window will raise an alarm",
            file=sys.stderr,
        )
    return EXIT_OK
