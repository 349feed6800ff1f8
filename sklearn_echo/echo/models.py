"""The published ECHO models by name: aliases and Hub ids (importable without torch).

``DEFAULT_MODEL`` is what every estimator and command uses unless told
otherwise; `MODEL_ALIASES` maps the short names to Hugging Face Hub repo ids;
`PACKAGED_MODELS` names the checkpoints shipped inside the package (no network).
"""

from __future__ import annotations

__all__ = ["DEFAULT_MODEL", "HUB_FILENAME", "MODEL_ALIASES", "PACKAGED_MODELS"]

DEFAULT_MODEL = "echo-small"
"""Model used when none is given."""

MODEL_ALIASES = {
    "echo-small": "yucongzh/echo-small-0824",
    "echo-tiny": "yucongzh/echo-tiny-0828",
}
"""Short names of the published checkpoints and their Hub repo ids.

- ``echo-small``: D = 384, 12 layers, 6 heads, 21.5 M parameters (the paper's model).
- ``echo-tiny``: D = 192, 12 layers, 3 heads, about 5.5 M parameters.
"""

HUB_FILENAME = "model.safetensors"
"""File of a Hub repo that holds the encoder weights."""

PACKAGED_MODELS = {
    "echo-demo": "echo-demo.safetensors",
}
"""Short names of the checkpoints inside the package (``sklearn_echo/assets``), by file name.

- ``echo-demo``: D = 128, 4 layers, 2 heads, 875,264 parameters (3.5 MB), pretrained
  by the project on a few hundred openly licensed clips so that the package runs
  offline out of the box (``sklearn-echo demo``). It is a demonstration model,
  not a replacement for ``echo-small``: see ``sklearn_echo/assets/echo-demo.md``.
"""
