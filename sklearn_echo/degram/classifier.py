"""DEGramClassifier: a DEGram network trained end to end on raw signals, as a scikit-learn estimator."""

from __future__ import annotations

import contextlib
import hashlib
import math
import numbers
import time

import numpy as np
import scipy.sparse as sp
import torch
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_array, check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..device import resolve_device
from ..signals import SignalError, is_dense_block, load_signals
from .attention import STRATEGIES
from .backbones import BACKBONES, make_backbone
from .frontend import DEGram, DEGramNet
from .sincgram import Filterbank, mel_filter_params

__all__ = ["DEGramClassifier"]


@contextlib.contextmanager
def _torch_threads(n_jobs):
    """Use ``joblib.effective_n_jobs(n_jobs)`` torch threads in a block, then restore.

    As everywhere in scikit-learn, ``None`` means 1 (unless a joblib
    ``parallel_backend`` context says otherwise) and -1 all cores, so that
    estimators run side by side under joblib do not oversubscribe the CPU.
    """
    n = max(1, int(effective_n_jobs(n_jobs)))
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _fmt(x):
    return f"{float(x):g}"


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
        Torch intra-op threads while fitting and predicting (torch's setting
        is restored afterwards). As in scikit-learn, None means 1 unless in a
        ``joblib.parallel_backend`` context, and -1 means all cores. One
        thread is the default because the small CNN's layers are too small
        to gain much from more, and estimators run side by side (for example
        in ``GridSearchCV(n_jobs=2)``) must not fight over the cores.
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
        """Validate ``X`` (and ``y``) and return mono float32 signals, their rates and names."""
        rate = self.sample_rate if sample_rate is None else sample_rate
        if sp.issparse(X):
            raise TypeError(
                "sparse input is not supported: DEGramClassifier takes signals (dense arrays) "
                "or file paths"
            )
        if isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind in "biuf":
            raise SignalError(
                f"X is a single 1-D array of {X.shape[0]} numbers; pass a list of signals "
                "(X=[signal]) or a 2-D array with one signal per row (Reshape your data "
                "with X.reshape(1, -1) for one signal)"
            )
        if is_dense_block(X):
            # Equal-length signals as rows, as for EchoEmbedder: sklearn's own
            # validation records n_features_in_ in fit and checks it later (a
            # dense block of another length is an error; lists of signals of
            # any length are not). NaN and Inf are left to the loading layer,
            # whose errors name the row.
            X = validate_data(
                self, X, reset=fitting, dtype=np.float32, ensure_all_finite=False
            )
        signals = load_signals(X, rate, mat_key=self.mat_key)
        out = []
        for s in signals:
            data = s.data
            mono = data[0] if self.multichannel == "first" or data.shape[0] == 1 else data.mean(0)
            out.append((np.ascontiguousarray(mono, dtype=np.float32), float(s.sample_rate), s.source))
        if y is not None:
            y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
            y = column_or_1d(y, warn=True)
            if len(y) != len(out):
                raise ValueError(
                    f"X has {len(out)} signals but y has {len(y)} labels; they must match"
                )
        return out, y

    def _window_length(self, rate):
        return max(1, int(round(self.window_duration * rate)))

    def _check_window(self, signals, frontend_min):
        """Window long enough for one STFT frame at every rate."""
        for rate in sorted({r for _, r, _ in signals}):
            need = frontend_min(rate)
            if self._window_length(rate) < need:
                raise ValueError(
                    f"window_duration={_fmt(self.window_duration)} s is {self._window_length(rate)} "
                    f"samples at {_fmt(rate)} Hz, shorter than the 32 ms STFT window "
                    f"({need} samples); use window_duration >= {need / rate:.4g} s"
                )

    def _pad_short(self, signals):
        """Apply ``short_signals`` to signals shorter than one window."""
        short = [
            (i, src, len(x) / r)
            for i, (x, r, src) in enumerate(signals)
            if len(x) < self._window_length(r)
        ]
        if not short:
            return signals
        if self.short_signals == "error":
            listed = "; ".join(f"{src} lasts {d:.4g} s" for _, src, d in short[:10])
            more = f" (and {len(short) - 10} more)" if len(short) > 10 else ""
            raise ValueError(
                f"{len(short)} signal(s) shorter than window_duration="
                f"{_fmt(self.window_duration)} s: {listed}{more}. Use short_signals='pad' "
                "to zero-pad them or a shorter window_duration"
            )
        out = list(signals)
        for i, _, _ in short:
            x, r, src = out[i]
            out[i] = (np.pad(x, (0, self._window_length(r) - len(x))), r, src)
        return out

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
        self._validate_params()
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
        signals = self._pad_short(signals)

        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        fork_devices = [device.index or 0] if device.type == "cuda" else []
        with _torch_threads(self.n_jobs), torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            self._net = None
            net = self._build_net(len(self.classes_)).to(device)
            self._check_window(signals, net.frontend.min_samples)
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

    def _split(self, signals, y_enc, rng):
        """Validation windows and training segments (sample ranges) of every signal."""
        blocks = []  # (signal index, block index)
        n_blocks = []
        for i, (x, r, _) in enumerate(signals):
            n = len(x) // self._window_length(r)
            n_blocks.append(n)
            blocks.extend((i, k) for k in range(n))
        is_val = set()
        if self.validation_fraction > 0:
            for c in range(len(self.classes_)):
                members = [b for b in blocks if y_enc[b[0]] == c]
                n_val = max(1, int(round(self.validation_fraction * len(members))))
                if len(members) - n_val < 1:
                    idx = [i for i in range(len(signals)) if y_enc[i] == c]
                    raise ValueError(
                        f"class {self.classes_.tolist()[c]!r} has {len(members)} window(s) of "
                        f"window_duration={_fmt(self.window_duration)} s (signals "
                        f"{[signals[i][2] for i in idx][:10]}); validation_fraction="
                        f"{_fmt(self.validation_fraction)} holds out at least one window per "
                        "class, so every class needs at least 2 windows. Give longer or more "
                        "signals, a shorter window_duration, or validation_fraction=0"
                    )
                chosen = rng.choice(len(members), size=n_val, replace=False)
                is_val.update(members[j] for j in chosen)
        val_windows = sorted(is_val)
        segments = []  # (signal index, start, stop) of contiguous training audio
        for i, (x, r, _) in enumerate(signals):
            L = self._window_length(r)
            start = None
            for k in range(n_blocks[i] + 1):
                boundary = k == n_blocks[i] or (i, k) in is_val
                if boundary:
                    if start is not None:
                        stop = len(x) if k == n_blocks[i] else k * L
                        segments.append((i, start, stop))
                    start = None
                elif start is None:
                    start = k * L
        return val_windows, segments

    def _crop_batches(self, signals, segments, n_crops, rng):
        """Random crops grouped into batches of one sampling rate each."""
        weights = np.array([(stop - start) for _, start, stop in segments], dtype=np.float64)
        which = rng.choice(len(segments), size=n_crops, p=weights / weights.sum())
        crops = []
        s_max = self.speed_perturbation
        for s in which:
            i, start, stop = segments[s]
            L = self._window_length(signals[i][1])
            factor = 1.0
            if s_max > 0:
                # never read past the segment: cap the factor by its length
                cap = (stop - start - 1) / L
                factor = float(min(rng.uniform(1.0 - s_max, 1.0 + s_max), cap))
            span = int(math.ceil(L * factor)) if factor != 1.0 else L
            offset = start + rng.randint(stop - start - span + 1)
            crops.append((i, offset, factor))
        by_rate = {}
        for crop in crops:
            by_rate.setdefault(signals[crop[0]][1], []).append(crop)
        batches = []
        for rate in sorted(by_rate):
            group = by_rate[rate]
            bounds = list(range(0, len(group), self.batch_size)) + [len(group)]
            if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
                bounds.pop(-2)  # no batch of one (batch norm)
            batches.extend(group[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
        order = rng.permutation(len(batches))
        return [batches[j] for j in order]

    def _fit_net(self, net, signals, y_enc, y, rng, device):
        val_windows, segments = self._split(signals, y_enc, rng)
        # non-overlapping training windows in each segment
        counts = [(stop - start) // self._window_length(signals[i][1]) for i, start, stop in segments]
        self.n_train_windows_ = int(sum(counts))
        train_labels = [y[i] for (i, _, _), n in zip(segments, counts) for _ in range(n)]
        if self.class_weight is None:
            weight = None
        else:
            cw = compute_class_weight(self.class_weight, classes=self.classes_, y=np.asarray(train_labels))
            weight = torch.tensor(cw, dtype=torch.float32, device=device)
        cross_entropy = torch.nn.CrossEntropyLoss(reduction="none")

        def criterion(logits, target):
            # class weights scale each example's loss (sklearn's convention); the
            # mean over the batch stays finite when a batch holds one class only
            losses = cross_entropy(logits, target)
            return (losses * weight[target]).mean() if weight is not None else losses.mean()

        params = [p for p in net.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.learning_rate, weight_decay=self.weight_decay)
        scheduler = None
        if self.lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.max_epochs)

        def windows_of(crops):
            out = []
            for i, offset, factor in crops:
                x, r, _ = signals[i]
                L = self._window_length(r)
                if factor == 1.0:
                    out.append(x[offset : offset + L])
                else:  # speed perturbation: read L samples at `factor` times the rate
                    span = int(math.ceil(L * factor)) + 1
                    seg = x[offset : offset + span]
                    pos = np.arange(L) * factor
                    out.append(np.interp(pos, np.arange(len(seg)), seg).astype(np.float32))
            return out

        val_x = windows_of(
            [(i, k * self._window_length(signals[i][1]), 1.0) for i, k in val_windows]
        )
        val_r = [signals[i][1] for i, _ in val_windows]
        val_y = np.array([y_enc[i] for i, _ in val_windows])

        self.loss_curve_, self.validation_loss_curve_, self.validation_scores_ = [], [], []
        best_loss, best_state, best_epoch, stale = np.inf, None, 0, 0
        epoch_times = []
        epochs = range(1, self.max_epochs + 1)
        bar = None
        if self.verbose:
            from tqdm.auto import tqdm

            bar = tqdm(epochs, desc=type(self).__name__, unit="epoch")
            epochs = bar
        for epoch in epochs:
            t0 = time.perf_counter()
            net.train()
            total, count = 0.0, 0
            for batch in self._crop_batches(signals, segments, self.n_train_windows_, rng):
                rate = signals[batch[0][0]][1]
                xb = torch.from_numpy(np.stack(windows_of(batch))).to(device)
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
            self.loss_curve_.append(total / count)
            self.n_iter_ = epoch
            postfix = {"loss": f"{self.loss_curve_[-1]:.4f}"}
            if val_windows:
                logits = self._run(net, val_x, val_r, "logits", device)
                logits_t = torch.from_numpy(logits).to(device)
                val_loss = float(criterion(logits_t, torch.from_numpy(val_y).to(device)))
                acc = float(np.mean(logits.argmax(1) == val_y))
                self.validation_loss_curve_.append(val_loss)
                self.validation_scores_.append(acc)
                postfix.update(val_loss=f"{val_loss:.4f}", val_acc=f"{acc:.3f}")
                if val_loss < best_loss - self.tol:
                    best_loss, best_epoch, stale = val_loss, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
            if bar is not None:
                bar.set_postfix(postfix)
            if val_windows and self.n_iter_no_change is not None and stale >= self.n_iter_no_change:
                break
        if bar is not None:
            bar.close()
        if best_state is not None:
            net.load_state_dict(best_state)
            self.best_epoch_ = best_epoch
        else:
            self.best_epoch_ = self.n_iter_
        self.epoch_time_ = float(np.mean(epoch_times))

    # ------------------------------------------------------------------ inference
    def _run(self, net, windows, rates, what, device):
        """Run ``net`` on equal-rate batches of windows; return logits or embeddings in order."""
        net.eval()
        out = [None] * len(windows)
        groups = {}
        for j, (w, r) in enumerate(zip(windows, rates)):
            groups.setdefault((r, len(w)), []).append(j)
        with torch.no_grad():
            for (rate, _), idx in groups.items():
                # batches made in an order fixed by the windows' content: a window's
                # result does not depend on the order of the signals it came with
                idx = sorted(idx, key=lambda j: hashlib.blake2b(windows[j].tobytes(), digest_size=8).digest())
                for a in range(0, len(idx), self.batch_size):
                    part = idx[a : a + self.batch_size]
                    xb = torch.from_numpy(np.stack([windows[j] for j in part])).to(device)
                    res = net(xb, rate) if what == "logits" else net.embed(xb, rate)
                    res = res.float().cpu().numpy()
                    for j, row in zip(part, res):
                        out[j] = row
        return np.stack(out) if out else np.empty((0, 0), dtype=np.float32)

    def _windows(self, signals):
        """Non-overlapping prediction windows of every signal (last one aligned to the end)."""
        windows, rates, owner = [], [], []
        for i, (x, r, _) in enumerate(signals):
            L = self._window_length(r)
            starts = list(range(0, len(x) - L + 1, L))
            if starts[-1] + L < len(x):
                starts.append(len(x) - L)
            for s in starts:
                windows.append(x[s : s + L])
                rates.append(r)
                owner.append(i)
        return windows, rates, np.asarray(owner)

    def _per_signal(self, X, sample_rate, what):
        check_is_fitted(self, "state_dict_")
        signals, _ = self._load(X, sample_rate, fitting=False)
        signals = self._pad_short(signals)
        with _torch_threads(self.n_jobs):
            net = self._get_net()
            self._check_window(signals, net.frontend.min_samples)
            windows, rates, owner = self._windows(signals)
            device = next(net.parameters()).device
            out = self._run(net, windows, rates, what, device)
        if what == "logits":
            out = torch.softmax(torch.from_numpy(out), dim=1).numpy()
        result = np.zeros((len(signals), out.shape[1]), dtype=np.float64)
        np.add.at(result, owner, out.astype(np.float64))
        result /= np.bincount(owner, minlength=len(signals))[:, None]
        return result

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
        return self._per_signal(X, sample_rate, "logits")

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

