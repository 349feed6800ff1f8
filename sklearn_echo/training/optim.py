"""AdamW and the learning-rate schedule of the ECHO paper (section 5.1).

Base learning rate 1e-4 scaled by ``global batch / 256``, weight decay 0.05
(not on biases, norms, the CLS token and the positional table), Adam betas
(0.9, 0.95) as in EAT, linear warm-up, then cosine decay to a floor of 1e-5
(or the peak rate when that is lower).
"""

from __future__ import annotations

import math

import torch

__all__ = ["BASE_LEARNING_RATE", "make_optimizer", "scaled_learning_rate", "warmup_cosine"]

BASE_LEARNING_RATE = 1e-4


def scaled_learning_rate(global_batch: int, base: float = BASE_LEARNING_RATE) -> float:
    """``base * global_batch / 256``, the paper's rule.

    Examples
    --------
    >>> from sklearn_echo.training.optim import scaled_learning_rate
    >>> scaled_learning_rate(256), scaled_learning_rate(32)
    (0.0001, 1.25e-05)
    """
    return base * global_batch / 256.0


def _no_decay(name: str, param) -> bool:
    return param.ndim <= 1 or name.endswith(("cls_token", "pos_embed", "mask_token"))


def make_optimizer(named_parameters, lr: float, weight_decay: float = 0.05,
                   betas=(0.9, 0.95)) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only."""
    decay, plain = [], []
    for name, p in named_parameters:
        if p.requires_grad:
            (plain if _no_decay(name, p) else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


def warmup_cosine(step: int, total: int, warmup: int, floor: float) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up, then cosine to ``floor``.

    Examples
    --------
    >>> from sklearn_echo.training.optim import warmup_cosine
    >>> [round(warmup_cosine(s, 10, 2, 0.1), 3) for s in (0, 1, 2, 10)]
    [0.5, 1.0, 1.0, 0.1]
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
