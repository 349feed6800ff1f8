"""EchoKNNAnomalyDetector: sklearn conformance, memory banks, domains, real sound."""

import pickle
import warnings

import numpy as np
import pytest
import soundfile as sf
from scipy import signal
from sklearn import config_context
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_echo.metrics import dcase_auc, dcase_official_score, get_dcase_scorers
from sklearn_echo.neighbors import EchoKNNAnomalyDetector

from .conftest import MIMII_DIR


# scikit-learn's checks pass arbitrary class labels as y (e.g. 0, 1, 2); the
# detector warns that values other than 0/1 are used as normal samples.
@pytest.mark.filterwarnings("ignore:y should hold 0 .normal. and 1:UserWarning")
@parametrize_with_checks(
    [
        EchoKNNAnomalyDetector(),
        EchoKNNAnomalyDetector(
            n_neighbors=3, aggregation="kth", metric="euclidean", contamination=0.1
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _blobs(n=300, dim=8, seed=0, shift=0.0):
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=3.0, size=(3, dim)) + 5.0
    return centers[rng.randint(3, size=n)] + rng.normal(size=(n, dim)) + shift


def _agg(dist, aggregation):
    return dist.mean(axis=1) if aggregation == "mean" else dist[:, -1]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("n_neighbors, aggregation", [(1, "mean"), (4, "mean"), (4, "max"), (4, "kth")])
def test_scores_equal_sklearn_nearest_neighbors(metric, n_neighbors, aggregation):
    X = _blobs()
    Xtr, Xte = X[:200], X[200:]
    det = EchoKNNAnomalyDetector(
        n_neighbors=n_neighbors, aggregation=aggregation, metric=metric, contamination=0.1
    ).fit(Xtr)
    nn = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute", metric=metric).fit(Xtr)
    expected = -_agg(nn.kneighbors(Xte)[0], aggregation)
    np.testing.assert_allclose(det.score_samples(Xte), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(det.anomaly_score(Xte), -expected, rtol=1e-5, atol=1e-6)
    # leave-self-out training scores = sklearn's kneighbors(X=None)
    loo = -_agg(nn.kneighbors()[0], aggregation)
    np.testing.assert_allclose(det.train_scores_, loo, rtol=1e-5, atol=1e-6)
    assert det.offset_ == pytest.approx(np.percentile(det.train_scores_, 10.0))
    np.testing.assert_allclose(det.decision_function(Xte), det.score_samples(Xte) - det.offset_)
    np.testing.assert_array_equal(
        det.predict(Xte), np.where(det.decision_function(Xte) < 0, -1, 1)
    )


def test_contamination_rules():
    X = _blobs(seed=1)
    det = EchoKNNAnomalyDetector(contamination=0.1).fit(X)
    # training samples are scored leave-self-out: 10 % of them are flagged
    assert np.sum(det.predict(X) == -1) == 30
    np.testing.assert_allclose(det.score_samples(X), det.train_scores_)
    np.testing.assert_array_equal(det.fit_predict(X), det.predict(X))
    auto = EchoKNNAnomalyDetector().fit(X)
    q1, q3 = np.percentile(auto.train_scores_, [25, 75])
    assert auto.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    flagged = auto.predict(X) == -1
    np.testing.assert_array_equal(flagged, auto.train_scores_ < auto.offset_)
    assert 0 < flagged.sum() < 30


def test_known_anomalies_stay_out_of_the_bank():
    X = _blobs(seed=2)
    y = np.zeros(300, dtype=int)
    y[::10] = 1
    det = EchoKNNAnomalyDetector(n_neighbors=2).fit(X, y)
    ref = EchoKNNAnomalyDetector(n_neighbors=2).fit(X[y == 0])
    assert det.n_samples_fit_ == 270
    np.testing.assert_array_equal(det.score_samples(X), ref.score_samples(X))
    np.testing.assert_array_equal(det.train_scores_, ref.train_scores_)
    # booleans work the same way
    np.testing.assert_array_equal(
        EchoKNNAnomalyDetector(n_neighbors=2).fit(X, y == 1).train_scores_, ref.train_scores_
    )


def test_y_validation():
    X = _blobs(n=20, seed=3)
    with pytest.raises(ValueError, match="Unknown label type: y must be numeric"):
        EchoKNNAnomalyDetector().fit(X, ["normal"] * 20)
    with pytest.raises(ValueError, match=r"y is NaN or infinite at index 3"):
        EchoKNNAnomalyDetector().fit(X, np.r_[np.zeros(3), np.nan, np.zeros(16)])
    with pytest.warns(UserWarning, match=r"got \[2\] at index 5\. Only the rows with y == 1"):
        det = EchoKNNAnomalyDetector().fit(X, np.r_[np.zeros(5, int), 2, np.zeros(14, int)])
    assert det.n_samples_fit_ == 20
    with pytest.raises(ValueError, match="y has 3 labels for 20 samples"):
        EchoKNNAnomalyDetector().fit(X, [0, 1, 0])


def test_bad_input_errors():
    X = _blobs(n=40, seed=4)
    det = EchoKNNAnomalyDetector().fit(X)
    bad = X[:5].copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinity in row\(s\) 3"):
        det.score_samples(bad)
    bad[3, 2] = -np.inf
    with pytest.raises(ValueError, match=r"NaN or infinity in row\(s\) 3"):
        det.predict(bad)
    with pytest.raises(ValueError, match=r"NaN or infinity in row\(s\) 3"):
        EchoKNNAnomalyDetector().fit(bad)
    with pytest.raises(ValueError, match="X has 7 features, but EchoKNNAnomalyDetector is expecting 8"):
        det.decision_function(X[:, :7])
    with pytest.raises(ValueError, match="X has 9 features"):
        det.partial_fit(np.hstack([X, X[:, :1]]))
    # empty bank: every sample is a known anomaly
    with pytest.raises(ValueError, match=r"at least 2 normal samples .* got 0 from n_samples=40 \(40 labelled"):
        EchoKNNAnomalyDetector().fit(X, np.ones(40))
    with pytest.raises(ValueError, match="n_samples=1"):
        EchoKNNAnomalyDetector().fit(X[:1])
    with pytest.raises(ValueError, match="contamination"):
        EchoKNNAnomalyDetector(contamination=0.7).fit(X)
    with pytest.raises(ValueError, match="aggregation"):
        EchoKNNAnomalyDetector(aggregation="median").fit(X)


def test_n_neighbors_larger_than_the_bank_is_clamped_with_a_warning():
    X = _blobs(n=6, seed=5)
    with pytest.warns(UserWarning, match=r"n_neighbors \(10\) is greater .* n_neighbors_=5"):
        det = EchoKNNAnomalyDetector(n_neighbors=10).fit(X)
    assert det.n_neighbors_ == 5
    nn = NearestNeighbors(n_neighbors=5, metric="cosine").fit(X)
    np.testing.assert_allclose(det.train_scores_, -nn.kneighbors()[0].mean(axis=1), rtol=1e-6)
    Q = _blobs(n=3, seed=6)
    np.testing.assert_allclose(det.score_samples(Q), -nn.kneighbors(Q)[0].mean(axis=1), rtol=1e-6)


def _domains(seed=7):
    rng = np.random.RandomState(seed)
    source = rng.normal(size=(150, 6)) + 4.0
    target = 3.0 * rng.normal(size=(20, 6)) + [4.0, -4, 4, -4, 4, -4]
    X = np.vstack([source, target])
    domain = np.array(["source"] * 150 + ["target"] * 20)
    return X, domain


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_one_bank_per_domain_and_minimum_over_domains(metric):
    X, domain = _domains()
    det = EchoKNNAnomalyDetector(n_neighbors=2, metric=metric).fit(X, domain=domain)
    np.testing.assert_array_equal(det.domains_, ["source", "target"])
    Q = np.random.RandomState(8).normal(size=(40, 6)) * 2 + 3
    per_bank = []
    for d in ["source", "target"]:
        nn = NearestNeighbors(n_neighbors=2, metric=metric).fit(X[domain == d])
        per_bank.append(nn.kneighbors(Q)[0].mean(axis=1))
    np.testing.assert_allclose(det.score_samples(Q, domain=["target"] * 40), -per_bank[1], rtol=1e-5)
    np.testing.assert_allclose(det.score_samples(Q, domain=["source"] * 40), -per_bank[0], rtol=1e-5)
    np.testing.assert_allclose(det.score_samples(Q), -np.minimum(*per_bank), rtol=1e-5)
    mixed = np.array(["source", "target"] * 20)
    expected = np.where(mixed == "source", per_bank[0], per_bank[1])
    np.testing.assert_allclose(det.anomaly_score(Q, domain=mixed), expected, rtol=1e-5)


def test_domain_normalization_standardises_each_bank():
    X, domain = _domains()
    det = EchoKNNAnomalyDetector(domain_normalization=True, metric="euclidean").fit(X, domain=domain)
    Q = np.random.RandomState(9).normal(size=(30, 6)) * 2 + 3
    z = []
    for b, d in enumerate(["source", "target"]):
        nn = NearestNeighbors(n_neighbors=1).fit(X[domain == d])
        loo = nn.kneighbors()[0][:, 0]
        assert det.domain_mean_[b] == pytest.approx(loo.mean())
        assert det.domain_scale_[b] == pytest.approx(loo.std())
        z.append((nn.kneighbors(Q)[0][:, 0] - loo.mean()) / loo.std())
    np.testing.assert_allclose(det.anomaly_score(Q), np.minimum(*z), rtol=1e-5)
    np.testing.assert_allclose(det.anomaly_score(Q, domain=["target"] * 30), z[1], rtol=1e-5)
    with pytest.raises(ValueError, match="at least 2 normal samples per domain; domain 'solo' has 1"):
        EchoKNNAnomalyDetector(domain_normalization=True).fit(
            X[:4], domain=["a", "a", "a", "solo"]
        )


def test_unknown_domain_warns_and_uses_every_bank():
    X, domain = _domains()
    det = EchoKNNAnomalyDetector().fit(X, domain=domain)
    Q = X[:5] + 0.5
    expected = det.score_samples(Q)
    with pytest.warns(UserWarning, match=r"domain\(s\) \['factory_b'\] at index 1, 3 were not seen"):
        got = det.score_samples(Q, domain=["source", "factory_b", "source", "factory_b", "target"])
    np.testing.assert_allclose(got[[1, 3]], expected[[1, 3]])
    np.testing.assert_allclose(got[0], det.score_samples(Q[:1], domain=["source"]))
    plain = EchoKNNAnomalyDetector().fit(X)
    with pytest.warns(UserWarning, match="fitted without domains"):
        np.testing.assert_allclose(plain.score_samples(Q, domain=["source"] * 5), plain.score_samples(Q))


def test_partial_fit_equals_fit():
    X, domain = _domains()
    order = np.random.RandomState(10).permutation(len(X))
    X, domain = X[order], domain[order]
    for kwargs in [{}, {"domain_normalization": True}, {"aggregation": "kth", "metric": "euclidean"}]:
        full = EchoKNNAnomalyDetector(n_neighbors=3, **kwargs).fit(X, domain=domain)
        stream = EchoKNNAnomalyDetector(n_neighbors=3, **kwargs)
        # the first batch holds only the source domain: "target" arrives later
        first = np.flatnonzero(domain == "source")[:40]
        rest = np.setdiff1d(np.arange(len(X)), first)
        stream.partial_fit(X[first], domain=domain[first])
        assert stream.domains_.tolist() == ["source"]
        for chunk in np.array_split(rest, 4):
            stream.partial_fit(X[chunk], domain=domain[chunk])
        assert stream.domains_.tolist() == ["source", "target"]
        assert stream.n_samples_fit_ == len(X)
        order_full = np.r_[first, rest]
        # training scores follow the order the samples were added; float32
        # rounding differs slightly with the euclidean bank's reference point
        np.testing.assert_allclose(
            np.sort(stream.train_scores_), np.sort(full.train_scores_), rtol=1e-6
        )
        assert stream.offset_ == pytest.approx(full.offset_, rel=1e-6)
        Q = X[:30] + 0.3
        np.testing.assert_allclose(stream.score_samples(Q), full.score_samples(Q), rtol=1e-6)
        np.testing.assert_allclose(
            stream.score_samples(X[order_full[:5]]), stream.train_scores_[:5], rtol=1e-9
        )
    with pytest.raises(ValueError, match="fitted with domains: partial_fit needs the domain"):
        stream.partial_fit(X[:3])
    with pytest.raises(ValueError, match="fitted without domains"):
        EchoKNNAnomalyDetector().fit(X).partial_fit(X[:3], domain=domain[:3])


def _labelled_mixture(seed=11):
    rng = np.random.RandomState(seed)
    normal = rng.normal(size=(160, 6)) + 5.0
    anomalies = rng.normal(size=(40, 6)) + 5.0 + rng.choice([-2.0, 2.0], size=(40, 6))
    X = np.vstack([normal, anomalies])
    y = np.r_[np.zeros(160, dtype=int), np.ones(40, dtype=int)]
    return X, y


def test_grid_search_with_dcase_scorers_on_labelled_data():
    X, y = _labelled_mixture()
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), EchoKNNAnomalyDetector(metric="euclidean")),
        {"echoknnanomalydetector__n_neighbors": [1, 3, 9]},
        scoring=get_dcase_scorers(),
        refit="official",
        cv=cv,
    ).fit(X, y)
    # a manual run of one fold: y == 1 rows are kept out of the bank
    train, test = next(cv.split(X, y))
    k = search.best_params_["echoknnanomalydetector__n_neighbors"]
    pipe = make_pipeline(StandardScaler(), EchoKNNAnomalyDetector(n_neighbors=k, metric="euclidean"))
    pipe.fit(X[train], y[train])
    assert pipe[-1].n_samples_fit_ == np.sum(y[train] == 0)
    best = np.flatnonzero(search.cv_results_["param_echoknnanomalydetector__n_neighbors"] == k)[0]
    fold_auc = search.cv_results_["split0_test_auc"][best]
    assert fold_auc == pytest.approx(dcase_auc(y[test], -pipe.score_samples(X[test])))
    assert search.best_score_ > 0.9
    assert search.best_estimator_[-1].n_samples_fit_ == 160


