"""Functions timed where they run, for the profiling scripts.

`timed_calls` replaces methods or module functions by timed calls for the
duration of a block and records every call (from any thread) as a span, so a
script can split a real run into its parts without changing the package.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager


@contextmanager
def timed_calls(targets):
    """Time every call of the given functions while the block runs, then restore them.

    Parameters
    ----------
    targets : iterable of (owner, name, label)
        ``owner.name`` is replaced (a class attribute, or a function in a module
        namespace that the code calls it through). ``label`` is a string, or a
        callable taking the call's positional arguments and returning
        ``(label, extra)`` (``extra``: any number the script wants summed, such
        as FLOPs).

    Yields
    ------
    calls : list of (label, thread id, start, end, extra)
        One entry per finished call, ``time.perf_counter`` seconds, in the
        order the calls ended.
    """
    calls = []
    saved = []

    def wrap(owner, name, label):
        original = getattr(owner, name)
        saved.append((owner, name, original))
        describe = label if callable(label) else (lambda args, label=label: (label, None))

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                t1 = time.perf_counter()
                what, extra = describe(args)
                calls.append((what, threading.get_ident(), t0, t1, extra))

        setattr(owner, name, timed)

    try:
        for owner, name, label in targets:
            wrap(owner, name, label)
        yield calls
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)
