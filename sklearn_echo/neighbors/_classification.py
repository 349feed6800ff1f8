"""k-nearest-neighbour classifier on embeddings."""

# License: MIT

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._base import _EchoNeighborsBase, _seed
from ._validation import check_n_neighbors

__all__ = ["EchoKNNClassifier"]


class EchoKNNClassifier(ClassifierMixin, _EchoNeighborsBase):
    """k-nearest-neighbour vote on embeddings (the ECHO / SIREN fault protocol).

    The ECHO paper scores fault classification with a k = 5 majority vote of
    the nearest training embeddings under the cosine distance; this is that
    classifier, with the neighbour search of
    `sklearn_echo.neighbors.NeighborIndex` (exact, or approximate for
    very large banks).

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbours that vote. Must not exceed the number of
        training samples (a ``ValueError`` says so at prediction time, as
        `sklearn.neighbors.KNeighborsClassifier` does).
    weights : {"uniform", "distance"}, default="uniform"
        ``"uniform"``: every neighbour has one vote. ``"distance"``: votes are
        weighted by ``1 / distance``; when a query has neighbours at distance
        0, only those vote (as in scikit-learn).
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"`` is ``1 - cos``; a zero embedding is at distance 1 from
        everything, with a warning naming it.
    algorithm : {"auto", "brute", "hnsw", "ivf"}, default="auto"
        Exact search, an approximate HNSW graph or IVF index, or
        ``"auto"`` (exact up to `sklearn_echo.neighbors.AUTO_BRUTE_MAX_BANK`
        training samples, IVF above).
    n_jobs : int, default=None
        Threads of the neighbour search, as scikit-learn counts them
        (``None``: 1 unless a ``joblib.parallel_config`` context says
        otherwise; ``-1``: all cores).
    random_state : int, RandomState instance or None, default=None
        Seed of the HNSW graph or IVF index (unused by exact search).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    n_features_in_ : int
        Number of features seen during `fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during `fit` (only when ``X`` had
        string column names).
    n_samples_fit_ : int
        Number of training samples.
    index_ : NeighborIndex
        The neighbour index over the training embeddings.

    See Also
    --------
    sklearn.neighbors.KNeighborsClassifier : The scikit-learn classifier this
        one reproduces (``algorithm="brute"``).
    EchoKNNAnomalyDetector : Nearest-neighbour anomaly scores.

    Notes
    -----
    Neighbours are ordered by distance, equal distances by increasing
    training index. A vote tie between classes goes to the class that comes
    first in ``classes_`` (the lowest class index), as in
    `sklearn.neighbors.KNeighborsClassifier`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors import EchoKNNClassifier
    >>> X = np.array([[1.0, 0.1], [0.9, 0.0], [0.1, 1.0], [0.0, 0.8]])
    >>> y = np.array(["ball", "ball", "inner_race", "inner_race"])
    >>> clf = EchoKNNClassifier(n_neighbors=3).fit(X, y)
    >>> clf.predict([[1.0, 0.2], [0.2, 1.0]])
    array(['ball', 'inner_race'], dtype='<U10')
    >>> clf.predict_proba([[1.0, 0.2]]).round(3)
    array([[0.667, 0.333]])
    """

    _parameter_constraints: dict = {
        **_EchoNeighborsBase._parameter_constraints,
        "weights": [StrOptions({"uniform", "distance"})],
    }

    def __init__(
        self,
        n_neighbors=5,
        *,
        weights="uniform",
        metric="cosine",
        algorithm="auto",
        n_jobs=None,
        random_state=None,
    ):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.metric = metric
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Store the training embeddings and their labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training embeddings.
        y : array-like of shape (n_samples,)
            Class labels (strings or integers).

        Returns
        -------
        self : EchoKNNClassifier
            The fitted classifier.
        """
        X, y = self._validate_embeddings(X, y, reset=True)
        check_classification_targets(y)
        self.classes_, self._y = np.unique(y, return_inverse=True)
        self.index_ = self._new_index(_seed(self.random_state)).fit(X)
        self.n_samples_fit_ = X.shape[0]
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """Find the nearest training embeddings of each query.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features), default=None
            Queries. ``None`` uses the training embeddings, each one left out
            of its own neighbours.
        n_neighbors : int, default=None
            Number of neighbours (default: ``self.n_neighbors``).
        return_distance : bool, default=True
            Whether to return the distances as well.

        Returns
        -------
        neigh_dist : ndarray of shape (n_queries, n_neighbors)
            Distances to the neighbours, increasing (only if
            ``return_distance=True``).
        neigh_ind : ndarray of shape (n_queries, n_neighbors)
            Indices of the neighbours in the training set.
        """
        check_is_fitted(self)
        if n_neighbors is None:
            n_neighbors = self.n_neighbors
        check_n_neighbors(n_neighbors)
        available = self.n_samples_fit_ - (1 if X is None else 0)
        if n_neighbors > available:
            raise ValueError(
                f"n_neighbors={n_neighbors} is larger than the number of "
                f"training samples available to each query ({available}"
                + (", each training sample being left out of its own neighbours)"
                   if X is None else ")")
                + ". Lower n_neighbors or fit on more samples."
            )
        if X is None:
            return self.index_.kneighbors(
                None, n_neighbors, exclude_self=True, return_distance=return_distance
            )
        X = self._validate_embeddings(X, reset=False)
        return self.index_.kneighbors(X, n_neighbors, return_distance=return_distance)

    def predict_proba(self, X):
        """Share of the (weighted) neighbour votes per class.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query embeddings.

        Returns
        -------
        proba : ndarray of shape (n_queries, n_classes)
            Vote shares, columns ordered as ``classes_``.
        """
        if self.weights == "uniform":  # the votes need no distances
            ind = self.kneighbors(X, return_distance=False)
            weights = np.ones(ind.shape)
        else:
            dist, ind = self.kneighbors(X)
            with np.errstate(divide="ignore"):
                weights = 1.0 / dist
            inf_mask = np.isinf(weights)
            inf_row = np.any(inf_mask, axis=1)
            weights[inf_row] = inf_mask[inf_row]
        labels = self._y[ind]
        proba = np.zeros((ind.shape[0], len(self.classes_)))
        rows = np.arange(ind.shape[0])
        for j in range(labels.shape[1]):
            proba[rows, labels[:, j]] += weights[:, j]
        normalizer = proba.sum(axis=1, keepdims=True)
        normalizer[normalizer == 0.0] = 1.0
        return proba / normalizer

    def predict(self, X):
        """Class with the most (weighted) neighbour votes.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Query embeddings.

        Returns
        -------
        y_pred : ndarray of shape (n_queries,)
            Predicted labels; a vote tie goes to the first class in
            ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
