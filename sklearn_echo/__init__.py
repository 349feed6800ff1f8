"""scikit-learn estimators on ECHO, a foundation model for machine signals.

ECHO embeds sound and vibration recorded at any sampling rate and of any
length. This package wraps it as scikit-learn estimators: `EchoEmbedder`
(signals or files to embeddings), k-NN fault classification and anomaly
detection on embeddings with DCASE metrics (`sklearn_echo.metrics`), and
DEGram, a learnable time-frequency front end trained end to end
(`DEGramClassifier`).
"""

from . import metrics
from .checkpoint import load_encoder
from .degram import DEGramClassifier
from .embedder import EchoEmbedder
from .neighbors import EchoKNNAnomalyDetector, EchoKNNClassifier
from .signals import Signal, SignalError, load_signals

__version__ = "0.1.0"

__all__ = [
    "DEGramClassifier",
    "EchoEmbedder",
    "EchoKNNAnomalyDetector",
    "EchoKNNClassifier",
    "Signal",
    "SignalError",
    "load_encoder",
    "load_signals",
    "metrics",
    "__version__",
]
