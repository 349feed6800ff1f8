"""k-nearest-neighbour estimators on embeddings and their search layer.

- `EchoKNNClassifier`: k-NN vote (the ECHO fault-classification protocol).
- `EchoKNNAnomalyDetector`: nearest-neighbour distance to memory banks of
  normal embeddings, one bank per domain (the DCASE protocol).
- `NeighborIndex`: the exact / approximate neighbour search both use.
"""

from ._anomaly import EchoKNNAnomalyDetector
from ._classification import EchoKNNClassifier
from ._search import AUTO_BRUTE_MAX_BANK, NeighborIndex, ZeroNormWarning

__all__ = [
    "EchoKNNClassifier",
    "EchoKNNAnomalyDetector",
    "NeighborIndex",
    "ZeroNormWarning",
    "AUTO_BRUTE_MAX_BANK",
]
