"""The figures the commands draw: ROC curve (``detect --roc``), confusion matrix (``classify --confusion``).

Matplotlib is imported only when a figure is drawn, and without pyplot (an
off-screen Agg canvas), so a command never opens a window.
"""

from __future__ import annotations

import numpy as np

from .errors import CommandError

__all__ = ["confusion_plot", "figure", "roc_plot", "save"]


def figure(width=5.0, height=4.5):
    """A matplotlib Figure on an Agg canvas; `CommandError` when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is installed with the test extras
        raise CommandError("plots need matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def save(fig, path):
    """Write ``fig`` to ``path`` as PNG."""
    fig.tight_layout()
    fig.savefig(path, format="png")


def roc_plot(path, y, scores, auc, pauc, max_fpr):
    """ROC curve of anomaly ``scores`` against labels ``y`` (1 anomaly), the pAUC region shaded."""
    from sklearn.metrics import RocCurveDisplay

    fig = figure(5.0, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    RocCurveDisplay.from_predictions(y, scores, ax=ax, name="ECHO k-NN")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.axvspan(0, max_fpr, color="tab:orange", alpha=0.15, label=f"pAUC region (pAUC = {pauc:.3f})")
    ax.set_title(f"Anomaly detection: {int(np.sum(y == 0))} normal, {int(np.sum(y == 1))} anomalous")
    ax.legend(loc="lower right")
    save(fig, path)


def confusion_plot(path, y, pred, classes, title):
    """Confusion matrix of predictions ``pred`` against labels ``y``, one row per class."""
    from sklearn.metrics import ConfusionMatrixDisplay

    n = len(classes)
    size = max(4.5, 0.55 * n + 2.5)
    fig = figure(size, size)
    ax = fig.add_subplot(1, 1, 1)
    ConfusionMatrixDisplay.from_predictions(
        y, pred, labels=classes, ax=ax, colorbar=False, xticks_rotation=45
    )
    ax.set_title(title)
    save(fig, path)
