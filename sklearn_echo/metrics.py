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

import sys
from numbers import Real

import numpy as np
from scipy.stats import hmean
from sklearn.metrics import confusion_matrix, roc_auc_score
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest, _routing_enabled

__all__ = [
    "DCASE_PROTOCOLS",
    "DCASE_SECTION_FIGURES",
    "DCASEScorer",
    "anomaly_scores_of",
    "dcase_auc",
    "dcase_auc_scorer",
    "dcase_domain_auc",
    "dcase_evaluator_hmean",
    "dcase_hmean",
    "dcase_official_score",
    "dcase_official_scorer",
    "dcase_pauc",
    "dcase_pauc_scorer",
    "dcase_scores",
    "dcase_section_figures",
    "get_dcase_scorers",
    "make_dcase_scorer",
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


#: Figures of one section, as the official DCASE evaluators name them
#: (``AUC (all)``, ``AUC (source)``, ... in their result tables).
DCASE_SECTION_FIGURES = (
    "auc_all", "auc_source", "auc_target", "pauc", "pauc_source", "pauc_target",
    "precision_source", "precision_target", "recall_source", "recall_target",
    "f1_source", "f1_target",
)

#: The evaluation rules: ``"2022"`` (DCASE 2022-2024 evaluators) and
#: ``"2021"`` (DCASE 2021 evaluator), see `dcase_section_figures`.
DCASE_PROTOCOLS = ("2022", "2021")

_EPS = sys.float_info.epsilon


def dcase_evaluator_hmean(values):
    """Harmonic mean as the official DCASE evaluators take it: values floored at epsilon.

    ``scipy.stats.hmean(numpy.maximum(values, sys.float_info.epsilon))``, so
    a zero counts as machine epsilon instead of making the mean 0 (compare
    `dcase_hmean`). NaN values (undefined figures) are left out.

    Parameters
    ----------
    values : array-like of float
        AUCs, pAUCs or other figures.

    Returns
    -------
    hmean : float
        The harmonic mean of the defined values; NaN when none is defined.

    Examples
    --------
    >>> from sklearn_echo.metrics import dcase_evaluator_hmean
    >>> round(dcase_evaluator_hmean([0.9, 0.6, 0.75, float("nan")]), 4)
    0.7297
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return float("nan")
    return float(hmean(np.maximum(values, _EPS)))


def _auc_or_nan(y, s, notes, what, **kwargs):
    n_anom = int(y.sum())
    if n_anom == 0 or n_anom == y.shape[0]:
        notes.append(
            f"{what} undefined: {y.shape[0] - n_anom} normal and {n_anom} anomalous clips"
        )
        return float("nan")
    return float(roc_auc_score(y, s, **kwargs))


def _precision_recall_f1(y, decision):
    if y.size == 0:
        return float("nan"), float("nan"), float("nan")
    _tn, fp, fn, tp = confusion_matrix(y, decision, labels=[0, 1]).ravel()
    prec = tp / max(tp + fp, _EPS)
    rec = tp / max(tp + fn, _EPS)
    f1 = 2.0 * prec * rec / max(prec + rec, _EPS)
    return float(prec), float(rec), float(f1)


def dcase_section_figures(
    y_true, y_score, *, domain=None, decision=None, domains=("source", "target"),
    protocol="2022", max_fpr=DCASE_MAX_FPR,
):
    """All figures of one section as the official DCASE evaluators compute them.

    Undefined figures are NaN instead of an error, with a note saying why
    (a section without anomalies has no AUC; a domain without normal clips
    has no AUC of its own).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 for an anomalous clip, 0 for a normal one (the test clips of one
        machine and section).
    y_score : array-like of shape (n_samples,)
        Anomaly scores (higher = more anomalous).
    domain : array-like of shape (n_samples,), default=None
        ``"source"`` / ``"target"`` of each clip. Without domains (DCASE
        2020), the per-domain figures are NaN.
    decision : array-like of shape (n_samples,), default=None
        Decision results, 1 = anomaly (the ``decision_result`` files).
        Without them precision, recall and F1 are NaN.
    domains : tuple of str, default=("source", "target")
        The domains reported.
    protocol : {"2022", "2021"}, default="2022"
        ``"2022"``: the DCASE 2022, 2023 and 2024 evaluators: ``auc_<d>``
        is the AUC of the normal clips of domain ``d`` against every
        anomalous clip of the section, and the pAUC is computed on the
        whole section (``pauc_<d>`` are NaN). ``"2021"``: the DCASE 2021
        evaluator, where each domain is a test set of its own: ``auc_<d>``
        and ``pauc_<d>`` on the clips of domain ``d`` alone.
    max_fpr : float, default=0.1
        Upper false-positive rate of the pAUC.

    Returns
    -------
    figures : dict
        Keys `DCASE_SECTION_FIGURES` and ``"notes"`` (list of str).
        ``auc_all``: AUC of all clips; ``auc_<d>``: see ``protocol``;
        ``pauc``: ``roc_auc_score(y, score, max_fpr=0.1)`` on all clips
        (McClish-standardised); ``precision_<d>``, ``recall_<d>``,
        ``f1_<d>``: of the decisions on the clips of domain ``d`` only,
        denominators floored at machine epsilon as the evaluators do.

    Examples
    --------
    >>> from sklearn_echo.metrics import dcase_section_figures
    >>> y = [0, 0, 1, 0, 0, 1]
    >>> score = [0.1, 0.2, 0.9, 0.5, 0.7, 0.6]
    >>> domain = ["source"] * 3 + ["target"] * 3
    >>> f = dcase_section_figures(y, score, domain=domain)
    >>> f["auc_source"], f["auc_target"], round(f["pauc"], 4)
    (1.0, 0.75, 0.7368)
    >>> f = dcase_section_figures(y, score, domain=domain, protocol="2021")
    >>> f["auc_target"], round(f["pauc_target"], 4)
    (0.5, 0.4737)
    >>> f = dcase_section_figures([0, 0, 0], [0.1, 0.2, 0.3], domain=["source"] * 3)
    >>> f["auc_source"], f["notes"][0]
    (nan, 'AUC (all) undefined: 3 normal and 0 anomalous clips')
    """
    _check_max_fpr(max_fpr)
    if protocol not in DCASE_PROTOCOLS:
        raise ValueError(f"protocol must be one of {DCASE_PROTOCOLS}, got {protocol!r}.")
    y, s = _check_labels_scores(y_true, y_score)
    n = y.shape[0]
    notes = []
    out = dict.fromkeys(DCASE_SECTION_FIGURES, float("nan"))
    out["auc_all"] = _auc_or_nan(y, s, notes, "AUC (all)")
    if not np.isnan(out["auc_all"]):
        out["pauc"] = float(roc_auc_score(y, s, max_fpr=max_fpr))
    if decision is not None:
        decision = np.asarray(decision)
        if decision.shape != (n,):
            raise ValueError(f"decision must hold one value per clip ({n}), got shape {decision.shape}.")
        bad = np.flatnonzero((decision != 0) & (decision != 1))
        if bad.size:
            raise ValueError(
                f"decision must hold 1 (anomaly) and 0 (normal); got {decision[bad][:5].tolist()} "
                f"at index {_list_index(bad)}."
            )
        decision = decision.astype(int)
    if domain is None:
        if domains:
            notes.append("no domains: per-domain figures undefined")
    else:
        domain = _check_domain(domain, n)
        for d in domains:
            mine = _domain_mask(domain, d)
            if protocol == "2021":
                out[f"auc_{d}"] = _auc_or_nan(y[mine], s[mine], notes, f"AUC ({d})")
                if not np.isnan(out[f"auc_{d}"]):
                    out[f"pauc_{d}"] = float(roc_auc_score(y[mine], s[mine], max_fpr=max_fpr))
            elif not (mine & (y == 0)).any():
                notes.append(f"AUC ({d}) undefined: no normal clip of domain {d!r}")
            elif not np.isnan(out["auc_all"]):
                keep = (mine & (y == 0)) | (y == 1)
                out[f"auc_{d}"] = float(roc_auc_score(y[keep], s[keep]))
            if decision is not None and mine.any():
                p, r, f1 = _precision_recall_f1(y[mine], decision[mine])
                out[f"precision_{d}"], out[f"recall_{d}"], out[f"f1_{d}"] = p, r, f1
    out["notes"] = notes
    return out

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

