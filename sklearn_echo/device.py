"""Device and precision choices shared by every torch-backed estimator."""

from __future__ import annotations

import functools
import warnings

import torch

__all__ = ["resolve_device", "resolve_dtype", "cpu_has_fast_bfloat16", "DTYPES"]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(probe is None for probe in probes):
        return None
    try:
        return bool(any(probe() for probe in probes))
    except RuntimeError:
        return None


def resolve_dtype(dtype="float32", device: torch.device | None = None) -> torch.dtype:
    """Map ``"float32"``, ``"bfloat16"`` or ``"float16"`` to a torch dtype for ``device``.

    float16 is only offered on GPU: on CPU it is slow and has no advantage
    over bfloat16. bfloat16 on a CPU without bfloat16 instructions (see
    `cpu_has_fast_bfloat16`) gives a ``UserWarning``: it runs, but slower
    than float32.

    Examples
    --------
    >>> from sklearn_echo.device import resolve_dtype
    >>> resolve_dtype("bfloat16")
    torch.bfloat16
    """
    if isinstance(dtype, torch.dtype):
        dt = dtype
    else:
        if dtype not in DTYPES:
            raise ValueError(
                f"dtype={dtype!r} is not supported; use one of {sorted(DTYPES)}"
            )
        dt = DTYPES[dtype]
    if dt not in DTYPES.values():
        raise ValueError(f"dtype={dtype!r} is not supported; use one of {sorted(DTYPES)}")
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
