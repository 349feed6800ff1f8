"""The embedding pipeline: validated mono signals in, per-band vectors (and segments) out.

Every caller embeds through `EmbeddingPipeline`: `sklearn_echo.EchoEmbedder`
(``transform`` and ``transform_segments``), `embed_signals` and the commands.
It owns what lies between checked samples and encoder outputs:

1. cache look-ups (`sklearn_echo.echo.cache`: the same samples under the same
   checkpoint and settings are never embedded twice),
2. chunk planning and batching over the encoder (`sklearn_echo.echo.batching`),
3. ``n_jobs`` worker processes (joblib; each loads the model once),
4. the progress bar, which spans every block of a call.

The checkpoint is resolved before a pipeline is made (`EncoderSpec.resolve`),
so a pipeline never asks the Hub anything; the encoder itself is loaded once
per process (`sklearn_echo.echo.checkpoint.cached_encoder`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..device import effective_n_jobs
from .batching import EchoOutput, combine_chunks, encode_chunks, n_chunks, plan_chunks
from .bands import WINDOW_SECONDS
from .cache import content_key, memory_cache
from .checkpoint import cached_encoder, checkpoint_fingerprint, resolve_checkpoint

__all__ = ["EncoderSpec", "EmbeddingPipeline", "embed_signals"]


@dataclass(frozen=True)
class EncoderSpec:
    """A resolved checkpoint file and how to run it; small, picklable, loaded once per process.

    Attributes
    ----------
    path : str
        The checkpoint file (``.safetensors`` or ``.pth``).
    fingerprint : str
        SHA-256 of the file.
    device : str, default="auto"
    dtype : str, default="float32"
        ``"float32"``, ``"bfloat16"``, ``"float16"`` (GPU) or ``"int8"`` (CPU).
    num_heads : int or None, default=None
    backend : str, default="torch"
        ``"torch"``, ``"onnxruntime"`` or an exported ``.onnx`` file (see
        `sklearn_echo.echo.checkpoint.cached_encoder`).

    Examples
    --------
    >>> from sklearn_echo.echo.pipeline import EncoderSpec
    >>> spec = EncoderSpec.resolve("../shared/fixtures/echo_reference/tiny_echo.safetensors")
    >>> spec.load().config.embed_dim
    128
    """

    path: str
    fingerprint: str
    device: str = "auto"
    dtype: str = "float32"
    num_heads: int | None = None
    backend: str = "torch"

    @classmethod
    def resolve(
        cls, model, revision=None, *, device="auto", dtype="float32", num_heads=None,
        cache_dir=None, backend="torch",
    ) -> EncoderSpec:
        """Find the checkpoint once (Hub id, alias, folder or file; see `resolve_checkpoint`)."""
        path = resolve_checkpoint(model, revision, cache_dir=cache_dir)
        return cls(
            str(path), checkpoint_fingerprint(path), str(device), str(dtype), num_heads,
            str(backend) if backend is not None else "torch",
        )

    def load(self):
        """The encoder, on its device and in its dtype, loaded once per process."""
        return cached_encoder(
            self.path, num_heads=self.num_heads, device=self.device, dtype=self.dtype,
            backend=self.backend,
        )


def _encode_group(spec: EncoderSpec, jobs, segments: bool, batch_tokens):
    """Worker side of ``n_jobs``: load the model once per process, encode some chunks."""
    return encode_chunks(spec.load(), jobs, segments=segments, batch_tokens=batch_tokens)


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


class EmbeddingPipeline:
    """Per-band ECHO vectors of validated mono signals, through the cache, in batches.

    Parameters
    ----------
    encoder : EncoderSpec or EchoEncoder
        The model: a spec (worker processes load it themselves) or an encoder
        already loaded in this process (then ``n_jobs`` must be 1).
    batch_size : int, optional
        Band sequences of a full 20 s chunk per encoder call (memory bound);
        ``None`` uses the device's default (`sklearn_echo.echo.batching.default_batch_tokens`).
    cache : bool or path-like, default=True
        Look up and store embeddings in the process-wide cache; a folder also
        persists them there.
    n_jobs : int, optional
        Worker processes (scikit-learn's meaning: ``None`` is 1 unless a
        joblib context says otherwise, ``-1`` every core).
    progress : bool, default=False
        Show a progress bar over chunks (see `progress`).
    batch_workers : bool, default=True
        On CPU, batches side by side one thread each (see `encode_chunks`).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.echo.pipeline import EmbeddingPipeline, EncoderSpec
    >>> spec = EncoderSpec.resolve("../shared/fixtures/echo_reference/tiny_echo.safetensors")
    >>> pipe = EmbeddingPipeline(spec, cache=False)
    >>> x = np.random.default_rng(0).standard_normal(16000).astype("float32")
    >>> [v.shape for v in pipe.band_vectors([(x, 16000.0)])]
    [(7, 128)]
    >>> [s.shape for s in pipe.segments([(x, 16000.0)])]
    [(7, 7, 128)]
    """

    def __init__(
        self, encoder, *, batch_size=None, cache=True, n_jobs=None, progress=False,
        batch_workers=True,
    ):
        self.spec = encoder if isinstance(encoder, EncoderSpec) else None
        self._loaded = None if self.spec is not None else encoder
        self.batch_size = batch_size
        self.cache = cache
        self.n_jobs = n_jobs
        self.show_progress = progress
        self.batch_workers = batch_workers
        self._bar = None
        if self._loaded is not None and effective_n_jobs(n_jobs) > 1:
            raise ValueError(
                "n_jobs > 1 needs an EncoderSpec (worker processes load the model "
                "themselves), not an encoder loaded in this process"
            )

    # ------------------------------------------------------------------ the model
    @property
    def encoder(self):
        """The encoder in this process (loaded on first use, once per process)."""
        if self._loaded is None:
            return self.spec.load()
        return self._loaded

    @property
    def config(self):
        """The encoder's `EchoConfig`."""
        return self.encoder.config

    def _settings(self, kind: str) -> str:
        enc = self.encoder
        # int8 and onnxruntime encoders keep float32 parameters: they name their precision
        # (int8 with 7-bit weights, on CPUs without VNNI, gives other numbers: named too)
        dtype = getattr(enc, "precision", None) or str(enc.cls_token.dtype).replace("torch.", "")
        if getattr(enc, "weight_bits", 8) != 8:
            dtype += f"-w{enc.weight_bits}"
        key = f"{getattr(enc, 'fingerprint', '')}|{dtype}|{enc.cls_token.device.type}"
        return key if kind == "utterance" else f"{key}|{kind}"

    # ------------------------------------------------------------------ progress
    @contextlib.contextmanager
    def progress(self, signals):
        """A progress bar over the chunks of ``signals`` for the calls made inside the block.

        ``signals`` are ``(n_samples, sample_rate)`` pairs of every mono signal
        the block will embed (computed or found in the cache). Nothing is shown
        unless the pipeline was made with ``progress=True``.
        """
        if not self.show_progress or self._bar is not None:
            yield None
            return
        from tqdm.auto import tqdm

        frames = self.config.chunk_frames
        total = sum(n_chunks(n, sr, frames) for n, sr in signals)
        self._bar = tqdm(total=total, desc="ECHO", unit="chunk")
        try:
            yield self._bar
        finally:
            self._bar.close()
            self._bar = None

    # ------------------------------------------------------------------ embedding
    def band_vectors(self, signals: Sequence[tuple[np.ndarray, float]]) -> list[np.ndarray]:
        """Utterance vectors ``(B, D)`` of mono signals: the mean over chunks of each band's CLS output."""
        return self._embed(signals, "utterance")

    def segments(self, signals: Sequence[tuple[np.ndarray, float]]) -> list[np.ndarray]:
        """Segment vectors ``(P, B, D)``: every patch token (160 ms) of every band, chunks in order."""
        return self._embed(signals, "segments")

    def _embed(self, signals, kind: str) -> list[np.ndarray]:
        directory = None if isinstance(self.cache, bool) else os.fspath(self.cache)
        use_cache = self.cache is not False
        dim = self.config.embed_dim
        settings = self._settings(kind) if use_cache else None
        out: list = [None] * len(signals)
        keys: list = [None] * len(signals)
        todo, cached_chunks = [], 0
        for i, (data, rate) in enumerate(signals):
            if use_cache:
                keys[i] = content_key(data, rate, settings)
                hit = memory_cache.get(keys[i], directory)
                if hit is not None:
                    out[i] = hit.reshape(-1, dim) if kind == "utterance" else hit
                    cached_chunks += n_chunks(data.shape[-1], rate, self.config.chunk_frames)
                    continue
            todo.append(i)
        if self._bar is not None and cached_chunks:
            self._bar.update(cached_chunks)
        if todo:
            mono = [signals[i] for i in todo]
            jobs = plan_chunks(mono, self.config.chunk_frames)
            encoded = self._encode(jobs, kind == "segments")
            for i, result in zip(todo, combine_chunks(jobs, encoded, len(todo))):
                out[i] = result.utterance if kind == "utterance" else result.segments
                if use_cache:
                    memory_cache.put(keys[i], out[i], directory)
        return out

    def _batch_tokens(self):
        if self.batch_size is None:
            return None
        return int(self.batch_size) * (self.config.max_patches + 1)

    def _encode(self, jobs, segments: bool):
        """Encode chunk jobs, in this process or over ``n_jobs`` worker processes."""
        batch_tokens = self._batch_tokens()
        workers = effective_n_jobs(self.n_jobs)
        if workers == 1 or len(jobs) < 2:
            return encode_chunks(
                self.encoder, jobs, segments=segments, batch_tokens=batch_tokens,
                batch_workers=self.batch_workers, progress=self._bar,
            )
        from joblib import Parallel, delayed

        groups = _split_balanced(jobs, min(workers, len(jobs)))
        parts = Parallel(n_jobs=self.n_jobs, verbose=10 if self.show_progress else 0)(
            delayed(_encode_group)(self.spec, [jobs[j] for j in g], segments, batch_tokens)
            for g in groups
        )
        out: list = [None] * len(jobs)
        for g, part in zip(groups, parts):
            for j, r in zip(g, part):
                out[j] = r
        if self._bar is not None:
            self._bar.update(len(jobs))
        return out


