"""The ECHO encoder in plain torch: patch tokens, post-norm Transformer, CLS per band.

Parameter names match the published checkpoint's state dict, so a checkpoint
loads with ``load_state_dict``. The module works on batches of *band
sequences*; :mod:`sklearn_echo.echo.inference` builds those from signals.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EchoConfig", "EchoEncoder", "ECHO_SMALL_CONFIG"]


@dataclass(frozen=True)
class EchoConfig:
    """Architecture of an ECHO encoder (everything but the weights).

    Attributes
    ----------
    embed_dim : int
        Token width ``D``.
    depth : int
        Number of Transformer layers.
    num_heads : int
        Attention heads (ECHO uses 64-dim heads: ``D / 64``).
    ffn_dim : int
        Hidden width of the feed-forward block (``4 * D``).
    band_width : int
        Frequency bins per band (32).
    patch_width : int
        Frames per patch token (16).
    max_patches : int
        Length of the positional table without the CLS slot (125, i.e. 2000 frames).
    eps : float
        LayerNorm epsilon.
    """

    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    ffn_dim: int = 1536
    band_width: int = 32
    patch_width: int = 16
    max_patches: int = 125
    eps: float = 1e-6

    @property
    def chunk_frames(self) -> int:
        """Spectrogram frames per chunk (``max_patches * patch_width`` = 2000)."""
        return self.max_patches * self.patch_width

    def to_dict(self) -> dict:
        return asdict(self)


ECHO_SMALL_CONFIG = EchoConfig()


# -- Inference kernels --------------------------------------------------------------
# Each switch below is measured by ``benchmarks/bench_encoder.py --ablate``; they
# only change which kernel computes the same quantity, never the result beyond
# float rounding. Tests and benchmarks may flip them; users never need to.
FAST_PATHS = {
    # oneDNN's linear kernels on CPU: fused linear + bias + GELU, linear + bias +
    # residual-add, and plain linear + bias for the attention projections.
    "fused_linear": True,
    # bfloat16 attention on CPU through two batched matmuls and a softmax
    # (computed in float32) instead of SDPA's CPU flash kernel, which is slow in
    # bfloat16 for ECHO's short sequences (64 to 126 tokens).
    "bf16_matmul_attention": True,
    # CLS-only last layer: attend over the layer input instead of projecting
    # every token's key and value (any device; see _SelfAttention._folded).
    "fold_last_layer": True,
    # On CPU, encode torch.get_num_threads() batches at once, one thread each
    # (sklearn_echo.echo.inference); off: one batch at a time over all threads.
    "batch_workers": True,
}

_MKLDNN_LINEAR = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)


@functools.lru_cache(maxsize=None)
def _mkldnn_supports(dtype: torch.dtype) -> bool:
    """Whether oneDNN's fused linear kernels can run ``dtype`` on this CPU (probed once)."""
    if _MKLDNN_LINEAR is None or not torch.backends.mkldnn.is_available():
        return False
    if dtype == torch.bfloat16:
        try:
            if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
                return False
        except (AttributeError, RuntimeError):
            return False
    elif dtype != torch.float32:
        return False
    try:
        x = torch.linspace(-1.0, 1.0, 8).reshape(2, 4).to(dtype)
        w = torch.linspace(-2.0, 2.0, 12).reshape(3, 4).to(dtype)
        b = torch.tensor([0.5, -0.25, 1.0], dtype=dtype)
        y = _MKLDNN_LINEAR(x, w, b, "gelu", [], "none")
        z = _MKLDNN_LINEAR.binary(x, y, w, b, "add")
        lin = F.linear(x.float(), w.float(), b.float())
        expected = lin + F.gelu(lin)
        return bool(torch.allclose(z.float(), expected, rtol=2e-2, atol=2e-2))
    except (RuntimeError, TypeError, NotImplementedError):
        return False


def _use_fused(x: torch.Tensor) -> bool:
    return (
        FAST_PATHS["fused_linear"]
        and x.device.type == "cpu"
        and not torch.is_grad_enabled()
        and _mkldnn_supports(x.dtype)
    )


