"""Where the time of a bfloat16 ``embed_signals`` run goes, beside the tight bound's parts.

``bench_encoder.py --ceiling`` bounds the pipeline from below with every kernel
timed alone (products, attention, LayerNorm and GELU, spectrograms). This script
runs the pipeline itself, ECHO-Small with the benchmark's seeded weights in
bfloat16 on the same workloads, and times its parts where they run: the
encoder's kernel functions (`sklearn_echo.echo.model` calls them by name, so
they are wrapped there, in this process only), LayerNorm, the encoder's
forward pass per batch worker, and the two stages of `encode_chunks`
(spectrograms and band sequences in the workers, then the encoder batches).

Printed per workload:

* the best wall time of ``--repeats`` plain runs, and the wall time of the
  timed run (the timers add a little);
* the two stages' wall times, and each batch worker's busy time in the
  encoder (their difference is time one worker waits for the other);
* thread-seconds per operation, summed over the workers and divided by their
  number (comparable with wall time): each weight product with its fused
  epilogue and its speed per thread, attention, LayerNorm, the rest of the
  layers, and the encoder's work outside its layers;
* the tight bound's parts from the ``--ceiling`` functions, measured in the
  same process: the four weight products at their best rate alone (per
  thread beside the pipeline's), attention with the fastest kernel,
  the elementwise work, the spectrograms.

Then, per workload, the spectrograms and band patches of every chunk two ways on one
thread (`band_patch_steps`): the pipeline's (`sklearn_echo.echo.batching._chunk_patches`)
and the reference's steps (``reference_loop.ReferenceEcho.log_magnitude``: ``stft(...).abs()``
and an out-of-place log; then its ``band_images``, cut into patches), with a check that both
give bitwise the same patches.

Then one layer's input projection and attention on one batch (`head_major_projection`):
the encoder's projection and packed attention beside a projection that writes the
heads head-major and attention on those contiguous heads.

Run::

    python benchmarks/profile_encoder.py                    # both workloads
    python benchmarks/profile_encoder.py --workloads mixed --repeats 3
    python benchmarks/profile_encoder.py --threads 1 --workloads clips16k
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from bench_encoder import (
    WORKLOAD_TITLES,
    attention_seconds,
    audio_seconds,
    build_models,
    elementwise_per_layer,
    elementwise_seconds_per_token,
    gemm_seconds_per_token,
    layer_product_flops,
    spectrogram_seconds,
    tight_parts,
    workload,
    workload_lengths,
)
from timed_calls import timed_calls

from sklearn_echo.echo import batching, model
from sklearn_echo.echo.model import EchoConfig
from sklearn_echo.echo.pipeline import embed_signals

PRODUCTS = ["in_proj", "out_proj + residual", "linear1 + GELU", "linear2 + residual",
            "query projection (last layer)"]


def _product(kind):
    """Label and FLOPs of a weight product ``x @ W.T`` (x: (..., in), W: (out, in))."""

    def label_of(args):
        x, weight = args[0], args[1]
        out, inp = weight.shape
        if kind == "linear":
            label = "in_proj" if out == 3 * inp else "query projection (last layer)"
        elif kind == "linear_add":
            label = "out_proj + residual" if out == inp else "linear2 + residual"
        else:
            label = "linear1 + GELU"
        return label, 2.0 * (x.numel() // x.shape[-1]) * out * inp

    return label_of


def _stage(args):
    """The stage of a `_BatchRunner.map` call: band sequences, or encoder batches."""
    return ("band sequences" if args[1].__name__ == "sequences_of" else "encoder batches"), None


# The pipeline's parts, wrapped where `sklearn_echo.echo.model` and `batching` call them.
TARGETS = [
    *((model, kind, _product(kind)) for kind in ("linear", "linear_add", "linear_gelu")),
    (model, "packed_attention", "attention"),
    (torch.nn.LayerNorm, "forward", "LayerNorm"),
    (model._EncoderLayer, "forward", "layers"),
    (model.EchoEncoder, "forward", "encoder forward"),
    (batching._BatchRunner, "map", _stage),
]


def profile(name, enc, repeats, config, rate, elementwise):
    """Time one workload's parts; ``rate`` and ``elementwise`` are the bound's measured rates."""
    sigs = workload(name, False)
    seconds = audio_seconds(sigs)
    embed_signals(enc, sigs)  # warm-up
    plain = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        embed_signals(enc, sigs)
        plain = min(plain, time.perf_counter() - t0)
    with timed_calls(TARGETS) as calls:
        t0 = time.perf_counter()
        embed_signals(enc, sigs)
        timed = time.perf_counter() - t0
    total, per_thread, flops = defaultdict(float), defaultdict(float), defaultdict(float)
    for label, thread, start, end, extra in calls:
        total[label] += end - start
        per_thread[label, thread] += end - start
        flops[label] += extra or 0.0
    busy = sorted(s for (label, _), s in per_thread.items() if label == "encoder forward")
    workers = max(1, len(busy))
    lengths = workload_lengths(sigs, config)
    attention, _ = attention_seconds(lengths, config, repeats)
    parts = tight_parts(sum(lengths), config, rate, rate, elementwise, attention,
                        spectrogram_seconds(sigs, config, repeats))
    bound = sum(parts.values())

    print(f"\n== {WORKLOAD_TITLES[name]}: {seconds:.0f} s of audio, bfloat16, {workers} batch worker(s) ==")
    print(f"plain run (best of {repeats}): {plain:6.3f} s   timed run: {timed:6.3f} s   "
          f"tight bound: {bound:6.3f} s ({100 * bound / plain:.0f}% of the plain run)")
    stages = {k: total[k] for k in ("band sequences", "encoder batches") if k in total}
    print("stages (wall): " + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items())
          + f"; the rest {timed - sum(stages.values()):.3f} s")
    print("encoder busy per worker: " + ", ".join(f"{b:.3f} s" for b in busy)
          + (f" (the first waits {busy[-1] - busy[0]:.3f} s for the last)" if len(busy) > 1 else ""))

    print(f"{'operation (thread-s / workers)':34s} {'seconds':>8s} {'share':>6s}  speed per thread")
    rows = {label: total[label] / workers for label in PRODUCTS + ["attention", "LayerNorm"]}
    layers = total["layers"] / workers
    forward = total["encoder forward"] / workers
    rows["rest of the layers"] = layers - sum(rows.values())
    rows["encoder outside its layers"] = forward - layers
    for label, s in rows.items():
        speed = f"{flops[label] / (s * workers) / 1e9:6.0f} GFLOP/s" if flops[label] else ""
        print(f"  {label:32s} {s:8.3f} {100 * s / timed:5.1f}%  {speed}")
    print(f"  {'encoder forward, all':32s} {forward:8.3f} {100 * forward / timed:5.1f}%")
    threads = torch.get_num_threads()
    print("tight bound's parts: " + ", ".join(f"{k} {v:.3f} s" for k, v in parts.items())
          + f"; its weight products alone at {rate / threads / 1e9:.0f} GFLOP/s per thread "
          f"({rate / 1e9:.0f} over {threads} threads)")


def _reference_patches(job, config):
    """One chunk's band patches ``(B, P, band_width * patch_width)`` by the reference's steps.

    ``ReferenceEcho.log_magnitude`` (``stft(...).abs()``, then an out-of-place log
    and normalisation) of the chunk less the mean of its whole signal, as the
    pipeline subtracts it; then ``ReferenceEcho.band_images``, the bands and
    frames as the reference pads them before its patch projection, flattened
    patch by patch.
    """
    from reference_loop import ReferenceEcho

    x = torch.as_tensor(job.samples) - torch.tensor(job.mean, dtype=torch.float32)
    spec = ReferenceEcho.log_magnitude(x, job.sample_rate)
    bw, pw = config.band_width, config.patch_width
    images = ReferenceEcho.band_images(spec, bw, pw)  # (B, 1, bw, P * pw)
    b = images.shape[0]
    return images.view(b, bw, -1, pw).permute(0, 2, 1, 3).reshape(b, -1, bw * pw)


def band_patch_steps(name, config, repeats):
    """The spectrograms and band patches of a workload's chunks, the pipeline's way and the
    reference's, one thread, interleaved, best of ``repeats``; and whether they are equal."""
    from sklearn_echo.echo.bands import band_plan
    from sklearn_echo.echo.batching import _chunk_patches, plan_chunks

    jobs = plan_chunks(workload(name, False), config.chunk_frames)
    plans = {sr: band_plan(sr, config.band_width) for sr in {j.sample_rate for j in jobs}}
    cpu = torch.device("cpu")

    def pipeline():
        return [_chunk_patches(j, plans[j.sample_rate], config.patch_width, cpu) for j in jobs]

    def reference():
        return [_reference_patches(j, config) for j in jobs]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        equal = all(torch.equal(a, b) for a, b in zip(pipeline(), reference()))
        best = {"pipeline": float("inf"), "reference": float("inf")}
        for _ in range(max(3, repeats)):
            for label, fn in (("pipeline", pipeline), ("reference", reference)):
                t0 = time.perf_counter()
                fn()
                best[label] = min(best[label], time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    print(f"\n== spectrograms and band patches of the {len(jobs)} chunks of {WORKLOAD_TITLES[name]}, "
          f"one thread, best of {max(3, repeats)} ==")
    print(f"  the pipeline's (_chunk_patches)   {best['pipeline']:7.3f} s")
    print(f"  the reference's steps             {best['reference']:7.3f} s "
          f"({best['reference'] / best['pipeline']:.2f}x the pipeline's); bitwise equal: {equal}")


def _best_ms(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best


def head_major_projection(config, repeats, n=32, length=126):
    """The input projection and attention of one layer, two ways, on one batch.

    The encoder projects with one oneDNN product into (N * L, 3 D), queries,
    keys and values of every head side by side, and runs attention on it
    (`packed_attention`; also timed with each head's keys read in place
    instead of copied into a contiguous block, ``KernelOptions(contiguous_keys=False)``).
    The tight bound times attention on heads already
    laid out head-major; a projection could write that layout itself, as one
    batched product of the tokens with each head's weights, (3 H, N * L, hd),
    after which attention reads contiguous heads. Both in bfloat16 on one
    thread, as each batch worker runs a batch.
    """
    from sklearn_echo.echo.kernels import (
        KernelOptions,
        attention,
        linear,
        packed_attention,
    )

    d, h = config.embed_dim, config.num_heads
    hd = d // h
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n * length, d, generator=g).to(torch.bfloat16)
    w = (torch.randn(3 * d, d, generator=g) * 0.05).to(torch.bfloat16)
    b = torch.zeros(3 * d, dtype=torch.bfloat16)
    w_heads = w.view(3 * h, hd, d).transpose(1, 2).contiguous()  # (3 H, D, hd)
    b_heads = b.view(3 * h, 1, hd)

    def packed_project():
        return linear(x, w, b)

    def head_major_project():
        return torch.baddbmm(b_heads, x.expand(3 * h, n * length, d), w_heads)

    in_place = KernelOptions(contiguous_keys=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            qkv = packed_project()
            heads = head_major_project().view(3, h, n, length, hd).transpose(1, 2)
            q, k, v = (t.contiguous() for t in heads.unbind(0))  # (N, H, L, hd)
            rows = {
                "projection, one product into (N L, 3 D)": _best_ms(packed_project, repeats),
                "projection, batched per head into (3 H, N L, hd)": _best_ms(head_major_project, repeats),
                "attention on the packed projection (the encoder's)":
                    _best_ms(lambda: packed_attention(qkv, n, length, h, None), repeats),
                "attention on the packed projection, keys read in place": _best_ms(
                    lambda: packed_attention(qkv, n, length, h, None, in_place), repeats),
                "attention on contiguous heads": _best_ms(lambda: attention(q, k, v, None), repeats),
            }
    finally:
        torch.set_num_threads(threads)
    print(f"\n== one layer's input projection and attention, {n} sequences x {length} tokens, "
          f"bfloat16, one thread, best of {repeats} ==")
    for label, ms in rows.items():
        print(f"  {label:54s} {ms:7.2f} ms")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="clips16k,mixed", help="comma-separated: clips16k, mixed")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (1: one batch worker on one thread)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = EchoConfig()
    enc = build_models("cpu", ("c",))["c"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    per_token, _ = gemm_seconds_per_token(config, torch.bfloat16, args.repeats)
    rate = layer_product_flops(config) / per_token
    elementwise = elementwise_per_layer(elementwise_seconds_per_token(config, torch.bfloat16, args.repeats))
    for name in args.workloads.split(","):
        profile(name.strip(), enc, args.repeats, config, rate, elementwise)
        band_patch_steps(name.strip(), config, args.repeats)
    for n, length in ((32, 126), (64, 64)):
        head_major_projection(config, max(5, args.repeats), n, length)


if __name__ == "__main__":
    main()
