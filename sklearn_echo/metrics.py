"""DCASE anomalous-sound-detection metrics and scikit-learn scorers.

The DCASE 2020-2025 Task 2 evaluators score anomaly scores (higher = more
anomalous) with

* **AUC** -- ``sklearn.metrics.roc_auc_score(y_true, score)``;
* **pAUC** -- ``sklearn.metrics.roc_auc_score(y_true, score, max_fpr=0.1)``,
  i.e. scikit-learn's McClish-standardised partial AUC over false-positive
  rates in ``[0, 0.1]``, computed on all clips of a section;
* **per-domain AUC** (DCASE 2022+) -- for domain ``d`` (e.g. ``"source"`` or
  ``"target"``), the AUC of the normal clips of ``d`` against *all*
  anomalous clips of the section (anomalies of every domain);
* **official score** -- the harmonic mean (``scipy.stats.hmean``) of the
  per-domain AUCs and pAUCs of every section.

``y_true`` uses the DCASE labels: 1 = anomaly, 0 = normal.

The scorers (`make_dcase_scorer`, `get_dcase_scorers`,
``dcase_auc_scorer``, ``dcase_pauc_scorer``, ``dcase_official_scorer``) plug
into ``GridSearchCV(scoring=...)`` and ``cross_validate``. They score an
estimator by its ``anomaly_score`` (DCASE sign), or else by
``-score_samples`` or ``-decision_function`` (scikit-learn outlier detectors,
where higher means more normal).
"""

# License: MIT

from numbers import Real

import numpy as np
from scipy.stats import hmean
from sklearn.metrics import roc_auc_score
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest, _routing_enabled

__all__ = [
    "dcase_auc",
    "dcase_pauc",
    "dcase_domain_auc",
    "dcase_hmean",
    "dcase_scores",
    "dcase_official_score",
    "anomaly_scores_of",
    "DCASEScorer",
    "make_dcase_scorer",
    "get_dcase_scorers",
    "dcase_auc_scorer",
    "dcase_pauc_scorer",
    "dcase_official_scorer",
]

DCASE_MAX_FPR = 0.1


def _list_index(idx, limit=5):
    idx = [int(i) for i in idx]
    text = ", ".join(str(i) for i in idx[:limit])
    return text + (f", ... ({len(idx)} in all)" if len(idx) > limit else "")


def _check_max_fpr(max_fpr):
    if not isinstance(max_fpr, Real) or not 0 < max_fpr <= 1:
        raise ValueError(f"max_fpr must be in (0, 1], got {max_fpr!r}.")


def _check_labels_scores(y_true, y_score, need_both=None):
    """Validated ``(y, score)``: 0/1 int labels and finite float64 scores.

    With ``need_both`` (the name of the figure, for the message), both
    classes must be present.
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if y_true.ndim != 1 or y_score.ndim != 1:
        raise ValueError(
            f"y_true and y_score must be 1-D, got shapes {y_true.shape} and {y_score.shape}."
        )
    if y_true.shape[0] != y_score.shape[0]:
        raise ValueError(
            f"y_true has {y_true.shape[0]} labels but y_score has {y_score.shape[0]} scores."
        )
    if y_true.dtype.kind not in "biuf":
        raise ValueError(
            "y_true must hold 1 (anomaly) and 0 (normal), got values of dtype "
            f"{y_true.dtype}: {np.unique(y_true.astype(str))[:5].tolist()}."
        )
    bad = np.flatnonzero((y_true != 0) & (y_true != 1))
    if bad.size:
        raise ValueError(
            "y_true must hold 1 (anomaly) and 0 (normal); got "
            f"{np.unique(y_true[bad])[:5].tolist()} at index {_list_index(bad)}."
        )
    if y_score.dtype.kind not in "biuf":
        raise ValueError(f"y_score must be numeric, got dtype {y_score.dtype}.")
    bad = np.flatnonzero(~np.isfinite(y_score))
    if bad.size:
        raise ValueError(
            f"y_score is NaN or infinite at index {_list_index(bad)}; anomaly scores "
            "must be finite."
        )
    y = (y_true == 1).astype(int)
    if need_both is not None:
        _need_both(y, need_both)
    return y, y_score.astype(np.float64)


def _need_both(y, what):
    n_anom = int(y.sum())
    if n_anom == 0 or n_anom == y.shape[0]:
        raise ValueError(
            f"{what} needs both normal (0) and anomalous (1) clips, got "
            f"{y.shape[0] - n_anom} normal and {n_anom} anomalous."
        )


def dcase_auc(y_true, y_score):
    """AUC of anomaly scores, as the DCASE evaluators compute it.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for an anomalous clip, 0 for a normal one.
    y_score : array-like of shape (n_samples,)
        Anomaly scores (higher = more anomalous).

    Returns
    -------
    auc : float
        ``sklearn.metrics.roc_auc_score(y_true, y_score)``.

    Examples
    --------
    >>> from sklearn_echo.metrics import dcase_auc
    >>> dcase_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, s = _check_labels_scores(y_true, y_score, need_both="The AUC")
    return float(roc_auc_score(y, s))


