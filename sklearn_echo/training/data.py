"""Training examples: random crops, random bands and masks, drawn reproducibly per step.

Every training step ``s`` of rank ``r`` takes the examples at global
positions ``g = s * global_batch + r * batch_size + k`` (``k < batch_size``);
position ``g`` is item ``perm_e[g % n]`` of epoch ``e = g // n``, where
``perm_e`` is a permutation drawn from the seed and ``e``. Everything random
about an example (crop start, bands, masks) comes from a generator seeded
with ``(seed, g)``. A batch is therefore a function of ``(seed, step, rank)``
alone: ranks read disjoint shards of each global batch, one process with the
global batch size sees exactly the same examples, ``DataLoader`` workers
produce whole batches independently, and resuming at step ``s`` needs no
saved data state.

An example is one channel of one signal: a crop of ``crop_frames`` frames
(random start; a shorter signal's spectrogram is zero-padded at the end, as
inference pads the last patch), from which 2 to 5 bands of 32 bins are cut at
random start bins, each with the relative position of its true centre
frequency. The spectrogram, its normalisation and the patching are those of
inference (`sklearn_echo.echo.spectrogram`, `sklearn_echo.echo.bands`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..echo.bands import band_plan, n_frames, stft_params
from ..echo.batching import signal_mean
from ..echo.spectrogram import echo_spectrogram
from .masking import inverse_block_mask

__all__ = [
    "ExampleSpec",
    "PretrainingDataset",
    "SignalSource",
    "TrainingItem",
    "band_position",
    "collate",
    "crop_frames_for",
    "make_example",
    "training_items",
]

MAX_CROP_FRAMES = 2000


@dataclass(frozen=True)
class TrainingItem:
    """One mono training signal: channel ``channel`` of item ``position`` of the scanned set."""

    position: int
    channel: int
    sample_rate: float
    n_samples: int
    source: str

    @property
    def frames(self) -> int:
        return n_frames(self.n_samples, self.sample_rate)


def training_items(infos, channels: str = "all") -> list[TrainingItem]:
    """One `TrainingItem` per channel of every signal (``channels="first"``: channel 0 only)."""
    items = []
    for position, info in enumerate(infos):
        count = 1 if channels == "first" else info.n_channels
        for c in range(count):
            items.append(TrainingItem(position, c, float(info.sample_rate), int(info.n_samples),
                                      info.source))
    return items


def crop_frames_for(items, crop_seconds: float | None, patch_width: int = 16,
                    max_frames: int = MAX_CROP_FRAMES) -> int:
    """Frames per training crop, a multiple of ``patch_width``.

    ``crop_seconds=None``: the shortest signal's frame count rounded up to a
    whole patch, at most ``max_frames`` (2000 frames, 20 s, the positional
    table). Otherwise ``crop_seconds * 100`` frames rounded up to a whole patch.
    Signals shorter than the crop are zero-padded at the end.

    Raises
    ------
    ValueError
        When ``crop_seconds`` asks for more than ``max_frames`` frames.

    Examples
    --------
    >>> from sklearn_echo.training.data import TrainingItem, crop_frames_for
    >>> items = [TrainingItem(0, 0, 16000.0, 160000, "X[0]"), TrainingItem(1, 0, 16000.0, 40000, "X[1]")]
    >>> crop_frames_for(items, None), crop_frames_for(items, 5.0)
    (256, 512)
    """
    if crop_seconds is None:
        frames = min(it.frames for it in items)
    else:
        frames = int(np.ceil(round(crop_seconds * 100.0, 6)))
        if frames > max_frames:
            raise ValueError(
                f"crop_seconds={crop_seconds} gives {frames} frames, more than the "
                f"{max_frames} frames ({max_frames / 100:g} s) the positional table covers"
            )
    frames = max(1, frames)
    return min(max_frames, -(-frames // patch_width) * patch_width)


def band_position(start: int, end: int, sample_rate: float, n_fft: int) -> float:
    """Relative centre frequency of bins ``[start, end)``, as inference computes it.

    ``center_bin = (start + end - 1) / 2``, ``p = center_bin * sr / n_fft / (sr / 2)``.

    Examples
    --------
    >>> from sklearn_echo.echo.bands import band_plan
    >>> from sklearn_echo.training.data import band_position
    >>> bool(band_position(64, 96, 16000, 400) == band_plan(16000).positions[2])
    True
    """
    center_hz = (start + end - 1) / 2.0 * sample_rate / n_fft
    return center_hz / (sample_rate / 2.0)


class SignalSource:
    """Reads the channels of scanned signals on demand, keeping the most recent ones.

    Parameters
    ----------
    scanned : sklearn_echo.signals.ScannedSignals
    max_samples : int, default=2**25
        Samples kept in memory (about 128 MB of float32); files are read again
        when they have been dropped.
    """

    def __init__(self, scanned, max_samples: int = 2**25):
        self.scanned = scanned
        self.max_samples = max_samples
        self._kept: OrderedDict = OrderedDict()
        self._size = 0

    def channel(self, item: TrainingItem) -> tuple[np.ndarray, float]:
        """``(samples, mean)`` of the item's channel; the mean is the DC value inference removes."""
        key = (item.position, item.channel)
        hit = self._kept.get(key)
        if hit is not None:
            self._kept.move_to_end(key)
            return hit
        signal = self.scanned.signal(item.position)
        x = np.ascontiguousarray(signal.data[item.channel], dtype=np.float32)
        hit = (x, signal_mean(x))
        self._kept[key] = hit
        self._size += x.size
        while self._size > self.max_samples and len(self._kept) > 1:
            _, (old, _) = self._kept.popitem(last=False)
            self._size -= old.size
        return hit

    def __getstate__(self):
        return {"scanned": self.scanned, "max_samples": self.max_samples}

    def __setstate__(self, state):
        self.__init__(state["scanned"], state["max_samples"])


