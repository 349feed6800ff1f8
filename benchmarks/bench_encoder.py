"""ECHO encoder speed: the faithful reference loop against ``embed_signals``, side by side.

Methods (ECHO-Small architecture, random weights, seeded; the same weights in all of them):

  (a) reference  the reference extraction loop (``reference_loop.py``): one signal at a
                 time, whole-signal spectrogram, chunks one after another, all bands of a
                 chunk batched, torch's ``nn.TransformerEncoder`` (fast path), every token
                 through the final norm (utterance and segments), float32.
  (b) fp32       ``sklearn_echo.echo.pipeline.embed_signals`` in float32, utterance only
                 (what ``EchoEmbedder.transform`` computes by default).
  (c) bf16       the same in bfloat16 (``encoder.to(torch.bfloat16)``).
  (d) int8       the same with int8 linear layers (``quantize_encoder``, as dtype="int8").
  (e) onnxruntime the same pipeline with the Transformer in onnxruntime, float32 ("e")
                 and int8 ("e8") (``load_onnx_encoder``, as backend="onnxruntime"); skipped
                 when onnxruntime is not installed.

The main run also prints the fidelity of int8 (torch and onnxruntime) to float32: the
smallest per-band cosine on the 12 fixture cases and on an ECHO-Small-sized model holding
the fixture's trained weights tiled to size, and, with the fixture checkpoint, k-NN
accuracy on CWRU (1 s windows, 6 folds grouped by record) and anomaly AUC on the MIMII
fan clips (10 normal clips as the bank), float32 against int8.

Workloads: 64 clips of 10 s at 16 kHz, and a mixed set (12/16/44.1/48 kHz, 1 to 30 s,
40 signals, seeded). Runs are interleaved (a, b, c, then b, c, a, ...) so that all
methods see the same machine load. Columns: xRT of the best and of the median run;
"ratio best" = best (a) time / best time; "ratio paired" = median over repeats of the
ratio of (a)'s time to the method's time in the same repeat (adjacent runs, so a
drifting machine load cancels); "xRT/CPU-s" = audio seconds per second of process CPU
time (best run; threads waiting on each other count as busy).

x-real-time (xRT) = seconds of audio per second of wall-clock compute.

Ceiling (``--ceiling``): how fast any bfloat16 (and int8) encoder could be on this CPU,
on the workloads' real sequence lengths, every layer but the CLS-only last one. Two
bounds, printed side by side:

  products alone  every FLOP of a layer (projections, feed-forward block and attention's
                  two products, ``4 L D`` per token) and the patch projection at the best
                  measured speed of a layer's large bfloat16 products; softmax, norms,
                  GELU and residual additions left out. No bfloat16 encoder can be faster.
  tight           the four weight products at that same rate, plus attention (scores,
                  softmax, weighted sum) timed per sequence length with the fastest of
                  torch SDPA, baddbmm + float32 or bfloat16 softmax + bmm on contiguous
                  heads, and the pipeline's head-by-head kernel on the packed
                  projection (float32 or bfloat16 softmax), plus each layer's elementwise work (two LayerNorms, the
                  GELU, two residual additions), each timed alone at its best, plus
                  the spectrograms and band patches (the pipeline's own function on one
                  thread, divided by the thread count): the encoder built from the
                  fastest measured kernels.

Each prints (a)'s time over the bound (the ceiling of (c)/(a)) and the share of the
bound (c) reaches; the tight one also its breakdown (products / attention /
elementwise / spectrograms). For (d) the weight products run at the int8 rate, attention in bfloat16
and the elementwise work in float32, as in the int8 encoder.

Peak memory: every (method, workload) pair is also run once in a fresh subprocess;
"peak RSS" is that process's high-water resident set (``VmHWM`` in /proc/self/status,
falling back to ``resource.getrusage``): the whole process, i.e. interpreter, torch,
sklearn_echo, one model and the workload's signals. "run +" is the peak minus the RSS
measured just before the run (the method's own working memory). On CUDA the
peak of ``torch.cuda.max_memory_allocated`` is printed as well.

Usage::

    python benchmarks/bench_encoder.py                 # full benchmark (~10 min on 2 cores)
    python benchmarks/bench_encoder.py --quick         # smoke test, < 1 minute
    python benchmarks/bench_encoder.py --long          # 60 min at 48 kHz, peak RSS
    python benchmarks/bench_encoder.py --ablate        # each fast path on/off, batch sizes
    python benchmarks/bench_encoder.py --ablate --ablate-workload mixed --ablate-methods c
    python benchmarks/bench_encoder.py --ceiling       # the fastest any bf16 / int8 encoder could be (two bounds)
    python benchmarks/bench_encoder.py --methods a,c,d # a subset of the methods
    python benchmarks/bench_encoder.py --repeats 5 --threads 2 --device cpu
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reference_loop import ReferenceEcho, check_against_fixture

from sklearn_echo.echo.bands import band_plan
from sklearn_echo.echo.batching import (
    _BatchRunner,
    _chunk_patches,
    combine_chunks,
    default_batch_tokens,
    encode_chunks,
    plan_chunks,
)
from sklearn_echo.echo.kernels import KernelOptions, _can_prepack, attention, linear, packed_attention
from sklearn_echo.echo.model import EchoConfig, EchoEncoder
from sklearn_echo.echo.pipeline import embed_signals
from sklearn_echo.echo.quantize import Int8Linear, quantize_encoder

CWRU_48K = HERE.parent / ".." / "shared" / "data" / "cwru" / "normal" / "normal_0_97.mat"
ALL_METHODS = ("a", "b", "c", "d", "e", "e8")
METHODS = ALL_METHODS
LABELS = {
    "a": "(a) reference loop fp32",
    "b": "(b) embed_signals fp32",
    "c": "(c) embed_signals bf16",
    "d": "(d) embed_signals int8",
    "e": "(e) onnxruntime fp32",
    "e8": "(e) onnxruntime int8",
}


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


# -- workloads ---------------------------------------------------------------------------
def workload(name: str, quick: bool):
    """Seeded list of (float32 signal, sample_rate)."""
    rng = np.random.default_rng(0 if name == "clips16k" else 1)
    if name == "clips16k":
        n, seconds = (4, 2.0) if quick else (64, 10.0)
        return [(rng.standard_normal(int(seconds * 16000)).astype(np.float32), 16000.0)
                for _ in range(n)]
    if name == "mixed":
        n, lo, hi = (6, 0.5, 3.0) if quick else (40, 1.0, 30.0)
        rates = rng.choice([12000.0, 16000.0, 44100.0, 48000.0], size=n)
        lengths = rng.uniform(lo, hi, size=n)
        return [(rng.standard_normal(int(s * sr)).astype(np.float32), float(sr))
                for sr, s in zip(rates, lengths)]
    raise ValueError(name)


WORKLOAD_TITLES = {
    "clips16k": "64 clips x 10 s at 16 kHz",
    "mixed": "mixed: 40 signals, 12/16/44.1/48 kHz, 1-30 s",
}


def audio_seconds(sigs) -> float:
    return sum(len(x) / sr for x, sr in sigs)


# -- models ------------------------------------------------------------------------------
def build_models(device: str, methods=METHODS):
    """The models, with the same seeded ECHO-Small weights."""
    torch.manual_seed(0)
    enc = EchoEncoder(EchoConfig()).eval().requires_grad_(False)
    models = {}
    if "a" in methods:
        models["a"] = ReferenceEcho.from_encoder(enc).to(device)
    if "c" in methods:
        models["c"] = copy.deepcopy(enc).to(device=device, dtype=torch.bfloat16)
    if "d" in methods:
        models["d"] = quantize_encoder(with_kernels(enc, {}, copy_always=True))
    if "e" in methods or "e8" in methods:
        from sklearn_echo.echo.onnx_backend import load_onnx_encoder

        if "e" in methods:
            models["e"] = load_onnx_encoder(enc)
        if "e8" in methods:
            models["e8"] = load_onnx_encoder(enc, precision="int8")
    if "b" in methods:
        models["b"] = enc.to(device)
    return models


def run_method(method, models, sigs, device):
    if method == "a":
        out = [models["a"].extract_features(x, sr)[0] for x, sr in sigs]
    else:
        out = [o.utterance for o in embed_signals(models[method], sigs)]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def max_rss_bytes() -> int:
    """Peak RSS of this process since it started (exec).

    ``VmHWM`` from /proc is per address space; ``getrusage``'s ``ru_maxrss`` is not
    used on Linux because it is inherited across fork/exec from the parent.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def fmt_mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MB"


# -- measurements ------------------------------------------------------------------------
def check_equivalence(models, device):
    """The methods compute the same utterances (on a few signals of each workload).

    Returns the largest absolute difference to (a) of the float32 methods and the
    smallest cosine to (a) of the others.
    """
    sigs = workload("mixed", True) + workload("clips16k", True)[:2]
    a = run_method("a", models, sigs, device)
    out = {}
    for m in ALL_METHODS:
        if m == "a" or m not in models:
            continue
        y = run_method(m, models, sigs, device)
        if m in ("b", "e"):
            out[m] = ("max |{} - a|", max(float(np.abs(u - v).max()) for u, v in zip(a, y)))
        else:
            out[m] = ("min cosine({}, a)", min(float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
                                           for u, v in zip(a, y)))
    return out


def time_workload(models, sigs, device, repeats, methods=None):
    """Interleaved runs; each repeat rotates the order of the methods.

    Returns wall-clock and process CPU seconds per method and repeat.
    """
    methods = tuple(models) if methods is None else tuple(methods)
    wall = {m: [] for m in methods}
    cpu = {m: [] for m in methods}
    for r in range(repeats):
        k = r % len(methods)
        order = methods[k:] + methods[:k]
        for m in order:
            t0, c0 = time.perf_counter(), time.process_time()
            run_method(m, models, sigs, device)
            wall[m].append(time.perf_counter() - t0)
            cpu[m].append(time.process_time() - c0)
    return wall, cpu


def child_memory(method: str, name: str, quick: bool, device: str, threads: int | None):
    """Run one method on one workload in this (fresh) process; print peak memory as JSON."""
    if threads:
        torch.set_num_threads(threads)
    models = build_models(device, (method,))
    sigs = workload(name, quick)
    run_method(method, models, workload("clips16k", True)[:1], device)  # warm-up, tiny
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    before = rss_bytes()
    t0 = time.perf_counter()
    run_method(method, models, sigs, device)
    seconds = time.perf_counter() - t0
    out = {"peak_rss": max_rss_bytes(), "before": before, "seconds": seconds}
    if device.startswith("cuda"):
        out["cuda_peak"] = torch.cuda.max_memory_allocated()
    print(json.dumps(out))


def spawn(args_list, timeout=1800):
    cmd = [sys.executable, str(Path(__file__).resolve()), *args_list]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine_line(device):
    flags = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                      if line.startswith("model name")), platform.processor())
        if "avx512_bf16" in cpuinfo:
            flags += " AVX512-BF16"
        if "amx_bf16" in cpuinfo:
            flags += " AMX-BF16"
    except OSError:
        model = platform.processor()
    line = (f"{model}, {os.cpu_count()} logical CPUs{flags}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} intra-op threads; device {device}")
    if device.startswith("cuda"):
        line += f" ({torch.cuda.get_device_name()})"
    return line


def main_benchmark(args):
    device = args.device
    print(f"machine: {machine_line(device)}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min)")
    err = check_against_fixture()
    print(f"(a) reference loop vs the reference fixture (tiny checkpoint, 12 signals): "
          f"max abs error {err:.2e} (tolerance 1e-4) -> {'OK' if err <= 1e-4 else 'FAILED'}")
    methods = args.methods
    models = build_models(device, methods)
    same = check_equivalence(models, device)
    print("same weights, same utterances: " + ", ".join(
        f"{what.format(m)} = {v:.2e}" if "max" in what else f"{what.format(m)} = {v:.5f}"
        for m, (what, v) in same.items()))
    if not args.quick and "d" in methods:
        fidelity_report(onnx="e8" in methods)
    names = ["clips16k", "mixed"]
    summary = {}
    for name in names:
        sigs = workload(name, args.quick)
        seconds = audio_seconds(sigs)
        for m in methods:  # warm-up
            run_method(m, models, sigs[:1] if m == "a" else sigs[:2], device)
        times, cpu = time_workload(models, sigs, device, args.repeats, methods)
        title = WORKLOAD_TITLES[name] if not args.quick else f"{name} (quick sizes)"
        print(f"\n== {title}: {len(sigs)} signals, {seconds:.0f} s of audio, "
              f"{args.repeats} interleaved repeats ==")
        mem = {}
        if not args.no_memory and not (args.quick and name != names[0]):
            for m in methods:
                child = ["--child-memory", m, name, "--device", device]
                if args.quick:
                    child.append("--quick")
                if args.threads:
                    child += ["--threads", str(args.threads)]
                mem[m] = spawn(child)
        best = {m: min(t) for m, t in times.items()}
        med = {m: statistics.median(t) for m, t in times.items()}
        # Ratio to (a) within each repeat (the runs are adjacent in time), then the median.
        paired = {m: statistics.median(a / t for a, t in zip(times["a"], times[m])) for m in methods}
        cbest = {m: min(t) for m, t in cpu.items()}
        header = (f"{'method':26s} {'xRT best':>9s} {'xRT median':>11s} {'ratio best':>11s} "
                  f"{'ratio paired':>13s} {'xRT/CPU-s':>10s}")
        if mem:
            header += f" {'peak RSS':>10s} {'run +':>9s}"
        print(header)
        for m in methods:
            line = (f"{LABELS[m]:26s} {seconds / best[m]:9.1f} {seconds / med[m]:11.1f} "
                    f"{best['a'] / best[m]:10.2f}x {paired[m]:12.2f}x {seconds / cbest[m]:10.1f}")
            if mem:
                line += (f" {fmt_mb(mem[m]['peak_rss']):>10s} "
                         f"{fmt_mb(mem[m]['peak_rss'] - mem[m]['before']):>9s}")
                if "cuda_peak" in mem[m]:
                    line += f"  cuda peak {fmt_mb(mem[m]['cuda_peak'])}"
            print(line)
        summary[name] = {m: seconds / best[m] for m in methods}
        targets = {"b": "1.2", "c": "3.5", "d": "3.5" if name == "clips16k" else "3.0"}
        print("; ".join(
            f"{m}/a = {best['a'] / best[m]:.2f} best-of-{args.repeats}, {paired[m]:.2f} paired median"
            + (f" (target >= {targets[m]})" if m in targets else "")
            for m in methods if m != "a"))
    print(f"\nload average at end: {os.getloadavg()[0]:.2f} (1 min)")
    return summary


# -- int8 fidelity -------------------------------------------------------------------------
FIXTURE = HERE.parent / ".." / "shared" / "fixtures" / "echo_reference"
DATA = HERE.parent / ".." / "shared" / "data"


def tiled_small_encoder(checkpoint) -> EchoEncoder:
    """An ECHO-Small-sized float32 encoder holding a small checkpoint's trained weights tiled to size."""
    from sklearn_echo.echo.checkpoint import read_state_dict

    state = read_state_dict(checkpoint)
    enc = EchoEncoder(EchoConfig()).eval().requires_grad_(False)
    depth = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layers."))
    new = {}
    for key, target in enc.state_dict().items():
        parts = key.split(".")
        if key.startswith("encoder.layers."):
            parts[2] = str(int(parts[2]) % depth)
        src = state[".".join(parts)].float()
        reps = [-(-t // n) for t, n in zip(target.shape, src.shape)]
        new[key] = src.repeat(*reps)[tuple(slice(0, t) for t in target.shape)].clone()
    enc.load_state_dict(new)
    return enc


def _band_cos(a, b, dim):
    x, y = a.reshape(-1, dim), b.reshape(-1, dim)
    return float(((x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))).min())


def fidelity_report(onnx: bool):
    """int8 against float32: band-vector cosines, and the same downstream figures the tests check."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

    from sklearn_echo import EchoEmbedder
    from sklearn_echo.echo.checkpoint import load_encoder
    from sklearn_echo.signals import load_signals

    model = str(FIXTURE / "tiny_echo.safetensors")
    sig = np.load(FIXTURE / "signals.npz")
    cases = [(sig[f"signal_{i:02d}"], float(r)) for i, r in enumerate(sig["sample_rates"])]
    f32 = load_encoder(model)
    variants = {"int8": quantize_encoder(load_encoder(model))}
    small_f32 = tiled_small_encoder(model)
    small = {"int8": quantize_encoder(tiled_small_encoder(model))}
    if onnx:
        from sklearn_echo.echo.onnx_backend import load_onnx_encoder

        variants["onnxruntime int8"] = load_onnx_encoder(f32, precision="int8")
        small["onnxruntime int8"] = load_onnx_encoder(small_f32, precision="int8")
    print("\n== int8 fidelity to float32 (smallest per-band cosine; target >= 0.99) ==")
    ref = embed_signals(f32, cases)
    small_sigs = workload("mixed", True)[:4]
    small_ref = embed_signals(small_f32, small_sigs)
    for name, variant in variants.items():
        fixture_cos = min(_band_cos(a.utterance, b.utterance, 128)
                          for a, b in zip(ref, embed_signals(variant, cases)))
        small_cos = min(_band_cos(a.utterance, b.utterance, 384)
                        for a, b in zip(small_ref, embed_signals(small[name], small_sigs)))
        print(f"{name:18s} 12 fixture cases: {fixture_cos:.5f}; ECHO-Small size, fixture weights "
              f"tiled, {len(small_sigs)} signals: {small_cos:.5f}")
    files = sorted((DATA / "cwru" / "12k_drive_end").glob("*.mat"))
    loaded = load_signals([str(p) for p in files], sample_rate=12000)
    windows, labels, groups = [], [], []
    for g, (path, s) in enumerate(zip(files, loaded)):
        fault = next(c for c in ("IR", "OR", "B") if f"_{c}" in path.name)
        for w in range(10):
            windows.append(s.data[0][w * 12000:(w + 1) * 12000])
            labels.append(fault)
            groups.append(g)
    normal = sorted((DATA / "mimii_fan_id00" / "normal").glob("*.wav"))
    abnormal = sorted((DATA / "mimii_fan_id00" / "abnormal").glob("*.wav"))
    settings = {"float32": ("float32", "torch"), "int8": ("int8", "torch")}
    if onnx:
        settings["onnxruntime int8"] = ("int8", "onnxruntime")
    print(f"downstream, fixture checkpoint: CWRU 12 kHz k-NN accuracy ({len(windows)} windows of 1 s, "
          "6 folds by record, k=5, cosine); MIMII fan anomaly AUC (bank 10 normal, test 10 normal + "
          f"{len(abnormal)} abnormal, mean cosine distance to 3 neighbours)")
    figures = {}
    for name, (dtype, backend) in settings.items():
        emb = EchoEmbedder(model=model, sample_rate=12000, dtype=dtype, backend=backend, cache=False)
        X = emb.fit_transform(windows)
        acc = cross_val_score(KNeighborsClassifier(5, metric="cosine"), X, labels,
                              groups=groups, cv=GroupKFold(6)).mean()
        emb = EchoEmbedder(model=model, dtype=dtype, backend=backend, cache=False)
        bank = emb.fit_transform([str(p) for p in normal[:10]])
        test = emb.transform([str(p) for p in normal[10:] + abnormal])
        dist, _ = NearestNeighbors(n_neighbors=3, metric="cosine").fit(bank).kneighbors(test)
        auc = roc_auc_score([0] * len(normal[10:]) + [1] * len(abnormal), dist.mean(1))
        figures[name] = (acc, auc)
        line = f"{name:18s} accuracy {acc:.4f}  AUC {auc:.4f}"
        if name != "float32":
            line += (f"  (differences to float32: {acc - figures['float32'][0]:+.4f}, "
                     f"{auc - figures['float32'][1]:+.4f}; target within 0.01)")
        print(line)
    return figures


# -- long input --------------------------------------------------------------------------
def long_signal(minutes: float, quick: bool):
    """A real 48 kHz CWRU recording tiled to ``minutes`` (random noise if it is missing)."""
    n = int(minutes * 60 * 48000)
    try:
        from scipy.io import loadmat

        mat = loadmat(CWRU_48K)
        base = next(v for k, v in mat.items() if k.endswith("_DE_time")).ravel().astype(np.float32)
        source = f"{CWRU_48K.name} (tiled)"
    except (OSError, StopIteration, ImportError):
        base = np.random.default_rng(0).standard_normal(48000 * 10).astype(np.float32)
        source = "random noise (tiled)"
    x = np.empty(n, dtype=np.float32)
    for start in range(0, n, len(base)):
        stop = min(n, start + len(base))
        x[start:stop] = base[: stop - start]
    return x, source


def child_long(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    minutes = 1.0 if args.quick else args.minutes
    torch.manual_seed(0)
    enc = EchoEncoder(EchoConfig()).eval().requires_grad_(False).to(args.device)
    if args.long_dtype == "bfloat16":
        enc = enc.to(torch.bfloat16)
    x, source = long_signal(minutes, args.quick)
    before = rss_bytes()
    t0 = time.perf_counter()
    if args.long_method == "reference":
        ref = ReferenceEcho.from_encoder(enc.float()).to(args.device)
        utt = ref.extract_features(x, 48000.0)[0]
    else:
        utt = embed_signals(enc, [(x, 48000.0)])[0].utterance
    seconds = time.perf_counter() - t0
    print(json.dumps({"peak_rss": max_rss_bytes(), "before": before, "seconds": seconds,
                      "audio": len(x) / 48000.0, "source": source, "dims": int(utt.shape[0]),
                      "signal_bytes": x.nbytes}))


def main_long(args):
    print(f"machine: {machine_line(args.device)}")
    methods = ["embed_signals"] + (["reference"] if args.long_reference else [])
    for method in methods:
        child = ["--child-long", "--device", args.device, "--minutes", str(args.minutes),
                 "--long-dtype", args.long_dtype, "--long-method", method]
        if args.quick:
            child.append("--quick")
        if args.threads:
            child += ["--threads", str(args.threads)]
        r = spawn(child, timeout=7200)
        print(f"long input, {method} ({args.long_dtype}, utterance only): {r['audio'] / 60:.0f} min at "
              f"48 kHz from {r['source']} ({fmt_mb(r['signal_bytes'])} of float32 samples) -> "
              f"{r['dims']} dims in {r['seconds']:.1f} s ({r['audio'] / r['seconds']:.1f} xRT); "
              f"peak RSS {fmt_mb(r['peak_rss'])} (fresh process; {fmt_mb(r['before'])} before the run, "
              f"signal included) -> {'under' if r['peak_rss'] < 3 * 2**30 else 'OVER'} 3 GB")


# -- ablation ----------------------------------------------------------------------------
def with_kernels(enc: EchoEncoder, switches: dict, copy_always: bool = False) -> EchoEncoder:
    """A copy of ``enc`` (same weights, device and dtype, int8 too) built with other kernel options."""
    if not switches and not copy_always:
        return enc
    param = enc.cls_token
    int8 = getattr(enc, "precision", None) == "int8"
    copy = EchoEncoder(enc.config, None if int8 else KernelOptions(**switches))
    copy.load_state_dict(enc.state_dict())
    copy = copy.to(device=param.device, dtype=param.dtype).eval().requires_grad_(False)
    if int8:
        quantize_encoder(copy)
        copy.kernels = dataclasses.replace(copy.kernels, **switches)
    return copy


def embed_utterances(enc, sigs, *, batch_tokens=None, batch_workers=True):
    """Utterance embeddings of validated mono signals (``embed_signals`` without input checks)."""
    jobs = plan_chunks(sigs, enc.config.chunk_frames)
    encoded = encode_chunks(enc, jobs, batch_tokens=batch_tokens, batch_workers=batch_workers)
    return combine_chunks(jobs, encoded, len(sigs))


def main_ablate(args):
    """Each fast path off in turn, and the batch size, interleaved on one workload.

    Besides wall-clock xRT, prints xRT per CPU-second (audio seconds / process CPU
    seconds), which is less sensitive to other processes taking turns on the cores,
    and the smallest cosine of a variant's band vectors to the default's (how far
    the switch moves the embeddings: 1.000000 where it changes nothing).
    """
    device = args.device
    print(f"machine: {machine_line(device)}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min)")
    models = build_models(device, tuple(args.ablate_methods.split(",")))
    sigs = workload(args.ablate_workload, args.quick)
    if not args.quick:
        sigs = sigs[: args.ablate_clips]
    seconds = audio_seconds(sigs)
    defaults = KernelOptions()
    flags = [f.name for f in dataclasses.fields(KernelOptions) if isinstance(getattr(defaults, f.name), bool)]
    variants = [("all fast paths (default)", {}, None)]
    variants += [(f"without {k}", {k: False}, None) for k in flags if getattr(defaults, k)]
    # the two attention switches together: bfloat16 attention as it ran before both
    variants += [("without packed_attention and float32_softmax",
                  {"packed_attention": False, "float32_softmax": False}, None)]
    variants += [("without batch_workers", {"batch_workers": False}, None)]
    variants += [(f"with {k} (opt-in)", {k: True}, None) for k in flags if not getattr(defaults, k)]
    variants += [(f"batch_tokens={bt}", {}, bt) for bt in (2048, 8192, 16384)]
    print(f"default batch_tokens on {device}: {default_batch_tokens(device)}")
    for dtype_key in args.ablate_methods.split(","):
        enc = models[dtype_key]
        # one encoder per kernel choice: KernelOptions are fixed when an encoder is built
        encoders = {
            name: with_kernels(enc, {k: v for k, v in switches.items() if k != "batch_workers"})
            for name, switches, _ in variants
        }
        wall = {name: [] for name, _, _ in variants}
        cpu = {name: [] for name, _, _ in variants}
        vectors = {}
        for r in range(args.repeats + 1):
            for name, switches, bt in variants:
                t0, c0 = time.perf_counter(), time.process_time()
                out = embed_utterances(
                    encoders[name], sigs, batch_tokens=bt,
                    batch_workers=switches.get("batch_workers", True),
                )
                if r:  # the first round is a warm-up
                    wall[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.process_time() - c0)
                if r == args.repeats:  # the last round's band vectors, (bands, D)
                    vectors[name] = np.concatenate([o.utterance for o in out]).astype(np.float64)
        base, cbase = min(wall[variants[0][0]]), min(cpu[variants[0][0]])
        print(f"\n== {LABELS[dtype_key]}, {WORKLOAD_TITLES[args.ablate_workload]} "
              f"({len(sigs)} signals), {args.repeats} interleaved repeats ==")
        print(f"{'variant':46s} {'xRT best':>9s} {'xRT median':>11s} {'default faster by':>18s}"
              f" {'xRT/CPU-s best':>15s} {'default faster by (CPU)':>24s} {'min cosine to default':>22s}")
        for name, _, _ in variants:
            t, c = wall[name], cpu[name]
            print(f"{name:46s} {seconds / min(t):9.1f} {seconds / statistics.median(t):11.1f} "
                  f"{min(t) / base:17.2f}x {seconds / min(c):15.1f} {min(c) / cbase:23.2f}x "
                  f"{_band_cos(vectors[name], vectors[variants[0][0]], enc.config.embed_dim):22.6f}")
    print(f"\nload average at end: {os.getloadavg()[0]:.2f} (1 min)")


# -- ceiling -----------------------------------------------------------------------------
def workload_lengths(sigs, config: EchoConfig) -> list[int]:
    """Length (CLS + patches) of every band sequence of every chunk, without padding."""
    lengths = []
    for job in plan_chunks(sigs, config.chunk_frames):
        patches = -(-job.n_frames // config.patch_width)
        lengths += [1 + patches] * band_plan(job.sample_rate, config.band_width).n_bands
    return lengths


def workload_flops(lengths, config: EchoConfig, layers: int) -> float:
    """Multiply-add FLOPs every encoder must spend on these sequences in ``layers`` full layers.

    Per token and layer: the projections and the feed-forward block (``8 D^2 + 4 D F``)
    and the attention scores and weighted sum (``4 L D``); per token once: the
    patch projection (``2 * band_width * patch_width * D``).
    """
    d, f = config.embed_dim, config.ffn_dim
    patch = 2 * config.band_width * config.patch_width * d
    return float(sum(n * (layers * (8 * d * d + 4 * d * f + 4 * n * d) + patch) for n in lengths))


def layer_products(config: EchoConfig, dtype):
    """The four weight matrices every token meets in a full layer, as ``F.linear`` weights."""
    d, f = config.embed_dim, config.ffn_dim
    g = torch.Generator().manual_seed(0)
    shapes = [(3 * d, d), (d, d), (f, d), (d, f)]  # in_proj, out_proj, linear1, linear2
    return [(torch.randn(o, i, generator=g) * 0.02).to(dtype) for o, i in shapes]


def layer_product_flops(config: EchoConfig) -> float:
    """FLOPs per token of one full layer's four weight products (`layer_products`)."""
    d, f = config.embed_dim, config.ffn_dim
    return 2.0 * (3 * d * d + d * d + 2 * d * f)


def gemm_seconds_per_token(config: EchoConfig, dtype, repeats: int) -> tuple[float, str]:
    """Fastest measured time per token of one layer's four matrix products.

    Only the products: no attention scores, softmax, LayerNorm, GELU, bias,
    residual or STFT, so no encoder that computes these products in ``dtype`` can
    spend less. Tried: ``F.linear`` and the encoder's own kernel
    (`sklearn_echo.echo.kernels.linear`: oneDNN on weights laid out ahead of
    time); one batch per thread with the
    threads side by side (as ``embed_signals`` runs), and one batch over all
    threads, at several batch sizes; the fastest wins.
    """
    weights = layer_products(config, dtype)

    def make_call(rows):
        inputs = [torch.randn(rows, w.shape[1]).to(dtype) for w in weights]
        return lambda: [torch.nn.functional.linear(x, w) for x, w in zip(inputs, weights)]

    best = _fastest_products(make_call, repeats)
    if _can_prepack(dtype):
        # the encoder's own kernel (`kernels.linear`): oneDNN on prepacked weights
        bias = [torch.zeros(w.shape[0], dtype=dtype) for w in weights]

        def make_encoder_call(rows):
            inputs = [torch.randn(rows, w.shape[1]).to(dtype) for w in weights]
            return lambda: [linear(x, w, b) for x, w, b in zip(inputs, weights, bias)]

        t, how = _fastest_products(make_encoder_call, repeats)
        if t < best[0]:
            best = (t, how + ", the encoder's kernel on prepacked weights")
    return best


def int8_seconds_per_token(config: EchoConfig, repeats: int) -> tuple[float, str]:
    """`gemm_seconds_per_token` for the int8 kernel: a layer's four products through
    ``Int8Linear`` (dynamic activation quantization included, no bias, no GELU)."""
    layers = [Int8Linear(w, None) for w in layer_products(config, torch.float32)]

    def make_call(rows):
        inputs = [torch.randn(rows, layer.in_features) for layer in layers]
        return lambda: [layer(x) for x, layer in zip(inputs, layers)]

    return _fastest_products(make_call, repeats)


def _fastest_products(make_call, repeats: int) -> tuple[float, str]:
    """Fastest seconds per token of ``make_call(rows)``'s calls at 2048, 4096 and 8192 rows."""
    threads = torch.get_num_threads()
    best, how = float("inf"), ""
    for rows in (2048, 4096, 8192):
        per_token, workers = _fastest_per_item(lambda rows=rows: make_call(rows), rows, repeats)
        if per_token < best:
            best = per_token
            how = (f"{rows} rows, {workers} batch(es) side by side "
                   f"x {max(1, threads // workers)} thread(s)")
    return best, how


def _fastest_per_item(make_call, items: int, repeats: int) -> tuple[float, int]:
    """Fastest measured seconds per item of the calls ``make_call()`` returns.

    Each call handles ``items`` items (sequences or rows). Tried as
    ``embed_signals`` may run them: one call per thread with the threads side by
    side (each with its own inputs), and one call over all threads; the faster
    wins. Returns the seconds per item and the number of calls side by side.
    """
    threads = torch.get_num_threads()
    best, best_workers = float("inf"), 1
    for workers in sorted({1, threads}):
        calls = [make_call() for _ in range(workers)]
        runner = _BatchRunner(workers, max(1, threads // workers))

        def run(call):
            with torch.inference_mode():
                call()

        try:
            runner.map(run, calls)  # warm-up
            for _ in range(repeats):
                t0 = time.perf_counter()
                runner.map(run, calls)
                per_item = (time.perf_counter() - t0) / (items * workers)
                if per_item < best:
                    best, best_workers = per_item, workers
        finally:
            runner.close()
    return best, best_workers


def _attention_sdpa(q, k, v, qkv):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v)


def _attention_bmm(q, k, v, float32_softmax: bool):
    # the encoder's own kernel on contiguous heads (baddbmm, softmax, batched product)
    return attention(q, k, v, None, KernelOptions(float32_softmax=float32_softmax))


def _attention_packed(q, qkv, float32_softmax: bool):
    n, h, length, _ = q.shape
    return packed_attention(qkv, n, length, h, None, KernelOptions(float32_softmax=float32_softmax))


# Each kernel gets contiguous q, k, v of shape (sequences, heads, L, head_dim) and the
# same values packed as the input projection writes them, (sequences * L, 3 D).
ATTENTION_KERNELS = {
    "SDPA": _attention_sdpa,
    "baddbmm + float32 softmax + bmm": lambda q, k, v, qkv: _attention_bmm(q, k, v, True),
    "baddbmm + bfloat16 softmax + bmm": lambda q, k, v, qkv: _attention_bmm(q, k, v, False),
    "packed, head by head, float32 softmax": lambda q, k, v, qkv: _attention_packed(q, qkv, True),
    "packed, head by head, bfloat16 softmax": lambda q, k, v, qkv: _attention_packed(q, qkv, False),
}
# Tokens per attention call tried: the pipeline's CPU batch and a larger one
# (a few hundred short sequences).
ATTENTION_BATCH_TOKENS = (4096, 16384)


def attention_seconds(lengths, config: EchoConfig, repeats: int, dtype=torch.bfloat16):
    """Measured time of one full layer's attention over these sequences, per kernel.

    For every distinct length ``L`` (sequences of one length need no mask), q, k and v
    of shape (sequences, heads, L, head_dim) in ``dtype`` (and the same values packed
    as (sequences * L, 3 D)) go through each kernel of `ATTENTION_KERNELS` (scores,
    softmax, weighted sum; no projections), in batches of
    ``min(count, batch_tokens // L)`` sequences for each ``batch_tokens`` of
    `ATTENTION_BATCH_TOKENS`, with the threads as in `_fastest_per_item`; the
    fastest seconds per sequence of each kernel times the number of sequences of
    that length gives the kernel's time.

    Returns ``(best, per_kernel)``: the workload's time with the fastest kernel at
    each length, and each kernel's own total.
    """
    h = config.num_heads
    hd = config.embed_dim // h
    counts: dict[int, int] = {}
    for n in lengths:
        counts[n] = counts.get(n, 0) + 1
    per_kernel = dict.fromkeys(ATTENTION_KERNELS, 0.0)
    best = 0.0
    g = torch.Generator().manual_seed(0)
    for length, count in sorted(counts.items()):
        sizes = sorted({min(count, max(1, bt // length)) for bt in ATTENTION_BATCH_TOKENS})
        at_length = {}
        for name, kernel in ATTENTION_KERNELS.items():
            fastest = float("inf")
            for size in sizes:

                def make_call(size=size, kernel=kernel, length=length):
                    qkv = torch.randn(size * length, 3 * h * hd, generator=g).to(dtype)
                    heads = qkv.view(size, length, 3, h, hd).permute(2, 0, 3, 1, 4)
                    q, k, v = (t.contiguous() for t in heads.unbind(0))
                    return lambda: kernel(q, k, v, qkv)

                fastest = min(fastest, _fastest_per_item(make_call, size, repeats)[0])
            at_length[name] = fastest * count
            per_kernel[name] += fastest * count
        best += min(at_length.values())
    return best, per_kernel


def elementwise_seconds_per_token(config: EchoConfig, dtype, repeats: int) -> dict[str, float]:
    """Fastest measured seconds per token of the elementwise work of one post-norm layer.

    Each operation alone, on ``dtype`` tensors in and out, at a couple of row-block
    sizes, threads as in `_fastest_per_item`: a LayerNorm over D (with weight and
    bias), the exact (erf) GELU over F, and a residual addition over D (into a
    preallocated output). Returns seconds per token for ``"LayerNorm"``, ``"GELU"``
    and ``"residual add"`` (one of each; a layer has two LayerNorms and two adds).
    """
    d, f = config.embed_dim, config.ffn_dim
    g = torch.Generator().manual_seed(0)

    def layer_norm(rows):
        x = torch.randn(rows, d, generator=g).to(dtype)
        w, b = torch.ones(d, dtype=dtype), torch.zeros(d, dtype=dtype)
        return lambda: torch.nn.functional.layer_norm(x, (d,), w, b, 1e-5)

    def gelu(rows):
        x = torch.randn(rows, f, generator=g).to(dtype)
        return lambda: torch.nn.functional.gelu(x)

    def residual_add(rows):
        x, y = (torch.randn(rows, d, generator=g).to(dtype) for _ in range(2))
        out = torch.empty_like(x)
        return lambda: torch.add(x, y, out=out)

    out = {}
    for name, make in (("LayerNorm", layer_norm), ("GELU", gelu), ("residual add", residual_add)):
        out[name] = min(_fastest_per_item(lambda rows=rows, make=make: make(rows), rows, repeats)[0]
                        for rows in (1024, 4096))
    return out


def elementwise_per_layer(per_token: dict[str, float]) -> float:
    """Seconds per token of one layer's elementwise work: two LayerNorms, a GELU, two adds."""
    return 2 * per_token["LayerNorm"] + per_token["GELU"] + 2 * per_token["residual add"]


def spectrogram_seconds(sigs, config: EchoConfig, repeats: int) -> float:
    """Spectrograms and band patches of every chunk, as the pipeline makes them.

    Timed on one thread (best of ``repeats``) and divided by torch's thread
    count: the pipeline computes them in its batch workers side by side, and a
    perfect split is the least they can cost.
    """
    jobs = plan_chunks(sigs, config.chunk_frames)
    plans = {sr: band_plan(sr, config.band_width) for sr in {j.sample_rate for j in jobs}}
    threads = torch.get_num_threads()
    best = float("inf")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            for job in jobs:
                _chunk_patches(job, plans[job.sample_rate], config.patch_width, torch.device("cpu"))
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(previous)
    return best / threads


def tight_parts(tokens, config: EchoConfig, weight_rate: float, patch_rate: float,
                elementwise: float, attention: float, spectrograms: float) -> dict[str, float]:
    """The tight bound's parts (seconds) for a workload of ``tokens`` real tokens.

    Every layer but the CLS-only last: its four weight products at ``weight_rate``
    (FLOP/s), attention at ``attention`` seconds per layer (`attention_seconds`), the
    elementwise work at ``elementwise`` seconds per token and layer
    (`elementwise_per_layer`); the patch projection at ``patch_rate``; the
    spectrograms' ``spectrograms`` seconds (`spectrogram_seconds`).
    """
    layers = config.depth - 1
    weight_flops = float(tokens) * layers * layer_product_flops(config)
    patch_flops = float(tokens) * 2 * config.band_width * config.patch_width * config.embed_dim
    return {
        "products": weight_flops / weight_rate + patch_flops / patch_rate,
        "attention": attention * layers,
        "elementwise": float(tokens) * layers * elementwise,
        "spectrograms": spectrograms,
    }


def print_tight_bound(method: str, parts: dict[str, float], bound: float, best: dict, seconds: float):
    """The tight bound's lines for one method: total, ceiling of (method)/(a), breakdown."""
    print(f"    tight bound (products, attention, norms and spectrograms at their best measured kernels):\n"
          f"                                      {bound:7.2f} s  {seconds / bound:6.1f} xRT "
          f"= {best['a'] / bound:.2f}x (a): the tight ceiling of ({method})/(a)")
    print("      = " + " + ".join(f"{k} {v:.3g} s" for k, v in parts.items()))
    print(f"    ({method}) runs at {100 * bound / best[method]:.0f}% of the tight bound")


def main_ceiling(args):
    """The fastest possible bfloat16 (and int8) encoder against the measured reference loop.

    Two bounds, both over every layer but the last (whose CLS-only form costs
    almost nothing), on the workload's real sequence lengths without padding:

    * products alone: every FLOP of a layer (the projections, the feed-forward
      block and attention's two products, ``4 L D`` per token) plus the patch
      projection, counted at the best measured bfloat16 speed of a layer's large
      products (attention's small products run slower than that, so this is
      generous), with softmax, norms, activations, residual additions and the
      spectrogram left out. No bfloat16 encoder can spend less.
    * tight: the four weight products at that same rate, plus attention
      (scores, softmax, weighted sum) timed on the workload's lengths with the
      fastest of `ATTENTION_KERNELS` (`attention_seconds`), plus the elementwise
      work every post-norm layer does at least once (two LayerNorms, the GELU,
      two residual additions), each timed alone at its best
      (`elementwise_seconds_per_token`), plus the spectrograms and band patches
      of every chunk, made by the pipeline's own function on one thread and
      divided by the thread count (`spectrogram_seconds`). An encoder that fuses an elementwise
      step into a product's epilogue could beat that part, so this is the time
      of the encoder built from the fastest measured kernels, not a proof.

    ``(a) / bound`` is then the ceiling of (c)/(a) on this machine, and "(c) runs
    at X%" how close the pipeline gets. For (d) int8 the same: the weight
    products at the int8 rate, attention in bfloat16 (as the int8 encoder runs
    it) and the elementwise work in float32 (its activations' dtype).
    """
    device = args.device
    print(f"machine: {machine_line(device)}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min)")
    config = EchoConfig()
    methods = [m for m in ("a", "c", "d") if m in args.methods]
    models = build_models(device, methods)
    flops_per_token = layer_product_flops(config)
    rate = {}
    for dtype in (torch.float32, torch.bfloat16, torch.int8):
        if dtype == torch.int8:
            if "d" not in methods:
                continue
            t, how = int8_seconds_per_token(config, args.repeats)
        else:
            t, how = gemm_seconds_per_token(config, dtype, args.repeats)
        rate[dtype] = flops_per_token / t
        print(f"{dtype!s:15s} layer products: {t * 1e6:7.2f} us/token = "
              f"{rate[dtype] / 1e9:6.1f} G(FL)OP/s ({how})")
    elementwise = {torch.bfloat16: elementwise_seconds_per_token(config, torch.bfloat16, max(3, args.repeats))}
    if "d" in methods:
        elementwise[torch.float32] = elementwise_seconds_per_token(config, torch.float32, max(3, args.repeats))
    for dtype, per_token in elementwise.items():
        print(f"{dtype!s:15s} elementwise:    {elementwise_per_layer(per_token) * 1e6:7.2f} us/token/layer ("
              + ", ".join(f"{k} {v * 1e9:.0f} ns" for k, v in per_token.items())
              + " per token, each alone; a layer: 2 LayerNorms, GELU, 2 adds)")
    print(f"bfloat16 / float32 product speed: {rate[torch.bfloat16] / rate[torch.float32]:.2f}x")
    if torch.int8 in rate:
        print(f"int8 / float32 product speed: {rate[torch.int8] / rate[torch.float32]:.2f}x "
              "(dynamic activation quantization included)")
    for name in ("clips16k", "mixed"):
        sigs = workload(name, args.quick)
        seconds = audio_seconds(sigs)
        lengths = workload_lengths(sigs, config)
        tokens = sum(lengths)
        for m in methods:
            run_method(m, models, sigs[:1] if m == "a" else sigs[:2], device)
        times, _ = time_workload(models, sigs, device, args.repeats, methods)
        best = {m: min(t) for m, t in times.items()}
        floor_c = workload_flops(lengths, config, config.depth - 1) / rate[torch.bfloat16]
        floor_a = workload_flops(lengths, config, config.depth) / rate[torch.float32]
        title = WORKLOAD_TITLES[name] if not args.quick else f"{name} (quick sizes)"
        print(f"\n== {title}: {seconds:.0f} s of audio, {tokens:,} tokens, "
              f"best of {args.repeats} ==")
        print(f"(a) reference loop, float32:          {best['a']:7.2f} s  {seconds / best['a']:6.1f} xRT "
              f"(its float32 products alone: {floor_a:.2f} s, {100 * floor_a / best['a']:.0f}% of its time)")
        print(f"(c) embed_signals, bfloat16:          {best['c']:7.2f} s  {seconds / best['c']:6.1f} xRT "
              f"= {best['a'] / best['c']:.2f}x (a)")
        print(f"    its bfloat16 products alone:      {floor_c:7.2f} s  {seconds / floor_c:6.1f} xRT "
              f"= {best['a'] / floor_c:.2f}x (a): the ceiling of (c)/(a); target 3.5x")
        print(f"    (c) runs at {100 * floor_c / best['c']:.0f}% of that ceiling")
        # The tight bound: weight products at the product rate, attention and the
        # elementwise work at their fastest measured kernels.
        attention, per_kernel = attention_seconds(lengths, config, max(3, args.repeats))
        winner = min(per_kernel, key=per_kernel.get)
        print("    attention, one layer, each kernel: " + ", ".join(
            f"{k} {v * 1e3:.1f} ms" for k, v in per_kernel.items()) + f" -> fastest: {winner}")
        spectrograms = spectrogram_seconds(sigs, config, max(3, args.repeats))
        parts_c = tight_parts(tokens, config, rate[torch.bfloat16], rate[torch.bfloat16],
                              elementwise_per_layer(elementwise[torch.bfloat16]), attention, spectrograms)
        print_tight_bound("c", parts_c, sum(parts_c.values()), best, seconds)
        if "d" in best:
            # int8: the layer products at the int8 rate; attention (bfloat16 in the int8
            # encoder) and the patch projection counted at the bfloat16 product rate.
            layers = config.depth - 1
            products = float(tokens) * layers * flops_per_token
            floor_d = products / rate[torch.int8] + (
                workload_flops(lengths, config, layers) - products) / rate[torch.bfloat16]
            print(f"(d) embed_signals, int8:              {best['d']:7.2f} s  {seconds / best['d']:6.1f} xRT "
                  f"= {best['a'] / best['d']:.2f}x (a)")
            print(f"    its int8 products alone:          {floor_d:7.2f} s  {seconds / floor_d:6.1f} xRT "
                  f"= {best['a'] / floor_d:.2f}x (a): the ceiling of (d)/(a)")
            print(f"    (d) runs at {100 * floor_d / best['d']:.0f}% of that ceiling")
            parts_d = tight_parts(tokens, config, rate[torch.int8], rate[torch.bfloat16],
                                  elementwise_per_layer(elementwise[torch.float32]), attention, spectrograms)
            print_tight_bound("d", parts_d, sum(parts_d.values()), best, seconds)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f} (1 min)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, < 1 minute (smoke test)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--repeats", type=int, default=None,
                   help="interleaved repeats per method (default 3, 1 with --quick)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--no-memory", action="store_true", help="skip the fresh-process memory runs")
    p.add_argument("--long", action="store_true", help="60-minute 48 kHz signal, peak RSS")
    p.add_argument("--minutes", type=float, default=60.0, help="length of the --long signal")
    p.add_argument("--long-dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--long-reference", action="store_true",
                   help="also run the reference loop on the long signal (needs several GB)")
    p.add_argument("--ablate", action="store_true", help="each fast path off in turn; batch sizes")
    p.add_argument("--ablate-clips", type=int, default=64, help="signals of --ablate (at most)")
    p.add_argument("--ablate-workload", default="clips16k", choices=sorted(WORKLOAD_TITLES),
                   help="workload of --ablate")
    p.add_argument("--ceiling", action="store_true",
                   help="bounds of (c)/(a): products alone at the best bf16 speed, and products + "
                        "attention + norms at their best measured kernels")
    p.add_argument("--ablate-methods", default="b,c",
                   help="comma-separated: b (float32), c (bfloat16), d (int8)")
    p.add_argument("--methods", default=None,
                   help="comma-separated methods of the main run and --ceiling (default: "
                        "a,b,c,d and e,e8 when onnxruntime is installed)")
    p.add_argument("--fidelity", action="store_true",
                   help="only the int8 fidelity report (cosines, k-NN accuracy, anomaly AUC)")
    p.add_argument("--child-memory", nargs=2, metavar=("METHOD", "WORKLOAD"), help=argparse.SUPPRESS)
    p.add_argument("--child-long", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--long-method", default="embed_signals", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.methods is None:
        args.methods = [m for m in ALL_METHODS if m not in ("e", "e8") or onnx_available()]
    else:
        args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in args.methods if m not in ALL_METHODS]
        if unknown or "a" not in args.methods:
            p.error(f"--methods takes a, b, c, d, e, e8 and must include a; got {unknown or args.methods}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads and not (args.child_memory or args.child_long):
        torch.set_num_threads(args.threads)
    if args.child_memory:
        return child_memory(*args.child_memory, args.quick, args.device, args.threads)
    if args.child_long:
        return child_long(args)
    if args.long:
        return main_long(args)
    if args.ablate:
        return main_ablate(args)
    if args.ceiling:
        return main_ceiling(args)
    if args.fidelity:
        return fidelity_report(onnx=onnx_available())
    return main_benchmark(args)


if __name__ == "__main__":
    main()
