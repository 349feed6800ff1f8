"""Torch modules of DEGram: spectrogram, SincGram, TF-DE attention, front end, backbones."""

import inspect
import math
import re

import numpy as np
import pytest
import torch

from sklearn_echo import degram
from sklearn_echo.degram import (
    BinInterpolation,
    DEGram,
    DEGramNet,
    Filterbank,
    FrequencyNormalization,
    PowerSpectrogram,
    ResNet18,
    SincGram,
    SmallCNN,
    TFDELayer,
    butterworth_response,
    hz_to_mel,
    make_backbone,
    mel_filter_params,
    mel_to_hz,
    stft_config,
)

from .conftest import ROOT


def _sine(freq, rate, seconds=1.0, amplitude=1.0):
    t = torch.arange(int(round(seconds * rate)), dtype=torch.float64) / rate
    return (amplitude * torch.sin(2 * math.pi * freq * t)).float().unsqueeze(0)


# ---------------------------------------------------------------- spectrogram
@pytest.mark.parametrize(
    "rate, expected",
    [(12000, (384, 120, 512)), (16000, (512, 160, 512)), (44100, (1411, 441, 2048)),
     (48000, (1536, 480, 2048))],
)
def test_stft_config_scales_with_rate(rate, expected):
    assert stft_config(rate) == expected


def test_stft_config_rejects_bad_rate():
    with pytest.raises(ValueError, match="sample_rate must be a positive finite number"):
        stft_config(0)


def test_power_spectrogram_matches_numpy_frames():
    rate = 12000
    x = torch.randn(1, 3000, generator=torch.Generator().manual_seed(0))
    spec = PowerSpectrogram()(x, rate)[0, 0].numpy()
    win, hop, n_fft = stft_config(rate)
    # centred frames with reflect padding, periodic Hann window zero-padded to n_fft
    padded = np.pad(x[0].numpy().astype(np.float64), n_fft // 2, mode="reflect")
    w = np.hanning(win + 1)[:-1]
    full = np.zeros(n_fft)
    left = (n_fft - win) // 2
    full[left : left + win] = w
    frames = np.stack([padded[t * hop : t * hop + n_fft] * full for t in range(spec.shape[1])])
    power = np.abs(np.fft.rfft(frames, axis=1)).T ** 2 / (rate * np.sum(w**2))
    power[1:-1] *= 2
    np.testing.assert_allclose(spec, power, rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("rate", [12000, 16000, 44100, 48000])
def test_power_spectrogram_is_a_density_in_signal_units(rate):
    spec = PowerSpectrogram()
    df = rate / stft_config(rate)[2]
    # a sine of amplitude 2 carries power 2 in every frame
    p = spec(_sine(1000.0, rate, amplitude=2.0), rate)
    frame_power = p.sum(dim=2)[0, 0] * df
    np.testing.assert_allclose(frame_power[5:-5].numpy(), 2.0, rtol=1e-3)
    # and the bins are k * rate / n_fft
    np.testing.assert_allclose(spec.bin_frequencies(rate)[1].item(), df, rtol=1e-6)


def test_power_spectrogram_too_short_input_is_an_error():
    with pytest.raises(ValueError, match="too short for the 32 ms STFT window at 12000 Hz"):
        PowerSpectrogram()(torch.zeros(1, 100), 12000)


# ---------------------------------------------------------------- sincgram
def test_mel_initialisation_follows_the_published_rule():
    c, b = mel_filter_params(10, 20.0, 6000.0)
    points = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(6000.0), 12))
    np.testing.assert_allclose(c, points[1:-1])
    np.testing.assert_allclose(b, (points[2:] - points[:-2]) / 2)
    np.testing.assert_allclose(mel_to_hz(hz_to_mel([0.0, 700.0, 5000.0])), [0, 700, 5000])
    with pytest.raises(ValueError, match="need 0 <= f_min < f_max"):
        mel_filter_params(4, 100.0, 50.0)


