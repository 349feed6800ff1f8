"""EchoFineTuner: supervised fine-tuning of ECHO on auxiliary labels (ArcFace head, LoRA)."""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.exceptions import DataConversionWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .band_layout import LAYOUTS
from .echo.models import DEFAULT_MODEL
from .embedder import check_echo_input
from .pretrainer import _data_fingerprint, _start_run, _steps_and_warmup

__all__ = ["EchoFineTuner", "combine_labels"]

HEAD_SUFFIX = ".head.safetensors"
_LAST = re.compile(r"^last:(\d+)$")


def combine_labels(y) -> np.ndarray:
    """One class label per signal: 1-D ``y`` as it is, 2-D ``y`` (or a DataFrame) joined.

    A 1-D ``y`` of integers or of floats keeps its numbers (int64, float64);
    any other 1-D ``y`` becomes strings.

    The columns of a 2-D array or a DataFrame are joined with ``"/"`` (for
    example machine, section and attributes: ``"valve/00/pat_01"``).

    Raises
    ------
    ValueError
        On a missing value (None or NaN), naming the first row that has one,
        or on ``y`` with more than 2 dimensions.

    Examples
    --------
    >>> from sklearn_echo.finetuner import combine_labels
    >>> combine_labels([["valve", "pat_00"], ["valve", "pat_01"]]).tolist()
    ['valve/pat_00', 'valve/pat_01']
    """
    columns = None
    if hasattr(y, "columns") and hasattr(y, "to_numpy"):
        columns = [str(c) for c in y.columns]
        y = y.to_numpy(dtype=object)
    elif hasattr(y, "to_numpy"):
        y = y.to_numpy(dtype=object)
    arr = np.asarray(y, dtype=object)
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(
            f"y must be a 1-D sequence of labels or a 2-D table of label columns; got "
            f"{arr.ndim} dimensions"
        )
    rows = arr if arr.ndim == 2 else arr[:, None]
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v is None or (isinstance(v, (float, np.floating)) and np.isnan(v)):
                where = f"column {columns[j]!r} of " if columns else ""
                raise ValueError(
                    f"y has a missing label (NaN or None) in {where}row {i}: every signal needs a "
                    "label; drop the unlabelled signals or give them a class"
                )
    if arr.ndim == 1:
        if all(isinstance(v, (Integral, np.integer)) for v in arr):
            return arr.astype(np.int64)
        if all(isinstance(v, (float, np.floating)) for v in arr):
            return arr.astype(np.float64)  # classes stay numbers, as in scikit-learn
        return np.array([str(v) for v in arr], dtype=object)
    return np.array(["/".join(str(v) for v in row) for row in rows], dtype=object)


