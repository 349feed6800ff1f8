"""Writing an encoder in the published checkpoint format.

The published ``model.safetensors`` is a flat state dict with the names of
`sklearn_echo.echo.model.EchoEncoder` (``cls_token``, ``pos_embed``,
``patch_embed.proj.*``, ``encoder.layers.{i}.*``, ``norm.*``). Files written
here hold exactly those keys, as contiguous float32 tensors, and string
metadata (the configuration, the steps trained, a fingerprint of the
training data), so `sklearn_echo.echo.checkpoint.load_encoder`,
`sklearn_echo.EchoEmbedder` and the upstream ECHO code load them unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["encoder_arrays", "save_encoder"]


def encoder_arrays(encoder) -> dict[str, np.ndarray]:
    """The encoder's state dict as float32 numpy arrays (published key names)."""
    return {
        k: v.detach().to("cpu", torch.float32).contiguous().numpy().copy()
        for k, v in encoder.state_dict().items()
    }


def save_encoder(weights: dict, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``weights`` (name -> array or tensor) as a ``.safetensors`` checkpoint.

    Parameters
    ----------
    weights : dict of str to ndarray or Tensor
        An ``EchoEncoder`` state dict (see `encoder_arrays`).
    path : path-like
        Target file; written to a temporary name first, then renamed.
    metadata : dict, optional
        Values are stored as JSON strings (safetensors metadata is str -> str).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn_echo.echo.checkpoint import load_encoder
    >>> from sklearn_echo.echo.model import EchoConfig, EchoEncoder
    >>> from sklearn_echo.training.export import encoder_arrays, save_encoder
    >>> enc = EchoEncoder(EchoConfig(embed_dim=64, depth=1, num_heads=1, ffn_dim=256))
    >>> path = save_encoder(encoder_arrays(enc), os.path.join(tempfile.mkdtemp(), "m.safetensors"))
    >>> load_encoder(path, num_heads=1).config.embed_dim
    64
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v)
        .detach().to("cpu", torch.float32).contiguous()
        for k, v in weights.items()
    }
    meta = {"format": "pt"}
    for k, v in (metadata or {}).items():
        meta[str(k)] = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path
