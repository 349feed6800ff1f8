"""The DEGram front end and the model that wraps a backbone around it.

``waveform -> power STFT -> SincGram (or the plain STFT) -> scale to unit mean
-> TF-DE attention -> log -> normalisation -> backbone``

This is the published order (SincGram, TF-DE, normalisation) with these
changes, each for a reason:

* The STFT is part of the model and is computed at the input's own sampling
  rate (32 ms window, 10 ms hop, ``n_fft`` the next power of two); the SincGram
  is evaluated on that rate's bin frequencies in Hz, so no resampling is needed.
* Each example's band-power map is divided by its mean (over valid rows and
  frames) before the attention: the map stays non-negative, as the published
  attention expects, and the gates no longer depend on the recording's gain
  or units (g, m/s^2, PCM counts).
* ``log`` (default True) takes ``log(power + log_eps)`` after the attention and
  before the normalisation: machine-vibration band powers span many decades
  and the standardisation of a linear power map is dominated by a few peaks.
  In the log domain the attention gates become additive offsets.
  ``log=False`` keeps the release's linear map.
* ``normalization`` is per frequency row over time (the published default),
  or over the whole map (the release's ``freq_norm=False``), or none.
* Rows without information at the input's rate (SincGram filters above its
  Nyquist, or reference bins above it when ``sincgram=False``) are set to zero
  before the attention and in the output.

With ``sincgram=False`` the rows are the STFT bins of a fixed *reference
rate* (the training rate): at that rate the map is exactly the power STFT; at
another rate the power spectral density is linearly interpolated onto the
reference bin frequencies. Both switches off gives a plain log-STFT front end
(a baseline; the release forbids it and so does
`sklearn_echo.degram.DEGramClassifier`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .attention import TFDELayer
from .sincgram import SincGram
from .spectrogram import STFT_HOP_SECONDS, STFT_WINDOW_SECONDS, PowerSpectrogram

__all__ = ["FrequencyNormalization", "BinInterpolation", "DEGram", "DEGramNet"]


class FrequencyNormalization(nn.Module):
    """Per example and per frequency row: ``(x - mean_t) / (std_t + eps)``.

    The standard deviation is the population one (``correction=0``), so a
    single frame gives 0 rather than NaN. Rows outside ``mask`` are set to 0.

    Parameters
    ----------
    eps : float, default=1e-7
        Added to the standard deviation.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import FrequencyNormalization
    >>> y = FrequencyNormalization()(torch.randn(2, 1, 8, 100) * 5 + 3)
    >>> bool(y.mean(-1).abs().max() < 1e-5), bool((y.std(-1, correction=0) - 1).abs().max() < 1e-4)
    (True, True)
    """

    def __init__(self, eps=1e-7):
        super().__init__()
        self.eps = float(eps)

    def forward(self, x, mask=None):
        """Standardise every row of ``x`` over time.

        Parameters
        ----------
        x : Tensor of shape (batch, ch, n_bands, time)
            Input map.
        mask : bool Tensor of shape (n_bands,) or None, default=None
            Rows to keep; the others are set to 0.

        Returns
        -------
        Tensor of the shape of ``x``
        """
        mean = x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, keepdim=True, correction=0)
        y = (x - mean) / (std + self.eps)
        if mask is not None:
            y = y * mask.to(y.dtype).reshape(1, 1, -1, 1)
        return y


def _valid_mean(masked, m):
    """Mean of each example over its valid rows and all channels and frames.

    ``masked`` is a map already multiplied by the 0/1 row mask ``m``
    (shaped ``(1, 1, n_bands, 1)``): its invalid rows are 0 and are not counted.
    """
    count = m.sum() * masked.shape[1] * masked.shape[-1]
    return masked.sum(dim=(1, 2, 3), keepdim=True) / count


def _global_standardise(x, mask, eps):
    """Standardise each example over its valid rows and all frames; zero invalid rows."""
    m = mask.to(x.dtype).reshape(1, 1, -1, 1)
    mean = _valid_mean(x * m, m)
    var = _valid_mean(((x - mean) * m) ** 2, m)
    return (x - mean) / (var.sqrt() + eps) * m


class BinInterpolation(nn.Module):
    """Map a power spectrogram at any rate onto fixed reference bin frequencies.

    Linear interpolation of the spectral density along frequency; reference
    frequencies above the input's highest bin get zero (and are reported as
    invalid by `valid_bins`). When the input bins are the reference
    bins, the spectrogram passes through unchanged.

    Parameters
    ----------
    reference_freqs_hz : array-like of shape (n_bands,)
        Increasing output bin frequencies in Hz (for example
        ``PowerSpectrogram().bin_frequencies(reference_rate)``).

    Attributes
    ----------
    reference_freqs_hz : Tensor of shape (n_bands,), float32
        The output bin frequencies (a buffer, not saved in the state dict).

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import BinInterpolation, PowerSpectrogram
    >>> spec = PowerSpectrogram()
    >>> interp = BinInterpolation(spec.bin_frequencies(12000))
    >>> x = spec(torch.randn(1, 48000), 48000)
    >>> interp(x, spec.bin_frequencies(48000)).shape
    torch.Size([1, 1, 257, 101])
    """

    def __init__(self, reference_freqs_hz):
        super().__init__()
        ref = torch.as_tensor(reference_freqs_hz, dtype=torch.float32).reshape(-1)
        self.register_buffer("reference_freqs_hz", ref, persistent=False)
        self._cache = {}

    @property
    def n_bands(self):
        """Number of output rows (reference bins)."""
        return int(self.reference_freqs_hz.numel())

    def valid_bins(self, sample_rate):
        """Boolean tensor ``(n_bands,)``: reference bins at or below ``sample_rate / 2``."""
        return self.reference_freqs_hz <= float(sample_rate) / 2.0 + 1e-6

    def _matrix(self, freqs_hz, device, dtype):
        f_in = np.asarray(torch.as_tensor(freqs_hz).cpu(), dtype=np.float64)
        key = (len(f_in), float(f_in[-1]), str(device), dtype)
        if key not in self._cache:
            ref = self.reference_freqs_hz.cpu().numpy().astype(np.float64)
            matrix = np.zeros((len(f_in), len(ref)))
            for j, r in enumerate(ref):
                if r > f_in[-1] + 1e-6:
                    continue
                i = int(np.clip(np.searchsorted(f_in, r, side="right") - 1, 0, len(f_in) - 1))
                if i == len(f_in) - 1:
                    matrix[i, j] = 1.0
                    continue
                w = (r - f_in[i]) / (f_in[i + 1] - f_in[i])
                matrix[i, j] = 1.0 - w
                matrix[i + 1, j] = w
            self._cache[key] = torch.tensor(matrix, dtype=dtype, device=device)
        return self._cache[key]

    def forward(self, spec, freqs_hz):
        """Interpolate ``spec`` onto the reference bins.

        Parameters
        ----------
        spec : Tensor of shape (batch, ch, n_bins, time)
            Power spectrogram.
        freqs_hz : array-like of shape (n_bins,)
            Increasing bin frequencies of ``spec`` in Hz.

        Returns
        -------
        Tensor of shape (batch, ch, n_bands, time)
        """
        ref = self.reference_freqs_hz
        freqs = torch.as_tensor(freqs_hz)
        if len(freqs) == len(ref) and torch.allclose(
            freqs.to(ref.device, torch.float32), ref, rtol=0, atol=1e-3
        ):
            return spec
        matrix = self._matrix(freqs, spec.device, spec.dtype)
        return torch.matmul(spec.transpose(-1, -2), matrix).transpose(-1, -2)


class DEGram(nn.Module):
    """DEGram front end: waveform at any rate -> normalised ``(batch, ch, n_bands, time)`` map.

    Parameters
    ----------
    sincgram : bool, default=True
        Learnable SincGram filterbank (else the STFT bins of ``reference_rate``).
    attention : bool, default=True
        TF-DE attention block.
    n_filters : int, default=64
        SincGram filters (ignored when ``sincgram=False``).
    order : int, default=4
        Butterworth order of the filters.
    f_min, f_max : float, default=0.0 and 8000.0
        Mel initialisation range of the filters in Hz.
    train_filterbank : bool, default=True
        False freezes the filters at their mel initialisation.
    reference_rate : float or None, default=None
        Rate whose STFT bins are the rows when ``sincgram=False`` (required then).
    reduction_ratio : float, default=1/16
        TF-DE frequency-branch bottleneck ratio.
    strategy : {"maxout", "add", "multiply", "concat"}, default="maxout"
        TF-DE combination.
    log : bool, default=True
        Log-compress band powers.
    normalization : {"frequency", "global"} or None, default="frequency"
        Final standardisation of the map: per example and per frequency row
        over time (the published one; ``True`` means this too), per example
        over all rows and frames together (the release's ``freq_norm=False``,
        which keeps the spectral envelope), or none.
    eps : float, default=1e-7
        Added to standard deviations.
    log_eps : float, default=1e-10
        Added to band powers before the log.
    win_duration : float, default=0.032
        STFT window in seconds (`STFT_WINDOW_SECONDS`).
    hop_duration : float, default=0.010
        STFT hop in seconds (`STFT_HOP_SECONDS`).

    Attributes
    ----------
    spectrogram : PowerSpectrogram
        The power STFT.
    filterbank : SincGram or BinInterpolation
        The learnable filters, or the interpolation onto the reference bins
        when ``sincgram=False``.
    n_bands : int
        Rows of the output map.
    attention : TFDELayer or None
        The TF-DE block (None when ``attention=False``).
    reference_rate : float or None
        The ``reference_rate`` given.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import DEGram
    >>> front = DEGram(n_filters=32, f_max=6000.0)
    >>> front(torch.randn(2, 12000), 12000).shape
    torch.Size([2, 1, 32, 101])
    >>> front(torch.randn(2, 48000), 48000).shape  # same learned filters, 48 kHz bins
    torch.Size([2, 1, 32, 101])
    """

    def __init__(
        self,
        sincgram=True,
        attention=True,
        n_filters=64,
        order=4,
        f_min=0.0,
        f_max=8000.0,
        train_filterbank=True,
        reference_rate=None,
        reduction_ratio=1 / 16,
        strategy="maxout",
        log=True,
        normalization="frequency",
        eps=1e-7,
        log_eps=1e-10,
        win_duration=STFT_WINDOW_SECONDS,
        hop_duration=STFT_HOP_SECONDS,
    ):
        super().__init__()
        self.spectrogram = PowerSpectrogram(win_duration, hop_duration)
        if sincgram:
            self.filterbank = SincGram(n_filters, order, f_min, f_max, trainable=train_filterbank)
            self.n_bands = self.filterbank.n_filters
        else:
            if reference_rate is None:
                raise ValueError("sincgram=False needs reference_rate (the rate whose bins are used)")
            self.filterbank = BinInterpolation(self.spectrogram.bin_frequencies(reference_rate))
            self.n_bands = self.filterbank.n_bands
        self.reference_rate = None if reference_rate is None else float(reference_rate)
        self.attention = (
            TFDELayer(self.n_bands, reduction_ratio, strategy) if attention else None
        )
        if normalization is True:
            normalization = "frequency"
        if normalization not in ("frequency", "global", None, False):
            raise ValueError(
                "normalization must be 'frequency', 'global' or None, got "
                f"{normalization!r}"
            )
        self.normalization = FrequencyNormalization(eps) if normalization == "frequency" else None
        self.global_normalization = normalization == "global"
        self.log = bool(log)
        self.eps = float(eps)
        self.log_eps = float(log_eps)

    @property
    def uses_sincgram(self):
        """True when the rows are SincGram filters (``sincgram=True``)."""
        return isinstance(self.filterbank, SincGram)

    @property
    def out_channels(self):
        """Channels of the output map (2 with ``strategy="concat"``, else 1)."""
        return 1 if self.attention is None else self.attention.out_channels

    def band_mask(self, sample_rate):
        """Boolean ``(n_bands,)``: rows that carry information at ``sample_rate``."""
        if self.uses_sincgram:
            return self.filterbank.valid_filters(sample_rate)
        return self.filterbank.valid_bins(sample_rate)

    def min_samples(self, sample_rate):
        """Shortest waveform (in samples) accepted at ``sample_rate``."""
        return self.spectrogram.min_samples(sample_rate)

    def forward(self, waveform, sample_rate):
        """Normalised time-frequency map of a batch of waveforms.

        Parameters
        ----------
        waveform : Tensor of shape (batch, n_samples)
            Signals at ``sample_rate``, at least `min_samples` long.
        sample_rate : float
            Their sampling rate in Hz.

        Returns
        -------
        Tensor of shape (batch, out_channels, n_bands, n_frames)
            Rows without information at ``sample_rate`` (see `band_mask`) are 0.
        """
        spec = self.spectrogram(waveform, sample_rate)
        freqs = self.spectrogram.bin_frequencies(sample_rate, device=spec.device, dtype=spec.dtype)
        x = self.filterbank(spec, freqs)
        mask = self.band_mask(sample_rate).to(x.device)
        m = mask.to(x.dtype).reshape(1, 1, -1, 1)
        # gain invariance: divide each example by its mean band power (valid rows)
        x = x / (_valid_mean(x * m, m) + torch.finfo(x.dtype).tiny) * m
        if self.attention is not None:
            x = self.attention(x)
        if self.log:
            x = torch.log(x + self.log_eps)
        if self.normalization is not None:
            x = self.normalization(x, mask)
        elif self.global_normalization:
            x = _global_standardise(x, mask, self.eps)
        else:
            x = x * m
        return x


class DEGramNet(nn.Module):
    """A DEGram front end followed by any backbone taking ``(batch, ch, freq, time)``.

    Parameters
    ----------
    frontend : DEGram
        The front end turning waveforms into maps.
    backbone : torch.nn.Module
        Maps ``(batch, frontend.out_channels, n_bands, time)`` to logits. If it
        has a ``forward_features`` method, `embed` returns its output.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import DEGram, DEGramNet, SmallCNN
    >>> net = DEGramNet(DEGram(n_filters=32, f_max=6000.0), SmallCNN(n_classes=3))
    >>> net(torch.randn(4, 12000), 12000).shape
    torch.Size([4, 3])
    >>> net.embed(torch.randn(4, 12000), 12000).shape
    torch.Size([4, 128])
    """

    def __init__(self, frontend, backbone):
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone

    def forward(self, waveform, sample_rate):
        """Logits of a batch of waveforms ``(batch, n_samples)`` at ``sample_rate`` Hz.

        Parameters
        ----------
        waveform : Tensor of shape (batch, n_samples)
            Signals at ``sample_rate``.
        sample_rate : float
            Their sampling rate in Hz.

        Returns
        -------
        Tensor of shape (batch, n_classes)
        """
        return self.backbone(self.frontend(waveform, sample_rate))

    def embed(self, waveform, sample_rate):
        """Penultimate features of the backbone for a batch of waveforms.

        Parameters
        ----------
        waveform, sample_rate
            As in `forward`.

        Returns
        -------
        Tensor of shape (batch, embedding_dim)
            The backbone's ``forward_features`` of the front end's map.
        """
        if not hasattr(self.backbone, "forward_features"):
            raise AttributeError(
                f"{type(self.backbone).__name__} has no forward_features method to embed with"
            )
        return self.backbone.forward_features(self.frontend(waveform, sample_rate))
