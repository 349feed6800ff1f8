"""Supervised fine-tuning on the same trainer: labelled examples, one step, state and resume.

The pieces of self-supervised pretraining are reused as they are: the
training items, `SignalSource`, the reproducible order of examples (a batch
is a function of ``(seed, step, rank)``, so ``DataLoader`` workers, ranks
and resumed runs see the same examples), `DistContext`, AdamW with its
warm-up + cosine schedule and the atomic ``state.pt``. What changes is the
example and the loss:

* an example is a random crop of ``crop_frames`` frames of one labelled
  channel, cut into **all** the bands of its sampling rate exactly as
  inference cuts them (`sklearn_echo.echo.bands.band_plan`: the last band
  zero-padded on its low side), each with its frequency encoding;
* the encoder (training path) gives one CLS output per band; their mean per
  example is the pooled embedding, which an `ArcFaceHead` classifies
  (additive angular margin cross-entropy, optionally with mixup of the
  spectrogram patches of two examples of the same batch).

`SupervisedTraining` has the interface of `sklearn_echo.training.Pretraining`
(``step``, ``validation_loss``, ``record_validation``, ``save_state``,
``load_state``), so `sklearn_echo.training.loop.run_steps`, the step loop
(validation, early stopping, progress bar, checkpoints), runs either.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..echo.bands import band_plan, n_frames, stft_params
from ..echo.spectrogram import echo_spectrogram, frequency_encoding
from .arcface import ArcFaceHead, mixup_arcface_loss
from .data import PretrainingDataset
from .distributed import DistContext
from .loop import TrainingRun, _check_shapes
from .optim import make_optimizer, warmup_cosine

__all__ = [
    "FineTuneRecipe",
    "LabelledDataset",
    "SupervisedTraining",
    "make_labelled_example",
    "pool_bands",
]


@dataclass(frozen=True)
class FineTuneRecipe:
    """Hyperparameters of supervised fine-tuning (see ``docs/finetuning.md``)."""

    max_steps: int
    learning_rate: float
    head_learning_rate: float
    min_learning_rate: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 0.05
    max_grad_norm: float | None = 4.0
    mixup: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def make_labelled_example(x: np.ndarray, mean: float, sample_rate: float, crop_frames: int,
                          rng: np.random.Generator | None, band_width: int = 32,
                          patch_width: int = 16) -> dict:
    """All inference bands of one crop: ``patches`` (B, P, bw * pw) and ``positions`` (B,).

    ``rng=None`` takes the centred crop (validation).
    """
    n_fft, hop = stft_params(sample_rate)
    total = n_frames(len(x), sample_rate)
    t = crop_frames
    if total > t:
        start = int(rng.integers(0, total - t + 1)) if rng is not None else (total - t) // 2
    else:
        start = 0
    count = min(t, total)
    segment = x[start * hop : (start + count - 1) * hop + n_fft]
    spec = echo_spectrogram(segment, sample_rate, mean=mean)
    plan = band_plan(sample_rate, band_width)
    b, p = plan.n_bands, t // patch_width
    padded = torch.zeros(b * band_width, t)
    full = band_width * (b - 1)
    padded[:full, :count] = spec[:full]
    padded[full + plan.low_pad :, :count] = spec[full:]
    patches = padded.view(b, band_width, p, patch_width).permute(0, 2, 1, 3)
    return {"patches": patches.reshape(b, p, band_width * patch_width),
            "positions": np.asarray(plan.positions, dtype=np.float64)}


def collate_labelled(examples: list[dict], labels) -> dict:
    """Stack examples of any band counts; ``owner`` maps every band sequence to its example."""
    return {
        "patches": torch.cat([e["patches"] for e in examples]),
        "positions": torch.from_numpy(np.concatenate([e["positions"] for e in examples])),
        "owner": torch.cat([torch.full((len(e["positions"]),), i, dtype=torch.int64)
                            for i, e in enumerate(examples)]),
        "labels": torch.as_tensor(np.asarray(labels, dtype=np.int64)),
        "n_examples": len(examples),
    }


class LabelledDataset(PretrainingDataset):
    """`PretrainingDataset`'s reproducible order of examples, with labelled all-band crops.

    Parameters
    ----------
    source, items, batch_size, seed, start_step, stop_step, rank, world_size
        As in `PretrainingDataset`.
    labels : sequence of int
        Class index of every signal position (``item.position``).
    crop_frames : int
        Frames per crop (a multiple of ``patch_width``).
    band_width, patch_width : int, default=32, 16
    """

    def __init__(self, source, items, labels, crop_frames: int, batch_size: int, seed: int,
                 start_step: int = 0, stop_step: int | None = None, rank: int = 0,
                 world_size: int = 1, band_width: int = 32, patch_width: int = 16):
        super().__init__(source, items, None, batch_size, seed, start_step, stop_step, rank,
                         world_size)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.crop_frames, self.band_width, self.patch_width = int(crop_frames), band_width, patch_width

    def example(self, g: int) -> dict:
        item = self._item(g)
        x, mean = self.source.channel(item)
        rng = np.random.default_rng([self.seed, 1, g])
        ex = make_labelled_example(x, mean, item.sample_rate, self.crop_frames, rng,
                                   self.band_width, self.patch_width)
        ex["label"] = int(self.labels[item.position])
        return ex

    def batch(self, step: int) -> dict:
        first = (step * self.world_size + self.rank) * self.batch_size
        examples = [self.example(first + k) for k in range(self.batch_size)]
        return collate_labelled(examples, [e["label"] for e in examples])


def fixed_labelled_batches(source, items, labels, crop_frames: int, batch_size: int,
                           band_width: int = 32, patch_width: int = 16) -> list[dict]:
    """Validation batches: the centred crop of every item once."""
    batches = []
    for first in range(0, len(items), batch_size):
        chunk = items[first : first + batch_size]
        examples = []
        for item in chunk:
            x, mean = source.channel(item)
            examples.append(make_labelled_example(x, mean, item.sample_rate, crop_frames, None,
                                                  band_width, patch_width))
        batches.append(collate_labelled(examples, [labels[it.position] for it in chunk]))
    return batches


def pool_bands(cls: torch.Tensor, owner: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of the band CLS outputs (S, D) of each of ``n`` examples -> (n, D)."""
    total = cls.new_zeros(n, cls.shape[1]).index_add_(0, owner, cls)
    count = torch.bincount(owner, minlength=n).clamp_min(1).to(cls.dtype)
    return total / count[:, None]