def dcase_pauc(y_true, y_score, *, max_fpr=DCASE_MAX_FPR):
    """Partial AUC over false-positive rates in ``[0, max_fpr]`` (DCASE pAUC).

    Exactly the DCASE evaluators' ``roc_auc_score(y_true, y_score,
    max_fpr=0.1)``: scikit-learn's McClish-standardised partial AUC (0.5 for
    a random score, 1 for a perfect one).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for an anomalous clip, 0 for a normal one.
    y_score : array-like of shape (n_samples,)
        Anomaly scores (higher = more anomalous).
    max_fpr : float, default=0.1
        Upper bound of the false-positive-rate range.

    Returns
    -------
    pauc : float
        The standardised partial AUC.

    Examples
    --------
    >>> from sklearn_echo.metrics import dcase_pauc
    >>> round(dcase_pauc([0, 0, 0, 1, 1], [0.1, 0.2, 0.9, 0.3, 0.8]), 4)
    0.4737
    """
    _check_max_fpr(max_fpr)
    y, s = _check_labels_scores(y_true, y_score, need_both="The pAUC")
    return float(roc_auc_score(y, s, max_fpr=max_fpr))


def _domain_mask(domain, value):
    return np.array([d == value for d in domain.tolist()], dtype=bool)


def dcase_domain_auc(y_true, y_score, domain, value):
    """Per-domain AUC of DCASE 2022+: domain's normal clips vs. all anomalies.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for an anomalous clip, 0 for a normal one (one section).
    y_score : array-like of shape (n_samples,)
        Anomaly scores (higher = more anomalous).
    domain : array-like of shape (n_samples,)
        Domain of each clip (e.g. ``"source"`` / ``"target"``).
    value : object
        The domain whose AUC is computed.

    Returns
    -------
    auc : float
        AUC of the normal clips of ``value`` together with every anomalous
        clip of the section, whatever its domain.

    Examples
    --------
    >>> from sklearn_echo.metrics import dcase_domain_auc
    >>> y = [0, 0, 1, 0, 0, 1]
    >>> score = [0.1, 0.2, 0.9, 0.5, 0.7, 0.6]
    >>> domain = ["source"] * 3 + ["target"] * 3
    >>> dcase_domain_auc(y, score, domain, "source")
    1.0
    >>> dcase_domain_auc(y, score, domain, "target")
    0.75
    """
    y, s = _check_labels_scores(y_true, y_score)
    domain = _check_domain(domain, y.shape[0])
    mine = _domain_mask(domain, value)
    if not (mine & (y == 0)).any():
        raise ValueError(f"No normal clip of domain {value!r}: its AUC is undefined.")
    keep = (mine & (y == 0)) | (y == 1)
    _need_both(y[keep], f"The AUC of domain {value!r}")
    return float(roc_auc_score(y[keep], s[keep]))


def _check_domain(domain, n, what="domain"):
    domain = np.asarray(domain)
    if domain.ndim != 1 or domain.shape[0] != n:
        raise ValueError(f"{what} must hold one label per clip ({n}), got shape {domain.shape}.")
    return domain


