"""Mechanics of the pretraining recipe: EMA, masks, random bands, the training path, learning, resume."""

import itertools

import numpy as np
import pytest
import torch

from sklearn_echo.device import torch_threads
from sklearn_echo.echo.bands import band_plan, stft_params
from sklearn_echo.echo.checkpoint import load_encoder
from sklearn_echo.echo.model import EchoConfig, EchoEncoder
from sklearn_echo.echo.spectrogram import echo_spectrogram, frequency_encoding
from sklearn_echo.signals import scan_signals
from sklearn_echo.training import (
    ExampleSpec,
    PatchDecoder,
    Pretraining,
    PretrainingDataset,
    Recipe,
    SignalSource,
    ema_decay_at,
    ema_update,
    inverse_block_mask,
    make_targets,
    n_masked,
    training_items,
    warmup_cosine,
)
from sklearn_echo.training.data import band_position, make_example

from .conftest import MIMII_DIR, TINY_SAFETENSORS

TINY_CONFIG = EchoConfig(embed_dim=64, depth=1, num_heads=1, ffn_dim=256)


@pytest.fixture(autouse=True)
def _one_thread():
    # training runs under torch_threads(n_jobs) in EchoPretrainer; the same here
    with torch_threads(1):
        yield


def _noise(n, seed=0):
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


# --------------------------------------------------------------------------- teacher
def test_ema_update_equals_the_formula():
    torch.manual_seed(0)
    teacher, student = EchoEncoder(TINY_CONFIG), EchoEncoder(TINY_CONFIG)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    a = 0.9
    ema_update(teacher, student, a)
    s = student.state_dict()
    for k, v in teacher.state_dict().items():
        expected = a * before[k].double() + (1 - a) * s[k].double()
        torch.testing.assert_close(v.double(), expected, rtol=0, atol=1e-7)


def test_ema_decay_is_annealed_linearly_from_start_to_end():
    start, end = 0.9998, 0.99999
    assert ema_decay_at(0, start, end, 100) == start
    assert ema_decay_at(50, start, end, 100) == pytest.approx((start + end) / 2, abs=1e-12)
    assert ema_decay_at(100, start, end, 100) == end
    assert ema_decay_at(10**6, start, end, 100) == end


def test_targets_are_instance_normalised_layer_means():
    torch.manual_seed(0)
    layers = [torch.randn(3, 10, 8) * (i + 1) + i for i in range(4)]
    y = make_targets(layers, top_k=2)
    norm = [torch.nn.functional.instance_norm(h.transpose(1, 2)).transpose(1, 2) for h in layers[-2:]]
    expected = torch.nn.functional.layer_norm((norm[0] + norm[1]) / 2, (8,))
    torch.testing.assert_close(y, expected)


# --------------------------------------------------------------------------- masks
@pytest.mark.parametrize("n_patches", [8, 31, 125])
@pytest.mark.parametrize("ratio", [0.75, 0.8])
def test_mask_ratio_is_exact(n_patches, ratio):
    keep, masked = inverse_block_mask(n_patches, ratio, 16, np.random.default_rng(n_patches))
    expected = round(ratio * n_patches)
    assert (masked.sum(axis=1) == expected).all()
    assert keep.shape == (16, n_patches - expected)
    for k, m in zip(keep, masked):
        assert (np.diff(k) > 0).all()
        assert not m[k].any() and m.sum() + len(k) == n_patches
    assert n_masked(n_patches, ratio) == expected


def test_schedule_warms_up_then_decays_to_the_floor():
    values = [warmup_cosine(s, 100, 10, 0.1) for s in range(101)]
    assert values[0] == pytest.approx(0.1) and values[9] == 1.0
    assert all(b <= a for a, b in itertools.pairwise(values[10:]))
    assert values[100] == pytest.approx(0.1)


# --------------------------------------------------------------------------- random bands
@pytest.mark.parametrize("sr", [12000, 16000, 48000])
def test_random_band_frequency_encoding_equals_inference(sr):
    plan = band_plan(sr)
    n_fft, _ = stft_params(sr)
    full = plan.n_bands - (1 if plan.low_pad else 0)
    for b in range(full):
        p = band_position(32 * b, 32 * b + 32, sr, n_fft)
        assert p == plan.positions[b]
        torch.testing.assert_close(
            frequency_encoding([p], 384), frequency_encoding(plan.positions, 384)[b : b + 1],
            rtol=0, atol=0,
        )


def test_example_bands_are_spectrogram_rows_at_their_position():
    sr = 16000
    x = _noise(sr * 3)
    spec = ExampleSpec(crop_frames=160, clone_batch=2)
    ex = make_example(x, float(x.mean()), sr, spec, np.random.default_rng(3))
    n_bands = ex["patches"].shape[0]
    assert 2 <= n_bands <= 5 and ex["keep"].shape[0] == 2 * n_bands
    full = echo_spectrogram(x, sr, mean=float(x.mean()))
    n_fft, _ = stft_params(sr)
    for i in range(n_bands):
        band = ex["patches"][i].view(10, 32, 16).permute(1, 0, 2).reshape(32, 160)
        # find the crop and the start bin this band was cut from
        centre = ex["positions"][i] * (sr / 2) / (sr / n_fft)
        start = round(centre - 15.5)
        matches = [
            t for t in range(full.shape[1] - 159)
            if torch.equal(full[start : start + 32, t : t + 160], band)
        ]
        assert matches, f"band {i} is not a 32-bin slice of the signal's spectrogram"


