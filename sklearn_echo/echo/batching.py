"""Chunks and batches: from mono signals to encoder outputs, in large batches.

A signal's spectrogram is cut into 2000-frame chunks (the last one overlapping
when the length is not a multiple), every chunk into frequency bands, and every
band becomes one sequence ``[CLS, patch tokens]``. :func:`encode_chunks`
gathers the band sequences of many chunks of many signals, sorts them by length
and runs them through the encoder in large batches; sequences of different
lengths share a batch only when they are close in length, with a key-padding
mask so padded positions never reach a real token. Each chunk's spectrogram is
computed from its own slice of samples, so a 60-minute recording never holds
its whole spectrogram in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch

from .model import EchoEncoder
from .bands import band_plan, n_frames, stft_params
from .spectrogram import echo_spectrogram, frequency_encoding

__all__ = [
    "ChunkJob",
    "EchoOutput",
    "chunk_starts",
    "n_chunks",
    "plan_chunks",
    "encode_chunks",
    "combine_chunks",
    "signal_mean",
    "default_batch_tokens",
]

DEFAULT_BATCH_TOKENS = 16384
CPU_BATCH_TOKENS = 4096


class EchoOutput(NamedTuple):
    """ECHO embeddings of one mono signal.

    utterance : ndarray of shape (n_bands, D)
        Mean over chunks of the per-band CLS outputs.
    segments : ndarray of shape (n_patches_total, n_bands, D) or None
        Patch-token outputs per band; chunks stacked in order.
    """

    utterance: np.ndarray
    segments: np.ndarray | None


@dataclass(frozen=True)
class ChunkJob:
    """One 2000-frame (or shorter) chunk of one signal, with just the samples it needs.

    Attributes
    ----------
    signal : int
        Index of the signal the chunk belongs to.
    chunk : int
        Position of the chunk within its signal.
    samples : ndarray of shape (n,)
        The samples covering this chunk's frames (a view into the signal).
    sample_rate : float
    mean : float
        The whole signal's mean, removed before the STFT (DC removal).
    n_frames : int
        Spectrogram frames in this chunk.
    """

    signal: int
    chunk: int
    samples: np.ndarray
    sample_rate: float
    mean: float
    n_frames: int


def chunk_starts(total_frames: int, chunk_frames: int = 2000) -> list[tuple[int, int]]:
    """``(start_frame, n_frames)`` of every chunk, as the reference cuts them.

    Full chunks ``[i*2000, (i+1)*2000)``, plus the LAST 2000 frames when the
    length is not a multiple (overlapping the previous chunk); a signal
    shorter than one chunk is one chunk.

    Examples
    --------
    >>> from sklearn_echo.echo.batching import chunk_starts
    >>> chunk_starts(498)
    [(0, 498)]
    >>> chunk_starts(2498)
    [(0, 2000), (498, 2000)]
    """
    if total_frames <= chunk_frames:
        return [(0, total_frames)]
    k = total_frames // chunk_frames
    starts = [(i * chunk_frames, chunk_frames) for i in range(k)]
    if total_frames % chunk_frames:
        starts.append((total_frames - chunk_frames, chunk_frames))
    return starts


def n_chunks(n_samples: int, sample_rate: float, chunk_frames: int = 2000) -> int:
    """Number of chunks `chunk_starts` cuts a signal of ``n_samples`` into (0 if too short).

    Examples
    --------
    >>> from sklearn_echo.echo.batching import n_chunks
    >>> n_chunks(16000 * 25, 16000)
    2
    """
    total = n_frames(n_samples, sample_rate)
    return 0 if total < 1 else -(-total // chunk_frames)


def signal_mean(x: np.ndarray) -> float:
    """The DC value removed before the STFT, computed as the reference does (float32 torch mean)."""
    return float(torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32)).mean())


def plan_chunks(
    signals: Sequence[tuple[np.ndarray, float]], chunk_frames: int = 2000
) -> list[ChunkJob]:
    """Cut mono signals into chunk jobs.

    Parameters
    ----------
    signals : sequence of (1-D float32 ndarray, sample_rate)
        Each at least one 25 ms window long (validated upstream).
    chunk_frames : int, default=2000

    Returns
    -------
    list of ChunkJob, grouped by signal and in chunk order.
    """
    jobs = []
    for i, (x, sr) in enumerate(signals):
        total = n_frames(len(x), sr)
        if total < 1:
            n_fft, _ = stft_params(sr)
            raise ValueError(
                f"signal {i} has {len(x)} samples, fewer than one {n_fft}-sample "
                f"(25 ms) window at {sr:g} Hz"
            )
        mean = signal_mean(x)
        n_fft, hop = stft_params(sr)
        for c, (start, count) in enumerate(chunk_starts(total, chunk_frames)):
            a = start * hop
            b = (start + count - 1) * hop + n_fft
            jobs.append(ChunkJob(i, c, x[a:b], float(sr), mean, count))
    return jobs


class _FreqEncodings:
    """Frequency encodings per sampling rate, cached on the encoder's device and dtype."""

    def __init__(self, encoder: EchoEncoder, device, dtype):
        self.dim = encoder.config.embed_dim
        self.band_width = encoder.config.band_width
        self.device, self.dtype = device, dtype
        self._cache: dict[float, tuple] = {}

    def get(self, sr: float):
        hit = self._cache.get(sr)
        if hit is None:
            plan = band_plan(sr, self.band_width)
            fpe = frequency_encoding(plan.positions, self.dim).to(self.device, self.dtype)
            hit = self._cache[sr] = (plan, fpe)
        return hit


