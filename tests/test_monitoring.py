"""Scoring streams (equal to offline score_samples, smoothing, alarms) and saved detectors."""

import os
import pickle
import shutil
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
import soundfile as sf
from safetensors.torch import load_file, save_file
from sklearn.pipeline import make_pipeline

from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector
from sklearn_echo.echo.checkpoint import checkpoint_fingerprint
from sklearn_echo.persistence import DetectorFileError, load_detector, save_detector
from sklearn_echo.signals import SignalError
from sklearn_echo.streaming import ScoreStream

from .conftest import MIMII_DIR, TINY_SAFETENSORS

TINY = str(TINY_SAFETENSORS)
RATE = 16000


def _clips(folder, n, seconds):
    out = []
    for f in sorted((MIMII_DIR / folder).glob("*.wav"))[:n]:
        x, rate = sf.read(f, frames=int(seconds * RATE), dtype="float32")
        assert rate == RATE
        out.append(x)
    return out


@pytest.fixture(scope="module")
def pipe():
    """Detector fitted on 1 s windows of 4 normal MIMII clips (3 s each), one group per clip."""
    windows, groups = [], []
    for i, x in enumerate(_clips("normal", 4, 3.0)):
        windows += [x[j * RATE : (j + 1) * RATE] for j in range(3)]
        groups += [i] * 3
    p = make_pipeline(
        EchoEmbedder(model=TINY, sample_rate=RATE, cache=False),
        EchoKNNAnomalyDetector(fpr=0.1),
    )
    return p.fit(windows, echoknnanomalydetector__groups=np.array(groups))


def _push_randomly(scorer, x, rng, max_block):
    out, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, max_block + 1))
        out += scorer.push(x[i : i + n])
        i += n
    return out


# --------------------------------------------------------------------------- streams
def test_stream_scores_equal_score_samples_of_the_windows_cut_offline(pipe):
    x = np.concatenate(_clips("abnormal", 1, 4.0) + _clips("normal", 1, 2.0) + [_clips("normal", 6, 2.0)[5]])
    scorer = ScoreStream(pipe, window=1.0, hop=0.4)
    windows = _push_randomly(scorer, x, np.random.default_rng(0), max_block=20000)
    n = 1 + (len(x) - RATE) // int(0.4 * RATE)
    assert [w.index for w in windows] == list(range(n))
    cuts = [x[int(0.4 * RATE) * i : int(0.4 * RATE) * i + RATE] for i in range(n)]
    offline = pipe.score_samples(cuts)
    np.testing.assert_allclose([w.score for w in windows], offline, atol=1e-5, rtol=0)
    # p-values and "over" follow from the detector: as on the offline windows
    det = pipe[-1]
    np.testing.assert_allclose(
        [w.p_value for w in windows], det.p_values(pipe[0].transform(cuts)), atol=1e-12
    )
    assert [w.over for w in windows] == list(offline < det.offset_)
    assert [w.start for w in windows[:3]] == pytest.approx([0.0, 0.4, 0.8])


def test_smoothing_and_consecutive_alarms(pipe):
    x = np.concatenate(_clips("normal", 8, 2.0)[4:] + _clips("abnormal", 3, 2.0))
    raw = ScoreStream(pipe, window=1.0, hop=0.5)
    scores = np.array([w.score for w in raw.push(x)])
    # a threshold in the middle of the scores, so that some windows are over it
    pipe[-1].offset_, saved = float(np.median(scores)), pipe[-1].offset_
    try:
        scorer = ScoreStream(pipe, window=1.0, hop=0.5, smoothing=3, consecutive=2)
        windows = _push_randomly(scorer, x, np.random.default_rng(1), max_block=12000)
    finally:
        pipe[-1].offset_ = saved
    smoothed = [np.median(scores[max(0, i - 2) : i + 1]) for i in range(len(scores))]
    np.testing.assert_allclose([w.smoothed for w in windows], smoothed, atol=1e-5)
    over = [w.over for w in windows]
    run, alarms, episodes = 0, [], 0
    for o in over:
        run = run + 1 if o else 0
        alarms.append(run >= 2)
        episodes += run == 2
    assert [w.alarm for w in windows] == alarms and any(alarms) and not all(alarms)
    s = scorer.summary()
    assert s["alarms"] == episodes and s["windows_over"] == sum(over) and s["windows"] == len(windows)
    assert s["first_alarm"] == windows[alarms.index(True)].start
    assert len(scorer._recent) == 3  # bounded: the last `smoothing` scores only


