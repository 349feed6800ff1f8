"""The teacher: an exponential moving average of the student, and its regression targets.

``theta_t <- a * theta_t + (1 - a) * theta_s`` after every optimiser step,
with ``a`` annealed linearly from ``ema_decay`` to ``ema_end_decay`` over
``anneal_steps`` steps (EAT: 0.9998 to 0.99999). The targets are EAT's: the
average of the teacher's top-k layer outputs, each instance-normalised over
time, then layer-normalised. A layer's output is, as in EAT (data2vec 2.0's
``ffn_targets``, its default), the feed-forward block's output before the
residual addition and the layer's last normalisation (`teacher_layers`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["ema_decay_at", "ema_update", "make_targets", "teacher_layers"]


def ema_decay_at(step: int, start: float, end: float, anneal_steps: int) -> float:
    """Decay of the EMA update made after ``step`` optimiser steps.

    ``end - (end - start) * (1 - step / anneal_steps)`` until ``anneal_steps``,
    ``end`` afterwards (EAT's ``get_annealed_rate``).

    Examples
    --------
    >>> from sklearn_echo.training.teacher import ema_decay_at
    >>> ema_decay_at(0, 0.9998, 0.99999, 100), ema_decay_at(100, 0.9998, 0.99999, 100)
    (0.9998, 0.99999)
    """
    if anneal_steps <= 0 or step >= anneal_steps:
        return float(end)
    return float(end - (end - start) * (1.0 - step / anneal_steps))


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, decay: float) -> None:
    """``t <- decay * t + (1 - decay) * s`` for every parameter pair (same names, same order)."""
    t_params = list(teacher.parameters())
    s_params = [p.detach().to(t.dtype) for p, t in zip(student.parameters(), t_params)]
    torch._foreach_mul_(t_params, decay)
    torch._foreach_add_(t_params, s_params, alpha=1.0 - decay)


@torch.no_grad()
def make_targets(layer_outputs, top_k: int | None = None) -> torch.Tensor:
    """EAT's targets from the teacher's layer outputs over the patch tokens.

    Parameters
    ----------
    layer_outputs : list of Tensor of shape (N, P, D)
        Every layer's output at the patch positions (CLS dropped).
    top_k : int, optional
        Average the last ``top_k`` layers (default: all).

    Returns
    -------
    Tensor of shape (N, P, D), float32
        Mean of the instance-normalised layers (each channel normalised over
        the P positions), layer-normalised over D.
    """
    chosen = layer_outputs[-top_k:] if top_k else layer_outputs
    total = None
    for y in chosen:
        # instance norm over time (as F.instance_norm, which refuses a single position)
        y = y.float()
        var, mean = torch.var_mean(y, dim=1, keepdim=True, unbiased=False)
        y = (y - mean) * torch.rsqrt(var + 1e-5)
        total = y if total is None else total + y
    total = total / len(chosen)
    return F.layer_norm(total, total.shape[-1:])


@torch.no_grad()
def teacher_layers(encoder: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's feed-forward output for the embedded sequences ``x`` (N, L, D).

    The encoder's post-norm layers compute ``h = norm1(x + attention(x))``,
    ``f = linear2(gelu(linear1(h)))`` and ``norm2(h + f)``; EAT's targets are
    the ``f`` of every layer (evaluation mode: no dropout, no padding).

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.echo.model import EchoConfig, EchoEncoder
    >>> from sklearn_echo.training.teacher import teacher_layers
    >>> enc = EchoEncoder(EchoConfig(embed_dim=32, depth=2, num_heads=2, ffn_dim=64)).eval()
    >>> [f.shape for f in teacher_layers(enc, torch.randn(3, 5, 32))]
    [torch.Size([3, 5, 32]), torch.Size([3, 5, 32])]
    """
    outputs = []
    n, length, dim = x.shape
    for layer in encoder.encoder.layers:
        attn = layer.self_attn
        heads = attn.num_heads
        qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
        q, k, v = qkv.view(n, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v)
        a = attn.out_proj(a.transpose(1, 2).reshape(n, length, dim))
        h = layer.norm1(x + a)
        f = layer.linear2(F.gelu(layer.linear1(h)))
        outputs.append(f)
        x = layer.norm2(h + f)
    return outputs
