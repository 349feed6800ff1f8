"""Peak memory of embedding many recordings: block by block against all at once.

``EchoEmbedder`` checks every file once, then reads and embeds the files
``BLOCK_SAMPLES`` samples at a time (about 128 MB of float32). This script
embeds the same list of recordings in fresh processes, once with the default
blocks and once with every file held at once (``BLOCK_SAMPLES = None``, what
loading everything first costs), and prints each process's peak RSS and time;
``transform`` (utterance rows) and ``transform_segments`` (every 160 ms segment;
the returned segments themselves are held by the caller) are measured alike.

The list is the 40 MIMII fan clips of ``../shared/data`` (10 s at 16 kHz), each
named ``--repeat`` times (every item is read on its own, as distinct files would be);
the model is the small fixture checkpoint (the memory of interest is the
recordings', not the model's; pass ``--model`` for another). ``cache=False`` so
that every item goes through the encoder.

Usage::

    python benchmarks/bench_folder_memory.py                 # 40 x 15 = 600 clips, 100 min
    python benchmarks/bench_folder_memory.py --repeat 3      # quicker
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent / ".." / "shared"
TINY = SHARED / "fixtures" / "echo_reference" / "tiny_echo.safetensors"
MIMII = SHARED / "data" / "mimii_fan_id00"


def peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(args):
    import numpy as np

    import sklearn_echo.embedder as embedder_module
    from sklearn_echo import EchoEmbedder

    what, mode = args.mode.split(":")
    if mode == "all-at-once":
        embedder_module.BLOCK_SAMPLES = None
    files = [str(f) for f in sorted(MIMII.glob("*/*.wav")) if "multichannel" not in str(f)]
    X = files * args.repeat
    emb = EchoEmbedder(model=args.model, cache=False)
    emb.fit(files[:2]).transform(files[:2])  # model loaded, kernels warm
    t0 = time.perf_counter()
    if what == "transform":
        out = emb.fit_transform(X)
    else:
        out = np.concatenate(emb.fit(X).transform_segments(X))
    seconds = time.perf_counter() - t0
    print(json.dumps({"peak_rss": peak_rss_bytes(), "seconds": seconds, "items": len(X),
                      "shape": list(out.shape), "checksum": float(np.abs(out).sum())}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=15, help="times each of the 40 clips is listed")
    p.add_argument("--model", default=str(TINY), help="checkpoint (default: the fixture's)")
    p.add_argument("--what", choices=["transform", "segments", "both"], default="both",
                   help="transform, transform_segments, or both (default)")
    p.add_argument("--mode", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mode:
        return child(args)
    whats = ["transform", "segments"] if args.what == "both" else [args.what]
    for what in whats:
        results = {}
        for mode in ("blocks", "all-at-once"):
            cmd = [sys.executable, __file__, "--mode", f"{what}:{mode}", "--repeat",
                   str(args.repeat), "--model", args.model]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results["blocks"]
        minutes = r["items"] * 10 / 60
        out_mb = np.prod(r["shape"]) * 4 / 2**20
        print(f"{'transform' if what == 'transform' else 'transform_segments'}: {r['items']} "
              f"recordings (40 MIMII clips x {args.repeat}, {minutes:.0f} min of 16 kHz audio, "
              f"{r['items'] * 160000 * 4 / 2**20:,.0f} MB as float32), output "
              f"{tuple(r['shape'])} ({out_mb:,.0f} MB)")
        for mode, r in results.items():
            print(f"  {mode:12s} peak RSS {r['peak_rss'] / 2**20:7,.0f} MB   {r['seconds']:6.1f} s")
        same = abs(results["blocks"]["checksum"] - results["all-at-once"]["checksum"])
        print(f"  all-at-once / blocks peak RSS: "
              f"{results['all-at-once']['peak_rss'] / results['blocks']['peak_rss']:.2f}x; "
              f"|checksum difference| {same:.2e}")


if __name__ == "__main__":
    main()
