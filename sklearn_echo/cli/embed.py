"""``sklearn-echo embed``: embed recordings into an ``.npz`` file."""

from __future__ import annotations

from .files import check_output, finish, load_recordings, skipped_files
from .options import PATHS_HELP, add_command, add_on_error, make_embedder

__all__ = ["register"]


def register(sub, common):
    """Register ``embed`` and its options."""
    p = add_command(
        sub, "embed", _cmd_embed, common,
        help="embed recordings into an .npz file",
        description="Embed recordings with ECHO and write an .npz file holding 'embeddings' "
        "(n, d) float32, 'paths', 'sample_rates', 'n_samples', 'model', 'model_fingerprint' "
        "and the settings used; 'skipped' holds (path, reason) of each file left out by "
        "--on-error skip.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATHS_HELP)
    p.add_argument("-o", "--output", required=True, metavar="FILE.npz", help="output file")
    add_on_error(p)
    return p


def _cmd_embed(args) -> int:
    import numpy as np

    check_output(args.output, "embeddings")
    paths, scanned = load_recordings(args, args.paths, scan=True)
    emb = make_embedder(args)
    X = emb.fit_transform(scanned)
    signals = scanned.infos
    arrays = dict(
        embeddings=np.asarray(X, dtype=np.float32),
        paths=np.array(paths, dtype=str),
        sample_rates=np.array([s.sample_rate for s in signals], dtype=np.float64),
        n_samples=np.array([s.n_samples for s in signals], dtype=np.int64),
        n_channels=np.array([s.n_channels for s in signals], dtype=np.int64),
        model=np.array(str(args.model)),
        model_fingerprint=np.array(emb.model_fingerprint_),
        band_layout=np.array(args.band_layout),
        multichannel=np.array(args.multichannel),
        dtype=np.array(args.dtype),
        skipped=np.array(skipped_files(args), dtype=str).reshape(-1, 2),
    )
    with open(args.output, "wb") as f:
        np.savez(f, **arrays)
    rates = ", ".join(f"{r:g} Hz" for r in emb.sample_rates_)
    print(
        f"wrote {X.shape[0]} embeddings of width {X.shape[1]} ({rates}; "
        f"band_layout={args.band_layout}) to {args.output}"
    )
    return finish(args)
