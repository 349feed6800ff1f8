"""DCASE metrics and scorers."""

import numpy as np
import pytest
from scipy.stats import hmean
from sklearn import config_context
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.neighbors import LocalOutlierFactor

from sklearn_echo.metrics import (
    anomaly_scores_of,
    dcase_auc,
    dcase_auc_scorer,
    dcase_domain_auc,
    dcase_hmean,
    dcase_official_score,
    dcase_pauc,
    dcase_pauc_scorer,
    dcase_scores,
    get_dcase_scorers,
    make_dcase_scorer,
)
from sklearn_echo.neighbors import EchoKNNAnomalyDetector


def _section(seed=0, n=120):
    """One DCASE-like section: source/target clips, 0 = normal, 1 = anomaly."""
    rng = np.random.RandomState(seed)
    y = (rng.uniform(size=n) < 0.3).astype(int)
    domain = np.where(rng.uniform(size=n) < 0.8, "source", "target")
    score = rng.normal(size=n) + 1.2 * y + 0.5 * (domain == "target")
    return y, score, domain


def _evaluator_reference(y, score, domain, max_fpr=0.1):
    """The DCASE 2023 evaluator's computations for one section, written out.

    AUC (domain d): clips with ``domain == d`` or ``y != 0``; pAUC: every clip
    with ``max_fpr=0.1``; official score: harmonic mean of both domain AUCs
    and the pAUC.
    """
    aucs = {}
    for d in ["source", "target"]:
        keep = (domain == d) | (y != 0)
        aucs[d] = roc_auc_score(y[keep], score[keep])
    pauc = roc_auc_score(y, score, max_fpr=max_fpr)
    return aucs, pauc, hmean([aucs["source"], aucs["target"], pauc])


def test_auc_and_pauc_are_the_evaluator_calls():
    y, score, _ = _section()
    assert dcase_auc(y, score) == roc_auc_score(y, score)
    assert dcase_pauc(y, score) == roc_auc_score(y, score, max_fpr=0.1)
    assert dcase_pauc(y, score, max_fpr=0.3) == roc_auc_score(y, score, max_fpr=0.3)
    assert dcase_auc(y.astype(bool), score) == roc_auc_score(y, score)


def test_per_domain_auc_pauc_and_official_score_match_the_evaluator():
    y, score, domain = _section(seed=1)
    aucs, pauc, official = _evaluator_reference(y, score, domain)
    for d in ["source", "target"]:
        assert dcase_domain_auc(y, score, domain, d) == pytest.approx(aucs[d], abs=1e-15)
    result = dcase_scores(y, score, domain=domain)
    section = result["sections"][None]
    assert section["auc_by_domain"] == pytest.approx(aucs)
    assert section["pauc"] == pytest.approx(pauc)
    assert section["auc"] == pytest.approx(roc_auc_score(y, score))
    assert result["official_score"] == pytest.approx(official)
    assert dcase_official_score(y, score, domain=domain) == pytest.approx(official)
    # the domain AUC differs from the AUC of the domain's clips alone
    own = domain == "target"
    assert aucs["target"] != pytest.approx(roc_auc_score(y[own], score[own]))


def test_several_sections_are_scored_separately():
    parts = [_section(seed=s, n=90) for s in (2, 3, 4)]
    y = np.concatenate([p[0] for p in parts])
    score = np.concatenate([p[1] for p in parts])
    domain = np.concatenate([p[2] for p in parts])
    section = np.repeat(["section_00", "section_01", "section_02"], 90)
    result = dcase_scores(y, score, domain=domain, section=section)
    summary = []
    for name, (ys, ss, ds) in zip(["section_00", "section_01", "section_02"], parts):
        aucs, pauc, _ = _evaluator_reference(ys, ss, ds)
        assert result["sections"][name]["auc_by_domain"] == pytest.approx(aucs)
        assert result["sections"][name]["pauc"] == pytest.approx(pauc)
        summary += [aucs["source"], aucs["target"], pauc]
    assert result["official_score"] == pytest.approx(hmean(summary))
    # without domains the section AUC stands in for the domain AUCs
    plain = dcase_scores(y, score, section=section)
    expected = []
    for ys, ss, _ in parts:
        expected += [roc_auc_score(ys, ss), roc_auc_score(ys, ss, max_fpr=0.1)]
    assert plain["official_score"] == pytest.approx(hmean(expected))