def test_sincgram_parameters_are_float32_and_in_hz():
    bank = SincGram(n_filters=16, f_min=10.0, f_max=6000.0)
    assert all(p.dtype == torch.float32 for p in bank.parameters())
    c, b = mel_filter_params(16, 10.0, 6000.0)
    np.testing.assert_allclose(bank.centers_hz.detach().numpy(), c, rtol=1e-5)
    np.testing.assert_allclose(bank.bandwidths_hz.detach().numpy(), b, rtol=1e-5)
    fb = bank.to_filterbank()
    assert isinstance(fb, Filterbank) and len(fb) == 16 and fb.order == 4


def test_sincgram_response_is_butterworth():
    bank = SincGram(n_filters=6, order=3, f_max=4000.0)
    freqs = np.linspace(0, 8000, 513)
    torch_resp = bank.response(torch.tensor(freqs, dtype=torch.float32)).detach().numpy()
    c = bank.centers_hz.detach().numpy().astype(np.float64)
    b = bank.bandwidths_hz.detach().numpy().astype(np.float64)
    expected = 1.0 / np.sqrt(1.0 + ((freqs[:, None] - c) / b) ** 6)
    np.testing.assert_allclose(torch_resp, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(butterworth_response(freqs, c, b, 3), expected, rtol=1e-10)
    # -3 dB at centre +- half-width
    edge = bank.response(bank.centers_hz.detach() + bank.bandwidths_hz.detach())
    np.testing.assert_allclose(np.diag(edge.detach().numpy()), 1 / np.sqrt(2), rtol=1e-4)


def test_sincgram_follows_module_dtype_and_is_differentiable_everywhere():
    bank = SincGram(n_filters=8, f_max=6000.0).double()
    out = bank.response(torch.tensor([0.0, 100.0, 1e6], dtype=torch.float64))
    assert out.dtype == torch.float64
    bank = SincGram(n_filters=8, f_max=6000.0)
    with torch.no_grad():
        bank.log_bandwidths[0] = -30.0  # a vanishingly narrow filter
    freqs = torch.linspace(0, 24000, 1025)
    spec = torch.rand(2, 1, 1025, 7)
    bank(spec, freqs).sum().backward()
    assert torch.isfinite(bank.centers.grad).all() and torch.isfinite(bank.log_bandwidths.grad).all()
    assert bank.centers.grad.abs().sum() > 0 and bank.log_bandwidths.grad.abs().sum() > 0


def test_sincgram_band_power_is_the_same_at_every_rate():
    """One bank on the bins of 12, 16, 44.1 and 48 kHz: a 1 kHz sine gives the same band powers."""
    bank = SincGram(n_filters=24, f_max=6000.0)
    spec = PowerSpectrogram()
    outs = {}
    for rate in (12000, 16000, 44100, 48000):
        p = spec(_sine(1000.0, rate), rate)
        outs[rate] = bank(p, spec.bin_frequencies(rate))[0, 0, :, 10:-10].mean(-1)
    peak = int(outs[12000].argmax())
    assert abs(bank.centers_hz[peak].item() - 1000.0) < bank.bandwidths_hz[peak].item()
    for rate in (16000, 44100, 48000):
        np.testing.assert_allclose(outs[rate][peak].item(), outs[12000][peak].item(), rtol=0.05)


def test_filters_above_a_lower_rates_nyquist_are_masked():
    front = DEGram(n_filters=32, f_max=8000.0)  # filters up to 8 kHz
    valid = front.band_mask(8000)  # Nyquist 4 kHz
    c = front.filterbank.centers_hz.detach()
    b = front.filterbank.bandwidths_hz.detach()
    assert torch.equal(valid, (c - b) < 4000.0)
    assert 0 < int(valid.sum()) < 32
    out = front(torch.randn(2, 8000), 8000)
    assert torch.all(out[:, :, ~valid] == 0)
    assert torch.all(out[:, :, valid].std(-1) > 0.5)
    assert front.band_mask(16000).all()


# ---------------------------------------------------------------- attention
@pytest.mark.parametrize("n_bands", [24, 64, 100])
def test_tfde_is_sized_to_the_number_of_bands(n_bands):
    layer = TFDELayer(n_bands)
    assert layer.frequency.network[0].in_features == n_bands
    assert layer.frequency.network[0].out_features == max(1, round(n_bands / 16))
    assert layer.time.conv.in_channels == n_bands
    assert layer(torch.randn(2, 1, n_bands, 30)).shape == (2, 1, n_bands, 30)
    with pytest.raises(ValueError, match=f"expects \\(batch, 1, {n_bands}, time\\)"):
        layer(torch.randn(2, 1, n_bands + 1, 30))


def test_tfde_strategies_combine_the_two_branches():
    torch.manual_seed(0)
    x = torch.randn(3, 1, 20, 40)
    layers = {s: TFDELayer(20, strategy=s) for s in ("maxout", "add", "multiply", "concat")}
    ref = layers["maxout"]
    for layer in layers.values():
        layer.load_state_dict(ref.state_dict())
    g_f = ref.frequency.gate(x)
    g_t = ref.time.gate(x)
    assert g_f.shape == (3, 1, 20, 1) and g_t.shape == (3, 1, 1, 40)
    f_map, t_map = x * g_f, x * g_t
    torch.testing.assert_close(layers["maxout"](x), torch.maximum(f_map, t_map))
    torch.testing.assert_close(layers["add"](x), f_map + t_map)
    torch.testing.assert_close(layers["multiply"](x), f_map * t_map)
    torch.testing.assert_close(layers["concat"](x), torch.cat([f_map, t_map], dim=1))
    assert layers["concat"].out_channels == 2
    with pytest.raises(ValueError, match="strategy must be one of"):
        TFDELayer(20, strategy="mean")


def test_time_branch_gates_frames_not_frequencies():
    layer = TFDELayer(8)
    x = torch.randn(1, 1, 8, 50)
    g = layer.time.gate(x)
    assert g.shape == (1, 1, 1, 50) and g.std() > 0  # varies along time


# ---------------------------------------------------------------- normalisation
def test_frequency_normalisation_standardises_each_row_over_time():
    x = torch.randn(2, 1, 6, 80) * torch.arange(1, 7).reshape(1, 1, 6, 1) + 10
    y = FrequencyNormalization()(x)
    torch.testing.assert_close(y.mean(-1), torch.zeros(2, 1, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(-1, correction=0), torch.ones(2, 1, 6), atol=1e-4, rtol=0)
    const = FrequencyNormalization()(torch.full((1, 1, 3, 5), 7.0))
    assert torch.equal(const, torch.zeros(1, 1, 3, 5))
    one_frame = FrequencyNormalization()(torch.randn(1, 1, 3, 1))
    assert torch.equal(one_frame, torch.zeros(1, 1, 3, 1))


# ---------------------------------------------------------------- front end
def test_frontend_is_gain_invariant_and_rate_agnostic():
    torch.manual_seed(0)
    front = DEGram(n_filters=32, f_max=6000.0).eval()
    x = torch.randn(2, 12000)
    torch.testing.assert_close(front(x, 12000), front(1000.0 * x, 12000), atol=2e-3, rtol=0)
    assert front(torch.randn(2, 48000), 48000).shape == (2, 1, 32, 101)
    assert front(torch.randn(2, 44100), 44100).shape == (2, 1, 32, 101)


@pytest.mark.parametrize("normalization", ["frequency", "global", None])
def test_frontend_normalisation_modes(normalization):
    front = DEGram(n_filters=16, f_max=6000.0, attention=False, normalization=normalization)
    y = front(torch.randn(3, 12000) * 5, 12000)
    if normalization == "frequency":
        assert y.mean(-1).abs().max() < 1e-4
    elif normalization == "global":
        assert y.mean(dim=(1, 2, 3)).abs().max() < 1e-4
        assert y.mean(-1).abs().max() > 0.1  # the spectral envelope is kept
    with pytest.raises(ValueError, match="normalization must be"):
        DEGram(normalization="time")


def test_plain_stft_frontend_uses_reference_bins_at_any_rate():
    spec = PowerSpectrogram()
    front = DEGram(sincgram=False, attention=False, reference_rate=12000, normalization="global")
    x = torch.randn(1, 12000)
    ref = torch.log(spec(x, 12000))
    mean, std = ref.mean(), ref.std(correction=0)
    torch.testing.assert_close(front(x, 12000), (ref - mean) / (std + 1e-7), atol=1e-4, rtol=1e-4)
    assert front.n_bands == 257
    # at 48 kHz the 23.4 Hz bin grid is the same: interpolation picks the matching bins
    interp = BinInterpolation(spec.bin_frequencies(12000))
    p48 = spec(torch.randn(1, 48000), 48000)
    torch.testing.assert_close(interp(p48, spec.bin_frequencies(48000)), p48[:, :, :257])
    # at 8 kHz the bins above 4 kHz carry nothing
    out = front(torch.randn(1, 8000), 8000)
    assert torch.all(out[:, :, spec.bin_frequencies(12000) > 4000] == 0)
    with pytest.raises(ValueError, match="sincgram=False needs reference_rate"):
        DEGram(sincgram=False)


# ---------------------------------------------------------------- backbones and model
def test_resnet18_matches_the_reference_architecture():
    net = ResNet18(in_channels=1, n_classes=10)
    # torchvision's resnet18 has 11,689,512 parameters with a 3-channel stem and
    # 1000 classes; a 1-channel stem removes 6,272 and a 10-class head 507,870.
    assert sum(p.numel() for p in net.parameters()) == 11_689_512 - 6_272 - 507_870
    assert net(torch.randn(2, 1, 64, 101)).shape == (2, 10)
    assert net.forward_features(torch.randn(2, 1, 64, 101)).shape == (2, 512)


def test_small_cnn_handles_tiny_maps_and_two_channels():
    net = SmallCNN(in_channels=2, n_classes=3)
    assert net(torch.randn(2, 2, 3, 5)).shape == (2, 3)
    assert net.forward_features(torch.randn(2, 2, 64, 101)).shape == (2, 128)
    with pytest.raises(ValueError, match="backbone must be one of"):
        make_backbone("vgg")


def test_degramnet_wraps_any_backbone():
    class Flat(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    net = DEGramNet(DEGram(n_filters=8, f_max=4000.0, strategy="concat"), Flat())
    assert net(torch.randn(2, 8000), 8000).shape == (2, 2)
    with pytest.raises(AttributeError, match="no forward_features"):
        net.embed(torch.randn(2, 8000), 8000)


# ---------------------------------------------------------------- documentation
def test_api_reference_documents_every_public_name():
    page = (ROOT / "docs" / "api" / "degram.md").read_text()
    documented = re.findall(r"^::: sklearn_echo\.degram\.(\w+)$", page, re.M)
    assert len(documented) == len(set(documented))
    assert set(documented) == set(degram.__all__)


@pytest.mark.parametrize(
    "name",
    [n for n in degram.__all__ if inspect.isclass(getattr(degram, n)) or inspect.isfunction(getattr(degram, n))],
)
def test_public_classes_and_functions_have_numpydoc_docstrings(name):
    obj = getattr(degram, name)
    doc = inspect.getdoc(obj)
    assert "Examples\n--------\n>>> " in doc, name
    params = [p for p in inspect.signature(obj).parameters if p != "self"]
    if params:
        assert "Parameters\n----------\n" in doc, name
        section = doc.split("Parameters\n----------\n", 1)[1]
        for param in params:
            assert re.search(rf"^{param}\b|^\w+, {param}\b|, {param} :", section, re.M), (name, param)
    if inspect.isfunction(obj):
        assert "Returns\n-------\n" in doc, name
