"""ECHO's input representation: the log-magnitude spectrogram and its frequency bands.

Everything here follows the published checkpoint's preprocessing exactly
(25 ms Hann window, 10 ms hop, no centring, log magnitude with fixed
normalisation constants, 32-bin bands with the last band zero-padded on its
low-frequency side, sinusoidal encoding of each band's relative centre
frequency). The functions work at any sampling rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "WINDOW_SECONDS",
    "HOP_SECONDS",
    "LOG_OFFSET",
    "LOG_SCALE",
    "BandPlan",
    "stft_params",
    "n_frames",
    "band_plan",
    "frequency_encoding",
    "echo_spectrogram",
]

WINDOW_SECONDS = 0.025
HOP_SECONDS = 0.010
LOG_EPS = 1e-9
LOG_OFFSET = 5.874158
LOG_SCALE = 2 * 5.223174


def stft_params(sample_rate: float) -> tuple[int, int]:
    """Return ``(n_fft, hop)`` in samples for a sampling rate.

    ``n_fft = win = floor(0.025 * sr)`` and ``hop = floor(0.010 * sr)``, so the
    frame rate is 100 Hz and the bin spacing about 40 Hz at every rate.

    Examples
    --------
    >>> from sklearn_echo.echo.spectrogram import stft_params
    >>> stft_params(16000)
    (400, 160)
    >>> stft_params(44100)
    (1102, 441)
    """
    return int(math.floor(WINDOW_SECONDS * sample_rate)), int(
        math.floor(HOP_SECONDS * sample_rate)
    )


def n_frames(n_samples: int, sample_rate: float) -> int:
    """Number of STFT frames ``1 + (N - n_fft) // hop`` (0 when shorter than a window)."""
    n_fft, hop = stft_params(sample_rate)
    if n_samples < n_fft or n_fft < 2 or hop < 1:
        return 0
    return 1 + (n_samples - n_fft) // hop


@dataclass(frozen=True)
class BandPlan:
    """How the ``F`` frequency bins of one sampling rate split into bands.

    Attributes
    ----------
    sample_rate : float
    n_fft : int
    n_bins : int
        ``F = n_fft // 2 + 1``.
    n_bands : int
        ``B = max(1, ceil(F / band_width))``.
    band_width : int
    positions : numpy.ndarray of shape (n_bands,)
        Relative centre frequency ``p = center_hz / (sr / 2)`` of every band.
    center_hz : numpy.ndarray of shape (n_bands,)
        Centre frequency of every band in Hz.
    low_pad : int
        Zero rows inserted on the low side of the last band.
    """

    sample_rate: float
    n_fft: int
    n_bins: int
    n_bands: int
    band_width: int
    positions: np.ndarray
    center_hz: np.ndarray
    low_pad: int


def band_plan(sample_rate: float, band_width: int = 32) -> BandPlan:
    """Split the spectrogram bins of ``sample_rate`` into ECHO bands.

    Examples
    --------
    >>> from sklearn_echo.echo.spectrogram import band_plan
    >>> [band_plan(sr).n_bands for sr in (12000, 16000, 44100, 48000)]
    [5, 7, 18, 19]
    """
    n_fft, _ = stft_params(sample_rate)
    n_bins = n_fft // 2 + 1
    n_bands = max(1, math.ceil(n_bins / band_width))
    starts = np.arange(n_bands) * band_width
    ends = np.minimum(starts + band_width, n_bins)
    center_bin = (starts + ends - 1) / 2.0
    center_hz = center_bin * sample_rate / n_fft
    positions = center_hz / (sample_rate / 2.0)
    low_pad = band_width * n_bands - n_bins
    return BandPlan(
        sample_rate=float(sample_rate),
        n_fft=n_fft,
        n_bins=n_bins,
        n_bands=n_bands,
        band_width=band_width,
        positions=positions,
        center_hz=center_hz,
        low_pad=low_pad,
    )


def frequency_encoding(positions, dim: int, scale: float = 25.0) -> torch.Tensor:
    """Sinusoidal encoding of relative band positions, shape ``(len(positions), dim)``.

    ``PE[2i] = sin(scale * p * w_i)``, ``PE[2i+1] = cos(scale * p * w_i)`` with
    ``w_i = exp(-ln(10000) * 2i / dim)``.
    """
    p = torch.as_tensor(np.asarray(positions, dtype=np.float32)).reshape(-1, 1)
    two_i = torch.arange(0, dim, 2, dtype=torch.float32)
    w = torch.exp(two_i * (-math.log(10000.0) / dim))
    pe = torch.zeros(p.shape[0], dim, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(scale * p * w)
    pe[:, 1::2] = torch.cos(scale * p * w)[:, : dim // 2]
    return pe


_WINDOWS: dict[tuple[int, str], torch.Tensor] = {}


def _hann(n_fft: int, device) -> torch.Tensor:
    key = (n_fft, str(device))
    win = _WINDOWS.get(key)
    if win is None:
        win = torch.hann_window(n_fft, periodic=True, dtype=torch.float32, device=device)
        _WINDOWS[key] = win
    return win


def echo_spectrogram(
    signal, sample_rate: float, *, mean: float | None = None, device="cpu"
) -> torch.Tensor:
    """Normalised log-magnitude spectrogram ``(F, T)`` of a mono signal.

    Parameters
    ----------
    signal : array-like or torch.Tensor of shape (n_samples,)
        One channel. It may be a slice of a longer recording, in which case
        pass that recording's ``mean`` so DC removal matches the whole signal.
    sample_rate : float
        Sampling rate in Hz.
    mean : float, optional
        Value subtracted before the STFT (DC removal). Defaults to the mean of
        ``signal`` computed as the reference does (float32 ``torch.mean``):
        with a large DC offset the near-DC log bins are sensitive to it.
    device : str or torch.device, default="cpu"

    Returns
    -------
    torch.Tensor of shape (n_fft // 2 + 1, n_frames), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.echo.spectrogram import echo_spectrogram
    >>> echo_spectrogram(np.random.randn(16000).astype("float32"), 16000).shape
    torch.Size([201, 98])
    """
    x = torch.as_tensor(signal, dtype=torch.float32, device=device)
    if mean is None:
        mean = float(x.mean()) if x.numel() else 0.0
    x = x - torch.tensor(mean, dtype=torch.float32, device=device)
    n_fft, hop = stft_params(sample_rate)
    spec = torch.stft(
        x,
        n_fft=n_fft,
        hop_length=hop,
        win_length=n_fft,
        window=_hann(n_fft, x.device),
        center=False,
        onesided=True,
        return_complex=True,
    ).abs()
    return (torch.log(spec + LOG_EPS) + LOG_OFFSET) / LOG_SCALE
