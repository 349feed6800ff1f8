"""Plot a learned SincGram filterbank against its mel initialisation (matplotlib, optional)."""

from __future__ import annotations

import numpy as np

from .sincgram import Filterbank

__all__ = ["plot_filterbank"]


def plot_filterbank(
    clf,
    ax=None,
    *,
    freqs_hz=None,
    initial=True,
    db=False,
    every=1,
    colormap="viridis",
):
    """Draw the learned filter responses (solid) over their mel initialisation (dashed).

    Parameters
    ----------
    clf : DEGramClassifier or Filterbank
        A fitted classifier (``filterbank_`` and ``initial_filterbank_`` are
        drawn) or a `Filterbank`.
    ax : matplotlib Axes or None, default=None
        Axes to draw in; a new figure is made when None.
    freqs_hz : array-like or None, default=None
        Frequency grid in Hz; default 2000 points from 0 to the classifier's
        ``f_max_`` (or the highest -3 dB edge of the bank).
    initial : bool, default=True
        Also draw the mel initialisation (grey, dashed) when available.
    db : bool, default=False
        Plot the response in dB instead of linear magnitude.
    every : int, default=1
        Draw one filter in ``every`` (a 64-filter bank is readable with 2).
    colormap : str, default="viridis"
        Colours of the learned filters, from low to high centre.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_echo.degram import Filterbank, mel_filter_params, plot_filterbank
    >>> ax = plot_filterbank(Filterbank(*mel_filter_params(8, 0.0, 6000.0), order=4))
    >>> len(ax.lines)
    8
    """
    import matplotlib.pyplot as plt

    if isinstance(clf, Filterbank):
        learned, init, f_top = clf, None, None
    else:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(clf, "state_dict_")
        learned = getattr(clf, "filterbank_", None)
        if learned is None:
            raise ValueError(
                "this classifier has no filterbank to plot (it was fitted with sincgram=False)"
            )
        init = clf.initial_filterbank_
        f_top = float(clf.f_max_)
    if f_top is None:
        f_top = float(np.max(learned.edges_hz[:, 1]))
    if freqs_hz is None:
        freqs_hz = np.linspace(0.0, f_top, 2000)
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))

    def curve(bank):
        r = bank.response(freqs_hz)
        return 20 * np.log10(np.maximum(r, 1e-6)) if db else r

    keep = np.arange(0, len(learned), max(1, int(every)))
    if initial and init is not None:
        ri = curve(init)
        for k in keep:
            ax.plot(freqs_hz, ri[:, k], color="0.6", lw=0.8, ls="--",
                    label="mel initialisation" if k == keep[0] else None)
    rl = curve(learned)
    colors = plt.get_cmap(colormap)(np.linspace(0, 1, len(keep)))
    for j, k in enumerate(keep):
        ax.plot(freqs_hz, rl[:, k], color=colors[j], lw=1.2,
                label="learned" if j == 0 else None)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("response (dB)" if db else "response")
    ax.set_xlim(freqs_hz[0], freqs_hz[-1])
    if db:
        ax.set_ylim(-40, 3)
    ax.set_title(f"SincGram filterbank ({len(learned)} filters, order {learned.order})")
    if initial and init is not None:
        ax.legend(loc="upper right", fontsize="small")
    return ax
