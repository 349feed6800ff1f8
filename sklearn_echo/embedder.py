"""EchoEmbedder: ECHO embeddings as a scikit-learn transformer."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .band_layout import LAYOUTS, apply_layout, describe_slots, layout_matrix, n_slots
from .echo.cache import content_key, memory_cache
from .echo.checkpoint import get_encoder
from .echo.models import DEFAULT_MODEL
from .echo.inference import chunk_starts, combine_chunks, encode_chunks, plan_chunks
from .signals import SignalError, check_signal_input
from .echo.bands import WINDOW_SECONDS, n_frames

__all__ = ["EchoEmbedder"]

MIN_SAMPLE_RATE = 100.0

BLOCK_SAMPLES = 2**25
"""Samples (all channels) of the files read and embedded at a time, about 128 MB of
float32: a folder of recordings is embedded in bounded memory. Every file is read
and checked once before the first block, so a bad file stops the call before any
embedding is computed."""


def _n_chunks(n_samples: int, sample_rate: float, chunk_frames: int) -> int:
    """Encoder chunks of one channel of ``n_samples`` at ``sample_rate``."""
    return len(chunk_starts(n_frames(n_samples, sample_rate), chunk_frames))


def _encode_group(model, revision, device, dtype, jobs, batch_tokens):
    """Worker side of ``n_jobs``: load the model once per process, encode some chunks."""
    encoder = get_encoder(model, revision, device=device, dtype=dtype)
    return encode_chunks(encoder, jobs, batch_tokens=batch_tokens)


def _split_balanced(jobs: list, n_groups: int) -> list[list[int]]:
    """Indices of ``jobs`` in ``n_groups`` groups of about equal sample counts."""
    order = sorted(range(len(jobs)), key=lambda j: -len(jobs[j].samples))
    groups: list[list[int]] = [[] for _ in range(n_groups)]
    loads = [0] * n_groups
    for j in order:
        g = loads.index(min(loads))
        groups[g].append(j)
        loads[g] += len(jobs[j].samples)
    return [g for g in groups if g]


class EchoEmbedder(TransformerMixin, BaseEstimator):
    """Fixed-width ECHO embeddings of machine signals (sound, vibration, any rate, any length).

    Signals of any length and sampling rate, mono or multichannel, arrays or
    files, become one row each of float32 features from the ECHO encoder:
    per frequency band the encoder's CLS output, arranged by ``band_layout``.

    Parameters
    ----------
    model : str or path-like, default="echo-small"
        Hugging Face Hub repo id or alias (``"echo-small"`` is
        ``yucongzh/echo-small-0824``), a local directory, or a ``.safetensors`` /
        ``.pth`` checkpoint. Loaded lazily, once per process, and never pickled.
    revision : str, default=None
        Hub revision (branch, tag or commit) to pin.
    sample_rate : float, default=None
        Sampling rate in Hz of items that carry none (arrays, ``.mat``, ``.npy``,
        ``.csv``). Audio files use their own rate; per-item rates can be given
        as ``(signal, rate)`` pairs, a DataFrame column, or
        ``fit/transform(X, sample_rate=rates)`` (metadata routing).
    band_layout : {"hz", "relative", "concat", "mean"}, default="hz"
        How band vectors become features; see `sklearn_echo.band_layout`.
        ``"hz"`` keeps the bands of the frequency range every fitted signal
        covers, aligned on absolute frequency (at a single rate it is exactly
        the reference embedding); ``"relative"`` pools bands onto a grid of
        relative frequency; both give one width for any mix of rates.
        ``"concat"`` is the reference embedding (its width depends on the
        rate); ``"mean"`` averages the bands. The default was chosen by
        measurement on CWRU at 12 and 48 kHz (see the band-layout guide).
    multichannel : {"concatenate", "mean", "first"}, default="concatenate"
        Multichannel signals: per-channel embeddings side by side (every
        signal must then have the number of channels seen in ``fit``), their
        mean, or the first channel only.
    device : str, default="auto"
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    dtype : {"float32", "bfloat16", "float16"}, default="float32"
        Compute precision: float32 is exact; bfloat16 is about 2-4 times faster
        on CPUs with AVX512-BF16 and on GPUs; float16 on GPU only.
    batch_size : int, default=None
        Band sequences of a full 20 s chunk per encoder call (memory bound);
        ``None`` uses the library default.
    cache : bool or path-like, default=True
        ``True``: keep embeddings in a process-wide in-memory cache keyed by
        content, so repeated transforms (``GridSearchCV``) never embed a signal
        twice. A folder path: also persist them there. ``False``: no cache.
    n_jobs : int, default=None
        Processes over which chunks are spread with joblib (``None`` = 1,
        ``-1`` = all cores). Use ``joblib.parallel_backend("dask")`` to spread
        over a Dask cluster.
    progress : bool, default=False
        Show a tqdm progress bar over chunks.
    mat_key : str, default="DE_time"
        Variable read from ``.mat`` files: the one named ``mat_key`` or ending
        in ``"_" + mat_key`` (CWRU's ``X118_DE_time``).

    Attributes
    ----------
    n_features_out_ : int
        Width of the embeddings.
    embed_dim_ : int
        Encoder width ``D``.
    n_slots_ : int
        Band slots per channel.
    sample_rates_ : ndarray
        Distinct sampling rates seen in ``fit``.
    frequency_range_ : tuple of float
        ``(0, lowest Nyquist frequency seen in fit)`` in Hz: the range every
        fitted signal covers (the slots of ``band_layout="hz"``).
    n_channels_ : int
        Channels per signal (``multichannel="concatenate"``), else 1.
    model_fingerprint_ : str
        SHA-256 of the checkpoint file.
    n_features_in_ : int
        Samples per signal, only when fitted on a dense 2-D array.
    feature_names_in_ : ndarray of str
        Only when fitted on a numeric DataFrame.

    Notes
    -----
    File paths are read twice: ``fit`` and ``transform`` first read and check
    every file (so one bad file stops the call, with every bad item named,
    before anything is embedded), keeping only its rate and shape; ``transform``
    then reads and embeds the files about ``2**25`` samples (128 MB of float32)
    at a time. Memory therefore does not grow with the number of files: 400
    minutes of 16 kHz recordings embed with a peak RSS of 734 MB instead of
    1,960 MB (``benchmarks/bench_folder_memory.py --repeat 60``). Signals passed
    as arrays are used in place.

    See Also
    --------
    sklearn_echo.EchoKNNClassifier : k-NN fault classification on embeddings.
    sklearn_echo.EchoKNNAnomalyDetector : k-NN anomaly scores on embeddings.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo import EchoEmbedder
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal(16000), rng.standard_normal(32000)]
    >>> emb = EchoEmbedder(model="../shared/fixtures/echo_reference/tiny_echo.safetensors",
    ...                    sample_rate=16000)
    >>> emb.fit_transform(X).shape
    (2, 896)
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike],
        "revision": [str, None],
        "sample_rate": [Interval(Real, 0, None, closed="neither"), None],
        "band_layout": [StrOptions(set(LAYOUTS))],
        "multichannel": [StrOptions({"concatenate", "mean", "first"})],
        "device": [str],
        "dtype": [StrOptions({"float32", "bfloat16", "float16"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "cache": ["boolean", str, os.PathLike],
        "n_jobs": [Integral, None],
        "progress": ["boolean"],
        "mat_key": [str],
    }

    def __init__(
        self,
        model=DEFAULT_MODEL,
        *,
        revision=None,
        sample_rate=None,
        band_layout="hz",
        multichannel="concatenate",
        device="auto",
        dtype="float32",
        batch_size=None,
        cache=True,
        n_jobs=None,
        progress=False,
        mat_key="DE_time",
    ):
        self.model = model
        self.revision = revision
        self.sample_rate = sample_rate
        self.band_layout = band_layout
        self.multichannel = multichannel
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self.cache = cache
        self.n_jobs = n_jobs
        self.progress = progress
        self.mat_key = mat_key

    # ------------------------------------------------------------------ helpers
    def _encoder(self):
        return get_encoder(self.model, self.revision, device=self.device, dtype=self.dtype)

    def _load(self, X, sample_rate, *, reset: bool):
        """Validate X through the shared signal-input check; returns `ScannedSignals`."""
        rate = self.sample_rate if sample_rate is None else sample_rate
        return self._check_rates(
            check_signal_input(
                self, X, rate, reset=reset, mat_key=self.mat_key, min_duration=WINDOW_SECONDS
            )
        )

    def _check_rates(self, signals):
        low = [s.source for s in signals.infos if s.sample_rate < MIN_SAMPLE_RATE]
        if low:
            raise SignalError(
                f"sampling rate below {MIN_SAMPLE_RATE:g} Hz for {', '.join(low[:10])}: "
                "ECHO's 25 ms window and 10 ms hop need at least 100 Hz"
            )
        return signals

    def _check_channels(self, infos):
        """With ``multichannel="concatenate"``, every signal has the fitted channel count."""
        if self.multichannel == "concatenate":
            expected = getattr(self, "n_channels_", None) or infos[0].n_channels
            bad = [f"{s.source} has {s.n_channels}" for s in infos if s.n_channels != expected]
            if bad:
                raise SignalError(
                    f"multichannel='concatenate' needs {expected} channel(s) per signal "
                    f"(as in fit), but {'; '.join(bad[:10])}"
                    + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
                    + ". Use multichannel='mean' or 'first' for varying channel counts."
                )

    def _channels(self, signals):
        """(signal index, channel data) pairs according to ``multichannel``."""
        pairs = []
        for i, s in enumerate(signals):
            rows = s.data[:1] if self.multichannel == "first" else s.data
            pairs.extend((i, row) for row in rows)
        return pairs

    def _settings(self, encoder) -> str:
        return f"{encoder.fingerprint}|{self.dtype}|{encoder.cls_token.device.type}"

    def _batch_tokens(self, encoder):
        if self.batch_size is None:
            return None
        return int(self.batch_size) * (encoder.config.max_patches + 1)

    def _encode_jobs(self, encoder, jobs, segments: bool, bar=None):
        """Encode chunk jobs, in this process or over ``n_jobs`` workers.

        ``bar``: a progress bar advanced by one per chunk (the caller's, spanning
        several calls); without it one is made here when ``progress`` is set.
        """
        kwargs = {}
        bt = self._batch_tokens(encoder)
        if bt is not None:
            kwargs["batch_tokens"] = bt
        n_jobs = 1 if self.n_jobs is None else self.n_jobs
        if n_jobs == 1 or segments or len(jobs) < 2:
            own_bar = None
            if bar is None and self.progress:
                from tqdm.auto import tqdm

                bar = own_bar = tqdm(total=len(jobs), desc="ECHO", unit="chunk")
            try:
                return encode_chunks(encoder, jobs, segments=segments, progress=bar, **kwargs)
            finally:
                if own_bar is not None:
                    own_bar.close()
        if n_jobs < 0:
            n_jobs = max(1, (os.cpu_count() or 1) + 1 + n_jobs)
        groups = _split_balanced(jobs, min(n_jobs, len(jobs)))
        parts = Parallel(n_jobs=n_jobs, verbose=10 if self.progress else 0)(
            delayed(_encode_group)(
                self.model,
                self.revision,
                self.device,
                self.dtype,
                [jobs[j] for j in g],
                kwargs.get("batch_tokens"),
            )
            for g in groups
        )
        out: list = [None] * len(jobs)
        for g, part in zip(groups, parts):
            for j, r in zip(g, part):
                out[j] = r
        if bar is not None:
            bar.update(len(jobs))
        return out

    def _band_vectors(self, signals, channels, bar=None):
        """Raw per-band utterance vectors (B*D,) of every channel, through the cache.

        ``bar`` (optional) advances by every chunk, computed or found in the cache.
        """
        encoder = self._encoder()
        settings = self._settings(encoder)
        directory = None if isinstance(self.cache, bool) else os.fspath(self.cache)
        use_cache = self.cache is not False
        vectors: list = [None] * len(channels)
        keys: list = [None] * len(channels)
        todo = []
        cached_chunks = 0
        for c, (i, data) in enumerate(channels):
            if use_cache:
                keys[c] = content_key(data, signals[i].sample_rate, settings)
                hit = memory_cache.get(keys[c], directory)
                if hit is not None:
                    vectors[c] = hit
                    cached_chunks += _n_chunks(
                        data.shape[-1], signals[i].sample_rate, encoder.config.chunk_frames
                    )
                    continue
            todo.append(c)
        if bar is not None and cached_chunks:
            bar.update(cached_chunks)
        if todo:
            mono = [(channels[c][1], signals[channels[c][0]].sample_rate) for c in todo]
            jobs = plan_chunks(mono, encoder.config.chunk_frames)
            encoded = self._encode_jobs(encoder, jobs, segments=False, bar=bar)
            for c, out in zip(todo, combine_chunks(jobs, encoded, len(todo))):
                vectors[c] = out.utterance
                if use_cache:
                    memory_cache.put(keys[c], out.utterance, directory)
        return vectors

    def _assemble(self, signals, channels, per_channel):
        """Apply the band layout per channel and combine channels into rows."""
        d, k = self.embed_dim_, self.n_slots_
        grouped: list[list] = [[] for _ in signals]
        matrices: dict = {}
        for (i, _), vec in zip(channels, per_channel):
            sr = signals[i].sample_rate
            if sr not in matrices:
                matrices[sr] = layout_matrix(
                    self.band_layout, sr, k, self._band_width, float(self.sample_rates_.min())
                )
            grouped[i].append(apply_layout(vec, matrices[sr], d))
        rows = []
        for parts in grouped:
            if self.multichannel == "mean":
                rows.append(np.mean(parts, axis=0))
            else:
                rows.append(np.concatenate(parts, axis=-1))
        return rows

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X, y=None, sample_rate=None):
        """Validate ``X`` and record what ``transform`` needs (no embedding is computed).

        Parameters
        ----------
        X : list of signals, file paths, ``(signal, rate)`` pairs, DataFrame or 2-D array
            See the user guide's input forms. A `sklearn_echo.signals.ScannedSignals`
            (from `sklearn_echo.signals.scan_signals`) is used as it is, without
            checking its files again.
        y : None
            Ignored.
        sample_rate : float or array-like of shape (n_signals,), default=None
            Per-signal rates (routed by sklearn metadata routing).

        Returns
        -------
        self : EchoEmbedder
        """
        self._fit(self._load_for_fit(X, sample_rate))
        return self

    def _load_for_fit(self, X, sample_rate):
        self._validate_params()
        for attr in ("n_features_in_", "feature_names_in_"):
            self.__dict__.pop(attr, None)
        signals = self._load(X, sample_rate, reset=True)
        if not len(signals):
            raise ValueError("EchoEmbedder.fit needs at least one signal; X is empty")
        return signals

    def _fit(self, scanned):
        signals = scanned.infos
        encoder = self._encoder()
        cfg = encoder.config
        self._band_width = cfg.band_width
        rates = np.array(sorted({s.sample_rate for s in signals}), dtype=np.float64)
        self.embed_dim_ = cfg.embed_dim
        self.n_slots_ = n_slots(self.band_layout, rates, cfg.band_width)
        self.sample_rates_ = rates
        self.frequency_range_ = (0.0, float(rates.min() / 2.0))
        if self.multichannel == "concatenate":
            self.n_channels_ = None
            self._check_channels(signals)  # raises naming items whose channel count differs
            self.n_channels_ = int(signals[0].n_channels)
        else:
            self.n_channels_ = 1
        self.model_fingerprint_ = encoder.fingerprint
        self.n_features_out_ = self.n_channels_ * self.n_slots_ * self.embed_dim_

    def _check_transform_input(self, X, sample_rate):
        check_is_fitted(self)
        return self._load(X, sample_rate, reset=False)

    def _embed(self, scanned):
        signals = scanned.infos
        if not signals:
            return np.zeros((0, self.n_features_out_), dtype=np.float32)
        if self.band_layout == "concat":
            n_slots("concat", [s.sample_rate for s in signals], self._band_width)
        problems = {}
        for s in signals:
            if s.sample_rate in problems:
                continue
            try:
                layout_matrix(
                    self.band_layout, s.sample_rate, self.n_slots_, self._band_width,
                    float(self.sample_rates_.min()),
                )
            except ValueError as exc:
                problems[s.sample_rate] = f"{s.source}: {exc}"
        if problems:
            raise SignalError("; ".join(problems.values()))
        self._check_channels(signals)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            chunk = self._encoder().config.chunk_frames
            total = sum(
                (1 if self.multichannel == "first" else s.n_channels)
                * _n_chunks(s.n_samples, s.sample_rate, chunk)
                for s in signals
            )
            bar = tqdm(total=total, desc="ECHO", unit="chunk")
        rows = []
        try:
            for block in scanned.blocks(BLOCK_SAMPLES):
                channels = self._channels(block)
                per_channel = self._band_vectors(block, channels, bar)
                rows += self._assemble(block, channels, per_channel)
        finally:
            if bar is not None:
                bar.close()
        return np.stack(rows).astype(np.float32)

    def transform(self, X, sample_rate=None):
        """Embed signals.

        Parameters
        ----------
        X : list of signals, file paths, ``(signal, rate)`` pairs, DataFrame or 2-D array
        sample_rate : float or array-like of shape (n_signals,), default=None
            Per-signal rates (routed by sklearn metadata routing).

        Returns
        -------
        ndarray of shape (n_signals, n_features_out_), float32
        """
        return self._embed(self._check_transform_input(X, sample_rate))

    def fit_transform(self, X, y=None, sample_rate=None):
        """Fit, then embed ``X`` (reading and validating ``X`` once).

        Returns
        -------
        ndarray of shape (n_signals, n_features_out_), float32
        """
        signals = self._load_for_fit(X, sample_rate)
        self._fit(signals)
        return self._embed(signals)

    def transform_segments(self, X, sample_rate=None):
        """Segment-level embeddings: one ``(n_segments_i, n_features_out_)`` array per signal.

        Row ``j`` describes 160 ms of signal (16 frames of 10 ms); a signal
        longer than 20 s has overlapping rows where its last chunk overlaps
        the one before (as in the reference). Useful for frame-wise scoring
        and streaming.

        Returns
        -------
        list of ndarray, float32
        """
        scanned = self._check_transform_input(X, sample_rate)
        self._check_channels(scanned.infos)
        [signals] = scanned.blocks(None)
        channels = self._channels(signals)
        encoder = self._encoder()
        mono = [(data, signals[i].sample_rate) for i, data in channels]
        jobs = plan_chunks(mono, encoder.config.chunk_frames)
        encoded = self._encode_jobs(encoder, jobs, segments=True)
        outs = combine_chunks(jobs, encoded, len(mono))
        return self._assemble(signals, channels, [o.segments for o in outs])

    def get_feature_names_out(self, input_features=None):
        """Names ``ch{c}_{band}_{j}`` (channel, band slot, dimension) of the output features."""
        check_is_fitted(self, "n_features_out_")
        slots = describe_slots(self.band_layout, self.n_slots_)
        names = [
            f"echo_ch{c}_{s}_{j}"
            for c in range(self.n_channels_)
            for s in slots
            for j in range(self.embed_dim_)
        ]
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags
