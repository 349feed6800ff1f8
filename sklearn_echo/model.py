"""The ECHO encoder in plain torch: patch tokens, post-norm Transformer, CLS per band.

Parameter names match the published checkpoint's state dict, so a checkpoint
loads with ``load_state_dict``. The module works on batches of *band
sequences*; :mod:`sklearn_echo.inference` builds those from signals.
"""

from __future__ import annotations

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


class _SelfAttention(nn.Module):
    """Multi-head self-attention holding ``nn.MultiheadAttention``'s parameter names."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x, mask=None, queries: int | None = None):
        """Attend over ``x`` (N, L, D); with ``queries=q`` only the first q positions are computed."""
        n, length, dim = x.shape
        h = self.num_heads
        hd = dim // h
        if queries is None:
            qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
            q, k, v = qkv.view(n, length, 3, h, hd).permute(2, 0, 3, 1, 4).unbind(0)
            lq = length
        else:
            w_q, w_kv = self.in_proj_weight.split([dim, 2 * dim])
            b_q, b_kv = self.in_proj_bias.split([dim, 2 * dim])
            q = F.linear(x[:, :queries], w_q, b_q).view(n, queries, h, hd).transpose(1, 2)
            kv = F.linear(x, w_kv, b_kv).view(n, length, 2, h, hd).permute(2, 0, 3, 1, 4)
            k, v = kv.unbind(0)
            lq = queries
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(n, lq, dim)
        return self.out_proj(out)


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
        residual = x if queries is None else x[:, :queries]
        x = self.norm1(residual + self.self_attn(x, mask, queries))
        return self.norm2(x + self.linear2(F.gelu(self.linear1(x))))


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
    >>> from sklearn_echo.model import EchoConfig, EchoEncoder
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
