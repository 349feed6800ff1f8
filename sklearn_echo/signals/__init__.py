"""The input layer: turn the ``X`` users pass into validated signals.

Every estimator and the command line read their input through this package,
so that a recording is accepted (or rejected, with the same message) the same
way everywhere. Its modules, in the order data goes through them:

``paths``
    `expand_paths` (files, folders, glob patterns -> sorted files) and the
    rate rules that give rate-less files their sampling rate (`file_rates`).
``items``
    `list_items`: the accepted forms of ``X`` (lists, pairs, DataFrames, dense
    blocks, tensors) -> one `Item` per element, with its rate and its name.
``readers``
    One reader per file format, in a ``{extension: reader}`` registry
    (`supported_extensions`).
``validation``
    The rules a signal follows (real numbers, finite, ``(channels, samples)``,
    long enough) and their messages.
``loading``
    `load_item`, `load_signals`, `scan_signals` / `ScannedSignals` and
    `iter_signals`: the one reading loop.
``estimator_input``
    `check_signal_input`, what estimators call on ``X``.
``containers``
    `Signal`, `Item`, `SignalInfo`, `SignalList`, `SkippedItem` (a bad item
    left out by ``errors="skip"``) and the errors, `SignalError` and
    `SignalFileNotFoundError`.

Every name below is importable from ``sklearn_echo.signals``. Soundfile and
scipy are imported only when a file is read.
"""

from .containers import (
    Item,
    Signal,
    SignalError,
    SignalFileNotFoundError,
    SignalInfo,
    SignalList,
    SkippedItem,
)
from .estimator_input import check_signal_input
from .items import SIGNAL_COLUMNS, default_item_name, is_dense_block, list_items
from .loading import ScannedSignals, iter_signals, load_item, load_signals, scan_signals
from .paths import default_rate, expand_paths, file_rates, parse_rate_rule, rule_rates
from .readers import SUPPORTED_EXTENSIONS, supported_extensions

__all__ = [
    "SIGNAL_COLUMNS",
    "SUPPORTED_EXTENSIONS",
    "Item",
    "ScannedSignals",
    "Signal",
    "SignalError",
    "SignalFileNotFoundError",
    "SignalInfo",
    "SignalList",
    "SkippedItem",
    "check_signal_input",
    "default_item_name",
    "default_rate",
    "expand_paths",
    "file_rates",
    "is_dense_block",
    "iter_signals",
    "list_items",
    "load_item",
    "load_signals",
    "parse_rate_rule",
    "rule_rates",
    "scan_signals",
    "supported_extensions",
]
