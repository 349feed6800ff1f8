"""int8 encoders: linear layers on int8 weights and int8 activations.

`quantize_encoder` turns a loaded float32 encoder into an int8 one, once, when
it is loaded (`sklearn_echo.echo.checkpoint` keeps it in the encoder cache):

* the weight of every large linear layer (the attention projections and the
  feed-forward block of every Transformer layer) is rounded to int8 with one
  scale per output channel (symmetric: ``scale = max |w_row| / 127``; ``/ 63``
  on CPUs without VNNI, whose kernels would overflow otherwise: `weight_bits`)
  and packed for the int8 kernel;
* at run time the activations entering those layers are quantized
  dynamically, one scale and zero point per batch (per tensor), and the
  products run on torch's int8 kernel (``quantized::linear_dynamic``), which
  uses VNNI dot products (``vpdpbusd``) where the CPU has them, adds the bias
  and returns float32;
* attention (both products and the softmax) runs in bfloat16 on CPUs with
  bfloat16 instructions, in float32 elsewhere; LayerNorm, GELU and the
  residual additions stay float32, as does everything outside the layers
  (patch projection, positions, final norm).

Why these kernels (measured on a 2-core AMD EPYC Zen 4, 4096 x 384 x 1536,
one thread, interleaved runs): oneDNN's packed int8 kernel
(``quantized::linear_dynamic`` on weights packed by the ``onednn`` engine)
ran 4.9x float32, the ``x86`` engine's 3.5x and ``fbgemm``'s 2.8x;
``torch._int_mm`` with per-token activation scales applied in eager torch ran
1.0x (the scaling passes over the output cost as much as the product saved),
and oneDNN's ``qlinear_pointwise`` with activations quantized beforehand 4.3x.
Per-token scales would make each sequence independent of its batch
companions but need those extra passes, so activations use one scale per
batch: an int8 embedding therefore varies with the other signals of its
batch at the level of int8 rounding (the fidelity tests bound it).

The int8 form of each weight is attached to the float weight itself (under
`sklearn_echo.echo.kernels.INT8_ATTR`), so the encoder keeps its float
parameters (for the few CLS-only products of the last layer and for
training) and the kernels pick the int8 form when they see it.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings

import torch

from ..device import cpu_has_fast_bfloat16, cpu_has_vnni
from .kernels import INT8_ATTR

__all__ = ["Int8Linear", "int8_engine", "is_int8", "quantize_encoder", "quantize_weight", "weight_bits"]

# Order of preference, fastest first on the CPU measured (see the module notes).
ENGINES = ("onednn", "x86", "fbgemm", "qnnpack")
_ENGINE_LOCK = threading.Lock()


def int8_engine() -> str:
    """The quantized engine whose int8 kernel the encoder uses (the fastest available).

    Examples
    --------
    >>> from sklearn_echo.echo.quantize import int8_engine
    >>> int8_engine() in ("onednn", "x86", "fbgemm", "qnnpack")
    True
    """
    supported = torch.backends.quantized.supported_engines
    for engine in ENGINES:
        if engine in supported:
            return engine
    raise RuntimeError(
        f"this torch build has no quantized CPU engine for int8 ({supported}); "
        "use dtype='float32' or 'bfloat16'"
    )


def quantize_weight(weight: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 weights with one scale per output channel (row).

    Parameters
    ----------
    weight : Tensor of shape (out, in)
    bits : {8, 7}, default=8
        Bits the integers use: values in ``[-127, 127]`` or, for the kernels
        of CPUs without VNNI (see `weight_bits`), ``[-63, 63]``.

    Returns
    -------
    (int8 tensor of ``weight``'s shape, float32 scales of shape (out,)), such
    that ``q * scale[:, None]`` approximates ``weight`` within half a step.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.echo.quantize import quantize_weight
    >>> w = torch.tensor([[0.5, -1.0], [0.01, 0.04]])
    >>> q, s = quantize_weight(w)
    >>> q.tolist(), bool(((q * s[:, None]) - w).abs().max() <= s.max() / 2)
    ([[64, -127], [32, 127]], True)
    """
    top = 2 ** (bits - 1) - 1
    w = weight.detach().float()
    scale = (w.abs().amax(dim=1) / top).clamp_min(torch.finfo(torch.float32).tiny)
    q = torch.round(w / scale[:, None]).clamp_(-top, top).to(torch.int8)
    return q, scale


