"""The signal-input check of every estimator that takes signals or files.

`check_signal_input` is what ``fit``, ``transform`` and ``predict`` call on
``X``: scikit-learn's own checks for a dense block (``validate_data``), then
every item read and checked by `scan_signals`.
"""

from __future__ import annotations

import numpy as np

from .containers import SignalError
from .items import is_dense_block
from .loading import ScannedSignals, scan_signals

__all__ = ["check_signal_input"]


def check_signal_input(
    estimator,
    X,
    sample_rate=None,
    *,
    reset: bool,
    mat_key="DE_time",
    min_duration=None,
    dtype=(np.float32, np.float64),
    item_name=None,
    csv_columns=None,
) -> ScannedSignals:
    """The signal-input check of every estimator that takes signals or files.

    Sparse input is refused, a single 1-D array is refused with the fix
    (``X=[signal]``), a dense block of equal-length signals (rows) goes
    through scikit-learn's ``validate_data`` (which records
    ``n_features_in_`` / ``feature_names_in_`` when ``reset`` and checks them
    otherwise; NaN and Inf are left to the loading layer, whose errors name
    the row), and every item is then read and checked by `scan_signals`.
    A `ScannedSignals` is returned as it is (checked already).

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator being fitted or used (named in errors; ``validate_data``
        records its input features).
    X : signals, paths, pairs, DataFrame, 2-D array or ScannedSignals
    sample_rate : float or array-like, default=None
        Rate of items that carry none.
    reset : bool
        True in ``fit``.
    mat_key, min_duration, item_name, csv_columns
        As for `load_signals`. Estimators never skip items (``errors="raise"``):
        their output rows must stay aligned with ``y``.
    dtype : dtype or tuple of dtypes
        Accepted dtypes of a dense block (``validate_data``'s ``dtype``).

    Returns
    -------
    ScannedSignals

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from sklearn_echo.signals import check_signal_input
    >>> est = BaseEstimator()
    >>> check_signal_input(est, np.zeros((2, 800)), 8000, reset=True).infos[1].n_samples
    800
    >>> est.n_features_in_
    800
    """
    if isinstance(X, ScannedSignals):
        return X
    name = type(estimator).__name__
    import scipy.sparse as sp

    if sp.issparse(X):
        raise TypeError(
            f"sparse input is not supported: {name} takes signals (dense arrays) or file paths"
        )
    if isinstance(X, np.ndarray) and X.ndim == 1 and np.issubdtype(X.dtype, np.number):
        raise SignalError(
            f"X is a single 1-D array of {X.shape[0]} samples; pass a list of signals "
            "(X=[signal]) or a 2-D array with one signal per row (Reshape your data "
            "with X.reshape(1, -1) for one signal)"
        )
    if is_dense_block(X):
        from sklearn.utils.validation import validate_data

        X = np.asarray(
            validate_data(estimator, X, reset=reset, dtype=dtype, ensure_all_finite=False)
        )
    return scan_signals(
        X, sample_rate, mat_key=mat_key, min_duration=min_duration, item_name=item_name,
        csv_columns=csv_columns,
    )
