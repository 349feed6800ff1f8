"""Running a DEGram network on windows: batched by rate, and averaged per signal.

`run_windows` is the one inference loop (validation during training and
every prediction use it); `signal_means` cuts signals into prediction
windows, runs them and averages each signal's class probabilities or
embeddings (what `DEGramClassifier.predict_proba` and
`DEGramClassifier.transform` return).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from .windows import prediction_windows

__all__ = ["OUTPUTS", "run_windows", "signal_means"]

OUTPUTS = ("logits", "embedding")
"""What `run_windows` can return per window: the network's logits or its embedding."""


def _content_key(window):
    return hashlib.blake2b(window.tobytes(), digest_size=8).digest()


def run_windows(net, windows, rates, output, batch_size, device=None):
    """Logits or embeddings of windows, in order, from batches of one rate and length each.

    Within a rate, batches are made in an order fixed by the windows'
    content, so a window's result does not depend on the other windows it
    came with. The network is put in eval mode and run without gradients.

    Parameters
    ----------
    net : DEGramNet
        The network (``net(x, rate)`` gives logits, ``net.embed(x, rate)``
        embeddings).
    windows : list of ndarray
        1-D float32 windows.
    rates : list of float
        Sampling rate of each window.
    output : {"logits", "embedding"}
        What to return.
    batch_size : int
        Windows per forward pass.
    device : torch.device or None, default=None
        Device of the network; None uses that of its parameters.

    Returns
    -------
    ndarray of shape (n_windows, n_outputs), float32
        ``(0, 0)`` when there are no windows.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sklearn_echo.degram import DEGram, DEGramNet, SmallCNN
    >>> from sklearn_echo.degram.inference import run_windows
    >>> _ = torch.manual_seed(0)
    >>> net = DEGramNet(DEGram(n_filters=8, f_max=2000.0), SmallCNN(n_classes=3))
    >>> windows = [np.zeros(4000, dtype=np.float32), np.ones(8000, dtype=np.float32)]
    >>> run_windows(net, windows, [4000.0, 8000.0], "logits", batch_size=4).shape
    (2, 3)
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if device is None:
        device = next(net.parameters()).device
    net.eval()
    out = [None] * len(windows)
    groups = {}
    for j, (w, r) in enumerate(zip(windows, rates)):
        groups.setdefault((r, len(w)), []).append(j)
    with torch.no_grad():
        for (rate, _), idx in groups.items():
            # batches made in an order fixed by the windows' content: a window's
            # result does not depend on the order of the signals it came with
            idx = sorted(idx, key=lambda j: _content_key(windows[j]))
            for a in range(0, len(idx), batch_size):
                part = idx[a : a + batch_size]
                xb = torch.from_numpy(np.stack([windows[j] for j in part])).to(device)
                res = net(xb, rate) if output == "logits" else net.embed(xb, rate)
                res = res.float().cpu().numpy()
                for j, row in zip(part, res):
                    out[j] = row
    return np.stack(out) if out else np.empty((0, 0), dtype=np.float32)


def signal_means(net, signals, window_duration, output, batch_size):
    """Each signal's mean over its prediction windows of class probabilities or embeddings.

    Parameters
    ----------
    net : DEGramNet
        The network.
    signals : list of MonoSignal
        Signals at least one window long.
    window_duration : float
        Window length in seconds (see
        `sklearn_echo.degram.windows.prediction_windows`).
    output : {"proba", "embedding"}
        ``"proba"``: the softmax of each window's logits; ``"embedding"``:
        the backbone's embedding.
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    ndarray of shape (n_signals, n_outputs), float64

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sklearn_echo.degram import DEGram, DEGramNet, SmallCNN
    >>> from sklearn_echo.degram.inference import signal_means
    >>> from sklearn_echo.degram.windows import MonoSignal
    >>> _ = torch.manual_seed(0)
    >>> net = DEGramNet(DEGram(n_filters=8, f_max=2000.0), SmallCNN(n_classes=3))
    >>> signals = [MonoSignal(np.random.RandomState(0).randn(6000).astype(np.float32), 4000.0, "X[0]")]
    >>> proba = signal_means(net, signals, 1.0, "proba", batch_size=4)
    >>> proba.shape, bool(np.isclose(proba.sum(), 1.0))
    ((1, 3), True)
    """
    if output not in ("proba", "embedding"):
        raise ValueError(f"output must be 'proba' or 'embedding', got {output!r}")
    windows, rates, owner = prediction_windows(signals, window_duration)
    out = run_windows(net, windows, rates, "logits" if output == "proba" else "embedding", batch_size)
    if output == "proba":
        out = torch.softmax(torch.from_numpy(out), dim=1).numpy()
    result = np.zeros((len(signals), out.shape[1]), dtype=np.float64)
    np.add.at(result, owner, out.astype(np.float64))
    result /= np.bincount(owner, minlength=len(signals))[:, None]
    return result
