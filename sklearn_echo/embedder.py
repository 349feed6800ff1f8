"""EchoEmbedder: ECHO embeddings as a scikit-learn transformer."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .band_layout import LAYOUTS, apply_layout, describe_slots, layout_matrix, n_slots
from .echo.bands import WINDOW_SECONDS
from .echo.models import DEFAULT_MODEL
from .signals import SignalError, check_signal_input

__all__ = ["EchoEmbedder"]

MIN_SAMPLE_RATE = 100.0

BLOCK_SAMPLES = 2**25
"""Samples (all channels) of the files read and embedded at a time, about 128 MB of
float32: a folder of recordings is embedded in bounded memory. Every file is read
and checked once before the first block, so a bad file stops the call before any
embedding is computed."""


def check_echo_input(estimator, X, sample_rate, *, reset, mat_key="DE_time", csv_columns=None):
    """`sklearn_echo.signals.check_signal_input` with ECHO's own limits, for every ECHO estimator.

    Every signal must hold one 25 ms window and be sampled at `MIN_SAMPLE_RATE` Hz
    or more (ECHO's 25 ms window and 10 ms hop); errors name the items.

    Returns
    -------
    ScannedSignals
    """
    scanned = check_signal_input(
        estimator, X, sample_rate, reset=reset, mat_key=mat_key, min_duration=WINDOW_SECONDS,
        csv_columns=csv_columns,
    )
    low = [s.source for s in scanned.infos if s.sample_rate < MIN_SAMPLE_RATE]
    if low:
        raise SignalError(
            f"sampling rate below {MIN_SAMPLE_RATE:g} Hz for {', '.join(low[:10])}: "
            "ECHO's 25 ms window and 10 ms hop need at least 100 Hz"
        )
    return scanned


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
    dtype : {"float32", "bfloat16", "float16", "int8"}, default="float32"
        Compute precision: float32 is exact; bfloat16 is about 2-4 times faster
        on CPUs with AVX512-BF16 and on GPUs; float16 on GPU only; int8
        (int8 linear layers, CPU only, fastest on CPUs with VNNI) keeps a
        cosine above 0.99 to float32 per band vector.
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
    csv_columns : int, str, list of them, or None, default=None
        Columns of ``.csv`` files that hold the signal, as indices (``0`` the
        first, ``-1`` the last) or header names; they become the channels,
        in that order (PHM 2012 files: ``[4, 5]`` or ``[-2, -1]``, leaving out
        the clock in the first four columns). ``None`` takes every column.
        Other formats ignore it.
    backend : str, default="torch"
        ``"onnxruntime"`` runs the encoder's Transformer in onnxruntime (CPU,
        float32 or int8; the optional ``onnx`` extra); the path of a ``.onnx``
        file written by ``sklearn-echo export --onnx`` runs that file, which
        must have been exported from ``model``.

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

    A bad item always raises: the embedder never skips one (the loading
    layer's ``errors="skip"``), because the rows it returns must stay aligned
    with ``X`` and with ``y`` in a pipeline. To leave bad files out, scan
    them first with ``sklearn_echo.signals.scan_signals(paths,
    errors="skip")`` (its ``skipped`` names each one and why) and pass the
    result, or the kept paths, to the embedder.

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
        "dtype": [StrOptions({"float32", "bfloat16", "float16", "int8"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "cache": ["boolean", str, os.PathLike],
        "n_jobs": [Integral, None],
        "progress": ["boolean"],
        "mat_key": [str],
        "csv_columns": [list, tuple, Integral, str, None],
        "backend": [str, os.PathLike],
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
        csv_columns=None,
        backend="torch",
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
        self.csv_columns = csv_columns
        self.backend = backend

    # ------------------------------------------------------------------ helpers
    def __getstate__(self):
        # the resolved checkpoint belongs to this process: a copy resolves again
        # (once) where it is unpickled
        state = super().__getstate__()
        state.pop("_encoder_spec", None)
        return state

    def _spec(self):
        """The resolved checkpoint (`EncoderSpec`): found in ``fit``, never per call.

        It is found again only when ``model`` or ``revision`` changed since, or
        in a process where this embedder was unpickled (once); then the file
        found must have the fitted SHA-256 (`model_fingerprint_`).
        """
        from .echo.pipeline import EncoderSpec

        key = (str(self.model), self.revision)
        held = self.__dict__.get("_encoder_spec")
        spec = held[1] if held is not None and held[0] == key else None
        if spec is None:
            spec = EncoderSpec.resolve(
                self.model, self.revision, device=self.device, dtype=self.dtype,
                backend=os.fspath(self.backend),
            )
            fitted = getattr(self, "model_fingerprint_", None)
            if fitted is not None and spec.fingerprint != fitted:
                raise ValueError(
                    f"model {self.model!r} resolves to {spec.path} with SHA-256 "
                    f"{spec.fingerprint}, but this EchoEmbedder was fitted with a checkpoint "
                    f"of SHA-256 {fitted}: embeddings would not match; use the checkpoint it "
                    "was fitted with or fit again"
                )
        elif (spec.device, spec.dtype, spec.backend) != (
            str(self.device), str(self.dtype), os.fspath(self.backend)
        ):
            spec = type(spec)(
                spec.path, spec.fingerprint, str(self.device), str(self.dtype),
                backend=os.fspath(self.backend),
            )
        else:
            return spec
        self._encoder_spec = (key, spec)
        return spec

    def resolve_model(self):
        """Find this fitted embedder's checkpoint now and check it is the one it was fitted with.

        ``transform`` does this on first use anyway (once per process); call it
        to fail early, for example right after loading a saved detector.

        Returns
        -------
        EncoderSpec
            The checkpoint file, its SHA-256, device, dtype and backend.

        Raises
        ------
        ValueError
            If the checkpoint found has another SHA-256 than `model_fingerprint_`
            (both are named).
        """
        check_is_fitted(self)
        return self._spec()

    def _pipeline(self, cache=None):
        from .echo.pipeline import EmbeddingPipeline

        return EmbeddingPipeline(
            self._spec(),
            batch_size=self.batch_size,
            cache=self.cache if cache is None else cache,
            n_jobs=self.n_jobs,
            progress=self.progress,
        )

    def _load(self, X, sample_rate, *, reset: bool):
        """Validate X through the shared signal-input check; returns `ScannedSignals`."""
        rate = self.sample_rate if sample_rate is None else sample_rate
        return check_echo_input(
            self, X, rate, reset=reset, mat_key=self.mat_key, csv_columns=self.csv_columns
        )

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

    def _layout_matrices(self, infos) -> dict:
        """The band-layout matrix of every sampling rate in ``infos`` (errors name the items)."""
        if self.band_layout == "concat":
            n_slots("concat", [s.sample_rate for s in infos], self._band_width)
        matrices, problems = {}, {}
        for s in infos:
            if s.sample_rate in matrices or s.sample_rate in problems:
                continue
            try:
                matrices[s.sample_rate] = layout_matrix(
                    self.band_layout, s.sample_rate, self.n_slots_, self._band_width,
                    float(self.sample_rates_.min()),
                )
            except ValueError as exc:
                problems[s.sample_rate] = f"{s.source}: {exc}"
        if problems:
            raise SignalError("; ".join(problems.values()))
        return matrices

    def _assemble(self, signals, channels, per_channel, matrices):
        """Apply the band layout per channel and combine channels into rows."""
        grouped: list[list] = [[] for _ in signals]
        for (i, _), vectors in zip(channels, per_channel):
            grouped[i].append(apply_layout(vectors, matrices[signals[i].sample_rate]))
        rows = []
        for parts in grouped:
            if self.multichannel == "mean":
                rows.append(np.mean(parts, axis=0))
            else:
                rows.append(np.concatenate(parts, axis=-1))
        return rows

    def _run(self, scanned, kind: str, cache=None):
        """Rows of ``scanned`` through the pipeline, block by block (``kind``: band_vectors or segments)."""
        infos = scanned.infos
        matrices = self._layout_matrices(infos)
        self._check_channels(infos)
        pipeline = self._pipeline(cache)
        per_channel = 1 if self.multichannel == "first" else None
        sizes = [
            (s.n_samples, s.sample_rate)
            for s in infos
            for _ in range(per_channel or s.n_channels)
        ]
        rows = []
        with pipeline.progress(sizes):
            for block in scanned.blocks(BLOCK_SAMPLES):
                channels = self._channels(block)
                mono = [(data, block[i].sample_rate) for i, data in channels]
                vectors = getattr(pipeline, kind)(mono)
                rows += self._assemble(block, channels, vectors, matrices)
        return rows

    # ------------------------------------------------------------------ sklearn API
    @_fit_context(prefer_skip_nested_validation=True)
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
        for attr in ("n_features_in_", "feature_names_in_", "model_fingerprint_", "_encoder_spec"):
            self.__dict__.pop(attr, None)
        signals = self._load(X, sample_rate, reset=True)
        if not len(signals):
            raise ValueError("EchoEmbedder.fit needs at least one signal; X is empty")
        return signals

    def _fit(self, scanned):
        signals = scanned.infos
        spec = self._spec()
        cfg = spec.load().config
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
        self.model_fingerprint_ = spec.fingerprint
        self.n_features_out_ = self.n_channels_ * self.n_slots_ * self.embed_dim_

    def _check_transform_input(self, X, sample_rate):
        check_is_fitted(self)
        return self._load(X, sample_rate, reset=False)

    def _embed(self, scanned):
        if not scanned.infos:
            return np.zeros((0, self.n_features_out_), dtype=np.float32)
        return np.stack(self._run(scanned, "band_vectors")).astype(np.float32)

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

    @_fit_context(prefer_skip_nested_validation=True)
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
        return self._run(scanned, "segments")

    def stream(self, sample_rate=None, *, window=2.0, hop=1.0, n_channels=None):
        """Embed a live signal window by window (`sklearn_echo.streaming.EmbeddingStream`).

        Parameters
        ----------
        sample_rate : float, optional
            The stream's rate: one of ``sample_rates_`` (default: the embedder's
            ``sample_rate``, or the single rate it was fitted on).
        window : float, default=2.0
            Seconds per analysis window.
        hop : float, default=1.0
            Seconds between window starts.
        n_channels : int, optional
            Channels of the stream (default: those of its first block).

        Returns
        -------
        EmbeddingStream
            ``push(block)`` returns the windows a block completes, each embedded
            exactly as ``transform`` embeds the same samples (without the
            cache, so a day-long stream does not fill it).
        """
        from .streaming import EmbeddingStream

        check_is_fitted(self)
        rate = self.sample_rate if sample_rate is None else sample_rate
        if rate is None:
            if len(self.sample_rates_) != 1:
                raise ValueError(
                    "this embedder was fitted on several sampling rates "
                    f"({', '.join(f'{r:g}' for r in self.sample_rates_)} Hz): pass the "
                    "stream's sample_rate"
                )
            rate = float(self.sample_rates_[0])
        return EmbeddingStream(self, rate, window=window, hop=hop, n_channels=n_channels)

    def _embed_arrays(self, arrays, sample_rate):
        """Rows of in-memory ``(channels, samples)`` arrays at one rate, without the cache."""
        scanned = self._load([(a, sample_rate) for a in arrays], None, reset=False)
        return np.stack(self._run(scanned, "band_vectors", cache=False)).astype(np.float32)

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