def _linear_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``gelu(x @ W.T + b)`` with exact (erf) GELU; one fused oneDNN call on CPU."""
    if _use_fused(x):
        return _MKLDNN_LINEAR(x, weight, bias, "gelu", [], "none")
    return F.gelu(F.linear(x, weight, bias))


def _linear_add(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, residual: torch.Tensor
) -> torch.Tensor:
    """``residual + (x @ W.T + b)``; one fused oneDNN call on CPU."""
    if _use_fused(x):
        return _MKLDNN_LINEAR.binary(x, residual, weight, bias, "add")
    return torch.addmm(bias, x, weight.t()).add_(residual)


def _attention(q, k, v, mask):
    """Softmax attention of ``q`` (N, H, Lq, hd) over ``k``, ``v`` (N, H, L, hd).

    ``mask`` is a boolean key mask broadcastable to (N, 1, 1, L), True = attend.
    Returns (N, H, Lq, hd).
    """
    if (
        FAST_PATHS["bf16_matmul_attention"]
        and q.device.type == "cpu"
        and q.dtype == torch.bfloat16
        and not torch.is_grad_enabled()
    ):
        n, h, lq, hd = q.shape
        length = k.shape[2]
        scores = torch.baddbmm(
            q.new_empty(()).expand(n * h, lq, length),
            q.reshape(n * h, lq, hd),
            k.reshape(n * h, length, hd).transpose(1, 2),
            beta=0.0,
            alpha=hd**-0.5,
        ).view(n, h, lq, length)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        # CPU softmax on bfloat16 computes in float32 and rounds once at the end.
        return torch.matmul(torch.softmax(scores, dim=-1), v)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# Matrix kernels take another code path for products of very few rows (on this
# CPU's MKL, fewer than 12), which rounds differently. Products are padded to at
# least MIN_ROWS rows so that a sequence's output never depends on how many
# other sequences share its batch (see tests: subset invariance, batch mixing).
MIN_ROWS = 16


def _pad_rows(t: torch.Tensor) -> torch.Tensor:
    """``t`` (R, C) with zero rows appended up to ``MIN_ROWS`` rows."""
    r = t.shape[0]
    if r >= MIN_ROWS:
        return t
    return torch.cat([t, t.new_zeros(MIN_ROWS - r, *t.shape[1:])])


def _pad_rows_3d(t: torch.Tensor) -> torch.Tensor:
    """``t`` (B, R, C) with zero rows appended up to ``MIN_ROWS`` rows per matrix."""
    r = t.shape[1]
    if r >= MIN_ROWS:
        return t
    return torch.cat([t, t.new_zeros(t.shape[0], MIN_ROWS - r, t.shape[2])], dim=1)


def _fold_queries(x: torch.Tensor, queries: int, heads: int) -> bool:
    """Whether :meth:`_SelfAttention._folded` is cheaper for ``queries`` of ``x``'s positions."""
    return (
        FAST_PATHS["fold_last_layer"]
        and not torch.is_grad_enabled()
        and queries * heads < x.shape[1]
    )


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``F.linear`` over the last dim of ``x``, row-count independent (see ``MIN_ROWS``)."""
    lead = x.shape[:-1]
    rows = _pad_rows(x.reshape(-1, x.shape[-1]))
    if _use_fused(rows):  # oneDNN's kernel: faster than MKL's here (--ablate)
        out = _MKLDNN_LINEAR(rows, weight, bias, "none", [], "")
    else:
        out = F.linear(rows, weight, bias)
    return out[: math.prod(lead)].reshape(*lead, weight.shape[0])


class _SelfAttention(nn.Module):
    """Multi-head self-attention holding ``nn.MultiheadAttention``'s parameter names."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def heads(self, x, mask=None, queries: int | None = None):
        """Attention output before ``out_proj``, shape (N * Lq, D) with Lq = ``queries`` or L.

        ``x`` is (N, L, D); with ``queries=q`` only the first q positions are computed.
        """
        n, length, dim = x.shape
        h = self.num_heads
        hd = dim // h
        if queries is None:
            qkv = _linear(x, self.in_proj_weight, self.in_proj_bias)
            q, k, v = qkv.view(n, length, 3, h, hd).permute(2, 0, 3, 1, 4).unbind(0)
            lq = length
        elif _fold_queries(x, queries, h):
            return self._folded(x, mask, queries)
        else:
            w_q, w_kv = self.in_proj_weight.split([dim, 2 * dim])
            b_q, b_kv = self.in_proj_bias.split([dim, 2 * dim])
            q = _linear(x[:, :queries], w_q, b_q).view(n, queries, h, hd).transpose(1, 2)
            kv = _linear(x, w_kv, b_kv).view(n, length, 2, h, hd).permute(2, 0, 3, 1, 4)
            k, v = kv.unbind(0)
            lq = queries
        # (N, H, Lq, hd) -> (N * Lq, D); free when the kernel wrote (N, Lq, H, hd).
        return _attention(q, k, v, mask).transpose(1, 2).reshape(n * lq, dim)

    def _folded(self, x, mask, queries: int):
        """:meth:`heads` for a few queries without projecting keys and values.

        For query ``q`` of head ``h``, ``q . (W_k x_j + b_k) = (W_k^T q) . x_j +
        q . b_k``; the last term is the same for every key ``j``, so softmax drops
        it. The output ``sum_j a_j (W_v x_j + b_v) = W_v (sum_j a_j x_j) + b_v``
        since the weights ``a_j`` sum to 1. Attending over ``x`` itself costs
        ``4 H D`` per token instead of the ``4 D^2`` of the key and value
        projections: the last layer of a CLS-only pass then costs almost nothing.
        """
        n, length, dim = x.shape
        h = self.num_heads
        hd = dim // h
        w_q, w_k, w_v = self.in_proj_weight.split([dim, dim, dim])
        b_q, _, b_v = self.in_proj_bias.split([dim, dim, dim])
        rows = n * queries
        q = _linear(x[:, :queries], w_q, b_q).view(rows, h, hd).transpose(0, 1)  # (H, R, hd)
        # Queries moved to the input space of the keys: (H, R, D), rows padded as in _linear.
        u = torch.bmm(_pad_rows_3d(q), w_k.view(h, hd, dim))[:, :rows]
        u = u.view(h, n, queries, dim).permute(1, 0, 2, 3).reshape(n, h * queries, dim)
        scores = torch.bmm(u, x.transpose(1, 2)).mul_(hd**-0.5)  # (N, H*Lq, L)
        if mask is not None:
            scores = scores.masked_fill(~mask.view(n, 1, length), float("-inf"))
        ctx = torch.bmm(torch.softmax(scores, dim=-1), x)  # (N, H*Lq, D)
        ctx = ctx.view(n, h, queries, dim).permute(1, 0, 2, 3).reshape(h, rows, dim)
        out = torch.baddbmm(
            b_v.view(h, 1, hd), _pad_rows_3d(ctx), w_v.view(h, hd, dim).transpose(1, 2)
        )[:, :rows]
        return out.transpose(0, 1).reshape(rows, dim)

    def forward(self, x, mask=None, queries: int | None = None):
        """Attend over ``x`` (N, L, D); with ``queries=q`` only the first q positions are computed."""
        n, lq = x.shape[0], x.shape[1] if queries is None else queries
        out = self.out_proj(self.heads(x, mask, queries))
        return out.view(n, lq, -1)