def embed_signals(
    encoder,
    signals: Sequence[tuple[np.ndarray, float]],
    *,
    segments: bool = False,
    batch_tokens: int | None = None,
    progress=None,
) -> list[EchoOutput]:
    """Embed mono signals of any lengths and sampling rates in one batched pass.

    Parameters
    ----------
    encoder : EchoEncoder
    signals : sequence of (1-D float32 ndarray, sample_rate)
    segments : bool, default=False
        Also return segment-level (patch token) outputs.
    batch_tokens : int, optional
        Tokens per encoder call (default: 4096 on CPU, 16384 on GPU).
    progress : tqdm-like, optional
        Advanced by one per chunk.

    Returns
    -------
    list of EchoOutput
        ``utterance`` of shape ``(B * D,)`` (bands side by side) and
        ``segments`` of shape ``(P, B * D)`` or None.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.echo.checkpoint import load_encoder
    >>> from sklearn_echo.echo.pipeline import embed_signals
    >>> enc = load_encoder("../shared/fixtures/echo_reference/tiny_echo.safetensors")
    >>> rng = np.random.default_rng(0)
    >>> sigs = [(rng.standard_normal(16000).astype("float32"), 16000),
    ...         (rng.standard_normal(24000).astype("float32"), 12000)]
    >>> [o.utterance.shape for o in embed_signals(enc, sigs)]
    [(896,), (640,)]
    """
    mono = _validated_mono(signals)
    jobs = plan_chunks(mono, encoder.config.chunk_frames)
    encoded = encode_chunks(
        encoder, jobs, segments=segments, batch_tokens=batch_tokens, progress=progress
    )
    outputs = []
    for o in combine_chunks(jobs, encoded, len(mono)):
        seg = None if o.segments is None else o.segments.reshape(o.segments.shape[0], -1)
        outputs.append(EchoOutput(o.utterance.reshape(-1), seg))
    return outputs


def _validated_mono(signals) -> list[tuple[np.ndarray, float]]:
    """Check ``(samples, rate)`` pairs with the loading layer's rules (naming the item)."""
    from ..signals import SignalError, load_signals

    checked = load_signals(list(signals), min_duration=WINDOW_SECONDS)
    multi = [f"{s.source} has {s.data.shape[0]} channels" for s in checked if s.data.shape[0] != 1]
    if multi:
        raise SignalError(
            "embed_signals takes mono signals (EchoEmbedder handles multichannel ones): "
            + "; ".join(multi[:10])
        )
    return [(s.data[0], s.sample_rate) for s in checked]
