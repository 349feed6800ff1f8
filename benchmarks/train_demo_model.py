"""Train the bundled demonstration model (``model="echo-demo"``) and its demo clips.

The package ships a small ECHO (D=128, 4 layers, 2 heads) so that
``sklearn-echo demo`` runs on a fresh machine without network. This script
trains it from scratch with `EchoPretrainer`, scores it on the pretraining
benchmark's report card (``benchmarks/bench_pretrain.py``: MIMII fan AUC and
pAUC with ``EchoKNNAnomalyDetector``, CWRU load 0 -> 1 and 12 -> 48 kHz with
``EchoKNNClassifier``) beside the same architecture at its random
initialisation and log-mel statistics, and writes the demo clips.

Training set: only recordings whose licences allow redistributing derived
weights (see ../shared/data/README.md):

* DCASE 2023 task 2 valve, 200 clips (CC BY 4.0);
* DCASE 2020 task 2 id_00 train, 75 clips (CC BY-SA 4.0);
* the 10 MIMII fan id_00 normal clips that form the report card's memory
  bank (CC BY-SA 4.0).

Left out: the air compressor (no licence) and CWRU (no licence stated), also
PRONOSTIA (no licence stated). The report card's held-out clips (10 MIMII
normal, 20 abnormal, every CWRU recording) are never trained on.

Demo clips (``--clips``): 2 s crops at 16 kHz (16-bit FLAC) of MIMII fan
id_00 channel 0: 4 normal clips of the memory bank for fitting, 4 held-out
normal and 4 abnormal clips for scoring.

Run::

    python benchmarks/train_demo_model.py                 # train, evaluate, install
    python benchmarks/train_demo_model.py --evaluate-only # score the shipped file
    python benchmarks/train_demo_model.py --clips         # rewrite the demo clips

Training and evaluation are seeded (``random_state=0``). Measured on this 2-core
CPU: 16 s of training with nothing else running (546 to 986 s while other jobs
loaded the cores to a load average of 13 to 15) and 1 to 3 minutes of scoring; two
runs of the same training code gave the same file (same SHA-256) and the same figures. The shipped file's figures and fingerprint are in
``sklearn_echo/assets/echo-demo.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pretrain  # the report card's data sets and scoring

DATA = ROOT / ".." / "shared" / "data"
ASSETS = ROOT / "sklearn_echo" / "assets"
MODEL_FILE = ASSETS / "echo-demo.safetensors"
CLIPS = ASSETS / "demo"
CONFIG = {"embed_dim": 128, "depth": 4}
COLUMNS = ["MIMII AUC", "MIMII pAUC", "CWRU load0->1", "CWRU 12k->48k"]


def training_files(data: Path, bank) -> list[str]:
    """Recordings whose licences allow redistributing weights trained on them."""
    wavs = sorted((data / "dcase2023_valve" / "test").glob("*.wav"))
    wavs += sorted((data / "dcase2020_id00" / "train").glob("*.wav"))
    return [str(p) for p in wavs] + list(bank)


def train(args, bank) -> Path:
    from sklearn_echo import EchoPretrainer
    from sklearn_echo.signals import scan_signals

    files = training_files(Path(args.data), bank)
    out = Path(args.out or tempfile.mkdtemp(prefix="echo_demo_"))
    print(f"training set: {len(files)} clips; {args.steps} steps of {args.batch_size} crops "
          f"of {args.crop:g} s -> {out}", flush=True)
    pre = EchoPretrainer(
        model=None, **CONFIG, max_steps=args.steps, batch_size=args.batch_size,
        learning_rate=args.lr, crop_seconds=args.crop, clone_batch=4, mask_ratio=0.8,
        ema_decay=args.ema[0], ema_end_decay=args.ema[1], random_state=0, n_jobs=-1,
        device="cpu", progress=True, checkpoint_dir=out / "run", checkpoint_interval=100,
    )
    t0 = time.perf_counter()
    pre.fit(scan_signals(files))
    seconds = time.perf_counter() - t0
    path = pre.save(out / "echo-demo.safetensors")
    losses = pre.loss_curve_
    print(f"trained {pre.n_steps_} steps in {seconds:.0f} s; loss {np.mean(losses[:10]):.4f} "
          f"(first 10) -> {np.mean(losses[-10:]):.4f} (last 10)", flush=True)
    return path


def random_init(folder: Path) -> str:
    """The same architecture at a seeded random initialisation, as a checkpoint."""
    import torch

    from sklearn_echo.echo.model import EchoConfig, EchoEncoder
    from sklearn_echo.training.export import encoder_arrays, save_encoder

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        enc = EchoEncoder(EchoConfig(embed_dim=128, depth=4, num_heads=2, ffn_dim=512))
    return str(save_encoder(encoder_arrays(enc), folder / "random_init.safetensors"))


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def report_card(model_path, data: Path, mimii) -> dict:
    """Report-card rows: random init, the trained model, log-mel statistics."""
    _, s0, s1, s48 = bench_pretrain.cwru_sets(data, None)
    cwru = (s0, s1, s48)
    folder = Path(tempfile.mkdtemp(prefix="echo_demo_eval_"))
    return {
        "random initialisation": bench_pretrain.evaluate(
            bench_pretrain.echo_features(random_init(folder)), mimii, cwru),
        "echo-demo": bench_pretrain.evaluate(
            bench_pretrain.echo_features(str(model_path)), mimii, cwru),
        "log-mel statistics": bench_pretrain.evaluate(bench_pretrain.logmel_features, mimii, cwru),
    }


def print_table(rows: dict) -> None:
    print("\n| features | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---|" * len(COLUMNS))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in COLUMNS) + " |")


def write_clips(data: Path, seconds: float = 2.0, per_group: int = 4) -> list[Path]:
    """2 s crops (16-bit FLAC, 16 kHz) of MIMII fan id_00 clips for the demo."""
    import soundfile as sf

    bank, test, labels = bench_pretrain.mimii_sets(data)
    held_normal = [t for t, y in zip(test, labels) if y == 0]
    abnormal = [t for t, y in zip(test, labels) if y == 1]
    groups = {"train_normal": bank, "test_normal": held_normal, "test_abnormal": abnormal}
    CLIPS.mkdir(parents=True, exist_ok=True)
    written = []
    for group, files in groups.items():
        for i, src in enumerate(files[:per_group]):
            x, rate = sf.read(src, dtype="int16")
            x = x if x.ndim == 1 else x[:, 0]
            start = (len(x) - int(seconds * rate)) // 2
            crop = x[start : start + int(seconds * rate)]
            target = CLIPS / f"{group}_{i:02d}.flac"
            sf.write(target, crop, rate, subtype="PCM_16", format="FLAC")
            written.append(target)
            print(f"{target.relative_to(ROOT)} <- {Path(src).name} [{start / rate:g} s, "
                  f"{seconds:g} s]")
    return written


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--crop", type=float, default=2.0, help="training crop in seconds")
    p.add_argument("--ema", type=float, nargs=2, default=(0.999, 0.9999))
    p.add_argument("--out", default=None, help="folder for the run (default: a temp dir)")
    p.add_argument("--install", action="store_true",
                   help=f"copy the trained file to {MODEL_FILE.relative_to(ROOT)}")
    p.add_argument("--evaluate-only", action="store_true",
                   help="score the shipped file (or --model) instead of training")
    p.add_argument("--model", default=str(MODEL_FILE), help="file scored by --evaluate-only")
    p.add_argument("--clips", action="store_true", help="write the demo clips and stop")
    args = p.parse_args(argv)
    data = Path(args.data)
    if args.clips:
        return write_clips(data)
    mimii = bench_pretrain.mimii_sets(data)
    if args.evaluate_only:
        model = Path(args.model)
    else:
        model = train(args, mimii[0])
        if args.install:
            ASSETS.mkdir(parents=True, exist_ok=True)
            MODEL_FILE.write_bytes(model.read_bytes())
            print(f"installed as {MODEL_FILE.relative_to(ROOT)}")
    print(f"{model}: {model.stat().st_size / 1e6:.2f} MB, SHA-256 {sha256(model)}", flush=True)
    rows = report_card(model, data, mimii)
    print_table(rows)
    return rows


if __name__ == "__main__":
    main()
