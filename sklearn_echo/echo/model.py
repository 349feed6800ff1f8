"""The ECHO encoder in plain torch: patch tokens, post-norm Transformer, CLS per band.

Parameter names match the published checkpoint's state dict, so a checkpoint
loads with ``load_state_dict``. The module works on batches of *band
sequences*; `sklearn_echo.echo.batching` builds those from signals; the kernels are in
`sklearn_echo.echo.kernels`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .kernels import (
    DEFAULT_KERNELS,
    KernelOptions,
    attention,
    fold_queries,
    linear,
    linear_add,
    linear_gelu,
    packed_attention,
    pad_rows,
    pad_rows_3d,
)

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


class _SelfAttention(nn.Module):
    """Multi-head self-attention holding ``nn.MultiheadAttention``'s parameter names."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def heads(self, x, mask=None, queries: int | None = None, kernels: KernelOptions = DEFAULT_KERNELS):
        """Attention output before ``out_proj``, shape (N * Lq, D) with Lq = ``queries`` or L.

        ``x`` is (N, L, D); with ``queries=q`` only the first q positions are computed.
        """
        n, length, dim = x.shape
        h = self.num_heads
        hd = dim // h
        if queries is None:
            qkv = linear(x, self.in_proj_weight, self.in_proj_bias, kernels)
            return packed_attention(qkv.view(n * length, 3 * dim), n, length, h, mask, kernels)
        if fold_queries(x, queries, h, kernels):
            return self._folded(x, mask, queries, kernels)
        w_q, w_kv = self.in_proj_weight.split([dim, 2 * dim])
        b_q, b_kv = self.in_proj_bias.split([dim, 2 * dim])
        q = linear(x[:, :queries], w_q, b_q, kernels).view(n, queries, h, hd).transpose(1, 2)
        kv = linear(x, w_kv, b_kv, kernels).view(n, length, 2, h, hd).permute(2, 0, 3, 1, 4)
        k, v = kv.unbind(0)
        # (N, H, Lq, hd) -> (N * Lq, D); free when the kernel wrote (N, Lq, H, hd).
        return attention(q, k, v, mask, kernels).transpose(1, 2).reshape(n * queries, dim)

    def _folded(self, x, mask, queries: int, kernels: KernelOptions):
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
        q = linear(x[:, :queries], w_q, b_q, kernels).view(rows, h, hd).transpose(0, 1)  # (H, R, hd)
        # Queries moved to the input space of the keys: (H, R, D), rows padded as in `linear`.
        u = torch.bmm(pad_rows_3d(q), w_k.view(h, hd, dim))[:, :rows]
        u = u.view(h, n, queries, dim).permute(1, 0, 2, 3).reshape(n, h * queries, dim)
        scores = torch.bmm(u, x.transpose(1, 2)).mul_(hd**-0.5)  # (N, H*Lq, L)
        if mask is not None:
            scores = scores.masked_fill(~mask.view(n, 1, length), float("-inf"))
        ctx = torch.bmm(torch.softmax(scores, dim=-1), x)  # (N, H*Lq, D)
        ctx = ctx.view(n, h, queries, dim).permute(1, 0, 2, 3).reshape(h, rows, dim)
        out = torch.baddbmm(
            b_v.view(h, 1, hd), pad_rows_3d(ctx), w_v.view(h, hd, dim).transpose(1, 2)
        )[:, :rows]
        return out.transpose(0, 1).reshape(rows, dim)

    def forward(self, x, mask=None, queries: int | None = None):
        """Attend over ``x`` (N, L, D); with ``queries=q`` only the first q positions are computed."""
        n, lq = x.shape[0], x.shape[1] if queries is None else queries
        out = self.out_proj(self.heads(x, mask, queries))
        return out.view(n, lq, -1)


