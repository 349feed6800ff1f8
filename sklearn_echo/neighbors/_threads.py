"""Thread count of a search: scikit-learn's ``n_jobs``, scoped to the search.

faiss runs its searches and graph builds on OpenMP threads and its products
on its BLAS library's threads. `faiss_threads` sets both thread counts to
``sklearn_echo.device.effective_n_jobs(n_jobs)`` (so ``None`` is 1 unless
a ``joblib.parallel_config`` context says otherwise, and ``-1`` is every
core) for the duration of a block, then puts the previous settings back.
The OpenMP setting belongs to the calling thread, so searches running in
several threads at once do not disturb each other.
"""

# License: MIT

import _thread
import queue
import threading
from contextlib import contextmanager, nullcontext

from ._faiss import import_faiss

__all__ = [
    "BLAS_MIN_QUERIES",
    "ThreadTeam",
    "blas_from_few_queries",
    "blas_limit",
    "faiss_threads",
    "one_blas_thread",
    "thread_scope",
    "thread_team",
]

#: Queries from which a flat search inside `blas_from_few_queries` takes its
#: scores from BLAS products.
BLAS_MIN_QUERIES = 8

_BLAS_LIBRARIES = []  # one tuple, once found
_BLAS_SCOPE = {"users": 0, "saved": None}
_BLAS_LOCK = threading.Lock()


@contextmanager
def faiss_threads(n_jobs, dim=None, blas_threads=None):
    """Run a block with ``effective_n_jobs(n_jobs)`` faiss threads, then restore.

    Parameters
    ----------
    n_jobs : int or None
        scikit-learn's ``n_jobs``.
    dim : int, default=None
        Dimension of the vectors searched: when given, faiss's flat searches
        inside the block use BLAS from `BLAS_MIN_QUERIES` queries
        (`blas_from_few_queries`).
    blas_threads : int, default=None
        Threads of the BLAS libraries inside the block; None: the faiss
        thread count. Searches whose query blocks run on threads of their own
        (`ThreadTeam`) pass 1.

    Yields
    ------
    n_threads : int
        The faiss thread count in effect inside the block.

    Examples
    --------
    >>> import faiss
    >>> from sklearn_echo.neighbors._threads import faiss_threads
    >>> before = faiss.omp_get_max_threads()
    >>> with faiss_threads(1) as n:
    ...     n, faiss.omp_get_max_threads()
    (1, 1)
    >>> faiss.omp_get_max_threads() == before
    True
    """
    from sklearn_echo.device import effective_n_jobs

    with thread_scope(effective_n_jobs(n_jobs), dim, blas_threads) as n:
        yield n


@contextmanager
def thread_scope(n, dim=None, blas_threads=None):
    """`faiss_threads` for a thread count ``n`` the caller has already taken from ``n_jobs``.

    Saves asking joblib for its active backend a second time
    (``effective_n_jobs``) when the caller needed the count first.
    """
    faiss = import_faiss()
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        with (
            blas_limit(blas_threads or n),
            blas_from_few_queries(dim) if dim is not None else nullcontext(),
        ):
            yield n
    finally:
        faiss.omp_set_num_threads(previous)