class _Model(nn.Module):
    """Encoder + head: the pooled embedding of band sequences and its loss."""

    def __init__(self, encoder, head: ArcFaceHead):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, patches, freq_enc, owner, n: int):
        x = self.encoder.embed(patches, freq_enc)
        cls = self.encoder(x)[:, 0]
        pooled = pool_bands(cls.float(), owner, n)
        return pooled, self.head.cosine(pooled)


class SupervisedTraining(TrainingRun):
    """Encoder, angular-margin head, optimiser and schedule of one fine-tuning run.

    Parameters
    ----------
    encoder : EchoEncoder
        Trained in place; its ``requires_grad`` flags choose what trains
        (all, the last layers, or LoRA adapters added beforehand).
    n_classes : int
    recipe : FineTuneRecipe
    device : torch.device
    autocast_dtype : torch.dtype or None
    dist : DistContext, optional
    seed : int, default=0
        Seeds the head's initialisation, mixup and dropout.
    scale, margin : float
        The head's ``s`` and ``m``.
    """

    def __init__(self, encoder, n_classes: int, recipe: FineTuneRecipe, device,
                 autocast_dtype=None, dist: DistContext | None = None, seed: int = 0,
                 scale: float = 30.0, margin: float = 0.2):
        self.recipe = recipe
        self.device = torch.device(device)
        self.autocast_dtype = autocast_dtype
        self.dist = dist or DistContext()
        self.config = encoder.config
        encoder = encoder.to(self.device, torch.float32).train()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            head = ArcFaceHead(self.config.embed_dim, n_classes, scale, margin)
        self.net = _Model(encoder, head.to(self.device))
        self.model = self.net
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.net, device_ids=ids)
        self.optimizer = make_optimizer(encoder.named_parameters(), recipe.learning_rate,
                                        recipe.weight_decay)
        self.optimizer.add_param_group({"params": [head.weight], "weight_decay": 0.0,
                                        "lr": recipe.head_learning_rate})
        floor = (min(1.0, recipe.min_learning_rate / recipe.learning_rate)
                 if recipe.learning_rate else 1.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: warmup_cosine(s, recipe.max_steps, recipe.warmup_steps, floor))
        self.step_count = 0
        self.loss_curve: list[float] = []
        self.validation_curve: list[float] = []
        self.validation_accuracy: list[float] = []
        self.best_validation = float("inf")
        self.stale = 0
        self.seed = int(seed)
        torch.manual_seed(seed)

    @property
    def encoder(self):
        return self.net.encoder

    @property
    def head(self) -> ArcFaceHead:
        return self.net.head

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _inputs(self, batch):
        patches = batch["patches"].to(self.device)
        fe = frequency_encoding(batch["positions"].numpy(), self.config.embed_dim).to(self.device)
        return patches, fe, batch["owner"].to(self.device), batch["labels"].to(self.device)

    def _mixup(self, patches, owner, labels):
        """Mix each example's patches with a partner of the same band layout (same rate)."""
        n = labels.shape[0]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.step_count)
        lam = torch.distributions.Beta(self.recipe.mixup, self.recipe.mixup).sample((n,))
        bands = torch.bincount(owner.cpu(), minlength=n)
        partner = torch.arange(n)
        perm = torch.randperm(n, generator=g)
        for i in range(n):  # the first example of another permutation slot with the same bands
            same = perm[bands[perm] == bands[i]]
            partner[i] = same[torch.randint(len(same), (1,), generator=g)]
        first = torch.cumsum(bands, 0) - bands
        rows = torch.arange(owner.shape[0])
        src = first[partner[owner.cpu()]] + (rows - first[owner.cpu()])
        lam = lam.clamp(0.0, 1.0).to(self.device)
        mixed = lam[owner, None, None] * patches + (1 - lam[owner, None, None]) * patches[src.to(self.device)]
        return mixed, labels[partner.to(self.device)], lam

    def _loss_terms(self, batch, model, train: bool):
        patches, fe, owner, labels = self._inputs(batch)
        n = labels.shape[0]
        partner = lam = None
        if train and self.recipe.mixup > 0:
            patches, partner, lam = self._mixup(patches, owner, labels)
        with self._autocast():
            _, cos = model(patches, fe, owner, n)
        loss = mixup_arcface_loss(cos.float(), labels, self.head.scale, self.head.margin,
                                  partner, lam, "sum")
        correct = (cos.argmax(1) == labels).sum()
        return loss, torch.tensor([float(n), float(correct)], dtype=torch.float64)

    def step(self, batch) -> float:
        """One optimiser step; returns the global mean loss."""
        self.model.train()
        loss, counts = self._loss_terms(batch, self.model, train=True)
        total = self.dist.sum(counts)
        scaled = loss / max(float(total[0]), 1.0) * self.dist.world_size
        self._backward_and_step(scaled, self.encoder,
                                [p for p in self.net.parameters() if p.requires_grad])
        return self._record_step(scaled)

    @torch.no_grad()
    def validation_loss(self, batches) -> float:
        """Mean margin loss on fixed batches (evaluation mode); the accuracy is recorded too."""
        self.net.eval()
        loss = 0.0
        counts = torch.zeros(2, dtype=torch.float64)
        for batch in batches:
            value, c = self._loss_terms(batch, self.net, train=False)
            loss += float(value)
            counts += c
        self.net.train()
        self.validation_accuracy.append(float(counts[1] / max(float(counts[0]), 1.0)))
        return loss / max(float(counts[0]), 1.0)

    def state_dict(self) -> dict:
        return {
            "step": self.step_count,
            "config": asdict(self.config),
            "recipe": self.recipe.to_dict(),
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"last_epoch": self.scheduler.last_epoch,
                          "_step_count": self.scheduler._step_count},
            "torch_rng": torch.get_rng_state(),
            "loss_curve": torch.tensor(self.loss_curve, dtype=torch.float64),
            "validation_curve": torch.tensor(self.validation_curve, dtype=torch.float64),
            "validation_accuracy": torch.tensor(self.validation_accuracy, dtype=torch.float64),
            "best_validation": self.best_validation,
            "stale": self.stale,
        }

    def load_state_dict(self, state: dict):
        _check_shapes(self.net, state["model"], "fine-tuned encoder and head")
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.last_epoch = int(state["scheduler"]["last_epoch"])
        self.scheduler._step_count = int(state["scheduler"]["_step_count"])
        self.step_count = int(state["step"])
        self.loss_curve = [float(v) for v in state["loss_curve"]]
        self.validation_curve = [float(v) for v in state["validation_curve"]]
        self.validation_accuracy = [float(v) for v in state["validation_accuracy"]]
        self.best_validation = float(state["best_validation"])
        self.stale = int(state["stale"])
        torch.set_rng_state(state["torch_rng"].cpu())