def test_hmean():
    assert dcase_hmean([0.9, 0.6, 0.75]) == pytest.approx(hmean([0.9, 0.6, 0.75]))
    assert dcase_hmean([0.8, 0.0]) == 0.0
    with pytest.raises(ValueError, match=r"finite non-negative values; got \[nan\] at index 1"):
        dcase_hmean([0.5, np.nan])
    with pytest.raises(ValueError, match="at least one value"):
        dcase_hmean([])


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"1 \(anomaly\) and 0 \(normal\); got \[-1\] at index 0, 2"):
        dcase_auc([-1, 1, -1, 1], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"got values of dtype <U7"):
        dcase_auc(["normal", "anomaly"], [0.1, 0.2])
    with pytest.raises(ValueError, match="y_score is NaN or infinite at index 1"):
        dcase_pauc([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="needs both normal .0. and anomalous .1. clips, got 3 normal and 0"):
        dcase_auc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="y_true has 3 labels but y_score has 2"):
        dcase_auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"max_fpr must be in \(0, 1\]"):
        dcase_pauc([0, 1], [0.1, 0.2], max_fpr=0)
    with pytest.raises(ValueError, match="No normal clip of domain 'target'"):
        dcase_domain_auc([0, 1, 1], [0.1, 0.2, 0.3], ["source", "source", "target"], "target")
    with pytest.raises(ValueError, match="metric must be one of"):
        make_dcase_scorer("f1")


def _mixture(seed=5):
    rng = np.random.RandomState(seed)
    X = np.vstack([rng.normal(size=(150, 5)) + 3, rng.normal(size=(50, 5)) * 2.5 - 2])
    y = np.r_[np.zeros(150, dtype=int), np.ones(50, dtype=int)]
    return X, y


def test_scorers_use_the_dcase_sign_for_every_detector():
    X, y = _mixture()
    det = EchoKNNAnomalyDetector(n_neighbors=2).fit(X[y == 0][:100])
    forest = IsolationForest(random_state=0).fit(X[y == 0][:100])
    lof = LocalOutlierFactor(novelty=True).fit(X[y == 0][:100])
    Xte, yte = X[100:], y[100:]
    assert dcase_auc_scorer(det, Xte, yte) == dcase_auc(yte, det.anomaly_score(Xte))
    assert dcase_auc_scorer(forest, Xte, yte) == dcase_auc(yte, -forest.score_samples(Xte))
    assert dcase_pauc_scorer(lof, Xte, yte) == dcase_pauc(yte, -lof.score_samples(Xte))
    np.testing.assert_array_equal(anomaly_scores_of(det, Xte), -det.score_samples(Xte))
    assert dcase_auc_scorer(det, Xte, yte) > 0.9
    official = make_dcase_scorer("official")(det, Xte, yte)
    assert official == pytest.approx(
        hmean([dcase_auc(yte, det.anomaly_score(Xte)), dcase_pauc(yte, det.anomaly_score(Xte))])
    )
    with pytest.raises(TypeError, match="has no anomaly_score, score_samples or decision_function"):
        anomaly_scores_of(object(), Xte)


def test_multi_metric_grid_search_with_sklearn_detectors():
    X, y = _mixture(seed=6)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    # LocalOutlierFactor ignores y: it is trained on normal and anomalous rows alike
    search = GridSearchCV(
        LocalOutlierFactor(novelty=True),
        {"n_neighbors": [5, 20]},
        scoring=get_dcase_scorers(),
        refit="official",
        cv=cv,
    ).fit(X, y)
    assert set(search.cv_results_) >= {"mean_test_auc", "mean_test_pauc", "mean_test_official"}
    train, test = next(cv.split(X, y))
    lof = LocalOutlierFactor(novelty=True, n_neighbors=5).fit(X[train])
    expected = dcase_pauc(y[test], -lof.score_samples(X[test]))
    assert search.cv_results_["split0_test_pauc"][0] == pytest.approx(expected)


def test_domain_metadata_reaches_the_scorer():
    rng = np.random.RandomState(7)
    X = np.vstack([rng.normal(size=(120, 4)) + 2, rng.normal(size=(40, 4)) * 3])
    y = np.r_[np.zeros(120, dtype=int), np.ones(40, dtype=int)]
    domain = np.where(np.arange(160) % 4 == 0, "target", "source")
    cv = list(StratifiedKFold(2, shuffle=True, random_state=0).split(X, y))
    with config_context(enable_metadata_routing=True):
        scorer = make_dcase_scorer("official")
        # the domains only feed the metric here, not the memory banks
        res = cross_validate(
            EchoKNNAnomalyDetector().set_fit_request(domain=False),
            X,
            y,
            cv=cv,
            scoring={"official": scorer},
            params={"domain": domain},
        )
        # not requested: the domains are not used
        blind = make_dcase_scorer("official").set_score_request(domain=False)
        res_blind = cross_validate(
            EchoKNNAnomalyDetector(), X, y, cv=cv, scoring={"official": blind}
        )
    train, test = cv[0]
    det = EchoKNNAnomalyDetector().fit(X[train], y[train])
    scores = det.anomaly_score(X[test])
    assert res["test_official"][0] == pytest.approx(
        dcase_official_score(y[test], scores, domain=domain[test])
    )
    assert res_blind["test_official"][0] == pytest.approx(dcase_official_score(y[test], scores))
    assert res["test_official"][0] != pytest.approx(res_blind["test_official"][0])
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        make_dcase_scorer().set_score_request(domain=True)