class EchoFineTuner(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Fine-tune ECHO on labels of normal recordings; then embed (and classify) with it.

    The recipe of the best DCASE anomalous-sound detectors: train the encoder
    on an auxiliary classification of the recordings you have (machine type,
    section, operating attributes such as speed, load or valve pattern, or
    fault classes) with an additive angular margin (ArcFace) head, then
    score anomalies by k-NN on the fine-tuned embeddings. Each training
    example is a random crop cut into all bands of its rate, as inference
    cuts them; the head sees the mean of the bands' CLS outputs (the
    *pooled* embedding). Training runs on the package's trainer
    (`sklearn_echo.training`): devices, bfloat16 autocast, ``torchrun``,
    checkpoints and resume, validation and early stopping, as in
    `EchoPretrainer`. See ``docs/finetuning.md``.

    Parameters
    ----------
    model : str or path-like, default="echo-small"
        Starting checkpoint (Hub id or alias, folder, ``.safetensors`` or ``.pth``).
    revision : str, default=None
    sample_rate : float, default=None
        Rate of items that carry none.
    trainable : str, default="lora"
        ``"all"`` (every encoder weight), ``"last:N"`` (the last N layers and
        the final norm), or ``"lora"`` (the encoder frozen; low-rank adapters
        of rank ``lora_rank`` on every layer's attention input and output
        projections and both feed-forward matrices, own implementation as
        weight parametrizations, see `sklearn_echo.training.lora`).
    lora_rank : int, default=8
    lora_alpha : float, default=16.0
        Adapter scaling ``alpha / rank``.
    arcface_scale : float, default=30.0
        ``s`` of the head's logits ``s * cos(theta)``.
    arcface_margin : float, default=0.2
        Additive angular margin ``m`` in radians.
    mixup : float, default=0.0
        Beta(mixup, mixup) mixing of two examples' spectrogram patches (of
        the same sampling rate) with their losses weighted the same; 0 is off.
    max_steps : int, default=300
    max_epochs : float, default=None
        Stop after this many passes over the training signals.
    batch_size : int, default=16
        Crops per step and process.
    learning_rate : float, default=None
        Peak learning rate of the encoder (or adapters): ``None`` is 1e-3 for
        ``"lora"``, 1e-4 otherwise.
    head_learning_rate : float, default=None
        Peak learning rate of the head: ``None`` is 10 x ``learning_rate``.
    min_learning_rate : float, default=0.0
    warmup_steps : int, default=None
        ``None``: 10% of the steps.
    weight_decay : float, default=0.05
    crop_seconds : float, default=None
        Training crop; ``None``: the shortest signal, at most 20 s.
    dropout : float, default=0.0
        Dropout of the encoder's training path.
    validation_fraction : float, default=None
        Fraction of every class's signals held back (stratified); the
        validation loss and accuracy are computed every ``validation_interval``
        steps. Every class then needs at least 2 signals.
    early_stopping : bool, default=False
        Stop when the validation loss has not improved by ``tol`` for
        ``n_iter_no_change`` evaluations (``validation_fraction`` 0.1 if unset).
    n_iter_no_change : int, default=5
    tol : float, default=1e-4
    validation_interval : int, default=50
    checkpoint_dir : path-like, default=None
        Folder of the training state (``state.pt``), written every
        ``checkpoint_interval`` steps; a later ``fit`` with it resumes.
    checkpoint_interval : int, default=100
    num_workers : int, default=0
    device : str, default="auto"
    dtype : {"float32", "bfloat16"}, default="float32"
    random_state : int, RandomState instance or None, default=None
    progress : bool, default=False
    output : {"bands", "pooled"}, default="bands"
        What `transform` returns: ``"bands"`` the band layout of
        ``band_layout`` exactly as `EchoEmbedder` gives it with the saved
        checkpoint; ``"pooled"`` the vector the head sees (mean of the
        bands, and of the channels unless ``multichannel="first"``), ``D`` wide.
    n_jobs : int, default=None
    band_layout, multichannel, cache, mat_key
        As in `EchoEmbedder`.

    Attributes
    ----------
    classes_ : ndarray
        Class labels (joined strings for a 2-D ``y``).
    loss_curve_, validation_loss_curve_, validation_accuracy_ : list of float
    n_steps_ : int
    n_trainable_ : int
        Trained parameters of the encoder (adapters only with ``"lora"``).
    encoder_weights_ : dict of str to ndarray
        The fine-tuned encoder (adapters merged; published key names).
    head_weights_ : ndarray of shape (n_classes, D)
    model_fingerprint_ : str
    embedder_ : EchoEmbedder
        Gives the band layouts (``output="bands"``).
    pooled_embedder_ : EchoEmbedder
        Gives the pooled vector (``band_layout="mean"``).
    n_features_out_ : int

    See Also
    --------
    sklearn_echo.EchoPretrainer : self-supervised pretraining (no labels).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo import EchoFineTuner
    >>> from sklearn_echo.echo.model import EchoConfig, EchoEncoder
    >>> from sklearn_echo.training.export import encoder_arrays, save_encoder
    >>> import tempfile, os
    >>> start = save_encoder(encoder_arrays(EchoEncoder(EchoConfig(64, 1, 1, 256))),
    ...                      os.path.join(tempfile.mkdtemp(), "start.safetensors"))
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal(16000) * s for s in (1, 1, 3, 3)]
    >>> ft = EchoFineTuner(model=start, trainable="lora", lora_rank=2, max_steps=2,
    ...                    batch_size=2, sample_rate=16000, random_state=0, device="cpu")
    >>> ft.fit(X, ["quiet", "quiet", "loud", "loud"]).transform(X).shape
    (4, 448)
    >>> ft.predict(X).shape, ft.classes_.tolist()
    ((4,), ['loud', 'quiet'])
    """

    _parameter_constraints: ClassVar[dict] = {
        "model": [str, os.PathLike],
        "revision": [str, None],
        "sample_rate": [Interval(Real, 0, None, closed="neither"), None],
        "trainable": [str],
        "lora_rank": [Interval(Integral, 1, None, closed="left")],
        "lora_alpha": [Interval(Real, 0, None, closed="neither")],
        "arcface_scale": [Interval(Real, 0, None, closed="neither")],
        "arcface_margin": [Interval(Real, 0, np.pi / 2, closed="left")],
        "mixup": [Interval(Real, 0, None, closed="left")],
        "max_steps": [Interval(Integral, 0, None, closed="left")],
        "max_epochs": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "head_learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "min_learning_rate": [Interval(Real, 0, None, closed="left")],
        "warmup_steps": [Interval(Integral, 0, None, closed="left"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "crop_seconds": [Interval(Real, 0, 20, closed="right"), None],
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
        "output": [StrOptions({"bands", "pooled"})],
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
        sample_rate=None,
        trainable="lora",
        lora_rank=8,
        lora_alpha=16.0,
        arcface_scale=30.0,
        arcface_margin=0.2,
        mixup=0.0,
        max_steps=300,
        max_epochs=None,
        batch_size=16,
        learning_rate=None,
        head_learning_rate=None,
        min_learning_rate=0.0,
        warmup_steps=None,
        weight_decay=0.05,
        crop_seconds=None,
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
        output="bands",
        band_layout="hz",
        multichannel="concatenate",
        cache=True,
        n_jobs=None,
        mat_key="DE_time",
    ):
        self.model = model
        self.revision = revision
        self.sample_rate = sample_rate
        self.trainable = trainable
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.arcface_scale = arcface_scale
        self.arcface_margin = arcface_margin
        self.mixup = mixup
        self.max_steps = max_steps
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.min_learning_rate = min_learning_rate
        self.warmup_steps = warmup_steps
        self.weight_decay = weight_decay
        self.crop_seconds = crop_seconds
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
        self.output = output
        self.band_layout = band_layout
        self.multichannel = multichannel
        self.cache = cache
        self.n_jobs = n_jobs
        self.mat_key = mat_key

    # ------------------------------------------------------------------ input
    def _load(self, X, sample_rate, *, reset: bool):
        rate = self.sample_rate if sample_rate is None else sample_rate
        return check_echo_input(self, X, rate, reset=reset, mat_key=self.mat_key)

    def _labels(self, y, n: int) -> np.ndarray:
        if y is None:
            raise ValueError(
                "EchoFineTuner.fit requires y to be passed, but the target y is None: give one "
                "label per signal of X"
            )
        y = _single_column(y)
        labels = combine_labels(y)
        try:
            values = np.asarray(y)
        except ValueError:  # rows of different lengths: not numbers
            values = np.asarray([], dtype=object)
        if values.dtype.kind == "f":
            rows = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
            if rows.size:
                raise ValueError(
                    f"y has an infinite label in row {rows[0]}: labels are classes (strings or "
                    "whole numbers)"
                )
            check_classification_targets(values)  # numbers that are not whole: "continuous"
        if len(labels) != n:
            raise ValueError(
                f"y has {len(labels)} labels but X has {n} signals: give exactly one label per signal"
            )
        classes, encoded = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"y has a single class ({classes[0]!r}): fine-tuning learns to tell classes apart "
                "and needs at least 2 (for anomaly detection label normal clips by machine, "
                "section or operating attributes)"
            )
        self.classes_ = classes
        return encoded

    def _split(self, items, encoded, seed: int):
        fraction = self.validation_fraction
        if fraction is None and self.early_stopping:
            fraction = 0.1
        if fraction is None:
            return items, []
        rng = np.random.default_rng([seed, 3])
        held = set()
        for c, name in enumerate(self.classes_):
            members = np.flatnonzero(encoded == c)
            if len(members) < 2:
                raise ValueError(
                    f"class {name!r} has {len(members)} signal: the stratified validation split "
                    f"(validation_fraction={fraction:g}) holds back at least one signal of every "
                    "class and trains on at least one, so every class needs at least 2 signals; "
                    "add signals, merge the class or set validation_fraction=None"
                )
            k = min(len(members) - 1, max(1, round(fraction * len(members))))
            held.update(rng.permutation(members)[:k].tolist())
        return ([it for it in items if it.position not in held],
                [it for it in items if it.position in held])

    # ------------------------------------------------------------------ model
    def _encoder(self, seed: int):
        from .echo.checkpoint import (
            checkpoint_fingerprint,
            infer_config,
            read_state_dict,
            resolve_checkpoint,
        )
        from .echo.model import EchoEncoder
        from .training.lora import add_lora

        path = resolve_checkpoint(self.model, self.revision)
        state = read_state_dict(path)
        config = infer_config(state)
        encoder = EchoEncoder(config, dropout=self.dropout)
        encoder.load_state_dict({k: state[k] for k in encoder.state_dict()}, strict=True)
        mode = str(self.trainable)
        last = _LAST.match(mode)
        if mode == "all":
            encoder.requires_grad_(True)
        elif last:
            n = int(last.group(1))
            if not 1 <= n <= config.depth:
                raise ValueError(
                    f"trainable={mode!r}: N must be between 1 and the encoder's {config.depth} layers"
                )
            encoder.requires_grad_(False)
            for layer in encoder.encoder.layers[config.depth - n :]:
                layer.requires_grad_(True)
            encoder.norm.requires_grad_(True)
        elif mode == "lora":
            add_lora(encoder, int(self.lora_rank), float(self.lora_alpha), seed)
        else:
            raise ValueError(
                f"trainable={mode!r} is not one of 'all', 'last:N' (N a number of layers) or 'lora'"
            )
        return encoder, checkpoint_fingerprint(path)

    def _recipe(self, n_train: int, world: int):
        from .training.supervised import FineTuneRecipe

        steps, warmup = _steps_and_warmup(self, n_train, world)
        lr = self.learning_rate or (1e-3 if self.trainable == "lora" else 1e-4)
        head_lr = self.head_learning_rate or 10 * lr
        return FineTuneRecipe(
            max_steps=steps, learning_rate=float(lr), head_learning_rate=float(head_lr),
            min_learning_rate=float(self.min_learning_rate), warmup_steps=warmup,
            weight_decay=float(self.weight_decay), mixup=float(self.mixup),
        )

    # ------------------------------------------------------------------ training
    def _train(self, scanned, encoded):
        import torch
        from torch.utils.data import DataLoader

        from .device import torch_threads
        from .training.data import SignalSource, crop_frames_for, training_items
        from .training.loop import run_steps
        from .training.supervised import (
            LabelledDataset,
            SupervisedTraining,
            fixed_labelled_batches,
        )

        directory, device, dist, seed = _start_run(self.checkpoint_dir, self.device, self.random_state)
        items = training_items(scanned.infos, "first" if self.multichannel == "first" else "all")
        train_items, val_items = self._split(items, encoded, seed)
        encoder, start = self._encoder(seed)
        config = encoder.config
        crop = crop_frames_for(items, self.crop_seconds, config.patch_width, config.chunk_frames)
        recipe = self._recipe(len(train_items), dist.world_size)
        autocast = torch.bfloat16 if self.dtype == "bfloat16" else None
        with torch_threads(self.n_jobs):
            run = SupervisedTraining(encoder, len(self.classes_), recipe, device, autocast, dist,
                                     seed, float(self.arcface_scale), float(self.arcface_margin))
            if directory is not None:
                run.load_state(directory)
            source = SignalSource(scanned)
            val = (fixed_labelled_batches(source, val_items, encoded, crop, self.batch_size,
                                          config.band_width, config.patch_width)
                   if val_items else [])
            dataset = LabelledDataset(source, train_items, encoded, crop, self.batch_size, seed,
                                      start_step=run.step_count, stop_step=recipe.max_steps,
                                      rank=dist.rank, world_size=dist.world_size,
                                      band_width=config.band_width, patch_width=config.patch_width)
            loader = DataLoader(dataset, batch_size=None, num_workers=int(self.num_workers))

            def checkpoint():
                run.save_state(directory, {"seed": seed})
                dist.barrier()

            run_steps(run, loader, total=recipe.max_steps, val_batches=val,
                      validation_interval=int(self.validation_interval),
                      early_stopping=bool(self.early_stopping),
                      n_iter_no_change=int(self.n_iter_no_change), tol=float(self.tol),
                      checkpoint=None if directory is None else checkpoint,
                      checkpoint_interval=int(self.checkpoint_interval),
                      progress=bool(self.progress), desc="fine-tuning")
        from .training.lora import merged_state_dict

        self.n_trainable_ = int(sum(p.numel() for p in run.encoder.parameters() if p.requires_grad))
        self.encoder_weights_ = {k: v.to("cpu", torch.float32).numpy()
                                 for k, v in merged_state_dict(run.encoder).items()}
        self.head_weights_ = run.head.weight.detach().to("cpu", torch.float32).numpy().copy()
        self.loss_curve_ = list(run.loss_curve)
        self.validation_loss_curve_ = list(run.validation_curve)
        self.validation_accuracy_ = list(run.validation_accuracy)
        self.n_steps_ = int(run.step_count)
        self.config_ = config.to_dict()
        self.training_info_ = {
            "steps": self.n_steps_, "config": self.config_, "recipe": recipe.to_dict(),
            "trainable": str(self.trainable), "lora_rank": int(self.lora_rank),
            "lora_alpha": float(self.lora_alpha), "arcface_scale": float(self.arcface_scale),
            "arcface_margin": float(self.arcface_margin), "crop_frames": crop,
            "classes": [str(c) for c in self.classes_], "world_size": dist.world_size,
            "batch_size": int(self.batch_size), "start": start,
            "data_fingerprint": _data_fingerprint(train_items), "seed": seed,
        }
        return dist

    # ------------------------------------------------------------------ files
    def _metadata(self) -> dict:
        from . import __version__

        return {"library": f"sklearn-echo {__version__}", "finetuning": self.training_info_}

    def save(self, path) -> Path:
        """Write the fine-tuned encoder (adapters merged) and, beside it, the head.

        ``path`` gets the encoder in the published checkpoint format (exactly
        its key names: `EchoEmbedder`, `load_encoder` and the upstream code
        load it); ``<path without .safetensors>.head.safetensors`` gets the
        head's class weights (``"weight"``, (n_classes, D)) with the class
        names and the scale and margin in its metadata.

        Returns
        -------
        pathlib.Path
            The encoder file.
        """
        check_is_fitted(self, "encoder_weights_")
        from .training.export import save_encoder

        path = Path(path)
        out = save_encoder(self.encoder_weights_, path, self._metadata())
        save_encoder({"weight": self.head_weights_}, head_path(path), {
            "classes": [str(c) for c in self.classes_],
            "arcface_scale": float(self.arcface_scale),
            "arcface_margin": float(self.arcface_margin),
        })
        return out

    def _model_file(self) -> str:
        """A file holding the fine-tuned encoder with SHA-256 ``model_fingerprint_``."""
        from .echo.checkpoint import checkpoint_fingerprint
        from .training.export import save_by_fingerprint

        folder = Path(tempfile.gettempdir()) / "sklearn_echo_finetuned"
        final = folder / f"{getattr(self, 'model_fingerprint_', 'new')}.safetensors"
        if final.is_file() and checkpoint_fingerprint(final) == getattr(self, "model_fingerprint_", None):
            return str(final)
        return str(save_by_fingerprint(self.encoder_weights_, folder, self._metadata()))

    def _embedders(self):
        model = self._model_file()
        for emb in (self.embedder_, self.pooled_embedder_):
            if str(emb.model) != model:
                emb.model = model  # resolved again at next use (the model changed)
        return self.embedder_, self.pooled_embedder_

    # ------------------------------------------------------------------ sklearn API
    def _fit(self, X, y, sample_rate):
        from .echo.checkpoint import checkpoint_fingerprint
        from .embedder import EchoEmbedder

        for attr in ("n_features_in_", "feature_names_in_", "model_fingerprint_"):
            self.__dict__.pop(attr, None)
        scanned = self._load(X, sample_rate, reset=True)
        if not len(scanned):
            raise ValueError("EchoFineTuner.fit needs at least two signals; X is empty")
        if len(scanned) < 2:
            raise ValueError(
                "EchoFineTuner.fit needs signals of at least 2 classes, so at least 2 signals; "
                "X has 1 signal (n_samples=1)"
            )
        encoded = self._labels(y, len(scanned))
        dist = self._train(scanned, encoded)
        path = self._model_file()
        self.model_fingerprint_ = checkpoint_fingerprint(path)
        common = {"model": path, "sample_rate": self.sample_rate, "device": self.device,
                      "dtype": self.dtype, "cache": self.cache, "n_jobs": self.n_jobs,
                      "progress": self.progress, "mat_key": self.mat_key}
        self.embedder_ = EchoEmbedder(band_layout=self.band_layout,
                                      multichannel=self.multichannel, **common).fit(scanned)
        pooled_channels = "first" if self.multichannel == "first" else "mean"
        self.pooled_embedder_ = EchoEmbedder(band_layout="mean", multichannel=pooled_channels,
                                             **common).fit(scanned)
        self.n_features_out_ = (self.embedder_.n_features_out_ if self.output == "bands"
                                else self.pooled_embedder_.n_features_out_)
        dist.close()
        return scanned

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_rate=None):
        """Fine-tune on signals ``X`` with auxiliary labels ``y``.

        Parameters
        ----------
        X : list of signals, file paths, ``(signal, rate)`` pairs, DataFrame or 2-D array
        y : array-like of shape (n_signals,) or (n_signals, n_columns), or DataFrame
            Class of every signal (strings or integers); the columns of a
            2-D ``y`` are joined into one class (``"/"``), e.g. machine,
            section and attributes.
        sample_rate : float or array-like of shape (n_signals,), default=None

        Returns
        -------
        self : EchoFineTuner
        """
        self._fit(X, y, sample_rate)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None, sample_rate=None):
        """Fine-tune on ``X`` and ``y``, then embed ``X`` (read and checked once)."""
        scanned = self._fit(X, y, sample_rate)
        return self._transform(scanned)

    def _transform(self, scanned):
        bands, pooled = self._embedders()
        return (bands if self.output == "bands" else pooled).transform(scanned)

    def transform(self, X, sample_rate=None):
        """Fine-tuned embeddings: the band layout (``output="bands"``) or the pooled vector.

        Returns
        -------
        ndarray of shape (n_signals, n_features_out_), float32
        """
        check_is_fitted(self, "embedder_")
        return self._transform(self._load(X, sample_rate, reset=False))

    def _cosines(self, X, sample_rate):
        check_is_fitted(self, "embedder_")
        _, pooled = self._embedders()
        z = pooled.transform(self._load(X, sample_rate, reset=False)).astype(np.float64)
        z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
        w = self.head_weights_.astype(np.float64)
        w /= np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 1e-12)
        return z @ w.T

    def decision_function(self, X, sample_rate=None):
        """The head's logits ``arcface_scale * cos(theta_j)`` (no margin).

        Returns
        -------
        ndarray of shape (n_signals, n_classes), or (n_signals,) with 2 classes
            With 2 classes, as scikit-learn's binary classifiers: the second
            class's logit minus the first's (positive: ``classes_[1]``).
        """
        logits = self.arcface_scale * self._cosines(X, sample_rate)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict_proba(self, X, sample_rate=None):
        """Softmax of the head's logits ``arcface_scale * cos(theta_j)``, (n_signals, n_classes)."""
        logits = self.arcface_scale * self._cosines(X, sample_rate)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X, sample_rate=None):
        """The class whose weight is closest in angle to the pooled embedding."""
        check_is_fitted(self, "embedder_")
        return self.classes_[np.argmax(self._cosines(X, sample_rate), axis=1)]

    def get_feature_names_out(self, input_features=None):
        """Names of the output features (those of the embedder `transform` uses)."""
        check_is_fitted(self, "embedder_")
        emb = self.embedder_ if self.output == "bands" else self.pooled_embedder_
        return emb.get_feature_names_out()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags


def _single_column(y):
    """A 2-D ``y`` of one column as 1-D (its labels keep their type), with scikit-learn's warning."""
    shape = getattr(y, "shape", None)
    if shape is None:
        try:
            shape = np.shape(np.asarray(y, dtype=object))
        except ValueError:
            return y
    if len(shape) != 2 or shape[1] != 1:
        return y
    warnings.warn(
        "A column-vector y was passed when a 1d array was expected: its single column is taken "
        "as the labels (the columns of a wider y are joined into one class); pass y as a 1-D "
        "array to avoid this warning",
        DataConversionWarning,
        stacklevel=4,
    )
    return y.iloc[:, 0] if hasattr(y, "iloc") else np.asarray(y)[:, 0]


def head_path(path) -> Path:
    """Where `EchoFineTuner.save` writes the head beside the encoder ``path``."""
    path = Path(path)
    stem = path.name.removesuffix(".safetensors")
    return path.with_name(stem + HEAD_SUFFIX)
