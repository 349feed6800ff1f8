"""DEGramClassifier: sklearn behaviour, real CWRU recordings at 12 and 48 kHz, errors."""

import pickle
import re

import matplotlib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_echo.degram import (
    DEGramClassifier,
    butterworth_response,
    mel_filter_params,
    plot_filterbank,
)
from sklearn_echo.signals import SignalError, SignalFileNotFoundError, load_signals

from .conftest import CWRU_DIR

matplotlib.use("Agg")

# --------------------------------------------------------------------------- sklearn checks
# Dense equal-length input: each row is a signal at 100 Hz; 50 ms windows are
# 5 samples (STFT window 3, hop 1), shorter rows are zero-padded.
EXPECTED_FAILED_CHECKS = {
    "check_classifiers_train": (
        "it refits on X.tolist() and expects predict to reject a dense array of "
        "another width; a list is a list of signals of any lengths, so no "
        "n_features_in_ is recorded (accuracy on the blobs is above 0.83)"
    ),
}


def _check_instance():
    return DEGramClassifier(
        n_filters=8,
        window_duration=0.05,
        sample_rate=100,
        short_signals="pad",
        max_epochs=10,
        validation_fraction=0.0,
        random_state=0,
        device="cpu",
    )


@parametrize_with_checks(
    [_check_instance()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- synthetic tones
def tones(n_per_class=4, rate=4000, seconds=2.0, seed=0):
    """Two classes: a 300 Hz ('low') or 1200 Hz ('high') tone in noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    X, y = [], []
    for k in range(2 * n_per_class):
        f = 300.0 if k % 2 else 1200.0
        x = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) + 0.5 * rng.standard_normal(len(t))
        X.append(x.astype(np.float32))
        y.append("low" if k % 2 else "high")
    return X, np.array(y)


TINY = dict(
    n_filters=16,
    window_duration=0.5,
    max_epochs=8,
    learning_rate=3e-3,
    validation_fraction=0.0,
    random_state=0,
    device="cpu",
)


@pytest.fixture(scope="module")
def tone_data():
    return tones()


@pytest.fixture(scope="module")
def fitted(tone_data):
    X, y = tone_data
    return DEGramClassifier(**TINY).fit(X, y, sample_rate=4000)


def test_learns_tones_and_predicts_at_another_rate(fitted):
    X, y = tones(n_per_class=3, seed=1)
    assert fitted.score(X, y, sample_rate=4000) == 1.0
    # the same filters evaluated on 16 kHz bins: no resampling
    X16, y16 = tones(n_per_class=3, rate=16000, seed=2)
    assert fitted.score(X16, y16, sample_rate=16000) == 1.0
    proba = fitted.predict_proba(X16, sample_rate=16000)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert list(fitted.classes_) == ["high", "low"]
    assert len(fitted.loss_curve_) == fitted.n_iter_ == 8
    assert fitted.loss_curve_[-1] < fitted.loss_curve_[0]


def test_same_seed_gives_identical_weights_and_predictions(tone_data, fitted):
    X, y = tone_data
    again = DEGramClassifier(**TINY).fit(X, y, sample_rate=4000)
    assert fitted.state_dict_.keys() == again.state_dict_.keys()
    for k, v in fitted.state_dict_.items():
        np.testing.assert_array_equal(v, again.state_dict_[k], err_msg=k)
    np.testing.assert_array_equal(
        fitted.predict_proba(X, sample_rate=4000), again.predict_proba(X, sample_rate=4000)
    )
    other = DEGramClassifier(**{**TINY, "random_state": 1}).fit(X, y, sample_rate=4000)
    assert not np.array_equal(other.state_dict_["backbone.head.weight"], fitted.state_dict_["backbone.head.weight"])
    # fitting does not disturb torch's global random stream
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    DEGramClassifier(**{**TINY, "max_epochs": 1}).fit(X, y, sample_rate=4000)
    torch.testing.assert_close(torch.rand(3), expected)


def test_pickle_holds_no_torch_module_and_round_trips(tone_data, fitted):
    X, _ = tone_data
    fitted.predict(X[:1], sample_rate=4000)  # builds the cached torch network
    data = pickle.dumps(fitted)
    assert b"torch" not in data
    restored = pickle.loads(data)
    np.testing.assert_array_equal(
        restored.predict_proba(X, sample_rate=4000), fitted.predict_proba(X, sample_rate=4000)
    )
    params = clone(fitted).get_params()
    assert params == fitted.get_params()
    assert not hasattr(clone(fitted), "state_dict_")


def test_transform_gives_the_penultimate_embedding(tone_data, fitted):
    X, y = tone_data
    emb = fitted.transform(X, sample_rate=4000)
    assert emb.shape == (len(X), 128) and emb.dtype == np.float32
    assert list(fitted.get_feature_names_out()[:2]) == ["degramclassifier0", "degramclassifier1"]
    knn = KNeighborsClassifier(n_neighbors=1).fit(emb, y)
    X2, y2 = tones(n_per_class=3, seed=5)
    assert knn.score(fitted.transform(X2, sample_rate=4000), y2) == 1.0
    pipe = make_pipeline(DEGramClassifier(**TINY, sample_rate=4000), KNeighborsClassifier(1))
    assert pipe.fit(X, y).score(X2, y2) == 1.0


def test_filterbank_is_inspectable_in_hz(fitted):
    fb, init = fitted.filterbank_, fitted.initial_filterbank_
    c0, b0 = mel_filter_params(16, 0.0, 2000.0)
    np.testing.assert_allclose(init.centers_hz, c0)
    np.testing.assert_allclose(init.bandwidths_hz, b0)
    assert fitted.f_max_ == 2000.0 and fitted.sample_rate_ == 4000.0
    assert not np.allclose(fb.centers_hz, init.centers_hz)  # the filters were learned
    freqs = np.linspace(0, 8000, 301)
    np.testing.assert_allclose(
        fitted.filterbank_response(freqs),
        butterworth_response(freqs, fb.centers_hz, fb.bandwidths_hz, 4),
    )
    np.testing.assert_allclose(
        fitted.filterbank_response(freqs, initial=True), butterworth_response(freqs, c0, b0, 4)
    )
    ax = plot_filterbank(fitted, every=2)
    assert len(ax.lines) == 16  # 8 learned + 8 initial
    assert ax.get_xlabel() == "frequency (Hz)"


def test_gridsearch_routes_per_signal_rates_under_joblib():
    X4, y4 = tones(n_per_class=3, rate=4000, seed=3)
    X8, y8 = tones(n_per_class=3, rate=8000, seed=4)
    X = X4 + X8
    y = np.concatenate([y4, y8])
    rates = np.array([4000.0] * len(X4) + [8000.0] * len(X8))
    with sklearn.config_context(enable_metadata_routing=True):
        clf = DEGramClassifier(**TINY).set_fit_request(sample_rate=True).set_score_request(sample_rate=True)
        search = GridSearchCV(clf, {"attention_strategy": ["maxout", "add"]}, cv=2, n_jobs=2)
        search.fit(X, y, sample_rate=rates)
    assert search.best_score_ == 1.0
    assert search.best_estimator_.sample_rate_ == 4000.0


# --------------------------------------------------------------------------- options
def test_multichannel_first_or_mean(tone_data):
    X, y = tone_data
    clf = DEGramClassifier(**TINY).fit(X, y, sample_rate=4000)
    rng = np.random.default_rng(0)
    two = [np.stack([x, rng.standard_normal(len(x)).astype(np.float32)]) for x in X[:3]]
    first = clone(clf).set_params(multichannel="first")
    first.__dict__.update({k: v for k, v in clf.__dict__.items() if k.endswith("_")})
    np.testing.assert_allclose(
        first.predict_proba(two, sample_rate=4000), clf.predict_proba(X[:3], sample_rate=4000)
    )
    np.testing.assert_allclose(
        clf.predict_proba(two, sample_rate=4000),
        clf.predict_proba([t.mean(0) for t in two], sample_rate=4000),
        rtol=1e-5,
    )


def test_dataframe_and_pairs_give_the_same_predictions(tone_data, fitted):
    pd = pytest.importorskip("pandas")
    X, _ = tone_data
    expected = fitted.predict_proba(X[:4], sample_rate=4000)
    frame = pd.DataFrame({"signal": list(X[:4]), "sample_rate": [4000] * 4})
    np.testing.assert_array_equal(fitted.predict_proba(frame), expected)
    np.testing.assert_array_equal(fitted.predict_proba([(x, 4000) for x in X[:4]]), expected)


def test_speed_perturbation_trains(tone_data):
    X, y = tone_data
    clf = DEGramClassifier(**TINY, speed_perturbation=0.1).fit(X, y, sample_rate=4000)
    plain = DEGramClassifier(**TINY).fit(X, y, sample_rate=4000)
    assert clf.loss_curve_ != plain.loss_curve_  # the crops differ
    X2, y2 = tones(n_per_class=3, seed=8)
    assert clf.score(X2, y2, sample_rate=4000) == 1.0


def test_class_weight_scales_each_examples_loss(tone_data, fitted):
    X, y = tone_data
    # weights of 2 double every example's loss; AdamW's steps do not depend on the
    # gradient's scale, so the whole first epoch's loss doubles
    doubled = DEGramClassifier(**TINY, class_weight={"high": 2.0, "low": 2.0}).fit(X, y, sample_rate=4000)
    np.testing.assert_allclose(doubled.loss_curve_[0], 2 * fitted.loss_curve_[0], rtol=1e-4)
    # "balanced" on balanced classes is the unweighted loss
    balanced = DEGramClassifier(**TINY, class_weight="balanced").fit(X, y, sample_rate=4000)
    np.testing.assert_array_equal(balanced.loss_curve_, fitted.loss_curve_)
    # a zero weight leaves a class out of the loss without making it NaN
    zero = DEGramClassifier(**{**TINY, "max_epochs": 2}, class_weight={"high": 1.0, "low": 0.0})
    assert np.all(np.isfinite(zero.fit(X, y, sample_rate=4000).loss_curve_))
    with pytest.raises(ValueError, match="not in class_weight|not found in classes|are not in"):
        DEGramClassifier(**TINY, class_weight={"high": 1.0, "nope": 2.0}).fit(X, y, sample_rate=4000)


def test_balanced_class_weight_counts_training_windows(tone_data):
    X, y = tone_data
    # 'high' signals keep their 4 windows of 0.5 s, 'low' ones are cut to 2
    X = [x if label == "high" else x[:4000] for x, label in zip(X, y)]
    params = {**TINY, "max_epochs": 2}
    balanced = DEGramClassifier(**params, class_weight="balanced").fit(X, y, sample_rate=4000)
    assert balanced.n_train_windows_ == 4 * 4 + 4 * 2
    explicit = {"high": 24 / (2 * 16), "low": 24 / (2 * 8)}
    weighted = DEGramClassifier(**params, class_weight=explicit).fit(X, y, sample_rate=4000)
    np.testing.assert_array_equal(balanced.loss_curve_, weighted.loss_curve_)


def test_predict_log_proba_is_the_log_of_predict_proba(tone_data, fitted):
    X, _ = tone_data
    np.testing.assert_allclose(
        fitted.predict_log_proba(X[:3], sample_rate=4000),
        np.log(fitted.predict_proba(X[:3], sample_rate=4000)),
    )


def test_validation_split_and_early_stopping(tone_data):
    X, y = tone_data
    clf = DEGramClassifier(
        **{**TINY, "validation_fraction": 0.25, "max_epochs": 30, "n_iter_no_change": 2}
    ).fit(X, y, sample_rate=4000)
    # 8 signals x 4 windows; a quarter of each class's 16 windows is held out
    assert clf.n_train_windows_ == 32 - 8
    assert len(clf.validation_loss_curve_) == clf.n_iter_ < 30
    assert clf.best_epoch_ == 1 + int(np.argmin(clf.validation_loss_curve_))
    assert clf.validation_scores_[clf.best_epoch_ - 1] == 1.0


def test_verbose_shows_a_progress_bar(tone_data, capsys):
    X, y = tone_data
    DEGramClassifier(**{**TINY, "max_epochs": 2}, verbose=1).fit(X, y, sample_rate=4000)
    err = capsys.readouterr().err
    assert "DEGramClassifier" in err and "epoch" in err and "loss" in err


def test_n_jobs_sets_and_restores_torch_threads(tone_data):
    X, y = tone_data
    before = torch.get_num_threads()
    seen = []

    class Spy(DEGramClassifier):
        def _fit_net(self, *args):
            seen.append(torch.get_num_threads())
            return super()._fit_net(*args)

    Spy(**{**TINY, "max_epochs": 1, "n_jobs": 2}).fit(X, y, sample_rate=4000)
    Spy(**{**TINY, "max_epochs": 1, "n_jobs": None}).fit(X, y, sample_rate=4000)
    assert seen == [2, 1]  # None means one thread, as n_jobs=None does in sklearn
    assert torch.get_num_threads() == before


def test_plain_stft_ablation_has_no_filterbank(tone_data):
    X, y = tone_data
    clf = DEGramClassifier(**TINY, sincgram=False).fit(X, y, sample_rate=4000)
    assert clf.filterbank_ is None
    with pytest.raises(ValueError, match="fitted with sincgram=False"):
        clf.filterbank_response([100.0])
    X8, y8 = tones(n_per_class=2, rate=8000, seed=7)
    assert clf.predict(X8, sample_rate=8000).shape == (4,)


def test_resnet18_backbone_trains(tone_data):
    X, y = tone_data
    clf = DEGramClassifier(**{**TINY, "max_epochs": 1}, backbone="resnet18").fit(X[:4], y[:4], sample_rate=4000)
    assert clf.transform(X[:2], sample_rate=4000).shape == (2, 512)


# --------------------------------------------------------------------------- errors
def test_both_switches_off_is_an_error(tone_data):
    X, y = tone_data
    with pytest.raises(ValueError, match="at least one of sincgram and attention must be True"):
        DEGramClassifier(**TINY, sincgram=False, attention=False).fit(X, y, sample_rate=4000)


def test_a_single_class_is_an_error(tone_data):
    X, _ = tone_data
    with pytest.raises(ValueError, match=r"y has 1 class \('a'\); DEGramClassifier needs at least 2"):
        DEGramClassifier(**TINY).fit(X, ["a"] * len(X), sample_rate=4000)


def test_a_class_too_short_for_the_validation_split_is_an_error(tone_data):
    X, y = tone_data
    X = list(X[:4]) + [X[4][:2500]]  # one 0.625 s 'high' signal: a single 0.5 s window
    y = ["high", "low", "high", "low", "rare"]
    with pytest.raises(ValueError, match=r"class 'rare' has 1 window\(s\) of window_duration=0.5 s \(signals \['X\[4\]'\]\)"):
        DEGramClassifier(**{**TINY, "validation_fraction": 0.2}).fit(X, y, sample_rate=4000)
    # without validation it trains
    DEGramClassifier(**{**TINY, "max_epochs": 1}).fit(X, y, sample_rate=4000)


def test_short_signals_error_or_pad(tone_data, fitted):
    X, y = tone_data
    short = [X[0], X[1][:1200]]  # 0.3 s < 0.5 s
    with pytest.raises(ValueError, match=r"1 signal\(s\) shorter than window_duration=0.5 s: X\[1\] lasts 0.3 s"):
        fitted.predict(short, sample_rate=4000)
    with pytest.raises(ValueError, match=r"X\[1\] lasts 0.3 s"):
        DEGramClassifier(**TINY).fit(short, y[:2], sample_rate=4000)
    padded = clone(fitted).set_params(short_signals="pad")
    padded.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    explicit = [X[0], np.pad(X[1][:1200], (0, 800))]
    np.testing.assert_array_equal(
        padded.predict_proba(short, sample_rate=4000), fitted.predict_proba(explicit, sample_rate=4000)
    )
    trained = DEGramClassifier(**{**TINY, "max_epochs": 1}, short_signals="pad").fit(short, y[:2], sample_rate=4000)
    assert trained.n_train_windows_ == 4 + 1


def test_window_shorter_than_one_stft_frame_is_an_error(tone_data):
    X, y = tone_data
    with pytest.raises(ValueError, match=r"window_duration=0.01 s is 40 samples at 4000 Hz, shorter than the 32 ms STFT window"):
        DEGramClassifier(**{**TINY, "window_duration": 0.01}).fit(X, y, sample_rate=4000)


def test_bad_input_names_the_item(fitted, tmp_path):
    good = np.zeros(4000, dtype=np.float32)
    bad = good.copy()
    bad[10] = np.nan
    with pytest.raises(SignalError, match=r"X\[1\] contains NaN"):
        fitted.predict([good, bad], sample_rate=4000)
    missing = tmp_path / "gone.wav"
    with pytest.raises(SignalFileNotFoundError, match=r"X\[0\] \(.*gone\.wav\): file not found"):
        fitted.predict([str(missing)])
    with pytest.raises(SignalError, match=r"no sampling rate for X\[0\]"):
        fitted.predict([good])
    with pytest.raises(ValueError, match="X has 2 signals but y has 3 labels"):
        DEGramClassifier(**TINY).fit([good, good], ["a", "b", "a"], sample_rate=4000)
    with pytest.raises(ValueError, match="Reshape your data"):
        fitted.predict(good, sample_rate=4000)
    with pytest.raises(NotFittedError):
        DEGramClassifier().predict([good], sample_rate=4000)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_cuda_is_an_error(tone_data):
    X, y = tone_data
    with pytest.raises(ValueError, match="CUDA is not available"):
        DEGramClassifier(**{**TINY, "device": "cuda"}).fit(X, y, sample_rate=4000)


# --------------------------------------------------------------------------- real data: CWRU
def cwru(folder, load):
    paths = sorted((CWRU_DIR / folder).glob(f"*_{load}_*.mat"))
    labels = [re.match(r".*_Drive_End_(.+?)_\d_\d+\.mat$", p.name).group(1) for p in paths]
    return [str(p) for p in paths], np.array(labels)


def windows(paths, labels, rate):
    """Non-overlapping 1 s windows of every file (the per-window evaluation)."""
    W, Y = [], []
    for s, label in zip(load_signals(paths, rate), labels):
        n = int(rate)
        for k in range(s.n_samples // n):
            W.append(s.data[0, k * n : (k + 1) * n])
            Y.append(label)
    return np.stack(W), np.array(Y)


CWRU_CLASSES = ["B007", "B014", "B021", "IR007", "IR014", "IR021", "OR007@6", "OR014@6", "OR021@6"]


@pytest.fixture(scope="module")
def cwru_model():
    paths, labels = cwru("12k_drive_end", 0)
    assert list(labels) == CWRU_CLASSES
    clf = DEGramClassifier(sample_rate=12000, random_state=0, device="cpu")
    return clf.fit(paths, labels)


def test_cwru_load0_to_load1_accuracy(cwru_model):
    """Trained on load 0 files, >= 0.90 per-window accuracy on the load 1 files."""
    W, Y = windows(*cwru("12k_drive_end", 1), 12000)
    assert len(W) == 90
    accuracy = cwru_model.score(W, Y, sample_rate=12000)
    print(f"DEGram CWRU load 0 -> load 1 per-window accuracy: {accuracy:.3f}")
    assert accuracy >= 0.90
    assert cwru_model.sample_rate_ == 12000.0 and cwru_model.f_max_ == 6000.0


def test_cwru_model_predicts_48k_recordings_without_resampling(cwru_model):
    paths, labels = cwru("48k_drive_end", 0)
    W, Y = windows(paths, labels, 48000)
    proba = cwru_model.predict_proba(W, sample_rate=48000)
    assert proba.shape == (len(W), 9)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    pred = cwru_model.predict(W, sample_rate=48000)
    assert set(pred) <= set(CWRU_CLASSES)
    accuracy = np.mean(pred == Y)
    print(f"DEGram 12 kHz model on 48 kHz windows: accuracy {accuracy:.3f}")
    assert accuracy > 0.5  # far above the 1/9 of chance
    # whole files too: each file's windows averaged
    file_pred = cwru_model.predict(paths, sample_rate=48000)
    assert file_pred.shape == (9,)
