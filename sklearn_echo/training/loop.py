"""The teacher-student training loop: one step, validation, checkpoints, resume.

`Pretraining` holds the student encoder and decoder (wrapped in
`DistributedDataParallel` when several processes train), the EMA teacher,
AdamW and the warm-up + cosine schedule. `Pretraining.step` does one
optimiser step on a batch from `sklearn_echo.training.data`:

1. the teacher (evaluation mode, the fast inference kernels, no gradient)
   encodes the whole band sequences; its top-k layer outputs give the targets;
2. the student encodes ``clone_batch`` masked copies of every sequence, of
   which it sees only the CLS token and the visible patches (EAT);
3. the decoder predicts the targets at the masked patches (frame loss) and
   the student's CLS output regresses the targets' mean over time
   (utterance loss); squared errors scaled by ``1 / sqrt(D)`` as in EAT, the
   frame loss averaged over masked patches, the utterance loss summed over
   the sequences (EAT's weighting) and multiplied by ``cls_loss_weight``;
4. gradients are clipped, AdamW steps, the teacher moves towards the student.

The losses are normalised by counts summed over all ranks, so ``N`` processes
with batch ``b`` each compute the same update as one process with batch ``N * b``.
"""

from __future__ import annotations

import contextlib
import copy
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..echo.model import EchoEncoder
from ..echo.spectrogram import frequency_encoding
from .decoder import PatchDecoder
from .distributed import DistContext
from .optim import make_optimizer, warmup_cosine
from .teacher import ema_decay_at, ema_update, make_targets, teacher_layers

__all__ = ["Pretraining", "Recipe", "StateMismatchError", "Student", "run_steps", "zero_key_bias_grads"]

STATE_FILE = "state.pt"


class StateMismatchError(ValueError):
    """A checkpoint whose tensors do not fit the model being trained."""


@dataclass(frozen=True)
class Recipe:
    """The training hyperparameters (see ``docs/training.md``)."""

    max_steps: int
    learning_rate: float
    min_learning_rate: float = 1e-5
    warmup_steps: int = 0
    weight_decay: float = 0.05
    ema_decay: float = 0.9998
    ema_end_decay: float = 0.99999
    ema_anneal_steps: int = 0
    cls_loss_weight: float = 1.0
    top_k_layers: int | None = None
    max_grad_norm: float | None = 4.0
    decoder_layers: int = 4
    decoder_dim: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def zero_key_bias_grads(encoder) -> None:
    """Zero the gradient of every attention key bias of ``encoder`` (exactly zero in exact arithmetic).

    A bias added to every key shifts all of a query's scores by the same
    amount, which the softmax cancels; its computed gradient is rounding
    noise, which Adam (dividing by the gradient's own size) would turn into
    updates of the learning rate's size that depend on how the batch is
    summed (one process or several).
    """
    d = encoder.config.embed_dim
    for layer in encoder.encoder.layers:
        grad = layer.self_attn.in_proj_bias.grad
        if grad is not None:
            grad[d : 2 * d] = 0.0


class Student(nn.Module):
    """The trained modules: encoder and decoder (what DistributedDataParallel wraps)."""

    def __init__(self, encoder: EchoEncoder, decoder: PatchDecoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, patches, freq_enc, keep, clones: int):
        """CLS outputs (N*C, D) and decoder predictions (N*C, P, D) of the masked copies."""
        enc = self.encoder
        x = enc.embed(patches, freq_enc)  # (N, 1+P, D)
        _, length, d = x.shape
        x = x.repeat_interleave(clones, 0)
        visible = torch.gather(x[:, 1:], 1, keep[..., None].expand(-1, -1, d))
        out = enc(torch.cat([x[:, :1], visible], dim=1))
        pred = self.decoder(out[:, 1:], keep, length - 1)
        return out[:, 0], pred


def _check_shapes(model: nn.Module, state: dict, what: str):
    mine = model.state_dict()
    problems = [
        f"{k!r}: checkpoint {tuple(v.shape)}, model {tuple(mine[k].shape)}"
        for k, v in state.items()
        if k in mine and tuple(v.shape) != tuple(mine[k].shape)
    ]
    missing = [k for k in mine if k not in state]
    unexpected = [k for k in state if k not in mine]
    if problems or missing or unexpected:
        parts = []
        if problems:
            parts.append("mismatched tensors " + "; ".join(problems[:10]))
        if missing:
            parts.append("missing " + ", ".join(repr(k) for k in missing[:10]))
        if unexpected:
            parts.append("unexpected " + ", ".join(repr(k) for k in unexpected[:10]))
        raise StateMismatchError(
            f"the {what} in the checkpoint does not fit the model being trained: "
            + "; ".join(parts)
        )


