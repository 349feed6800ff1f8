"""EchoEmbedder: sklearn behaviour, input forms, real files, layouts, cache and scale-out."""

import pickle

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_echo.echo.pipeline as pipeline_module
import sklearn_echo.embedder as embedder_module
from sklearn_echo import EchoEmbedder
from sklearn_echo.echo.cache import cache_info, clear_cache
from sklearn_echo.signals import SignalError

from .conftest import CWRU_DIR, MIMII_DIR, TINY_PTH, TINY_SAFETENSORS

TINY = str(TINY_SAFETENSORS)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _noise(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


# --------------------------------------------------------------------------- sklearn checks
# Dense equal-length input: each row is a signal at 100 Hz (n_fft=2, hop=1), so
# the tiny arrays of the common checks are valid signals.
EXPECTED_FAILED_CHECKS = {
    "check_fit2d_1feature": (
        "a 1-sample signal is shorter than one 25 ms window; the error names the "
        "rows and the rule instead of sklearn's n_features=1 wording"
    ),
}


@parametrize_with_checks(
    [EchoEmbedder(model=TINY, sample_rate=100, cache=False)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- reference parity
def test_concat_layout_reproduces_the_reference(fixture_data):
    items, expected, cases = fixture_data
    by_rate = {}
    for (x, sr), case in zip(items, cases):
        by_rate.setdefault(sr, []).append((x, case))
    for sr, group in by_rate.items():
        emb = EchoEmbedder(model=TINY, band_layout="concat", sample_rate=sr)
        out = emb.fit_transform([x for x, _ in group])
        segs = emb.transform_segments([x for x, _ in group])
        for row, seg, (_, case) in zip(out, segs, group):
            k = case["key"]
            assert np.abs(row - expected[f"utterance_{k}"]).max() <= 1e-4, case["name"]
            assert np.abs(seg - expected[f"segments_{k}"]).max() <= 1e-4, case["name"]


def test_pth_checkpoint_gives_the_same_embeddings(fixture_data):
    items, expected, cases = fixture_data
    x, sr = items[0]
    a = EchoEmbedder(model=str(TINY_PTH), band_layout="concat", sample_rate=sr).fit_transform([x])
    assert np.abs(a[0] - expected["utterance_00"]).max() <= 1e-4


def test_concat_layout_names_the_rates_it_cannot_mix():
    X = [(_noise(12000), 12000), (_noise(48000), 48000)]
    with pytest.raises(ValueError, match=r"12000 Hz -> 5 bands.*48000 Hz -> 19 bands"):
        EchoEmbedder(model=TINY, band_layout="concat").fit(X)
    emb = EchoEmbedder(model=TINY, band_layout="concat").fit([X[0]])
    with pytest.raises(ValueError, match="fitted on signals with 5 bands.*48000 Hz gives 19"):
        emb.transform([X[1]])


@pytest.mark.parametrize("layout, width", [("relative", 4 * 128), ("hz", 4 * 128), ("mean", 128)])
def test_fixed_width_layouts_mix_any_rates(layout, width):
    rates = [8000, 12000, 16000, 44100, 48000]
    X = [(_noise(int(0.5 * sr), i), sr) for i, sr in enumerate(rates)]
    out = EchoEmbedder(model=TINY, band_layout=layout).fit_transform(X)
    assert out.shape == (5, width) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # each row is the signal's own embedding: rows differ
    assert len({row.tobytes() for row in out}) == 5


def test_hz_layout_aligns_bands_on_absolute_frequency():
    """Band b of a 12 kHz and of a 48 kHz signal land in the same slot."""
    x48 = _noise(48000)
    x12 = _noise(12000, 1)
    emb = EchoEmbedder(model=TINY, band_layout="hz").fit([(x12, 12000), (x48, 48000)])
    assert emb.n_slots_ == 5 and emb.frequency_range_ == (0.0, 6000.0)
    both = emb.transform([(x12, 12000), (x48, 48000)])
    ref12 = EchoEmbedder(model=TINY, band_layout="concat").fit_transform([(x12, 12000)])[0]
    ref48 = EchoEmbedder(model=TINY, band_layout="concat").fit_transform([(x48, 48000)])[0]
    np.testing.assert_allclose(both[0], ref12, atol=1e-6)
    np.testing.assert_allclose(both[1], ref48[: 5 * 128], atol=1e-6)  # bands above 6.4 kHz dropped
    with pytest.raises(ValueError, match=r"X\[0\].*8000 Hz gives only 4 bands"):
        emb.transform([(_noise(8000), 8000)])


def test_relative_layout_pools_onto_a_relative_grid():
    """Slots are overlap-weighted means of the bands: at the fitted lowest rate, the bands themselves."""
    x12, x48 = _noise(12000), _noise(48000, 1)
    emb = EchoEmbedder(model=TINY, band_layout="relative").fit([(x12, 12000), (x48, 48000)])
    out = emb.transform([(x12, 12000), (x48, 48000)])
    ref12 = EchoEmbedder(model=TINY, band_layout="concat").fit_transform([(x12, 12000)])[0]
    np.testing.assert_allclose(out[0], ref12, atol=1e-6)
    from sklearn_echo.band_layout import layout_matrix

    w = layout_matrix("relative", 48000, 5, 32, 12000)
    assert w.shape == (5, 19)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    ref48 = EchoEmbedder(model=TINY, band_layout="concat").fit_transform([(x48, 48000)])[0]
    np.testing.assert_allclose(out[1], (w @ ref48.reshape(19, 128)).ravel(), atol=1e-5)


# --------------------------------------------------------------------------- input forms
def test_input_forms_agree():
    x1, x2 = _noise(16000), _noise(24000, 1)
    ref = EchoEmbedder(model=TINY, sample_rate=16000).fit_transform([x1, x2])
    pairs = EchoEmbedder(model=TINY).fit_transform([(x1, 16000), (x2, 16000)])
    routed = EchoEmbedder(model=TINY).fit_transform([x1, x2], sample_rate=[16000, 16000])
    obj = np.empty(2, dtype=object)
    obj[:] = [x1, x2]
    objs = EchoEmbedder(model=TINY, sample_rate=16000).fit_transform(obj)
    for other in (pairs, routed, objs):
        np.testing.assert_allclose(other, ref, atol=1e-6)
    dense = np.stack([x1, x1[::-1]])
    out = EchoEmbedder(model=TINY, sample_rate=16000).fit(dense).transform(dense)
    np.testing.assert_allclose(out[0], ref[0], atol=1e-6)


def test_dataframe_with_path_and_rate_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    x = _noise(16000)
    np.save(tmp_path / "a.npy", x)
    df = pd.DataFrame({"path": [str(tmp_path / "a.npy")], "sample_rate": [16000]})
    out = EchoEmbedder(model=TINY).fit_transform(df)
    ref = EchoEmbedder(model=TINY).fit_transform([(x, 16000)])
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_set_output_pandas_and_feature_names():
    pd = pytest.importorskip("pandas")
    emb = EchoEmbedder(model=TINY, sample_rate=16000, band_layout="mean").set_output(
        transform="pandas"
    )
    out = emb.fit_transform([_noise(16000), _noise(16000, 2)])
    assert isinstance(out, pd.DataFrame) and out.shape == (2, 128)
    assert list(out.columns[:2]) == ["echo_ch0_bands_0", "echo_ch0_bands_1"]
    assert emb.get_feature_names_out().shape == (emb.n_features_out_,)


def test_fit_is_cheap_and_records_what_transform_needs():
    clear_cache()
    emb = EchoEmbedder(model=TINY, band_layout="hz").fit([(_noise(12000), 12000), (_noise(48000), 48000)])
    assert cache_info()["misses"] == 0  # nothing was embedded
    assert emb.n_features_out_ == 5 * 128 and emb.n_slots_ == 5 and emb.embed_dim_ == 128
    assert emb.frequency_range_ == (0.0, 6000.0)
    np.testing.assert_array_equal(emb.sample_rates_, [12000.0, 48000.0])


# --------------------------------------------------------------------------- real files
def test_cwru_mat_files_at_12_and_48_khz():
    files = [
        CWRU_DIR / "12k_drive_end" / "12k_Drive_End_B007_0_118.mat",
        CWRU_DIR / "48k_drive_end" / "48k_Drive_End_IR014_0_174.mat",  # stores X173_* variables
        CWRU_DIR / "normal" / "normal_0_97.mat",
    ]
    rates = [12000, 48000, 48000]
    emb = EchoEmbedder(model=TINY, band_layout="relative")
    out = emb.fit_transform([str(f) for f in files], sample_rate=rates)
    assert out.shape == (3, 5 * 128) and np.isfinite(out).all()
    # The file path gives the same embedding as the array it holds.
    from scipy.io import loadmat

    arr = loadmat(files[1])["X173_DE_time"][:, 0]
    direct = emb.transform([(arr, 48000)])
    np.testing.assert_allclose(direct[0], out[1], atol=1e-5)


def test_cwru_mat_without_rate_is_an_error_naming_the_file():
    path = str(CWRU_DIR / "12k_drive_end" / "12k_Drive_End_B007_0_118.mat")
    with pytest.raises(SignalError, match=r"X\[0\].*12k_Drive_End_B007_0_118\.mat"):
        EchoEmbedder(model=TINY).fit([path])


def test_mimii_mono_and_eight_channel_wav():
    mono = sorted((MIMII_DIR / "normal").glob("*.wav"))[:2]
    multi = MIMII_DIR / "multichannel" / "normal_00000000_8ch.wav"
    out = EchoEmbedder(model=TINY, band_layout="mean").fit_transform([str(p) for p in mono])
    assert out.shape == (2, 128)
    emb = EchoEmbedder(model=TINY, band_layout="mean", multichannel="concatenate")
    wide = emb.fit_transform([str(multi)])
    assert wide.shape == (1, 8 * 128) and emb.n_channels_ == 8
    avg = EchoEmbedder(model=TINY, band_layout="mean", multichannel="mean").fit_transform([str(multi)])
    np.testing.assert_allclose(avg[0], wide[0].reshape(8, 128).mean(0), atol=1e-5)
    first = EchoEmbedder(model=TINY, band_layout="mean", multichannel="first").fit_transform([str(multi)])
    np.testing.assert_allclose(first[0], wide[0][:128], atol=1e-6)


def test_channel_count_mismatch_is_named():
    X = [np.stack([_noise(1600), _noise(1600, 1)]), _noise(1600)[None, :]]
    with pytest.raises(SignalError, match=r"2 channel\(s\).*X\[1\] has 1"):
        EchoEmbedder(model=TINY, sample_rate=16000).fit(X)
    EchoEmbedder(model=TINY, sample_rate=16000, multichannel="mean").fit_transform(X)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "X, kwargs, exc, pattern",
    [
        ([np.zeros(0)], {"sample_rate": 16000}, ValueError, r"X\[0\].*empty"),
        ([_noise(1600), _noise(100)], {"sample_rate": 16000}, ValueError, r"X\[1\] has 100 samples"),
        ([_noise(1600), np.array([0.0, np.nan] * 800)], {"sample_rate": 16000}, ValueError, r"X\[1\].*NaN"),
        ([np.array([0.0, np.inf] * 800)], {"sample_rate": 16000}, ValueError, r"X\[0\].*inf"),
        ([np.zeros((2, 2, 800))], {"sample_rate": 16000}, ValueError, r"X\[0\].*dimensions"),
        ([np.array(["a"] * 1600)], {"sample_rate": 16000}, ValueError, r"X\[0\]"),
        ([_noise(1600)], {}, ValueError, r"no sampling rate for X\[0\]"),
        ([(_noise(1600), -5.0)], {}, ValueError, r"X\[0\].*positive"),
        ([(_noise(1600), float("nan"))], {}, ValueError, r"X\[0\]"),
    ],
)
def test_bad_input_names_the_item_and_rule(X, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        EchoEmbedder(model=TINY, **kwargs).fit_transform(X)


def test_bad_files_are_named(tmp_path):
    missing = tmp_path / "gone.wav"
    with pytest.raises(FileNotFoundError, match=r"X\[1\].*gone\.wav"):
        EchoEmbedder(model=TINY).fit([str(MIMII_DIR / "normal" / "00000000.wav"), str(missing)])
    odd = tmp_path / "signal.xyz"
    odd.write_text("1,2,3")
    with pytest.raises(ValueError, match=r"signal\.xyz.*unsupported"):
        EchoEmbedder(model=TINY, sample_rate=16000).fit([str(odd)])
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEfmt garbage")
    with pytest.raises(ValueError, match=r"broken\.wav"):
        EchoEmbedder(model=TINY).fit([str(broken)])


def test_rate_array_length_must_match():
    with pytest.raises(ValueError, match=r"3.*2|2.*3"):
        EchoEmbedder(model=TINY).fit([_noise(1600), _noise(1600)], sample_rate=[16000, 16000, 8000])


def test_transform_before_fit():
    with pytest.raises(NotFittedError):
        EchoEmbedder(model=TINY, sample_rate=16000).transform([_noise(1600)])


def test_one_bad_item_never_becomes_a_zero_row():
    emb = EchoEmbedder(model=TINY, sample_rate=16000).fit([_noise(1600)])
    with pytest.raises(ValueError, match=r"X\[2\]"):
        emb.transform([_noise(1600), _noise(1600, 1), np.full(1600, np.nan), _noise(1600, 3)])


def test_unreachable_model_explains_how_to_pass_a_local_file(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="model='/path/to/model.safetensors'"):
        EchoEmbedder(sample_rate=16000).fit([_noise(1600)])


# --------------------------------------------------------------------------- cache and search
def test_grid_search_embeds_each_signal_exactly_once(monkeypatch):
    """GridSearchCV over k (5 values x 5 folds) calls the encoder on exactly N distinct signals."""
    seen = []
    real = pipeline_module.encode_chunks

    def counting_encode_chunks(encoder, jobs, **kw):
        seen.extend(hash(job.samples.tobytes()) for job in jobs)
        return real(encoder, jobs, **kw)

    monkeypatch.setattr(pipeline_module, "encode_chunks", counting_encode_chunks)
    rng = np.random.default_rng(0)
    n = 30
    X = [rng.standard_normal(1600 + 16 * i).astype(np.float32) for i in range(n)]
    y = np.arange(n) % 3
    pipe = Pipeline(
        [("embed", EchoEmbedder(model=TINY, sample_rate=16000)), ("knn", KNeighborsClassifier())]
    )
    grid = GridSearchCV(pipe, {"knn__n_neighbors": [1, 3, 5, 7, 9]}, cv=5).fit(X, y)
    assert len(seen) == n and len(set(seen)) == n
    assert cache_info()["misses"] == n
    assert grid.best_params_["knn__n_neighbors"] in (1, 3, 5, 7, 9)


def test_disk_cache_round_trip(tmp_path):
    X = [_noise(1600), _noise(3200, 1)]
    emb = EchoEmbedder(model=TINY, sample_rate=16000, cache=str(tmp_path))
    first = emb.fit_transform(X)
    files = sorted(tmp_path.rglob("*.npy"))
    assert len(files) == 2
    clear_cache()
    again = clone(emb).fit_transform(X)
    info = cache_info()
    assert info["hits"] == 2 and info["misses"] == 0
    np.testing.assert_array_equal(first, again)
    np.load(files[0], allow_pickle=False)


def test_no_cache_recomputes():
    X = [_noise(1600)]
    EchoEmbedder(model=TINY, sample_rate=16000, cache=False).fit_transform(X)
    assert cache_info()["entries"] == 0


def test_metadata_routing_slices_rates_with_x():
    X = [_noise(12000, i) if i % 2 else _noise(16000, i) for i in range(12)]
    rates = np.array([12000 if i % 2 else 16000 for i in range(12)], dtype=float)
    y = np.arange(12) % 2
    with sklearn.config_context(enable_metadata_routing=True):
        embed = EchoEmbedder(model=TINY).set_fit_request(sample_rate=True).set_transform_request(
            sample_rate=True
        )
        pipe = Pipeline([("embed", embed), ("knn", KNeighborsClassifier(n_neighbors=1))])
        scores = cross_val_score(pipe, X, y, cv=3, params={"sample_rate": rates})
        assert scores.shape == (3,)
        grid = GridSearchCV(pipe, {"knn__n_neighbors": [1, 3]}, cv=3)
        grid.fit(X, y, sample_rate=rates)
        assert grid.best_estimator_.predict(X, sample_rate=rates).shape == (12,)


# --------------------------------------------------------------------------- clone, pickle, jobs
def test_clone_pickle_and_joblib_give_the_same_embeddings():
    X = [_noise(16000 * 3, 0), _noise(16000 * 25, 1), _noise(4000, 2)]  # one with 2 chunks
    emb = EchoEmbedder(model=TINY, sample_rate=16000, cache=False).fit(X)
    ref = emb.transform(X)
    blob = pickle.dumps(emb)
    assert b"torch." not in blob and b"_rebuild_tensor" not in blob  # no model inside
    np.testing.assert_array_equal(pickle.loads(blob).transform(X), ref)
    np.testing.assert_array_equal(clone(emb).fit(X).transform(X), ref)
    par = clone(emb).set_params(n_jobs=2).fit(X).transform(X)
    np.testing.assert_allclose(par, ref, atol=1e-5)
    out = joblib.Parallel(n_jobs=2)(joblib.delayed(emb.transform)([x]) for x in X)
    np.testing.assert_allclose(np.concatenate(out), ref, atol=1e-5)


def test_progress_bar(capsys):
    EchoEmbedder(model=TINY, sample_rate=16000, progress=True, cache=False).fit_transform(
        [_noise(1600)]
    )
    assert "ECHO" in capsys.readouterr().err


def test_files_are_embedded_block_by_block_with_the_same_result(monkeypatch):
    files = [str(f) for f in sorted((MIMII_DIR / "normal").glob("*.wav"))[:5]]
    X = files[:2] + [(_noise(40000), 16000.0)] + files[2:]
    whole = EchoEmbedder(model=TINY, cache=False).fit_transform(X)
    blocks = []
    real = EchoEmbedder._assemble

    def spy(self, signals, *args):
        blocks.append([s.source for s in signals])
        return real(self, signals, *args)

    monkeypatch.setattr(EchoEmbedder, "_assemble", spy)
    monkeypatch.setattr(embedder_module, "BLOCK_SAMPLES", 400_000)  # 2.5 clips of 10 s
    emb = EchoEmbedder(model=TINY, cache=False).fit(X)
    assert blocks == []  # fit reads and checks, embeds nothing
    out = emb.transform(X)
    # each block at most 400,000 samples: [clip, clip, noise], [clip, clip], [clip]
    assert [len(b) for b in blocks] == [3, 2, 1]
    assert [s for b in blocks for s in b][2] == "X[2]"
    np.testing.assert_allclose(out, whole, rtol=1e-5, atol=1e-6)


def test_scanned_signals_are_embedded_without_a_second_check(monkeypatch):
    from sklearn_echo.signals import loading as signals_module
    from sklearn_echo.signals import scan_signals

    files = [str(f) for f in sorted((MIMII_DIR / "normal").glob("*.wav"))[:3]]
    expected = EchoEmbedder(model=TINY, cache=False).fit_transform(files)
    scanned = scan_signals(files)
    reads = []
    real = signals_module.load_item
    monkeypatch.setattr(signals_module, "load_item", lambda item, **k: reads.append(item.index) or real(item, **k))
    out = EchoEmbedder(model=TINY, cache=False).fit_transform(scanned)
    assert reads == [0, 1, 2]  # each file read once, to embed it
    np.testing.assert_array_equal(out, expected)


def test_a_bad_file_stops_transform_before_any_embedding(tmp_path, monkeypatch):
    files = [str(f) for f in sorted((MIMII_DIR / "normal").glob("*.wav"))[:3]]
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEfmt ")
    emb = EchoEmbedder(model=TINY, cache=False).fit(files)
    calls = []
    monkeypatch.setattr(pipeline_module, "encode_chunks", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(embedder_module, "BLOCK_SAMPLES", 1)  # one file per block
    with pytest.raises(SignalError, match=r"1 of 4 items of X is invalid: X\[3\] \(.*broken\.wav\)"):
        emb.transform(files + [str(bad)])
    assert calls == []


def test_one_progress_bar_over_all_blocks_and_cache_hits(capsys, monkeypatch):
    monkeypatch.setattr(embedder_module, "BLOCK_SAMPLES", 400_000)
    # 25 s at 16 kHz: 2 chunks each; 1 s: 1 chunk -> 5 chunks, 3 blocks
    X = [(_noise(400_000), 16000.0), (_noise(16000), 16000.0), (_noise(400_000, seed=1), 16000.0)]
    emb = EchoEmbedder(model=TINY, progress=True).fit(X)
    emb.transform(X[:1])  # cached: its 2 chunks count without being encoded
    capsys.readouterr()
    emb.transform(X)
    err = capsys.readouterr().err
    assert "5/5" in err
    assert not any(f"{n}/{n}" in err for n in (1, 2, 3))


def test_dask_local_cluster_parallel_post_fit():
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    files = [str(p) for p in sorted((MIMII_DIR / "normal").glob("*.wav"))[:4]]
    emb = EchoEmbedder(model=TINY, band_layout="mean", cache=False).fit(files)
    ref = emb.transform(files)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster):
        ddf = dd.from_pandas(pd.DataFrame({"path": files}), npartitions=2)
        ppf = wrappers.ParallelPostFit(
            estimator=emb, transform_meta=np.zeros((0, emb.n_features_out_), np.float32)
        )
        out = np.asarray(ppf.transform(ddf).compute())
        with joblib.parallel_backend("dask"):
            spread = clone(emb).set_params(n_jobs=2).fit(files).transform(files)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    np.testing.assert_allclose(spread, ref, atol=1e-5)


# --------------------------------------------------------------------------- one pipeline
def _count_resolutions(monkeypatch):
    from sklearn_echo.echo import checkpoint as checkpoint_module

    calls = []
    real = checkpoint_module.resolve_checkpoint

    def counting(*args, **kwargs):
        calls.append(args[0] if args else kwargs.get("model"))
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "resolve_checkpoint", counting)
    monkeypatch.setattr(pipeline_module, "resolve_checkpoint", counting)
    return calls


def test_hub_checkpoint_is_resolved_once_per_fit(tmp_path, monkeypatch):
    """fit + transform + transform_segments over several blocks: one resolution of the Hub id."""
    import huggingface_hub.constants as c

    from .test_checkpoint import _hub_cache

    cache = _hub_cache(tmp_path / "hub")
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(embedder_module, "BLOCK_SAMPLES", 400_000)  # 2 clips a block
    calls = _count_resolutions(monkeypatch)
    blocks = []
    real_assemble = EchoEmbedder._assemble

    def spy(self, signals, *args):
        blocks.append(len(signals))
        return real_assemble(self, signals, *args)

    monkeypatch.setattr(EchoEmbedder, "_assemble", spy)
    files = [str(f) for f in sorted((MIMII_DIR / "normal").glob("*.wav"))[:5]]
    emb = EchoEmbedder(model="echo-small", cache=False).fit(files)
    emb.transform(files)
    emb.transform_segments(files)
    assert blocks == [2, 2, 1, 2, 2, 1]  # both calls read the folder in three blocks
    assert calls == ["echo-small"]
    # an unpickled copy resolves once in its own process, then never again
    copy = pickle.loads(pickle.dumps(emb))
    copy.transform(files[:1])
    copy.transform_segments(files[:1])
    assert calls == ["echo-small", "echo-small"]


def test_transform_segments_reads_block_by_block_through_the_cache(monkeypatch):
    clear_cache()
    monkeypatch.setattr(embedder_module, "BLOCK_SAMPLES", 400_000)
    calls = []
    real = pipeline_module.encode_chunks

    def counting(encoder, jobs, **kw):
        calls.append(len(jobs))
        return real(encoder, jobs, **kw)

    monkeypatch.setattr(pipeline_module, "encode_chunks", counting)
    files = [str(f) for f in sorted((MIMII_DIR / "normal").glob("*.wav"))[:5]]
    whole = EchoEmbedder(model=TINY, cache=False).fit(files)
    monkeypatch.setattr(embedder_module, "BLOCK_SAMPLES", None)  # one block: the reference
    expected = whole.transform_segments(files)
    monkeypatch.setattr(embedder_module, "BLOCK_SAMPLES", 400_000)
    calls.clear()
    emb = EchoEmbedder(model=TINY).fit(files)
    first = emb.transform_segments(files)
    assert calls == [2, 2, 1]  # three blocks of 10 s clips, one chunk each
    second = emb.transform_segments(files)
    assert calls == [2, 2, 1]  # the second call makes no encoder call
    for a, b, c in zip(first, second, expected):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        assert a.shape == (63, emb.n_features_out_)


def test_unpickled_embedder_refuses_a_checkpoint_with_another_fingerprint(tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    path = tmp_path / "model.safetensors"
    shutil.copy(TINY, path)
    emb = EchoEmbedder(model=str(path), sample_rate=16000, cache=False).fit([_noise(16000)])
    saved = pickle.dumps(emb)
    state = load_file(path)
    state["norm.bias"] = state["norm.bias"] + 1.0
    save_file(state, path)
    copy = pickle.loads(saved)
    with pytest.raises(ValueError, match=rf"SHA-256 [0-9a-f]{{64}}.*SHA-256 {emb.model_fingerprint_}"):
        copy.transform([_noise(16000)])


def test_clear_cache_drops_cached_encoders():
    from sklearn_echo.echo.checkpoint import cached_encoder

    first = cached_encoder(TINY)
    assert cached_encoder(TINY) is first
    clear_cache()
    assert cached_encoder(TINY) is not first