def test_score_with_domain_passes_domains_to_the_detector():
    rng = np.random.RandomState(8)
    X = np.vstack([rng.normal(size=(60, 3)) + 3, rng.normal(size=(60, 3)) - 3])
    domain = np.repeat(["source", "target"], 60)
    det = EchoKNNAnomalyDetector().fit(X, domain=domain)
    Xte = np.vstack([X[:20] + 0.1, rng.normal(size=(10, 3)) * 4])
    yte = np.r_[np.zeros(20, dtype=int), np.ones(10, dtype=int)]
    dte = np.r_[["source"] * 20, ["target"] * 10]
    scorer = make_dcase_scorer("auc", score_with_domain=True)
    assert scorer(det, Xte, yte, domain=dte) == dcase_auc(yte, det.anomaly_score(Xte, domain=dte))
    assert repr(scorer) == "make_dcase_scorer('auc', score_with_domain=True)"


# ------------------------------------------- figures of one section, evaluator style

def test_section_figures_are_the_evaluator_computations():
    from sklearn.metrics import confusion_matrix

    from sklearn_echo.metrics import DCASE_SECTION_FIGURES, dcase_section_figures

    y, score, domain = _section(seed=5)
    decision = (score > 0.8).astype(int)
    fig = dcase_section_figures(y, score, domain=domain, decision=decision)
    aucs, pauc, _ = _evaluator_reference(y, score, domain)
    assert fig["auc_all"] == roc_auc_score(y, score)
    assert fig["pauc"] == pauc
    assert fig["auc_source"] == aucs["source"] and fig["auc_target"] == aucs["target"]
    eps = np.finfo(float).eps
    for d in ("source", "target"):
        mine = domain == d
        _tn, fp, fn, tp = confusion_matrix(y[mine], decision[mine]).ravel()
        prec, rec = tp / max(tp + fp, eps), tp / max(tp + fn, eps)
        assert fig[f"precision_{d}"] == prec and fig[f"recall_{d}"] == rec
        assert fig[f"f1_{d}"] == 2 * prec * rec / max(prec + rec, eps)
    assert fig["notes"] == [] and set(DCASE_SECTION_FIGURES) <= set(fig)


def test_section_figures_undefined_are_nan_with_a_note():
    from sklearn_echo.metrics import dcase_section_figures

    # no anomaly: nothing is defined
    fig = dcase_section_figures([0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4], domain=["source", "source", "target", "target"])
    assert all(np.isnan(fig[k]) for k in ("auc_all", "auc_source", "auc_target", "pauc"))
    assert fig["notes"] == ["AUC (all) undefined: 4 normal and 0 anomalous clips"]
    # no normal target clip: the target AUC alone is undefined
    fig = dcase_section_figures([0, 1, 1, 1], [0.1, 0.9, 0.3, 0.4], domain=["source", "source", "target", "target"])
    assert fig["auc_source"] == 1.0 and np.isnan(fig["auc_target"])
    assert fig["notes"] == ["AUC (target) undefined: no normal clip of domain 'target'"]
    # no domains (DCASE 2020): section AUC and pAUC only
    fig = dcase_section_figures([0, 1, 0, 1], [0.1, 0.9, 0.3, 0.4])
    assert fig["auc_all"] == 1.0 and np.isnan(fig["auc_source"])
    with pytest.raises(ValueError, match="decision must hold 1"):
        dcase_section_figures([0, 1], [0.1, 0.2], decision=[0, 2])


def test_evaluator_hmean_floors_at_epsilon_and_skips_nan():
    from sklearn_echo.metrics import dcase_evaluator_hmean

    eps = np.finfo(float).eps
    values = [0.9, 0.0, 0.7]
    assert dcase_evaluator_hmean(values) == hmean(np.maximum(values, eps))
    assert dcase_evaluator_hmean(values) > 0 and dcase_hmean(values) == 0.0
    assert dcase_evaluator_hmean([0.5, np.nan, 0.25]) == hmean([0.5, 0.25])
    assert np.isnan(dcase_evaluator_hmean([np.nan]))
