"""Low-rank adapters (LoRA) on ECHO's projections, as weight parametrizations.

``add_lora`` replaces every layer's attention input projection
(``self_attn.in_proj_weight``), attention output projection
(``self_attn.out_proj.weight``) and feed-forward weights (``linear1.weight``,
``linear2.weight``) by ``W + (alpha / r) * B @ A`` through
``torch.nn.utils.parametrize``: the encoder's code is unchanged, both its
training path and its inference kernels read the adapted weight, and only
``A`` (r x in, random) and ``B`` (out x r, zero: the adapted model starts
as the original) train. ``merge_lora`` writes ``W + (alpha / r) B A`` into
the weights and removes the adapters, which gives back a plain encoder with
the published key names.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "LORA_TARGETS",
    "LoRA",
    "add_lora",
    "has_lora",
    "lora_parameters",
    "merge_lora",
    "merged_state_dict",
]

LORA_TARGETS = (
    ("self_attn", "in_proj_weight"),
    ("self_attn.out_proj", "weight"),
    ("linear1", "weight"),
    ("linear2", "weight"),
)
"""(sub-module of a layer, parameter) pairs that receive an adapter."""


class LoRA(nn.Module):
    """The parametrization ``W -> W + (alpha / rank) * B @ A``.

    Parameters
    ----------
    out_features, in_features : int
    rank : int
    alpha : float
    """

    def __init__(self, out_features: int, in_features: int, rank: int, alpha: float):
        super().__init__()
        self.rank, self.alpha = int(rank), float(alpha)
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.scaling * (self.lora_B @ self.lora_A).to(weight.dtype)


def _targets(encoder):
    for layer in encoder.encoder.layers:
        for path, name in LORA_TARGETS:
            yield layer.get_submodule(path), name


def add_lora(encoder, rank: int, alpha: float, seed: int = 0):
    """Freeze ``encoder`` and give its projections trainable adapters (in place).

    Returns
    -------
    encoder
        The same module; its only trainable parameters are the adapters'
        ``lora_A`` and ``lora_B``: ``r * (in + out)`` per adapted matrix.

    Examples
    --------
    >>> from sklearn_echo.echo.model import EchoConfig, EchoEncoder
    >>> from sklearn_echo.training.lora import add_lora
    >>> enc = add_lora(EchoEncoder(EchoConfig(embed_dim=64, depth=2, num_heads=1, ffn_dim=256)), 4, 8)
    >>> # per layer r * (in + out): 4 * ((64 + 192) + (64 + 64) + (64 + 256) + (256 + 64))
    >>> sum(p.numel() for p in enc.parameters() if p.requires_grad)
    8192
    """
    encoder.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module, name in _targets(encoder):
            out_f, in_f = getattr(module, name).shape
            parametrize.register_parametrization(module, name, LoRA(out_f, in_f, rank, alpha))
            # the original weight stays frozen; register_parametrization keeps its flag
            getattr(module.parametrizations, name).original.requires_grad_(False)
    return encoder


def has_lora(encoder) -> bool:
    """True when ``encoder`` carries adapters."""
    return any(parametrize.is_parametrized(m) for m, _ in _targets(encoder))


def lora_parameters(encoder) -> list[nn.Parameter]:
    """The adapters' parameters (``lora_A``, ``lora_B`` of every adapted matrix)."""
    return [p for n, p in encoder.named_parameters() if n.endswith(("lora_A", "lora_B"))]


@torch.no_grad()
def merged_state_dict(encoder) -> dict[str, torch.Tensor]:
    """The plain state dict (published key names) with the adapters folded in.

    ``encoder`` is left as it is (with its adapters); without adapters this
    is its ``state_dict()``.
    """
    plain = {}
    for key, value in encoder.state_dict().items():
        if key.endswith(("lora_A", "lora_B")):
            continue
        if ".parametrizations." in key:
            owner, rest = key.split(".parametrizations.", 1)
            name = rest.split(".", 1)[0]
            key = f"{owner}.{name}"
            value = getattr(encoder.get_submodule(owner), name)
        plain[key] = value.detach().clone()
    return plain


@torch.no_grad()
def merge_lora(encoder):
    """Fold the adapters into the weights and remove them (in place); returns ``encoder``.

    Merge the module that holds the adapters itself, not a ``copy.deepcopy``
    of it (parametrized copies share their class with the original); use
    `merged_state_dict` for a merged copy of the weights.
    """
    for module, name in _targets(encoder):
        if parametrize.is_parametrized(module, name):
            parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return encoder
