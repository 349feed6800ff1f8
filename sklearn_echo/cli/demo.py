"""``sklearn-echo demo``: the package's main job on bundled clips, offline, in seconds.

Fits ``EchoEmbedder(model="echo-demo")`` + ``EchoKNNAnomalyDetector`` on the
demo's normal fan clips (`sklearn_echo.datasets.load_demo`), scores the
held-back normal and abnormal clips, prints AUC and pAUC and draws the ROC
curve (when matplotlib is installed). Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util

from .options import positive_int

__all__ = ["register"]

DEMO_MODEL = "echo-demo"
DEFAULT_ROC = "demo_roc.png"


def register(sub, common):
    """Register ``demo`` and its options (its own ``--model``, default ``echo-demo``)."""
    p = sub.add_parser(
        "demo",
        help="detect anomalies in bundled fan clips with the packaged model (offline)",
        description="Fit a nearest-neighbour anomaly detector on 4 bundled normal fan clips "
        "(MIMII fan id_00, 2 s, 16 kHz) embedded by the packaged echo-demo model, score 4 "
        "other normal and 4 abnormal clips, print AUC and pAUC (max_fpr=0.1) and plot the "
        "ROC curve. Runs offline in seconds.",
    )
    p.add_argument(
        "--roc", default=DEFAULT_ROC, metavar="FILE.png",
        help="ROC curve plot, needs matplotlib (default: %(default)s; '' for none)",
    )
    p.add_argument(
        "--model", default=DEMO_MODEL,
        help="checkpoint to embed with: any --model of the other commands (default: %(default)s, "
        "shipped with the package)",
    )
    p.add_argument("--k", type=positive_int, default=1, help="neighbours averaged (default: %(default)s)")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    p.set_defaults(func=_cmd_demo)
    return p


def _cmd_demo(args) -> int:
    import time

    from ..datasets import load_demo
    from ..embedder import EchoEmbedder
    from ..metrics import DCASE_MAX_FPR, dcase_auc, dcase_pauc
    from ..neighbors import EchoKNNAnomalyDetector
    from .files import check_output

    t0 = time.perf_counter()
    if args.roc:
        check_output(args.roc, "ROC plot")
    demo = load_demo()
    emb = EchoEmbedder(model=args.model, cache=False).fit(demo.train + demo.test)
    print(f"model: {args.model} (D={emb.embed_dim_}, SHA-256 {emb.model_fingerprint_[:16]}...)")
    print(f"fitting on {len(demo.train)} normal fan clips, scoring "
          f"{int((demo.y_test == 0).sum())} normal and {int(demo.y_test.sum())} abnormal ones "
          f"(MIMII fan id_00, 2 s at {demo.sample_rate} Hz, bundled)")
    det = EchoKNNAnomalyDetector(n_neighbors=args.k).fit(emb.transform(demo.train))
    scores = det.anomaly_score(emb.transform(demo.test))
    for path, label, score in zip(demo.test_files, demo.y_test, scores):
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        print(f"  {name:<22} {'anomaly' if label else 'normal':<8} score {score:.3e}")
    auc = dcase_auc(demo.y_test, scores)
    pauc = dcase_pauc(demo.y_test, scores, max_fpr=DCASE_MAX_FPR)
    print(f"AUC: {auc:.4f}")
    print(f"pAUC (max_fpr={DCASE_MAX_FPR:g}): {pauc:.4f}")
    if args.roc:
        if importlib.util.find_spec("matplotlib") is None:
            print("no ROC plot: matplotlib is not installed (pip install 'sklearn-echo[plot]')")
        else:
            from .plots import roc_plot

            roc_plot(args.roc, demo.y_test, scores, auc, pauc, DCASE_MAX_FPR)
            print(f"wrote {args.roc}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    print(
        "\nThe same on your own recordings, with ECHO-Small (downloaded once from the "
        "Hugging Face Hub):\n"
        "  sklearn-echo detect --normal train/normal --test test/ -o scores.csv --roc roc.png\n"
        "test files whose path says 'normal' or 'anomaly'/'abnormal' give AUC and pAUC."
    )
    return 0
