"""What the monitoring commands (``fit``, ``score``, ``monitor``) share.

A detector file (`sklearn_echo.persistence`) holds an embedder and a k-NN
anomaly detector fitted on windows of ``window`` seconds cut from normal
recordings, calibrated leave-one-recording-out. `cut_windows` cuts recordings
the same way for fitting and scoring; `detector_options` are the options of
the commands that read a detector file and `open_detector` reads it, turning
its errors into one ``error: ...`` line.
"""

from __future__ import annotations

import argparse

from .errors import CommandError

__all__ = ["EXIT_ALARM", "cut_windows", "detector_options", "open_detector"]

EXIT_ALARM = 4
"""Exit status of ``score`` and ``monitor`` when at least one alarm fired."""


def detector_options() -> argparse.ArgumentParser:
    """The parent parser of ``score`` and ``monitor``: the detector file and where its model is."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("detector")
    g.add_argument(
        "--detector", required=True, metavar="FILE",
        help="detector file written by 'sklearn-echo fit'",
    )
    g.add_argument(
        "--model", default=None,
        help="where the detector's checkpoint is now (default: where it was when fitted); "
        "its SHA-256 must be the fitted one",
    )
    g.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: as fitted)")
    g.add_argument(
        "--allow-pickle", action="store_true",
        help="also read joblib (pickle) detector files; loading one runs code from the file, "
        "so only for files you trust",
    )
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return p


def open_detector(args):
    """The `sklearn_echo.persistence.DetectorFile` named by ``--detector`` (errors: `CommandError`)."""
    import os

    from ..persistence import DetectorFileError, load_detector

    if not os.path.exists(args.detector):
        raise CommandError(f"detector file {args.detector} does not exist")
    try:
        saved = load_detector(args.detector, model=args.model, allow_pickle=args.allow_pickle)
    except DetectorFileError as exc:
        raise CommandError(str(exc)) from None
    if args.device is not None:
        saved.embedder.set_params(device=args.device)
    return saved


def cut_windows(signal, window: float | None):
    """Consecutive, non-overlapping windows of ``window`` seconds of a `Signal` (the tail is left out).

    Returns ``[(data, rate)]`` with ``data`` of shape ``(channels, samples)``;
    the whole signal when ``window`` is None.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.signals import Signal
    >>> from sklearn_echo.cli.detectors import cut_windows
    >>> s = Signal(np.zeros((1, 2500), np.float32), 1000.0, "a.wav")
    >>> [w.shape for w, _ in cut_windows(s, 1.0)]
    [(1, 1000), (1, 1000)]
    """
    rate = float(signal.sample_rate)
    if window is None:
        return [(signal.data, rate)]
    n = int(round(window * rate))
    count = signal.data.shape[1] // n
    if count == 0:
        raise CommandError(
            f"{signal.source} is {signal.data.shape[1] / rate:.3g} s long, shorter than one "
            f"{window:g} s window of the detector"
        )
    return [(signal.data[:, i * n : (i + 1) * n], rate) for i in range(count)]
