"""Calibrated alarms: conformal p-values and thresholds, and false-alarm rates on real recordings."""

import warnings

import numpy as np
import pytest
import soundfile as sf
from scipy.io import loadmat

from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector
from sklearn_echo.conformal import (
    conformal_p_values,
    conformal_threshold,
    min_calibration_size,
)

from .conftest import CWRU_DIR, MIMII_DIR, TINY_SAFETENSORS

TINY = str(TINY_SAFETENSORS)


# --------------------------------------------------------------------------- the formulas
def test_p_value_formula_and_threshold_agree():
    rng = np.random.default_rng(0)
    cal = rng.normal(size=57)
    cal[:5] = cal[5]  # ties
    s = np.concatenate([rng.normal(size=500) * 2, cal])
    expected = (1 + (cal[None, :] <= s[:, None]).sum(axis=1)) / (cal.size + 1)
    np.testing.assert_array_equal(conformal_p_values(cal, s), expected)
    for fpr in (0.02, 0.05, 0.1, 0.3, 0.5):
        t = conformal_threshold(cal, fpr)
        p = conformal_p_values(cal, s)
        np.testing.assert_array_equal(s < t, p <= fpr)
    assert min_calibration_size(0.05) == 19
    with pytest.warns(UserWarning, match=r"smallest p-value is 1/58"):
        assert conformal_threshold(cal, 0.01) == -np.inf
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        conformal_threshold(cal, 1.0)
    with pytest.raises(ValueError, match="at least one calibration score"):
        conformal_p_values([], [0.0])


def test_false_alarm_rate_is_at_most_fpr_for_exchangeable_data():
    """Many draws of calibration + test data from one distribution: P(p <= a) <= a."""
    rng = np.random.default_rng(1)
    hits = {0.05: 0, 0.1: 0, 0.2: 0}
    n_trials = 4000
    for _ in range(n_trials):
        z = rng.standard_gamma(2.0, size=40)  # any distribution
        p = conformal_p_values(-z[:39], -z[39])
        for a in hits:
            hits[a] += p <= a
    for a, h in hits.items():
        se = np.sqrt(a * (1 - a) / n_trials)
        assert h / n_trials <= a + 3 * se, (a, h / n_trials)
        assert h / n_trials >= a - 0.03  # and not far below: 40 draws make it nearly exact


# --------------------------------------------------------------------------- the detector
def test_detector_fpr_threshold_p_values_and_predict():
    rng = np.random.RandomState(0)
    normal = rng.normal(size=(300, 6))
    test = rng.normal(size=(200, 6))
    det = EchoKNNAnomalyDetector(n_neighbors=2, fpr=0.05).fit(normal)
    assert det.calibration_scores_ is det.train_scores_
    assert det.offset_ == det.threshold_for(0.05)
    p = det.p_values(test)
    np.testing.assert_array_equal(p, conformal_p_values(det.train_scores_, det.score_samples(test)))
    np.testing.assert_array_equal(det.predict(test) == -1, p <= 0.05)
    # the default behaviour (contamination) is unchanged when fpr is not set
    auto = EchoKNNAnomalyDetector(n_neighbors=2).fit(normal)
    q1, q3 = np.percentile(auto.train_scores_, [25, 75])
    assert auto.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    with pytest.raises(ValueError, match="give one of them"):
        EchoKNNAnomalyDetector(fpr=0.1, contamination=0.1).fit(normal)
    with pytest.raises(ValueError, match="fpr"):
        EchoKNNAnomalyDetector(fpr=1.5).fit(normal)