# --------------------------------------------------------------------------- training path
def test_training_path_matches_inference_and_is_differentiable():
    enc = load_encoder(str(TINY_SAFETENSORS))
    patches = torch.randn(5, 12, 512)
    fe = frequency_encoding(np.linspace(0.1, 0.9, 5), 128)
    with torch.no_grad():
        eval_out = enc(enc.embed(patches, fe))
    enc.train().requires_grad_(True)
    train_out = enc(enc.embed(patches, fe))
    torch.testing.assert_close(train_out, eval_out, rtol=1e-4, atol=1e-4)
    train_out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())


def test_decoder_keeps_visible_outputs_at_their_positions():
    dec = PatchDecoder(64, layers=0)
    visible = torch.randn(2, 3, 64)
    keep = torch.tensor([[0, 4, 7], [1, 2, 3]])
    out = dec(visible, keep, 8)
    ref = dec.output_proj(dec.input_proj(visible))
    torch.testing.assert_close(out[0, [0, 4, 7]], ref[0])


# --------------------------------------------------------------------------- learning, resume
def _mimii(n=6):
    files = sorted((MIMII_DIR / "normal").glob("*.wav"))[:n]
    return scan_signals([str(f) for f in files])


def _run(scanned, steps, seed=0, lr=2e-3, batch=4, crop=96, start=None):
    torch.manual_seed(seed)
    enc = EchoEncoder(TINY_CONFIG)
    recipe = Recipe(max_steps=steps, learning_rate=lr, warmup_steps=5, ema_decay=0.999,
                    ema_end_decay=0.9999, ema_anneal_steps=steps, decoder_layers=2)
    run = Pretraining(enc, recipe, "cpu", seed=seed)
    spec = ExampleSpec(crop_frames=crop, clone_batch=2)
    items = training_items(scanned.infos)
    data = PretrainingDataset(SignalSource(scanned), items, spec, batch, seed, stop_step=steps)
    return run, data


def test_loss_falls_over_50_steps_on_real_recordings():
    run, data = _run(_mimii(), 50)
    losses = [run.step(batch) for batch in data]
    assert len(losses) == 50
    # EAT's utterance loss, summed over the sequences, is most of the total and
    # falls more slowly than the frame loss over 50 steps.
    assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:5]), losses


def test_resume_continues_bit_for_bit(tmp_path):
    scanned = _mimii(3)
    run, data = _run(scanned, 6, batch=2, crop=48)
    straight = [run.step(b) for b in data]

    first, data = _run(scanned, 6, batch=2, crop=48)
    for step, batch in zip(range(3), data):
        first.step(batch)
    first.save_state(tmp_path)
    del first
    resumed, data = _run(scanned, 6, batch=2, crop=48, seed=0)
    assert resumed.load_state(tmp_path)
    data.start_step = resumed.step_count
    for batch in data:
        resumed.step(batch)
    assert resumed.loss_curve == straight
    for a, b in zip(resumed.teacher.state_dict().values(), run.teacher.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(resumed.student.state_dict().values(), run.student.state_dict().values()):
        assert torch.equal(a, b)


def test_dataloader_workers_give_the_same_batches_in_step_order():
    from torch.utils.data import DataLoader

    signals = [(_noise(12000, i), 16000.0) for i in range(3)] + [(_noise(30000, 7), 48000.0)]
    scanned = scan_signals(signals)
    spec = ExampleSpec(crop_frames=32, clone_batch=2)
    data = PretrainingDataset(SignalSource(scanned), training_items(scanned.infos), spec, 3,
                              seed=5, stop_step=5)
    direct = list(data)
    loaded = list(DataLoader(data, batch_size=None, num_workers=2))
    assert len(loaded) == len(direct) == 5
    for a, b in zip(direct, loaded):
        for key in ("patches", "positions", "keep", "masked"):
            assert torch.equal(a[key], b[key])
    # mixed rates in one batch: band sequences of one length
    assert {tuple(b["patches"].shape[1:]) for b in direct} == {(2, 512)}


def test_ranks_read_disjoint_shards_of_the_global_batch():
    scanned = scan_signals([(_noise(8000, i), 16000.0) for i in range(8)])
    spec = ExampleSpec(crop_frames=16, clone_batch=1)
    items = training_items(scanned.infos)

    def batch(rank, world, size, step):
        data = PretrainingDataset(SignalSource(scanned), items, spec, size, seed=1,
                                  rank=rank, world_size=world)
        return data.batch(step)

    for step in range(3):
        parts = [batch(r, 2, 2, step) for r in range(2)]
        whole = batch(0, 1, 4, step)
        for key in ("patches", "positions", "keep", "masked"):
            assert torch.equal(torch.cat([p[key] for p in parts]), whole[key])
