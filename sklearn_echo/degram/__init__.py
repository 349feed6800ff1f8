"""DEGram: a learnable time-frequency front end (SincGram + TF-DE attention) and a classifier.

The torch modules follow the DEGramNet design (Foggia et al., Neural Computing
and Applications, 2023) and work at any sampling rate: the SincGram filters
are defined in Hz and evaluated on the STFT bins of each input's own rate.
`DEGramClassifier` trains the whole model end to end on raw signals
with scikit-learn's estimator API.
"""

from .attention import STRATEGIES, FrequencyExcitation, TFDELayer, TimeExcitation
from .classifier import DEGramClassifier
from .backbones import BACKBONES, BasicBlock, ResNet18, SmallCNN, make_backbone
from .frontend import BinInterpolation, DEGram, DEGramNet, FrequencyNormalization
from .plotting import plot_filterbank
from .sincgram import (
    Filterbank,
    SincGram,
    butterworth_response,
    hz_to_mel,
    mel_filter_params,
    mel_to_hz,
)
from .spectrogram import STFT_HOP_SECONDS, STFT_WINDOW_SECONDS, PowerSpectrogram, stft_config

__all__ = [
    "DEGramClassifier",
    "STRATEGIES",
    "FrequencyExcitation",
    "TimeExcitation",
    "TFDELayer",
    "BACKBONES",
    "BasicBlock",
    "ResNet18",
    "SmallCNN",
    "make_backbone",
    "BinInterpolation",
    "DEGram",
    "DEGramNet",
    "FrequencyNormalization",
    "Filterbank",
    "SincGram",
    "plot_filterbank",
    "butterworth_response",
    "hz_to_mel",
    "mel_to_hz",
    "mel_filter_params",
    "STFT_HOP_SECONDS",
    "STFT_WINDOW_SECONDS",
    "PowerSpectrogram",
    "stft_config",
]
