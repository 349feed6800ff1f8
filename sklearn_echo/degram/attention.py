"""TF-DE: the time-frequency denoising/excitation attention of DEGram.

A concurrent squeeze-and-excitation block (Roy et al., 2018) on a
``(batch, 1, n_bands, time)`` map, with the frequency bands playing the role of
channels:

* the **frequency branch** squeezes time (mean over frames), passes the band
  profile through a bottleneck MLP ``n_bands -> max(1, round(n_bands *
  reduction_ratio)) -> n_bands`` (no bias, ReLU, sigmoid) and rescales every
  band;
* the **time branch** squeezes frequency with a 1x1 convolution over the bands
  (``n_bands -> 1``, sigmoid) and rescales every frame, so that frames without
  the relevant content can be attenuated;
* the two rescaled maps are combined by element-wise ``maxout`` (default),
  ``add``, ``multiply`` or ``concat`` (stacked as two channels).

The block is sized to the number of bands it is given (the published release
hard-coded 64). In the release the second branch averaged over time before
its 1x1 convolution, which turned it into a second frequency gate; here it
gates time, as the method's name and the concurrent SE design intend.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["STRATEGIES", "FrequencyExcitation", "TimeExcitation", "TFDELayer"]

STRATEGIES = ("maxout", "add", "multiply", "concat")
"""Ways `TFDELayer` combines its frequency-excited and time-excited maps."""


class FrequencyExcitation(nn.Module):
    """Squeeze time, excite bands: ``x * sigmoid(MLP(mean_t(x)))``.

    The frequency branch of `TFDELayer`: the band profile (mean over frames)
    goes through a bias-free bottleneck MLP ``n_bands -> hidden -> n_bands``
    (ReLU, then sigmoid) and every band of the map is scaled by its gate.

    Parameters
    ----------
    n_bands : int
        Number of frequency rows of the input map.
    reduction_ratio : float, default=1/16
        Bottleneck ratio: ``hidden = max(1, round(n_bands * reduction_ratio))``.

    Attributes
    ----------
    n_bands : int
        Number of frequency rows the block is sized to.
    network : torch.nn.Sequential
        The bottleneck MLP followed by the sigmoid.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import FrequencyExcitation
    >>> FrequencyExcitation(40)(torch.randn(3, 1, 40, 50)).shape
    torch.Size([3, 1, 40, 50])
    """

    def __init__(self, n_bands, reduction_ratio=1 / 16):
        super().__init__()
        hidden = max(1, int(round(n_bands * reduction_ratio)))
        self.n_bands = int(n_bands)
        self.network = nn.Sequential(
            nn.Linear(n_bands, hidden, bias=False),
            nn.ReLU(),
            nn.Linear(hidden, n_bands, bias=False),
            nn.Sigmoid(),
        )

    def gate(self, x):
        """Band gates ``(batch, ch, n_bands, 1)`` in (0, 1) of a map ``(batch, ch, n_bands, time)``."""
        return self.network(x.mean(dim=-1)).unsqueeze(-1)

    def forward(self, x):
        """Scale every band of ``x`` by its gate (same shape as ``x``)."""
        return x * self.gate(x)


class TimeExcitation(nn.Module):
    """Squeeze bands with a 1x1 convolution, excite frames: ``x * sigmoid(w . x[:, t] + b)``.

    The time branch of `TFDELayer`: a 1x1 convolution over the bands
    (``n_bands -> 1``, with bias, then sigmoid) gives one gate per frame, so
    frames without the relevant content can be attenuated.

    Parameters
    ----------
    n_bands : int
        Number of frequency rows of the input map.

    Attributes
    ----------
    n_bands : int
        Number of frequency rows the block is sized to.
    conv : torch.nn.Conv1d
        The ``n_bands -> 1`` convolution over the bands.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import TimeExcitation
    >>> TimeExcitation(40)(torch.randn(3, 1, 40, 50)).shape
    torch.Size([3, 1, 40, 50])
    """

    def __init__(self, n_bands):
        super().__init__()
        self.n_bands = int(n_bands)
        self.conv = nn.Conv1d(n_bands, 1, kernel_size=1)

    def gate(self, x):
        """Frame gates ``(batch, ch, 1, time)`` in (0, 1) of a map ``(batch, ch, n_bands, time)``."""
        b, ch, f, t = x.shape
        g = torch.sigmoid(self.conv(x.reshape(b * ch, f, t)))
        return g.reshape(b, ch, 1, t)

    def forward(self, x):
        """Scale every frame of ``x`` by its gate (same shape as ``x``)."""
        return x * self.gate(x)


class TFDELayer(nn.Module):
    """Time-frequency denoising/excitation block sized to ``n_bands``.

    Parameters
    ----------
    n_bands : int
        Number of frequency rows of the input map (e.g. SincGram filters).
    reduction_ratio : float, default=1/16
        Bottleneck ratio of the frequency branch.
    strategy : {"maxout", "add", "multiply", "concat"}, default="maxout"
        How the frequency-excited and time-excited maps are combined.
        ``"concat"`` returns two channels, the others one.

    Attributes
    ----------
    n_bands : int
        Number of frequency rows the block is sized to.
    strategy : str
        The combination used.
    frequency : FrequencyExcitation
        The frequency branch.
    time : TimeExcitation
        The time branch.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.degram import TFDELayer
    >>> x = torch.randn(2, 1, 24, 30)
    >>> TFDELayer(24)(x).shape
    torch.Size([2, 1, 24, 30])
    >>> TFDELayer(24, strategy="concat")(x).shape
    torch.Size([2, 2, 24, 30])
    """

    def __init__(self, n_bands, reduction_ratio=1 / 16, strategy="maxout"):
        super().__init__()
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
        if n_bands < 1:
            raise ValueError(f"n_bands must be >= 1, got {n_bands}")
        self.n_bands = int(n_bands)
        self.strategy = strategy
        self.frequency = FrequencyExcitation(n_bands, reduction_ratio)
        self.time = TimeExcitation(n_bands)

    @property
    def out_channels(self):
        """Channels of the output map (2 for ``"concat"``, else 1)."""
        return 2 if self.strategy == "concat" else 1

    def forward(self, x):
        """Excite a map along frequency and along time and combine the two.

        Parameters
        ----------
        x : Tensor of shape (batch, 1, n_bands, time)
            Non-negative band-power map.

        Returns
        -------
        Tensor of shape (batch, out_channels, n_bands, time)
        """
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != self.n_bands:
            raise ValueError(
                f"TFDELayer({self.n_bands}) expects (batch, 1, {self.n_bands}, time), "
                f"got {tuple(x.shape)}"
            )
        f_map = self.frequency(x)
        t_map = self.time(x)
        if self.strategy == "maxout":
            return torch.maximum(f_map, t_map)
        if self.strategy == "add":
            return f_map + t_map
        if self.strategy == "multiply":
            return f_map * t_map
        return torch.cat([f_map, t_map], dim=1)

    def extra_repr(self):
        return f"n_bands={self.n_bands}, strategy={self.strategy!r}"
