"""DEGramClassifier: a DEGram network trained end to end on raw signals, as a scikit-learn estimator.

This module holds the estimator: its parameters, input checks and the
fit/predict plumbing. The windowing and the validation split are in
`sklearn_echo.degram.windows`, the training loop in
`sklearn_echo.degram.training`, the batched inference in
`sklearn_echo.degram.inference`.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_array, check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..device import resolve_device, torch_threads
from ..signals import check_signal_input
from .attention import STRATEGIES
from .backbones import BACKBONES, make_backbone
from .frontend import DEGram, DEGramNet
from .inference import signal_means
from .sincgram import Filterbank, mel_filter_params
from .training import TrainingSettings, train_network
from .windows import MonoSignal, _fmt, check_window_fits, pad_short_signals

__all__ = ["DEGramClassifier"]


class DEGramClassifier(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Learnable time-frequency front end (SincGram + TF-DE attention) and CNN, trained end to end.

    The network reads raw signals at their own sampling rates: a power STFT
    (32 ms Hann window, 10 ms hop, ``n_fft`` the next power of two) at the
    signal's rate; a bank of learnable Butterworth band-pass filters defined
    in Hz (the SincGram, mel-initialised between ``f_min`` and ``f_max``)
    evaluated on that rate's bin frequencies; the TF-DE time-frequency
    attention; log compression; standardisation; a CNN backbone. It is
    trained with AdamW on random ``window_duration`` crops of the training
    signals. At prediction time every signal is cut into non-overlapping
    windows of the same duration (plus one window aligned to its end when the
    length is not a multiple) and the windows' class probabilities are
    averaged. A model trained at one rate predicts at any other without
    resampling (see *Sampling rates* below).

    Parameters
    ----------
    backbone : {"small_cnn", "resnet18"}, default="small_cnn"
        ``"small_cnn"``: four conv-BN-ReLU stages (about 100 k parameters,
        128-dimensional embedding), suited to a CPU. ``"resnet18"``: the
        1-channel ResNet-18 of the DEGramNet release (11 M parameters,
        512-dimensional embedding).
    n_filters : int, default=64
        Number of SincGram filters (rows of the time-frequency map).
    sincgram : bool, default=True
        Learnable SincGram filterbank. False feeds the (log-compressed) power
        STFT bins of the reference rate instead (ablation).
    attention : bool, default=True
        TF-DE attention. At least one of ``sincgram`` and ``attention`` must
        be True.
    train_filterbank : bool, default=True
        False freezes the filters at their mel initialisation (a fixed
        mel-like front end).
    attention_strategy : {"maxout", "add", "multiply", "concat"}, default="maxout"
        How the TF-DE frequency and time branches are combined.
    reduction_ratio : float, default=1/16
        Bottleneck ratio of the TF-DE frequency branch.
    normalization : {"global", "frequency"} or None, default="global"
        Standardisation of the log map of each example: over all rows and
        frames together (keeps the spectral envelope; the release's
        ``freq_norm=False``), or per frequency row over time (the paper's
        default, which removes each band's level and keeps only its changes
        over time), or none. ``"global"`` was chosen by measurement: on CWRU
        it is far more accurate (see the DEGram guide).
    order : int, default=4
        Butterworth order of the filters.
    f_min : float, default=0.0
        Lowest edge of the mel initialisation in Hz.
    f_max : float or None, default=None
        Highest edge of the mel initialisation in Hz; None uses the Nyquist
        frequency of the reference rate (the lowest training rate).
    window_duration : float, default=1.0
        Length in seconds of training crops and prediction windows.
    speed_perturbation : float, default=0.0
        Training augmentation: each crop is read at a random speed factor in
        ``[1 - s, 1 + s]`` (linear interpolation), which shifts all its
        frequencies by that factor. 0 disables it.
    sample_rate : float or None, default=None
        Sampling rate in Hz of inputs that carry none (arrays, ``.mat``,
        ``.npy``, ``.csv``), when ``fit``/``predict`` get no ``sample_rate``.
    multichannel : {"mean", "first"}, default="mean"
        How a multichannel signal is reduced to the one channel the model
        reads: the channel average or the first channel.
    short_signals : {"error", "pad"}, default="error"
        Signals shorter than ``window_duration``: raise a ``ValueError``
        naming them, or zero-pad them at the end to one window.
    mat_key : str or None, default="DE_time"
        Variable read from ``.mat`` files (passed to
        `sklearn_echo.signals.load_signals`).
    max_epochs : int, default=40
        Maximum number of epochs. One epoch draws as many random crops as the
        training part of the signals holds non-overlapping windows.
    batch_size : int, default=32
        Crops per optimisation step (and windows per inference batch).
    learning_rate : float, default=3e-3
        AdamW learning rate (initial value with ``lr_schedule="cosine"``).
    weight_decay : float, default=1e-2
        AdamW weight decay.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Cosine decay of the learning rate to 0 over ``max_epochs``, or none.
    validation_fraction : float, default=0.0
        Fraction of each class's non-overlapping windows held out to monitor
        the validation loss (at least one window per class; training crops
        never overlap them); the weights of the epoch with the lowest
        validation loss are kept. 0 (the default: small data sets of a few
        recordings per class need every window) disables validation and
        keeps the last epoch's weights.
    n_iter_no_change : int or None, default=5
        With validation, stop when the validation loss has not improved by
        ``tol`` for this many epochs. None trains ``max_epochs`` epochs.
    tol : float, default=1e-4
        Minimum validation loss improvement.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss; ``"balanced"`` uses the number of
        training windows per class.
    random_state : int, RandomState instance or None, default=None
        Seeds the validation split, the crops and the network's
        initialisation and dropout. With an int, fitting twice on the same
        CPU and thread count gives identical weights and predictions.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``.
    n_jobs : int or None, default=None
        Torch intra-op threads while fitting and predicting, counted as
        scikit-learn counts ``n_jobs`` (`sklearn_echo.device.effective_n_jobs`):
        None means 1 unless a ``joblib.parallel_config(n_jobs=...)`` context
        says otherwise, -1 means all cores, -2 all but one. Torch's
        process-wide setting is restored afterwards
        (`sklearn_echo.device.torch_threads`). One thread is the default
        because the small CNN's layers are too small to gain much from more,
        and estimators run side by side (for example in
        ``GridSearchCV(n_jobs=2)``) must not fight over the cores.
    verbose : int, default=0
        Show a progress bar over epochs with the losses when > 0.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Only when fitted on a dense 2-D array (one signal per row): its row
        length. Dense arrays passed later must have rows of that length, as
        for ``EchoEmbedder``; lists of signals may have any lengths.
    sample_rate_ : float
        Reference rate: the lowest sampling rate seen in ``fit``.
    f_max_ : float
        Upper edge of the mel initialisation actually used.
    filterbank_ : Filterbank or None
        The learned filters (centres and half-widths in Hz); None when
        ``sincgram=False``.
    initial_filterbank_ : Filterbank or None
        The mel initialisation the filters started from.
    state_dict_ : dict of str to ndarray
        The network's weights (NumPy arrays; the torch network is rebuilt
        from them on first use and is not pickled).
    n_iter_ : int
        Epochs run.
    best_epoch_ : int
        Epoch (1-based) whose weights were kept.
    loss_curve_ : list of float
        Mean training loss per epoch.
    validation_loss_curve_ : list of float
        Validation loss per epoch (empty without validation).
    validation_scores_ : list of float
        Validation accuracy over held-out windows per epoch.
    n_train_windows_ : int
        Non-overlapping training windows (crops drawn per epoch).
    epoch_time_ : float
        Mean wall-clock seconds per training epoch.

    See Also
    --------
    sklearn_echo.degram.DEGram : the front end as a torch module.
    sklearn_echo.degram.plot_filterbank : draw ``filterbank_`` against its
        mel initialisation.

    Notes
    -----
    *Sampling rates.* The filters are defined in Hz and evaluated on the STFT
    bins of each input's own rate, so a model fitted at 12 kHz predicts on
    48 kHz recordings without resampling: the filters cover the band learned
    at 12 kHz and content above it is ignored. At a rate whose Nyquist lies
    below a filter's lower -3 dB edge, that filter's row is set to zero (no
    information) rather than amplified noise. With ``sincgram=False`` the rows
    are the STFT bins of ``sample_rate_``; another rate's spectrum is
    linearly interpolated onto them.

    *Multichannel input* is reduced to one channel (``multichannel``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.degram import DEGramClassifier
    >>> rng = np.random.RandomState(0)
    >>> t = np.arange(8000) / 4000.0
    >>> X = [np.sin(2 * np.pi * (400 if k % 2 else 1200) * t) + 0.3 * rng.randn(8000)
    ...      for k in range(8)]
    >>> y = ["low" if k % 2 else "high" for k in range(8)]
    >>> clf = DEGramClassifier(n_filters=16, window_duration=0.5, max_epochs=10,
    ...                        random_state=0)
    >>> clf.fit(X, y, sample_rate=4000).predict(X[:2], sample_rate=4000).tolist()
    ['high', 'low']
    >>> clf.transform(X[:2], sample_rate=4000).shape
    (2, 128)
    >>> clf.filterbank_.centers_hz.shape
    (16,)
    """

    _parameter_constraints: dict = {
        "backbone": [StrOptions(set(BACKBONES))],
        "n_filters": [Interval(numbers.Integral, 1, None, closed="left")],
        "sincgram": ["boolean"],
        "attention": ["boolean"],
        "train_filterbank": ["boolean"],
        "attention_strategy": [StrOptions(set(STRATEGIES))],
        "reduction_ratio": [Interval(numbers.Real, 0, 1, closed="right")],
        "order": [Interval(numbers.Integral, 1, None, closed="left")],
        "f_min": [Interval(numbers.Real, 0, None, closed="left")],
        "f_max": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "window_duration": [Interval(numbers.Real, 0, None, closed="neither")],
        "sample_rate": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "multichannel": [StrOptions({"mean", "first"})],
        "short_signals": [StrOptions({"error", "pad"})],
        "mat_key": [str, None],
        "speed_perturbation": [Interval(numbers.Real, 0, 0.5, closed="left")],
        "normalization": [StrOptions({"frequency", "global"}), None],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "n_jobs": [numbers.Integral, None],
        "verbose": ["verbose"],
    }

    # The plain log-STFT baseline (both switches off) is refused, as in the
    # published model; a subclass may allow it for ablations.
    _allow_plain_frontend = False

    def __init__(
        self,
        *,
        backbone="small_cnn",
        n_filters=64,
        sincgram=True,
        attention=True,
        train_filterbank=True,
        attention_strategy="maxout",
        reduction_ratio=1 / 16,
        normalization="global",
        order=4,
        f_min=0.0,
        f_max=None,
        window_duration=1.0,
        speed_perturbation=0.0,
        sample_rate=None,
        multichannel="mean",
        short_signals="error",
        mat_key="DE_time",
        max_epochs=40,
        batch_size=32,
        learning_rate=3e-3,
        weight_decay=1e-2,
        lr_schedule="cosine",
        validation_fraction=0.0,
        n_iter_no_change=5,
        tol=1e-4,
        class_weight=None,
        random_state=None,
        device="auto",
        n_jobs=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.n_filters = n_filters
        self.sincgram = sincgram
        self.attention = attention
        self.train_filterbank = train_filterbank
        self.attention_strategy = attention_strategy
        self.reduction_ratio = reduction_ratio
        self.normalization = normalization
        self.order = order
        self.f_min = f_min
        self.f_max = f_max
        self.window_duration = window_duration
        self.speed_perturbation = speed_perturbation
        self.sample_rate = sample_rate
        self.multichannel = multichannel
        self.short_signals = short_signals
        self.mat_key = mat_key
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.random_state = random_state
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------ sklearn plumbing
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.classifier_tags.multi_label = False
        tags.target_tags.required = True
        tags.non_deterministic = self.random_state is None
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_net", None)
        return state

    @property
    def _n_features_out(self):
        return self.embedding_dim_

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding columns: ``degramclassifier0``, ``degramclassifier1``, ...

        Parameters
        ----------
        input_features : ignored
            Present for API consistency.

        Returns
        -------
        ndarray of str objects, shape (embedding_dim_,)
        """
        check_is_fitted(self, "state_dict_")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.embedding_dim_)], dtype=object)

    # ------------------------------------------------------------------ input handling
    def _load(self, X, sample_rate, *, fitting, y=None):
        """Validate ``X`` (and ``y``); return one mono float32 `MonoSignal` per item, and ``y``."""
        rate = self.sample_rate if sample_rate is None else sample_rate
        # a dense block (equal-length signals as rows) goes through sklearn's
        # validate_data: n_features_in_ is recorded in fit and checked later
        scanned = check_signal_input(
            self, X, rate, reset=fitting, mat_key=self.mat_key, dtype=np.float32
        )
        out = []
        for block in scanned.blocks(None):
            for s in block:
                data = s.data
                mono = data[0] if self.multichannel == "first" or data.shape[0] == 1 else data.mean(0)
                out.append(
                    MonoSignal(np.ascontiguousarray(mono, dtype=np.float32), float(s.sample_rate), s.source)
                )
        if y is not None:
            y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
            y = column_or_1d(y, warn=True)
            if len(y) != len(out):
                raise ValueError(
                    f"X has {len(out)} signals but y has {len(y)} labels; they must match"
                )
        return out, y

    # ------------------------------------------------------------------ network
    def _build_net(self, n_classes):
        frontend = DEGram(
            sincgram=self.sincgram,
            attention=self.attention,
            n_filters=self.n_filters,
            order=self.order,
            f_min=self.f_min,
            f_max=self.f_max_,
            train_filterbank=self.train_filterbank,
            reference_rate=self.sample_rate_,
            reduction_ratio=self.reduction_ratio,
            strategy=self.attention_strategy,
            normalization=self.normalization,
        )
        backbone = make_backbone(self.backbone, frontend.out_channels, n_classes)
        return DEGramNet(frontend, backbone)

    def _get_net(self):
        """The torch network, rebuilt from ``state_dict_`` on first use (eval mode)."""
        check_is_fitted(self, "state_dict_")
        device = resolve_device(self.device)
        net = getattr(self, "_net", None)
        if net is None or next(net.parameters()).device != device:
            net = self._build_net(len(self.classes_))
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in self.state_dict_.items()})
            net.to(device)
            self._net = net
        net.eval()
        return net

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_rate=None):
        """Train the network on the signals ``X`` with labels ``y``.

        Parameters
        ----------
        X : list of array-like, file paths, (signal, rate) pairs, DataFrame or ndarray
            Signals of any lengths and rates (see
            `sklearn_echo.signals.load_signals`); a dense 2-D array is
            one mono signal per row.
        y : array-like of shape (n_signals,)
            Class labels, one per signal.
        sample_rate : float or array-like of shape (n_signals,), default=None
            Rate(s) in Hz of items that carry none; overrides the
            ``sample_rate`` parameter.

        Returns
        -------
        self : DEGramClassifier
            The fitted classifier.
        """
        if not (self.sincgram or self.attention or self._allow_plain_frontend):
            raise ValueError(
                "sincgram=False and attention=False leave no DEGram front end; at least "
                "one of sincgram and attention must be True"
            )
        for attr in ("n_features_in_", "feature_names_in_"):  # set again only by dense input
            self.__dict__.pop(attr, None)
        signals, y = self._load(X, sample_rate, fitting=True, y=y)
        check_classification_targets(y)
        encoder = LabelEncoder()
        y_enc = encoder.fit_transform(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has 1 class ({self.classes_.tolist()[0]!r}); DEGramClassifier needs at least 2 classes"
            )

        self.sample_rate_ = min(r for _, r, _ in signals)
        self.f_max_ = float(self.sample_rate_ / 2.0 if self.f_max is None else self.f_max)
        if not self.f_min < self.f_max_:
            raise ValueError(
                f"f_min={_fmt(self.f_min)} Hz must be below f_max={_fmt(self.f_max_)} Hz"
                + (" (the Nyquist frequency of the lowest training rate)" if self.f_max is None else "")
            )
        signals = pad_short_signals(signals, self.window_duration, self.short_signals)

        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        fork_devices = [device.index or 0] if device.type == "cuda" else []
        with torch_threads(self.n_jobs), torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            self._net = None
            net = self._build_net(len(self.classes_)).to(device)
            check_window_fits(signals, self.window_duration, net.frontend.min_samples)
            self._fit_net(net, signals, y_enc, y, rng, device)
        self.state_dict_ = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        net.eval()
        self._net = net
        self.embedding_dim_ = int(net.backbone.embedding_dim)
        if self.sincgram:
            self.filterbank_ = net.frontend.filterbank.to_filterbank()
            c, b = mel_filter_params(self.n_filters, self.f_min, self.f_max_)
            self.initial_filterbank_ = Filterbank(c, b, self.order)
        else:
            self.filterbank_ = None
            self.initial_filterbank_ = None
        return self

    def _fit_net(self, net, signals, y_enc, y, rng, device):
        """Train ``net`` with `train_network` and record what the run measured."""
        settings = TrainingSettings(
            window_duration=self.window_duration,
            speed_perturbation=self.speed_perturbation,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            lr_schedule=self.lr_schedule,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            class_weight=self.class_weight,
            verbose=self.verbose,
            name=type(self).__name__,
        )
        history = train_network(net, signals, y_enc, y, self.classes_, settings, rng, device)
        self.n_train_windows_ = history.n_train_windows
        self.loss_curve_ = history.loss_curve
        self.validation_loss_curve_ = history.validation_loss_curve
        self.validation_scores_ = history.validation_scores
        self.n_iter_ = history.n_iter
        self.best_epoch_ = history.best_epoch
        self.epoch_time_ = history.epoch_time

    # ------------------------------------------------------------------ inference
    def _per_signal(self, X, sample_rate, output):
        """Mean of ``output`` ("proba" or "embedding") over each signal's prediction windows."""
        check_is_fitted(self, "state_dict_")
        signals, _ = self._load(X, sample_rate, fitting=False)
        signals = pad_short_signals(signals, self.window_duration, self.short_signals)
        with torch_threads(self.n_jobs):
            net = self._get_net()
            check_window_fits(signals, self.window_duration, net.frontend.min_samples)
            return signal_means(net, signals, self.window_duration, output, self.batch_size)

    def predict_proba(self, X, sample_rate=None):
        """Class probabilities: the mean over each signal's windows.

        Parameters
        ----------
        X : signals, file paths, pairs, DataFrame or ndarray
            As in `fit`.
        sample_rate : float or array-like of shape (n_signals,), default=None
            Rate(s) of items that carry none.

        Returns
        -------
        ndarray of shape (n_signals, n_classes)
            Columns follow ``classes_``.
        """
        return self._per_signal(X, sample_rate, "proba")

    def predict_log_proba(self, X, sample_rate=None):
        """Logarithm of `predict_proba`.

        Parameters
        ----------
        X, sample_rate
            As in `predict_proba`.

        Returns
        -------
        ndarray of shape (n_signals, n_classes)
            ``-inf`` where a probability is 0.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X, sample_rate=sample_rate))

    def predict(self, X, sample_rate=None):
        """Most probable class of each signal (windows' probabilities averaged).

        Parameters
        ----------
        X : signals, file paths, pairs, DataFrame or ndarray
            As in `fit`.
        sample_rate : float or array-like of shape (n_signals,), default=None
            Rate(s) of items that carry none.

        Returns
        -------
        ndarray of shape (n_signals,)
        """
        proba = self.predict_proba(X, sample_rate=sample_rate)
        return self.classes_[np.argmax(proba, axis=1)]

    def transform(self, X, sample_rate=None):
        """Penultimate embedding of each signal (mean over its windows).

        Parameters
        ----------
        X : signals, file paths, pairs, DataFrame or ndarray
            As in `fit`.
        sample_rate : float or array-like of shape (n_signals,), default=None
            Rate(s) of items that carry none.

        Returns
        -------
        ndarray of shape (n_signals, embedding_dim_), float32
        """
        return self._per_signal(X, sample_rate, "embedding").astype(np.float32)

    def fit_transform(self, X, y, sample_rate=None):
        """Fit, then return the embedding of the training signals.

        Parameters
        ----------
        X, y, sample_rate
            As in `fit`.

        Returns
        -------
        ndarray of shape (n_signals, embedding_dim_)
        """
        return self.fit(X, y, sample_rate=sample_rate).transform(X, sample_rate=sample_rate)

    def score(self, X, y, sample_rate=None, sample_weight=None):
        """Mean accuracy of `predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : signals, file paths, pairs, DataFrame or ndarray
            As in `fit`.
        y : array-like of shape (n_signals,)
            True labels.
        sample_rate : float or array-like of shape (n_signals,), default=None
            Rate(s) of items that carry none.
        sample_weight : array-like of shape (n_signals,), default=None
            Weights of the signals.

        Returns
        -------
        float
        """
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, self.predict(X, sample_rate=sample_rate), sample_weight=sample_weight)

    def filterbank_response(self, freqs_hz, initial=False):
        """Responses of the learned (or initial mel) filters on any frequency grid.

        Parameters
        ----------
        freqs_hz : array-like of shape (n_freqs,)
            Frequencies in Hz.
        initial : bool, default=False
            Evaluate the mel initialisation instead of the learned filters.

        Returns
        -------
        ndarray of shape (n_freqs, n_filters)
        """
        check_is_fitted(self, "state_dict_")
        bank = self.initial_filterbank_ if initial else self.filterbank_
        if bank is None:
            raise ValueError("this classifier was fitted with sincgram=False and has no filterbank")
        return bank.response(freqs_hz)