def test_groups_give_leave_one_group_out_calibration():
    rng = np.random.RandomState(1)
    centres = rng.normal(size=(6, 5)) * 3
    X = np.vstack([c + 0.1 * rng.normal(size=(10, 5)) for c in centres])
    groups = np.repeat(np.arange(6), 10)
    det = EchoKNNAnomalyDetector(fpr=0.1).fit(X, groups=groups)
    expected = np.empty(len(X))
    for g in range(6):
        other = EchoKNNAnomalyDetector().fit(X[groups != g])
        expected[groups == g] = other.score_samples(X[groups == g])
    np.testing.assert_allclose(det.calibration_scores_, expected, rtol=1e-12)
    # within a group the neighbours are far closer: leave-self-out would be far too low
    assert np.median(-det.train_scores_) < 0.2 * np.median(-det.calibration_scores_)
    assert det.offset_ == conformal_threshold(expected, 0.1)
    with pytest.raises(ValueError, match="partial_fit cannot extend it"):
        det.partial_fit(X[:3])
    with pytest.raises(ValueError, match="at least 2 groups"):
        EchoKNNAnomalyDetector().fit(X, groups=np.zeros(len(X)))
    with pytest.raises(ValueError, match="groups must hold one label per sample"):
        EchoKNNAnomalyDetector().fit(X, groups=[0, 1])
    # labelled anomalies are left out of the groups as of the bank
    y = np.zeros(len(X))
    y[:2] = 1
    det_y = EchoKNNAnomalyDetector().fit(X, y, groups=groups)
    assert det_y.calibration_scores_.shape == (len(X) - 2,)


# --------------------------------------------------------------------------- real recordings
def _windows(x, rate, seconds):
    n = int(seconds * rate)
    return [(x[i * n : (i + 1) * n], float(rate)) for i in range(len(x) // n)]


def _held_out_rate(E, recording, train, fpr):
    """False-alarm rate on the windows of the recordings not in ``train``."""
    fit = np.isin(recording, train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        det = EchoKNNAnomalyDetector(fpr=fpr).fit(E[fit], groups=recording[fit])
        naive = EchoKNNAnomalyDetector(fpr=fpr).fit(E[fit])
    return np.mean(det.predict(E[~fit]) == -1), np.mean(naive.predict(E[~fit]) == -1)


def test_false_alarm_rate_on_held_out_mimii_recordings():
    """MIMII fan normal clips split in two, four times: windows of the held-out clips alarm
    at most at the requested rate plus its sampling error (recordings are the unit)."""
    files = sorted((MIMII_DIR / "normal").glob("*.wav"))
    windows, recording = [], []
    for i, f in enumerate(files):
        x, rate = sf.read(f, dtype="float32")
        cut = _windows(x, rate, 2.0)
        windows += cut
        recording += [i] * len(cut)
    recording = np.array(recording)
    E = EchoEmbedder(model=TINY, cache=False).fit_transform(windows)
    fpr, rng = 0.2, np.random.default_rng(0)
    rates, naive = [], []
    for _ in range(4):
        train = rng.permutation(len(files))[: len(files) // 2]
        far, far_naive = _held_out_rate(E, recording, train, fpr)
        rates.append(far)
        naive.append(far_naive)
    n_units = 4 * len(files) // 2  # held-out recordings over the splits
    bound = fpr + 2 * np.sqrt(fpr * (1 - fpr) / n_units)
    assert np.mean(rates) <= bound, (rates, bound)
    # calibrating leave-one-window-out on windows of the same clips alarms far more often
    assert np.mean(naive) > np.mean(rates)


def test_false_alarm_rate_on_held_out_cwru_windows():
    """CWRU: the normal record (48 kHz) and two 12 kHz records, each cut into windows whose
    first half (in 5 groups) calibrates and whose second half is held out."""
    records = [(min((CWRU_DIR / "normal").glob("*.mat")), 48000, 0.1)]
    records += [(f, 12000, 0.25) for f in sorted((CWRU_DIR / "12k_drive_end").glob("*.mat"))[:2]]
    fpr, held, alarms = 0.2, 0, 0
    for path, rate, seconds in records:
        mat = loadmat(path)
        x = next(v for k, v in mat.items() if k.endswith("_DE_time")).ravel().astype(np.float32)
        windows = _windows(x, rate, seconds)
        E = EchoEmbedder(model=TINY, cache=False).fit_transform(windows)
        half = len(E) // 2
        group = np.arange(half) * 5 // half
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            det = EchoKNNAnomalyDetector(fpr=fpr).fit(E[:half], groups=group)
        alarms += int(np.sum(det.predict(E[half:]) == -1))
        held += len(E) - half
    n_units = 3 * 5  # held-out stretches of about one calibration group each
    bound = fpr + 2 * np.sqrt(fpr * (1 - fpr) / n_units)
    assert alarms / held <= bound, (alarms, held, bound)
