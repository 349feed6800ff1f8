"""Does fine-tuning ECHO on auxiliary labels help? Frozen encoder against fine-tuned ones.

Starting checkpoint: the ECHO-Small weights cannot be downloaded here, so a
small ECHO (D=128, 4 layers, 2 heads) is pretrained from scratch with
`EchoPretrainer` (the recipe of ``bench_pretrain.py``) on recordings that no
task below evaluates on: DCASE 2020 id_00 train (75 clips) and the 40 MIMII
fan clips (``--start FILE`` reuses a checkpoint instead). Every task then
compares, with the same starting checkpoint, band layout ("hz") and k-NN
settings, the frozen encoder (``EchoEmbedder``) and ``EchoFineTuner`` with
LoRA adapters (rank 8) and with all weights trained:

* DCASE 2023 valve, section 00: the normal clips are split in two halves per
  (domain, pattern); the fine-tuner learns the ``pat_XX`` attribute (which
  also gives the domain: source 00/01, target 02/03) on one half, an
  ``EchoKNNAnomalyDetector`` (k = 1, cosine) takes that half as its memory
  bank; scored on the other normal half and the 100 anomalies: source AUC,
  target AUC, pAUC and the official score (``sklearn_echo.metrics``).
* CWRU bearings: 1 s windows, 9 fault classes, ``EchoKNNClassifier`` (k = 5,
  cosine); fine-tuned on 12 kHz load 0, accuracy on 12 kHz load 1 and on
  48 kHz load 0.
* Air compressor (Off / Rest / Run, 48 kHz): recordings of 30 and 31 March
  2026 are the test set, the earlier days train (the date is in the file
  name): ``EchoKNNClassifier`` (k = 5, cosine) accuracy and the head's own
  accuracy (``predict``).

Run::

    python benchmarks/bench_finetune.py --quick     # a few minutes on 2 cores
    python benchmarks/bench_finetune.py             # the full run (under 30 min)
    python benchmarks/bench_finetune.py --start pretrained.safetensors
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


# --------------------------------------------------------------------------- data
def _mat(path: Path):
    from scipy.io import loadmat

    m = loadmat(path)
    key = next(k for k in m if k.endswith("_DE_time"))
    return m[key].ravel().astype(np.float32)


def cwru_windows(files, rate: float, seconds: float = 1.0, max_per_file: int | None = None):
    X, y = [], []
    n = int(rate * seconds)
    for f in files:
        label = re.search(r"_(B|IR|OR)(\d{3})", f.name)
        label = label.group(1) + label.group(2)
        x = _mat(f)
        count = len(x) // n if max_per_file is None else min(len(x) // n, max_per_file)
        for i in range(count):
            X.append((x[i * n : (i + 1) * n], rate))
            y.append(label)
    return X, np.array(y)


def valve_sets(data: Path):
    files = sorted((data / "dcase2023_valve" / "test").glob("*.wav"))
    pattern = re.compile(r"section_(\d+)_(source|target)_test_(normal|anomaly)_(\d+)_(pat_\d+)")
    train, test = [], []
    seen: dict = {}
    for f in files:
        _, domain, label, _, pat = pattern.search(f.name).groups()
        if label == "normal":
            k = seen.get((domain, pat), 0)
            seen[(domain, pat)] = k + 1
            (train if k % 2 == 0 else test).append((str(f), domain, 0, pat))
        else:
            test.append((str(f), domain, 1, pat))
    return train, test


def compressor_sets(data: Path, test_from: str = "20260330"):
    train, test = [], []
    for folder in ("Off", "Rest", "Run"):
        for f in sorted((data / "air_compressor" / folder).glob("*.wav")):
            day = re.search(r"(20\d{6})_\d{6}", f.name).group(1)
            (test if day >= test_from else train).append((str(f), folder))
    return train, test


# --------------------------------------------------------------------------- models
def pretrain_start(args, out: Path) -> str:
    from sklearn_echo import EchoPretrainer

    if args.start:
        return args.start
    files = sorted(str(p) for p in (DATA / "dcase2020_id00" / "train").glob("*.wav"))
    files += sorted(str(p) for p in (DATA / "mimii_fan_id00").glob("*normal/*.wav"))
    steps = args.pretrain_steps or (150 if args.quick else 600)
    t0 = time.perf_counter()
    pre = EchoPretrainer(model=None, embed_dim=128, depth=4, max_steps=steps, batch_size=16,
                         learning_rate=5e-4, crop_seconds=2.0, clone_batch=4, mask_ratio=0.8,
                         ema_decay=0.999, ema_end_decay=0.9999, random_state=0, n_jobs=-1,
                         device="cpu", progress=args.progress)
    pre.fit(files)
    path = pre.save(out / "start.safetensors")
    print(f"start: pretrained {pre.n_steps_} steps on {len(files)} clips in "
          f"{time.perf_counter() - t0:.0f} s -> {path}", flush=True)
    return str(path)


def make_tuner(start: str, mode: str, args, **extra):
    from sklearn_echo import EchoFineTuner

    steps = args.steps or (60 if args.quick else 250)
    trainable = "lora" if mode == "lora" else "all"
    return EchoFineTuner(model=start, trainable=trainable, lora_rank=8, lora_alpha=16,
                         max_steps=steps, batch_size=16, crop_seconds=extra.pop("crop", 1.0),
                         random_state=0, device="cpu", n_jobs=-1, cache=False,
                         learning_rate=args.lr, progress=args.progress, **extra)


def features(start, mode, args, fit_X, fit_y, test_Xs, **extra):
    """(train embeddings, [test embeddings], fitted tuner or None, seconds of fine-tuning)."""
    from sklearn_echo import EchoEmbedder

    if mode == "frozen":
        emb = EchoEmbedder(model=start, band_layout="hz", device="cpu", cache=False, n_jobs=-1)
        emb.fit(fit_X)
        return emb.transform(fit_X), [emb.transform(X) for X in test_Xs], None, 0.0
    ft = make_tuner(start, mode, args, **extra)
    t0 = time.perf_counter()
    ft.fit(fit_X, fit_y)
    seconds = time.perf_counter() - t0
    return ft.transform(fit_X), [ft.transform(X) for X in test_Xs], ft, seconds


# --------------------------------------------------------------------------- tasks
def task_valve(start, modes, args):
    from sklearn_echo import EchoKNNAnomalyDetector
    from sklearn_echo.metrics import dcase_scores

    train, test = valve_sets(DATA)
    X_fit = [f for f, *_ in train]
    y_fit = [p for *_, p in train]
    X_test = [f for f, *_ in test]
    y_true = np.array([a for _, _, a, _ in test])
    domain = np.array([d for _, d, _, _ in test])
    rows = {}
    for mode in modes:
        Z_fit, (Z_test,), _, secs = features(start, mode, args, X_fit, y_fit, [X_test], crop=2.0)
        det = EchoKNNAnomalyDetector(n_neighbors=1, metric="cosine").fit(Z_fit)
        scores = -det.score_samples(Z_test)
        res = dcase_scores(y_true, scores, domain=domain)
        sec = res["sections"][None]
        rows[mode] = {"source AUC": sec["auc_by_domain"]["source"],
                      "target AUC": sec["auc_by_domain"]["target"],
                      "pAUC": sec["pauc"], "official": res["official_score"], "seconds": secs}
        print(f"valve {mode}: {rows[mode]}", flush=True)
    return rows


def task_cwru(start, modes, args):
    from sklearn_echo import EchoKNNClassifier

    c12 = sorted((DATA / "cwru" / "12k_drive_end").glob("*.mat"))
    load0 = [f for f in c12 if re.search(r"_0_\d+\.mat$", f.name)]
    load1 = [f for f in c12 if re.search(r"_1_\d+\.mat$", f.name)]
    c48 = sorted((DATA / "cwru" / "48k_drive_end").glob("*.mat"))
    X0, y0 = cwru_windows(load0, 12000.0)
    X1, y1 = cwru_windows(load1, 12000.0)
    X48, y48 = cwru_windows(c48, 48000.0, max_per_file=10)
    rows = {}
    for mode in modes:
        Z0, (Z1, Z48), _, secs = features(start, mode, args, X0, y0, [X1, X48], crop=1.0)
        knn = EchoKNNClassifier(n_neighbors=5, metric="cosine").fit(Z0, y0)
        rows[mode] = {"load 0 -> 1": float(np.mean(knn.predict(Z1) == y1)),
                      "12k -> 48k": float(np.mean(knn.predict(Z48) == y48)), "seconds": secs}
        print(f"cwru {mode}: {rows[mode]}", flush=True)
    return rows


def task_compressor(start, modes, args):
    from sklearn_echo import EchoKNNClassifier

    train, test = compressor_sets(DATA)
    X_fit, y_fit = [f for f, _ in train], np.array([c for _, c in train])
    X_test, y_test = [f for f, _ in test], np.array([c for _, c in test])
    rows = {}
    for mode in modes:
        Z_fit, (Z_test,), ft, secs = features(start, mode, args, X_fit, y_fit, [X_test], crop=1.0)
        knn = EchoKNNClassifier(n_neighbors=5, metric="cosine").fit(Z_fit, y_fit)
        row = {"k-NN accuracy": float(np.mean(knn.predict(Z_test) == y_test)), "seconds": secs}
        if ft is not None:
            row["head accuracy"] = float(np.mean(ft.predict(X_test) == y_test))
            seen = ft.predict(X_fit)  # the head on its own training days
            row["head accuracy, training days"] = float(np.mean(seen == y_fit))
            for name, truth, pred in (("training days", y_fit, seen),
                                      ("test days", y_test, ft.predict(X_test))):
                pairs = {f"{t}->{p}": int(np.sum((truth == t) & (pred == p)))
                         for t in ft.classes_ for p in ft.classes_}
                print(f"compressor {mode}, head on the {name} (true->predicted): {pairs}")
        rows[mode] = row
        print(f"compressor {mode}: {row}", flush=True)
    return rows


def _table(title, rows):
    cols = [c for c in dict.fromkeys(k for row in rows.values() for k in row) if c != "seconds"]
    cols.append("fine-tuning s")
    print(f"\n{title}\n| encoder | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for mode, row in rows.items():
        vals = [f"{row[c]:.3f}" if c in row else "-" for c in cols[:-1]]
        vals.append(f"{row['seconds']:.0f}")
        print(f"| {mode} | " + " | ".join(vals) + " |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer steps (a few minutes)")
    p.add_argument("--start", default=None, help="starting checkpoint (skips the pretraining)")
    p.add_argument("--pretrain-steps", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="fine-tuning steps")
    p.add_argument("--lr", type=float, default=None,
                   help="fine-tuning learning rate (default: EchoFineTuner's)")
    p.add_argument("--modes", default="frozen,lora,all")
    p.add_argument("--tasks", default="valve,cwru,compressor")
    p.add_argument("--out", default=None, help="folder for the starting checkpoint")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_finetune_"))
    out.mkdir(parents=True, exist_ok=True)
    start = pretrain_start(args, out)
    modes = args.modes.split(",")
    tasks = {"valve": ("DCASE 2023 valve (k-NN anomaly detection, k=1)", task_valve),
             "cwru": ("CWRU (k-NN classification, k=5, 1 s windows)", task_cwru),
             "compressor": ("Air compressor (days apart; k-NN, k=5)", task_compressor)}
    results = {}
    for name in args.tasks.split(","):
        title, fn = tasks[name]
        results[name] = (title, fn(start, modes, args))
    for title, rows in results.values():
        _table(title, rows)
    return results


if __name__ == "__main__":
    main()