class _EncoderLayer(nn.Module):
    """Post-norm layer with ``nn.TransformerEncoderLayer`` semantics and names."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, eps: float):
        super().__init__()
        self.self_attn = _SelfAttention(dim, num_heads)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)

    def forward(self, x, mask=None, queries: int | None = None):
        n, length, dim = x.shape
        lq = length if queries is None else queries
        residual = _pad_rows((x if queries is None else x[:, :queries]).reshape(n * lq, dim))
        attn = self.self_attn
        y = _linear_add(
            _pad_rows(attn.heads(x, mask, queries)),
            attn.out_proj.weight,
            attn.out_proj.bias,
            residual,
        )
        y = self.norm1(y)
        hidden = _linear_gelu(y, self.linear1.weight, self.linear1.bias)
        y = self.norm2(_linear_add(hidden, self.linear2.weight, self.linear2.bias, y))
        return y[: n * lq].view(n, lq, dim)


class _Encoder(nn.Module):
    def __init__(self, config: EchoConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            _EncoderLayer(config.embed_dim, config.num_heads, config.ffn_dim, config.eps)
            for _ in range(config.depth)
        )


class _PatchEmbed(nn.Module):
    def __init__(self, config: EchoConfig):
        super().__init__()
        self.proj = nn.Conv2d(
            1,
            config.embed_dim,
            kernel_size=(config.band_width, config.patch_width),
            stride=(config.band_width, config.patch_width),
        )


class EchoEncoder(nn.Module):
    """ECHO encoder over batches of band sequences.

    Parameters
    ----------
    config : EchoConfig

    Notes
    -----
    A band sequence is ``[CLS, tok_0 .. tok_{P-1}]`` where token ``j`` is the
    linear projection of a ``band_width x patch_width`` patch plus
    ``pos_embed[1 + j]`` plus the band's frequency encoding, and the CLS token
    is ``cls_token`` plus the frequency encoding (``pos_embed[0]`` is not
    added). Use :meth:`embed` to build sequences and :meth:`forward` to encode
    them.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.echo.model import EchoConfig, EchoEncoder
    >>> enc = EchoEncoder(EchoConfig(embed_dim=128, depth=1, num_heads=2, ffn_dim=512)).eval()
    >>> patches = torch.zeros(3, 10, 32 * 16)          # 3 bands, 10 patches each
    >>> fpe = torch.zeros(3, 128)                      # frequency encodings
    >>> enc(enc.embed(patches, fpe)).shape
    torch.Size([3, 11, 128])
    """

    def __init__(self, config: EchoConfig = ECHO_SMALL_CONFIG):
        super().__init__()
        self.config = config
        d = config.embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, config.max_patches + 1, d))
        self.patch_embed = _PatchEmbed(config)
        self.encoder = _Encoder(config)
        self.norm = nn.LayerNorm(d, eps=config.eps)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)

    def embed(self, patches: torch.Tensor, freq_enc: torch.Tensor) -> torch.Tensor:
        """Build band sequences from flattened patches.

        Parameters
        ----------
        patches : Tensor of shape (N, P, band_width * patch_width)
            Row-major flattened ``(band_width, patch_width)`` patches.
        freq_enc : Tensor of shape (N, D)
            Frequency encoding of each sequence's band.

        Returns
        -------
        Tensor of shape (N, 1 + P, D)
        """
        n, p, _ = patches.shape
        w = self.patch_embed.proj.weight.reshape(self.config.embed_dim, -1)
        tokens = F.linear(patches, w, self.patch_embed.proj.bias)
        tokens = tokens + self.pos_embed[:, 1 : 1 + p] + freq_enc[:, None, :]
        cls = self.cls_token.expand(n, 1, -1) + freq_enc[:, None, :]
        return torch.cat([cls, tokens], dim=1)

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        cls_only: bool = False,
    ) -> torch.Tensor:
        """Encode sequences ``x`` of shape (N, L, D).

        Parameters
        ----------
        x : Tensor of shape (N, L, D)
        lengths : Tensor of shape (N,), optional
            True length of each sequence when the batch is padded at the end;
            padded positions are masked out of attention (their outputs are
            meaningless).
        cls_only : bool, default=False
            Return only the CLS output (N, D); the last layer then computes
            the CLS position alone, which gives the same CLS output for less work.

        Returns
        -------
        Tensor of shape (N, L, D), or (N, D) when ``cls_only``.
        """
        mask = None
        if lengths is not None:
            pos = torch.arange(x.shape[1], device=x.device)
            mask = (pos[None, :] < lengths[:, None])[:, None, None, :]
        layers = self.encoder.layers
        last = len(layers) - 1
        for i, layer in enumerate(layers):
            x = layer(x, mask, 1 if (cls_only and i == last) else None)
        x = self.norm(x)
        return x[:, 0] if cls_only else x

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def default_num_heads(embed_dim: int) -> int:
    """ECHO's 64-dimensional heads: ``D // 64``.

    Raises
    ------
    ValueError
        If ``D`` is not a multiple of 64 (then pass ``num_heads`` explicitly).
    """
    if embed_dim % 64:
        raise ValueError(
            f"embed_dim={embed_dim} is not a multiple of 64, so the number of "
            "attention heads cannot be inferred; pass num_heads explicitly"
        )
    return embed_dim // 64
