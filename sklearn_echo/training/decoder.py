"""The light decoder that predicts the teacher's targets at masked patches.

EAT decodes with a small 2-D CNN over the patch grid; ECHO's patches form one
row per band, so here the decoder is 1-D: masked positions get a learned mask
vector, visible ones the student's outputs, then ``layers`` blocks of grouped
``Conv1d -> LayerNorm -> GELU`` with residual connections, and a linear
projection back to the encoder width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PatchDecoder"]


class _Block(nn.Module):
    def __init__(self, dim: int, kernel: int, groups: int):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):  # (N, P, C)
        y = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return x + F.gelu(self.norm(y))


class PatchDecoder(nn.Module):
    """1-D convolutional decoder over a band's patch sequence.

    Parameters
    ----------
    embed_dim : int
        Encoder width ``D`` (input and output).
    decoder_dim : int, optional
        Width of the convolutions (default ``D``).
    layers : int, default=4
    kernel : int, default=3
    groups : int, default=16
        Convolution groups (EAT: 16), reduced to a divisor of ``decoder_dim``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.training.decoder import PatchDecoder
    >>> dec = PatchDecoder(64)
    >>> visible = torch.zeros(2, 3, 64)                 # student outputs of 3 visible patches
    >>> keep = torch.tensor([[0, 1, 5], [2, 3, 4]])
    >>> dec(visible, keep, 8).shape
    torch.Size([2, 8, 64])
    """

    def __init__(self, embed_dim: int, decoder_dim: int | None = None, layers: int = 4,
                 kernel: int = 3, groups: int = 16):
        super().__init__()
        dim = decoder_dim or embed_dim
        groups = math.gcd(groups, dim)
        self.mask_token = nn.Parameter(torch.zeros(embed_dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.input_proj = nn.Linear(embed_dim, dim)
        self.blocks = nn.ModuleList(_Block(dim, kernel, groups) for _ in range(layers))
        self.output_proj = nn.Linear(dim, embed_dim)

    def forward(self, visible: torch.Tensor, keep: torch.Tensor, n_patches: int) -> torch.Tensor:
        """Predictions at all ``n_patches`` positions, shape (N, n_patches, D).

        ``visible`` (N, K, D) are the student's outputs at the positions ``keep`` (N, K).
        """
        n, _, d = visible.shape
        x = self.mask_token.to(visible.dtype).expand(n, n_patches, d).clone()
        x = x.scatter(1, keep[..., None].expand(-1, -1, d), visible)
        x = self.input_proj(x)
        for block in self.blocks:
            x = block(x)
        return self.output_proj(x)
