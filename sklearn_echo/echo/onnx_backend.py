"""Running the encoder with onnxruntime (``backend="onnxruntime"``, the optional ``onnx`` extra).

`OnnxEncoder` stands in for `sklearn_echo.echo.model.EchoEncoder` inside the
embedding pipeline: the band sequences are built by the checkpoint's own
patch projection (torch, float32), the Transformer runs in an onnxruntime
session of the graph `sklearn_echo.echo.export` writes. The pipeline's
batching, caching and worker threads are unchanged: each encoder batch is one
``session.run`` on one CPU thread, two batches side by side on two cores.

`load_onnx_encoder` makes one from a checkpoint file, either exporting the
graph in memory or reading a file written by ``sklearn-echo export --onnx``;
a file exported from another checkpoint, or whose shapes do not match the
checkpoint's, is refused with an error naming both.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch import nn

from .export import encoder_graph, quantize_model, read_metadata, require_onnx
from .model import EchoEncoder

__all__ = ["OnnxEncoder", "OnnxModelError", "load_onnx_encoder", "parse_backend"]

BACKENDS = ("torch", "onnxruntime")


class OnnxModelError(ValueError):
    """An ONNX file that is not an export of the checkpoint it is used with."""


def parse_backend(backend) -> tuple[str, str | None]:
    """``(kind, onnx file or None)`` of a ``backend`` value.

    ``"torch"`` and ``"onnxruntime"`` name the engine; a path ending in
    ``.onnx`` means onnxruntime running that exported file.

    Examples
    --------
    >>> from sklearn_echo.echo.onnx_backend import parse_backend
    >>> parse_backend("torch"), parse_backend("model.onnx")
    (('torch', None), ('onnxruntime', 'model.onnx'))
    """
    if isinstance(backend, os.PathLike) or (
        isinstance(backend, str) and backend.lower().endswith(".onnx")
    ):
        return "onnxruntime", os.fspath(backend)
    if backend is None:
        return "torch", None
    if backend not in BACKENDS:
        raise ValueError(
            f"backend={backend!r} is not supported; use 'torch', 'onnxruntime' or the "
            "path of a .onnx file written by 'sklearn-echo export --onnx'"
        )
    return backend, None


class OnnxEncoder(nn.Module):
    """An ECHO encoder whose Transformer runs in onnxruntime.

    Has what the pipeline uses of `EchoEncoder`: ``config``, ``embed``,
    ``forward(x, lengths, cls_only)``, ``cls_token`` (float32, CPU),
    ``fingerprint`` and ``checkpoint_path``; ``precision`` is
    ``"onnxruntime-float32"`` or ``"onnxruntime-int8"``.

    Parameters
    ----------
    encoder : EchoEncoder
        The checkpoint's float32 encoder (its embedding layers are kept).
    model : onnx.ModelProto or bytes
        The exported graph.
    precision : {"float32", "int8"}
    """

    def __init__(self, encoder: EchoEncoder, model, precision: str = "float32"):
        super().__init__()
        _, ort = require_onnx()
        self.config = encoder.config
        self.cls_token = encoder.cls_token
        self.pos_embed = encoder.pos_embed
        self.patch_embed = encoder.patch_embed
        self.fingerprint = getattr(encoder, "fingerprint", "")
        self.checkpoint_path = getattr(encoder, "checkpoint_path", None)
        self.precision = f"onnxruntime-{precision}"
        options = ort.SessionOptions()
        # The pipeline runs one batch per core side by side (one session.run each).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        data = model if isinstance(model, bytes) else model.SerializeToString()
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    embed = EchoEncoder.embed

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, cls_only: bool = False):
        """Encode band sequences ``x`` (N, L, D): (N, L, D), or (N, D) with ``cls_only``."""
        n, length = x.shape[0], x.shape[1]
        if lengths is None:
            lens = np.full(n, length, dtype=np.int64)
        else:
            lens = lengths.detach().cpu().numpy().astype(np.int64)
        feeds = {"tokens": x.detach().float().cpu().numpy(), "lengths": lens}
        out = self.session.run(["cls" if cls_only else "hidden"], feeds)[0]
        return torch.from_numpy(out)


def _check_file(meta: dict, encoder: EchoEncoder, file: str, precision: str):
    if not meta or "fingerprint" not in meta:
        raise OnnxModelError(
            f"{file!r} was not written by 'sklearn-echo export --onnx' (it has no "
            "sklearn_echo metadata); export the checkpoint with that command"
        )
    fp = getattr(encoder, "fingerprint", "")
    if meta["fingerprint"] != fp:
        raise OnnxModelError(
            f"{file!r} was exported from another checkpoint (fingerprint "
            f"{meta['fingerprint'][:12]}...) than the model in use "
            f"{encoder.checkpoint_path!r} (fingerprint {fp[:12]}...); export this model "
            "with 'sklearn-echo export --onnx' or pass the matching checkpoint"
        )
    config = json.loads(meta.get("config", "{}"))
    mine = encoder.config.to_dict()
    wrong = [f"{k}: file {config.get(k)!r}, model {v!r}" for k, v in mine.items() if config.get(k) != v]
    if wrong:
        raise OnnxModelError(
            f"{file!r} has another architecture than {encoder.checkpoint_path!r} ("
            + "; ".join(wrong) + ")"
        )
    if meta.get("precision") != precision:
        raise OnnxModelError(
            f"{file!r} was exported in {meta.get('precision')!r} but dtype={precision!r} was "
            f"asked for; use dtype={meta.get('precision')!r} or export again"
            + (" with --int8" if precision == "int8" else " without --int8")
        )


def _check_shapes(model, encoder: EchoEncoder, file: str):
    dims = {}
    for value in model.graph.input:
        dims[value.name] = [d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim]
    d = encoder.config.embed_dim
    if "tokens" not in dims or "lengths" not in dims or dims["tokens"][-1:] != [d]:
        raise OnnxModelError(
            f"{file!r} does not take ECHO band sequences of width {d} (inputs: {dims}); "
            "export this model with 'sklearn-echo export --onnx'"
        )


def load_onnx_encoder(encoder: EchoEncoder, file: str | None = None, precision: str = "float32"):
    """An `OnnxEncoder` for a loaded float32 checkpoint encoder.

    Parameters
    ----------
    encoder : EchoEncoder
        The checkpoint, float32 on CPU (``fingerprint`` set by the loader).
    file : str, optional
        An ONNX file written by ``sklearn-echo export --onnx``; checked against
        the checkpoint (fingerprint, architecture, input shapes, precision).
        Without it the graph is exported in memory.
    precision : {"float32", "int8"}, default="float32"

    Raises
    ------
    ImportError
        onnx or onnxruntime is not installed (the ``onnx`` extra).
    OnnxModelError
        ``file`` belongs to another model or precision.

    Examples
    --------
    >>> from sklearn_echo.echo.checkpoint import load_encoder
    >>> from sklearn_echo.echo.onnx_backend import load_onnx_encoder
    >>> enc = load_encoder("../shared/fixtures/echo_reference/tiny_echo.safetensors")
    >>> load_onnx_encoder(enc).precision
    'onnxruntime-float32'
    """
    onnx, _ = require_onnx()
    if precision not in ("float32", "int8"):
        raise ValueError(
            f"dtype={precision!r} is not available with the onnxruntime backend; use "
            "'float32' or 'int8'"
        )
    if file is None:
        model = encoder_graph(encoder, precision=precision)
        if precision == "int8":
            model = quantize_model(model)
    else:
        if not os.path.isfile(file):
            raise FileNotFoundError(f"ONNX file not found: {file!r}")
        try:
            model = onnx.load(file)
        except Exception as exc:
            raise OnnxModelError(f"{file!r} is not a readable ONNX file: {exc}") from exc
        _check_file(read_metadata(model), encoder, file, precision)
        _check_shapes(model, encoder, file)
    return OnnxEncoder(encoder, model, precision)
