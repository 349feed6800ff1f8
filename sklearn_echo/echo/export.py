"""ONNX export of the band-sequence encoder (the optional ``onnx`` extra).

`export_onnx` writes ECHO's Transformer over band sequences as an ONNX graph,
built node by node from the encoder's weights (no tracing), with dynamic batch
and sequence axes:

* inputs ``tokens`` (N, L, D) float32, the band sequences
  ``[CLS, patch tokens]`` that `sklearn_echo.echo.model.EchoEncoder.embed`
  builds, and ``lengths`` (N,) int64, the true length of each (padded
  positions are masked out of attention, as in the torch encoder);
* outputs ``hidden`` (N, L, D), every token after the final LayerNorm, and
  ``cls`` (N, D), the CLS token alone.

The patch projection stays outside the graph: the pipeline builds the
sequences from the checkpoint, as it does for the torch encoder, and the file
names the checkpoint it was made from (its SHA-256 fingerprint) so that
`sklearn_echo.echo.onnx_backend` refuses a file made from another model.

``int8=True`` quantizes the graph's weight products with onnxruntime's dynamic
quantization: int8 weights per output channel, activations quantized per
tensor at run time (the same scheme as the torch int8 encoder,
`sklearn_echo.echo.quantize`); the attention products stay float32.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["ONNX_FORMAT", "encoder_graph", "export_onnx", "read_metadata", "require_onnx"]

ONNX_FORMAT = "1"
"""Version of the graph's interface (inputs, outputs, metadata keys)."""

OPSET = 17
_PREFIX = "sklearn_echo."


def require_onnx(what: str = "backend='onnxruntime'"):
    """Import ``onnx`` and ``onnxruntime``, or say how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            f"{what} needs the optional ONNX packages, which are not installed "
            f"({exc.name} is missing): pip install 'sklearn-echo[onnx]' "
            "(installs onnx and onnxruntime)"
        ) from exc
    return onnx, onnxruntime


def _np(t) -> np.ndarray:
    return t.detach().float().cpu().numpy()


class _Graph:
    """A small helper that names nodes and initializers as they are added."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes, self.inits = [], []
        self._n = 0

    def const(self, name: str, array) -> str:
        self.inits.append(self.onnx.numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs, n_out: int = 1, name: str | None = None, **attrs):
        self._n += 1
        base = name or f"{op_type.lower()}_{self._n}"
        outs = [base] if n_out == 1 else [f"{base}_{i}" for i in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, name=base, **attrs))
        return outs[0] if n_out == 1 else outs


def encoder_graph(encoder, *, fingerprint: str | None = None, precision: str = "float32"):
    """The ONNX model (``onnx.ModelProto``) of ``encoder``'s Transformer, float32.

    Parameters
    ----------
    encoder : EchoEncoder
        Its float parameters are read (an int8 encoder's float weights too).
    fingerprint : str, optional
        SHA-256 of the checkpoint, stored in the metadata (default:
        ``encoder.fingerprint`` when set).
    precision : str, default="float32"
        Stored in the metadata.
    """
    onnx, _ = require_onnx("ONNX export")
    from onnx import TensorProto

    cfg = encoder.config
    d, h = cfg.embed_dim, cfg.num_heads
    hd = d // h
    g = _Graph(onnx)
    f32 = np.float32
    # Key mask (N, 1, 1, L) from the lengths.
    shape = g.op("Shape", ["tokens"])
    length = g.op("Gather", [shape, g.const("one_i", np.array(1, np.int64))], axis=0)
    pos = g.op("Range", [g.const("zero_i", np.array(0, np.int64)), length, "one_i"])
    pos_row = g.op("Unsqueeze", [pos, g.const("axes_0", np.array([0], np.int64))])
    len_col = g.op("Unsqueeze", ["lengths", g.const("axes_1", np.array([1], np.int64))])
    valid = g.op("Less", [pos_row, len_col])
    mask = g.op("Unsqueeze", [valid, g.const("axes_12", np.array([1, 2], np.int64))], name="mask")
    neg_inf = g.const("neg_inf", np.array(-np.inf, f32))
    scale = g.const("scale", np.array(hd**-0.5, f32))
    half = g.const("half", np.array(0.5, f32))
    one = g.const("one", np.array(1.0, f32))
    inv_sqrt2 = g.const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), f32))
    split_shape = g.const("qkv_shape", np.array([0, 0, 3, h, hd], np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, d], np.int64))
    axis0 = g.const("axis0", np.array([0], np.int64))
    x = "tokens"
    for i, layer in enumerate(encoder.encoder.layers):
        p = f"layer{i}."
        attn = layer.self_attn

        def dense(inp, weight, bias, tag, p=p):
            w = g.const(p + tag + ".weight_t", _np(weight).T.copy())
            b = g.const(p + tag + ".bias", _np(bias))
            return g.op("Add", [g.op("MatMul", [inp, w], name=p + tag), b])

        qkv = dense(x, attn.in_proj_weight, attn.in_proj_bias, "in_proj")
        heads = g.op("Transpose", [g.op("Reshape", [qkv, split_shape])], perm=[2, 0, 3, 1, 4])
        q, k, v = (
            g.op("Squeeze", [part, axis0]) for part in g.op("Split", [heads], n_out=3, axis=0)
        )
        scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), scale])
        scores = g.op("Where", [mask, scores, neg_inf])
        ctx = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        ctx = g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_shape])
        a = dense(ctx, attn.out_proj.weight, attn.out_proj.bias, "out_proj")
        x = g.op(
            "LayerNormalization",
            [g.op("Add", [x, a]), g.const(p + "norm1.weight", _np(layer.norm1.weight)),
             g.const(p + "norm1.bias", _np(layer.norm1.bias))],
            axis=-1, epsilon=float(layer.norm1.eps),
        )
        pre = dense(x, layer.linear1.weight, layer.linear1.bias, "linear1")
        erf = g.op("Erf", [g.op("Mul", [pre, inv_sqrt2])])
        act = g.op("Mul", [g.op("Mul", [pre, half]), g.op("Add", [erf, one])])
        y = dense(act, layer.linear2.weight, layer.linear2.bias, "linear2")
        x = g.op(
            "LayerNormalization",
            [g.op("Add", [x, y]), g.const(p + "norm2.weight", _np(layer.norm2.weight)),
             g.const(p + "norm2.bias", _np(layer.norm2.bias))],
            axis=-1, epsilon=float(layer.norm2.eps),
        )
    g.nodes.append(
        g.helper.make_node(
            "LayerNormalization",
            [x, g.const("norm.weight", _np(encoder.norm.weight)),
             g.const("norm.bias", _np(encoder.norm.bias))],
            ["hidden"], name="norm", axis=-1, epsilon=float(encoder.norm.eps),
        )
    )
    g.nodes.append(g.helper.make_node("Gather", ["hidden", "zero_i"], ["cls"], name="cls", axis=1))
    inputs = [
        g.helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["batch", "sequence", d]),
        g.helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]),
    ]
    outputs = [
        g.helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "sequence", d]),
        g.helper.make_tensor_value_info("cls", TensorProto.FLOAT, ["batch", d]),
    ]
    graph = g.helper.make_graph(g.nodes, "echo_band_encoder", inputs, outputs, g.inits)
    model = g.helper.make_model(
        graph, opset_imports=[g.helper.make_opsetid("", OPSET)], producer_name="sklearn-echo"
    )
    model.ir_version = min(model.ir_version, 8)
    fp = fingerprint if fingerprint is not None else getattr(encoder, "fingerprint", "")
    _set_metadata(model, {
        "format": ONNX_FORMAT,
        "fingerprint": fp or "",
        "precision": precision,
        "config": json.dumps(cfg.to_dict(), sort_keys=True),
    })
    return model


