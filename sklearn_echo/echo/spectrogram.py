"""ECHO's input representation: the log-magnitude spectrogram and the bands' frequency encoding.

Everything here follows the published checkpoint's preprocessing exactly
(25 ms Hann window, 10 ms hop, no centring, log magnitude with fixed
normalisation constants, 32-bin bands with the last band zero-padded on its
low-frequency side, sinusoidal encoding of each band's relative centre
frequency). The functions work at any sampling rate.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .bands import stft_params

__all__ = ["LOG_OFFSET", "LOG_SCALE", "frequency_encoding", "echo_spectrogram"]

LOG_EPS = 1e-9
LOG_OFFSET = 5.874158
LOG_SCALE = 2 * 5.223174


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
        # a normal tensor even when first made under torch.inference_mode, so
        # that a signal with gradients can use it later
        with torch.inference_mode(False):
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
    )
    # |X| by torch.hypot on the real and imaginary parts: on CPU bitwise what
    # spec.abs() gives, in less time (`benchmarks/profile_encoder.py`); then
    # the reference's log and normalisation, in place
    parts = torch.view_as_real(spec)
    magnitude = torch.hypot(parts[..., 0], parts[..., 1])
    if magnitude.requires_grad:  # a signal with gradients: keep the graph intact
        return (torch.log(magnitude + LOG_EPS) + LOG_OFFSET) / LOG_SCALE
    return magnitude.add_(LOG_EPS).log_().add_(LOG_OFFSET).div_(LOG_SCALE)
