"""int8 products on this CPU: which integer ranges keep them exact, side by side.

Without VNNI, torch's x86 int8 kernels (oneDNN's and fbgemm's) multiply u8
activations by s8 weights with ``vpmaddubsw``, which adds each pair of products
in a saturating 16-bit integer. Three ways to run a linear layer in int8, on
the same weights and activations:

1. ``w8 a8``: 8-bit weights (per output channel) and 8-bit activations (one
   scale per batch): what a CPU with VNNI runs; without VNNI the pair sums
   can saturate;
2. ``w8 a7``: 8-bit weights, 7-bit activations (torch's ``reduce_range``);
3. ``w7 a8``: 7-bit weights, 8-bit activations: what the package runs on a
   CPU without VNNI (`sklearn_echo.echo.quantize.weight_bits`).

Printed for each: the smallest and the median cosine between a layer's output
rows and the float32 product (ECHO-Small's feed-forward shape, 384 -> 1,536,
activations of a LayerNorm-like scale, weights Gaussian and, as trained
weights are, with a few large entries per row), and the best time of the int8
product beside float32's (one thread). Then the same three on a trained
model: the smallest and median band-vector cosine of the int8 encoder to
float32 on the 12 fixture cases (fixture checkpoint; for ``w8 a7`` the layer
calls are replaced by ones that pass torch's ``reduce_range``).

Run::

    python benchmarks/bench_int8_range.py
"""

import argparse
import json
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from sklearn_echo.device import cpu_has_vnni
from sklearn_echo.echo import quantize
from sklearn_echo.echo.checkpoint import load_encoder
from sklearn_echo.echo.pipeline import embed_signals

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "echo_reference"
VARIANTS = {"w8 a8": (8, False), "w8 a7": (8, True), "w7 a8": (7, False)}


def best_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def layer_table(rows, repeats, engine):
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(1536, 384, generator=g) * 0.05
    spikes = torch.randint(0, 384, (1536, 4), generator=g)
    weight.scatter_(1, spikes, torch.randn(1536, 4, generator=g) * 0.5)  # a few large entries
    bias = torch.randn(1536, generator=g) * 0.02
    x = torch.randn(rows, 384, generator=g)
    ref = x @ weight.T + bias
    t_float = best_ms(lambda: x @ weight.T + bias, repeats)
    out = {}
    for name, (bits, reduce_range) in VARIANTS.items():
        w = quantize.Int8Linear(weight, bias, engine, bits=bits).packed
        y = torch.ops.quantized.linear_dynamic(x, w, reduce_range)
        cos = torch.nn.functional.cosine_similarity(y, ref)
        t = best_ms(lambda w=w, rr=reduce_range: torch.ops.quantized.linear_dynamic(x, w, rr), repeats)
        out[name] = (float(cos.min()), float(cos.median()), t, t_float)
    return out


def fixture_cases():
    """The 12 reference cases as ``[(signal, rate)]``."""
    signals = np.load(FIXTURES / "signals.npz")
    cases = json.loads((FIXTURES / "cases.json").read_text())["cases"]
    return [(signals[f"signal_{c['key']}"], float(signals["sample_rates"][i])) for i, c in enumerate(cases)]


@contextmanager
def variant(bits, reduce_range):
    """Encoders quantized inside the block run with ``bits``-bit weights and, with
    ``reduce_range``, 7-bit activations (torch's ``linear_dynamic`` flag; the
    GELU then follows the product instead of being fused into it)."""
    chosen, call, gelu = quantize.weight_bits, quantize.Int8Linear.__call__, quantize.Int8Linear.gelu

    def call_7bit(self, x):
        y = torch.ops.quantized.linear_dynamic(x.float().contiguous(), self.packed, True)
        return y if self.out_dtype == torch.float32 else y.to(self.out_dtype)

    quantize.weight_bits = lambda engine: bits
    if reduce_range:
        quantize.Int8Linear.__call__ = call_7bit
        quantize.Int8Linear.gelu = lambda self, x: torch.nn.functional.gelu(call_7bit(self, x))
    try:
        yield
    finally:
        quantize.weight_bits = chosen
        quantize.Int8Linear.__call__, quantize.Int8Linear.gelu = call, gelu


def encoder_fidelity(bits, reduce_range):
    """Smallest and median band cosine of an int8 encoder to float32 (fixture checkpoint and cases)."""
    model = FIXTURES / "tiny_echo.safetensors"
    f32 = load_encoder(model)
    sigs = fixture_cases()
    dim = f32.config.embed_dim
    with variant(bits, reduce_range):
        int8 = quantize.quantize_encoder(load_encoder(model))
        cos = []
        for a, b in zip(embed_signals(f32, sigs), embed_signals(int8, sigs)):
            x, y = a.utterance.reshape(-1, dim), b.utterance.reshape(-1, dim)
            cos.append((x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)))
    cos = np.concatenate(cos)
    return float(cos.min()), float(np.median(cos))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=4096, help="activation rows of the layer")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    engine = quantize.int8_engine()
    print(f"torch {torch.__version__}, engine {engine}, VNNI: {cpu_has_vnni()}, the package's "
          f"weights here: {quantize.weight_bits(engine)} bits; one thread")
    print(f"\nlinear layer 384 -> 1,536, {args.rows:,} rows:")
    print("| variant | min cosine to float32 | median cosine | int8 (ms) | float32 (ms) | float32 / int8 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (lo, med, t, tf) in layer_table(args.rows, args.repeats, engine).items():
        print(f"| {name} | {lo:.5f} | {med:.6f} | {t:.2f} | {tf:.2f} | {tf / t:.2f}x |")
    print("\nfixture checkpoint, 12 fixture cases, band cosines of the int8 encoder to float32:")
    print("| variant | min cosine | median cosine |")
    print("|---|---:|---:|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name, (bits, reduce_range) in VARIANTS.items():
            lo, med = encoder_fidelity(bits, reduce_range)
            print(f"| {name} | {lo:.5f} | {med:.6f} |")


if __name__ == "__main__":
    main()
