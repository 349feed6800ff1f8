"""Device, precision and thread choices shared by every torch-backed estimator.

``n_jobs`` has one meaning throughout the package, scikit-learn's: ``None``
is 1 unless a ``joblib.parallel_config`` context says otherwise, ``-1`` is
every core, ``-2`` all but one (`effective_n_jobs`). Code that sets torch's
thread count does it only inside `torch_threads`, which puts the process
setting back on exit.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the functions that need it, so that the
    import torch  # k-NN estimators count their threads here without loading it

__all__ = [
    "resolve_device",
    "resolve_dtype",
    "cpu_has_fast_bfloat16",
    "cpu_has_vnni",
    "effective_n_jobs",
    "torch_threads",
]

INT8 = "int8"
"""The quantized precision: int8 weights and activations in the linear layers
(`sklearn_echo.echo.quantize`); its parameters stay float32, so it is not a torch dtype
of the model's parameters."""


@functools.lru_cache(maxsize=None)
def _dtypes() -> dict:
    """The floating-point precisions by name."""
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device="auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a torch.device into a torch.device.

    ``"auto"`` picks CUDA when it is available, else the CPU. Asking for CUDA
    on a machine without it is an error, not a silent fallback.

    Examples
    --------
    >>> from sklearn_echo.device import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"device={device!r} is not a valid device; use 'auto', 'cpu' or 'cuda[:N]'"
            ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "use device='cpu' or device='auto'"
        )
    return dev


@functools.lru_cache(maxsize=None)
def cpu_has_fast_bfloat16() -> bool | None:
    """Whether this CPU has bfloat16 matrix instructions (AVX512-BF16 or AMX).

    ``True`` or ``False`` on x86 CPUs (read from torch's CPU feature probe);
    ``None`` when it cannot tell (other architectures, or a torch without the
    probe). Without them bfloat16 arithmetic is emulated and slower than float32.

    Examples
    --------
    >>> from sklearn_echo.device import cpu_has_fast_bfloat16
    >>> cpu_has_fast_bfloat16() in (True, False, None)
    True
    """
    import torch

    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(probe is None for probe in probes):
        return None
    try:
        return bool(any(probe() for probe in probes))
    except RuntimeError:
        return None


@functools.lru_cache(maxsize=None)
def cpu_has_vnni() -> bool | None:
    """Whether this CPU has int8 dot-product instructions (AVX512-VNNI or AVX-VNNI).

    ``None`` when torch cannot tell. Without them torch's int8 kernels run
    on slower instruction sequences, with 7-bit weights (`sklearn_echo.echo.quantize.weight_bits`).

    Examples
    --------
    >>> from sklearn_echo.device import cpu_has_vnni
    >>> cpu_has_vnni() in (True, False, None)
    True
    """
    import torch

    probe = getattr(torch.cpu, "_is_vnni_supported", None)
    if probe is None:
        return None
    try:
        return bool(probe())
    except RuntimeError:
        return None


def _check_int8(device: torch.device | None):
    """Refuse int8 where no int8 kernel exists; warn where it is emulated slowly."""
    import torch

    if device is not None and device.type != "cpu":
        raise ValueError(
            f"dtype='int8' is not supported on device {str(device)!r}: the int8 kernels "
            "(torch's quantized CPU engines) have no GPU path; on a GPU use "
            "dtype='bfloat16' (or 'float16'), on CPU device='cpu'"
        )
    engines = torch.backends.quantized.supported_engines
    if not any(e in engines for e in ("onednn", "x86", "fbgemm", "qnnpack")):
        raise ValueError(
            "dtype='int8' needs one of torch's quantized CPU engines (onednn, x86, fbgemm "
            f"or qnnpack); this torch build has {engines}: use dtype='float32' or 'bfloat16'"
        )
    if cpu_has_vnni() is False:
        warnings.warn(
            "dtype='int8' on this CPU, which has no int8 dot-product instructions "
            "(AVX512-VNNI or AVX-VNNI): the int8 products fall back to a slower path "
            "with 7-bit weights, a little less close to float32 than with VNNI; time it "
            "against dtype='float32' on your signals (bfloat16 is emulated on CPUs "
            "without bfloat16 instructions)",
            UserWarning,
            stacklevel=4,
        )


def resolve_dtype(dtype="float32", device: torch.device | None = None) -> torch.dtype:
    """Map ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"int8"`` to a torch dtype for ``device``.

    float16 is only offered on GPU: on CPU it is slow and has no advantage
    over bfloat16. bfloat16 on a CPU without bfloat16 instructions (see
    `cpu_has_fast_bfloat16`) gives a ``UserWarning``: it runs, but slower
    than float32. ``"int8"`` (quantized linear layers, see
    `sklearn_echo.echo.quantize`) maps to ``torch.int8``; it runs on CPU only
    (an error elsewhere) and warns on a CPU without VNNI (see `cpu_has_vnni`).

    Examples
    --------
    >>> from sklearn_echo.device import resolve_dtype
    >>> resolve_dtype("bfloat16")
    torch.bfloat16
    >>> import torch
    >>> resolve_dtype("int8", torch.device("cpu"))
    torch.int8
    """
    import torch

    if dtype == INT8 or dtype is torch.int8:
        _check_int8(device)
        return torch.int8
    if isinstance(dtype, torch.dtype):
        dt = dtype
    else:
        if dtype not in _dtypes():
            raise ValueError(
                f"dtype={dtype!r} is not supported; use one of {sorted([*_dtypes(), INT8])}"
            )
        dt = _dtypes()[dtype]
    if dt not in _dtypes().values():
        raise ValueError(
            f"dtype={dtype!r} is not supported; use one of {sorted([*_dtypes(), INT8])}"
        )
    if dt == torch.float16 and (device is None or device.type != "cuda"):
        raise ValueError(
            "dtype='float16' is only supported on a CUDA device; on CPU use "
            "dtype='bfloat16' (fast) or 'float32' (exact)"
        )
    on_cpu = device is None or device.type == "cpu"
    if dt == torch.bfloat16 and on_cpu and cpu_has_fast_bfloat16() is False:
        warnings.warn(
            "dtype='bfloat16' on this CPU, which has no bfloat16 matrix instructions "
            "(AVX512-BF16 or AMX): it is emulated and runs slower than float32; use "
            "dtype='float32' here",
            UserWarning,
            stacklevel=3,
        )
    return dt


def effective_n_jobs(n_jobs=None) -> int:
    """Workers that ``n_jobs`` stands for, as scikit-learn counts them.

    ``None`` is 1 unless a ``joblib.parallel_config(n_jobs=...)`` context is
    active; negative values count back from the number of cores (``-1`` all
    of them).

    Examples
    --------
    >>> from sklearn_echo.device import effective_n_jobs
    >>> effective_n_jobs(None), effective_n_jobs(2)
    (1, 2)
    """
    from joblib import effective_n_jobs as joblib_effective_n_jobs

    return max(1, int(joblib_effective_n_jobs(n_jobs)))


_THREADS_LOCK = threading.Lock()


@contextlib.contextmanager
def torch_threads(n_jobs=None):
    """Run a block with ``effective_n_jobs(n_jobs)`` torch intra-op threads, then restore.

    The process-wide setting (``torch.get_num_threads()``) is put back on exit,
    also after an exception, so an estimator never leaves torch with another
    thread count than it found.

    Examples
    --------
    >>> import torch
    >>> from sklearn_echo.device import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    n = effective_n_jobs(n_jobs)
    with _THREADS_LOCK:
        old = torch.get_num_threads()
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        with _THREADS_LOCK:
            torch.set_num_threads(old)