def test_domains_through_metadata_routing_in_grid_search():
    X, domain = _domains()
    rng = np.random.RandomState(12)
    anomalies = rng.normal(size=(30, 6)) * 2 - 3
    X = np.vstack([X, anomalies])
    domain = np.r_[domain, np.where(np.arange(30) % 2, "source", "target")]
    y = np.r_[np.zeros(170, dtype=int), np.ones(30, dtype=int)]
    strata = np.char.add(domain, y.astype(str))
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, strata))
    with config_context(enable_metadata_routing=True):
        det = EchoKNNAnomalyDetector().set_fit_request(domain=True)
        search = GridSearchCV(
            det, {"n_neighbors": [1, 2]}, scoring=get_dcase_scorers(), refit="official", cv=folds
        ).fit(X, y, domain=domain)
    assert search.best_estimator_.domains_.tolist() == ["source", "target"]
    # fold 0 by hand: per-domain banks, domain-agnostic scores, per-domain AUCs
    train, test = folds[0]
    k = search.best_params_["n_neighbors"]
    manual = EchoKNNAnomalyDetector(n_neighbors=k).fit(X[train], y[train], domain=domain[train])
    expected = dcase_official_score(y[test], manual.anomaly_score(X[test]), domain=domain[test])
    best = np.flatnonzero(search.cv_results_["param_n_neighbors"] == k)[0]
    assert search.cv_results_["split0_test_official"][best] == pytest.approx(expected)


