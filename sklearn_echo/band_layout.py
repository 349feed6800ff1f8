"""Band layouts: how per-band CLS outputs become one fixed-order feature vector.

ECHO gives one ``D``-dim vector per frequency band, and the number of bands
depends on the sampling rate (12 kHz: 5, 16 kHz: 7, 48 kHz: 19). A layout maps
the ``B`` band vectors of a signal to ``K`` slots:

``"concat"``
    The reference: the ``B`` bands side by side (``K = B``). Every signal of a
    fitted embedder must have the same band count.
``"relative"``
    ``K`` slots on a fixed grid of *relative* frequency (0 to Nyquist): the
    bands of the lowest sampling rate seen in ``fit``. A signal at another
    rate contributes each of its bands to the slots it overlaps, weighted by
    the overlap, so any rate maps to the same width (and the lowest rate maps
    to its own bands exactly). This follows ECHO's own frequency encoding,
    which is relative to Nyquist.
``"hz"``
    Slots aligned on *absolute* frequency: every band spans about 1280 Hz at
    every rate (32 bins of about 40 Hz), so band ``b`` covers the same Hz at
    12 and at 48 kHz. ``K`` is the band count of the lowest rate seen in
    ``fit``: the common frequency range of the fitted signals. Bands above it
    are dropped; a signal whose rate does not reach the range is an error
    (refit with that rate included), never zero-filled.
``"mean"``
    The mean of all bands (``K = 1``).
"""

from __future__ import annotations

import numpy as np

from .echo.bands import band_plan

__all__ = ["LAYOUTS", "n_slots", "layout_matrix", "apply_layout", "describe_slots"]

LAYOUTS = ("concat", "relative", "hz", "mean")


def n_slots(layout: str, sample_rates, band_width: int = 32) -> int:
    """Number of slots ``K`` of ``layout`` for the rates seen in ``fit``."""
    counts = sorted({band_plan(sr, band_width).n_bands for sr in sample_rates})
    if not counts:
        raise ValueError("no sampling rates to fit a band layout on")
    if layout == "concat":
        if len(counts) > 1:
            raise ValueError(_mixed_message(sample_rates, band_width))
        return counts[0]
    if layout == "relative":
        return counts[0]
    if layout == "hz":
        return counts[0]
    if layout == "mean":
        return 1
    raise ValueError(f"unknown band_layout {layout!r}; use one of {LAYOUTS}")


def _mixed_message(sample_rates, band_width) -> str:
    by_count: dict[int, list] = {}
    for sr in sorted(set(sample_rates)):
        by_count.setdefault(band_plan(sr, band_width).n_bands, []).append(f"{sr:g} Hz")
    parts = ", ".join(f"{', '.join(r)} -> {n} bands" for n, r in sorted(by_count.items()))
    return (
        "band_layout='concat' needs every signal to have the same number of bands, "
        f"but the sampling rates give different counts ({parts}). Resample to one "
        "rate, or use band_layout='relative' or 'hz' for a fixed width at any rate."
    )


def _relative_edges(sample_rate: float, band_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative (0 = DC, 1 = Nyquist) lower and upper edges of every band at ``sample_rate``."""
    plan = band_plan(sample_rate, band_width)
    bin_rel = (sample_rate / plan.n_fft) / (sample_rate / 2.0)
    starts = np.arange(plan.n_bands) * band_width
    ends = np.minimum(starts + band_width, plan.n_bins)
    lo = np.minimum(starts * bin_rel, 1.0)
    hi = np.minimum(ends * bin_rel, 1.0)
    hi[-1] = 1.0  # the last band reaches Nyquist
    return lo, hi


def layout_matrix(
    layout: str,
    sample_rate: float,
    k: int,
    band_width: int = 32,
    reference_rate: float | None = None,
) -> np.ndarray:
    """The ``(K, B)`` matrix that maps a signal's ``B`` band vectors to ``K`` slots.

    For ``"relative"``, the slots are the bands of ``reference_rate`` (the
    lowest rate seen in ``fit``) on the relative-frequency axis, and each
    band contributes to a slot in proportion to their overlap.
    """
    plan = band_plan(sample_rate, band_width)
    b = plan.n_bands
    if layout == "concat":
        if b != k:
            raise ValueError(
                f"band_layout='concat' was fitted on signals with {k} bands, but "
                f"{sample_rate:g} Hz gives {b} bands; use band_layout='relative' or 'hz' "
                "to mix sampling rates"
            )
        return np.eye(k, dtype=np.float32)
    if layout == "mean":
        return np.full((1, b), 1.0 / b, dtype=np.float32)
    if layout == "hz":
        if b < k:
            raise ValueError(
                f"band_layout='hz' was fitted on a common range of {k} bands "
                f"(0 to about {k * band_width * sample_rate / plan.n_fft / 1000:.1f} kHz), but "
                f"{sample_rate:g} Hz gives only {b} bands; refit with this rate included"
            )
        return np.eye(k, b, dtype=np.float32)
    if layout == "relative":
        ref = sample_rate if reference_rate is None else reference_rate
        slot_lo, slot_hi = _relative_edges(ref, band_width)
        if len(slot_lo) != k:
            raise ValueError(f"reference rate {ref:g} Hz gives {len(slot_lo)} slots, not {k}")
        lo, hi = _relative_edges(sample_rate, band_width)
        overlap = np.clip(
            np.minimum(slot_hi[:, None], hi[None, :]) - np.maximum(slot_lo[:, None], lo[None, :]),
            0.0,
            None,
        )
        weights = overlap / overlap.sum(axis=1, keepdims=True)
        return weights.astype(np.float32)
    raise ValueError(f"unknown band_layout {layout!r}; use one of {LAYOUTS}")


def apply_layout(bands: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map band vectors ``(..., B, D)`` to slot-concatenated features ``(..., K * D)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.band_layout import apply_layout, layout_matrix
    >>> bands = np.ones((7, 4), dtype=np.float32)          # 7 bands of D = 4 (16 kHz)
    >>> apply_layout(bands, layout_matrix("mean", 16000, 1)).shape
    (4,)
    """
    lead = bands.shape[:-2]
    slots = np.einsum("kb,...bd->...kd", matrix, bands, optimize=True)
    return np.ascontiguousarray(slots.reshape(*lead, -1), dtype=np.float32)


def describe_slots(layout: str, k: int) -> list[str]:
    """Short names of the slots, used in feature names."""
    if layout == "mean":
        return ["bands"]
    return [f"band{i}" for i in range(k)]