class _EncoderLayer(nn.Module):
    """Post-norm layer with ``nn.TransformerEncoderLayer`` semantics and names."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, eps: float, dropout: float = 0.0):
        super().__init__()
        self.self_attn = _SelfAttention(dim, num_heads)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.dropout = float(dropout)

    def _train_forward(self, x, mask=None):
        """The differentiable training path: plain torch operations, fused SDPA, dropout.

        Exactly ``nn.TransformerEncoderLayer(norm_first=False, activation="gelu")``
        in training mode: dropout on the attention weights, after the attention
        projection, after the GELU and after the second linear layer.
        """
        n, length, dim = x.shape
        attn = self.self_attn
        h = attn.num_heads
        p = self.dropout
        qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
        q, k, v = qkv.view(n, length, 3, h, dim // h).permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        a = attn.out_proj(a.transpose(1, 2).reshape(n, length, dim))
        x = self.norm1(x + F.dropout(a, p, training=True))
        hidden = F.dropout(F.gelu(self.linear1(x)), p, training=True)
        return self.norm2(x + F.dropout(self.linear2(hidden), p, training=True))

    def forward(self, x, mask=None, queries: int | None = None, kernels: KernelOptions = DEFAULT_KERNELS):
        if self.training:
            out = self._train_forward(x, mask)
            return out if queries is None else out[:, :queries]
        n, length, dim = x.shape
        lq = length if queries is None else queries
        residual = pad_rows((x if queries is None else x[:, :queries]).reshape(n * lq, dim))
        attn = self.self_attn
        y = linear_add(
            pad_rows(attn.heads(x, mask, queries, kernels)),
            attn.out_proj.weight,
            attn.out_proj.bias,
            residual,
            kernels,
        )
        y = self.norm1(y)
        hidden = linear_gelu(y, self.linear1.weight, self.linear1.bias, kernels)
        y = self.norm2(linear_add(hidden, self.linear2.weight, self.linear2.bias, y, kernels))
        return y[: n * lq].view(n, lq, dim)


class _Encoder(nn.Module):
    def __init__(self, config: EchoConfig, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            _EncoderLayer(config.embed_dim, config.num_heads, config.ffn_dim, config.eps, dropout)
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
    kernels : KernelOptions, optional
        Which inference kernels run (`sklearn_echo.echo.kernels`); fixed for
        the encoder's life. Defaults to the fastest measured ones.
    dropout : float, default=0.0
        Dropout of the training path (``module.train()``): on the attention
        weights and after the attention, the GELU and the feed-forward block,
        as ``nn.TransformerEncoderLayer`` places it. EAT's released
        pretraining configuration uses 0. Evaluation mode never drops.

    Notes
    -----
    A band sequence is ``[CLS, tok_0 .. tok_{P-1}]`` where token ``j`` is the
    linear projection of a ``band_width x patch_width`` patch plus
    ``pos_embed[1 + j]`` plus the band's frequency encoding, and the CLS token
    is ``cls_token`` plus the frequency encoding (``pos_embed[0]`` is not
    added). Use :meth:`embed` to build sequences and :meth:`forward` to encode
    them.

    In evaluation mode (``module.eval()``) the inference kernels run; in
    training mode every layer takes a differentiable path of plain torch
    operations (fused scaled-dot-product attention, dropout). Both use the
    same parameters.

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

    def __init__(
        self,
        config: EchoConfig = ECHO_SMALL_CONFIG,
        kernels: KernelOptions | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.config = config
        self.kernels = DEFAULT_KERNELS if kernels is None else kernels
        d = config.embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, config.max_patches + 1, d))
        self.patch_embed = _PatchEmbed(config)
        self.encoder = _Encoder(config, dropout)
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
        return_layers: bool = False,
    ):
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
        return_layers : bool, default=False
            Also return every layer's output (before the final ``norm``), the
            targets of teacher-student pretraining.

        Returns
        -------
        Tensor of shape (N, L, D), or (N, D) when ``cls_only``; with
        ``return_layers`` a pair ``(output, [layer outputs])``.
        """
        mask = None
        if lengths is not None:
            pos = torch.arange(x.shape[1], device=x.device)
            mask = (pos[None, :] < lengths[:, None])[:, None, None, :]
        layers = self.encoder.layers
        last = len(layers) - 1
        outputs = []
        for i, layer in enumerate(layers):
            x = layer(x, mask, 1 if (cls_only and i == last) else None, self.kernels)
            if return_layers:
                outputs.append(x)
        x = self.norm(x)
        x = x[:, 0] if cls_only else x
        return (x, outputs) if return_layers else x

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
