"""EchoPretrainer: self-supervised teacher-student pretraining of ECHO as a scikit-learn transformer."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .band_layout import LAYOUTS
from .echo.models import DEFAULT_MODEL
from .embedder import check_echo_input

__all__ = ["EchoPretrainer"]

ENCODER_FILE = "encoder.safetensors"


def _check_writable(directory) -> Path:
    path = Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise PermissionError(
            f"checkpoint_dir {str(path)!r} is not writable ({type(exc).__name__}: {exc}); "
            "training would not be able to save its state: pass a writable folder or "
            "checkpoint_dir=None"
        ) from exc
    return path


def _start_run(checkpoint_dir, device, random_state):
    """What a training run (pretraining or fine-tuning) starts from, on every rank.

    Returns the checkpoint folder (checked writable, or None), the device (the
    rank's GPU under ``torchrun``), the process-group context and the seed: rank
    0's draw from ``random_state``, or the saved run's when resuming from
    ``checkpoint_dir``.
    """
    import torch

    from .device import resolve_device
    from .training.distributed import DistContext
    from .training.loop import STATE_FILE

    directory = None if checkpoint_dir is None else _check_writable(checkpoint_dir)
    device = resolve_device(device)
    dist = DistContext.from_env(device)
    device = dist.device_for(device)
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    seed = dist.broadcast_int(seed)
    if directory is not None and (directory / STATE_FILE).is_file():
        saved = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
        seed = int(saved.get("seed", seed))
    return directory, device, dist, seed


def _steps_and_warmup(est, n_train: int, world: int) -> tuple[int, int]:
    """Optimiser steps (``max_steps``, fewer with ``max_epochs``) and warm-up steps (10% by default)."""
    steps = int(est.max_steps)
    if est.max_epochs is not None:
        steps = min(steps, int(np.ceil(est.max_epochs * n_train / (est.batch_size * world))))
    warmup = (max(1, steps // 10) if steps else 0) if est.warmup_steps is None else int(est.warmup_steps)
    return steps, min(warmup, steps)


class EchoPretrainer(TransformerMixin, BaseEstimator):
    """Self-supervised pretraining of ECHO on your own signals; then embeds like `EchoEmbedder`.

    The ECHO paper's recipe (after EAT): an exponential moving average of the
    student (the teacher) encodes whole band sequences; the student sees
    masked copies of them and learns to predict the teacher's averaged layer
    outputs at the masked patches (through a light decoder) and their mean
    over time (from its CLS token). Bands are drawn at random (2 to 5 bands
    of 32 bins at random start bins, each with the frequency encoding of its
    true centre frequency); spectrogram, normalisation and patching are those
    of inference. Training continues from any checkpoint `load_encoder`
    accepts, or starts from scratch (``model=None``). The teacher is the
    result: `save` writes it in the published checkpoint format, and
    `transform` embeds with it exactly as ``EchoEmbedder(model=saved file)``.

    Parameters
    ----------
    model : str, path-like or None, default="echo-small"
        Starting checkpoint (Hub id or alias, folder, ``.safetensors`` or
        ``.pth`` file), or ``None`` to start from a random initialisation of
        ``embed_dim``, ``depth`` and ``num_heads``.
    revision : str, default=None
        Hub revision of ``model``.
    embed_dim, depth : int, default=None
        Architecture when ``model=None`` (defaults 384 and 12, ECHO-Small).
        With a checkpoint they are optional checks: a different value is an
        error naming the mismatched tensors.
    num_heads : int, default=None
        Attention heads; ECHO's checkpoints imply ``embed_dim / 64`` (64-dim
        heads), so only that value is accepted.
    sample_rate : float, default=None
        Rate of items that carry none, as in `EchoEmbedder`.
    max_steps : int, default=1000
        Optimiser steps (the run stops earlier with ``max_epochs`` or early stopping).
    max_epochs : float, default=None
        Stop after this many passes over the training signals.
    batch_size : int, default=8
        Signal crops per step and process (each gives 2 to 5 band sequences,
        each masked ``clone_batch`` times). The global batch is
        ``batch_size * world_size`` under ``torchrun``.
    learning_rate : float, default=None
        Peak learning rate; ``None`` is the paper's ``1e-4 * global_batch / 256``.
    min_learning_rate : float, default=1e-5
        Floor of the cosine decay (the peak rate when that is lower).
    warmup_steps : int, default=None
        Linear warm-up steps; ``None`` is 10% of the steps (the paper: 40,000 of 400,000).
    weight_decay : float, default=0.05
    mask_ratio : float, default=0.8
        Fraction of patches hidden from the student (exact per sequence).
    clone_batch : int, default=4
        Masked copies of every band sequence per teacher pass (EAT uses 16).
    ema_decay, ema_end_decay : float, default=0.9998, 0.99999
        EMA decay of the teacher, annealed linearly from the first to the second.
    ema_anneal_steps : int, default=None
        Steps of the annealing (``None``: all the steps of the run).
    crop_seconds : float, default=None
        Length of the training crops (at most 20 s). ``None``: the shortest
        signal's length, at most 20 s. Shorter signals are zero-padded at the
        end of their spectrogram (inference pads the last patch the same way).
    min_bands, max_bands : int, default=2, 5
        Random bands per crop.
    cls_loss_weight : float, default=1.0
        Weight of the utterance-level loss against the frame-level loss (EAT: 1;
        as in EAT the utterance loss is summed over the sequences of a batch
        while the frame loss is averaged over the masked patches).
    dropout : float, default=0.0
        Dropout of the student's Transformer layers (EAT's released configuration: 0).
    validation_fraction : float, default=None
        Fraction of the signals held back for a validation loss (computed
        every ``validation_interval`` steps). Required by ``early_stopping``
        (default 0.1 then).
    early_stopping : bool, default=False
        Stop when the validation loss has not improved by ``tol`` for
        ``n_iter_no_change`` evaluations (the final weights are kept).
    n_iter_no_change : int, default=5
    tol : float, default=1e-4
    validation_interval : int, default=50
    checkpoint_dir : path-like, default=None
        Folder for the training state (``state.pt``: student, teacher, decoder,
        optimiser, schedule, step, random generators) and the teacher
        (``encoder.safetensors``), written every ``checkpoint_interval`` steps
        and at the end. A later ``fit`` with the same folder resumes from the
        saved state. Checked to be writable before training starts.
    checkpoint_interval : int, default=100
    num_workers : int, default=0
        ``DataLoader`` worker processes preparing batches.
    device : str, default="auto"
    dtype : {"float32", "bfloat16"}, default="float32"
        ``"bfloat16"``: mixed precision (bfloat16 autocast, float32 weights)
        for training, and bfloat16 embeddings in `transform`.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, crops, bands, masks and the validation split.
    progress : bool, default=False
        A tqdm bar over steps showing the loss.
    n_jobs : int, default=None
        Training: torch threads on CPU (scikit-learn's count: ``None`` is 1
        unless a joblib context says otherwise, ``-1`` every core).
        `transform`: worker processes, as in `EchoEmbedder`.
    band_layout, multichannel, cache, mat_key
        As in `EchoEmbedder`, for `transform`. ``multichannel="first"`` also
        trains on the first channel only; otherwise every channel is a
        training signal.

    Attributes
    ----------
    loss_curve_ : list of float
        Training loss per step.
    validation_loss_curve_ : list of float
        Validation loss per evaluation (empty without validation).
    n_steps_ : int
        Optimiser steps done (including those of a resumed run).
    model_fingerprint_ : str
        SHA-256 of the trained checkpoint file (as `save` writes it).
    encoder_weights_ : dict of str to ndarray
        The teacher encoder's weights (published key names, float32).
    config_ : dict
        The encoder architecture.
    embedder_ : EchoEmbedder
        The fitted embedder `transform` delegates to.
    n_features_out_ : int
        Width of the embeddings.
    n_features_in_ : int
        Samples per signal, only when fitted on a dense 2-D array.

    See Also
    --------
    sklearn_echo.EchoEmbedder : embeddings from a fixed checkpoint.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo import EchoPretrainer
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal(16000 * 2) for _ in range(4)]
    >>> pre = EchoPretrainer(model=None, embed_dim=64, depth=1, max_steps=3, batch_size=2,
    ...                      sample_rate=16000, random_state=0, device="cpu")
    >>> pre.fit_transform(X).shape
    (4, 448)
    >>> pre.n_steps_, len(pre.loss_curve_)
    (3, 3)
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "revision": [str, None],
        "embed_dim": [Interval(Integral, 1, None, closed="left"), None],
        "depth": [Interval(Integral, 1, None, closed="left"), None],
        "num_heads": [Interval(Integral, 1, None, closed="left"), None],
        "sample_rate": [Interval(Real, 0, None, closed="neither"), None],
        "max_steps": [Interval(Integral, 0, None, closed="left")],
        "max_epochs": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "min_learning_rate": [Interval(Real, 0, None, closed="left")],
        "warmup_steps": [Interval(Integral, 0, None, closed="left"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "mask_ratio": [Interval(Real, 0, 1, closed="left")],
        "clone_batch": [Interval(Integral, 1, None, closed="left")],
        "ema_decay": [Interval(Real, 0, 1, closed="both")],
        "ema_end_decay": [Interval(Real, 0, 1, closed="both")],
        "ema_anneal_steps": [Interval(Integral, 0, None, closed="left"), None],
        "crop_seconds": [Interval(Real, 0, 20, closed="right"), None],
        "min_bands": [Interval(Integral, 1, None, closed="left")],
        "max_bands": [Interval(Integral, 1, None, closed="left")],
        "cls_loss_weight": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "validation_interval": [Interval(Integral, 1, None, closed="left")],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_interval": [Interval(Integral, 1, None, closed="left")],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "device": [str],
        "dtype": [StrOptions({"float32", "bfloat16"})],
        "random_state": ["random_state"],
        "progress": ["boolean"],
        "band_layout": [StrOptions(set(LAYOUTS))],
        "multichannel": [StrOptions({"concatenate", "mean", "first"})],
        "cache": ["boolean", str, os.PathLike],
        "n_jobs": [Integral, None],
        "mat_key": [str],
    }

    def __init__(
        self,
        model=DEFAULT_MODEL,
        *,
        revision=None,
        embed_dim=None,
        depth=None,
        num_heads=None,
        sample_rate=None,
        max_steps=1000,
        max_epochs=None,
        batch_size=8,
        learning_rate=None,
        min_learning_rate=1e-5,
        warmup_steps=None,
        weight_decay=0.05,
        mask_ratio=0.8,
        clone_batch=4,
        ema_decay=0.9998,
        ema_end_decay=0.99999,
        ema_anneal_steps=None,
        crop_seconds=None,
        min_bands=2,
        max_bands=5,
        cls_loss_weight=1.0,
        dropout=0.0,
        validation_fraction=None,
        early_stopping=False,
        n_iter_no_change=5,
        tol=1e-4,
        validation_interval=50,
        checkpoint_dir=None,
        checkpoint_interval=100,
        num_workers=0,
        device="auto",
        dtype="float32",
        random_state=None,
        progress=False,
        band_layout="hz",
        multichannel="concatenate",
        cache=True,
        n_jobs=None,
        mat_key="DE_time",
    ):
        self.model = model
        self.revision = revision
        self.embed_dim = embed_dim
        self.depth = depth
        self.num_heads = num_heads
        self.sample_rate = sample_rate
        self.max_steps = max_steps
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.min_learning_rate = min_learning_rate
        self.warmup_steps = warmup_steps
        self.weight_decay = weight_decay
        self.mask_ratio = mask_ratio
        self.clone_batch = clone_batch
        self.ema_decay = ema_decay
        self.ema_end_decay = ema_end_decay
        self.ema_anneal_steps = ema_anneal_steps
        self.crop_seconds = crop_seconds
        self.min_bands = min_bands
        self.max_bands = max_bands
        self.cls_loss_weight = cls_loss_weight
        self.dropout = dropout
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.validation_interval = validation_interval
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_interval = checkpoint_interval
        self.num_workers = num_workers
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.progress = progress
        self.band_layout = band_layout
        self.multichannel = multichannel
        self.cache = cache
        self.n_jobs = n_jobs
        self.mat_key = mat_key

    # ------------------------------------------------------------------ input
    def _load(self, X, sample_rate, *, reset: bool):
        rate = self.sample_rate if sample_rate is None else sample_rate
        return check_echo_input(self, X, rate, reset=reset, mat_key=self.mat_key)

    # ------------------------------------------------------------------ model
    def _initial_encoder(self, seed: int):
        """The starting encoder (float32, CPU) and the fingerprint of its checkpoint."""
        import torch

        from .echo.checkpoint import (
            checkpoint_fingerprint,
            infer_config,
            read_state_dict,
            resolve_checkpoint,
        )
        from .echo.model import EchoConfig, EchoEncoder
        from .training.loop import StateMismatchError

        if self.model is None:
            d = 384 if self.embed_dim is None else int(self.embed_dim)
            heads = self._heads(d)
            config = EchoConfig(embed_dim=d, depth=12 if self.depth is None else int(self.depth),
                                num_heads=heads, ffn_dim=4 * d)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                encoder = EchoEncoder(config, dropout=self.dropout)
            return encoder, "random-init"
        path = resolve_checkpoint(self.model, self.revision)
        state = read_state_dict(path)
        config = infer_config(state)
        wrong = []
        if self.embed_dim is not None and self.embed_dim != config.embed_dim:
            wrong.append(f"'cls_token' has shape {tuple(state['cls_token'].shape)}, "
                         f"embed_dim={self.embed_dim} needs (1, 1, {self.embed_dim})")
        if self.depth is not None and self.depth != config.depth:
            wrong.append(f"'encoder.layers.{config.depth - 1}.*' is the last layer "
                         f"({config.depth} layers), depth={self.depth} was asked for")
        if wrong:
            raise StateMismatchError(
                f"the checkpoint {str(path)!r} does not have the requested shape: " + "; ".join(wrong)
            )
        self._heads(config.embed_dim)
        encoder = EchoEncoder(config, dropout=self.dropout)
        encoder.load_state_dict({k: state[k] for k in encoder.state_dict()}, strict=True)
        return encoder, checkpoint_fingerprint(path)

    def _heads(self, d: int) -> int:
        """ECHO's head count ``d / 64``; the only one a saved checkpoint can express."""
        if d % 64:
            raise ValueError(
                f"embed_dim={d} is not a multiple of 64: ECHO uses 64-dim attention heads "
                "and checkpoints do not store the head count"
            )
        implied = d // 64
        if self.num_heads is not None and self.num_heads != implied:
            raise ValueError(
                f"num_heads={self.num_heads} but ECHO checkpoints imply embed_dim / 64 = "
                f"{implied} heads (the head count is not stored), so the trained checkpoint "
                "would load with other heads: leave num_heads=None"
            )
        return implied

    # ------------------------------------------------------------------ training
    def _recipe(self, n_train: int, world: int):
        from .training.loop import Recipe
        from .training.optim import scaled_learning_rate

        steps, warmup = _steps_and_warmup(self, n_train, world)
        lr = self.learning_rate or scaled_learning_rate(self.batch_size * world)
        anneal = steps if self.ema_anneal_steps is None else int(self.ema_anneal_steps)
        return Recipe(
            max_steps=steps, learning_rate=float(lr), min_learning_rate=float(self.min_learning_rate),
            warmup_steps=warmup, weight_decay=float(self.weight_decay),
            ema_decay=float(self.ema_decay), ema_end_decay=float(self.ema_end_decay),
            ema_anneal_steps=anneal, cls_loss_weight=float(self.cls_loss_weight),
        )

    def _split(self, items, seed: int):
        fraction = self.validation_fraction
        if fraction is None and self.early_stopping:
            fraction = 0.1
        if fraction is None:
            return items, []
        positions = sorted({it.position for it in items})
        if len(positions) < 2:
            raise ValueError(
                "a validation loss needs at least 2 signals (one held back); "
                f"X has {len(positions)}"
            )
        n_val = min(len(positions) - 1, max(1, round(fraction * len(positions))))
        order = np.random.default_rng([seed, 3]).permutation(positions)
        held = set(order[:n_val].tolist())
        return [it for it in items if it.position not in held], [it for it in items if it.position in held]

    def _train(self, scanned):
        import torch
        from torch.utils.data import DataLoader

        from .device import torch_threads
        from .training.data import (
            ExampleSpec,
            PretrainingDataset,
            SignalSource,
            crop_frames_for,
            fixed_batches,
            training_items,
        )
        from .training.loop import Pretraining

        if self.min_bands > self.max_bands:
            raise ValueError(f"min_bands={self.min_bands} is larger than max_bands={self.max_bands}")
        directory, device, dist, seed = _start_run(self.checkpoint_dir, self.device, self.random_state)
        items = training_items(scanned.infos, "first" if self.multichannel == "first" else "all")
        train_items, val_items = self._split(items, seed)
        encoder, source_fingerprint = self._initial_encoder(seed)
        config = encoder.config
        spec = ExampleSpec(
            crop_frames=crop_frames_for(items, self.crop_seconds, config.patch_width,
                                        config.max_patches * config.patch_width),
            min_bands=int(self.min_bands), max_bands=int(self.max_bands),
            mask_ratio=float(self.mask_ratio), clone_batch=int(self.clone_batch),
            band_width=config.band_width, patch_width=config.patch_width,
        )
        recipe = self._recipe(len(train_items), dist.world_size)
        autocast = torch.bfloat16 if self.dtype == "bfloat16" else None
        with torch_threads(self.n_jobs):
            run = Pretraining(encoder, recipe, device, autocast, dist, seed)
            if directory is not None:
                run.load_state(directory)
            source = SignalSource(scanned)
            val_batches = (
                fixed_batches(source, val_items, spec, self.batch_size, seed) if val_items else []
            )
            self._run_loop(run, source, train_items, spec, seed, val_batches, directory,
                           DataLoader, PretrainingDataset)
        self.loss_curve_ = list(run.loss_curve)
        self.validation_loss_curve_ = list(run.validation_curve)
        self.n_steps_ = int(run.step_count)
        self.config_ = config.to_dict()
        self.encoder_weights_ = run.teacher_arrays()
        self.training_info_ = {
            "steps": self.n_steps_,
            "config": self.config_,
            "recipe": recipe.to_dict(),
            "crop_frames": spec.crop_frames,
            "mask_ratio": spec.mask_ratio,
            "clone_batch": spec.clone_batch,
            "world_size": dist.world_size,
            "batch_size": int(self.batch_size),
            "start": source_fingerprint,
            "data_fingerprint": _data_fingerprint(train_items),
            "seed": seed,
        }
        return dist

    def _run_loop(self, run, source, train_items, spec, seed, val_batches, directory,
                  DataLoader, PretrainingDataset):
        total = run.recipe.max_steps
        if run.step_count >= total:
            return
        dist = run.dist
        dataset = PretrainingDataset(source, train_items, spec, self.batch_size, seed,
                                     start_step=run.step_count, stop_step=total,
                                     rank=dist.rank, world_size=dist.world_size)
        loader = DataLoader(dataset, batch_size=None, num_workers=int(self.num_workers))
        from .training.loop import run_steps

        checkpoint = None if directory is None else (lambda: self._checkpoint(run, directory, seed))
        run_steps(run, loader, total=total, val_batches=val_batches,
                  validation_interval=int(self.validation_interval),
                  early_stopping=self.early_stopping, n_iter_no_change=int(self.n_iter_no_change),
                  tol=float(self.tol), checkpoint=checkpoint,
                  checkpoint_interval=int(self.checkpoint_interval), progress=self.progress,
                  desc="pretraining")

    def _checkpoint(self, run, directory, seed):
        """The training state (rank 0, atomic) and the teacher beside it, then every rank waits."""
        if run.save_state(directory, {"seed": seed}) is not None:
            from . import __version__
            from .training.export import save_encoder

            info = {"steps": run.step_count, "config": run.config.to_dict(), "seed": seed}
            save_encoder(run.teacher_arrays(), directory / ENCODER_FILE,
                         {"library": f"sklearn-echo {__version__}", "training": info})
        run.dist.barrier()

    # ------------------------------------------------------------------ model file
    def _metadata(self) -> dict:
        from . import __version__

        return {"library": f"sklearn-echo {__version__}", "training": self.training_info_}

    def save(self, path) -> Path:
        """Write the trained (teacher) encoder as a ``.safetensors`` checkpoint.

        The file holds exactly the published checkpoint's key names, so
        `EchoEmbedder`, `load_encoder` and the upstream ECHO code load it;
        its metadata holds the configuration, the steps and a fingerprint of
        the training data (``"training"``, JSON).

        Returns
        -------
        pathlib.Path
        """
        check_is_fitted(self, "encoder_weights_")
        from .training.export import save_encoder

        return save_encoder(self.encoder_weights_, path, self._metadata())

    def _write_model_file(self, dist) -> str:
        """Write the trained teacher where `transform` reads it; every rank gets the path.

        With ``checkpoint_dir``: ``checkpoint_dir/encoder.safetensors``, written by
        rank 0. Otherwise a file named by its SHA-256 in the temporary folder.
        """
        if self.checkpoint_dir is None:
            return self._temporary_file()
        target = Path(self.checkpoint_dir).expanduser() / ENCODER_FILE
        if dist.is_main:
            self.save(target)
        dist.barrier()
        return str(target)

    def _temporary_file(self) -> str:
        from .training.export import save_by_fingerprint

        folder = Path(tempfile.gettempdir()) / "sklearn_echo_pretrained"
        return str(save_by_fingerprint(self.encoder_weights_, folder, self._metadata()))

    def _model_file(self) -> str:
        """A file holding the trained encoder, with SHA-256 ``model_fingerprint_``.

        The file `fit` wrote when it is still there and unchanged; otherwise
        (an unpickled copy, a cleaned temporary folder, a checkpoint folder
        trained further since) the weights are written again from
        ``encoder_weights_``, which gives the same bytes.
        """
        from .echo.checkpoint import checkpoint_fingerprint

        wanted = self.model_fingerprint_
        folder = Path(tempfile.gettempdir()) / "sklearn_echo_pretrained"
        candidates = [folder / f"{wanted}.safetensors"]
        if self.checkpoint_dir is not None:
            candidates.insert(0, Path(self.checkpoint_dir).expanduser() / ENCODER_FILE)
        for path in candidates:
            if path.is_file() and checkpoint_fingerprint(path) == wanted:
                return str(path)
        path = self._temporary_file()
        if checkpoint_fingerprint(path) != wanted:
            raise ValueError(
                f"the trained encoder written again has SHA-256 {checkpoint_fingerprint(path)}, "
                f"not the fitted {wanted}: fit again"
            )
        return path

    def _embedder(self):
        model = self._model_file()
        emb = self.embedder_
        if str(emb.model) != model:
            emb.model = model  # resolved again at next use (the model changed)
        return emb

    # ------------------------------------------------------------------ sklearn API
    def _fit(self, X, sample_rate):
        from .echo.checkpoint import checkpoint_fingerprint
        from .embedder import EchoEmbedder

        for attr in ("n_features_in_", "feature_names_in_", "model_fingerprint_"):
            self.__dict__.pop(attr, None)
        scanned = self._load(X, sample_rate, reset=True)
        if not len(scanned):
            raise ValueError("EchoPretrainer.fit needs at least one signal; X is empty")
        dist = self._train(scanned)
        path = self._write_model_file(dist)
        self.model_fingerprint_ = checkpoint_fingerprint(path)
        self.embedder_ = EchoEmbedder(
            model=path, sample_rate=self.sample_rate, band_layout=self.band_layout,
            multichannel=self.multichannel, device=self.device,
            dtype=self.dtype, cache=self.cache, n_jobs=self.n_jobs,
            progress=self.progress, mat_key=self.mat_key,
        ).fit(scanned)
        self.n_features_out_ = self.embedder_.n_features_out_
        dist.close()
        return scanned

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_rate=None):
        """Pretrain on ``X`` (any input form `EchoEmbedder` takes).

        Parameters
        ----------
        X : list of signals, file paths, ``(signal, rate)`` pairs, DataFrame or 2-D array
        y : None
            Ignored.
        sample_rate : float or array-like of shape (n_signals,), default=None

        Returns
        -------
        self : EchoPretrainer
        """
        self._fit(X, sample_rate)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None, sample_rate=None):
        """Pretrain on ``X``, then embed it with the trained encoder (``X`` read and checked once).

        Returns
        -------
        ndarray of shape (n_signals, n_features_out_), float32
        """
        scanned = self._fit(X, sample_rate)
        return self._embedder().transform(scanned)

    def transform(self, X, sample_rate=None):
        """Embed signals with the trained encoder, exactly as `EchoEmbedder` would.

        Returns
        -------
        ndarray of shape (n_signals, n_features_out_), float32
        """
        check_is_fitted(self, "embedder_")
        scanned = self._load(X, sample_rate, reset=False)
        return self._embedder().transform(scanned)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features (those of `EchoEmbedder`)."""
        check_is_fitted(self, "embedder_")
        return self.embedder_.get_feature_names_out()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags


def _data_fingerprint(items) -> str:
    """SHA-256 of what identifies the training signals (names, rates, lengths, channels)."""
    described = [[it.source, it.sample_rate, it.n_samples, it.channel] for it in items]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()
