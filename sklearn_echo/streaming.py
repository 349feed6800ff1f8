"""Streaming: embed a live signal window by window, in bounded memory.

Samples arrive in blocks of any size (a sound card's callback, a file being
written, PCM on standard input). `EmbeddingStream` cuts them into analysis
windows of ``window`` seconds every ``hop`` seconds and embeds each window as
soon as its last sample has arrived, with the fitted `EchoEmbedder`'s own
pipeline: a window's embedding equals ``embedder.transform`` of the same
window cut offline. Only the samples the next windows still need are held, so
memory does not grow with the length of the stream.

Blocks are ``(n_samples,)`` for a mono stream or ``(n_samples, n_channels)``,
frames in rows, as audio libraries (soundfile, sounddevice) deliver them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .echo.bands import WINDOW_SECONDS
from .signals import SignalError

__all__ = ["StreamWindow", "EmbeddingStream", "DEFAULT_WINDOW", "DEFAULT_HOP"]

DEFAULT_WINDOW = 2.0
"""Seconds per analysis window: long enough for ECHO's 160 ms segments to average
over many machine cycles, short enough to react within seconds."""

DEFAULT_HOP = 1.0
"""Seconds between the starts of consecutive windows (windows overlap by half)."""


@dataclass(frozen=True)
class StreamWindow:
    """One analysis window of a stream and its embedding.

    Attributes
    ----------
    index : int
        Window number, from 0.
    start, end : float
        Its span in seconds from the first sample of the stream.
    embedding : ndarray of shape (n_features,)
        What ``transform`` gives for these samples.
    """

    index: int
    start: float
    end: float
    embedding: np.ndarray


class EmbeddingStream:
    """Embeds a stream of samples window by window (see the module docstring).

    Made by `sklearn_echo.EchoEmbedder.stream`; the embedder must be fitted.

    Parameters
    ----------
    embedder : EchoEmbedder
        Fitted.
    sample_rate : float
        Rate of the stream in Hz: one of the rates the embedder was fitted on.
    window : float, default=2.0
        Seconds per window (`DEFAULT_WINDOW`).
    hop : float, default=1.0
        Seconds between window starts (`DEFAULT_HOP`); ``hop > window`` leaves
        gaps that are never embedded.
    n_channels : int, optional
        Channels of the stream; by default the fitted count with
        ``multichannel="concatenate"`` (which must be kept), else those of the
        first block.

    Attributes
    ----------
    n_samples_seen : int
        Samples (per channel) received so far.
    n_windows : int
        Windows embedded so far.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo import EchoEmbedder
    >>> rng = np.random.default_rng(0)
    >>> emb = EchoEmbedder(model="../shared/fixtures/echo_reference/tiny_echo.safetensors",
    ...                    sample_rate=16000).fit([rng.standard_normal(32000)])
    >>> stream = emb.stream(16000, window=1.0, hop=0.5)
    >>> [w.start for w in stream.push(rng.standard_normal(24000))]
    [0.0, 0.5]
    >>> [w.start for w in stream.push(rng.standard_normal(8000))]
    [1.0]
    """

    def __init__(self, embedder, sample_rate, *, window=DEFAULT_WINDOW, hop=DEFAULT_HOP, n_channels=None):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(embedder)
        rate = float(sample_rate)
        fitted = [float(r) for r in embedder.sample_rates_]
        if rate not in fitted:
            raise SignalError(
                f"the stream's sampling rate {rate:g} Hz is not one the embedder was fitted "
                f"on ({', '.join(f'{r:g}' for r in fitted)} Hz); resample the stream or fit "
                "on recordings at its rate"
            )
        if not (window > 0 and hop > 0):
            raise ValueError(f"window and hop must be positive seconds, got {window} and {hop}")
        self.embedder = embedder
        self.sample_rate = rate
        self.window = float(window)
        self.hop = float(hop)
        self.window_samples = int(round(window * rate))
        self.hop_samples = int(round(hop * rate))
        if self.hop_samples < 1:
            raise ValueError(f"hop={hop} s is shorter than one sample at {rate:g} Hz")
        self.n_channels = None
        if n_channels is None and embedder.multichannel == "concatenate":
            n_channels = embedder.n_channels_
        if n_channels is not None:
            self._set_channels(int(n_channels))
        self.n_samples_seen = 0
        self.n_windows = 0
        self.n_blocks = 0
        self._buffer = None  # (channels, samples) from the next window's start on
        self._buffer_start = 0  # stream position of the buffer's first sample
        if self.window < WINDOW_SECONDS:
            raise ValueError(
                f"window={window} s is shorter than ECHO's 25 ms analysis window"
            )

    # ------------------------------------------------------------------ input checks
    def _set_channels(self, n: int):
        expected = getattr(self.embedder, "n_channels_", 1)
        if self.embedder.multichannel == "concatenate" and n != expected:
            raise SignalError(
                f"the stream has {n} channel(s) but the embedder was fitted on {expected} "
                "(multichannel='concatenate' needs the same count)"
            )
        self.n_channels = n

    def _check_block(self, block) -> np.ndarray:
        """``block`` as float32 ``(channels, samples)``; errors name the block and the time."""
        where = f"block {self.n_blocks} (from {self.n_samples_seen / self.sample_rate:.3f} s)"
        array = np.asarray(block)
        if array.dtype.kind not in "biuf":
            raise SignalError(f"{where}: samples must be real numbers, got dtype {array.dtype}")
        if array.ndim == 1:
            array = array[None, :]
        elif array.ndim == 2:
            if self.n_channels is not None and array.shape[1] != self.n_channels:
                hint = (
                    "; blocks are (samples, channels): pass block.T"
                    if array.shape[0] == self.n_channels else ""
                )
                raise SignalError(
                    f"{where} has {array.shape[1]} channel(s), the stream {self.n_channels}{hint}"
                )
            array = array.T
        else:
            raise SignalError(
                f"{where}: blocks are (samples,) or (samples, channels), got {array.ndim} dimensions"
            )
        if self.n_channels is None:
            self._set_channels(array.shape[0])
        elif array.shape[0] != self.n_channels:
            raise SignalError(
                f"{where} has {array.shape[0]} channel(s), the stream {self.n_channels}"
            )
        array = np.ascontiguousarray(array, dtype=np.float32)
        bad = ~np.isfinite(array)
        if bad.any():
            first = int(np.argwhere(bad)[0][1])
            t = (self.n_samples_seen + first) / self.sample_rate
            raise SignalError(
                f"{where}: non-finite sample (NaN or Inf) at {t:.3f} s; the windows before it "
                "were embedded"
            )
        return array

    # ------------------------------------------------------------------ streaming
    def push(self, block) -> list[StreamWindow]:
        """Add samples; return the windows they complete, embedded, in order.

        Parameters
        ----------
        block : array-like of shape (n_samples,) or (n_samples, n_channels)
            Any number of samples, including 0 or 1.

        Returns
        -------
        list of StreamWindow
        """
        array = self._check_block(block)
        self.n_blocks += 1
        if self._buffer is None:
            self._buffer = np.zeros((array.shape[0], 0), dtype=np.float32)
        # samples before the next window's start are never needed (hop > window)
        end = self.n_samples_seen + array.shape[1]
        skip = max(0, self._buffer_start - self.n_samples_seen)
        if skip < array.shape[1]:
            self._buffer = np.concatenate([self._buffer, array[:, skip:]], axis=1)
        self.n_samples_seen = end
        windows, starts = [], []
        while self._buffer_start + self.window_samples <= self.n_samples_seen:
            windows.append(self._buffer[:, : self.window_samples].copy())
            starts.append(self._buffer_start)
            drop = min(self.hop_samples, self._buffer.shape[1])
            self._buffer = self._buffer[:, drop:]
            self._buffer_start += self.hop_samples
        if not windows:
            return []
        self._buffer = np.ascontiguousarray(self._buffer)  # release the dropped samples
        rows = self.embedder._embed_arrays(windows, self.sample_rate)
        out = []
        for start, row in zip(starts, rows):
            out.append(
                StreamWindow(
                    self.n_windows,
                    start / self.sample_rate,
                    (start + self.window_samples) / self.sample_rate,
                    row,
                )
            )
            self.n_windows += 1
        return out

    @property
    def pending_seconds(self) -> float:
        """Seconds received after the start of the next, not yet complete, window."""
        return max(0, self.n_samples_seen - self._buffer_start) / self.sample_rate

    def window_bounds(self, index: int) -> tuple[int, int]:
        """Sample range ``[start, end)`` of window ``index`` in the stream."""
        start = index * self.hop_samples
        return start, start + self.window_samples
