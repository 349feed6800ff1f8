"""Does ECHO pretraining learn? And what does a training step cost?

Learning (default): a small ECHO (D=128, 4 layers, 2 heads) is pretrained from
scratch with `EchoPretrainer` on recordings of ../shared/data, holding out every
clip it is evaluated on:

* pretraining set: DCASE 2023 valve (200 clips), DCASE 2020 id_00 train (75),
  the air compressor (140 clips of 2 s at 48 kHz), the 10 MIMII fan normal
  clips that form the anomaly detector's memory bank, and the 9 CWRU 12 kHz
  load-0 recordings that form the classifier's memory bank, listed 20 times
  (``--vibration-repeats``) with the 48 kHz healthy-bearing recording (never
  evaluated on) as often, so that vibration is about a third of the items
  rather than 9 of 434;
* held out: the other 10 MIMII normal clips and the 20 abnormal ones, the CWRU
  12 kHz load-1 recordings and every 48 kHz recording.

Frozen embeddings (``EchoEmbedder``, band layout "hz") are then scored for
(a) the same architecture at its random initialisation, (b) after
pretraining, (c) log-mel statistics (mean and standard deviation over time of
64 log-mel bands) of the same clips:

* MIMII fan: ``EchoKNNAnomalyDetector`` (k = 1, cosine) on the 10 bank clips,
  AUC and pAUC (``dcase_auc``, ``dcase_pauc``) over the 30 held-out clips;
* CWRU: 1 s windows, ``EchoKNNClassifier`` (k = 5, cosine), 9 fault classes:
  load 0 -> load 1 at 12 kHz, and 12 kHz (load 0) -> 48 kHz (load 0).

Speed (``--speed``): training steps per second and seconds of compute per hour
of audio, ECHO-Small and the small configuration, float32 and bfloat16
autocast, a few steps each, side by side, and the bfloat16 / float32 ratio.

Run::

    python benchmarks/bench_pretrain.py --quick      # a few minutes
    python benchmarks/bench_pretrain.py              # the full run (3,000 steps, about 10 min on 2 cores)
    python benchmarks/bench_pretrain.py --speed
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
LABEL = re.compile(r"Drive_End_(B|IR|OR)(\d{3})(?:@6)?_(\d)_")


# --------------------------------------------------------------------------- data
def pretraining_files(data: Path, mimii_bank, cwru_bank, quick: bool, vibration_repeats: int = 0):
    """Sound files, 12 kHz CWRU recordings and 48 kHz CWRU recordings to pretrain on.

    ``vibration_repeats`` > 0 lists the 12 kHz CWRU bank recordings that many
    times and adds the 48 kHz healthy-bearing recording (``cwru/normal``, never
    evaluated on) as often: vibration is otherwise 9 of about 430 items.
    """
    wavs = sorted((data / "dcase2023_valve" / "test").glob("*.wav"))
    wavs += sorted((data / "dcase2020_id00" / "train").glob("*.wav"))
    wavs += sorted((data / "air_compressor").glob("*/*.wav"))
    if quick:
        wavs = wavs[::3]
    mats12 = list(cwru_bank) * max(1, vibration_repeats)
    mats48 = [str(data / "cwru" / "normal" / "normal_0_97.mat")] * vibration_repeats
    return [str(p) for p in wavs] + list(mimii_bank), mats12, mats48


def cwru_windows(files, rate: float, max_per_file: int | None):
    from sklearn_echo.signals import load_signals

    X, y = [], []
    n = int(rate)
    for f, s in zip(files, load_signals([str(f) for f in files], rate)):
        label = "".join(LABEL.search(Path(f).name).group(1, 2))
        x = s.data[0]
        count = len(x) // n if max_per_file is None else min(len(x) // n, max_per_file)
        for i in range(count):
            X.append((x[i * n : (i + 1) * n], rate))
            y.append(label)
    return X, np.array(y)


def cwru_sets(data: Path, max_per_file):
    folder12 = data / "cwru" / "12k_drive_end"
    load0 = sorted(p for p in folder12.glob("*.mat") if LABEL.search(p.name).group(3) == "0")
    load1 = sorted(p for p in folder12.glob("*.mat") if LABEL.search(p.name).group(3) == "1")
    X0, y0 = cwru_windows(load0, 12000.0, max_per_file)
    X1, y1 = cwru_windows(load1, 12000.0, max_per_file)
    X48, y48 = cwru_windows(sorted((data / "cwru" / "48k_drive_end").glob("*.mat")), 48000.0,
                            max_per_file)
    return load0, (X0, y0), (X1, y1), (X48, y48)


def mimii_sets(data: Path):
    normal = sorted(str(p) for p in (data / "mimii_fan_id00" / "normal").glob("*.wav"))
    abnormal = sorted(str(p) for p in (data / "mimii_fan_id00" / "abnormal").glob("*.wav"))
    test = normal[10:] + abnormal
    labels = np.array([0] * len(normal[10:]) + [1] * len(abnormal))
    return normal[:10], test, labels


# --------------------------------------------------------------------------- log-mel baseline
def _mel_filters(sr: float, n_fft: int, n_mels: int, fmax: float) -> np.ndarray:
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(0.0), mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down))


def logmel_stats(items, fmax: float, n_mels: int = 64) -> np.ndarray:
    """Mean and standard deviation over time of 64 log-mel bands up to ``fmax`` Hz."""
    import torch

    from sklearn_echo.echo.bands import stft_params
    from sklearn_echo.signals import load_signals

    rows = []
    for s in load_signals(items):
        sr = s.sample_rate
        n_fft, hop = stft_params(sr)
        x = torch.as_tensor(s.data[0] - s.data[0].mean())
        spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=False,
                          return_complex=True).abs().pow(2).numpy()
        mel = np.log(_mel_filters(sr, n_fft, n_mels, min(fmax, sr / 2)) @ spec + 1e-10)
        rows.append(np.concatenate([mel.mean(axis=1), mel.std(axis=1)]))
    return np.asarray(rows, dtype=np.float32)


# --------------------------------------------------------------------------- evaluation
def evaluate(features, mimii, cwru) -> dict:
    """Scores of one feature extractor: ``features(items, fit_items, fmax) -> (fit, items)``."""
    from sklearn_echo import EchoKNNAnomalyDetector, EchoKNNClassifier
    from sklearn_echo.metrics import anomaly_scores_of, dcase_auc, dcase_pauc

    bank, test, labels = mimii
    (X0, y0), (X1, y1), (X48, y48) = cwru
    row = {}
    fit, tst = features(bank, test, 8000.0)
    scores = anomaly_scores_of(EchoKNNAnomalyDetector(n_neighbors=1).fit(fit), tst)
    row["MIMII AUC"] = dcase_auc(labels, scores)
    row["MIMII pAUC"] = dcase_pauc(labels, scores)
    knn = EchoKNNClassifier(n_neighbors=5, metric="cosine", algorithm="brute")
    fit, tst = features(X0, X1, 6000.0)
    row["CWRU load0->1"] = knn.fit(fit, y0).score(tst, y1)
    fit, tst = features(X0, X48, 6000.0)
    row["CWRU 12k->48k"] = knn.fit(fit, y0).score(tst, y48)
    return row


def echo_features(model_path: str):
    from sklearn_echo import EchoEmbedder

    def features(fit_items, items, fmax):
        emb = EchoEmbedder(model=model_path, band_layout="hz", cache=False).fit(fit_items + items)
        return emb.transform(fit_items), emb.transform(items)

    return features


def logmel_features(fit_items, items, fmax):
    return logmel_stats(fit_items, fmax), logmel_stats(items, fmax)


# --------------------------------------------------------------------------- runs
def learning(args):
    import torch

    from sklearn_echo import EchoPretrainer
    from sklearn_echo.echo.model import EchoConfig, EchoEncoder
    from sklearn_echo.training.export import encoder_arrays, save_encoder

    data = Path(args.data)
    bank, test, labels = mimii_sets(data)
    cwru_files, s0, s1, s48 = cwru_sets(data, None)
    wavs, mats, mats48 = pretraining_files(data, bank, cwru_files, args.quick,
                                           args.vibration_repeats)
    steps = args.steps or (150 if args.quick else 3000)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_pretrain_"))
    print(f"pretraining set: {len(wavs)} sound files + {len(mats)} CWRU 12 kHz and "
          f"{len(mats48)} CWRU 48 kHz healthy recordings (repeats included); "
          f"held out: {len(test)} MIMII clips, CWRU load 1 and 48 kHz; {steps} steps -> {out}",
          flush=True)
    pre = EchoPretrainer(
        model=None, embed_dim=128, depth=4, max_steps=steps, batch_size=args.batch_size,
        learning_rate=args.lr, crop_seconds=args.crop, clone_batch=4, mask_ratio=0.8,
        ema_decay=args.ema[0], ema_end_decay=args.ema[1], cls_loss_weight=args.cls_weight,
        random_state=0, n_jobs=-1,
        device="cpu", progress=True, checkpoint_dir=out / "run", checkpoint_interval=500,
        num_workers=args.workers,
    )
    trained = out / "pretrained.safetensors"
    if args.reuse and trained.is_file():
        print(f"evaluating the pretrained encoder already in {trained}")
    else:
        t0 = time.perf_counter()
        pre.fit(_scan(wavs, mats, mats48))
        seconds = time.perf_counter() - t0
        pre.save(trained)
        losses = pre.loss_curve_
        print(f"trained {pre.n_steps_} steps in {seconds:.0f} s; loss {np.mean(losses[:10]):.4f} "
              f"(first 10) -> {np.mean(losses[-10:]):.4f} (last 10)", flush=True)
    trained = str(trained)
    # (a) is the very initialisation the pretraining started from: EchoPretrainer
    # draws its torch seed from random_state=0 as below.
    config = EchoConfig(embed_dim=128, depth=4, num_heads=2, ffn_dim=512)
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        init = EchoEncoder(config)
    random_init = str(save_encoder(encoder_arrays(init), out / "random_init.safetensors"))
    mimii, cwru = (bank, test, labels), (s0, s1, s48)
    baselines = _load_baselines(args.baselines)
    rows = {"(a) random init": evaluate(echo_features(random_init), mimii, cwru)}
    rows["(b) pretrained"] = evaluate(echo_features(trained), mimii, cwru)
    state = out / "run" / "state.pt"
    if args.student and state.is_file():
        student = EchoEncoder(config)
        student.load_state_dict(torch.load(state, map_location="cpu", weights_only=True)["encoder"])
        path = str(save_encoder(encoder_arrays(student), out / "student.safetensors"))
        rows["(b') student"] = evaluate(echo_features(path), mimii, cwru)
    rows["(c) log-mel stats"] = (baselines.get("(c) log-mel stats")
                                 or evaluate(logmel_features, mimii, cwru))
    _save_baselines(args.baselines, rows)
    cols = ["MIMII AUC", "MIMII pAUC", "CWRU load0->1", "CWRU 12k->48k"]
    print("\n| features | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")
    a, b = rows["(a) random init"], rows["(b) pretrained"]
    open_tasks = [c for c in cols if a[c] < 1.0]
    better = all(b[c] > a[c] for c in open_tasks)
    saturated = [c for c in cols if a[c] >= 1.0]
    print(f"\n(b) beats (a) on every task where (a) is below 1.0 ({', '.join(open_tasks)}): "
          f"{better}" + (f"; (a) is already 1.000 on {', '.join(saturated)}, "
                         f"(b) {', '.join(f'{b[c]:.3f}' for c in saturated)}" if saturated else ""))
    return rows


def _load_baselines(path) -> dict:
    """Row (c) from an earlier run (it does not depend on the training)."""
    import json

    if path and Path(path).is_file():
        print(f"row (c) from {path}")
        return json.loads(Path(path).read_text())
    return {}


def _save_baselines(path, rows):
    import json

    if path:
        keep = {k: v for k, v in rows.items() if k == "(c) log-mel stats"}
        Path(path).write_text(json.dumps(keep, indent=1))


def _scan(wavs, mats, mats48=()):
    from sklearn_echo.signals import scan_signals

    scanned = scan_signals(wavs) + scan_signals(mats, 12000.0)
    return scanned + scan_signals(list(mats48), 48000.0) if mats48 else scanned


def speed(args):
    import torch

    from sklearn_echo.device import torch_threads
    from sklearn_echo.echo.model import EchoConfig, EchoEncoder
    from sklearn_echo.signals import scan_signals
    from sklearn_echo.training import (
        ExampleSpec,
        Pretraining,
        PretrainingDataset,
        Recipe,
        SignalSource,
        training_items,
    )

    files = sorted(str(p) for p in (Path(args.data) / "dcase2023_valve" / "test").glob("*.wav"))[:16]
    scanned = scan_signals(files)
    items = training_items(scanned.infos)
    configs = {
        "ECHO-Small (D=384, 12 layers)": EchoConfig(),
        "small (D=128, 4 layers)": EchoConfig(embed_dim=128, depth=4, num_heads=2, ffn_dim=512),
    }
    crop_frames = 2000 if not args.quick else 1008
    batch = args.batch_size
    spec = ExampleSpec(crop_frames=crop_frames, clone_batch=4)
    print(f"batch {batch} crops of {crop_frames / 100:g} s, 2-5 bands each, clone batch 4, "
          f"mask 0.8; {args.speed_steps} timed steps after 1 warm-up step")
    print("| model | dtype | steps/s | s per hour of audio |")
    print("|---|---|---|---|")
    results = {}
    with torch_threads(-1):
        for name, config in configs.items():
            for dtype in ("float32", "bfloat16"):
                torch.manual_seed(0)
                run = Pretraining(EchoEncoder(config), Recipe(max_steps=100, learning_rate=1e-4),
                                  "cpu", torch.bfloat16 if dtype == "bfloat16" else None)
                data = PretrainingDataset(SignalSource(scanned), items, spec, batch, seed=0,
                                          stop_step=args.speed_steps + 1)
                batches = list(data)
                run.step(batches[0])
                t0 = time.perf_counter()
                for b in batches[1:]:
                    run.step(b)
                per_step = (time.perf_counter() - t0) / args.speed_steps
                audio = batch * crop_frames / 100.0
                results[name, dtype] = per_step
                print(f"| {name} | {dtype} | {1 / per_step:.3f} | {3600 * per_step / audio:.0f} |",
                      flush=True)
    for name in configs:
        ratio = results[name, "float32"] / results[name, "bfloat16"]
        print(f"{name}: bfloat16 autocast is {ratio:.2f}x the float32 training throughput")
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few minutes: fewer steps and files")
    p.add_argument("--speed", action="store_true", help="measure training throughput only")
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--crop", type=float, default=2.0, help="training crop in seconds")
    p.add_argument("--ema", type=float, nargs=2, default=(0.999, 0.9999))
    p.add_argument("--cls-weight", type=float, default=1.0, help="utterance-loss weight")
    p.add_argument("--speed-steps", type=int, default=3)
    p.add_argument("--workers", type=int, default=1, help="DataLoader workers")
    p.add_argument("--vibration-repeats", type=int, default=20,
                   help="list the CWRU 12 kHz bank recordings N times and add the 48 kHz "
                        "healthy recording N times (0: each bank recording once, no 48 kHz)")
    p.add_argument("--reuse", action="store_true",
                   help="evaluate the pretrained.safetensors already in --out instead of training")
    p.add_argument("--out", default=None, help="folder for the checkpoints (default: a temp dir)")
    p.add_argument("--baselines", default=None,
                   help="JSON file caching row (c): read when it exists, else written")
    p.add_argument("--student", action="store_true",
                   help="also score the student encoder of the last checkpoint (row b')")
    args = p.parse_args(argv)
    if args.speed:
        return speed(args)
    return learning(args)


if __name__ == "__main__":
    main()
