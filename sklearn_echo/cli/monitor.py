"""``sklearn-echo monitor``: score a live signal window by window with a saved detector.

SOURCE is ``-`` (raw PCM on standard input, described by ``--format``,
``--rate`` and ``--channels``), ``soundcard`` or ``soundcard:DEVICE`` (the
optional ``sounddevice`` package), or a file: a WAV file (format from its
header) or raw PCM (with ``--format``), followed as it grows until it has not
grown for ``--idle-timeout`` seconds.

Standard output gets one JSON line per window (``time``, ``end``,
``anomaly_score``, ``p_value``, ``over``, ``alarm``) as soon as it is scored,
then one ``{"summary": ...}`` line when the input ends, on Ctrl-C or on
SIGTERM. A problem in the input (a rate or channel count the detector was not
fitted on, bytes that do not match ``--format``, a stream cut inside a sample)
ends the command with an error after the summary; the windows scored before it
stay in the output.
"""

from __future__ import annotations

import json
import signal
import sys

from .detectors import EXIT_ALARM, detector_options
from .errors import EXIT_OK, CommandError
from .files import check_output
from .options import add_command, positive_float, positive_int

__all__ = ["register"]


def register(sub, common):
    """Register ``monitor`` and its options (``common`` is not used: the detector file holds them)."""
    from .pcm import FORMATS

    p = add_command(
        sub, "monitor", _cmd_monitor, detector_options(),
        help="score a live signal (PCM on stdin, a growing file, a sound card) window by window",
        description="Score a live signal window by window with a detector written by "
        "'sklearn-echo fit': one JSON line per window, a summary at the end (end of input, "
        f"Ctrl-C or SIGTERM). Exit status 0, or {EXIT_ALARM} when an alarm fired, 1 on bad input.",
    )
    p.add_argument("source", metavar="SOURCE",
                   help="'-' for raw PCM on standard input, 'soundcard[:DEVICE]', or a WAV or raw "
                   "PCM file (followed as it grows)")
    p.add_argument("--format", choices=sorted(FORMATS), default=None,
                   help="raw PCM sample format (needed for '-' and raw files; WAV files give theirs)")
    p.add_argument("--rate", type=positive_float, default=None, metavar="HZ",
                   help="sampling rate of raw PCM or the sound card (default: the detector's)")
    p.add_argument("--channels", type=positive_int, default=1, metavar="N",
                   help="interleaved channels of raw PCM or the sound card (default: %(default)s)")
    p.add_argument("--hop", type=positive_float, default=1.0, metavar="SECONDS",
                   help="seconds between window starts (default: %(default)s)")
    p.add_argument("--smooth", type=positive_int, default=1, metavar="N",
                   help="moving median over N windows before the threshold (default: %(default)s)")
    p.add_argument("--consecutive", type=positive_int, default=1, metavar="M",
                   help="alarm after M consecutive windows over the threshold (default: %(default)s)")
    p.add_argument("--idle-timeout", type=positive_float, default=5.0, metavar="SECONDS",
                   help="stop following a file that has not grown for this long (default: %(default)s)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="write the anomaly-score trace with the threshold and the alarms")
    return p


class _Stop(Exception):
    """SIGTERM: stop as on Ctrl-C."""


def _blocks(args, saved, rate):
    from . import pcm

    source = args.source
    if source == "-":
        if args.format is None:
            raise CommandError("raw PCM on standard input needs --format (s16le, s32le or f32le)")
        return pcm.read_stream(sys.stdin.buffer, pcm.PcmDecoder(args.format, args.channels, rate))
    if source == "soundcard" or source.startswith("soundcard:"):
        device = source.partition(":")[2] or None
        if device is not None and device.isdigit():
            device = int(device)
        return pcm.sound_card(device, rate, args.channels)
    return pcm.follow_file(
        source, format=args.format, channels=args.channels, sample_rate=rate,
        idle_timeout=args.idle_timeout,
    )


def _wav_rate(args):
    """A WAV source's own rate and channels, read before the stream is set up (None otherwise)."""
    import os

    from . import pcm

    if args.source == "-" or args.source.startswith("soundcard") or args.format is not None:
        return None
    if not os.path.exists(args.source):
        raise CommandError(f"{args.source} does not exist")
    import time

    deadline = time.monotonic() + args.idle_timeout
    with open(args.source, "rb") as f:
        header = pcm.read_wav_header(f, args.source)
        while header is None and time.monotonic() < deadline:
            time.sleep(0.05)
            header = pcm.read_wav_header(f, args.source)
    if header is None:
        raise CommandError(f"{args.source}: no complete WAV header after {args.idle_timeout:g} s")
    return header


def _line(w, smoothing):
    row = {"window": w.index, "time": round(w.start, 6), "end": round(w.end, 6),
           "anomaly_score": -w.score}
    if smoothing > 1:
        row["smoothed"] = -w.smoothed
    row.update(p_value=w.p_value, over=bool(w.over), alarm=bool(w.alarm))
    return json.dumps(row)


def _cmd_monitor(args) -> int:
    import numpy as np

    from ..streaming import ScoreStream
    from .detectors import open_detector

    check_output(args.plot, "plot")
    saved = open_detector(args)
    if saved.window is None:
        raise CommandError(
            f"{args.detector} was fitted on whole recordings, not on windows: fit it with "
            "'sklearn-echo fit --window SECONDS' to monitor"
        )
    header = _wav_rate(args)
    rate, channels = args.rate, args.channels
    if header is not None:
        rate, channels = header.sample_rate, header.channels
        if args.rate is not None and args.rate != rate:
            raise CommandError(f"{args.source} is sampled at {rate:g} Hz, not --rate {args.rate:g}")
    if rate is None:
        rate = float(saved.embedder.sample_rates_[0])
    scorer = ScoreStream(
        saved.pipeline, rate, window=saved.window, hop=args.hop, smoothing=args.smooth,
        consecutive=args.consecutive, n_channels=channels,
    )
    trace = [] if args.plot else None
    error, stopped_by = None, "end of input"

    def stop(signum, frame):
        raise _Stop()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for block in _blocks(args, saved, rate):
            for w in scorer.push(block):
                print(_line(w, args.smooth), flush=True)
                if trace is not None:
                    trace.append((w.start, -w.smoothed, w.alarm))
    except KeyboardInterrupt:
        stopped_by = "interrupt"
    except _Stop:
        stopped_by = "SIGTERM"
    except (CommandError, ValueError, OSError) as exc:
        error, stopped_by = exc, "error"
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = scorer.summary()
    summary["threshold"] = -scorer.threshold  # on the anomaly score, as the lines
    summary["stopped_by"] = stopped_by
    if error is not None:
        summary["error"] = str(error).splitlines()[0]
    print(json.dumps({"summary": summary}), flush=True)
    if trace is not None:
        _plot(args.plot, np.array(trace, dtype=np.float64).reshape(-1, 3), -scorer.threshold,
              saved.window)
        print(f"wrote {args.plot}", file=sys.stderr)
    if error is not None:
        raise error
    return EXIT_ALARM if scorer.n_alarms else EXIT_OK


def _plot(path, trace, threshold, window):
    """The anomaly-score trace, the threshold and the windows in alarm."""
    from .plots import figure, save

    fig = figure(9.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    if len(trace):
        t, score, alarm = trace[:, 0], trace[:, 1], trace[:, 2].astype(bool)
        ax.plot(t, score, color="tab:blue", linewidth=1.0, label="anomaly score")
        if alarm.any():
            ax.scatter(t[alarm], score[alarm], color="tab:red", s=14, zorder=3, label="alarm")
            for start in t[alarm]:
                ax.axvspan(start, start + window, color="tab:red", alpha=0.12, linewidth=0)
    if threshold != float("inf"):
        ax.axhline(threshold, color="tab:orange", linestyle="--", label="threshold")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("anomaly score")
    ax.set_title(f"{len(trace)} windows of {window:g} s")
    ax.legend(loc="upper left")
    save(fig, path)
