"""Inverse block masking of a patch sequence, with an exact mask ratio.

EAT (and data2vec 2.0) mask spectrogram patches by choosing the patches to
*keep* as blocks and masking the rest ("inverse block masking"): the student
then sees a few contiguous stretches of the signal and must predict the long
masked gaps. Here the sequence is one band's 1-D row of patch tokens. The
number of masked patches is exactly ``round(mask_ratio * n_patches)`` for
every sequence, so the student's sequences all have the same length.
"""

from __future__ import annotations

import numpy as np

__all__ = ["inverse_block_mask", "n_masked"]


def n_masked(n_patches: int, mask_ratio: float) -> int:
    """Masked patches per sequence: ``round(mask_ratio * n_patches)``, leaving at least one visible.

    Examples
    --------
    >>> from sklearn_echo.training.masking import n_masked
    >>> n_masked(125, 0.8), n_masked(16, 0.75), n_masked(1, 0.8)
    (100, 12, 0)
    """
    return int(min(n_patches - 1, max(0, round(mask_ratio * n_patches))))


def inverse_block_mask(
    n_patches: int, mask_ratio: float, n_masks: int, rng: np.random.Generator, block: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_masks`` independent masks of one sequence of ``n_patches`` patches.

    Blocks of ``block`` consecutive patches are marked visible at random starts
    until enough are visible; visible patches beyond the exact count are then
    masked again at random, so that exactly ``n_masked(n_patches, mask_ratio)``
    patches are masked in every row.

    Parameters
    ----------
    n_patches : int
    mask_ratio : float in [0, 1)
    n_masks : int
        Masked copies of the sequence (EAT's "clone batch").
    rng : numpy.random.Generator
    block : int, default=3
        Length of the visible blocks.

    Returns
    -------
    keep : ndarray of shape (n_masks, n_visible), int64
        Indices of the visible patches of each copy, increasing.
    masked : ndarray of shape (n_masks, n_patches), bool
        True where a patch is masked.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.training.masking import inverse_block_mask
    >>> keep, masked = inverse_block_mask(20, 0.75, 2, np.random.default_rng(0))
    >>> keep.shape, masked.sum(axis=1).tolist()
    ((2, 5), [15, 15])
    """
    n_visible = n_patches - n_masked(n_patches, mask_ratio)
    block = max(1, min(block, n_patches))
    keep = np.empty((n_masks, n_visible), dtype=np.int64)
    masked = np.ones((n_masks, n_patches), dtype=bool)
    for row in range(n_masks):
        visible = np.zeros(n_patches, dtype=bool)
        while visible.sum() < n_visible:
            start = int(rng.integers(0, n_patches - block + 1))
            visible[start : start + block] = True
        extra = int(visible.sum()) - n_visible
        if extra:
            visible[rng.choice(np.flatnonzero(visible), size=extra, replace=False)] = False
        keep[row] = np.flatnonzero(visible)
        masked[row, keep[row]] = False
    return keep, masked
