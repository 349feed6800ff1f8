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

`ScoreStream` runs a fitted anomaly-detection pipeline
(``make_pipeline(EchoEmbedder(...), EchoKNNAnomalyDetector(...))``) on the
windows of an `EmbeddingStream`: each window's score is the pipeline's
``score_samples`` of that window cut offline, optionally smoothed by a moving
median, with its conformal p-value and an alarm raised only after several
consecutive windows beyond the detector's threshold.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .echo.bands import WINDOW_SECONDS
from .signals import SignalError

__all__ = [
    "DEFAULT_HOP",
    "DEFAULT_WINDOW",
    "EmbeddingStream",
    "ScoreStream",
    "ScoredWindow",
    "StreamWindow",
]

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


# ---------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class ScoredWindow:
    """One window of a stream, scored by an anomaly detector.

    Attributes
    ----------
    index : int
        Window number, from 0.
    start, end : float
        Its span in seconds from the first sample of the stream.
    score : float
        The pipeline's ``score_samples`` of the window (higher = more normal).
    smoothed : float
        Median of the last ``smoothing`` scores (``score`` when ``smoothing=1``).
    p_value : float or None
        Conformal p-value of ``smoothed`` (None when the detector has no
        ``calibration_scores_``).
    over : bool
        ``smoothed`` is below the detector's threshold ``offset_``.
    alarm : bool
        This window ends a run of at least ``consecutive`` windows ``over``.
    """

    index: int
    start: float
    end: float
    score: float
    smoothed: float
    p_value: float | None
    over: bool
    alarm: bool

    @property
    def anomaly_score(self) -> float:
        """``-smoothed``: higher = more anomalous (the DCASE sign)."""
        return -self.smoothed


