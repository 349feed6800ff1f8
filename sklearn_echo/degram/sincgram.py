"""SincGram: a learnable Butterworth-shaped filterbank defined in Hz.

Each filter ``k`` has a centre ``c_k`` and a half-width ``b_k`` in Hz and the
magnitude response

    W_k(f) = 1 / sqrt(1 + ((f - c_k) / b_k) ** (2 * order))

(``W = 1/sqrt(2)``, i.e. -3 dB, at ``c_k +- b_k``). The filter matrix is
rebuilt at every forward pass from the module's own parameters, on the
device and in the dtype of the input, and evaluated on whatever bin
frequencies the input spectrogram has: the same learned bank therefore applies
to recordings at any sampling rate.

Filters above the Nyquist frequency of a lower rate. At a rate whose Nyquist
``sr / 2`` lies below a filter's lower -3 dB edge ``c_k - b_k``, that filter
only sees the tail of its response: its output would be numerically tiny and,
after per-frequency standardisation, pure amplified noise. Such filters are
reported by `SincGram.valid_filters` and the DEGram front end replaces
their rows by zeros (the standardised value of "no information"). Filters
whose passband ends below 0 Hz are treated the same way.

Parametrisation. To learn at a useful speed with ordinary optimiser step sizes
the parameters are stored on a normalised scale: ``centers = c / scale_hz``
and ``log_bandwidths = log(b / scale_hz)`` with ``scale_hz = f_max`` fixed at
construction (a constant, not the input's rate), so bandwidths stay positive.
The properties `SincGram.centers_hz` and `SincGram.bandwidths_hz`
give them in Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "hz_to_mel",
    "mel_to_hz",
    "mel_filter_params",
    "butterworth_response",
    "Filterbank",
    "SincGram",
]


def hz_to_mel(f):
    """HTK mel scale ``2595 * log10(1 + f / 700)``.

    Parameters
    ----------
    f : float or array-like
        Frequencies in Hz.

    Returns
    -------
    float64 or ndarray of float64
        Mels, of the shape of ``f``.

    Examples
    --------
    >>> from sklearn_echo.degram import hz_to_mel
    >>> hz_to_mel([0.0, 700.0, 1000.0]).round(1)
    array([   0. ,  781.2, 1000. ])
    """
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    """Inverse of `hz_to_mel`: ``700 * (10 ** (m / 2595) - 1)``.

    Parameters
    ----------
    m : float or array-like
        Mels.

    Returns
    -------
    float64 or ndarray of float64
        Frequencies in Hz, of the shape of ``m``.

    Examples
    --------
    >>> from sklearn_echo.degram import mel_to_hz
    >>> mel_to_hz([0.0, 781.2, 1000.0]).round(1)
    array([   0.,  700., 1000.])
    """
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filter_params(n_filters, f_min, f_max):
    """Centres and half-widths in Hz of a mel-initialised bank.

    ``n_filters + 2`` points equally spaced in mel between ``f_min`` and
    ``f_max``; filter ``k`` is centred on point ``k + 1`` and its -3 dB
    half-width is half the distance between points ``k`` and ``k + 2`` (the
    published initialisation).

    Parameters
    ----------
    n_filters : int
        Number of filters, >= 1.
    f_min, f_max : float
        Range of the mel points in Hz, ``0 <= f_min < f_max``.

    Returns
    -------
    centers_hz, bandwidths_hz : ndarray of shape (n_filters,), float64
        Centres and -3 dB half-widths in Hz.

    Examples
    --------
    >>> from sklearn_echo.degram import mel_filter_params
    >>> c, b = mel_filter_params(4, 0.0, 6000.0)
    >>> c.round(1)
    array([ 399.7, 1027.8, 2014.5, 3564.6])
    """
    if n_filters < 1:
        raise ValueError(f"n_filters must be >= 1, got {n_filters}")
    if not (0.0 <= f_min < f_max):
        raise ValueError(f"need 0 <= f_min < f_max, got f_min={f_min!r}, f_max={f_max!r}")
    points = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_filters + 2))
    centers = points[1:-1]
    bandwidths = (points[2:] - points[:-2]) / 2.0
    return centers, bandwidths


def butterworth_response(freqs_hz, centers_hz, bandwidths_hz, order):
    """``1 / sqrt(1 + ((f - c) / b) ** (2 * order))`` as an ``(n_freqs, n_filters)`` array.

    NumPy evaluation of the SincGram response (for inspection and plotting).

    Parameters
    ----------
    freqs_hz : array-like of shape (n_freqs,)
        Frequencies at which to evaluate the responses, in Hz.
    centers_hz : array-like of shape (n_filters,)
        Filter centres in Hz.
    bandwidths_hz : array-like of shape (n_filters,)
        Filter -3 dB half-widths in Hz.
    order : int
        Butterworth order.

    Returns
    -------
    ndarray of shape (n_freqs, n_filters), float64
        Magnitude responses in [0, 1].

    Examples
    --------
    >>> from sklearn_echo.degram import butterworth_response
    >>> butterworth_response([1000.0, 1100.0], [1000.0], [100.0], 4).round(4)
    array([[1.    ],
           [0.7071]])
    """
    f = np.asarray(freqs_hz, dtype=np.float64).reshape(-1, 1)
    c = np.asarray(centers_hz, dtype=np.float64).reshape(1, -1)
    b = np.asarray(bandwidths_hz, dtype=np.float64).reshape(1, -1)
    a = np.abs((f - c) / b)
    with np.errstate(over="ignore", divide="ignore"):
        # log-domain form: exp(-0.5 * log1p(a ** (2 n))) without overflow
        z = 2 * order * np.log(np.maximum(a, 1e-300))
        return np.exp(-0.5 * np.logaddexp(0.0, z))


def _band_reaches(lower_hz, upper_hz, sample_rate):
    """Filters whose -3 dB band ``[lower, upper]`` overlaps ``(0, sample_rate / 2)``.

    Element-wise on NumPy arrays or tensors alike (the rule of
    `Filterbank.valid_filters` and `SincGram.valid_filters`).
    """
    return (lower_hz < float(sample_rate) / 2.0) & (upper_hz > 0.0)


@dataclass(frozen=True, eq=False)
class Filterbank:
    """A SincGram filterbank in Hz, detached from torch (what a fitted classifier exposes).

    Parameters
    ----------
    centers_hz : ndarray of shape (n_filters,)
        Filter centres in Hz.
    bandwidths_hz : ndarray of shape (n_filters,)
        -3 dB half-widths in Hz (the response is ``1/sqrt(2)`` at
        ``centers_hz +- bandwidths_hz``).
    order : int
        Butterworth order.

    Examples
    --------
    >>> from sklearn_echo.degram import Filterbank, mel_filter_params
    >>> fb = Filterbank(*mel_filter_params(8, 0.0, 6000.0), order=4)
    >>> len(fb), fb.response([0.0, 3000.0, 6000.0]).shape
    (8, (3, 8))
    """

    centers_hz: np.ndarray
    bandwidths_hz: np.ndarray
    order: int

    def __len__(self):
        return len(self.centers_hz)

    @property
    def edges_hz(self):
        """``(n_filters, 2)`` lower and upper -3 dB edges in Hz."""
        c, b = np.asarray(self.centers_hz), np.asarray(self.bandwidths_hz)
        return np.stack([c - b, c + b], axis=1)

    def response(self, freqs_hz):
        """Magnitude responses on ``freqs_hz``: array ``(n_freqs, n_filters)`` in [0, 1]."""
        return butterworth_response(freqs_hz, self.centers_hz, self.bandwidths_hz, self.order)

    def valid_filters(self, sample_rate):
        """Boolean mask of the filters with part of their -3 dB band below ``sample_rate / 2``."""
        lo, hi = self.edges_hz.T
        return _band_reaches(lo, hi, sample_rate)


class SincGram(nn.Module):
    """Learnable Butterworth filterbank applied to a linear-frequency power spectrogram.

    Parameters
    ----------
    n_filters : int, default=64
        Number of band-pass filters (output rows).
    order : int, default=4
        Butterworth order (the response falls as ``|f - c| ** -order``).
    f_min, f_max : float, default=0.0 and 8000.0
        Range of the mel initialisation in Hz. ``f_max`` is also the fixed
        scale of the normalised parameters.
    trainable : bool, default=True
        False freezes centres and bandwidths (a fixed mel-like filterbank).

    Attributes
    ----------
    n_filters : int
        Number of filters.
    order : int
        Butterworth order.
    scale_hz : float
        Fixed scale of the normalised parameters (``f_max``).
    centers : Parameter of shape (n_filters,), float32
        Centres divided by ``scale_hz``.
    log_bandwidths : Parameter of shape (n_filters,), float32
        ``log(half-width / scale_hz)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import PowerSpectrogram, SincGram
    >>> spec = PowerSpectrogram()
    >>> bank = SincGram(n_filters=32, f_max=6000.0)
    >>> x = spec(torch.randn(2, 12000), 12000)
    >>> bank(x, spec.bin_frequencies(12000)).shape
    torch.Size([2, 1, 32, 101])
    >>> bank(spec(torch.randn(2, 48000), 48000), spec.bin_frequencies(48000)).shape
    torch.Size([2, 1, 32, 101])
    """

    def __init__(self, n_filters=64, order=4, f_min=0.0, f_max=8000.0, trainable=True):
        super().__init__()
        self.n_filters = int(n_filters)
        self.order = int(order)
        if self.order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.f_min = float(f_min)
        self.f_max = float(f_max)
        self.scale_hz = self.f_max
        centers, bandwidths = mel_filter_params(self.n_filters, self.f_min, self.f_max)
        self.centers = nn.Parameter(
            torch.tensor(centers / self.scale_hz, dtype=torch.float32),
            requires_grad=trainable,
        )
        self.log_bandwidths = nn.Parameter(
            torch.tensor(np.log(bandwidths / self.scale_hz), dtype=torch.float32),
            requires_grad=trainable,
        )

    @property
    def centers_hz(self):
        """Filter centres in Hz (tensor, follows the parameters' device)."""
        return self.centers * self.scale_hz

    @property
    def bandwidths_hz(self):
        """Filter -3 dB half-widths in Hz (tensor)."""
        return torch.exp(self.log_bandwidths) * self.scale_hz

    def response(self, freqs_hz):
        """Filter matrix ``(n_freqs, n_filters)`` evaluated at ``freqs_hz``.

        Built from the current parameters on their device, in the dtype of
        ``freqs_hz`` if it is floating point. Differentiable, and stable for
        any distance from the centre (log-domain evaluation).

        Parameters
        ----------
        freqs_hz : array-like or Tensor of shape (n_freqs,)
            Frequencies in Hz.

        Returns
        -------
        Tensor of shape (n_freqs, n_filters)
            Magnitude responses in (0, 1].
        """
        freqs_hz = torch.as_tensor(freqs_hz, device=self.centers.device)
        dtype = freqs_hz.dtype if freqs_hz.is_floating_point() else self.centers.dtype
        f = freqs_hz.to(dtype).reshape(-1, 1)
        c = self.centers_hz.to(dtype).reshape(1, -1)
        b = self.bandwidths_hz.to(dtype).reshape(1, -1)
        a = ((f - c) / b).abs().clamp_min(1e-6)
        return torch.exp(-0.5 * F.softplus(2.0 * self.order * torch.log(a)))

    def valid_filters(self, sample_rate):
        """Boolean tensor: filters with part of their -3 dB band in ``[0, sample_rate / 2]``."""
        c = self.centers_hz.detach()
        b = self.bandwidths_hz.detach()
        return _band_reaches(c - b, c + b, sample_rate)

    def forward(self, spec, freqs_hz):
        """Apply the bank: ``spec`` ``(batch, ch, n_bins, time)`` -> ``(batch, ch, n_filters, time)``.

        Parameters
        ----------
        spec : Tensor of shape (batch, ch, n_bins, time)
            Power spectral density (`PowerSpectrogram`).
        freqs_hz : array-like of shape (n_bins,)
            Equally spaced bin frequencies of ``spec`` in Hz.

        Returns
        -------
        Tensor of shape (batch, ch, n_filters, time)
            Band powers: the density weighted by each response, summed over
            bins and multiplied by the bin width.
        """
        if spec.shape[-2] != len(freqs_hz):
            raise ValueError(
                f"spec has {spec.shape[-2]} frequency bins but {len(freqs_hz)} bin "
                "frequencies were given"
            )
        weights = self.response(torch.as_tensor(freqs_hz, device=spec.device, dtype=spec.dtype))
        # Each output row is the band power: sum over bins times the bin width.
        freqs = torch.as_tensor(freqs_hz)
        bin_width = float(freqs[1] - freqs[0]) if len(freqs) > 1 else 1.0
        out = torch.matmul(spec.transpose(-1, -2), weights * bin_width)
        return out.transpose(-1, -2)

    def to_filterbank(self):
        """The current filters as a NumPy `Filterbank` (centres and half-widths in Hz)."""
        with torch.no_grad():
            return Filterbank(
                centers_hz=self.centers_hz.double().cpu().numpy(),
                bandwidths_hz=self.bandwidths_hz.double().cpu().numpy(),
                order=self.order,
            )

    def extra_repr(self):
        return (
            f"n_filters={self.n_filters}, order={self.order}, f_min={self.f_min:g}, "
            f"f_max={self.f_max:g}, trainable={self.centers.requires_grad}"
        )