@dataclass(frozen=True)
class ExampleSpec:
    """What every example looks like (everything but the randomness)."""

    crop_frames: int
    min_bands: int = 2
    max_bands: int = 5
    mask_ratio: float = 0.8
    clone_batch: int = 4
    mask_block: int = 3
    band_width: int = 32
    patch_width: int = 16

    @property
    def n_patches(self) -> int:
        return self.crop_frames // self.patch_width


def make_example(x: np.ndarray, mean: float, sample_rate: float, spec: ExampleSpec,
                 rng: np.random.Generator) -> dict:
    """One example: band patches, band positions and ``clone_batch`` masks per band.

    Returns
    -------
    dict with ``patches`` (nb, P, band_width * patch_width) float32 tensor,
    ``positions`` (nb,) float64 array, ``keep`` (nb * C, K) int64 and
    ``masked`` (nb * C, P) bool arrays (band ``i``'s copies at rows ``i*C .. i*C+C-1``).
    """
    n_fft, hop = stft_params(sample_rate)
    total = n_frames(len(x), sample_rate)
    t = spec.crop_frames
    start = int(rng.integers(0, total - t + 1)) if total > t else 0
    count = min(t, total)
    segment = x[start * hop : (start + count - 1) * hop + n_fft]
    spectrogram = echo_spectrogram(segment, sample_rate, mean=mean)
    n_bins = spectrogram.shape[0]
    bw, pw, p = spec.band_width, spec.patch_width, spec.n_patches
    n_bands = int(rng.integers(spec.min_bands, spec.max_bands + 1))
    bands = torch.zeros(n_bands, bw, t)
    if n_bins >= bw:
        starts = rng.integers(0, n_bins - bw + 1, size=n_bands)
        for i, b in enumerate(starts):
            bands[i, :, :count] = spectrogram[b : b + bw]
        positions = np.array([band_position(int(b), int(b) + bw, sample_rate, n_fft) for b in starts])
    else:  # fewer bins than one band: the single inference band, zero-padded on its low side
        plan = band_plan(sample_rate, bw)
        bands[:, plan.low_pad :, :count] = spectrogram
        positions = np.repeat(plan.positions[:1], n_bands)
    patches = bands.view(n_bands, bw, p, pw).permute(0, 2, 1, 3).reshape(n_bands, p, bw * pw)
    keeps, maskeds = [], []
    for _ in range(n_bands):
        keep, masked = inverse_block_mask(p, spec.mask_ratio, spec.clone_batch, rng, spec.mask_block)
        keeps.append(keep)
        maskeds.append(masked)
    return {
        "patches": patches,
        "positions": positions,
        "keep": np.concatenate(keeps),
        "masked": np.concatenate(maskeds),
    }


