"""Live sample sources of ``sklearn-echo monitor``: raw PCM, a recording being written, a sound card.

Every source yields blocks of float32 samples ``(frames, channels)``:

- `PcmDecoder` turns bytes of interleaved little-endian PCM (``s16le``,
  ``s32le``, ``f32le``, as ``arecord -t raw`` or ``ffmpeg -f s16le`` write
  them) into samples, carrying a partial frame over to the next bytes. A
  stream that ends inside a frame, and bytes that do not look like the
  format named (float samples read as integers or the reverse), are errors
  that say so, never silent zeros.
- `read_stream` reads a binary stream (standard input) until it ends.
- `follow_file` reads a file as it grows (a WAV file being recorded, whose
  header may still announce a wrong length, or raw PCM), until it has not
  grown for ``idle_timeout`` seconds.
- `sound_card` records from a sound card with the optional ``sounddevice``
  package.
"""

from __future__ import annotations

import os
import struct
import time

import numpy as np

from .errors import CommandError

__all__ = ["FORMATS", "PcmDecoder", "WavHeader", "follow_file", "read_stream", "read_wav_header", "sound_card"]

FORMATS = {"s16le": np.dtype("<i2"), "s32le": np.dtype("<i4"), "f32le": np.dtype("<f4")}
"""Raw PCM formats: name -> sample type (little-endian, channels interleaved)."""

FLOAT_LIMIT = 1e6
"""Largest magnitude accepted from ``f32le``: integer PCM read as floats gives far larger
values (and NaN); a float signal in volts or g stays far below."""

BLOCK_BYTES = 1 << 15
"""Bytes read at a time (about 1 s of 16 kHz 16-bit mono)."""


class PcmDecoder:
    """Bytes of interleaved PCM to float32 samples ``(frames, channels)``.

    Parameters
    ----------
    format : {"s16le", "s32le", "f32le"}
    channels : int
    sample_rate : float
        Only used to say where a problem is, in seconds.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_echo.cli.pcm import PcmDecoder
    >>> dec = PcmDecoder("s16le", channels=2, sample_rate=8000)
    >>> dec.decode(np.array([16384, -16384, 8192], "<i2").tobytes()).tolist()
    [[0.5, -0.5]]
    >>> dec.decode(np.array([0], "<i2").tobytes()).tolist()
    [[0.25, 0.0]]
    >>> dec.frames
    2
    """

    def __init__(self, format, channels, sample_rate):
        if format not in FORMATS:
            raise CommandError(f"unknown PCM format {format!r}; one of {', '.join(FORMATS)}")
        self.format = format
        self.dtype = FORMATS[format]
        self.channels = int(channels)
        self.sample_rate = float(sample_rate)
        self.frame_bytes = self.dtype.itemsize * self.channels
        self.frames = 0
        self._rest = b""
        self._error = None  # raised at the next call: the samples before it come first

    def _where(self, frame=0):
        return f"{(self.frames + frame) / self.sample_rate:.3f} s"

    def decode(self, data: bytes) -> np.ndarray:
        """Samples of the complete frames in ``data`` (with the bytes left over before).

        Bad samples end the stream: the frames before the first one are
        returned, and this call's next one raises the error.
        """
        if self._error is not None:
            raise self._error
        data = self._rest + data
        usable = len(data) - len(data) % self.frame_bytes
        self._rest = data[usable:]
        raw = np.frombuffer(data[:usable], dtype=self.dtype)
        if self.format == "f32le":
            x = raw.astype(np.float32)
            bad = ~np.isfinite(x) | (np.abs(x) > FLOAT_LIMIT)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                good = i // self.channels
                self._error = CommandError(
                    f"sample {float(x[i])!r} at {self._where(good)} is not a plausible "
                    "f32le sample (NaN, infinite or above 1e6 in magnitude): the input does not "
                    "look like 32-bit float PCM; check --format"
                )
                self._rest = b""
                x = x[: good * self.channels]
        else:
            self._check_not_float(data[:usable])
            x = raw.astype(np.float32) / float(-np.iinfo(self.dtype).min)
        out = x.reshape(-1, self.channels)
        self.frames += out.shape[0]
        return out

    def _check_not_float(self, data: bytes):
        """Integer PCM whose bytes read as float32 are all small finite numbers is float PCM."""
        n = len(data) // 4
        if n < 256:
            return
        as_float = np.frombuffer(data[: 4 * n], dtype="<f4")
        if np.all(np.isfinite(as_float)) and np.max(np.abs(as_float)) <= 16.0 and np.any(as_float):
            raise CommandError(
                f"the bytes from {self._where()} read as 32-bit floats are all plausible float "
                f"samples: the input looks like f32le, not {self.format}; check --format"
            )

    def finish(self):
        """The stream ended: an error when it ended inside a frame (or held bad samples)."""
        if self._error is not None:
            raise self._error
        if self._rest:
            raise CommandError(
                f"the input ended mid-sample after {self._where()}: {len(self._rest)} byte(s) "
                f"left over, a frame of {self.format} x {self.channels} channel(s) is "
                f"{self.frame_bytes} bytes (the input was cut, or --format/--channels do not "
                "match it)"
            )


def read_stream(stream, decoder, block_bytes=BLOCK_BYTES):
    """Blocks of samples from a binary stream (a pipe, standard input) until it ends."""
    fd = stream.fileno() if hasattr(stream, "fileno") else None
    while True:
        data = os.read(fd, block_bytes) if fd is not None else stream.read(block_bytes)
        if not data:
            decoder.finish()
            return
        block = decoder.decode(data)
        if len(block):
            yield block
        if decoder._error is not None:
            raise decoder._error


# --------------------------------------------------------------------------- WAV files
class WavHeader:
    """What a WAV file's header says: format, channels, rate, where the samples start."""

    def __init__(self, format, channels, sample_rate, data_offset):
        self.format, self.channels = format, channels
        self.sample_rate, self.data_offset = sample_rate, data_offset


def read_wav_header(f, name):
    """The `WavHeader` of an open WAV file, or None while the header is incomplete.

    The ``data`` chunk's length is not used: a recorder writes it when it
    stops, and the file is followed past it.
    """
    f.seek(0)
    head = f.read(12)
    if len(head) < 12:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise CommandError(f"{name} is not a WAV file (no RIFF/WAVE header); for raw PCM give --format")
    fmt = None
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return None
        cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"data":
            if fmt is None:
                raise CommandError(f"{name}: the WAV data chunk comes before its fmt chunk")
            return WavHeader(*fmt, f.tell())
        body = f.read(size + (size & 1))
        if len(body) < size:
            return None
        if cid == b"fmt ":
            tag, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if tag == 0xFFFE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]
            kinds = {(1, 16): "s16le", (1, 32): "s32le", (3, 32): "f32le"}
            if (tag, bits) not in kinds:
                raise CommandError(
                    f"{name}: WAV samples of format {tag} with {bits} bits cannot be followed "
                    "live (16- or 32-bit integer PCM or 32-bit float)"
                )
            fmt = (kinds[tag, bits], channels, float(rate))


def follow_file(path, *, format=None, channels=1, sample_rate=None, idle_timeout=5.0,
                poll=0.05, block_bytes=BLOCK_BYTES, on_header=None):
    """Blocks of samples of a file as it grows; ends when it has not grown for ``idle_timeout`` s.

    A WAV file gives its own format, channels and rate (``on_header(header)``
    is called with them once read); otherwise ``format``, ``channels`` and
    ``sample_rate`` describe raw PCM.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise CommandError(f"{name} does not exist")
    with open(name, "rb") as f:
        last = time.monotonic()
        if format is None:
            header = read_wav_header(f, name)
            while header is None:
                if time.monotonic() - last > idle_timeout:
                    raise CommandError(f"{name}: no complete WAV header after {idle_timeout:g} s")
                time.sleep(poll)
                header = read_wav_header(f, name)
            format, channels, sample_rate = header.format, header.channels, header.sample_rate
            f.seek(header.data_offset)
            if on_header is not None:
                on_header(header)
        decoder = PcmDecoder(format, channels, sample_rate)
        while True:
            data = f.read(block_bytes)
            if data:
                last = time.monotonic()
                block = decoder.decode(data)
                if len(block):
                    yield block
                if decoder._error is not None:
                    raise decoder._error
                continue
            if time.monotonic() - last > idle_timeout:
                decoder.finish()
                return
            time.sleep(poll)


def sound_card(device, sample_rate, channels, block_seconds=0.1):
    """Blocks recorded from a sound card (``device``: index or name; None: the default)."""
    import queue

    try:
        import sounddevice
    except ImportError:
        raise CommandError(
            "recording from a sound card needs the sounddevice package: "
            "pip install 'sklearn-echo[sound]'"
        ) from None
    blocks: queue.Queue = queue.Queue()

    def callback(indata, frames, time_info, status):
        blocks.put(indata.copy())

    try:
        stream = sounddevice.InputStream(
            samplerate=sample_rate, channels=channels, dtype="float32", device=device,
            blocksize=max(1, int(block_seconds * sample_rate)), callback=callback,
        )
    except Exception as exc:  # noqa: BLE001 - PortAudio errors have their own type
        raise CommandError(f"cannot open sound card {device!r}: {exc}") from None
    with stream:
        while True:
            yield blocks.get()