class TrainingRun:
    """What every training run shares: validation bookkeeping and its state file.

    A subclass (`Pretraining`, `sklearn_echo.training.supervised.SupervisedTraining`)
    sets ``validation_curve``, ``best_validation``, ``stale``, ``optimizer``,
    ``device`` and ``dist``, and defines ``state_dict`` / ``load_state_dict``.
    """

    def _backward_and_step(self, loss, encoder, params) -> None:
        """Gradients of ``loss``, the key-bias rule, clipping of ``params``, AdamW and schedule."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        zero_key_bias_grads(encoder)
        if self.recipe.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, self.recipe.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()

    def _record_step(self, loss) -> float:
        """Count the step and append its global loss (the mean over ranks) to the curve."""
        self.step_count += 1
        value = self.dist.sum(loss.detach().double().cpu()) / self.dist.world_size
        self.loss_curve.append(float(value))
        return float(value)

    def record_validation(self, value: float, tol: float) -> bool:
        """Append a validation loss; True when it improved on the best by more than ``tol``."""
        self.validation_curve.append(value)
        if value < self.best_validation - tol:
            self.best_validation = value
            self.stale = 0
            return True
        self.stale += 1
        return False

    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def save_state(self, directory, extra: dict | None = None) -> Path | None:
        """Write the training state to ``directory/state.pt`` (rank 0 only; atomic)."""
        if not self.dist.is_main:
            return None
        state = self.state_dict()
        state.update(extra or {})
        path = Path(directory) / STATE_FILE
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, path)
        return path

    def load_state(self, directory) -> bool:
        """Continue from ``directory/state.pt`` if it exists; True when a state was loaded."""
        path = Path(directory) / STATE_FILE
        if not path.is_file():
            return False
        self.load_state_dict(torch.load(path, map_location=self.device, weights_only=True))
        return True


class Pretraining(TrainingRun):
    """Student, teacher, decoder, optimiser and schedule of one training run.

    Parameters
    ----------
    encoder : EchoEncoder
        The starting weights (a checkpoint or a fresh initialisation); the
        student trains a copy, the teacher starts as another copy.
    recipe : Recipe
    device : torch.device
    autocast_dtype : torch.dtype or None
        ``torch.bfloat16`` for mixed precision (weights stay float32).
    dist : DistContext, optional
    seed : int, default=0
        Seeds the decoder's initialisation and torch's generator (dropout).
    """

    def __init__(self, encoder: EchoEncoder, recipe: Recipe, device, autocast_dtype=None,
                 dist: DistContext | None = None, seed: int = 0):
        self.recipe = recipe
        self.device = torch.device(device)
        self.autocast_dtype = autocast_dtype
        self.dist = dist or DistContext()
        self.config = encoder.config
        student = copy.deepcopy(encoder).to(self.device, torch.float32).train()
        student.requires_grad_(True)
        self.teacher = copy.deepcopy(encoder).to(self.device, torch.float32).eval()
        self.teacher.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            decoder = PatchDecoder(self.config.embed_dim, recipe.decoder_dim, recipe.decoder_layers)
        self.student = Student(student, decoder.to(self.device))
        self.model = self.student
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.student, device_ids=ids)
        self.optimizer = make_optimizer(self.student.named_parameters(), recipe.learning_rate,
                                        recipe.weight_decay)
        floor = min(1.0, recipe.min_learning_rate / recipe.learning_rate) if recipe.learning_rate else 1.0
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: warmup_cosine(s, recipe.max_steps, recipe.warmup_steps, floor),
        )
        self.step_count = 0
        self.loss_curve: list[float] = []
        self.validation_curve: list[float] = []
        self.best_validation = float("inf")
        self.stale = 0
        self._fe_cache: dict = {}
        torch.manual_seed(seed)

    # ------------------------------------------------------------------ pieces
    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _freq_enc(self, positions: torch.Tensor) -> torch.Tensor:
        return frequency_encoding(positions.numpy(), self.config.embed_dim).to(self.device)

    def _terms(self, batch, model):
        """Summed squared errors and their counts: (frame_sum, frame_count, cls_sum, cls_count)."""
        patches = batch["patches"].to(self.device)
        keep = batch["keep"].to(self.device)
        masked = batch["masked"].to(self.device)
        fe = self._freq_enc(batch["positions"])
        clones = keep.shape[0] // patches.shape[0]
        with self._autocast():
            with torch.no_grad():
                layers = teacher_layers(self.teacher, self.teacher.embed(patches, fe))
                y = make_targets([h[:, 1:] for h in layers], self.recipe.top_k_layers)
            cls, pred = model(patches, fe, keep, clones)
        y = y.repeat_interleave(clones, 0)
        frame = (pred.float() - y).pow(2)[masked].sum()
        utter = (cls.float() - y.mean(dim=1)).pow(2).sum()
        counts = torch.tensor([float(masked.sum()), float(cls.shape[0])], dtype=torch.float64)
        return frame, utter, counts

    def _combine(self, frame, utter, counts):
        """EAT's loss: squared errors scaled by ``1 / sqrt(D)``, summed over channels.

        The frame loss is averaged over the masked patches; the utterance loss
        is summed over the (cloned) sequences, as EAT weights it by the number
        of masked patches before the division by that number.
        """
        frame_n, _ = counts.tolist()
        scale = self.config.embed_dim ** -0.5
        loss = frame / max(frame_n, 1.0)
        if self.recipe.cls_loss_weight:
            loss = loss + self.recipe.cls_loss_weight * utter
        return loss * scale

    # ------------------------------------------------------------------ training
    def step(self, batch) -> float:
        """One optimiser step on ``batch``; returns the (global) loss."""
        self.model.train()
        frame, utter, counts = self._terms(batch, self.model)
        total = self.dist.sum(counts)
        # DistributedDataParallel averages gradients over ranks: scale by the
        # world size so that the update is that of the global sums.
        loss = self._combine(frame, utter, total) * self.dist.world_size
        self._backward_and_step(loss, self.student.encoder, self.student.parameters())
        decay = ema_decay_at(self.step_count, self.recipe.ema_decay, self.recipe.ema_end_decay,
                             self.recipe.ema_anneal_steps)
        ema_update(self.teacher, self.student.encoder, decay)
        return self._record_step(loss)

    @torch.no_grad()
    def validation_loss(self, batches) -> float:
        """Loss on fixed batches (student and teacher in evaluation mode, same on every rank)."""
        self.student.eval()
        frames = utters = 0.0
        counts = torch.zeros(2, dtype=torch.float64)
        for batch in batches:
            frame, utter, c = self._terms(batch, self.student)
            frames += float(frame)
            utters += float(utter)
            counts += c
        self.student.train()
        return float(self._combine(torch.tensor(frames), torch.tensor(utters), counts))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to continue bit for bit (tensors and plain values only)."""
        state = {
            "step": self.step_count,
            "config": asdict(self.config),
            "recipe": self.recipe.to_dict(),
            "encoder": self.student.encoder.state_dict(),
            "decoder": self.student.decoder.state_dict(),
            "teacher": self.teacher.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"last_epoch": self.scheduler.last_epoch,
                          "_step_count": self.scheduler._step_count},
            "torch_rng": torch.get_rng_state(),
            "loss_curve": torch.tensor(self.loss_curve, dtype=torch.float64),
            "validation_curve": torch.tensor(self.validation_curve, dtype=torch.float64),
            "best_validation": self.best_validation,
            "stale": self.stale,
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict):
        _check_shapes(self.student.encoder, state["encoder"], "student encoder")
        _check_shapes(self.teacher, state["teacher"], "teacher encoder")
        _check_shapes(self.student.decoder, state["decoder"], "decoder")
        self.student.encoder.load_state_dict(state["encoder"])
        self.student.decoder.load_state_dict(state["decoder"])
        self.teacher.load_state_dict(state["teacher"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.last_epoch = int(state["scheduler"]["last_epoch"])
        self.scheduler._step_count = int(state["scheduler"]["_step_count"])
        self.step_count = int(state["step"])
        self.loss_curve = [float(v) for v in state["loss_curve"]]
        self.validation_curve = [float(v) for v in state["validation_curve"]]
        self.best_validation = float(state["best_validation"])
        self.stale = int(state["stale"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)

    def teacher_arrays(self) -> dict[str, np.ndarray]:
        from .export import encoder_arrays

        return encoder_arrays(self.teacher)


def run_steps(run, loader, *, total: int, val_batches=(), validation_interval: int = 50,
              early_stopping: bool = False, n_iter_no_change: int = 5, tol: float = 1e-4,
              checkpoint=None, checkpoint_interval: int = 100, progress: bool = False,
              desc: str = "training") -> None:
    """The step loop: step, validate, stop early, checkpoint, show progress.

    ``run`` is a `Pretraining` or a `SupervisedTraining`; ``loader`` yields the
    batches of steps ``run.step_count, ...``; ``checkpoint()`` (optional) is
    called every ``checkpoint_interval`` steps, at the last one and when
    stopping early.
    """
    if run.step_count >= total:
        return
    bar = None
    if progress and run.dist.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=run.step_count, desc=desc, unit="step")
    try:
        for batch in loader:
            loss = run.step(batch)
            step = run.step_count
            stop = False
            if val_batches and (step % validation_interval == 0 or step == total):
                run.record_validation(run.validation_loss(val_batches), float(tol))
                stop = early_stopping and run.stale >= n_iter_no_change
            if bar is not None:
                bar.update(1)
                post = {"loss": f"{loss:.4f}"}
                if run.validation_curve:
                    post["val"] = f"{run.validation_curve[-1]:.4f}"
                bar.set_postfix(post)
            if checkpoint is not None and (step % checkpoint_interval == 0 or step == total or stop):
                checkpoint()
            if stop or step >= total:
                break
    finally:
        if bar is not None:
            bar.close()