def weight_bits(engine: str) -> int:
    """Bits of the int8 weights that ``engine``'s kernel multiplies exactly on this CPU: 8 or 7.

    Without VNNI (or where torch cannot tell), the x86 engines (oneDNN's and
    fbgemm's kernels) multiply u8 activations by s8 weights with
    ``vpmaddubsw``, which adds each pair of products in a saturating 16-bit
    integer: 255 x 127 x 2 does not fit, and the clipped sums cost the
    products their accuracy. Weights of 7 bits keep every pair within 16 bits
    (255 x 63 x 2) and the activations keep their 8 bits. On the fixture
    checkpoint (``benchmarks/bench_int8_range.py``, an AMD Zen 3 without
    VNNI) the smallest band cosine to float32 was 0.99956 with 7-bit
    weights, 0.99922 with 7-bit activations instead (torch's
    ``reduce_range``: one scale per batch, where weights have one per output
    channel) and 0.99158 with both at 8 bits. With VNNI (``vpdpbusd``) the
    sums are 32-bit and both keep 8 bits.

    Examples
    --------
    >>> from sklearn_echo.echo.quantize import weight_bits
    >>> weight_bits("qnnpack")
    8
    """
    return 7 if engine in ("onednn", "x86", "fbgemm") and cpu_has_vnni() is not True else 8


class Int8Linear:
    """One linear layer in int8: packed per-channel weights, dynamic activations.

    Calling it with float activations ``x`` (R, in) returns float32
    ``x @ W.T + b`` (R, out), computed by the int8 kernel.

    Parameters
    ----------
    weight : Tensor of shape (out, in)
    bias : Tensor of shape (out,) or None
    engine : str, optional
        Quantized engine that packs the weight (default `int8_engine`).
    out_dtype : torch.dtype, default=torch.float32
        dtype of the output (the attention projection of an encoder whose
        attention runs in bfloat16 returns bfloat16).
    bits : {8, 7}, optional
        Bits of the int8 weights (default ``weight_bits(engine)``; an
        encoder's layers are given the count once, by `quantize_encoder`).

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.echo.quantize import Int8Linear
    >>> g = torch.Generator().manual_seed(0)
    >>> w, b = torch.randn(64, 32, generator=g), torch.randn(64, generator=g)
    >>> x = torch.randn(20, 32, generator=g)
    >>> y = Int8Linear(w, b)(x)
    >>> bool(torch.nn.functional.cosine_similarity(y, x @ w.T + b).min() > 0.99)
    True
    """

    __slots__ = (
        "_bias",
        "_fused",
        "engine",
        "in_features",
        "out_dtype",
        "out_features",
        "packed",
    )

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor | None, engine: str | None = None,
        out_dtype: torch.dtype = torch.float32, bits: int | None = None,
    ):
        self.engine = int8_engine() if engine is None else engine
        self.out_dtype = out_dtype
        q, scale = quantize_weight(weight, weight_bits(self.engine) if bits is None else bits)
        self.out_features, self.in_features = q.shape
        with warnings.catch_warnings():
            # Quantized tensors are how torch's int8 kernels take packed weights.
            warnings.simplefilter("ignore", UserWarning)
            qweight = torch._make_per_channel_quantized_tensor(
                q, scale.double(), torch.zeros(len(scale), dtype=torch.long), 0
            )
        b = None if bias is None else bias.detach().float().contiguous()
        self._fused = None
        self._bias = b
        with _ENGINE_LOCK:
            before = torch.backends.quantized.engine
            torch.backends.quantized.engine = self.engine
            try:
                self.packed = torch.ops.quantized.linear_prepack(qweight, b)
            finally:
                torch.backends.quantized.engine = before
            if self.engine == "onednn" and _has_qlinear_pointwise():
                zeros = torch.zeros(len(scale), dtype=torch.int32)
                self._fused = (torch.ops.onednn.qlinear_prepack(q, None), scale, zeros)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    self.gelu(torch.zeros(1, self.in_features))  # torch warns once per process

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != torch.float32:
            x = x.float()
        y = torch.ops.quantized.linear_dynamic(x.contiguous(), self.packed, False)
        return y if self.out_dtype == torch.float32 else y.to(self.out_dtype)

    def gelu(self, x: torch.Tensor) -> torch.Tensor:
        """``gelu(x @ W.T + b)`` (exact GELU), fused into oneDNN's int8 kernel where it exists.

        oneDNN applies the GELU to the product in registers (measured: as fast
        as the product alone, where a separate float32 GELU costs about 75% of
        the int8 product); elsewhere the GELU follows the product.
        """
        if self._fused is None:
            return torch.nn.functional.gelu(self(x))
        if x.dtype != torch.float32:
            x = x.float()
        packed, w_scale, w_zero = self._fused
        q = torch.quantize_per_tensor_dynamic(x.contiguous(), torch.quint8, False)
        return torch.ops.onednn.qlinear_pointwise.tensor(
            q.int_repr(),
            torch.tensor(q.q_scale(), dtype=torch.float32),
            torch.tensor(q.q_zero_point(), dtype=torch.int32),
            packed, w_scale, w_zero, self._bias, 1.0, 0, torch.float32, "gelu", [], "none",
        )

    def __repr__(self) -> str:
        return f"Int8Linear(in={self.in_features}, out={self.out_features}, engine={self.engine!r})"


