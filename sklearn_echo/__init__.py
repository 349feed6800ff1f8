"""scikit-learn estimators on ECHO, a foundation model for machine signals.

ECHO embeds sound and vibration recorded at any sampling rate and of any
length. This package wraps it as scikit-learn estimators: `EchoEmbedder`
(signals or files to embeddings), k-NN fault classification and anomaly
detection on embeddings with DCASE metrics (`sklearn_echo.metrics`), and
DEGram, a learnable time-frequency front end trained end to end
(`DEGramClassifier`).

The names below are imported on first use, so ``import sklearn_echo`` (and
the ``sklearn-echo --help`` command) stays light: torch, scikit-learn's
estimators and the readers load only when an estimator or function is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # seen by type checkers and the API docs; imported lazily at run time
    from . import metrics
    from .degram import DEGramClassifier
    from .echo.checkpoint import load_encoder
    from .embedder import EchoEmbedder
    from .finetuner import EchoFineTuner
    from .persistence import load_detector, save_detector
    from .pretrainer import EchoPretrainer
    from .neighbors import EchoKNNAnomalyDetector, EchoKNNClassifier
    from .signals import Signal, SignalError, load_signals
    from .streaming import ScoreStream

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_EXPORTS = {
    "DEGramClassifier": ".degram",
    "EchoEmbedder": ".embedder",
    "EchoFineTuner": ".finetuner",
    "EchoKNNAnomalyDetector": ".neighbors",
    "EchoKNNClassifier": ".neighbors",
    "EchoPretrainer": ".pretrainer",
    "ScoreStream": ".streaming",
    "Signal": ".signals",
    "SignalError": ".signals",
    "load_detector": ".persistence",
    "load_encoder": ".echo.checkpoint",
    "load_signals": ".signals",
    "save_detector": ".persistence",
}

__all__ = sorted([*_EXPORTS, "metrics", "__version__"])


def __getattr__(name: str):
    if name == "metrics":
        return importlib.import_module(".metrics", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sklearn_echo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