class ScoreStream:
    """Scores a live signal window by window with a fitted anomaly-detection pipeline.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; its first step an `sklearn_echo.EchoEmbedder`, the rest ending
        with a detector that has ``score_samples`` and ``offset_`` (an
        `sklearn_echo.EchoKNNAnomalyDetector`, whose ``calibration_scores_``
        give the p-values).
    sample_rate : float, optional
        The stream's rate (see `sklearn_echo.EchoEmbedder.stream`).
    window, hop : float, default=2.0, 1.0
        Seconds per window and between window starts. For calibrated alarms,
        the windows the detector was fitted on had this length.
    smoothing : int, default=1
        Windows in the moving median taken before thresholding (1: none).
    consecutive : int, default=1
        Windows in a row beyond the threshold before ``alarm`` is raised.
    n_channels : int, optional
        Channels of the stream.

    Attributes
    ----------
    threshold : float
        The detector's ``offset_``: a smoothed score below it is ``over``.
    n_windows, n_over, n_alarms : int
        Windows scored, windows over the threshold, alarms raised (each run
        of ``over`` windows that reaches ``consecutive`` counts once).

    Notes
    -----
    Memory is bounded: the embedding stream holds at most one window and one
    hop of samples, and the scorer the last ``smoothing`` scores. Each
    window's ``score`` equals ``pipeline.score_samples`` of the same samples
    cut offline (the embeddings are those of ``transform``).

    With a detector calibrated at false-alarm rate ``fpr`` (windows of this
    length, from recordings exchangeable with the stream's), a window of
    normal signal is ``over`` with probability at most ``fpr`` when
    ``smoothing=1``. A moving median over ``N`` windows is ``over`` only
    when at least ``(N + 1) // 2`` of its windows are, which is at most
    ``2 N / (N + 1)`` times as likely; requiring ``consecutive`` windows
    makes alarms rarer still.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector
    >>> from sklearn_echo.streaming import ScoreStream
    >>> rng = np.random.default_rng(0)
    >>> normal = [rng.standard_normal(16000) for _ in range(8)]
    >>> pipe = make_pipeline(
    ...     EchoEmbedder(model="../shared/fixtures/echo_reference/tiny_echo.safetensors",
    ...                  sample_rate=16000),
    ...     EchoKNNAnomalyDetector(fpr=0.2)).fit(normal)
    >>> scorer = ScoreStream(pipe, window=1.0, hop=0.5, consecutive=2)
    >>> x = rng.standard_normal(40000)
    >>> windows = scorer.push(x)
    >>> [w.start for w in windows]
    [0.0, 0.5, 1.0, 1.5]
    >>> offline = pipe.score_samples([x[8000 * i : 8000 * i + 16000] for i in range(4)])
    >>> bool(np.allclose([w.score for w in windows], offline, atol=1e-5))
    True
    >>> scorer.summary()["windows"]
    4
    """

    def __init__(
        self, pipeline, sample_rate=None, *, window=DEFAULT_WINDOW, hop=DEFAULT_HOP,
        smoothing=1, consecutive=1, n_channels=None,
    ):
        from sklearn.utils.validation import check_is_fitted

        steps = getattr(pipeline, "steps", None)
        if not steps or len(steps) < 2:
            raise TypeError(
                "ScoreStream needs a fitted Pipeline of an EchoEmbedder followed by an anomaly "
                f"detector, got {type(pipeline).__name__}"
            )
        embedder, detector = pipeline[0], pipeline[-1]
        if not hasattr(embedder, "stream"):
            raise TypeError(
                f"the pipeline's first step must be an EchoEmbedder, got {type(embedder).__name__}"
            )
        if not hasattr(detector, "score_samples"):
            raise TypeError(
                f"the pipeline's last step {type(detector).__name__} has no score_samples"
            )
        check_is_fitted(detector)
        for name, value in (("smoothing", smoothing), ("consecutive", consecutive)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a whole number of windows >= 1, got {value}")
        self.pipeline = pipeline
        self.stream = embedder.stream(sample_rate, window=window, hop=hop, n_channels=n_channels)
        self._rest = pipeline[1:]
        self.threshold = float(getattr(detector, "offset_", -np.inf))
        calibration = getattr(detector, "calibration_scores_", None)
        self._calibration = None
        if calibration is not None:  # sorted once, not per window
            self._calibration = np.sort(np.asarray(calibration, dtype=np.float64))
        self.smoothing = int(smoothing)
        self.consecutive = int(consecutive)
        self._recent = deque(maxlen=self.smoothing)
        self._run = 0
        self.n_windows = 0
        self.n_over = 0
        self.n_alarms = 0
        self.first_alarm = None
        self.max_anomaly_score = -np.inf
        self.min_p_value = None

    @property
    def sample_rate(self) -> float:
        """The stream's sampling rate in Hz."""
        return self.stream.sample_rate

    def push(self, block) -> list[ScoredWindow]:
        """Add samples; return the windows they complete, scored, in order.

        Parameters
        ----------
        block : array-like of shape (n_samples,) or (n_samples, n_channels)

        Returns
        -------
        list of ScoredWindow
        """
        from .conformal import conformal_p_values

        windows = self.stream.push(block)
        if not windows:
            return []
        scores = self._rest.score_samples(np.stack([w.embedding for w in windows]))
        out = []
        for w, score in zip(windows, np.asarray(scores, dtype=np.float64)):
            self._recent.append(float(score))
            smoothed = float(np.median(self._recent))
            p = None
            if self._calibration is not None:
                p = float(conformal_p_values(self._calibration, smoothed, presorted=True))
                self.min_p_value = p if self.min_p_value is None else min(self.min_p_value, p)
            over = smoothed < self.threshold
            self._run = self._run + 1 if over else 0
            alarm = self._run >= self.consecutive
            if self._run == self.consecutive:
                self.n_alarms += 1
                if self.first_alarm is None:
                    self.first_alarm = w.start
            self.n_over += int(over)
            self.n_windows += 1
            self.max_anomaly_score = max(self.max_anomaly_score, -smoothed)
            out.append(ScoredWindow(w.index, w.start, w.end, float(score), smoothed, p, over, alarm))
        return out

    def summary(self) -> dict:
        """What the stream did so far: windows, seconds, windows over, alarms, extremes."""
        return {
            "windows": self.n_windows,
            "seconds": self.stream.n_samples_seen / self.sample_rate,
            "threshold": self.threshold,
            "windows_over": self.n_over,
            "alarms": self.n_alarms,
            "first_alarm": self.first_alarm,
            "max_anomaly_score": None if self.n_windows == 0 else self.max_anomaly_score,
            "min_p_value": self.min_p_value,
        }
