"""Loading faiss, its BLAS library on the kernels the CPU can run.

faiss's flat search (and an IVF index's coarse assignment) takes its scores
from the BLAS library that comes with the ``faiss-cpu`` wheel, an OpenBLAS
build that picks its kernels for the CPU when it is loaded. That OpenBLAS
(0.3.15 in faiss-cpu 1.15) does not know AMD's newer cores: on this
project's benchmark machine (AMD EPYC, CPU family 26, with AVX-512) it picks
its ``Barcelona`` kernels, and a faiss flat search of 2,000 queries in a
bank of 1,000 vectors took 3.5x (384 dimensions) and 4.0x (2,688) the time
it takes on its AVX-512 kernels (``SkylakeX``); on its AVX2 kernels
(``OPENBLAS_CORETYPE=Haswell``) 1.7x (``benchmarks/bench_blas_kernels.py``,
which also checks the scores of each against float64 products).

`import_faiss` therefore loads faiss with ``OPENBLAS_CORETYPE=SkylakeX`` on
a CPU that has the AVX-512 subsets those kernels use (F, CD, BW, DQ and VL:
numpy's ``AVX512_SKX`` feature), and removes the variable once faiss is
loaded, so that nothing else started later sees it. A value set by the user
is left alone (``OPENBLAS_CORETYPE=Haswell`` keeps the AVX2 kernels), and
nothing changes when faiss was imported before (its library is loaded once
per process) or on a CPU without AVX-512. numpy's own OpenBLAS is loaded with
numpy, before this; setting ``OPENBLAS_CORETYPE=SkylakeX`` in the environment
of the process moves it (and scikit-learn's products) to the same kernels.
"""

# License: MIT

import os
import sys
import threading

__all__ = ["AVX512_CORETYPE", "import_faiss", "openblas_coretype"]

#: The OpenBLAS kernel family loaded on CPUs with AVX-512 (F, CD, BW, DQ, VL).
AVX512_CORETYPE = "SkylakeX"

_LOADED = []
_LOAD_LOCK = threading.Lock()


def openblas_coretype(environ, cpu_features):
    """The ``OPENBLAS_CORETYPE`` to load faiss with, or None to leave it alone.

    Parameters
    ----------
    environ : mapping
        The process environment.
    cpu_features : mapping of str to bool
        CPU features as numpy names them (``AVX512_SKX``).

    Returns
    -------
    coretype : str or None

    Examples
    --------
    >>> from sklearn_echo.neighbors._faiss import openblas_coretype
    >>> openblas_coretype({}, {"AVX512_SKX": True})
    'SkylakeX'
    >>> openblas_coretype({"OPENBLAS_CORETYPE": "Haswell"}, {"AVX512_SKX": True}) is None
    True
    >>> openblas_coretype({}, {"AVX2": True}) is None
    True
    """
    if "OPENBLAS_CORETYPE" in environ or not cpu_features.get("AVX512_SKX", False):
        return None
    return AVX512_CORETYPE


def _cpu_features():
    """numpy's table of the CPU's features (empty if this numpy has none)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy 1
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return __cpu_features__


def import_faiss():
    """The ``faiss`` module, imported on first use (it loads a large library).

    The first import runs with the ``OPENBLAS_CORETYPE`` that
    `openblas_coretype` chooses, if any (see the module's description).
    """
    if not _LOADED:
        # one thread imports; another asking meanwhile waits for the whole
        # module (sys.modules holds it half-initialised during the import)
        with _LOAD_LOCK:
            if not _LOADED:
                _LOADED.append(_load())
    return _LOADED[0]


def _load():
    coretype = None if "faiss" in sys.modules else openblas_coretype(os.environ, _cpu_features())
    if coretype is not None:
        os.environ["OPENBLAS_CORETYPE"] = coretype
    try:
        import faiss
    finally:
        if coretype is not None:
            os.environ.pop("OPENBLAS_CORETYPE", None)
    return faiss
