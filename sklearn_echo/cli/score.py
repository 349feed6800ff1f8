"""``sklearn-echo score``: score recordings with a saved detector; the exit status says if an alarm fired.

Each recording is cut into the detector's windows (as in ``fit``). Its row
gives the anomaly score of its worst window and a p-value for the whole
recording: the smallest window p-value times the number of windows
(Bonferroni), so that a normal recording raises an alarm with probability at
most the detector's false-alarm rate, however many windows it has.
"""

from __future__ import annotations

import csv
import sys

from .detectors import EXIT_ALARM, detector_options
from .errors import EXIT_OK
from .files import check_output, load_recordings
from .options import PATHS_HELP, add_command, rate_rule

__all__ = ["register"]

FIELDS = ["path", "anomaly_score", "p_value", "alarm", "windows", "worst_window_start"]
"""Columns of the CSV written by ``score``."""


def register(sub, common):
    """Register ``score`` and its options (``common`` is not used: the detector file holds them)."""
    p = add_command(
        sub, "score", _cmd_score, detector_options(),
        help="score recordings with a saved detector",
        description="Score recordings with a detector written by 'sklearn-echo fit': a CSV of "
        "path, anomaly_score, p_value, alarm. Exit status 0 when no alarm fired, "
        f"{EXIT_ALARM} when at least one did, 1 on bad input.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATHS_HELP)
    p.add_argument("-o", "--output", metavar="FILE.csv", help="CSV file (default: standard output)")
    p.add_argument(
        "--sample-rate", type=rate_rule, action="append", default=None, metavar="[PATTERN=]HZ",
        help="sampling rate of files that store none (.mat, .npy, .csv), as for the other commands",
    )
    p.add_argument("--mat-key", default="DE_time", help="variable read from .mat files (default: %(default)s)")
    return p


def score_recording(saved, signal):
    """``(anomaly_score, p_value, n_windows, worst_start)`` of one recording (see the module docstring)."""
    import numpy as np

    from .detectors import cut_windows

    windows = cut_windows(signal, saved.window)
    scores = saved.pipeline.score_samples(windows)
    worst = int(np.argmin(scores))
    detector = saved.detector
    calibration = getattr(detector, "calibration_scores_", None)
    if calibration is None:
        p = float("nan")
    else:
        from ..conformal import conformal_p_values

        p = min(1.0, len(windows) * float(conformal_p_values(calibration, scores[worst])))
    start = worst * (saved.window or 0.0)
    return -float(scores[worst]), p, len(windows), start


def _alarm(detector, p, score):
    fpr = getattr(detector, "fpr", None)
    if fpr is not None:
        return p <= fpr
    return -score < detector.offset_


def _cmd_score(args) -> int:
    from .detectors import open_detector

    check_output(args.output, "scores")
    saved = open_detector(args)
    paths, scanned = load_recordings(args, args.paths, scan=True)
    rows = []
    for path, info in zip(paths, scanned.infos):
        [signal] = load_recordings(args, [path])[1]
        score, p, n, start = score_recording(saved, signal)
        alarm = _alarm(saved.detector, p, score)
        rows.append({
            "path": path, "anomaly_score": f"{score:.9g}", "p_value": f"{p:.6g}",
            "alarm": int(alarm), "windows": n, "worst_window_start": f"{start:g}",
        })
    n_alarms = sum(r["alarm"] for r in rows)
    if args.output:
        with open(args.output, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        report = sys.stdout
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        report = sys.stderr
    fpr = getattr(saved.detector, "fpr", None)
    print(
        f"scored {len(rows)} recordings; {n_alarms} alarm{'s' if n_alarms != 1 else ''}"
        + (f" (false-alarm rate {fpr:g} per recording)" if fpr is not None else "")
        + (f"; wrote {args.output}" if args.output else ""),
        file=report,
    )
    return EXIT_ALARM if n_alarms else EXIT_OK
