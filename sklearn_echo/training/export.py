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

__all__ = ["METADATA_KEY", "encoder_arrays", "read_metadata", "save_encoder"]

METADATA_KEY = "sklearn_echo"


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
        Stored as one JSON string under the metadata key ``"sklearn_echo"``,
        so that the same weights and metadata always give the same bytes.

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
    # One metadata entry: safetensors writes its metadata map in no fixed order,
    # and the file's bytes (its SHA-256 fingerprint) must not change between writes.
    meta = {METADATA_KEY: json.dumps(metadata or {}, sort_keys=True)}
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def save_by_fingerprint(weights: dict, folder: str | os.PathLike, metadata: dict | None = None) -> Path:
    """`save_encoder` into ``folder`` under the file's own SHA-256: ``<sha256>.safetensors``.

    Written to a temporary name first and renamed, so concurrent writers (joblib
    workers, unpickled copies) never see a partial file; the same weights and
    metadata always give the same name.
    """
    from ..echo.checkpoint import checkpoint_fingerprint

    folder = Path(folder)
    tmp = save_encoder(weights, folder / f"tmp-{os.getpid()}-{id(weights)}.safetensors", metadata)
    final = folder / f"{checkpoint_fingerprint(tmp)}.safetensors"
    os.replace(tmp, final)
    return final


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata `save_encoder` wrote (an empty dict for other checkpoints)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta[METADATA_KEY]) if METADATA_KEY in meta else {}
