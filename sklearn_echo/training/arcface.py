"""The additive angular margin head (ArcFace) and its mixup loss.

Embeddings and class weights are L2-normalised, so a logit is the cosine of
the angle ``theta_j`` between an embedding and class ``j``'s weight. During
training the target class's logit becomes ``s * cos(theta_y + m)`` and the
others ``s * cos(theta_j)`` (Deng et al., 2019): the embedding must be ``m``
radians closer to its class than to any other to win, which packs each
class tightly on the sphere. Where ``theta_y + m`` would pass ``pi`` (the
cosine is no longer decreasing there) the target logit is
``s * (cos(theta_y) - m * sin(m))``, the usual linear continuation.
Prediction uses the plain logits ``s * cos(theta_j)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ArcFaceHead", "arcface_logits", "mixup_arcface_loss"]


def arcface_logits(cosine: torch.Tensor, target: torch.Tensor, scale: float,
                   margin: float) -> torch.Tensor:
    """``s * cos(theta + m)`` at each row's target class, ``s * cos(theta)`` elsewhere.

    Parameters
    ----------
    cosine : Tensor of shape (N, n_classes)
        Cosines between the normalised embeddings and class weights.
    target : Tensor of shape (N,), int64
    scale, margin : float
        ``s`` and ``m`` (radians).

    Examples
    --------
    >>> import math, torch
    >>> from sklearn_echo.training.arcface import arcface_logits
    >>> c = torch.tensor([[0.5, 0.2]])
    >>> out = arcface_logits(c, torch.tensor([0]), 10.0, 0.3)
    >>> round(float(out[0, 0]), 4) == round(10 * math.cos(math.acos(0.5) + 0.3), 4)
    True
    >>> float(out[0, 1])
    2.0
    """
    cosine = cosine.float()
    cos_m, sin_m = math.cos(margin), math.sin(margin)
    sine = (1.0 - cosine.pow(2)).clamp_min(0.0).sqrt()
    shifted = cosine * cos_m - sine * sin_m
    # theta + m > pi exactly when cos(theta) < cos(pi - m)
    shifted = torch.where(cosine > math.cos(math.pi - margin), shifted, cosine - margin * sin_m)
    onehot = F.one_hot(target, cosine.shape[1]).bool()
    return scale * torch.where(onehot, shifted, cosine)


class ArcFaceHead(nn.Module):
    """Class weights on the unit sphere; cosines, margin logits and probabilities.

    Parameters
    ----------
    dim : int
        Embedding width.
    n_classes : int
    scale : float, default=30.0
    margin : float, default=0.2
        Additive angular margin in radians.
    """

    def __init__(self, dim: int, n_classes: int, scale: float = 30.0, margin: float = 0.2):
        super().__init__()
        self.scale, self.margin = float(scale), float(margin)
        self.weight = nn.Parameter(torch.empty(n_classes, dim))
        nn.init.xavier_uniform_(self.weight)

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        """Cosines (N, n_classes) between embeddings ``x`` (N, dim) and the class weights."""
        return F.linear(F.normalize(x.float(), dim=-1), F.normalize(self.weight, dim=-1))

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Margin logits with ``target``; plain scaled cosines without."""
        cos = self.cosine(x)
        if target is None:
            return self.scale * cos
        return arcface_logits(cos, target, self.scale, self.margin)


def mixup_arcface_loss(cosine: torch.Tensor, target: torch.Tensor, scale: float, margin: float,
                       partner: torch.Tensor | None = None, lam: torch.Tensor | None = None,
                       reduction: str = "sum") -> torch.Tensor:
    """Cross-entropy of the margin logits; with mixup the two targets' losses weighted.

    ``cosine`` (N, n_classes) are those of embeddings of mixed inputs
    ``lam * a + (1 - lam) * b``; the loss is
    ``lam * CE(arcface(cos, y_a), y_a) + (1 - lam) * CE(arcface(cos, y_b), y_b)``
    (``lam`` per row). Without ``partner``: the plain margin cross-entropy.
    """
    loss = F.cross_entropy(arcface_logits(cosine, target, scale, margin), target,
                           reduction="none")
    if partner is not None:
        other = F.cross_entropy(arcface_logits(cosine, partner, scale, margin), partner,
                                reduction="none")
        loss = lam * loss + (1.0 - lam) * other
    return loss.sum() if reduction == "sum" else loss.mean()
