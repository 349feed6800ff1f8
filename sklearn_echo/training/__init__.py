"""Self-supervised teacher-student pretraining of ECHO (the paper's recipe, after EAT).

One trainer for every use of training (pretraining here, fine-tuning later):

``data``
    Random crops, random 32-bin bands and masks, drawn reproducibly per step
    and rank; `PretrainingDataset` for ``DataLoader`` workers.
``masking``
    Inverse block masking with an exact mask ratio.
``teacher``
    The EMA update, its annealed decay and the regression targets.
``decoder``
    The light 1-D convolutional decoder.
``optim``
    AdamW, the batch-scaled learning rate and the warm-up + cosine schedule.
``loop``
    `Pretraining`: one step, validation, state save and resume.
``distributed``
    Process groups under ``torchrun`` (gloo on CPU, NCCL on GPU).
``export``
    Writing the teacher in the published checkpoint format.

The estimator is `sklearn_echo.EchoPretrainer`.
"""

from .data import (
    ExampleSpec,
    PretrainingDataset,
    SignalSource,
    TrainingItem,
    training_items,
)
from .decoder import PatchDecoder
from .distributed import DistContext
from .export import encoder_arrays, save_encoder
from .loop import Pretraining, Recipe, StateMismatchError
from .masking import inverse_block_mask, n_masked
from .optim import make_optimizer, scaled_learning_rate, warmup_cosine
from .teacher import ema_decay_at, ema_update, make_targets

__all__ = [
    "DistContext",
    "ExampleSpec",
    "PatchDecoder",
    "Pretraining",
    "PretrainingDataset",
    "Recipe",
    "SignalSource",
    "StateMismatchError",
    "TrainingItem",
    "ema_decay_at",
    "ema_update",
    "encoder_arrays",
    "inverse_block_mask",
    "make_optimizer",
    "make_targets",
    "n_masked",
    "save_encoder",
    "scaled_learning_rate",
    "training_items",
    "warmup_cosine",
]
