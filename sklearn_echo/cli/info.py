"""``sklearn-echo info``: the model, and the bands and embedding width per sampling rate.

It also lists the published ECHO models by their aliases
(`sklearn_echo.echo.models.MODEL_ALIASES`: ``echo-small`` and ``echo-tiny``).
"""

from __future__ import annotations

import io
import json
import sys

from .errors import EXIT_OK
from .options import add_command, load_model, rate_list

__all__ = ["DEFAULT_RATES", "model_info", "register"]

DEFAULT_RATES = (8000.0, 12000.0, 16000.0, 22050.0, 44100.0, 48000.0)
"""Sampling rates ``sklearn-echo info`` describes unless ``--rates`` is given."""


def register(sub, common):
    """Register ``info`` and its options."""
    p = add_command(
        sub, "info", _cmd_info, common,
        help="describe the model and the embedding width per sampling rate",
        description="Print the checkpoint's path, SHA-256 fingerprint and architecture, and "
        "for each sampling rate the number of ECHO bands and the embedding width. It takes "
        "the options of the other commands, so a command line can be checked by replacing "
        "its command with 'info': every rate --sample-rate names is added to the table, the other "
        "recording options do not change what is printed. The published models (echo-small, "
        "echo-tiny) are listed by alias and Hub id.",
    )
    p.add_argument(
        "--rates",
        type=rate_list,
        default=None,
        metavar="HZ[,HZ...]",
        help="sampling rates to describe (default: 8000,12000,16000,22050,44100,48000)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def _width(layout: str, n_bands: int, embed_dim: int) -> int:
    return embed_dim if layout == "mean" else n_bands * embed_dim


def model_info(encoder, rates, band_layout="hz") -> dict:
    """What ``sklearn-echo info`` prints, as a dict.

    Parameters
    ----------
    encoder : EchoEncoder
        A loaded encoder (``sklearn_echo.echo.checkpoint.load_encoder``).
    rates : sequence of float
        Sampling rates to describe, in Hz.
    band_layout : {"hz", "relative", "concat", "mean"}, default="hz"
        Layout whose embedding width is reported.

    Returns
    -------
    dict
        ``model`` (checkpoint path), ``fingerprint`` (SHA-256), ``parameters``,
        ``embed_dim``, ``depth``, ``num_heads``, ``ffn_dim``, ``band_width``,
        ``patch_width``, ``chunk_seconds``, ``segment_seconds``,
        ``band_layout``, ``rates`` (one dict per rate: ``sample_rate``,
        ``n_fft``, ``hop``, ``bands``, ``width``) and ``mixed_width`` (the
        width with all ``rates`` in one model; ``None`` for ``"concat"``
        when the band counts differ).

    Examples
    --------
    >>> from sklearn_echo.echo.checkpoint import load_encoder
    >>> from sklearn_echo.cli import model_info
    >>> enc = load_encoder("../shared/fixtures/echo_reference/tiny_echo.safetensors")
    >>> info = model_info(enc, [12000, 48000])
    >>> [(r["sample_rate"], r["bands"], r["width"]) for r in info["rates"]]
    [(12000.0, 5, 640), (48000.0, 19, 2432)]
    >>> info["mixed_width"]
    640
    """
    from ..band_layout import n_slots
    from ..echo.bands import HOP_SECONDS, band_plan, stft_params

    cfg = encoder.config
    per_rate = []
    for sr in rates:
        plan = band_plan(sr, cfg.band_width)
        n_fft, hop = stft_params(sr)
        per_rate.append(
            {
                "sample_rate": float(sr),
                "n_fft": n_fft,
                "hop": hop,
                "bands": plan.n_bands,
                "width": _width(band_layout, plan.n_bands, cfg.embed_dim),
            }
        )
    mixed = None
    if per_rate:
        try:
            mixed = n_slots(band_layout, rates, cfg.band_width) * cfg.embed_dim
        except ValueError:  # concat cannot mix band counts
            mixed = None
    return {
        "model": str(encoder.checkpoint_path),
        "fingerprint": encoder.fingerprint,
        "parameters": int(sum(p.numel() for p in encoder.parameters())),
        "embed_dim": cfg.embed_dim,
        "depth": cfg.depth,
        "num_heads": cfg.num_heads,
        "ffn_dim": cfg.ffn_dim,
        "band_width": cfg.band_width,
        "patch_width": cfg.patch_width,
        "chunk_seconds": cfg.max_patches * cfg.patch_width * HOP_SECONDS,
        "segment_seconds": cfg.patch_width * HOP_SECONDS,
        "band_layout": band_layout,
        "rates": per_rate,
        "mixed_width": mixed,
    }


def _cmd_info(args) -> int:
    from ..signals.paths import rule_rates

    rates = list(args.rates) if args.rates else list(DEFAULT_RATES)
    # the other recording options do not change the model
    rates += [hz for hz in rule_rates(args.sample_rate) if hz not in rates]
    from ..echo.models import MODEL_ALIASES

    info = model_info(load_model(args), rates, args.band_layout)
    info["published_models"] = dict(MODEL_ALIASES)
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    out = io.StringIO()
    w = out.write
    w(f"model        {info['model']}\n")
    w(f"fingerprint  sha256:{info['fingerprint']}\n")
    w(f"parameters   {info['parameters']:,}\n")
    w(f"embed_dim    {info['embed_dim']}\n")
    w(f"depth        {info['depth']}\n")
    w(f"num_heads    {info['num_heads']}\n")
    w(
        f"bands        {info['band_width']} frequency bins each; patches of "
        f"{info['patch_width']} frames ({info['segment_seconds'] * 1000:g} ms); "
        f"chunks of {info['chunk_seconds']:g} s\n"
    )
    w(f"band_layout  {info['band_layout']}\n\n")
    w(f"{'rate (Hz)':>9}  {'n_fft':>5}  {'bands':>5}  {'width':>6}\n")
    for r in info["rates"]:
        w(f"{r['sample_rate']:>9g}  {r['n_fft']:>5}  {r['bands']:>5}  {r['width']:>6}\n")
    if len(info["rates"]) > 1:
        if info["mixed_width"] is None:
            w(
                "\nall these rates together: not possible with band_layout='concat' "
                "(band counts differ); use relative or hz\n"
            )
        else:
            w(
                f"\nall these rates together (band_layout={info['band_layout']}): width "
                f"{info['mixed_width']}\n"
            )
    w("Widths are per channel; multichannel='concatenate' multiplies them by the channel count.\n")
    w("\npublished models (--model ALIAS):\n")
    for alias, repo in info["published_models"].items():
        w(f"  {alias:<11} {repo}\n")
    sys.stdout.write(out.getvalue())
    return EXIT_OK
