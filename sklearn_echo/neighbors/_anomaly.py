"""Nearest-neighbour anomaly detection on embeddings, with domain memory banks."""

# License: MIT

import warnings
from numbers import Real

import numpy as np
from sklearn.base import OutlierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ..conformal import conformal_p_values, conformal_threshold
from ._base import _EchoNeighborsBase, _seed
from ._validation import list_rows as _list_rows
from ._validation import row_digests

__all__ = ["EchoKNNAnomalyDetector"]


class EchoKNNAnomalyDetector(OutlierMixin, _EchoNeighborsBase):
    """Anomaly score = distance to the nearest normal embeddings (memory bank).

    The ECHO paper and the DCASE 2021-2025 memory-bank baselines score a clip
    by its distance to the nearest normal training embeddings (k = 1, cosine
    distance), with one memory bank per domain and the minimum over the
    banks when the domain of a test clip is unknown. This detector implements
    that protocol with the conventions of scikit-learn's
    `sklearn.neighbors.LocalOutlierFactor` ``(novelty=True)``.

    Sign conventions:

    - `score_samples`: higher = more normal (``-`` aggregated distance);
    - `decision_function` ``= score_samples - offset_``: negative for
      anomalies;
    - `predict`: ``+1`` normal, ``-1`` anomaly;
    - `anomaly_score` ``= -score_samples``: higher = more anomalous
      (the DCASE convention; feed it to `sklearn_echo.metrics`).

    Parameters
    ----------
    n_neighbors : int, default=1
        Number of nearest bank embeddings whose distances are aggregated.
        When a memory bank is too small (a bank of ``n`` samples allows at
        most ``n - 1`` neighbours, one sample being left out of its own
        neighbours for the training scores), the number used, ``n_neighbors_``,
        is lowered to fit the smallest bank with a warning, as
        `sklearn.neighbors.LocalOutlierFactor` does.
    aggregation : {"mean", "max", "kth"}, default="mean"
        How the ``n_neighbors_`` distances become one: their mean, or the
        largest of them (``"max"`` and ``"kth"`` are the same thing, the
        distance to the k-th neighbour, under the two names found in the
        literature). With ``n_neighbors=1`` all three are the nearest
        distance.
    metric : {"cosine", "euclidean"}, default="cosine"
        ``"cosine"`` is ``1 - cos``; a zero embedding is at distance 1 from
        everything, with a warning naming it.
    algorithm : {"auto", "brute", "hnsw", "ivf"}, default="auto"
        Neighbour search of every memory bank (see
        `sklearn_echo.neighbors.NeighborIndex`).
    contamination : "auto" or float, default="auto"
        Sets ``offset_`` from the leave-self-out training scores
        ``train_scores_``. A float in ``(0, 0.5]``: ``offset_`` is that
        percentile of the training scores, so that this share of the training
        samples is predicted anomalous. ``"auto"``: Tukey's upper fence on
        the training distances, ``offset_ = Q1 - 1.5 * IQR`` of the training
        scores (``Q3 + 1.5 * IQR`` in distance), which flags the training
        samples that are unusually far from their nearest normal neighbours
        without assuming a fraction. Ignored when ``fpr`` is set.
    fpr : float in (0, 1), default=None
        Requested false-alarm rate: ``offset_`` becomes the conformal
        threshold ``threshold_for(fpr)`` computed from ``calibration_scores_``,
        so that `predict` flags a new normal sample with probability at most
        ``fpr`` (see Notes). Cannot be combined with a float
        ``contamination``.
    domain_normalization : bool, default=False
        If True, each memory bank's distances are standardised by the mean
        and standard deviation of its own leave-self-out training distances
        before the minimum over banks is taken, so that a dense domain (many
        samples, small distances) does not dominate a sparse one. Needs at
        least two samples per domain.
    training_labels : {"anomaly", "ignore"}, default="anomaly"
        What ``y`` of `fit` means. ``"anomaly"``: 0 = normal, 1 = known anomaly
        (kept out of the memory bank). ``"ignore"``: ``y`` is not used and every
        training row is normal, for pipelines whose ``y`` serves an earlier step,
        such as the auxiliary labels of `sklearn_echo.EchoFineTuner`
        (``make_pipeline(EchoFineTuner(), EchoKNNAnomalyDetector(training_labels="ignore"))
        .fit(X_normal, y_attributes)``).
    n_jobs : int, default=None
        Threads of the neighbour search, as scikit-learn counts them
        (``None``: 1 unless a ``joblib.parallel_config`` context says
        otherwise; ``-1``: all cores).
    random_state : int, RandomState instance or None, default=None
        Seed of the HNSW graphs or IVF indexes (unused by exact search).

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during `fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during `fit` (only when ``X`` had
        string column names).
    n_samples_fit_ : int
        Number of samples in the memory banks (normal training samples).
    n_neighbors_ : int
        Number of neighbours actually used (see ``n_neighbors``).
    domains_ : ndarray or None
        Domain of each memory bank, in the order the banks were created
        (sorted within one call to `fit` / `partial_fit`), or
        None when fitted without domains (a single bank).
    train_scores_ : ndarray of shape (n_samples_fit_,)
        Leave-self-out `score_samples` of the bank samples, without
        domain (minimum over all banks), in the order they were added.
    domain_mean_ : ndarray of shape (n_banks,)
        Mean leave-self-out training distance of each bank (only with
        ``domain_normalization=True``).
    domain_scale_ : ndarray of shape (n_banks,)
        Standard deviation of the same distances (only with
        ``domain_normalization=True``).
    calibration_scores_ : ndarray of shape (n_samples_fit_,)
        The normal samples' scores the conformal p-values and ``fpr``
        thresholds are computed from: ``train_scores_`` (leave-self-out), or,
        when ``groups`` were given to `fit`, leave-one-group-out scores (each
        sample scored without the samples of its group).
    offset_ : float
        Threshold on `score_samples` (see ``contamination`` and ``fpr``).

    See Also
    --------
    sklearn.neighbors.LocalOutlierFactor : Its ``novelty=True`` conventions
        are followed here.
    sklearn_echo.metrics.dcase_auc : AUC of the anomaly scores (`sklearn_echo.metrics.dcase_pauc`: pAUC).

    Notes
    -----
    **Known anomalies in training data.** ``fit(X, y)`` keeps the rows with
    ``y == 1`` out of the memory banks and uses the ``y == 0`` rows. ``y``
    must be numeric (string labels raise a ``ValueError``); values other than
    0 and 1 raise a ``UserWarning`` naming them and are used as normal
    samples (scikit-learn passes arbitrary ``y`` to estimators that do not
    need one, so they cannot be an error). This lets cross-validation and
    `sklearn.model_selection.GridSearchCV` run on labelled mixed
    data, with the DCASE scorers of `sklearn_echo.metrics`.

    **Leave-self-out scoring.** A query that is bitwise equal (in float32) to
    a bank sample is scored without that one sample, as in the training
    scores. So ``fit(X).predict(X)`` flags the training samples exactly as
    ``offset_`` was set (the contamination share) instead of calling every
    training sample normal at distance 0; test samples are unaffected.

    **Domains.** ``domain`` (one label per sample) is accepted by
    `fit`, `partial_fit`, `score_samples`,
    `anomaly_score`, `decision_function` and `predict`.
    Each domain gets its own memory bank. A sample scored with a known
    domain is compared with that domain's bank only; without a domain, its
    score is the minimum distance over all banks (DCASE 2021+). A domain not
    seen during fit raises a ``UserWarning`` naming it, and those samples are
    scored against all banks (as without a domain). In meta-estimators,
    request it with scikit-learn's metadata routing, e.g.
    ``set_fit_request(domain=True)``, ``set_decision_function_request`` and
    ``set_predict_request``. ``train_scores_`` and ``offset_`` are the
    domain-agnostic scores (the DCASE test condition, where the domain of a
    test clip is not given).

    **Calibrated false alarms.** `p_values` gives the conformal p-value of
    each new sample, ``(1 + #{calibration scores <= its score}) / (n + 1)``,
    and ``fpr=alpha`` (or ``threshold_for(alpha)``) the threshold below which
    a score has a p-value of at most ``alpha``. If a new normal sample and the
    normal training samples are exchangeable (drawn the same way), it is
    flagged with probability at most ``alpha``, whatever the distribution of
    the embeddings (`sklearn_echo.conformal`). Leave-self-out scores are
    valid calibration scores: adding the new sample to the bank could only
    shorten the training samples' neighbour distances, so these p-values are
    at least the full-conformal ones. The guarantee needs the calibration
    scores to be computed as a new sample's would be; samples cut from the
    same recording are closer to each other than to a new recording, so their
    leave-self-out scores are too small and the false-alarm rate exceeds
    ``alpha``. Pass ``groups`` (the recording of each sample) to `fit`: each
    sample is then calibrated without its whole group, as a sample of a new
    recording is scored. The rate then holds up to the differences between
    recordings: when the samples of one recording all score alike, ``G``
    training recordings give a rate of at most ``alpha + 1 / (G + 1)`` (see
    the monitoring guide for measurements). The guarantee covers scores without ``domain`` and without
    ``domain_normalization`` (whose statistics come from the same data).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.neighbors import EchoKNNAnomalyDetector
    >>> rng = np.random.RandomState(0)
    >>> normal = rng.normal(size=(200, 8)) + 3.0
    >>> det = EchoKNNAnomalyDetector(n_neighbors=3).fit(normal)
    >>> test = np.vstack([rng.normal(size=(2, 8)) + 3.0, -normal[:2]])
    >>> det.predict(test)
    array([ 1,  1, -1, -1])
    >>> bool(det.anomaly_score(test[2:]).min() > det.anomaly_score(test[:2]).max())
    True

    A threshold for a false-alarm rate of at most 1 %, and conformal p-values:

    >>> det = EchoKNNAnomalyDetector(n_neighbors=3, fpr=0.01).fit(normal)
    >>> det.offset_ == det.threshold_for(0.01)
    True
    >>> det.p_values(test).round(3)
    array([0.333, 0.05 , 0.005, 0.005])
    >>> det.predict(test)
    array([ 1,  1, -1, -1])
    """

    _parameter_constraints: dict = {
        **_EchoNeighborsBase._parameter_constraints,
        "aggregation": [StrOptions({"mean", "max", "kth"})],
        "contamination": [
            StrOptions({"auto"}),
            Interval(Real, 0, 0.5, closed="right"),
        ],
        "fpr": [Interval(Real, 0, 1, closed="neither"), None],
        "domain_normalization": ["boolean"],
        "training_labels": [StrOptions({"anomaly", "ignore"})],
    }

    def __init__(
        self,
        n_neighbors=1,
        *,
        aggregation="mean",
        metric="cosine",
        algorithm="auto",
        contamination="auto",
        fpr=None,
        domain_normalization=False,
        training_labels="anomaly",
        n_jobs=None,
        random_state=None,
    ):
        self.n_neighbors = n_neighbors
        self.aggregation = aggregation
        self.metric = metric
        self.algorithm = algorithm
        self.contamination = contamination
        self.fpr = fpr
        self.domain_normalization = domain_normalization
        self.training_labels = training_labels
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ---------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, domain=None, groups=None):
        """Build the memory bank(s) from the normal samples of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training embeddings.
        y : array-like of shape (n_samples,), default=None
            Optional labels: 0 = normal, 1 = known anomaly (left out of the
            banks). Non-numeric labels raise a ``ValueError``; other numbers
            raise a ``UserWarning`` and count as normal.
        domain : array-like of shape (n_samples,), default=None
            Optional domain label per sample (one memory bank per domain).
        groups : array-like of shape (n_samples,), default=None
            Optional group of each sample (for instance the recording its
            window was cut from): ``calibration_scores_`` are then
            leave-one-group-out scores (at least 2 groups), which keep the
            ``fpr`` guarantee for samples that are not independent within a
            group (see Notes).

        Returns
        -------
        self : EchoKNNAnomalyDetector
            The fitted detector.
        """
        for attr in ("domains_", "domain_mean_", "domain_scale_"):
            if hasattr(self, attr):
                delattr(self, attr)
        if self.fpr is not None and self.contamination != "auto":
            raise ValueError(
                f"fpr={self.fpr} and contamination={self.contamination} both set the "
                "threshold offset_: give one of them"
            )
        X = self._validate_embeddings(X, reset=True)
        self._init_state()
        self._grow(X, y, domain, first=True)
        if groups is not None:
            groups = self._check_domain(groups, X.shape[0], what="groups")
            self._groups = groups[self._check_y(y, X.shape[0])]
            self.calibration_scores_ = self._group_scores(X[self._check_y(y, X.shape[0])])
            self._set_offset()
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, domain=None):
        """Add normal samples to the memory bank(s) (streaming).

        The first call acts as `fit`. Later calls append the ``y == 0``
        rows of ``X`` to their domain's bank (a new domain gets a new bank),
        and update the leave-self-out training distances of all bank samples
        exactly, without recomputing the old ones from scratch; ``offset_``
        and the domain statistics are then recomputed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New embeddings.
        y : array-like of shape (n_samples,), default=None
            Optional labels: 0 = normal, 1 = known anomaly (not added).
        domain : array-like of shape (n_samples,), default=None
            Domain of each sample. Required if the detector was fitted with
            domains, forbidden if it was fitted without.

        Returns
        -------
        self : EchoKNNAnomalyDetector
            The updated detector.
        """
        first = not hasattr(self, "offset_")
        if not first and getattr(self, "_groups", None) is not None:
            raise ValueError(
                "This detector was fitted with groups (leave-one-group-out calibration): "
                "partial_fit cannot extend it; fit again on all samples with their groups."
            )
        X = self._validate_embeddings(X, reset=first)
        if first:
            self._init_state()
        self._grow(X, y, domain, first=first)
        return self

    def _init_state(self):
        self._keys = []  # domain label of each bank (None: no domains)
        self._indexes = []  # NeighborIndex per bank
        self._bank_rows = []  # training row ids of each bank, in bank order
        self._train_bank = np.empty(0, dtype=np.int64)
        self._train_knn = np.empty((0, 0, self.n_neighbors))
        self._digests = {}
        self._seed = _seed(self.random_state)
        self._use_domains = None
        self._groups = None

    def _check_y(self, y, n):
        """Mask of the rows that go into the memory bank (``y != 1``)."""
        if y is None or self.training_labels == "ignore":
            return np.ones(n, dtype=bool)
        y = column_or_1d(y, warn=True)
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} labels for {n} samples of X.")
        if y.dtype.kind == "O":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                pass
        if y.dtype.kind not in "biuf":
            raise ValueError(
                "Unknown label type: y must be numeric, 0 = normal, 1 = known anomaly "
                f"(kept out of the memory bank); got dtype {y.dtype} with values "
                f"{np.unique(y.astype(str))[:5].tolist()}."
            )
        if y.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(y))
            if bad.size:
                raise ValueError(f"y is NaN or infinite at index {_list_rows(bad)}.")
        other = np.flatnonzero((y != 0) & (y != 1))
        if other.size:
            warnings.warn(
                "y should hold 0 (normal) and 1 (known anomaly); got "
                f"{np.unique(y[other])[:5].tolist()} at index {_list_rows(other)}. "
                "Only the rows with y == 1 are kept out of the memory bank; the "
                "others are used as normal samples.",
                UserWarning,
            )
        return y != 1

    @staticmethod
    def _check_domain(domain, n, what="domain"):
        if domain is None:
            return None
        domain = np.asarray(domain)
        if domain.ndim != 1 or domain.shape[0] != n:
            raise ValueError(
                f"{what} must hold one label per sample ({n}), got shape {domain.shape}."
            )
        if domain.dtype.kind == "f":
            bad = np.flatnonzero(np.isnan(domain))
            if bad.size:
                raise ValueError(f"{what} is NaN at index {_list_rows(bad)}.")
        if domain.dtype.kind == "O":
            bad = [i for i, d in enumerate(domain) if d is None]
            if bad:
                raise ValueError(f"{what} is None at index {_list_rows(bad)}.")
        return domain

    def _grow(self, X, y, domain, first):
        n = X.shape[0]
        normal = self._check_y(y, n)
        domain = self._check_domain(domain, n)
        if first:
            self._use_domains = domain is not None
        elif self._use_domains and domain is None:
            raise ValueError(
                "This detector was fitted with domains: partial_fit needs the "
                "domain of every sample."
            )
        elif not self._use_domains and domain is not None:
            raise ValueError(
                "This detector was fitted without domains: partial_fit cannot "
                "take domain (refit with domain to use one bank per domain)."
            )
        X_new = X[normal]
        n_new = X_new.shape[0]
        n_old = self._train_bank.shape[0]
        if n_old + n_new < 2:
            raise ValueError(
                "EchoKNNAnomalyDetector needs at least 2 normal samples (y == 0) "
                f"in its memory bank, got {n_old + n_new} from n_samples={n} "
                + (f"({int((~normal).sum())} labelled anomalous)." if (~normal).any() else ".")
            )
        if n_new == 0:
            return
        # bank of each new row (new domains get new banks)
        if self._use_domains:
            dom_new = domain[normal]
            uniq = np.unique(dom_new)
            keys = list(self._keys)
            for d in uniq:
                if not any(_same(d, k) for k in keys):
                    keys.append(_key(d))
            lookup = {_key(k): i for i, k in enumerate(keys)}
            bank_new = np.array([lookup[_key(d)] for d in dom_new], dtype=np.int64)
        else:
            keys = self._keys or [None]
            bank_new = np.zeros(n_new, dtype=np.int64)
        n_banks_old = len(self._keys)
        n_banks = len(keys)
        K = self.n_neighbors
        knn = np.full((n_old + n_new, n_banks, K), np.inf)
        knn[:n_old, :n_banks_old] = self._train_knn
        grown = np.unique(bank_new)

        # 1. distances from the old bank samples to the new ones, merged into
        #    their sorted lists (exact incremental update)
        for b_old in range(n_banks_old):
            old_rows = self._bank_rows[b_old]
            for b in grown:
                sel = np.flatnonzero(bank_new == b)
                kk = min(K, sel.size)
                d, _ = self._indexes[b_old].bank_kneighbors(X_new[sel], kk)
                merged = np.concatenate([knn[old_rows, b, :], d], axis=1)
                knn[old_rows, b, :] = np.sort(merged, axis=1)[:, :K]

        # 2. add the new samples to their banks
        new_ids = n_old + np.arange(n_new)
        positions = np.empty(n_new, dtype=np.int64)
        for b in grown:
            sel = np.flatnonzero(bank_new == b)
            if b < n_banks_old:
                positions[sel] = self._indexes[b].n_samples_ + np.arange(sel.size)
                self._indexes[b].add(X_new[sel])
                self._bank_rows[b] = np.concatenate([self._bank_rows[b], new_ids[sel]])
            else:
                positions[sel] = np.arange(sel.size)
                self._indexes.append(self._new_index(self._seed).fit(X_new[sel]))
                self._bank_rows.append(new_ids[sel])
        self._keys = keys

        # 3. distances from the new samples to every bank (own bank: leave-self-out)
        for b in range(n_banks):
            index = self._indexes[b]
            for b_own in grown:
                sel = np.flatnonzero(bank_new == b_own)
                own = b == b_own
                kk = min(K, index.n_samples_ - (1 if own else 0))
                if kk == 0:
                    continue
                d, _ = index.kneighbors(
                    X_new[sel], kk, exclude=positions[sel] if own else None
                )
                knn[n_old + sel, b, :kk] = d
        self._train_knn = knn
        self._train_bank = np.concatenate([self._train_bank, bank_new])
        for i, digest in enumerate(row_digests(X_new)):
            self._digests.setdefault(digest, (int(bank_new[i]), int(positions[i])))
        self._update_statistics()

    def _update_statistics(self):
        sizes = np.array([index.n_samples_ for index in self._indexes])
        self.n_samples_fit_ = int(sizes.sum())
        k_eff = max(1, min(self.n_neighbors, int(sizes.min()) - 1))
        if k_eff < self.n_neighbors:
            smallest = int(np.argmin(sizes))
            where = (
                f"the memory bank of domain {self._keys[smallest]!r}"
                if self._use_domains
                else "the memory bank"
            )
            warnings.warn(
                f"n_neighbors ({self.n_neighbors}) is greater than the number of "
                f"samples in {where} minus one ({int(sizes.min()) - 1}); "
                f"n_neighbors_={k_eff} is used instead.",
                UserWarning,
            )
        self.n_neighbors_ = k_eff
        self.domains_ = np.array(self._keys) if self._use_domains else None
        dist = self._aggregate(self._train_knn[:, :, :k_eff])  # (n_train, n_banks)
        if self.domain_normalization:
            own = dist[np.arange(dist.shape[0]), self._train_bank]
            mean = np.empty(len(self._keys))
            scale = np.empty(len(self._keys))
            for b, key in enumerate(self._keys):
                values = own[self._train_bank == b]
                name = f"domain {key!r}" if self._use_domains else "the memory bank"
                if values.size < 2:
                    raise ValueError(
                        f"domain_normalization=True needs at least 2 normal samples "
                        f"per domain; {name} has {values.size}."
                    )
                mean[b] = values.mean()
                scale[b] = values.std()
                if not scale[b] > 0:
                    warnings.warn(
                        f"The leave-self-out distances of {name} are all equal "
                        f"({mean[b]:.6g}); its distances are shifted by their mean "
                        "but not scaled.",
                        UserWarning,
                    )
                    scale[b] = 1.0
            self.domain_mean_ = mean
            self.domain_scale_ = scale
            dist = (dist - mean) / scale
        self.train_scores_ = -dist.min(axis=1)
        self.calibration_scores_ = self.train_scores_
        self._set_offset()

    def _set_offset(self):
        if self.fpr is not None:
            self.offset_ = conformal_threshold(self.calibration_scores_, self.fpr)
        elif self.contamination == "auto":
            q1, q3 = np.percentile(self.train_scores_, [25.0, 75.0])
            self.offset_ = float(q1 - 1.5 * (q3 - q1))
        else:
            self.offset_ = float(np.percentile(self.train_scores_, 100.0 * self.contamination))

    def _group_scores(self, X):
        """Leave-one-group-out scores of the bank rows ``X`` (in training order)."""
        groups = self._groups
        labels = list(dict.fromkeys(_key(g) for g in groups))
        if len(labels) < 2:
            raise ValueError(
                "groups: leave-one-group-out calibration needs at least 2 groups of normal "
                f"samples, got 1 ({labels[0]!r}); give the recording of each sample, or fit "
                "without groups"
            )
        k = self.n_neighbors_
        dist = np.full((X.shape[0], len(self._keys)), np.inf)
        for label in labels:
            mine = _equal_labels(groups, label)
            for b in range(len(self._keys)):
                others = ~mine & (self._train_bank == b)
                if not others.any():
                    continue
                index = self._new_index(self._seed).fit(X[others])
                d, _ = index.kneighbors(X[mine], min(k, int(others.sum())))
                dist[mine, b] = self._aggregate(d)
        if self.domain_normalization:
            dist = (dist - self.domain_mean_) / self.domain_scale_
        return -dist.min(axis=1)

    def _fit_rows(self):
        """The normal training rows in training order, their domains and groups (to refit)."""
        X = np.empty((self.n_samples_fit_, self.n_features_in_), dtype=np.float32)
        for rows, index in zip(self._bank_rows, self._indexes):
            X[rows] = index._bank.raw
        domain = None
        if self._use_domains:
            domain = np.array([self._keys[b] for b in self._train_bank])
        return X, domain, self._groups

    def _aggregate(self, dist):
        if self.aggregation == "mean":
            return dist.mean(axis=-1)
        return dist[..., -1]

    # ---------------------------------------------------------------- scoring
    def score_samples(self, X, domain=None):
        """Opposite of the aggregated nearest-neighbour distance (higher = more normal).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to score.
        domain : array-like of shape (n_samples,), default=None
            Domain of each sample. Known domains are compared with their own
            bank; without a domain (or for a domain not seen during fit,
            with a warning) the score uses the minimum over all banks.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-distance`` (standardised per domain with
            ``domain_normalization=True``); the lower, the more abnormal.
        """
        check_is_fitted(self)
        X = self._validate_embeddings(X, reset=False)
        n = X.shape[0]
        domain = self._check_domain(domain, n)
        k = self.n_neighbors_
        n_banks = len(self._keys)
        # queries equal to a bank sample are scored leave-self-out
        excl_bank = np.full(n, -1, dtype=np.int64)
        excl_pos = np.full(n, -1, dtype=np.int64)
        for i, digest in enumerate(row_digests(X)):
            hit = self._digests.get(digest)
            if hit is not None:
                excl_bank[i], excl_pos[i] = hit
        use = np.ones((n, n_banks), dtype=bool)
        if domain is not None:
            known = np.zeros(n, dtype=bool)
            for b, key in enumerate(self._keys):
                mine = _equal_labels(domain, key) if self._use_domains else np.zeros(n, bool)
                use[:, b] = mine
                known |= mine
            if not known.all():
                unknown = np.flatnonzero(~known)
                labels = list(dict.fromkeys(domain[unknown].tolist()))
                known_txt = (
                    self.domains_.tolist() if self._use_domains else "none (fitted without domains)"
                )
                warnings.warn(
                    f"domain(s) {labels[:5]} at index {_list_rows(unknown)} were not seen "
                    f"during fit (known domains: {known_txt}); these samples are scored "
                    "against every memory bank (minimum distance over domains).",
                    UserWarning,
                )
                use[unknown] = True
        dist = np.full((n, n_banks), np.inf)
        for b, index in enumerate(self._indexes):
            rows = np.flatnonzero(use[:, b])
            if rows.size == 0:
                continue
            excl = np.where(excl_bank[rows] == b, excl_pos[rows], -1)
            if index.n_samples_ - 1 < k:  # a single-sample bank: only k = 1
                blocked = excl >= 0
                rows, excl = rows[~blocked], None
            if rows.size == 0:
                continue
            d, _ = index.kneighbors(X[rows], k, exclude=excl)
            dist[rows, b] = self._aggregate(d)
        if self.domain_normalization:
            dist = (dist - self.domain_mean_) / self.domain_scale_
        return -dist.min(axis=1)

    def p_values(self, X, domain=None):
        """Conformal p-values: small for anomalies (see Notes: calibrated false alarms).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to test.
        domain : array-like of shape (n_samples,), default=None
            Domain of each sample (see `score_samples`); the calibration
            scores are domain-agnostic, so the guarantee holds without it.

        Returns
        -------
        p_values : ndarray of shape (n_samples,)
            ``(1 + #{calibration_scores_ <= score}) / (n_samples_fit_ + 1)``.
            A new normal sample has ``p <= alpha`` with probability at most
            ``alpha``.
        """
        check_is_fitted(self)
        return conformal_p_values(self.calibration_scores_, self.score_samples(X, domain=domain))

    def threshold_for(self, fpr):
        """Threshold on `score_samples` for a false-alarm rate of at most ``fpr``.

        Parameters
        ----------
        fpr : float in (0, 1)
            Requested false-alarm rate.

        Returns
        -------
        threshold : float
            ``score_samples(X) < threshold`` exactly where
            ``p_values(X) <= fpr``; ``-inf`` (no alarm, with a warning) when
            fewer than ``1 / fpr - 1`` calibration scores are available.
        """
        check_is_fitted(self)
        return conformal_threshold(self.calibration_scores_, fpr)

    def anomaly_score(self, X, domain=None):
        """Aggregated nearest-neighbour distance (higher = more anomalous).

        The DCASE sign convention: ``anomaly_score(X) = -score_samples(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to score.
        domain : array-like of shape (n_samples,), default=None
            Domain of each sample (see `score_samples`).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Anomaly scores.
        """
        return -self.score_samples(X, domain=domain)

    def decision_function(self, X, domain=None):
        """Shifted score: ``score_samples(X) - offset_`` (negative = anomaly).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to score.
        domain : array-like of shape (n_samples,), default=None
            Domain of each sample (see `score_samples`).

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            Positive for normal samples, negative for anomalies.
        """
        return self.score_samples(X, domain=domain) - self.offset_

    def predict(self, X, domain=None):
        """Label each sample normal (+1) or anomalous (-1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings to label.
        domain : array-like of shape (n_samples,), default=None
            Domain of each sample (see `score_samples`).

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,)
            +1 where ``decision_function >= 0``, -1 elsewhere.
        """
        decision = self.decision_function(X, domain=domain)
        is_inlier = np.ones(decision.shape[0], dtype=int)
        is_inlier[decision < 0] = -1
        return is_inlier

    def fit_predict(self, X, y=None, domain=None):
        """Fit on ``X`` and label its samples (+1 normal, -1 anomaly).

        The training samples are scored leave-self-out and without domain,
        as for ``offset_``, so with a float ``contamination`` that share of
        the normal samples is labelled -1.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training embeddings.
        y : array-like of shape (n_samples,), default=None
            Optional labels (0 normal, 1 known anomaly), as in `fit`.
        domain : array-like of shape (n_samples,), default=None
            Optional domains, as in `fit`.

        Returns
        -------
        is_inlier : ndarray of shape (n_samples,)
            +1 for normal, -1 for anomalous samples.
        """
        return self.fit(X, y, domain=domain).predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags


def _key(label):
    """Hashable key of a domain label (numpy scalars -> Python scalars)."""
    return label.item() if isinstance(label, np.generic) else label


def _same(a, b):
    return _key(a) == _key(b)


def _equal_labels(domain, key):
    key = _key(key)
    return np.array([_key(d) == key for d in domain], dtype=bool)
