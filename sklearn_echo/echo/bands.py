"""Time and frequency framing of ECHO at any sampling rate (no torch needed).

A 25 ms Hann window and a 10 ms hop give ``stft_params``; ``n_frames`` counts
the frames of a signal; ``band_plan`` cuts a rate's frequency bins into
32-bin bands (the last one zero-padded on its low side) with each band's
centre frequency. The spectrogram itself is computed in
`sklearn_echo.echo.spectrogram`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["WINDOW_SECONDS", "HOP_SECONDS", "BandPlan", "stft_params", "n_frames", "band_plan"]

WINDOW_SECONDS = 0.025
HOP_SECONDS = 0.010


def stft_params(sample_rate: float) -> tuple[int, int]:
    """Return ``(n_fft, hop)`` in samples for a sampling rate.

    ``n_fft = win = floor(0.025 * sr)`` and ``hop = floor(0.010 * sr)``, so the
    frame rate is 100 Hz and the bin spacing about 40 Hz at every rate.

    Examples
    --------
    >>> from sklearn_echo.echo.bands import stft_params
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
    >>> from sklearn_echo.echo.bands import band_plan
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
