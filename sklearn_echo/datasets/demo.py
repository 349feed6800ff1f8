"""The demo clips shipped with the package: a tiny fan anomaly-detection set, offline.

Twelve 2 s crops (16 kHz, mono, 16-bit FLAC) of the MIMII dataset's fan,
machine id_00, microphone channel 0 (Hitachi, CC BY-SA 4.0; attribution in
``sklearn_echo/assets/demo/ATTRIBUTION.md``): four normal clips to fit a
detector on, four other normal clips and four abnormal ones to score.
"""

# License: MIT

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.utils import Bunch

__all__ = ["DEMO_SAMPLE_RATE", "demo_folder", "load_demo"]

DEMO_SAMPLE_RATE = 16000
"""Sampling rate of every demo clip, in Hz."""

_GROUPS = ("train_normal", "test_normal", "test_abnormal")


def demo_folder() -> Path:
    """Folder of the demo clips inside the installed package."""
    return Path(__file__).resolve().parents[1] / "assets" / "demo"


def _clips(group: str) -> list[str]:
    found = sorted(str(p) for p in demo_folder().glob(f"{group}_*.flac"))
    if not found:
        raise FileNotFoundError(
            f"no demo clips {group}_*.flac in {str(demo_folder())!r}: the installation "
            "is incomplete, reinstall sklearn-echo"
        )
    return found


def load_demo(*, as_arrays: bool = False) -> Bunch:
    """Load the bundled demo clips: normal fan sounds to fit on, labelled clips to score.

    Parameters
    ----------
    as_arrays : bool, default=False
        Return the clips as float32 arrays (samples in [-1, 1]) instead of
        file paths. Either form goes straight into `sklearn_echo.EchoEmbedder`
        (arrays with ``sample_rate=16000``).

    Returns
    -------
    sklearn.utils.Bunch
        ``train``: the 4 normal clips to fit on; ``test``: the 8 clips to
        score (4 normal, then 4 abnormal); ``y_test``: their labels (0
        normal, 1 anomalous, the DCASE convention); ``sample_rate``: 16000;
        ``train_files``, ``test_files``: the paths; ``DESCR``: source and
        licence of the recordings.

    Examples
    --------
    >>> from sklearn_echo.datasets import load_demo
    >>> demo = load_demo()
    >>> len(demo.train), len(demo.test), demo.y_test.tolist(), demo.sample_rate
    (4, 8, [0, 0, 0, 0, 1, 1, 1, 1], 16000)
    >>> load_demo(as_arrays=True).train[0].shape
    (32000,)
    """
    from sklearn.utils import Bunch  # scikit-learn loads pandas: only when the clips are asked for

    train_files = _clips("train_normal")
    normal, abnormal = _clips("test_normal"), _clips("test_abnormal")
    test_files = normal + abnormal
    y_test = np.array([0] * len(normal) + [1] * len(abnormal))
    if as_arrays:
        import soundfile as sf

        def read(paths):
            return [sf.read(p, dtype="float32")[0] for p in paths]

        train, test = read(train_files), read(test_files)
    else:
        train, test = list(train_files), list(test_files)
    descr = (demo_folder() / "ATTRIBUTION.md").read_text(encoding="utf-8")
    return Bunch(
        train=train,
        test=test,
        y_test=y_test,
        sample_rate=DEMO_SAMPLE_RATE,
        train_files=train_files,
        test_files=test_files,
        DESCR=descr,
    )
