"""scikit-learn estimators on ECHO, a foundation model for machine signals.

ECHO embeds sound and vibration recorded at any sampling rate and of any
length. This package wraps it as scikit-learn estimators: :class:`EchoEmbedder`
(signals or files to embeddings), k-NN fault classification and anomaly
detection on embeddings with DCASE metrics, and DEGram, a learnable
time-frequency front end trained end to end.
"""

from .checkpoint import load_encoder
from .embedder import EchoEmbedder
from .signals import Signal, SignalError, load_signals

__version__ = "0.1.0"

__all__ = [
    "EchoEmbedder",
    "Signal",
    "SignalError",
    "load_encoder",
    "load_signals",
    "__version__",
]

try:  # estimators landing in their own modules
    from .neighbors import EchoKNNAnomalyDetector, EchoKNNClassifier  # noqa: F401

    __all__ += ["EchoKNNAnomalyDetector", "EchoKNNClassifier"]
except ImportError:  # pragma: no cover
    pass
