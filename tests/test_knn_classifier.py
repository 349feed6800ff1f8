"""EchoKNNClassifier: sklearn conformance and equality with KNeighborsClassifier."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_echo.neighbors import EchoKNNClassifier


@parametrize_with_checks(
    [
        EchoKNNClassifier(),
        EchoKNNClassifier(n_neighbors=3, weights="distance", metric="euclidean"),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _data(seed=0, n=400, dim=12, n_classes=4):
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=1.5, size=(n_classes, dim))
    y = rng.randint(n_classes, size=n)
    X = centers[y] + rng.normal(size=(n, dim))
    return X, y


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_equals_sklearn_brute(metric, weights):
    X, y = _data()
    labels = np.array(["ball", "inner_race", "normal", "outer_race"])[y]
    Xtr, Xte, ytr = X[:300], X[300:], labels[:300]
    ours = EchoKNNClassifier(n_neighbors=5, weights=weights, metric=metric).fit(Xtr, ytr)
    ref = KNeighborsClassifier(
        n_neighbors=5, weights=weights, metric=metric, algorithm="brute"
    ).fit(Xtr, ytr)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    d, i = ours.kneighbors(Xte)
    d_ref, i_ref = ref.kneighbors(Xte)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours.predict(Xte), ref.predict(Xte))
    np.testing.assert_allclose(ours.predict_proba(Xte), ref.predict_proba(Xte), rtol=1e-6)
    assert ours.score(Xte, labels[300:]) == ref.score(Xte, labels[300:])
    # training set, each sample left out of its own neighbours
    d, i = ours.kneighbors(n_neighbors=3)
    d_ref, i_ref = ref.kneighbors(n_neighbors=3)
    np.testing.assert_array_equal(i, i_ref)
    np.testing.assert_allclose(d, d_ref, rtol=1e-5, atol=1e-6)
    assert ours.n_features_in_ == 12 and ours.n_samples_fit_ == 300
    # neighbours without distances: the same
    np.testing.assert_array_equal(
        ours.kneighbors(Xte, return_distance=False), ref.kneighbors(Xte, return_distance=False)
    )
    np.testing.assert_array_equal(ours.kneighbors(n_neighbors=3, return_distance=False), i_ref)


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_uniform_votes_ask_the_index_for_no_distances(weights, monkeypatch):
    from sklearn_echo.neighbors import NeighborIndex

    asked = []
    original = NeighborIndex.kneighbors

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("return_distance", True))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(NeighborIndex, "kneighbors", spy)
    X, y = _data()
    clf = EchoKNNClassifier(weights=weights).fit(X[:300], y[:300])
    ref = KNeighborsClassifier(weights=weights, metric="cosine", algorithm="brute").fit(X[:300], y[:300])
    np.testing.assert_array_equal(clf.predict(X[300:]), ref.predict(X[300:]))
    assert asked == [weights != "uniform"]


def test_vote_ties_go_to_the_lowest_class_index():
    # two neighbours, one of each class: the tie goes to classes_[0]
    X = np.array([[1.0, 0.0], [0.0, 1.0], [10.0, 10.0]])
    y = np.array([7, 3, 3])
    query = np.array([[1.0, 1.0]])
    ours = EchoKNNClassifier(n_neighbors=2, metric="euclidean").fit(X, y)
    ref = KNeighborsClassifier(n_neighbors=2, algorithm="brute").fit(X, y)
    np.testing.assert_array_equal(ours.classes_, [3, 7])
    np.testing.assert_allclose(ours.predict_proba(query), [[0.5, 0.5]])
    assert ours.predict(query)[0] == 3 == ref.predict(query)[0]
    # the same tie with string labels
    ys = np.array(["b", "a", "a"])
    assert EchoKNNClassifier(n_neighbors=2, metric="euclidean").fit(X, ys).predict(query)[0] == "a"


def test_distance_weights_with_exact_matches():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.1], [5.0, 5.0]])
    y = np.array([0, 1, 1, 0])
    clf = EchoKNNClassifier(n_neighbors=3, weights="distance", metric="euclidean").fit(X, y)
    # a query equal to a training sample: only the zero-distance one votes
    np.testing.assert_array_equal(clf.predict_proba([[0.0, 1.0]]), [[1.0, 0.0]])


def test_grid_search_in_a_pipeline_matches_sklearn():
    X, y = _data(seed=1, n=240)
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    grid = {"knn__n_neighbors": [1, 3, 7, 15]}
    ours = GridSearchCV(
        make_pipeline(StandardScaler(), EchoKNNClassifier()).set_output(transform="default"),
        {"echoknnclassifier__n_neighbors": grid["knn__n_neighbors"]},
        cv=cv,
    ).fit(X, y)
    ref = GridSearchCV(
        make_pipeline(StandardScaler(), KNeighborsClassifier(metric="cosine", algorithm="brute")),
        {"kneighborsclassifier__n_neighbors": grid["knn__n_neighbors"]},
        cv=cv,
    ).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"]
    )
    assert (
        ours.best_params_["echoknnclassifier__n_neighbors"]
        == ref.best_params_["kneighborsclassifier__n_neighbors"]
    )
    assert ours.best_score_ > 0.5


def test_joblib_n_jobs_gives_the_same_scores():
    X, y = _data(seed=2, n=200)
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    serial = cross_val_score(EchoKNNClassifier(n_jobs=1), X, y, cv=cv, n_jobs=1)
    parallel = cross_val_score(EchoKNNClassifier(n_jobs=1), X, y, cv=cv, n_jobs=2)
    np.testing.assert_array_equal(serial, parallel)


def test_pickle_and_clone_round_trip():
    X, y = _data(seed=3, n=120)
    clf = EchoKNNClassifier(n_neighbors=4, weights="distance").fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    fresh = clone(clf)
    assert fresh.get_params() == clf.get_params()
    assert not hasattr(fresh, "classes_")


def test_bad_input_errors():
    X, y = _data(seed=4, n=30)
    clf = EchoKNNClassifier(n_neighbors=3).fit(X, y)
    bad = X[:4].copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinity in row\(s\) 2;"):
        clf.predict(bad)
    bad[2, 5] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinity in row\(s\) 2;"):
        clf.predict_proba(bad)
    with pytest.raises(ValueError, match=r"NaN or infinity in row\(s\) 2;"):
        EchoKNNClassifier().fit(bad, y[:4])
    with pytest.raises(ValueError, match="X has 11 features, but EchoKNNClassifier is expecting 12"):
        clf.predict(X[:, :11])
    with pytest.raises(ValueError, match=r"n_neighbors=40 is larger than the number of training samples"):
        EchoKNNClassifier(n_neighbors=40).fit(X, y).predict(X)
    with pytest.raises(ValueError, match="Unknown label type"):
        EchoKNNClassifier().fit(X, np.linspace(0, 1, 30))
    with pytest.raises(ValueError, match="n_neighbors"):
        EchoKNNClassifier(n_neighbors=0).fit(X, y)
    with pytest.raises(ValueError, match="metric"):
        EchoKNNClassifier(metric="manhattan").fit(X, y)


def test_hnsw_classifier_agrees_with_brute():
    rng = np.random.RandomState(5)
    centers = rng.normal(scale=3.0, size=(6, 24))
    y = rng.randint(6, size=1500)
    X = (centers[y] + rng.normal(size=(1500, 24))).astype(np.float32)
    fast = EchoKNNClassifier(algorithm="hnsw", random_state=0, n_jobs=1).fit(X[:1200], y[:1200])
    exact = EchoKNNClassifier(algorithm="brute").fit(X[:1200], y[:1200])
    assert fast.index_.algorithm_ == "hnsw"
    agree = np.mean(fast.predict(X[1200:]) == exact.predict(X[1200:]))
    assert agree >= 0.98, agree
    assert fast.score(X[1200:], y[1200:]) >= 0.95


def test_knn_on_arrays_does_not_load_torch():
    # neighbour search on embeddings needs numpy and faiss only: torch (a second or more
    # to import) is loaded by the embedding side, not by k-NN on arrays
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from sklearn_echo import EchoKNNAnomalyDetector, EchoKNNClassifier\n"
        "X = np.random.RandomState(0).rand(20, 8)\n"
        "EchoKNNClassifier(n_neighbors=3, n_jobs=2).fit(X, [0, 1] * 10).predict(X[:3])\n"
        "EchoKNNAnomalyDetector(n_neighbors=2).fit(X).score_samples(X[:3])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr
