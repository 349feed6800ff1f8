"""Monitoring a live signal: memory over a long stream, and milliseconds per window.

Two measurements of `sklearn_echo.streaming.ScoreStream` (embedder + k-NN
detector, window 2 s, hop 1 s, 16 kHz):

1. **Bounded memory.** ``--hours`` hours (default 24: 86,400 windows) of a
   16 kHz machine-like signal generated block by block (a hum with harmonics,
   a slowly drifting speed, noise; never held whole) are pushed in blocks of
   ``--block`` seconds through a detector fitted on four minutes of the same
   generator, with the tiny test checkpoint. The resident set size (RSS) is
   printed at the start, every tenth of the stream and at the end: it stays
   flat.
2. **Latency.** Milliseconds per window, pushing one hop (1 s) at a time as a
   live source does, for the tiny checkpoint and for an ECHO-Small-sized
   encoder (``EchoEncoder(EchoConfig())`` with random weights saved as
   safetensors), in float32 and bfloat16, against the 1,000 ms hop: the
   real-time factor ``hop / time per window`` says how much margin a monitor
   has. The CPU time per window (all threads) is printed too: on a shared
   machine the wall time includes waiting for the other jobs.

Run from the repository root::

    python benchmarks/bench_stream.py --hours 24          # memory (tiny model) + latency
    python benchmarks/bench_stream.py --hours 1 --no-latency
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT.parent / "shared" / "fixtures" / "echo_reference" / "tiny_echo.safetensors"
RATE = 16000
WINDOW, HOP = 2.0, 1.0


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


class MachineSignal:
    """A fan-like signal generated block by block: hum + harmonics at a drifting speed, noise."""

    def __init__(self, seed=0, rate=RATE):
        self.rng = np.random.default_rng(seed)
        self.rate = rate
        self.t = 0  # samples produced
        self.phase = 0.0

    def block(self, n: int) -> np.ndarray:
        t = (self.t + np.arange(n)) / self.rate
        f0 = 50.0 * (1.0 + 0.01 * np.sin(2 * np.pi * t / 600.0))  # speed drifts over 10 min
        phase = self.phase + 2 * np.pi * np.cumsum(f0) / self.rate
        self.phase = float(phase[-1])
        x = sum(a * np.sin(h * phase) for h, a in ((1, 0.3), (2, 0.15), (5, 0.05), (13, 0.02)))
        x = x + 0.05 * self.rng.standard_normal(n)
        self.t += n
        return x.astype(np.float32)


def fitted_pipeline(model, dtype="float32", minutes=4.0, fpr=0.01):
    from sklearn.pipeline import make_pipeline

    from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector

    gen = MachineSignal(seed=1)
    n = int(WINDOW * RATE)
    windows = [gen.block(n) for _ in range(int(minutes * 60 / WINDOW))]
    groups = np.arange(len(windows)) // 10  # 20 s "recordings"
    pipe = make_pipeline(
        EchoEmbedder(model=str(model), sample_rate=RATE, dtype=dtype, cache=False),
        EchoKNNAnomalyDetector(fpr=fpr),
    )
    return pipe.fit(windows, echoknnanomalydetector__groups=groups)


def memory_run(hours: float, block_seconds: float):
    from sklearn_echo.streaming import ScoreStream

    pipe = fitted_pipeline(TINY)
    scorer = ScoreStream(pipe, RATE, window=WINDOW, hop=HOP, smoothing=5, consecutive=3)
    gen = MachineSignal(seed=2)
    block = int(block_seconds * RATE)
    total = int(hours * 3600 * RATE)
    marks = {int(total * k / 10) // block for k in range(1, 11)}
    print(f"memory: {hours:g} h of {RATE} Hz in blocks of {block_seconds:g} s, window {WINDOW:g} s, "
          f"hop {HOP:g} s (tiny checkpoint)")
    print(f"  start   RSS {rss_mb():8.1f} MB")
    t0 = time.perf_counter()
    n_blocks = total // block
    for i in range(n_blocks):
        scorer.push(gen.block(block))
        if i + 1 in marks:
            elapsed = time.perf_counter() - t0
            print(f"  {100 * (i + 1) / n_blocks:5.1f} %  RSS {rss_mb():8.1f} MB  windows {scorer.n_windows:7d}  "
                  f"{elapsed:7.1f} s  ({1000 * elapsed / max(1, scorer.n_windows):.1f} ms/window)",
                  flush=True)
    s = scorer.summary()
    print(f"  end     RSS {rss_mb():8.1f} MB; {s['windows']} windows, {s['alarms']} alarms, "
          f"{s['windows_over']} over the threshold, {time.perf_counter() - t0:.0f} s")


def latency(model, dtype, seconds):
    from sklearn_echo.streaming import ScoreStream

    pipe = fitted_pipeline(model, dtype=dtype, minutes=1.0, fpr=0.05)
    scorer = ScoreStream(pipe, RATE, window=WINDOW, hop=HOP)
    gen = MachineSignal(seed=3)
    hop = int(HOP * RATE)
    scorer.push(gen.block(int(WINDOW * RATE)))  # first window; warm-up
    for _ in range(3):
        scorer.push(gen.block(hop))
    times, cpu = [], 0.0
    for _ in range(int(seconds)):
        x = gen.block(hop)
        t0, c0 = time.perf_counter(), time.process_time()
        scorer.push(x)
        times.append(time.perf_counter() - t0)
        cpu += time.process_time() - c0
    ms = 1000 * np.asarray(times)
    return float(np.median(ms)), float(np.percentile(ms, 95)), 1000 * cpu / len(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="hours streamed for the memory run")
    parser.add_argument("--block", type=float, default=1.0, help="seconds per pushed block")
    parser.add_argument("--latency-windows", type=int, default=30, help="windows timed per model")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-latency", action="store_true")
    args = parser.parse_args(argv)
    import warnings

    import torch

    warnings.filterwarnings("ignore", message=".*calibration scores cannot give")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.no_memory:
        memory_run(args.hours, args.block)
    if args.no_latency:
        return
    from safetensors.torch import save_file

    from sklearn_echo.echo.model import EchoConfig, EchoEncoder

    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "echo_small_random.safetensors"
        torch.manual_seed(0)
        state = EchoEncoder(EchoConfig()).state_dict()
        save_file({k: v.contiguous() for k, v in state.items()}, str(small))
        print(f"latency per window ({WINDOW:g} s window, one {HOP:g} s hop pushed at a time; "
              f"real time needs < {1000 * HOP:.0f} ms):")
        for name, model in (("tiny", TINY), ("ECHO-Small size", small)):
            for dtype in ("float32", "bfloat16"):
                med, p95, cpu = latency(model, dtype, args.latency_windows)
                print(f"  {name:16s} {dtype:9s} median {med:7.1f} ms  p95 {p95:7.1f} ms  "
                      f"CPU {cpu:7.1f} ms  real-time factor {1000 * HOP / med:6.1f}x", flush=True)


if __name__ == "__main__":
    sys.exit(main())
