"""EchoPretrainer: scikit-learn behaviour, published-format round trip, input errors, resume."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklearn_echo.training.loop as loop_module
from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector, EchoPretrainer
from sklearn_echo.echo.cache import clear_cache
from sklearn_echo.echo.checkpoint import load_encoder, read_state_dict
from sklearn_echo.echo.model import EchoEncoder
from sklearn_echo.signals import SignalError
from sklearn_echo.training import StateMismatchError
from sklearn_echo.training.export import read_metadata

from .conftest import MIMII_DIR, TINY_SAFETENSORS

TINY = str(TINY_SAFETENSORS)
SMALL = {"model": None, "embed_dim": 64, "depth": 1, "device": "cpu", "random_state": 0,
         "clone_batch": 2, "crop_seconds": 0.64}


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _noise(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def _signals(n=4, seconds=1.0, sr=16000):
    return [_noise(int(sr * seconds), seed=i) for i in range(n)]


# --------------------------------------------------------------------------- sklearn checks
EXPECTED_FAILED_CHECKS = {
    "check_fit2d_1feature": (
        "a 1-sample signal is shorter than one 25 ms window; the loading layer's error "
        "names the rows and the rule instead of sklearn's n_features=1 wording"
    ),
}


@parametrize_with_checks(
    [EchoPretrainer(model=TINY, max_steps=1, batch_size=2, sample_rate=100, cache=False,
                    device="cpu", clone_batch=1)],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------- round trip
def test_saved_checkpoint_loads_with_exactly_the_published_keys(tmp_path):
    X = _signals(3)
    pre = EchoPretrainer(model=TINY, max_steps=2, batch_size=2, sample_rate=16000,
                         device="cpu", random_state=0, clone_batch=2).fit(X)
    path = pre.save(tmp_path / "adapted.safetensors")
    state = read_state_dict(path)
    enc = load_encoder(path)
    assert set(state) == set(EchoEncoder(enc.config).state_dict())
    for k, v in enc.state_dict().items():
        assert np.array_equal(v.numpy(), pre.encoder_weights_[k])
    emb = EchoEmbedder(model=str(path), sample_rate=16000, cache=False).fit_transform(X)
    assert np.array_equal(emb, pre.transform(X))
    meta = read_metadata(path)
    assert meta["training"]["steps"] == 2 and meta["training"]["config"]["embed_dim"] == 128


def test_zero_steps_give_exactly_the_starting_embeddings():
    X = _signals(3, seconds=1.5)
    start = EchoEmbedder(model=TINY, sample_rate=16000, cache=False).fit_transform(X)
    pre = EchoPretrainer(model=TINY, max_steps=0, sample_rate=16000, device="cpu", cache=False)
    assert np.array_equal(pre.fit_transform(X), start)
    assert pre.n_steps_ == 0 and pre.loss_curve_ == []


def test_pickle_and_clone_hold_no_torch_model():
    X = _signals(3)
    pre = EchoPretrainer(max_steps=2, batch_size=2, sample_rate=16000, **SMALL).fit(X)
    assert not any(isinstance(v, torch.nn.Module) for v in vars(pre).values())
    copy = pickle.loads(pickle.dumps(pre))
    assert np.array_equal(copy.transform(X), pre.transform(X))
    assert not hasattr(clone(pre), "encoder_weights_")


def test_pipeline_adapts_the_encoder_on_normal_recordings():
    files = sorted(str(p) for p in (MIMII_DIR / "normal").glob("*.wav"))
    normal, test = files[:3], files[3:4] + sorted(str(p) for p in (MIMII_DIR / "abnormal").glob("*.wav"))[:1]
    pipe = make_pipeline(
        EchoPretrainer(max_steps=2, batch_size=2, **SMALL), EchoKNNAnomalyDetector(n_neighbors=1)
    )
    scores = pipe.fit(normal).score_samples(test)
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_validation_loss_and_early_stopping():
    X = _signals(5)
    pre = EchoPretrainer(max_steps=40, batch_size=2, sample_rate=16000, learning_rate=1e-9,
                         early_stopping=True, validation_interval=2, n_iter_no_change=2,
                         tol=1.0, **SMALL).fit(X)
    assert len(pre.validation_loss_curve_) == 3  # first improves on inf, then 2 without change
    assert pre.n_steps_ == 6


def test_max_epochs_bounds_the_steps():
    pre = EchoPretrainer(max_steps=50, max_epochs=2, batch_size=2, sample_rate=16000, **SMALL)
    assert pre.fit(_signals(3)).n_steps_ == 3


# --------------------------------------------------------------------------- resume
def test_fit_resumes_from_checkpoint_dir_like_an_uninterrupted_run(tmp_path, monkeypatch):
    X = _signals(3)
    params = {"max_steps": 6, "batch_size": 2, "sample_rate": 16000, "checkpoint_interval": 3,
              **SMALL}
    straight = EchoPretrainer(checkpoint_dir=tmp_path / "a", **params).fit(X)

    original = loop_module.Pretraining.step

    def interrupted(self, batch):
        if self.step_count == 4:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(loop_module.Pretraining, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        EchoPretrainer(checkpoint_dir=tmp_path / "b", **params).fit(X)
    monkeypatch.setattr(loop_module.Pretraining, "step", original)
    resumed = EchoPretrainer(checkpoint_dir=tmp_path / "b", **params).fit(X)
    assert resumed.loss_curve_ == straight.loss_curve_ and resumed.n_steps_ == 6
    for k, v in straight.encoder_weights_.items():
        assert np.array_equal(v, resumed.encoder_weights_[k]), k
    assert resumed.model_fingerprint_ == straight.model_fingerprint_


# --------------------------------------------------------------------------- bad input
def test_loading_errors_are_the_loading_layers():
    bad = [_noise(16000), np.full(16000, np.nan, dtype=np.float32)]
    with pytest.raises(SignalError) as from_embedder:
        EchoEmbedder(model=TINY, sample_rate=16000).fit(bad)
    with pytest.raises(SignalError) as from_pretrainer:
        EchoPretrainer(model=TINY, sample_rate=16000, max_steps=1).fit(bad)
    assert str(from_pretrainer.value) == str(from_embedder.value)
    with pytest.raises(SignalError, match="25 ms"):
        EchoPretrainer(model=TINY, sample_rate=16000, max_steps=1).fit([_noise(100)])


def test_short_signals_are_zero_padded_to_the_crop():
    X = [_noise(16000), _noise(4000, 1)]  # 1 s and 0.25 s, crop 0.64 s
    pre = EchoPretrainer(max_steps=2, batch_size=2, sample_rate=16000, **SMALL).fit(X)
    assert np.isfinite(pre.loss_curve_).all()


def test_checkpoint_of_another_shape_is_an_error_naming_tensors(tmp_path):
    with pytest.raises(StateMismatchError, match="cls_token"):
        EchoPretrainer(model=TINY, embed_dim=64, max_steps=1, sample_rate=16000).fit(_signals(2))
    X = _signals(2)
    params = {"max_steps": 1, "batch_size": 2, "sample_rate": 16000, "checkpoint_dir": tmp_path}
    EchoPretrainer(**params, **SMALL).fit(X)
    other = {**SMALL, "embed_dim": 128}
    with pytest.raises(StateMismatchError, match=r"mismatched tensors 'cls_token'"):
        EchoPretrainer(**params, **other).fit(X)


def test_unwritable_checkpoint_dir_fails_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(loop_module.Pretraining, "__init__", no_training)
    with pytest.raises(PermissionError, match="checkpoint_dir"):
        EchoPretrainer(max_steps=1, sample_rate=16000, checkpoint_dir=blocker / "run",
                       **SMALL).fit(_signals(2))


def test_heads_other_than_64_dims_are_refused():
    with pytest.raises(ValueError, match="num_heads=4"):
        EchoPretrainer(model=None, embed_dim=128, num_heads=4, max_steps=1,
                       sample_rate=16000).fit(_signals(2))


# --------------------------------------------------------------------------- command
def test_pretrain_command_writes_a_checkpoint_every_command_takes(tmp_path):
    import argparse

    from sklearn_echo.cli import pretrain
    from sklearn_echo.cli.options import common_options

    parser = argparse.ArgumentParser(prog="sklearn-echo")
    pretrain.register(parser.add_subparsers(dest="command"), common_options())
    out = tmp_path / "adapted.safetensors"
    args = parser.parse_args([
        "pretrain", str(MIMII_DIR / "normal"), "-o", str(out), "--model", TINY,
        "--steps", "2", "--train-batch-size", "2", "--crop-seconds", "0.64", "--device", "cpu",
    ])
    assert args.func(args) == 0
    assert load_encoder(str(out)).config.embed_dim == 128


def test_bfloat16_mixed_rates_and_multichannel_train():
    X = [(_noise(16000), 16000.0), (_noise(48000, 1), 48000.0),
         (np.stack([_noise(12000, 2), _noise(12000, 3)]), 12000.0)]
    pre = EchoPretrainer(max_steps=2, batch_size=3, dtype="bfloat16", multichannel="mean",
                         **{**SMALL, "crop_seconds": None}).fit(X)
    assert np.isfinite(pre.loss_curve_).all()
    assert pre.transform(X).shape == (3, pre.n_features_out_)
