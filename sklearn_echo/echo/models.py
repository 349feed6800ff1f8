"""The published ECHO models by name: aliases and Hub ids (importable without torch).

``DEFAULT_MODEL`` is what every estimator and command uses unless told
otherwise; `MODEL_ALIASES` maps the short names to Hugging Face Hub repo ids.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MODEL", "MODEL_ALIASES", "HUB_FILENAME"]

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
