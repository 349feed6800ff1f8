"""Streaming embeddings: equal to transform of the same windows cut offline, bounded memory, errors."""

import numpy as np
import pytest
import soundfile as sf
from scipy.io import loadmat

from sklearn_echo import EchoEmbedder
from sklearn_echo.signals import SignalError

from .conftest import CWRU_DIR, DATA_DIR, MIMII_DIR, TINY_SAFETENSORS

TINY = str(TINY_SAFETENSORS)


def _stream_all(stream, x, rng, max_block):
    """Push ``x`` (samples, ...) in random blocks of 1..max_block samples; all windows."""
    out, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, max_block + 1))
        out += stream.push(x[i : i + n])
        i += n
    return out


def _offline(emb, x, rate, stream, windows):
    cuts = []
    for w in windows:
        a, b = stream.window_bounds(w.index)
        cut = x[a:b]
        cuts.append((cut.T if cut.ndim == 2 else cut, rate))
    return emb.transform(cuts)


def _recordings():
    mimii, rate = sf.read(sorted((MIMII_DIR / "normal").glob("*.wav"))[0], dtype="float32")
    cwru = loadmat(sorted((CWRU_DIR / "12k_drive_end").glob("*.mat"))[0])
    vib = next(v for k, v in cwru.items() if k.endswith("_DE_time")).ravel().astype(np.float32)
    comp, comp_rate = sf.read(sorted((DATA_DIR / "air_compressor" / "Run").glob("*.wav"))[0], dtype="float32")
    return [(mimii[: 6 * rate], float(rate)), (vib[: 6 * 12000], 12000.0), (comp, float(comp_rate))]


@pytest.mark.parametrize("case", [0, 1, 2], ids=["mimii-16k", "cwru-12k", "compressor-48k"])
def test_stream_windows_equal_offline_transform(case):
    x, rate = _recordings()[case]
    rng = np.random.default_rng(case)
    emb = EchoEmbedder(model=TINY, sample_rate=rate, cache=False).fit([x[: int(rate)]])
    stream = emb.stream(rate, window=1.0, hop=0.4)
    # random block sizes from 1 sample to the whole signal (10 s would exceed it)
    windows = _stream_all(stream, x, rng, max_block=min(len(x), int(10 * rate)))
    n_expected = 1 + (len(x) - int(rate)) // int(0.4 * rate)
    assert [w.index for w in windows] == list(range(n_expected))
    online = np.stack([w.embedding for w in windows])
    np.testing.assert_allclose(online, _offline(emb, x, rate, stream, windows), atol=1e-5, rtol=0)
    assert windows[1].start == pytest.approx(0.4) and windows[1].end == pytest.approx(1.4)


def test_stream_single_samples_and_multichannel():
    x, rate = sf.read(sorted((MIMII_DIR / "multichannel").glob("*.wav"))[0], dtype="float32")
    x = x[: int(2.2 * rate)]  # (samples, 8 channels)
    emb = EchoEmbedder(model=TINY, sample_rate=rate, cache=False).fit([x[:rate].T])
    stream = emb.stream(window=0.5, hop=0.5)
    rng = np.random.default_rng(1)
    windows = [w for i in range(int(0.6 * rate)) for w in stream.push(x[i : i + 1])]  # 1 sample a block
    windows += _stream_all(stream, x[int(0.6 * rate) :], rng, max_block=rate)
    assert len(windows) == 4 and stream.n_channels == 8
    online = np.stack([w.embedding for w in windows])
    assert online.shape == (4, emb.n_features_out_)
    np.testing.assert_allclose(online, _offline(emb, x, rate, stream, windows), atol=1e-5, rtol=0)


def test_stream_holds_only_what_the_next_windows_need():
    rate = 16000
    rng = np.random.default_rng(2)
    emb = EchoEmbedder(model=TINY, sample_rate=rate, cache=False).fit([rng.standard_normal(rate)])
    stream = emb.stream(window=0.5, hop=0.25)
    for _ in range(40):  # 40 x 0.3 s
        stream.push(rng.standard_normal(int(0.3 * rate)).astype(np.float32))
        assert stream._buffer.shape[1] < stream.window_samples + stream.hop_samples
    assert stream.n_windows == 1 + (40 * 4800 - 8000) // 4000
    # gaps: hop longer than the window never keeps the samples in between
    gaps = emb.stream(window=0.25, hop=1.0)
    starts = [w.start for w in gaps.push(rng.standard_normal(3 * rate + 100))]
    assert starts == [0.0, 1.0, 2.0]  # the window at 3 s needs 3.25 s of samples
    assert gaps._buffer.shape[1] <= gaps.window_samples


def test_stream_errors_name_the_rule_and_keep_earlier_windows():
    rate = 16000
    rng = np.random.default_rng(3)
    emb = EchoEmbedder(model=TINY, sample_rate=rate, cache=False).fit([rng.standard_normal(rate)])
    with pytest.raises(SignalError, match=r"48000 Hz is not one the embedder was fitted on \(16000 Hz\)"):
        emb.stream(48000)
    stream = emb.stream(window=0.5, hop=0.5)
    kept = stream.push(rng.standard_normal(rate))
    assert len(kept) == 2
    bad = rng.standard_normal(rate).astype(np.float32)
    bad[1000] = np.nan
    with pytest.raises(SignalError, match=r"block 1 \(from 1\.000 s\): non-finite sample .* at 1\.062 s"):
        stream.push(bad)
    with pytest.raises(SignalError, match=r"has 2 channel\(s\), the stream 1"):
        stream.push(np.zeros((100, 2)))
    with pytest.raises(SignalError, match="real numbers"):
        stream.push(np.array(["a", "b"]))
    # the stream goes on after a refused block
    assert len(stream.push(rng.standard_normal(rate))) == 2
    stereo = EchoEmbedder(model=TINY, sample_rate=rate, cache=False).fit([rng.standard_normal((2, rate))])
    with pytest.raises(SignalError, match=r"3 channel\(s\) but the embedder was fitted on 2"):
        stereo.stream(n_channels=3)
    s2 = stereo.stream()
    with pytest.raises(SignalError, match=r"pass block\.T"):
        s2.push(np.zeros((2, 1000)))