def _set_metadata(model, values: dict):
    keep = [p for p in model.metadata_props if not p.key.startswith(_PREFIX)]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = _PREFIX + key, str(value)


def read_metadata(model) -> dict:
    """The ``sklearn_echo.*`` metadata of an exported model (``onnx.ModelProto``), keys unprefixed."""
    return {
        p.key[len(_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(_PREFIX)
    }


def export_onnx(encoder, path, *, int8: bool = False) -> Path:
    """Write ``encoder``'s band-sequence Transformer to an ONNX file.

    Parameters
    ----------
    encoder : EchoEncoder
        A loaded encoder (`sklearn_echo.echo.checkpoint.load_encoder`); its
        fingerprint is recorded in the file.
    path : path-like
        The ``.onnx`` file to write.
    int8 : bool, default=False
        Quantize the weight products to int8 (onnxruntime dynamic
        quantization, per-channel 7-bit weights: see `quantize_model`).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_echo.echo.checkpoint import load_encoder
    >>> from sklearn_echo.echo.export import export_onnx
    >>> enc = load_encoder("../shared/fixtures/echo_reference/tiny_echo.safetensors")
    >>> path = export_onnx(enc, os.path.join(tempfile.mkdtemp(), "tiny.onnx"))
    >>> path.suffix
    '.onnx'
    """
    onnx, _ = require_onnx("ONNX export")
    path = Path(path)
    model = encoder_graph(encoder, precision="int8" if int8 else "float32")
    if int8:
        model = quantize_model(model)
    onnx.save(model, os.fspath(path))
    return path


def quantize_model(model):
    """The float32 graph with its weight products in int8 (dynamic activations), metadata kept.

    The weights keep 7 bits (onnxruntime's ``reduce_range``), the activations
    8. On x86 CPUs without VNNI, onnxruntime multiplies u8 activations by s8
    weights with ``vpmaddubsw``, which adds pairs of products in a saturating
    16-bit integer: 8-bit weights overflow it, 7-bit ones cannot (as for the
    torch kernels: `sklearn_echo.echo.quantize.weight_bits`). The file is
    written once and may run on any CPU, so it takes 7 bits everywhere: its
    integer sums are then exact, and the same, on every x86 CPU.
    """
    onnx, _ = require_onnx("ONNX int8 export")
    import logging
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    class _Quiet(logging.Filter):  # quantize_dynamic suggests a pre-processing step we do not need
        def filter(self, record):
            return "pre-processing before quantization" not in record.getMessage()

    meta = read_metadata(model)
    root, quiet = logging.getLogger(), _Quiet()
    root.addFilter(quiet)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "int8.onnx")
        onnx.save(model, src)
        try:
            quantize_dynamic(
                src, dst, per_channel=True, reduce_range=True, weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
            )
        finally:
            root.removeFilter(quiet)
        out = onnx.load(dst)
    _set_metadata(out, meta)
    return out