def _has_qlinear_pointwise() -> bool:
    try:
        torch.ops.onednn.qlinear_pointwise.tensor  # noqa: B018 (raises when absent)
        torch.ops.onednn.qlinear_prepack  # noqa: B018
    except (AttributeError, RuntimeError):
        return False
    return True


def _layer_linears(layer):
    """(weight, bias) of the four large products of an encoder layer."""
    attn = layer.self_attn
    return [
        (attn.in_proj_weight, attn.in_proj_bias),
        (attn.out_proj.weight, attn.out_proj.bias),
        (layer.linear1.weight, layer.linear1.bias),
        (layer.linear2.weight, layer.linear2.bias),
    ]


def is_int8(encoder) -> bool:
    """Whether ``encoder`` was quantized by `quantize_encoder`."""
    return getattr(encoder, "precision", None) == "int8"


def quantize_encoder(encoder, engine: str | None = None):
    """Quantize a float32 encoder's linear layers to int8, in place; return it.

    Parameters
    ----------
    encoder : EchoEncoder
        On CPU, in float32, in eval mode.
    engine : str, optional
        Quantized engine (default `int8_engine`, the fastest available).

    Returns
    -------
    EchoEncoder
        The same object, with ``encoder.precision == "int8"``,
        ``encoder.weight_bits`` (`weight_bits`: 7 on CPUs without VNNI) and
        kernel options for int8 (attention in bfloat16 where the CPU has
        bfloat16 instructions, float32 softmax).

    Examples
    --------
    >>> from sklearn_echo.echo.checkpoint import load_encoder
    >>> from sklearn_echo.echo.quantize import quantize_encoder, is_int8
    >>> enc = quantize_encoder(load_encoder("../shared/fixtures/echo_reference/tiny_echo.safetensors"))
    >>> is_int8(enc), enc.precision
    (True, 'int8')
    """
    param = encoder.cls_token
    if param.device.type != "cpu" or param.dtype != torch.float32:
        raise ValueError(
            f"quantize_encoder takes a float32 encoder on CPU, got {param.dtype} on "
            f"{param.device.type}: int8 kernels exist on CPU only"
        )
    if is_int8(encoder):
        return encoder
    engine = int8_engine() if engine is None else engine
    bits = weight_bits(engine)  # every layer's, and the cache keys' (`encoder.weight_bits`)
    attention_dtype = "bfloat16" if cpu_has_fast_bfloat16() else None
    for layer in encoder.encoder.layers:
        for i, (weight, bias) in enumerate(_layer_linears(layer)):
            # The attention projection hands its output straight to bfloat16 attention.
            out = torch.bfloat16 if (i == 0 and attention_dtype) else torch.float32
            setattr(weight, INT8_ATTR, Int8Linear(weight, bias, engine, out, bits))
    encoder.kernels = dataclasses.replace(
        encoder.kernels, attention_dtype=attention_dtype, float32_softmax=True
    )
    encoder.precision = "int8"
    encoder.weight_bits = bits
    return encoder
