"""What kind of value an item of ``X`` is: a path, a number, a tensor, a pandas object.

These questions are asked by every module of the input layer. Torch and
pandas are never imported here: a value is a tensor or a pandas object only
when the program that passed it has imported them already. Paths are written
absolute in messages and compared by their lower-case extension.
"""

from __future__ import annotations

import numbers
import os
import sys

import numpy as np

__all__ = ["abspath", "ext", "is_number", "is_pandas", "is_path", "is_torch_tensor"]


def is_path(value) -> bool:
    """Whether ``value`` names a file (``str`` or ``os.PathLike``)."""
    return isinstance(value, (str, os.PathLike))


def abspath(value) -> str:
    """The absolute form of a path (``~`` expanded)."""
    return os.path.abspath(os.path.expanduser(os.fspath(value)))


def ext(path: str) -> str:
    """The extension of ``path`` in lower case, with its dot (``""`` when none)."""
    return os.path.splitext(path)[1].lower()


def is_torch_tensor(value) -> bool:
    """Whether ``value`` is a torch tensor (torch already imported by the caller)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def is_pandas(value, name: str) -> bool:
    """Whether ``value`` is a ``pandas.<name>`` (pandas already imported by the caller)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, getattr(pd, name))


def is_number(value) -> bool:
    """A plain scalar number (bool and complex included), not a string."""
    return isinstance(value, (numbers.Number, np.generic)) and not isinstance(
        value, (str, bytes, np.str_, np.bytes_)
    )
