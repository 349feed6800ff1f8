"""The training loop of a DEGram network: AdamW on random crops, epochs, early stopping.

`train_network` holds out validation windows (`split_windows`), then for
each epoch draws as many random crops as the training audio holds
non-overlapping windows (`draw_crop_batches`), takes one AdamW step per
batch of one sampling rate, and, with validation, keeps the weights of the
epoch with the lowest validation loss and stops after ``n_iter_no_change``
epochs without improvement. `TrainingSettings` holds the recipe (the
corresponding parameters of `DEGramClassifier`), `TrainingHistory` what the
run measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight

from .inference import run_windows
from .windows import draw_crop_batches, read_crops, split_windows, window_length

__all__ = ["TrainingSettings", "TrainingHistory", "train_network"]


@dataclass(frozen=True)
class TrainingSettings:
    """The training recipe; every field is the `DEGramClassifier` parameter of that name.

    Attributes
    ----------
    window_duration : float, default=1.0
        Crop and validation-window length in seconds.
    speed_perturbation : float, default=0.0
        Largest relative speed change of a crop (0: none).
    max_epochs : int, default=40
    batch_size : int, default=32
    learning_rate : float, default=3e-3
    weight_decay : float, default=1e-2
        AdamW's.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Cosine decay to 0 over ``max_epochs``, or none.
    validation_fraction : float, default=0.0
        Fraction of each class's windows held out (0: no validation).
    n_iter_no_change : int or None, default=5
        Epochs without a validation improvement of ``tol`` before stopping.
    tol : float, default=1e-4
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss (``"balanced"`` counts training
        windows).
    verbose : int, default=0
        A progress bar over epochs when > 0.
    name : str, default="DEGramClassifier"
        Label of the progress bar.

    Examples
    --------
    >>> from sklearn_echo.degram.training import TrainingSettings
    >>> TrainingSettings(max_epochs=3).batch_size
    32
    """

    window_duration: float = 1.0
    speed_perturbation: float = 0.0
    max_epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-2
    lr_schedule: str = "cosine"
    validation_fraction: float = 0.0
    n_iter_no_change: int | None = 5
    tol: float = 1e-4
    class_weight: dict | str | None = None
    verbose: int = 0
    name: str = "DEGramClassifier"


@dataclass
class TrainingHistory:
    """What `train_network` measured (the fitted attributes of `DEGramClassifier`).

    Attributes
    ----------
    n_train_windows : int
        Non-overlapping training windows (crops drawn per epoch).
    loss_curve : list of float
        Mean training loss per epoch.
    validation_loss_curve : list of float
        Validation loss per epoch (empty without validation).
    validation_scores : list of float
        Validation accuracy per epoch (empty without validation).
    n_iter : int
        Epochs run.
    best_epoch : int
        Epoch (1-based) whose weights the network holds at the end.
    epoch_time : float
        Mean wall-clock seconds per epoch.
    """

    n_train_windows: int = 0
    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    n_iter: int = 0
    best_epoch: int = 0
    epoch_time: float = float("nan")


def _class_weighted_loss(weight):
    """Mean cross-entropy, each example's loss scaled by its class weight (sklearn's convention)."""
    cross_entropy = torch.nn.CrossEntropyLoss(reduction="none")

    def criterion(logits, target):
        # the mean over the batch stays finite when a batch holds one class only
        losses = cross_entropy(logits, target)
        return (losses * weight[target]).mean() if weight is not None else losses.mean()

    return criterion


def train_network(net, signals, y_enc, y, classes, settings, rng, device):
    """Train ``net`` in place on random crops of ``signals``; return the `TrainingHistory`.

    Parameters
    ----------
    net : DEGramNet
        The network, on ``device``; its trainable parameters are optimised
        and, with validation, the best epoch's weights are loaded back.
    signals : list of MonoSignal
        Training signals, each at least one window long.
    y_enc : ndarray of int
        Encoded class of each signal (indices into ``classes``).
    y : ndarray
        The labels themselves (``class_weight`` dicts are keyed by them).
    classes : ndarray
        The sorted class labels.
    settings : TrainingSettings
        The recipe.
    rng : numpy.random.RandomState
        Draws the validation split and the crops, in that order.
    device : torch.device
        Where the batches go.

    Returns
    -------
    TrainingHistory

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sklearn_echo.degram import DEGram, DEGramNet, SmallCNN
    >>> from sklearn_echo.degram.training import TrainingSettings, train_network
    >>> from sklearn_echo.degram.windows import MonoSignal
    >>> _ = torch.manual_seed(0)
    >>> rng = np.random.RandomState(0)
    >>> t = np.arange(4000) / 4000.0
    >>> signals = [MonoSignal(np.sin(2 * np.pi * f * t).astype(np.float32), 4000.0, f"X[{i}]")
    ...            for i, f in enumerate([300, 1200, 300, 1200])]
    >>> y = np.array(["low", "high", "low", "high"])
    >>> net = DEGramNet(DEGram(n_filters=8, f_max=2000.0), SmallCNN(n_classes=2))
    >>> history = train_network(net, signals, np.array([1, 0, 1, 0]), y, np.array(["high", "low"]),
    ...                         TrainingSettings(window_duration=0.5, max_epochs=2), rng,
    ...                         torch.device("cpu"))
    >>> history.n_iter, history.n_train_windows, len(history.loss_curve)
    (2, 8, 2)
    """
    s = settings
    history = TrainingHistory()
    val_windows, segments = split_windows(
        signals, y_enc, classes, s.window_duration, s.validation_fraction, rng
    )
    # non-overlapping training windows in each segment
    counts = [
        (stop - start) // window_length(s.window_duration, signals[i][1])
        for i, start, stop in segments
    ]
    history.n_train_windows = int(sum(counts))
    train_labels = [y[i] for (i, _, _), n in zip(segments, counts) for _ in range(n)]
    if s.class_weight is None:
        weight = None
    else:
        cw = compute_class_weight(s.class_weight, classes=classes, y=np.asarray(train_labels))
        weight = torch.tensor(cw, dtype=torch.float32, device=device)
    criterion = _class_weighted_loss(weight)

    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=s.weight_decay)
    scheduler = None
    if s.lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=s.max_epochs)

    val_x = read_crops(
        signals,
        [(i, k * window_length(s.window_duration, signals[i][1]), 1.0) for i, k in val_windows],
        s.window_duration,
    )
    val_r = [signals[i][1] for i, _ in val_windows]
    val_y = np.array([y_enc[i] for i, _ in val_windows])

    best_loss, best_state, best_epoch, stale = np.inf, None, 0, 0
    epoch_times = []
    epochs = range(1, s.max_epochs + 1)
    bar = None
    if s.verbose:
        from tqdm.auto import tqdm

        bar = tqdm(epochs, desc=s.name, unit="epoch")
        epochs = bar
    for epoch in epochs:
        t0 = time.perf_counter()
        net.train()
        total, count = 0.0, 0
        batches = draw_crop_batches(
            signals, segments, history.n_train_windows, s.window_duration,
            s.speed_perturbation, s.batch_size, rng,
        )
        for batch in batches:
            rate = signals[batch[0][0]][1]
            xb = torch.from_numpy(np.stack(read_crops(signals, batch, s.window_duration))).to(device)
            yb = torch.from_numpy(y_enc[[c[0] for c in batch]]).to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(net(xb, rate), yb)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        if scheduler is not None:
            scheduler.step()
        epoch_times.append(time.perf_counter() - t0)
        history.loss_curve.append(total / count)
        history.n_iter = epoch
        postfix = {"loss": f"{history.loss_curve[-1]:.4f}"}
        if val_windows:
            logits = run_windows(net, val_x, val_r, "logits", s.batch_size, device)
            logits_t = torch.from_numpy(logits).to(device)
            val_loss = float(criterion(logits_t, torch.from_numpy(val_y).to(device)))
            acc = float(np.mean(logits.argmax(1) == val_y))
            history.validation_loss_curve.append(val_loss)
            history.validation_scores.append(acc)
            postfix.update(val_loss=f"{val_loss:.4f}", val_acc=f"{acc:.3f}")
            if val_loss < best_loss - s.tol:
                best_loss, best_epoch, stale = val_loss, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                stale += 1
        if bar is not None:
            bar.set_postfix(postfix)
        if val_windows and s.n_iter_no_change is not None and stale >= s.n_iter_no_change:
            break
    if bar is not None:
        bar.close()
    if best_state is not None:
        net.load_state_dict(best_state)
        history.best_epoch = best_epoch
    else:
        history.best_epoch = history.n_iter
    history.epoch_time = float(np.mean(epoch_times))
    return history
