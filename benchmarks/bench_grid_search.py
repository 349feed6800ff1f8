"""What does GridSearchCV over k cost, compared with embedding the signals once?

Pipeline(EchoEmbedder -> EchoKNNClassifier) inside GridSearchCV over
n_neighbors in [1, 3, 5, 7, 9] with 5-fold CV: 25 fits plus the refit. With the
content-addressed embedding cache every signal is embedded once, so the search
should cost little more than one embedding pass. Both are timed in one process,
on the MIMII fan clips (normal vs abnormal, 16 kHz, 10 s).

Run::

    python benchmarks/bench_grid_search.py                 # ECHO-Small-sized random checkpoint
    python benchmarks/bench_grid_search.py --model echo-small
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

import sklearn_echo.echo.pipeline as pipeline_module
from sklearn_echo import EchoEmbedder
from sklearn_echo.echo.cache import cache_info, clear_cache
from sklearn_echo.echo.model import EchoConfig, EchoEncoder
from sklearn_echo.neighbors import EchoKNNClassifier

ROOT = Path(__file__).resolve().parents[1]


def random_echo_small(folder: Path) -> str:
    """An ECHO-Small-sized checkpoint with random weights, in the published format."""
    torch.manual_seed(0)
    path = folder / "model.safetensors"
    save_file({k: v.contiguous() for k, v in EchoEncoder(EchoConfig()).state_dict().items()}, path)
    return str(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="default: a random ECHO-Small-sized checkpoint")
    p.add_argument("--data", default=str(ROOT / ".." / "shared" / "data"))
    p.add_argument("--seconds", type=float, default=10.0, help="crop each clip to this length")
    p.add_argument("--dtype", default="float32")
    args = p.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    model = args.model or random_echo_small(Path(tmp.name))
    mimii = Path(args.data) / "mimii_fan_id00"
    files = sorted((mimii / "normal").glob("*.wav")) + sorted((mimii / "abnormal").glob("*.wav"))
    y = np.array([0 if f.parent.name == "normal" else 1 for f in files])
    import soundfile as sf

    X = []
    for f in files:
        x, sr = sf.read(f, dtype="float32")
        X.append((x[: int(args.seconds * sr)], float(sr)))
    audio = sum(len(x) / sr for x, sr in X)
    print(f"{len(X)} clips, {audio:.0f} s of audio, model {'random ECHO-Small' if args.model is None else model}")

    calls = []
    real = pipeline_module.encode_chunks

    def counting(encoder, jobs, **kw):
        calls.extend(hash(j.samples.tobytes()) for j in jobs)
        return real(encoder, jobs, **kw)

    pipeline_module.encode_chunks = counting
    EchoEmbedder(model=model, dtype=args.dtype, cache=False).fit_transform(X[:1])  # load the model

    clear_cache()
    calls.clear()
    t0 = time.perf_counter()
    EchoEmbedder(model=model, dtype=args.dtype, cache=False).fit_transform(X)
    t_once = time.perf_counter() - t0
    once_chunks = len(calls)

    clear_cache()
    calls.clear()
    pipe = Pipeline([("embed", EchoEmbedder(model=model, dtype=args.dtype)),
                     ("knn", EchoKNNClassifier())])
    grid = GridSearchCV(pipe, {"knn__n_neighbors": [1, 3, 5, 7, 9]},
                        cv=StratifiedKFold(5, shuffle=True, random_state=0))
    t0 = time.perf_counter()
    grid.fit(X, y)
    t_search = time.perf_counter() - t0
    info = cache_info()
    print(f"one embedding pass:        {t_once:7.2f} s ({once_chunks} chunks encoded)")
    print(f"GridSearchCV 5 k x 5 folds: {t_search:7.2f} s ({len(calls)} chunks encoded, "
          f"{len(set(calls))} distinct; cache hits {info['hits']}, misses {info['misses']})")
    print(f"search / one pass = {t_search / t_once:.2f}  (target <= 1.3)")
    print(f"best k = {grid.best_params_['knn__n_neighbors']}, CV accuracy {grid.best_score_:.3f}")


if __name__ == "__main__":
    main()