def collate(examples: list[dict]) -> dict:
    """Stack examples into one batch of band sequences (all of the same length)."""
    return {
        "patches": torch.cat([e["patches"] for e in examples]),
        "positions": torch.from_numpy(np.concatenate([e["positions"] for e in examples])),
        "keep": torch.from_numpy(np.concatenate([e["keep"] for e in examples])),
        "masked": torch.from_numpy(np.concatenate([e["masked"] for e in examples])),
        "n_examples": len(examples),
    }


class PretrainingDataset(IterableDataset):
    """Batches of training examples for steps ``start_step, start_step + 1, ...`` of one rank.

    Use it with ``DataLoader(dataset, batch_size=None, num_workers=n)``: each
    worker builds every ``n``-th batch, and the loader returns them in step order.

    Parameters
    ----------
    source : SignalSource
    items : list of TrainingItem
    spec : ExampleSpec
    batch_size : int
        Examples per rank and step.
    seed : int
    start_step : int, default=0
    stop_step : int or None, default=None
        Last step (exclusive); ``None`` never stops.
    rank, world_size : int
    """

    def __init__(self, source, items, spec: ExampleSpec, batch_size: int, seed: int,
                 start_step: int = 0, stop_step: int | None = None, rank: int = 0,
                 world_size: int = 1):
        self.source, self.items, self.spec = source, list(items), spec
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.start_step, self.stop_step = int(start_step), stop_step
        self.rank, self.world_size = int(rank), int(world_size)
        self._perms: dict[int, np.ndarray] = {}

    def _item(self, g: int) -> TrainingItem:
        n = len(self.items)
        epoch = g // n
        perm = self._perms.get(epoch)
        if perm is None:
            perm = np.random.default_rng([self.seed, 0, epoch]).permutation(n)
            self._perms = {epoch: perm}
        return self.items[perm[g % n]]

    def example(self, g: int) -> dict:
        """The example at global position ``g``."""
        item = self._item(g)
        x, mean = self.source.channel(item)
        rng = np.random.default_rng([self.seed, 1, g])
        return make_example(x, mean, item.sample_rate, self.spec, rng)

    def batch(self, step: int) -> dict:
        """The batch of ``step`` for this rank."""
        first = (step * self.world_size + self.rank) * self.batch_size
        return collate([self.example(first + k) for k in range(self.batch_size)])

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        step = self.start_step + worker
        while self.stop_step is None or step < self.stop_step:
            yield self.batch(step)
            step += workers


def fixed_batches(source, items, spec: ExampleSpec, batch_size: int, seed: int) -> list[dict]:
    """Validation batches: every item once, with randomness fixed by ``seed``."""
    batches = []
    for first in range(0, len(items), batch_size):
        examples = []
        for k, item in enumerate(items[first : first + batch_size]):
            x, mean = source.channel(item)
            rng = np.random.default_rng([seed, 2, first + k])
            examples.append(make_example(x, mean, item.sample_rate, spec, rng))
        batches.append(collate(examples))
    return batches
