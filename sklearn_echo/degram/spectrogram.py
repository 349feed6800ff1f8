"""Power STFT with a fixed duration window and hop at every sampling rate.

DEGram consumes a linear-frequency power spectrogram. Its window (32 ms) and
hop (10 ms) are fixed in *seconds*, so the number of samples they span scales
with the sampling rate, and ``n_fft`` is the next power of two at or above the
window length. The bin frequencies in Hz (``k * sample_rate / n_fft``) are what
the `sklearn_echo.degram.SincGram` filters are evaluated on, which is
why one learned filterbank can be applied to recordings at any rate.

The spectrogram is scaled as a one-sided power spectral density
(``2 |X|^2 / (sample_rate * sum(window^2))``, DC and Nyquist bins not doubled),
so summing it over bins times the bin width gives the power in a band in the
signal's own units squared, independently of the rate: a sine of amplitude
``A`` has total power ``A^2 / 2``, white noise of variance ``s^2`` has ``s^2``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["STFT_WINDOW_SECONDS", "STFT_HOP_SECONDS", "stft_config", "PowerSpectrogram"]

STFT_WINDOW_SECONDS = 0.032
"""Hann window length of the DEGram STFT in seconds, at every sampling rate."""
STFT_HOP_SECONDS = 0.010
"""Hop of the DEGram STFT in seconds, at every sampling rate."""


def stft_config(sample_rate, win_duration=STFT_WINDOW_SECONDS, hop_duration=STFT_HOP_SECONDS):
    """Return ``(win_length, hop_length, n_fft)`` in samples for a sampling rate.

    ``win_length = round(win_duration * sample_rate)`` (at least 2),
    ``hop_length = round(hop_duration * sample_rate)`` (at least 1) and
    ``n_fft`` is the smallest power of two ``>= win_length``.

    Parameters
    ----------
    sample_rate : float
        Sampling rate in Hz, > 0.
    win_duration, hop_duration : float
        Window and hop in seconds.

    Returns
    -------
    win_length, hop_length, n_fft : int

    Examples
    --------
    >>> from sklearn_echo.degram import stft_config
    >>> stft_config(12000)
    (384, 120, 512)
    >>> stft_config(48000)
    (1536, 480, 2048)
    """
    sample_rate = float(sample_rate)
    if not (math.isfinite(sample_rate) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive finite number, got {sample_rate!r}")
    win_length = max(2, int(round(win_duration * sample_rate)))
    hop_length = max(1, int(round(hop_duration * sample_rate)))
    n_fft = 1 << (win_length - 1).bit_length()
    return win_length, hop_length, n_fft


class PowerSpectrogram(nn.Module):
    """Power spectral density STFT of a batch of waveforms, ``torch.stft`` only.

    Parameters
    ----------
    win_duration : float, default=0.032
        Hann window length in seconds.
    hop_duration : float, default=0.010
        Hop in seconds.

    Attributes
    ----------
    win_duration, hop_duration : float
        The window and hop in seconds.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import PowerSpectrogram
    >>> spec = PowerSpectrogram()
    >>> spec(torch.randn(2, 12000), 12000).shape  # (batch, 1, n_fft // 2 + 1, frames)
    torch.Size([2, 1, 257, 101])
    >>> spec.bin_frequencies(12000)[:3]
    tensor([ 0.0000, 23.4375, 46.8750])
    """

    def __init__(self, win_duration=STFT_WINDOW_SECONDS, hop_duration=STFT_HOP_SECONDS):
        super().__init__()
        self.win_duration = float(win_duration)
        self.hop_duration = float(hop_duration)

    def config(self, sample_rate):
        """``(win_length, hop_length, n_fft)`` for ``sample_rate`` (see `stft_config`)."""
        return stft_config(sample_rate, self.win_duration, self.hop_duration)

    def min_samples(self, sample_rate):
        """Fewest samples a waveform at ``sample_rate`` needs (more than ``n_fft // 2``)."""
        win_length, _, n_fft = self.config(sample_rate)
        return max(win_length, n_fft // 2 + 1)

    def bin_frequencies(self, sample_rate, device=None, dtype=torch.float32):
        """Centre frequency in Hz of every STFT bin at ``sample_rate``.

        Parameters
        ----------
        sample_rate : float
            Sampling rate in Hz.
        device : torch.device or str or None, default=None
            Device of the result.
        dtype : torch.dtype, default=torch.float32
            Dtype of the result (computed in float64).

        Returns
        -------
        Tensor of shape (n_fft // 2 + 1,)
            ``k * sample_rate / n_fft``.
        """
        _, _, n_fft = self.config(sample_rate)
        k = torch.arange(n_fft // 2 + 1, device=device, dtype=torch.float64)
        return (k * (float(sample_rate) / n_fft)).to(dtype)

    def forward(self, waveform, sample_rate):
        """Power spectrogram of ``waveform`` ``(batch, n_samples)`` at ``sample_rate`` Hz.

        Parameters
        ----------
        waveform : Tensor of shape (batch, n_samples)
            Signals, at least `min_samples` long.
        sample_rate : float
            Their sampling rate in Hz.

        Returns
        -------
        Tensor of shape (batch, 1, n_fft // 2 + 1, n_frames)
            One-sided power spectral density on the waveform's device and in
            its dtype (frames centred, reflect padding).
        """
        if waveform.ndim != 2:
            raise ValueError(
                f"waveform must be 2-D (batch, n_samples), got shape {tuple(waveform.shape)}"
            )
        win_length, hop_length, n_fft = self.config(sample_rate)
        n_samples = waveform.shape[-1]
        if n_samples < self.min_samples(sample_rate):
            raise ValueError(
                f"waveforms of {n_samples} samples are too short for the "
                f"{self.win_duration * 1e3:g} ms STFT window at {float(sample_rate):g} Hz "
                f"(need at least {self.min_samples(sample_rate)} samples)"
            )
        window = torch.hann_window(
            win_length, periodic=True, device=waveform.device, dtype=waveform.dtype
        )
        stft = torch.stft(
            waveform,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = stft.real.square() + stft.imag.square()
        scale = 1.0 / (float(sample_rate) * float(np.sum(np.hanning(win_length + 1)[:-1] ** 2)))
        # one-sided density: every bin but DC and Nyquist stands for two
        one_sided = torch.full((n_fft // 2 + 1, 1), 2.0 * scale, dtype=power.dtype, device=power.device)
        one_sided[0] = scale
        one_sided[-1] = scale
        return (power * one_sided).unsqueeze(1)
