"""The teacher: an exponential moving average of the student, and its regression targets.

``theta_t <- a * theta_t + (1 - a) * theta_s`` after every optimiser step,
with ``a`` annealed linearly from ``ema_decay`` to ``ema_end_decay`` over
``anneal_steps`` steps (EAT: 0.9998 to 0.99999). The targets are EAT's: the
average of the teacher's top-k layer outputs, each instance-normalised over
time, then layer-normalised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["ema_decay_at", "ema_update", "make_targets"]


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