def test_joblib_n_jobs_and_pickle_round_trip():
    X, y = _labelled_mixture(seed=13)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scorer = get_dcase_scorers()["auc"]
    serial = cross_val_score(EchoKNNAnomalyDetector(n_neighbors=2), X, y, cv=cv, scoring=scorer)
    parallel = cross_val_score(
        EchoKNNAnomalyDetector(n_neighbors=2), X, y, cv=cv, scoring=scorer, n_jobs=2
    )
    np.testing.assert_array_equal(serial, parallel)
    Xd, domain = _domains()
    det = EchoKNNAnomalyDetector(n_neighbors=2, domain_normalization=True).fit(Xd, domain=domain)
    restored = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(restored.score_samples(X), det.score_samples(X))
    np.testing.assert_array_equal(restored.domains_, det.domains_)
    restored.partial_fit(X[:10], domain=["target"] * 10)
    assert restored.n_samples_fit_ == det.n_samples_fit_ + 10
    fresh = clone(det)
    assert fresh.get_params() == det.get_params() and not hasattr(fresh, "offset_")


def test_hnsw_detector_agrees_with_brute():
    # clusters in a 6-dimensional subspace of 24 dimensions, as embeddings are
    rng = np.random.RandomState(14)
    basis = rng.normal(size=(6, 24))
    latent = rng.normal(scale=4.0, size=(8, 6))[rng.randint(8, size=1500)] + rng.normal(size=(1500, 6))
    X = (latent @ basis + 0.3 * rng.normal(size=(1500, 24))).astype(np.float32)
    fast = EchoKNNAnomalyDetector(n_neighbors=3, algorithm="hnsw", random_state=0, n_jobs=1)
    fast.fit(X[:1300])
    exact = EchoKNNAnomalyDetector(n_neighbors=3, algorithm="brute").fit(X[:1300])
    Q = np.vstack([X[1300:], rng.normal(scale=3.0, size=(50, 24))])
    s_fast, s_exact = fast.score_samples(Q), exact.score_samples(Q)
    same = np.isclose(s_fast, s_exact, rtol=1e-6)  # all 3 neighbours found
    assert same.mean() >= 0.85, same.mean()
    assert np.corrcoef(s_fast, s_exact)[0, 1] > 0.95
    assert np.mean(np.isclose(fast.train_scores_, exact.train_scores_, rtol=1e-6)) >= 0.85
    # approximate neighbours can only be farther: scores are never higher
    assert (fast.score_samples(Q) <= exact.score_samples(Q) + 1e-9).all()


