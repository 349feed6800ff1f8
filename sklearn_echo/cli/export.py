"""``sklearn-echo export``: write the encoder as an ONNX file (the optional ``onnx`` extra).

The file holds the band-sequence Transformer (dynamic batch and sequence
axes) and names the checkpoint it came from; run it with
``EchoEmbedder(model=..., backend="model.onnx")`` (see
`sklearn_echo.echo.export` and `sklearn_echo.echo.onnx_backend`).
"""

from __future__ import annotations

from .errors import EXIT_OK, CommandError
from .files import check_output
from .options import add_command

__all__ = ["register"]


def register(sub, common):
    """Register ``export`` and its options."""
    p = add_command(
        sub, "export", _cmd_export, common,
        help="write the encoder as an ONNX file",
        description="Export the --model checkpoint's band-sequence encoder (the Transformer "
        "over [CLS, patch tokens] sequences, with dynamic batch and sequence axes) to an "
        "ONNX file, for EchoEmbedder(backend='FILE.onnx') or any ONNX runtime. The file "
        "records the checkpoint's SHA-256 fingerprint. Needs the optional packages: "
        "pip install 'sklearn-echo[onnx]'. The recording options are ignored.",
    )
    p.add_argument("--onnx", required=True, metavar="FILE.onnx", help="the ONNX file to write")
    p.add_argument(
        "--int8",
        action="store_true",
        help="quantize the weight products to int8 (per-channel weights, activations "
        "quantized at run time); run it with dtype='int8'",
    )
    return p


def _cmd_export(args) -> int:
    import os

    from ..echo.checkpoint import get_encoder
    from ..echo.export import export_onnx, require_onnx

    if not str(args.onnx).lower().endswith(".onnx"):
        raise CommandError(f"--onnx {args.onnx!r}: the file name must end in .onnx")
    check_output(args.onnx, "ONNX model")
    try:
        require_onnx("sklearn-echo export")
    except ImportError as exc:
        raise CommandError(str(exc)) from exc
    encoder = get_encoder(args.model, args.revision, device="cpu", dtype="float32")
    path = export_onnx(encoder, args.onnx, int8=args.int8)
    precision = "int8" if args.int8 else "float32"
    print(
        f"wrote {path} ({os.path.getsize(path) / 2**20:.1f} MB, {precision}; "
        f"D={encoder.config.embed_dim}, {encoder.config.depth} layers) from "
        f"{encoder.checkpoint_path} (SHA-256 {encoder.fingerprint[:16]}...)"
    )
    return EXIT_OK