def _chunk_patches(job: ChunkJob, plan, patch_width: int, device) -> torch.Tensor:
    """Band patches ``(B, P, band_width * patch_width)`` of one chunk (float32)."""
    spec = echo_spectrogram(job.samples, job.sample_rate, mean=job.mean, device=device)
    t = spec.shape[1]
    bw, b = plan.band_width, plan.n_bands
    whole, rest = divmod(t, patch_width)
    out = spec.new_zeros(b, whole + (rest > 0), bw, patch_width)
    grid = out.permute(0, 2, 1, 3)  # (band, bin, patch, frame): written in place

    def put(dst, src):  # src (bands, bins, t) into dst (bands, bins, patches, frames)
        if whole:
            dst[:, :, :whole] = src[..., : whole * patch_width].unflatten(-1, (whole, patch_width))
        if rest:
            dst[:, :, whole, :rest] = src[..., whole * patch_width :]

    full = bw * (b - 1)
    put(grid[: b - 1], spec[:full].unflatten(0, (b - 1, bw)))
    put(grid[b - 1 :, plan.low_pad :], spec[full:].unsqueeze(0))  # zero rows on its low side
    return out.view(b, out.shape[1], bw * patch_width)


def _batches(lengths: np.ndarray, batch_tokens: int, pad_tolerance: float):
    """Group sequence indices into batches of similar length (longest first)."""
    order = np.argsort(-lengths, kind="stable")
    batch, longest = [], 0
    for idx in order:
        length = int(lengths[idx])
        if batch and (
            (len(batch) + 1) * longest > batch_tokens
            or longest - length > pad_tolerance * longest
        ):
            yield batch, longest
            batch = []
        if not batch:
            longest = length
        batch.append(int(idx))
    if batch:
        yield batch, longest


def default_batch_tokens(device) -> int:
    """Tokens per encoder call when none is given: measured per device type.

    On CPU, batches of about 4096 tokens keep a layer's activations in cache and
    run 13-16% faster than 16384 (``benchmarks/bench_encoder.py --ablate``, see
    the performance guide); GPUs want large batches.

    Examples
    --------
    >>> from sklearn_echo.echo.batching import default_batch_tokens
    >>> default_batch_tokens("cpu"), default_batch_tokens("cuda")
    (4096, 16384)
    """
    return CPU_BATCH_TOKENS if torch.device(device).type == "cpu" else DEFAULT_BATCH_TOKENS


MAX_CPU_WORKERS = 8


def _cpu_workers(device, batch_workers: bool = True) -> tuple[int, int]:
    """``(workers, threads per worker)`` for encoder batches on ``device``.

    On CPU, ``torch.get_num_threads()`` is shared out: one batch per thread, at
    most :data:`MAX_CPU_WORKERS` batches at once (memory grows with each), the
    threads split evenly between them. On GPU, or without ``batch_workers``,
    one batch at a time over all threads.
    """
    threads = max(1, torch.get_num_threads())
    if torch.device(device).type != "cpu" or not batch_workers:
        return 1, threads
    workers = min(threads, MAX_CPU_WORKERS)
    return workers, threads // workers


