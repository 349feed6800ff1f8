"""The ECHO encoder against the reference outputs of ../shared/fixtures/echo_reference."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sklearn_echo.echo.checkpoint import load_encoder
from sklearn_echo.echo.batching import chunk_starts
from sklearn_echo.echo.pipeline import embed_signals
from sklearn_echo.echo.kernels import KernelOptions, attention, packed_attention
from sklearn_echo.echo.model import EchoConfig, EchoEncoder
from sklearn_echo.echo.bands import band_plan, stft_params
from sklearn_echo.echo.spectrogram import echo_spectrogram

from .conftest import TINY_PTH, TINY_SAFETENSORS

TOL = 1e-4


@pytest.fixture(scope="module", params=[TINY_SAFETENSORS, TINY_PTH], ids=["safetensors", "pth"])
def encoder(request):
    return load_encoder(request.param)


def test_fixture_has_twelve_cases(fixture_data):
    sigs, _, cases = fixture_data
    assert len(sigs) == len(cases) == 12


def test_spectrogram_matches_reference(fixture_data):
    sigs, expected, cases = fixture_data
    for (x, sr), case in zip(sigs, cases):
        spec = echo_spectrogram(x, sr).numpy()
        ref = expected[f"spectrogram_{case['key']}"]
        assert spec.shape == ref.shape == tuple(case["spectrogram_shape"])
        assert np.abs(spec - ref).max() <= TOL, case["name"]


@pytest.mark.parametrize("rate", [12000, 16000, 25600, 44100, 48000])
def test_spectrogram_is_bitwise_the_reference_steps(rate):
    """`torch.hypot` of the parts and the in-place log give exactly ``stft().abs()`` and the
    reference's out-of-place log (CPU), at any scale of the signal."""
    from sklearn_echo.echo.bands import stft_params
    from sklearn_echo.echo.spectrogram import LOG_EPS, LOG_OFFSET, LOG_SCALE

    rng = np.random.default_rng(rate)
    n_fft, hop = stft_params(rate)
    for scale in (1e-6, 1.0, 1e4):
        x = (scale * rng.standard_normal(rate // 2)).astype(np.float32)
        t = torch.as_tensor(x)
        t = t - t.mean()
        spec = torch.stft(t, n_fft=n_fft, hop_length=hop, win_length=n_fft,
                          window=torch.hann_window(n_fft, periodic=True), center=False,
                          onesided=True, return_complex=True).abs()
        reference = (torch.log(spec + LOG_EPS) + LOG_OFFSET) / LOG_SCALE
        assert torch.equal(echo_spectrogram(x, rate), reference)


@pytest.mark.parametrize("rate", [2000, 12000, 16000, 44100, 48000])
@pytest.mark.parametrize("seconds", [0.025, 0.18, 1.0, 25.3])
def test_band_patches_are_the_padded_bands_cut_into_patches(rate, seconds):
    """Each chunk's patches: bands of 32 bins (the last zero-padded on its low side), frames
    zero-padded to whole 16-frame patches, each patch flattened bins-major."""
    from sklearn_echo.echo.bands import band_plan
    from sklearn_echo.echo.batching import _chunk_patches, plan_chunks

    x = np.random.default_rng(7).standard_normal(int(seconds * rate)).astype(np.float32)
    plan = band_plan(rate)
    for job in plan_chunks([(x, float(rate))], 2000):
        spec = echo_spectrogram(job.samples, rate, mean=job.mean)
        f, t = spec.shape
        padded = torch.zeros(plan.n_bands * 32, -(-t // 16) * 16)
        padded[: 32 * (plan.n_bands - 1), :t] = spec[: 32 * (plan.n_bands - 1)]
        padded[32 * (plan.n_bands - 1) + plan.low_pad :, :t] = spec[32 * (plan.n_bands - 1) :]
        expected = padded.view(plan.n_bands, 32, -1, 16).permute(0, 2, 1, 3).flatten(2)
        patches = _chunk_patches(job, plan, 16, torch.device("cpu"))
        assert patches.is_contiguous() and torch.equal(patches, expected)


def test_spectrogram_of_a_signal_with_gradients(fixture_data):
    """The in-place log of the no-gradient path is not taken when the signal has gradients,
    and the cached window works for it even when first made under inference mode."""
    from sklearn_echo.echo import spectrogram

    (x, sr), *_ = fixture_data[0]
    spectrogram._WINDOWS.clear()
    with torch.inference_mode():
        plain = echo_spectrogram(x, sr)
    signal = torch.tensor(x, requires_grad=True)
    spec = echo_spectrogram(signal, sr, mean=float(torch.as_tensor(x).mean()))
    spec.sum().backward()
    assert torch.isfinite(signal.grad).all() and signal.grad.abs().sum() > 0
    assert torch.equal(spec.detach(), plain)


def test_config_inferred_from_shapes(encoder):
    cfg = encoder.config
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.ffn_dim) == (128, 2, 2, 512)
    assert (cfg.band_width, cfg.patch_width, cfg.max_patches) == (32, 16, 125)
    assert cfg.chunk_frames == 2000


def _check_outputs(outputs, expected, cases):
    for out, case in zip(outputs, cases):
        k = case["key"]
        utt, seg = expected[f"utterance_{k}"], expected[f"segments_{k}"]
        assert out.utterance.shape == utt.shape == tuple(case["utterance_shape"]), case["name"]
        assert out.segments.shape == seg.shape == tuple(case["segments_shape"]), case["name"]
        assert out.utterance.dtype == np.float32
        assert np.abs(out.utterance - utt).max() <= TOL, case["name"]
        assert np.abs(out.segments - seg).max() <= TOL, case["name"]


def test_parity_one_signal_at_a_time(encoder, fixture_data):
    sigs, expected, cases = fixture_data
    outputs = [embed_signals(encoder, [s], segments=True)[0] for s in sigs]
    _check_outputs(outputs, expected, cases)


def test_parity_all_twelve_in_one_batched_call(encoder, fixture_data):
    sigs, expected, cases = fixture_data
    _check_outputs(embed_signals(encoder, sigs, segments=True), expected, cases)


def test_utterance_only_path_matches_reference(encoder, fixture_data):
    """Without segments the last layer computes CLS positions only: same utterances."""
    sigs, expected, cases = fixture_data
    for out, case in zip(embed_signals(encoder, sigs, segments=False), cases):
        assert out.segments is None
        assert np.abs(out.utterance - expected[f"utterance_{case['key']}"]).max() <= TOL


def test_small_batches_and_padding_give_the_same_embedding(fixture_data):
    """A signal's embedding does not depend on what else is in the batch."""
    enc = load_encoder(TINY_SAFETENSORS)
    sigs, expected, cases = fixture_data
    rng = np.random.default_rng(0)
    # Lengths close to each other, so batches mix them with key-padding masks.
    extra = [(rng.standard_normal(16000 + 160 * i).astype(np.float32), 16000.0) for i in range(6)]
    alone = [embed_signals(enc, [s], segments=True)[0] for s in extra]
    for batch_tokens in (64, 1000, 100000):
        mixed = embed_signals(enc, extra + sigs, segments=True, batch_tokens=batch_tokens)
        for a, m in zip(alone, mixed):
            np.testing.assert_allclose(m.utterance, a.utterance, atol=1e-5)
            np.testing.assert_allclose(m.segments, a.segments, atol=1e-5)
        _check_outputs(mixed[len(extra) :], expected, cases)


def _cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_bfloat16_close_to_float32_on_fixture(fixture_data):
    sigs, expected, cases = fixture_data
    enc = load_encoder(TINY_SAFETENSORS, dtype="bfloat16")
    assert enc.cls_token.dtype == torch.bfloat16
    for out, case in zip(embed_signals(enc, sigs), cases):
        assert _cosine(out.utterance, expected[f"utterance_{case['key']}"]) >= 0.999, case["name"]


def test_bfloat16_close_to_float32_on_echo_small_sized_model():
    torch.manual_seed(0)
    enc = EchoEncoder(EchoConfig()).eval()  # ECHO-Small: D=384, 12 layers, 6 heads
    assert 21.0e6 < enc.n_parameters < 22.0e6
    rng = np.random.default_rng(1)
    sigs = [
        (rng.standard_normal(int(2.0 * sr)).astype(np.float32), sr)
        for sr in (12000.0, 16000.0, 48000.0)
    ]
    ref = embed_signals(enc, sigs)
    fast = embed_signals(enc.to(torch.bfloat16), sigs)
    assert [r.utterance.shape for r in ref] == [(5 * 384,), (7 * 384,), (19 * 384,)]
    for r, f in zip(ref, fast):
        assert _cosine(r.utterance, f.utterance) >= 0.999


def test_chunking_rules():
    assert chunk_starts(2000) == [(0, 2000)]
    assert chunk_starts(4000) == [(0, 2000), (2000, 2000)]
    assert chunk_starts(4001) == [(0, 2000), (2000, 2000), (2001, 2000)]
    assert chunk_starts(17) == [(0, 17)]


def test_band_counts_per_rate():
    assert {sr: band_plan(sr).n_bands for sr in (12000, 16000, 44100, 48000, 50000)} == {
        12000: 5,
        16000: 7,
        44100: 18,
        48000: 19,
        50000: 20,
    }
    assert stft_params(16000) == (400, 160)
    plan = band_plan(16000)
    assert plan.low_pad == 7 * 32 - 201


def test_embedding_is_bitwise_independent_of_batch_companions():
    """Same-length companions change only the batch size: the result must not change at all."""
    enc = load_encoder(TINY_SAFETENSORS)
    rng = np.random.default_rng(3)
    sigs = [(rng.standard_normal(8000).astype(np.float32), 16000.0) for _ in range(9)]
    alone = [embed_signals(enc, [s])[0].utterance for s in sigs]
    together = embed_signals(enc, sigs)
    for a, t in zip(alone, together):
        np.testing.assert_array_equal(a, t.utterance)


def test_bfloat16_embedding_is_bitwise_independent_of_batch_companions():
    enc = load_encoder(TINY_SAFETENSORS, dtype="bfloat16")
    rng = np.random.default_rng(4)
    sigs = [(rng.standard_normal(12000).astype(np.float32), 16000.0) for _ in range(7)]
    alone = [embed_signals(enc, [s])[0].utterance for s in sigs]
    for a, t in zip(alone, embed_signals(enc, sigs)):
        np.testing.assert_array_equal(a, t.utterance)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_prepacked_weights_change_nothing_and_follow_weight_changes(dtype):
    from sklearn_echo.echo.kernels import ONEDNN_ATTR, _can_prepack

    if not _can_prepack(getattr(torch, dtype)):
        pytest.skip("oneDNN cannot lay weights out ahead of time on this machine")
    fast = load_encoder(TINY_SAFETENSORS, dtype=dtype)
    plain = EchoEncoder(fast.config, KernelOptions(prepacked_weights=False))
    plain.load_state_dict(fast.state_dict())
    plain = plain.to(getattr(torch, dtype)).eval()
    rng = np.random.default_rng(5)
    sigs = [(rng.standard_normal(n).astype(np.float32), sr) for n, sr in ((9000, 16000.0), (30000, 48000.0))]
    for a, b in zip(embed_signals(fast, sigs), embed_signals(plain, sigs)):
        np.testing.assert_array_equal(a.utterance, b.utterance)
    weight = fast.encoder.layers[0].linear1.weight
    version = getattr(weight, ONEDNN_ATTR).key
    assert not hasattr(plain.encoder.layers[0].linear1.weight, ONEDNN_ATTR)
    # the opaque layout is never saved: the whole module still pickles, and the
    # copy makes its own layout
    buffer = io.BytesIO()
    torch.save(fast, buffer)
    buffer.seek(0)
    copy = torch.load(buffer, weights_only=False)
    assert getattr(copy.encoder.layers[0].linear1.weight, ONEDNN_ATTR).key is None
    for a, b in zip(embed_signals(copy, sigs), embed_signals(plain, sigs)):
        np.testing.assert_array_equal(a.utterance, b.utterance)
    # a weight changed in place gets a new layout at the next call
    with torch.no_grad():
        for enc in (fast, plain):
            enc.encoder.layers[0].linear1.weight.mul_(1.5)
    assert getattr(weight, ONEDNN_ATTR).key == version
    for a, b in zip(embed_signals(fast, sigs), embed_signals(plain, sigs)):
        np.testing.assert_array_equal(a.utterance, b.utterance)
    assert getattr(weight, ONEDNN_ATTR).key != version
    assert getattr(weight, ONEDNN_ATTR).key[0] == weight._version


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_residual_added_after_or_inside_the_linear_kernel_agree(dtype):
    """`linear_add` with the residual as oneDNN's post-op, or added after the plain
    kernel (the default), is ``residual + x W^T + b`` to the dtype's rounding."""
    from sklearn_echo.echo.kernels import linear_add

    g = torch.Generator().manual_seed(2)
    dt = getattr(torch, dtype)
    x, w, b, res = (torch.randn(*shape, generator=g) for shape in ((70, 48), (40, 48), (40,), (70, 40)))
    ref = res + x @ w.T + b
    tol = 1e-5 if dtype == "float32" else 6e-2
    with torch.no_grad():
        outs = [
            linear_add(x.to(dt), w.to(dt), b.to(dt), res.to(dt), KernelOptions(residual_epilogue=post_op))
            for post_op in (False, True)
        ]
    for out in outs:
        assert out.dtype == dt and out.shape == ref.shape
        torch.testing.assert_close(out.float(), ref, atol=tol, rtol=tol)
    # both rounded once or twice from the same products: within a rounding of each other
    torch.testing.assert_close(outs[0].float(), outs[1].float(), atol=tol, rtol=tol)


@pytest.mark.parametrize("float32_softmax", [True, False])
def test_packed_bfloat16_attention_equals_float32_attention(float32_softmax):
    """Head by head on the packed projection, masked keys included, as SDPA computes it."""
    g = torch.Generator().manual_seed(0)
    n, length, heads, dim = 3, 21, 4, 32
    qkv = torch.randn(n * length, 3 * dim, generator=g)
    mask = torch.ones(n, 1, 1, length, dtype=torch.bool)
    mask[1, ..., 15:] = False
    mask[2, ..., 4] = False  # not only padding: any key hidden from any sequence
    kernels = KernelOptions(float32_softmax=float32_softmax)
    with torch.no_grad():
        fast = packed_attention(qkv.bfloat16(), n, length, heads, mask, kernels)
        q, k, v = qkv.view(n, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4).unbind(0)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert fast.dtype == torch.bfloat16 and fast.shape == (n * length, dim)
    ref = ref.transpose(1, 2).reshape(n * length, dim)
    torch.testing.assert_close(fast.float(), ref, atol=3e-2, rtol=3e-2)


@pytest.mark.parametrize("float32_softmax", [True, False])
def test_packed_attention_with_copied_keys_is_bitwise_the_same(float32_softmax):
    """`KernelOptions.contiguous_keys` only changes where the keys are read from."""
    g = torch.Generator().manual_seed(2)
    n, length, heads, dim = 5, 37, 6, 384  # ECHO-Small's heads, a short chunk's length
    qkv = torch.randn(n * length, 3 * dim, generator=g).bfloat16()
    mask = torch.ones(n, 1, 1, length, dtype=torch.bool)
    mask[3, ..., 33:] = False
    for m in (None, mask):
        with torch.inference_mode():
            copied, in_place = (
                packed_attention(qkv, n, length, heads, m,
                                 KernelOptions(float32_softmax=float32_softmax, contiguous_keys=c))
                for c in (True, False)
            )
        assert torch.equal(copied, in_place)


@pytest.mark.parametrize("float32_softmax", [True, False])
def test_bfloat16_attention_on_heads_equals_float32_attention(float32_softmax):
    """`attention` (heads as (N, H, L, hd)) with a key mask, also one broadcast over N."""
    g = torch.Generator().manual_seed(1)
    n, heads, lq, length, hd = 3, 2, 5, 19, 8
    q, k, v = (torch.randn(n, heads, m, hd, generator=g) for m in (lq, length, length))
    masks = [torch.ones(n, 1, 1, length, dtype=torch.bool), torch.ones(1, 1, 1, length, dtype=torch.bool)]
    masks[0][1, ..., 12:] = False
    masks[0][2, ..., 3] = False
    masks[1][..., 7] = False
    kernels = KernelOptions(float32_softmax=float32_softmax)
    for mask in masks:
        with torch.no_grad():
            fast = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask, kernels)
            ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert fast.dtype == torch.bfloat16 and fast.shape == ref.shape
        torch.testing.assert_close(fast.float(), ref, atol=3e-2, rtol=3e-2)


@pytest.mark.parametrize(
    "signal, rate, pattern",
    [
        (np.zeros(0, np.float32), 16000, r"X\[0\].*empty"),
        (np.ones(100, np.float32), 16000, r"X\[0\] has 100 samples.*400"),
        (np.array([0.0, np.nan] * 800, np.float32), 16000, r"X\[0\].*NaN"),
        (np.array([0.0, np.inf] * 800, np.float32), 16000, r"X\[0\].*inf"),
        (np.array(["a"] * 1600), 16000, r"X\[0\]"),
        (np.zeros((2, 2, 800), np.float32), 16000, r"X\[0\].*dimensions"),
        (np.ones(1600, np.float32), 0.0, r"X\[0\].*positive"),
        (np.ones(1600, np.float32), float("inf"), r"X\[0\].*finite"),
        (np.ones((2, 1600), np.float32), 16000, r"X\[0\] has 2 channels"),
    ],
)
def test_bad_signals_are_errors_naming_the_item_never_zero_vectors(signal, rate, pattern):
    enc = load_encoder(TINY_SAFETENSORS)
    with pytest.raises(ValueError, match=pattern):
        embed_signals(enc, [(signal, rate)])