def test_stream_input_errors(pipe):
    with pytest.raises(SignalError, match=r"48000 Hz is not one the embedder was fitted on \(16000 Hz\)"):
        ScoreStream(pipe, 48000)
    with pytest.raises(SignalError, match=r"2 channel\(s\) but the embedder was fitted on 1"):
        ScoreStream(pipe, n_channels=2)
    with pytest.raises(ValueError, match="consecutive must be a whole number"):
        ScoreStream(pipe, consecutive=0)
    with pytest.raises(TypeError, match="Pipeline of an EchoEmbedder"):
        ScoreStream(pipe[-1])
    scorer = ScoreStream(pipe, window=1.0, hop=1.0)
    kept = scorer.push(np.random.default_rng(2).standard_normal(RATE).astype(np.float32))
    bad = np.ones(RATE, np.float32)
    bad[5] = np.inf
    with pytest.raises(SignalError, match="non-finite sample"):
        scorer.push(bad)
    assert len(kept) == 1 and scorer.summary()["windows"] == 1


# --------------------------------------------------------------------------- saved detectors
def test_npz_and_joblib_round_trips(pipe, tmp_path):
    x = _clips("abnormal", 2, 1.0)
    expected = pipe.score_samples(x)
    path = save_detector(pipe, tmp_path / "fan.detector", window=1.0)
    saved = load_detector(path)
    np.testing.assert_array_equal(saved.pipeline.score_samples(x), expected)
    assert saved.detector.offset_ == pipe[-1].offset_
    np.testing.assert_array_equal(saved.detector.calibration_scores_, pipe[-1].calibration_scores_)
    assert (saved.window, saved.format, saved.model_fingerprint) == (1.0, "npz", pipe[0].model_fingerprint_)
    with np.load(path, allow_pickle=False) as data:  # plain arrays and a JSON manifest
        assert all(data[k].dtype != object for k in data.files)
    jpath = save_detector(pipe, tmp_path / "fan.joblib", window=1.0, format="joblib")
    with pytest.raises(DetectorFileError, match="pickle .* runs code"):
        load_detector(jpath)
    loaded = load_detector(jpath, allow_pickle=True)
    np.testing.assert_array_equal(loaded.pipeline.score_samples(x), expected)
    assert loaded.format == "joblib" and loaded.window == 1.0
    # a plain joblib dump of the pipeline loads too (window unknown)
    joblib.dump(pipe, tmp_path / "plain.joblib")
    assert load_detector(tmp_path / "plain.joblib", allow_pickle=True).window is None


def test_loading_with_another_checkpoint_fails_at_load_naming_both(tmp_path):
    ckpt = tmp_path / "model.safetensors"
    shutil.copy(TINY, ckpt)
    rng = np.random.default_rng(0)
    p = make_pipeline(EchoEmbedder(model=str(ckpt), sample_rate=RATE, cache=False),
                      EchoKNNAnomalyDetector()).fit([rng.standard_normal(RATE) for _ in range(4)])
    old = checkpoint_fingerprint(ckpt)
    save_detector(p, tmp_path / "d.detector", window=1.0)
    save_detector(p, tmp_path / "d.joblib", format="joblib")
    state = load_file(str(ckpt))
    name = min(state)
    state[name] = state[name] + 1e-3
    save_file(state, str(ckpt))
    new = checkpoint_fingerprint(ckpt)
    for f in ("d.detector", "d.joblib"):
        with pytest.raises(ValueError, match=rf"{new}.*fitted with a checkpoint of SHA-256 {old}") as info:
            load_detector(tmp_path / f, allow_pickle=True)
        assert str(tmp_path / f) in str(info.value)
    # the checkpoint it was fitted with, found elsewhere, is accepted
    assert load_detector(tmp_path / "d.detector", model=TINY).model_fingerprint == old


def test_damaged_and_foreign_files_are_refused_without_running_code(pipe, tmp_path):
    path = save_detector(pipe, tmp_path / "fan.detector", window=1.0)
    data = Path(path).read_bytes()
    (tmp_path / "cut.detector").write_bytes(data[: len(data) // 2])
    with pytest.raises(DetectorFileError, match="cut.detector is damaged"):
        load_detector(tmp_path / "cut.detector")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(DetectorFileError, match="not a sklearn-echo detector file"):
        load_detector(tmp_path / "other.npz")
    (tmp_path / "text.detector").write_text("hello")
    with pytest.raises(DetectorFileError, match="not a sklearn-echo detector file"):
        load_detector(tmp_path / "text.detector")
    # a manifest naming another class is refused
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    manifest = np.load(path)["manifest"].item().replace("sklearn_echo.embedder.EchoEmbedder", "os.system")
    import io

    buf = io.BytesIO()
    np.save(buf, np.array(manifest))
    members["manifest.npy"] = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "evil.detector", "w") as z:
        for n, b in members.items():
            z.writestr(n, b)
    with pytest.raises(DetectorFileError, match=r"'os.system'.*trusted types"):
        load_detector(tmp_path / "evil.detector")
    # a pickle that would run code is not opened
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (tmp_path / "evil.joblib").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DetectorFileError, match="allow_pickle=True"):
        load_detector(tmp_path / "evil.joblib")
    assert not marker.exists()