def _log_band_embedding(path, seconds=4.0):
    """Mean and standard deviation of 64 log-spaced log-power bands."""
    x, rate = sf.read(path, dtype="float32", frames=int(seconds * 16000))
    _, _, spec = signal.stft(x, fs=rate, nperseg=1024, noverlap=512)
    power = np.abs(spec) ** 2
    edges = np.unique(np.geomspace(2, power.shape[0] - 1, 65).astype(int))
    bands = np.log(np.stack([power[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:])]) + 1e-10)
    return np.r_[bands.mean(axis=1), bands.std(axis=1)]


def test_detects_abnormal_fan_sounds_mimii():
    normal = sorted((MIMII_DIR / "normal").glob("*.wav"))
    abnormal = sorted((MIMII_DIR / "abnormal").glob("*.wav"))
    assert len(normal) == 20 and len(abnormal) == 20
    N = np.array([_log_band_embedding(p) for p in normal])
    A = np.array([_log_band_embedding(p) for p in abnormal])
    det = make_pipeline(StandardScaler(), EchoKNNAnomalyDetector(metric="euclidean"))
    det.fit(N[:10])
    test = np.vstack([N[10:], A])
    y = np.r_[np.zeros(10), np.ones(20)]
    auc = roc_auc_score(y, -det.score_samples(test))
    # measured: 0.955 (10 normal clips in the bank, 10 held-out normal + 20 abnormal)
    assert auc >= 0.85, auc
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (det.predict(A) == -1).mean() > (det.predict(N[10:]) == -1).mean()


def test_training_labels_ignore_uses_every_row_whatever_y_holds():
    """y of a pipeline may serve an earlier step (a fine-tuner's attributes): ignored on request."""
    from sklearn_echo import EchoKNNAnomalyDetector

    rng = np.random.default_rng(7)
    X = rng.standard_normal((12, 16)).astype(np.float32)
    Q = rng.standard_normal((5, 16)).astype(np.float32)
    plain = EchoKNNAnomalyDetector().fit(X).score_samples(Q)
    attributes = np.array(["pat_00", "pat_01", "pat_02"] * 4)
    ignoring = EchoKNNAnomalyDetector(training_labels="ignore")
    np.testing.assert_array_equal(ignoring.fit(X, attributes).score_samples(Q), plain)
    # integer attributes: class 1 stays in the bank too
    np.testing.assert_array_equal(ignoring.fit(X, np.arange(12) % 3).score_samples(Q), plain)
    with pytest.raises(ValueError, match="y must be numeric"):
        EchoKNNAnomalyDetector().fit(X, attributes)
