"""Content-addressed embedding cache: the same samples are never embedded twice.

A key is a hash of the samples' bytes, the sampling rate, the checkpoint's
SHA-256 and the numeric settings (dtype, device type, and whether segments
were asked for). Values are the raw per-band vectors (utterance ``(B, D)``
or segments ``(P, B, D)``, before any band layout), so one cache serves
every layout. The in-memory cache is shared by all embedders of a process
(clones made by ``GridSearchCV`` included) and bounded in bytes; a disk cache
(``cache="some/dir"``) also persists ``.npy`` files, read back with
``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["content_key", "EmbeddingCache", "memory_cache", "cache_info", "clear_cache"]

DEFAULT_MAX_BYTES = 1 << 30


def content_key(samples: np.ndarray, sample_rate: float, settings: str) -> str:
    """Hex digest identifying one mono signal's embedding under ``settings``."""
    h = hashlib.blake2b(digest_size=20)
    h.update(settings.encode())
    h.update(np.float64(sample_rate).tobytes())
    h.update(str(samples.shape).encode())
    h.update(memoryview(np.ascontiguousarray(samples, dtype=np.float32)).cast("B"))
    return h.hexdigest()


class EmbeddingCache:
    """A bounded LRU cache of embeddings in memory, optionally backed by a folder.

    Parameters
    ----------
    max_bytes : int, default=1 GiB
        Memory bound; the least recently used entries are dropped past it.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, directory: str | os.PathLike | None = None):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
                self.hits += 1
                return value
        if directory is not None:
            path = Path(directory) / key[:2] / f"{key}.npy"
            if path.is_file():
                try:
                    value = np.load(path, allow_pickle=False)
                except (OSError, ValueError):
                    value = None  # a torn write: recompute and overwrite
                if value is not None:
                    self._store(key, value)
                    with self._lock:
                        self.hits += 1
                    return value
        with self._lock:
            self.misses += 1
        return None

    def put(self, key: str, value: np.ndarray, directory: str | os.PathLike | None = None):
        value = np.ascontiguousarray(value, dtype=np.float32)
        self._store(key, value)
        if directory is not None:
            folder = Path(directory) / key[:2]
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{key}.{os.getpid()}.tmp.npy"
            np.save(tmp, value, allow_pickle=False)
            os.replace(tmp, folder / f"{key}.npy")

    def _store(self, key, value):
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._data[key] = value
            self._bytes += value.nbytes
            while self._bytes > self.max_bytes and len(self._data) > 1:
                _, dropped = self._data.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self):
        with self._lock:
            self._data.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def info(self) -> dict:
        with self._lock:
            return {
                "entries": len(self._data),
                "bytes": self._bytes,
                "hits": self.hits,
                "misses": self.misses,
            }


memory_cache = EmbeddingCache()


def cache_info() -> dict:
    """Entries, bytes, hits and misses of the process-wide embedding cache.

    Examples
    --------
    >>> from sklearn_echo.echo.cache import cache_info
    >>> sorted(cache_info())
    ['bytes', 'entries', 'hits', 'misses']
    """
    return memory_cache.info()


def clear_cache():
    """Empty the process-wide in-memory embedding cache and drop the cached encoders.

    Disk caches stay. Encoders (and the GPU memory they hold) are loaded again
    on next use.

    Examples
    --------
    >>> from sklearn_echo.echo.cache import cache_info, clear_cache
    >>> clear_cache()
    >>> cache_info()["entries"]
    0
    """
    memory_cache.clear()
    checkpoint = sys.modules.get(__package__ + ".checkpoint")
    if checkpoint is not None:  # no encoder was ever loaded otherwise
        checkpoint.clear_encoder_cache()