@contextmanager
def blas_from_few_queries(dim):
    """Run a block in which faiss's flat searches use BLAS from `BLAS_MIN_QUERIES` queries.

    faiss computes the scores of a flat search (and of an IVF index's coarse
    assignment) with BLAS matrix products when the queries times the
    dimension reach ``faiss.cvar.distance_compute_blas_threshold`` (128,000
    by default), and with its own loops below. On this project's benchmark
    machine its loops took about twice the time per query of BLAS from 8
    queries up (``benchmarks/profile_exact_search.py`` times both; below 8
    queries, where faiss keeps its loops inside these blocks, BLAS was no
    faster in a one-off comparison): the exact search's blocks of a few hundred 384-dimension
    queries, and its second searches of a few queries, fell below the
    default. The setting is process-wide in faiss; it is changed while at
    least one such block runs (in any thread) and then put back.

    Parameters
    ----------
    dim : int
        Dimension of the vectors searched.
    """
    faiss = import_faiss()
    with _BLAS_LOCK:
        if _BLAS_SCOPE["users"] == 0:
            _BLAS_SCOPE["saved"] = faiss.cvar.distance_compute_blas_threshold
            faiss.cvar.distance_compute_blas_threshold = BLAS_MIN_QUERIES * int(dim)
        _BLAS_SCOPE["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_SCOPE["users"] -= 1
            if _BLAS_SCOPE["users"] == 0:
                faiss.cvar.distance_compute_blas_threshold = _BLAS_SCOPE["saved"]


@contextmanager
def one_blas_thread():
    """Run a block with every BLAS library on one thread, then restore.

    For numpy products inside a search: a multithreaded BLAS (OpenBLAS)
    keeps its threads spinning for a while after each product, and on a
    machine with few cores they slow the faiss search that follows (in a
    one-off comparison, a 2,000-query search of a 1,000 x 2,688 bank took
    twice as long right after a 50 x 1,000 numpy product on two threads).
    """
    with blas_limit(1):
        yield


@contextmanager
def blas_limit(n):
    """Run a block with every BLAS library on ``n`` threads, then put back the counts it changed.

    What ``threadpoolctl.ThreadpoolController.limit`` does for the BLAS
    libraries, without its survey of every library's version, kernels and
    threading layer at each entry.
    """
    changed = []
    for lib in _blas_libraries():
        count = lib.get_num_threads()
        if count != n:
            lib.set_num_threads(n)
            changed.append((lib, count))
    try:
        yield
    finally:
        for lib, count in changed:
            lib.set_num_threads(count)


class ThreadTeam:
    """Threads started at once and handed their work later, each running one-thread libraries.

    A search starts its team before it checks the queries and builds its
    index, so that the threads are running by the time their blocks are
    ready: starting them when the blocks were ready (a thread pool) cost
    0.3 ms per search at 1,000 x 384 (``benchmarks/profile_exact_search.py``),
    because ``threading.Thread.start`` waits for each new thread to run
    while the machine wakes its idle cores. The threads are started with
    ``_thread.start_new_thread``, which does not wait. The calling thread
    waits for them rather than searching a block itself: a thread it has
    just started often runs on its core until the scheduler moves it.

    Each thread runs faiss with one OpenMP thread (a per-thread setting);
    the caller runs `run` inside ``faiss_threads(..., blas_threads=1)``, so
    that BLAS runs on one thread as well: the searches of separate query
    blocks proceed side by side, each with its float64 ranking, instead of
    one block at a time on the libraries' own thread teams, which keep
    spinning after each call and then compete with the next step for the
    cores. faiss allows concurrent searches of one index.

    Use it through `thread_team`, which stops the threads when the block ends.

    Parameters
    ----------
    n_threads : int
        Number of threads.
    """

    def __init__(self, n_threads):
        self.n_threads = n_threads
        self._faiss = import_faiss()  # here, not in the new threads: imported once
        self._todo = queue.SimpleQueue()
        self._done = queue.SimpleQueue()
        self._stopped = False
        for _ in range(n_threads):
            _thread.start_new_thread(self._work, ())

    def _work(self):
        self._faiss.omp_set_num_threads(1)
        while True:
            task = self._todo.get()
            if task is None:
                return
            fn, item = task
            try:
                fn(item)
            except BaseException as exc:  # noqa: BLE001 (handed to the caller by `run`)
                self._done.put(exc)
            else:
                self._done.put(None)

    def run(self, fn, items):
        """Call ``fn(item)`` for every item on the team's threads; return when all are done.

        The first exception raised by a call is raised here, once every
        call has ended (none is still writing into the caller's arrays).
        """
        if self._stopped:
            raise RuntimeError("This thread team has been stopped.")
        n = 0
        for item in items:
            self._todo.put((fn, item))
            n += 1
        errors = [self._done.get() for _ in range(n)]
        for exc in errors:
            if exc is not None:
                raise exc

    def stop(self):
        """Let the threads end once the work handed to them is done (without waiting)."""
        if not self._stopped:
            self._stopped = True
            for _ in range(self.n_threads):
                self._todo.put(None)


@contextmanager
def thread_team(n_threads):
    """A `ThreadTeam` of ``n_threads`` threads for the block (None for fewer than 2).

    Examples
    --------
    >>> from sklearn_echo.neighbors._threads import thread_team
    >>> seen = []
    >>> with thread_team(2) as team:
    ...     team.run(seen.append, range(4))
    >>> sorted(seen)
    [0, 1, 2, 3]
    """
    if n_threads < 2:
        yield None
        return
    team = ThreadTeam(n_threads)
    try:
        yield team
    finally:
        team.stop()


def _blas_libraries():
    """threadpoolctl's controllers of the BLAS libraries, found once, after faiss and numpy are loaded.

    Finding them inspects every loaded library (milliseconds); setting a
    thread count then costs microseconds.
    """
    if not _BLAS_LIBRARIES:
        from threadpoolctl import ThreadpoolController

        _BLAS_LIBRARIES.append(tuple(ThreadpoolController().select(user_api="blas").lib_controllers))
    return _BLAS_LIBRARIES[0]