class _BatchRunner:
    """Runs encoder batches; on CPU in worker threads with a fixed intra-op thread count.

    Two single-threaded batches side by side keep both cores on large matrix
    products with no synchronisation between them; one batch over two threads
    synchronises at every operator (about 40 per layer) and stalls whenever the
    other core is busy (``benchmarks/bench_encoder.py --ablate``).

    Every batch runs with the same number of threads, whatever the number of
    batches, so a signal's embedding does not depend on its batch companions
    (kernels may round differently with another thread count).
    """

    def __init__(self, workers: int, threads_per_worker: int = 1):
        self.workers = workers
        self._pool = None
        self._threads = torch.get_num_threads()
        if workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(
                workers,
                thread_name_prefix="echo-encoder",
                initializer=torch.set_num_threads,
                initargs=(threads_per_worker,),
            )

    def map(self, fn, items):
        if self._pool is None:
            return [fn(item) for item in items]

        def run(item):
            with torch.inference_mode():
                return fn(item)

        return list(self._pool.map(run, items))

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
            # torch.set_num_threads in the workers also changed the process-wide
            # default that new threads start with: put the caller's setting back.
            torch.set_num_threads(self._threads)


@torch.inference_mode()
def encode_chunks(
    encoder: EchoEncoder,
    jobs: Sequence[ChunkJob],
    *,
    segments: bool = False,
    batch_tokens: int | None = None,
    pad_tolerance: float = 0.125,
    batch_workers: bool = True,
    progress=None,
    prepare_workers: bool = True,
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Encode chunk jobs in large batches.

    Parameters
    ----------
    encoder : EchoEncoder
        On its device and in its compute dtype.
    jobs : sequence of ChunkJob
    segments : bool, default=False
        Also return the patch-token outputs. Without them the last layer
        computes only the CLS positions.
    batch_tokens : int, optional
        Tokens (sequences x padded length) per encoder call; bounds memory.
        Defaults to :func:`default_batch_tokens` of the encoder's device
        (4096 on CPU, 16384 on GPU).
    pad_tolerance : float, default=0.125
        Sequences whose lengths differ by at most this fraction of the
        longest share a padded, masked batch; others never do.
    batch_workers : bool, default=True
        On CPU, run ``torch.get_num_threads()`` batches side by side, one
        thread each (measured faster: ``benchmarks/bench_encoder.py --ablate``);
        False runs one batch at a time over all threads.
    progress : tqdm-like, optional
        Updated with the number of chunks finished.
    prepare_workers : bool, default=True
        With batch workers, also compute the chunks' spectrograms in them,
        one chunk per worker thread, instead of in the calling thread over all
        threads (whose small operations wait for each other at every step).

    Returns
    -------
    list of (cls_vectors, segments or None), one per job, float32:
    ``cls_vectors`` has shape (B, D), ``segments`` (P, B, D).

    Notes
    -----
    On CPU, batches run side by side in worker threads that share
    ``torch.get_num_threads()`` (one batch per thread, at most 8 at once), so
    ``torch.set_num_threads`` sets how many cores one call uses. Batches are
    independent and always run with the same thread count, so an embedding
    does not depend on the other signals of the call.
    """
    param = encoder.cls_token
    device, dtype = param.device, param.dtype
    if batch_tokens is None:
        batch_tokens = default_batch_tokens(device)
    cfg = encoder.config
    fenc = _FreqEncodings(encoder, device, dtype)
    results: list = [None] * len(jobs)
    runner = _BatchRunner(*_cpu_workers(device, batch_workers))
    # Gather jobs until a few encoder batches per worker are pending, so that
    # sorting by length can fill batches and the workers share the load; then
    # run them.
    pending: list[tuple[int, torch.Tensor]] = []
    pending_tokens = 0
    window = max(4, 4 * runner.workers) * batch_tokens

    def flush():
        nonlocal pending, pending_tokens
        if not pending:
            return
        seqs, owners = [], []
        for j, seq in pending:
            for band in range(seq.shape[0]):
                seqs.append(seq[band])
                owners.append((j, band))
        lengths = np.array([s.shape[0] for s in seqs])

        def run(item):
            batch, longest = item
            blens = lengths[batch]
            if (blens == longest).all():
                x = torch.stack([seqs[i] for i in batch])
                y = encoder(x, cls_only=not segments)
            else:
                x = seqs[batch[0]].new_zeros(len(batch), longest, cfg.embed_dim)
                for r, i in enumerate(batch):
                    x[r, : lengths[i]] = seqs[i]
                y = encoder(x, torch.as_tensor(blens, device=device), cls_only=not segments)
            return y.float().cpu()

        # Equal-sized batches, as many as it takes to stay within batch_tokens,
        # rounded up to a multiple of the workers so that none waits for the
        # others at the end.
        tokens = int(lengths.sum())
        calls = -(-max(1, -(-tokens // batch_tokens)) // runner.workers) * runner.workers
        plan = list(_batches(lengths, max(1, -(-tokens // calls)), pad_tolerance))
        outs: list = [None] * len(seqs)
        for (batch, _), y in zip(plan, runner.map(run, plan)):
            for r, i in enumerate(batch):
                outs[i] = y[r] if not segments else y[r, : lengths[i]]
        # Reassemble per job: bands in order.
        per_job: dict[int, list] = {}
        for (j, band), out in zip(owners, outs):
            per_job.setdefault(j, []).append(out)
        for j, bands in per_job.items():
            if segments:
                stacked = torch.stack(bands)  # (B, 1 + P, D)
                cls = stacked[:, 0].numpy()
                seg = stacked[:, 1:].permute(1, 0, 2).numpy()  # (P, B, D)
                results[j] = (cls, np.ascontiguousarray(seg))
            else:
                results[j] = (torch.stack(bands).numpy(), None)
        if progress is not None:
            progress.update(len(per_job))
        pending, pending_tokens = [], 0

    def sequences_of(j):
        job = jobs[j]
        plan, freq = fenc.get(job.sample_rate)
        return encoder.embed(_chunk_patches(job, plan, cfg.patch_width, device).to(dtype), freq)

    def prepare_window(todo):
        # With worker threads, each computes whole chunks' spectrograms and band
        # sequences (the patch projection included) on its one thread: no intra-op
        # synchronisation on their small operations, and no worker idle while the
        # calling thread projects patches.
        nonlocal pending, pending_tokens
        if prepare_in_workers:
            sequences = runner.map(sequences_of, todo)
        else:
            sequences = (sequences_of(j) for j in todo)
        pending.extend(zip(todo, sequences))
        pending_tokens = sum(seq.shape[0] * seq.shape[1] for _, seq in pending)

    prepare_in_workers = runner.workers > 1 and prepare_workers
    try:
        todo, todo_tokens = [], 0
        for j, job in enumerate(jobs):
            todo.append(j)
            todo_tokens += _sequence_tokens(job, fenc, cfg.patch_width)
            if todo_tokens >= window:
                prepare_window(todo)
                todo, todo_tokens = [], 0
                flush()
        prepare_window(todo)
        flush()
    finally:
        runner.close()
    return results


def _sequence_tokens(job: ChunkJob, fenc, patch_width: int) -> int:
    """Tokens of a chunk's band sequences (bands x (CLS + patches)), known before any STFT."""
    plan, _ = fenc.get(job.sample_rate)
    return plan.n_bands * (1 + math.ceil(job.n_frames / patch_width))


def combine_chunks(
    jobs: Sequence[ChunkJob], encoded: Sequence[tuple], n_signals: int
) -> list[EchoOutput]:
    """Per signal: mean of the chunks' CLS vectors and, if present, stacked segments."""
    groups: list[list[int]] = [[] for _ in range(n_signals)]
    for j, job in enumerate(jobs):
        groups[job.signal].append(j)
    outputs = []
    for i, idx in enumerate(groups):
        if not idx:
            raise ValueError(f"signal {i} produced no chunk")
        idx.sort(key=lambda j: jobs[j].chunk)
        utt = np.mean(np.stack([encoded[j][0] for j in idx]), axis=0, dtype=np.float64)
        seg = None
        if encoded[idx[0]][1] is not None:
            seg = np.concatenate([encoded[j][1] for j in idx], axis=0)
        outputs.append(EchoOutput(utt.astype(np.float32), seg))
    return outputs
