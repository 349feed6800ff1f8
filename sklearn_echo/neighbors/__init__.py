"""k-nearest-neighbour estimators on embeddings and their search layer.

- `EchoKNNClassifier`: k-NN vote (the ECHO fault-classification protocol).
- `EchoKNNAnomalyDetector`: nearest-neighbour distance to memory banks of
  normal embeddings, one bank per domain (the DCASE protocol).
- `NeighborIndex`: the exact / approximate neighbour search both use.
"""

from ._anomaly import EchoKNNAnomalyDetector
from ._classification import EchoKNNClassifier
from ._index import AUTO_BRUTE_MAX_BANK, NeighborIndex, ZeroNormWarning

__all__ = [
    "AUTO_BRUTE_MAX_BANK",
    "EchoKNNAnomalyDetector",
    "EchoKNNClassifier",
    "NeighborIndex",
    "ZeroNormWarning",
]
