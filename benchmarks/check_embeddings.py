"""Record or compare embeddings of the fixture cases and the shared recordings.

A refactoring guard: ``--record FILE`` writes every embedding this script makes
(fixture cases through ``embed_signals`` and ``EchoEmbedder``, float32 and
bfloat16, utterances and segments, every band layout; CWRU, MIMII mono and
8-channel, DCASE, compressor and PHM files through ``EchoEmbedder``);
``--compare FILE`` makes them again and reports, per entry, whether they are
bitwise identical to the recorded ones.

    python benchmarks/check_embeddings.py --record before.npz
    ... change the code ...
    python benchmarks/check_embeddings.py --compare before.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURE = SHARED / "fixtures" / "echo_reference"
DATA = SHARED / "data"


def _files(pattern: str, n: int) -> list[Path]:
    return sorted(DATA.glob(pattern))[:n]


def make_embeddings() -> dict[str, np.ndarray]:
    from sklearn_echo import EchoEmbedder
    from sklearn_echo.echo.checkpoint import load_encoder

    from sklearn_echo.echo.pipeline import embed_signals

    model = str(FIXTURE / "tiny_echo.safetensors")
    sig = np.load(FIXTURE / "signals.npz")
    rates = sig["sample_rates"]
    cases = [(sig[f"signal_{i:02d}"], float(rates[i])) for i in range(len(rates))]
    out: dict[str, np.ndarray] = {}
    for dtype in ("float32", "bfloat16"):
        enc = load_encoder(model, dtype=dtype)
        for i, o in enumerate(embed_signals(enc, cases, segments=True)):
            out[f"fixture_{dtype}_utt_{i:02d}"] = o.utterance
            out[f"fixture_{dtype}_seg_{i:02d}"] = o.segments
    for layout in ("hz", "relative", "mean", "concat"):
        groups = [cases] if layout != "concat" else [[c] for c in cases]
        for g, group in enumerate(groups):
            emb = EchoEmbedder(model=model, band_layout=layout, cache=False)
            out[f"fixture_embedder_{layout}_{g:02d}"] = emb.fit_transform(group)
    recordings = {
        "cwru12": (_files("cwru/12k_drive_end/*.mat", 18), 12000),
        "cwru48": (_files("cwru/48k_drive_end/*.mat", 9), 48000),
        "mimii": (_files("mimii_fan_id00/normal/*.wav", 4) + _files("mimii_fan_id00/abnormal/*.wav", 4), None),
        "mimii8": (_files("mimii_fan_id00/multichannel/*.wav", 2), None),
        "dcase2023": (_files("dcase2023_valve/test/*.wav", 6), None),
        "dcase2020": (_files("dcase2020_id00/train/*.wav", 4), None),
        "compressor": (_files("air_compressor/Run/*.wav", 4), None),
        "phm": (_files("phm2012_bearing/Bearing1_1/*.csv", 4), 25600),
    }
    for name, (files, rate) in recordings.items():
        for dtype in ("float32", "bfloat16"):
            emb = EchoEmbedder(model=model, sample_rate=rate, dtype=dtype, cache=False)
            out[f"{name}_{dtype}"] = emb.fit_transform(files)
            if dtype == "float32" and name in ("mimii8", "dcase2023", "cwru48"):
                for j, seg in enumerate(emb.transform_segments(files[:2])):
                    out[f"{name}_segments_{j}"] = seg
        if name == "mimii8":
            for mode in ("mean", "first"):
                emb = EchoEmbedder(model=model, multichannel=mode, cache=False)
                out[f"{name}_{mode}"] = emb.fit_transform(files)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", metavar="FILE")
    group.add_argument("--compare", metavar="FILE")
    args = parser.parse_args(argv)
    out = make_embeddings()
    if args.record:
        np.savez(args.record, **out)
        print(f"recorded {len(out)} embeddings to {args.record}")
        return 0
    before = np.load(args.compare)
    missing = sorted(set(before.files) ^ set(out))
    differ = [k for k in before.files if k in out and not np.array_equal(before[k], out[k])]
    for k in differ:
        print(f"DIFFERS {k}: max abs {np.max(np.abs(before[k] - out[k])):.3g}")
    for k in missing:
        print(f"MISSING {k}")
    same = len(before.files) - len(differ) - len(missing)
    print(f"{same} of {len(before.files)} embeddings bitwise identical")
    return 1 if differ or missing else 0


if __name__ == "__main__":
    sys.exit(main())