def dcase_hmean(values):
    """Harmonic mean of AUC / pAUC values (``scipy.stats.hmean``), the DCASE summary.

    Parameters
    ----------
    values : array-like of float
        Scores in ``[0, 1]``.

    Returns
    -------
    hmean : float
        Their harmonic mean (0 if one of them is 0).

    Examples
    --------
    >>> from sklearn_echo.metrics import dcase_hmean
    >>> round(dcase_hmean([0.9, 0.6, 0.75]), 4)
    0.7297
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("dcase_hmean needs at least one value.")
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        raise ValueError(
            f"dcase_hmean needs finite non-negative values; got {values[bad].tolist()} "
            f"at index {_list_index(bad)}."
        )
    if (values == 0).any():
        return 0.0
    return float(hmean(values))


def dcase_scores(y_true, y_score, *, domain=None, section=None, max_fpr=DCASE_MAX_FPR):
    """Every DCASE figure: per-section AUC, per-domain AUCs, pAUC, official score.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for an anomalous clip, 0 for a normal one.
    y_score : array-like of shape (n_samples,)
        Anomaly scores (higher = more anomalous).
    domain : array-like of shape (n_samples,), default=None
        Domain of each clip. With domains the official score uses the
        per-domain AUCs; without, the AUC of the whole section.
    section : array-like of shape (n_samples,), default=None
        Section (machine type / section id) of each clip; ``None`` means one
        section. AUCs and pAUCs are computed within each section.
    max_fpr : float, default=0.1
        Upper false-positive rate of the pAUC.

    Returns
    -------
    scores : dict
        ``{"sections": {section: {"auc", "pauc", "auc_by_domain"}},
        "official_score": float}``. ``official_score`` is the harmonic mean
        of all per-domain AUCs (or section AUCs without domains) and all
        section pAUCs. Without ``section`` the single section is keyed
        ``None``.

    Examples
    --------
    >>> from sklearn_echo.metrics import dcase_scores
    >>> y = [0, 0, 1, 0, 0, 1]
    >>> score = [0.1, 0.2, 0.9, 0.5, 0.7, 0.6]
    >>> domain = ["source"] * 3 + ["target"] * 3
    >>> result = dcase_scores(y, score, domain=domain)
    >>> result["sections"][None]["auc_by_domain"]
    {'source': 1.0, 'target': 0.75}
    >>> round(result["official_score"], 4)
    0.8129
    """
    y, s = _check_labels_scores(y_true, y_score)
    n = y.shape[0]
    if domain is not None:
        domain = _check_domain(domain, n)
    if section is None:
        sections = {None: np.arange(n)}
    else:
        section = _check_domain(section, n, what="section")
        sections = {}
        for i, value in enumerate(section.tolist()):
            sections.setdefault(value, []).append(i)
        sections = {k: np.asarray(v) for k, v in sections.items()}
    out = {}
    summary = []
    for name, idx in sections.items():
        where = "" if name is None else f" of section {name!r}"
        _need_both(y[idx], "The AUC" + where)
        entry = {
            "auc": float(roc_auc_score(y[idx], s[idx])),
            "pauc": float(roc_auc_score(y[idx], s[idx], max_fpr=max_fpr)),
            "auc_by_domain": {},
        }
        if domain is not None:
            for value in dict.fromkeys(domain[idx].tolist()):
                if not ((domain[idx] == value) & (y[idx] == 0)).any():
                    continue  # a domain with anomalies only has no AUC of its own
                entry["auc_by_domain"][value] = dcase_domain_auc(
                    y[idx], s[idx], domain[idx], value
                )
            summary.extend(entry["auc_by_domain"].values())
        else:
            summary.append(entry["auc"])
        summary.append(entry["pauc"])
        out[name] = entry
    return {"sections": out, "official_score": dcase_hmean(summary)}


def dcase_official_score(y_true, y_score, *, domain=None, section=None, max_fpr=DCASE_MAX_FPR):
    """DCASE official score: harmonic mean of per-domain AUCs and section pAUCs.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for an anomalous clip, 0 for a normal one.
    y_score : array-like of shape (n_samples,)
        Anomaly scores (higher = more anomalous).
    domain : array-like of shape (n_samples,), default=None
        Domain of each clip (see `dcase_scores`).
    section : array-like of shape (n_samples,), default=None
        Section of each clip (see `dcase_scores`).
    max_fpr : float, default=0.1
        Upper false-positive rate of the pAUC.

    Returns
    -------
    score : float
        ``dcase_scores(...)["official_score"]``.

    Examples
    --------
    >>> from sklearn_echo.metrics import dcase_official_score
    >>> round(dcase_official_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.7434
    """
    return dcase_scores(
        y_true, y_score, domain=domain, section=section, max_fpr=max_fpr
    )["official_score"]


def anomaly_scores_of(estimator, X, domain=None):
    """Anomaly scores of a fitted estimator, DCASE sign (higher = more anomalous).

    Uses ``estimator.anomaly_score`` when it exists, else
    ``-estimator.score_samples`` or ``-estimator.decision_function``
    (scikit-learn's outlier detectors, whose scores are higher for normal
    samples).

    Parameters
    ----------
    estimator : object
        A fitted anomaly detector (or a pipeline ending in one).
    X : array-like of shape (n_samples, n_features)
        Samples to score.
    domain : array-like of shape (n_samples,), default=None
        Passed on as ``domain=`` when given.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        Anomaly scores.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn_echo.metrics import anomaly_scores_of
    >>> X = np.random.RandomState(0).normal(size=(50, 2))
    >>> forest = IsolationForest(random_state=0).fit(X)
    >>> bool(np.allclose(anomaly_scores_of(forest, X), -forest.score_samples(X)))
    True
    """
    kwargs = {} if domain is None else {"domain": domain}
    for name, sign in (("anomaly_score", 1.0), ("score_samples", -1.0), ("decision_function", -1.0)):
        method = getattr(estimator, name, None)
        if method is not None:
            return sign * np.asarray(method(X, **kwargs), dtype=np.float64)
    raise TypeError(
        f"{type(estimator).__name__} has no anomaly_score, score_samples or "
        "decision_function method to get anomaly scores from."
    )


_METRICS = ("auc", "pauc", "official")


class DCASEScorer:
    """Scorer for ``GridSearchCV(scoring=...)``: DCASE AUC, pAUC or official score.

    Call it as ``scorer(estimator, X, y)`` with ``y == 1`` marking anomalies;
    it scores ``estimator`` by `anomaly_scores_of`. Build it with
    `make_dcase_scorer` or `get_dcase_scorers`.

    With scikit-learn metadata routing enabled
    (``sklearn.set_config(enable_metadata_routing=True)``), the scorer
    requests ``domain`` by default: pass ``domain=`` to
    ``GridSearchCV.fit`` / ``cross_validate(params=...)`` and the
    ``"official"`` metric uses the per-domain AUCs of each test fold. The
    domains are passed to the estimator's scoring method only with
    ``score_with_domain=True`` (by default the anomaly scores are computed
    without domain, the DCASE 2022+ test condition). Change the request
    with ``set_score_request(domain=...)``.

    Parameters
    ----------
    metric : {"auc", "pauc", "official"}, default="official"
        ``"auc"``: AUC of all clips; ``"pauc"``: pAUC of all clips;
        ``"official"``: harmonic mean of the per-domain AUCs (AUC of all
        clips when no domain is given) and the pAUC.
    max_fpr : float, default=0.1
        Upper false-positive rate of the pAUC.
    score_with_domain : bool, default=False
        Pass ``domain`` to the estimator's scoring method as well.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import LocalOutlierFactor
    >>> from sklearn_echo.metrics import make_dcase_scorer
    >>> rng = np.random.RandomState(0)
    >>> X = np.vstack([rng.normal(size=(40, 3)), rng.normal(size=(10, 3)) + 4])
    >>> y = np.r_[np.zeros(40), np.ones(10)]
    >>> lof = LocalOutlierFactor(novelty=True).fit(X[:30])
    >>> scorer = make_dcase_scorer("auc")
    >>> scorer(lof, X[30:], y[30:])
    1.0
    """

    def __init__(self, metric="official", *, max_fpr=DCASE_MAX_FPR, score_with_domain=False):
        if metric not in _METRICS:
            raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}.")
        _check_max_fpr(max_fpr)
        self.metric = metric
        self.max_fpr = max_fpr
        self.score_with_domain = bool(score_with_domain)
        self._domain_request = True

    def __call__(self, estimator, X, y_true, domain=None):
        """Score a fitted ``estimator`` on ``X`` against ``y_true`` (1 = anomaly).

        Parameters
        ----------
        estimator : object
            Fitted anomaly detector.
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y_true : array-like of shape (n_samples,)
            1 for an anomaly, 0 for a normal sample.
        domain : array-like of shape (n_samples,), default=None
            Domain of each sample (routed metadata).

        Returns
        -------
        score : float
            The metric (higher is better).
        """
        scores = anomaly_scores_of(
            estimator, X, domain=domain if self.score_with_domain else None
        )
        if self.metric == "auc":
            return dcase_auc(y_true, scores)
        if self.metric == "pauc":
            return dcase_pauc(y_true, scores, max_fpr=self.max_fpr)
        return dcase_official_score(y_true, scores, domain=domain, max_fpr=self.max_fpr)

    def set_score_request(self, *, domain=UNCHANGED):
        """Set whether ``domain`` is requested (metadata routing).

        Parameters
        ----------
        domain : bool, None or str, default=sklearn.utils.metadata_routing.UNCHANGED
            ``True`` (default of this scorer): requested; ``False``: not
            requested; ``None``: error if given; a string: an alias.

        Returns
        -------
        self : DCASEScorer
            The scorer, changed in place.
        """
        if not _routing_enabled():
            raise RuntimeError(
                "This method is only available when metadata routing is enabled. "
                "You can enable it using sklearn.set_config(enable_metadata_routing=True)."
            )
        if domain is not UNCHANGED:
            self._domain_request = domain
        return self

    def get_metadata_routing(self):
        """Metadata request of the scorer (``domain`` for ``score``).

        Returns
        -------
        request : sklearn.utils.metadata_routing.MetadataRequest
            The request.
        """
        request = MetadataRequest(owner=self)
        request.score.add_request(param="domain", alias=self._domain_request)
        return request

    def _accept_sample_weight(self):
        return False

    def __repr__(self):
        extra = ", score_with_domain=True" if self.score_with_domain else ""
        fpr = "" if self.max_fpr == DCASE_MAX_FPR else f", max_fpr={self.max_fpr}"
        return f"make_dcase_scorer({self.metric!r}{fpr}{extra})"


def make_dcase_scorer(metric="official", *, max_fpr=DCASE_MAX_FPR, score_with_domain=False):
    """Build a `DCASEScorer`.

    Parameters
    ----------
    metric : {"auc", "pauc", "official"}, default="official"
        Which DCASE figure to return (see `DCASEScorer`).
    max_fpr : float, default=0.1
        Upper false-positive rate of the pAUC.
    score_with_domain : bool, default=False
        Pass the routed ``domain`` to the estimator's scoring method too.

    Returns
    -------
    scorer : DCASEScorer
        A new scorer.

    Examples
    --------
    >>> from sklearn_echo.metrics import make_dcase_scorer
    >>> make_dcase_scorer("pauc")
    make_dcase_scorer('pauc')
    """
    return DCASEScorer(metric, max_fpr=max_fpr, score_with_domain=score_with_domain)


def get_dcase_scorers(*, max_fpr=DCASE_MAX_FPR, score_with_domain=False):
    """New ``{"auc", "pauc", "official"}`` scorers for multi-metric search.

    Parameters
    ----------
    max_fpr : float, default=0.1
        Upper false-positive rate of the pAUC.
    score_with_domain : bool, default=False
        Pass the routed ``domain`` to the estimator's scoring method too.

    Returns
    -------
    scorers : dict of str to DCASEScorer
        Use as ``GridSearchCV(scoring=get_dcase_scorers(), refit="official")``.

    Examples
    --------
    >>> from sklearn_echo.metrics import get_dcase_scorers
    >>> sorted(get_dcase_scorers())
    ['auc', 'official', 'pauc']
    """
    return {
        m: make_dcase_scorer(m, max_fpr=max_fpr, score_with_domain=score_with_domain)
        for m in _METRICS
    }


#: AUC scorer (all clips). Use `make_dcase_scorer` for a private copy
#: before changing its metadata request.
dcase_auc_scorer = make_dcase_scorer("auc")
#: pAUC scorer (``max_fpr=0.1``, all clips).
dcase_pauc_scorer = make_dcase_scorer("pauc")
#: Official-score scorer (harmonic mean of per-domain AUCs and pAUC).
dcase_official_scorer = make_dcase_scorer("official")

