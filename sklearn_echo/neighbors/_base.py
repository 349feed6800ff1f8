"""Common ground of the k-nearest-neighbour estimators on embeddings."""

# License: MIT

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_random_state, validate_data

from ._index import VALID_ALGORITHMS, VALID_METRICS, NeighborIndex
from ._validation import check_finite_rows


def _seed(random_state):
    """An int seed for the approximate indexes drawn from ``random_state``."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class _EchoNeighborsBase(BaseEstimator):
    """Parameters, input checks and index set-up shared by the k-NN estimators.

    Subclasses set ``n_neighbors``, ``metric``, ``algorithm``, ``n_jobs`` and
    ``random_state`` in their ``__init__`` and extend
    ``_parameter_constraints`` with their own parameters.
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions(set(VALID_METRICS))],
        "algorithm": [StrOptions(set(VALID_ALGORITHMS))],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def _validate_embeddings(self, X, y="no_validation", *, reset):
        """`validate_data` as float32/float64, then the non-finite rows named.

        Returns ``X``, or ``(X, y)`` when ``y`` is given, as `validate_data`.
        """
        out = validate_data(
            self, X, y, reset=reset, dtype=[np.float32, np.float64], ensure_all_finite=False
        )
        check_finite_rows(out[0] if isinstance(out, tuple) else out)
        return out

    def _new_index(self, seed):
        """An unfitted `NeighborIndex` with this estimator's search settings."""
        return NeighborIndex(
            metric=self.metric,
            algorithm=self.algorithm,
            n_jobs=self.n_jobs,
            random_state=seed,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags
