"""Conformal p-values and thresholds: false-alarm rates that hold by construction.

An anomaly detector turns a sample into a score. Given the scores of ``n``
normal *calibration* samples (scored as a new sample would be), the conformal
p-value of a new score is the share of calibration scores at least as
anomalous, counting the new one::

    p = (1 + #{calibration scores at least as anomalous}) / (n + 1)

If the new sample and the calibration samples are exchangeable (normal data,
drawn the same way), ``P(p <= alpha) <= alpha`` for every ``alpha``: raising
an alarm when ``p <= fpr`` gives a false-alarm rate of at most ``fpr``, with no
assumption on the distribution of the scores. An alarm at ``fpr`` needs
``n + 1 >= 1 / fpr`` calibration samples (the smallest p-value is
``1 / (n + 1)``).

The functions here use scikit-learn's `score_samples` sign (higher = more
normal), so "at least as anomalous" means "lower or equal". They hold no
state and import nothing heavy: the k-NN detector
(`sklearn_echo.EchoKNNAnomalyDetector`) and the stream scorer
(`sklearn_echo.streaming.ScoreStream`) both use them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["conformal_p_values", "conformal_threshold", "min_calibration_size"]


def _calibration(calibration_scores) -> np.ndarray:
    cal = np.asarray(calibration_scores, dtype=np.float64).ravel()
    if cal.size == 0:
        raise ValueError("conformal calibration needs at least one calibration score, got none")
    if not np.all(np.isfinite(cal)):
        bad = int(np.flatnonzero(~np.isfinite(cal))[0])
        raise ValueError(f"calibration score {bad} is {cal[bad]}: calibration scores must be finite")
    return np.sort(cal)


def _check_fpr(fpr) -> float:
    fpr = float(fpr)
    if not 0.0 < fpr < 1.0:
        raise ValueError(f"fpr must be a false-alarm rate strictly between 0 and 1, got {fpr}")
    return fpr


def conformal_p_values(calibration_scores, scores, *, presorted=False) -> np.ndarray:
    """Conformal p-values of ``scores`` (higher = more normal) against calibration scores.

    Parameters
    ----------
    calibration_scores : array-like of shape (n,)
        Scores of normal samples, computed as a new sample's would be.
    scores : array-like
        Scores to test.
    presorted : bool, default=False
        ``calibration_scores`` is a finite float64 array sorted in ascending
        order (skips the check and the sort: a stream scoring one window at a
        time against a large calibration set).

    Returns
    -------
    p_values : ndarray, same shape as ``scores``
        ``(1 + #{calibration <= score}) / (n + 1)``, in ``[1 / (n + 1), 1]``;
        small means anomalous.

    Examples
    --------
    >>> from sklearn_echo.conformal import conformal_p_values
    >>> conformal_p_values([-4.0, -3.0, -2.0, -1.0], [-5.0, -3.0, 0.0])
    array([0.2, 0.6, 1. ])
    """
    cal = calibration_scores if presorted else _calibration(calibration_scores)
    s = np.asarray(scores, dtype=np.float64)
    below = np.searchsorted(cal, s, side="right")
    return (1.0 + below) / (cal.size + 1.0)


def min_calibration_size(fpr) -> int:
    """Calibration samples needed before an alarm at false-alarm rate ``fpr`` is possible.

    Examples
    --------
    >>> from sklearn_echo.conformal import min_calibration_size
    >>> min_calibration_size(0.01)
    99
    """
    fpr = _check_fpr(fpr)
    return max(1, math.ceil(1.0 / fpr - 1.0 - 1e-9))


def conformal_threshold(calibration_scores, fpr) -> float:
    """Threshold on scores (higher = more normal) with a false-alarm rate of at most ``fpr``.

    ``score < threshold`` exactly when the conformal p-value of ``score`` is at
    most ``fpr``. With fewer than `min_calibration_size` calibration scores no
    score can reach that p-value: the threshold is ``-inf`` (no alarm ever),
    with a warning.

    Parameters
    ----------
    calibration_scores : array-like of shape (n,)
    fpr : float in (0, 1)
        Requested false-alarm rate.

    Returns
    -------
    threshold : float
        The ``m + 1``-th smallest calibration score, ``m = floor(fpr (n + 1)) - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.conformal import conformal_threshold
    >>> cal = -np.arange(1.0, 20.0)          # 19 scores: -19 ... -1
    >>> conformal_threshold(cal, 0.1)         # p(-18.5) = 2/20 <= 0.1, p(-18) = 3/20
    -18.0
    """
    fpr = _check_fpr(fpr)
    cal = _calibration(calibration_scores)
    n = cal.size
    m = math.floor(fpr * (n + 1) + 1e-9) - 1
    if m < 0:
        warnings.warn(
            f"{n} calibration scores cannot give a false-alarm rate of {fpr:g}: the smallest "
            f"p-value is 1/{n + 1} = {1.0 / (n + 1):.3g}, so no score raises an alarm; "
            f"calibrate on at least {min_calibration_size(fpr)} normal samples",
            UserWarning,
            stacklevel=2,
        )
        return -math.inf
    return float(cal[m])
