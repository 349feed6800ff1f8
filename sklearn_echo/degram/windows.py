"""Windows of mono signals: prediction windows, the validation split and random training crops.

`DEGramClassifier` reads fixed-duration windows. At prediction time every
signal is cut into non-overlapping windows (plus one aligned to its end when
its length is not a multiple); for training, each signal's non-overlapping
windows are the units of the validation split, and random crops of the same
duration are drawn from the training audio between held-out windows.

Signals here are `MonoSignal` triples ``(data, sample_rate, source)``:
``data`` is a 1-D float32 array, ``source`` names the item in errors
(``"X[3]"``). NumPy only; the random draws come from a ``RandomState``
given by the caller, in a fixed order, so a seed gives the same windows.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "MonoSignal",
    "window_length",
    "check_window_fits",
    "pad_short_signals",
    "prediction_windows",
    "split_windows",
    "draw_crop_batches",
    "read_crops",
]


class MonoSignal(NamedTuple):
    """One mono signal: ``data`` (1-D float32), ``sample_rate`` in Hz, ``source`` (its name in errors).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.degram.windows import MonoSignal
    >>> x, rate, source = MonoSignal(np.zeros(4, dtype=np.float32), 4.0, "X[0]")
    >>> rate, source
    (4.0, 'X[0]')
    """

    data: np.ndarray
    sample_rate: float
    source: str


def _fmt(x):
    """A number as errors show it (``0.5``, ``12000``)."""
    return f"{float(x):g}"


def window_length(window_duration, sample_rate):
    """Samples in one window of ``window_duration`` seconds at ``sample_rate`` (at least 1).

    Examples
    --------
    >>> from sklearn_echo.degram.windows import window_length
    >>> window_length(0.5, 12000), window_length(1e-6, 100)
    (6000, 1)
    """
    return max(1, int(round(window_duration * sample_rate)))


def check_window_fits(signals, window_duration, min_samples):
    """Raise a ``ValueError`` when a window is shorter than one STFT frame at a signal's rate.

    Parameters
    ----------
    signals : list of MonoSignal
    window_duration : float
        Window length in seconds.
    min_samples : callable
        ``min_samples(rate)``: the fewest samples the front end reads at
        ``rate`` (`sklearn_echo.degram.DEGram.min_samples`).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.degram import PowerSpectrogram
    >>> from sklearn_echo.degram.windows import MonoSignal, check_window_fits
    >>> signals = [MonoSignal(np.zeros(4000, dtype=np.float32), 4000.0, "X[0]")]
    >>> check_window_fits(signals, 0.01, PowerSpectrogram().min_samples)
    Traceback (most recent call last):
    ...
    ValueError: window_duration=0.01 s is 40 samples at 4000 Hz, shorter than the 32 ms STFT window (128 samples); use window_duration >= 0.032 s
    """
    for rate in sorted({r for _, r, _ in signals}):
        need = min_samples(rate)
        n = window_length(window_duration, rate)
        if n < need:
            raise ValueError(
                f"window_duration={_fmt(window_duration)} s is {n} "
                f"samples at {_fmt(rate)} Hz, shorter than the 32 ms STFT window "
                f"({need} samples); use window_duration >= {need / rate:.4g} s"
            )


def pad_short_signals(signals, window_duration, short_signals="error"):
    """Apply the ``short_signals`` rule to signals shorter than one window.

    Parameters
    ----------
    signals : list of MonoSignal
    window_duration : float
        Window length in seconds.
    short_signals : {"error", "pad"}, default="error"
        Raise a ``ValueError`` naming the short signals (the first 10), or
        zero-pad each at its end to one window.

    Returns
    -------
    list of MonoSignal
        ``signals`` itself when none is short.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.degram.windows import MonoSignal, pad_short_signals
    >>> signals = [MonoSignal(np.ones(3, dtype=np.float32), 10.0, "X[0]")]
    >>> pad_short_signals(signals, 0.5, "pad")[0].data.tolist()
    [1.0, 1.0, 1.0, 0.0, 0.0]
    >>> pad_short_signals(signals, 0.5)
    Traceback (most recent call last):
    ...
    ValueError: 1 signal(s) shorter than window_duration=0.5 s: X[0] lasts 0.3 s. Use short_signals='pad' to zero-pad them or a shorter window_duration
    """
    short = [
        (i, src, len(x) / r)
        for i, (x, r, src) in enumerate(signals)
        if len(x) < window_length(window_duration, r)
    ]
    if not short:
        return signals
    if short_signals == "error":
        listed = "; ".join(f"{src} lasts {d:.4g} s" for _, src, d in short[:10])
        more = f" (and {len(short) - 10} more)" if len(short) > 10 else ""
        raise ValueError(
            f"{len(short)} signal(s) shorter than window_duration="
            f"{_fmt(window_duration)} s: {listed}{more}. Use short_signals='pad' "
            "to zero-pad them or a shorter window_duration"
        )
    out = list(signals)
    for i, _, _ in short:
        x, r, src = out[i]
        out[i] = MonoSignal(np.pad(x, (0, window_length(window_duration, r) - len(x))), r, src)
    return out


def prediction_windows(signals, window_duration):
    """Non-overlapping windows of every signal, the last one aligned to the signal's end.

    Parameters
    ----------
    signals : list of MonoSignal
        Each at least one window long.
    window_duration : float
        Window length in seconds.

    Returns
    -------
    windows : list of ndarray
        Views into the signals' data.
    rates : list of float
        Sampling rate of each window.
    owner : ndarray of int
        Index in ``signals`` of each window's signal.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.degram.windows import MonoSignal, prediction_windows
    >>> x = np.arange(10, dtype=np.float32)
    >>> windows, rates, owner = prediction_windows([MonoSignal(x, 4.0, "X[0]")], 1.0)
    >>> [w.tolist() for w in windows], owner.tolist()
    ([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [6.0, 7.0, 8.0, 9.0]], [0, 0, 0])
    """
    windows, rates, owner = [], [], []
    for i, (x, r, _) in enumerate(signals):
        L = window_length(window_duration, r)
        starts = list(range(0, len(x) - L + 1, L))
        if starts[-1] + L < len(x):
            starts.append(len(x) - L)
        for s in starts:
            windows.append(x[s : s + L])
            rates.append(r)
            owner.append(i)
    return windows, rates, np.asarray(owner)


def split_windows(signals, y_enc, classes, window_duration, validation_fraction, rng):
    """Held-out validation windows and the training segments between them.

    Each signal's non-overlapping windows (from its start) are the units of
    the split: ``validation_fraction`` of each class's windows (at least one)
    are held out at random; the rest of each signal, as maximal runs of
    samples that touch no held-out window, is the training audio.

    Parameters
    ----------
    signals : list of MonoSignal
    y_enc : ndarray of int
        Encoded class of each signal.
    classes : ndarray
        The class labels (named in errors).
    window_duration : float
        Window length in seconds.
    validation_fraction : float
        Fraction of each class's windows held out; 0 holds out none.
    rng : numpy.random.RandomState
        Draws the held-out windows.

    Returns
    -------
    val_windows : list of (int, int)
        ``(signal index, window index)`` of the held-out windows, sorted.
    segments : list of (int, int, int)
        ``(signal index, start, stop)`` sample ranges of training audio.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.degram.windows import MonoSignal, split_windows
    >>> signals = [MonoSignal(np.zeros(10, dtype=np.float32), 2.0, f"X[{i}]") for i in range(2)]
    >>> split_windows(signals, np.array([0, 1]), np.array(["a", "b"]), 1.0, 0.0, None)
    ([], [(0, 0, 10), (1, 0, 10)])
    >>> val, segments = split_windows(signals, np.array([0, 1]), np.array(["a", "b"]), 1.0, 0.2,
    ...                               np.random.RandomState(0))
    >>> len(val), sum(stop - start for _, start, stop in segments)
    (2, 16)
    """
    blocks = []  # (signal index, block index)
    n_blocks = []
    for i, (x, r, _) in enumerate(signals):
        n = len(x) // window_length(window_duration, r)
        n_blocks.append(n)
        blocks.extend((i, k) for k in range(n))
    is_val = set()
    if validation_fraction > 0:
        for c in range(len(classes)):
            members = [b for b in blocks if y_enc[b[0]] == c]
            n_val = max(1, int(round(validation_fraction * len(members))))
            if len(members) - n_val < 1:
                idx = [i for i in range(len(signals)) if y_enc[i] == c]
                raise ValueError(
                    f"class {classes.tolist()[c]!r} has {len(members)} window(s) of "
                    f"window_duration={_fmt(window_duration)} s (signals "
                    f"{[signals[i][2] for i in idx][:10]}); validation_fraction="
                    f"{_fmt(validation_fraction)} holds out at least one window per "
                    "class, so every class needs at least 2 windows. Give longer or more "
                    "signals, a shorter window_duration, or validation_fraction=0"
                )
            chosen = rng.choice(len(members), size=n_val, replace=False)
            is_val.update(members[j] for j in chosen)
    val_windows = sorted(is_val)
    segments = []  # (signal index, start, stop) of contiguous training audio
    for i, (x, r, _) in enumerate(signals):
        L = window_length(window_duration, r)
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


def _crop_span(L, factor):
    """Samples a crop of ``L`` samples read at ``factor`` times the rate spans."""
    return int(math.ceil(L * factor)) if factor != 1.0 else L


def draw_crop_batches(signals, segments, n_crops, window_duration, speed_perturbation, batch_size, rng):
    """Random training crops, in batches of one sampling rate each, in random order.

    A crop's segment is drawn in proportion to the segment's length, then its
    start uniformly within it. With ``speed_perturbation`` ``s > 0`` each crop
    has a speed factor drawn in ``[1 - s, 1 + s]`` (capped so that the crop
    stays inside its segment). No batch holds a single crop unless a rate has
    only one (batch normalisation needs two).

    Parameters
    ----------
    signals : list of MonoSignal
    segments : list of (int, int, int)
        Training audio, as `split_windows` returns it.
    n_crops : int
        Crops to draw.
    window_duration : float
        Crop length in seconds.
    speed_perturbation : float
        Largest relative change of speed; 0 reads every crop as it is.
    batch_size : int
        Crops per batch.
    rng : numpy.random.RandomState

    Returns
    -------
    list of list of (int, int, float)
        Batches of ``(signal index, first sample, speed factor)`` crops.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.degram.windows import MonoSignal, draw_crop_batches
    >>> signals = [MonoSignal(np.zeros(100, dtype=np.float32), 10.0, "X[0]")]
    >>> batches = draw_crop_batches(signals, [(0, 0, 100)], 5, 1.0, 0.0, 2,
    ...                             np.random.RandomState(0))
    >>> sorted(len(b) for b in batches)
    [2, 3]
    """
    weights = np.array([(stop - start) for _, start, stop in segments], dtype=np.float64)
    which = rng.choice(len(segments), size=n_crops, p=weights / weights.sum())
    crops = []
    for s in which:
        i, start, stop = segments[s]
        L = window_length(window_duration, signals[i][1])
        factor = 1.0
        if speed_perturbation > 0:
            # never read past the segment: cap the factor by its length
            cap = (stop - start - 1) / L
            factor = float(min(rng.uniform(1.0 - speed_perturbation, 1.0 + speed_perturbation), cap))
        span = _crop_span(L, factor)
        offset = start + rng.randint(stop - start - span + 1)
        crops.append((i, offset, factor))
    by_rate = {}
    for crop in crops:
        by_rate.setdefault(signals[crop[0]][1], []).append(crop)
    batches = []
    for rate in sorted(by_rate):
        group = by_rate[rate]
        bounds = list(range(0, len(group), batch_size)) + [len(group)]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
            bounds.pop(-2)  # no batch of one (batch norm)
        batches.extend(group[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
    order = rng.permutation(len(batches))
    return [batches[j] for j in order]


def read_crops(signals, crops, window_duration):
    """The samples of ``crops``: one window-length float32 array each.

    A crop with speed factor 1 is a view of its signal; any other factor
    reads the window at ``factor`` times the rate by linear interpolation
    (which scales every frequency in it by ``factor``).

    Parameters
    ----------
    signals : list of MonoSignal
    crops : list of (int, int, float)
        ``(signal index, first sample, speed factor)``.
    window_duration : float
        Crop length in seconds.

    Returns
    -------
    list of ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.degram.windows import MonoSignal, read_crops
    >>> signals = [MonoSignal(np.arange(10, dtype=np.float32), 4.0, "X[0]")]
    >>> [c.tolist() for c in read_crops(signals, [(0, 2, 1.0), (0, 0, 1.5)], 1.0)]
    [[2.0, 3.0, 4.0, 5.0], [0.0, 1.5, 3.0, 4.5]]
    """
    out = []
    for i, offset, factor in crops:
        x, r, _ = signals[i]
        L = window_length(window_duration, r)
        if factor == 1.0:
            out.append(x[offset : offset + L])
        else:  # speed perturbation: read L samples at `factor` times the rate
            seg = x[offset : offset + _crop_span(L, factor) + 1]
            pos = np.arange(L) * factor
            out.append(np.interp(pos, np.arange(len(seg)), seg).astype(np.float32))
    return out
