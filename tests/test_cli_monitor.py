"""``sklearn-echo fit``, ``score`` and ``monitor`` as a user runs them, on crops of real recordings.

One ``fit`` runs first; the commands that read its detector then start at once
(each process pays the torch import). Input errors that need no new process
run through :func:`sklearn_echo.cli.main` with standard input replaced.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from safetensors.torch import load_file, save_file
from sklearn.pipeline import make_pipeline

from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector
from sklearn_echo.cli import main
from sklearn_echo.cli.detectors import EXIT_ALARM
from sklearn_echo.persistence import load_detector, save_detector

from .conftest import MIMII_DIR, TINY_SAFETENSORS
from .test_cli import assert_png, sklearn_echo_command

TINY = str(TINY_SAFETENSORS)
RATE = 16000


def wav_header(rate, channels=1, bits=16, data_bytes=0):
    """A PCM WAV header whose data length is still 0, as a recorder writes it before it stops."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", data_bytes))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitor")
    normal = sorted((MIMII_DIR / "normal").glob("*.wav"))
    abnormal = sorted((MIMII_DIR / "abnormal").glob("*.wav"))

    def crop(src, dst, seconds):
        data, rate = sf.read(src, frames=int(seconds * RATE), dtype="int16")
        dst.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dst, data, rate, subtype="PCM_16")
        return str(dst)

    bank = [crop(f, root / "normal" / f.name, 3.0) for f in normal[:4]]
    test = [crop(f, root / "test" / f"n{f.name}", 2.0) for f in normal[4:6]]
    test += [crop(f, root / "test" / f"a{f.name}", 2.0) for f in abnormal[:2]]
    live, _ = sf.read(abnormal[2], frames=int(4.5 * RATE), dtype="int16")  # the "live" signal
    (root / "live.s16").write_bytes(live.tobytes())
    return root, bank, test, live


@pytest.fixture(scope="module")
def runs(work):
    root, bank, test, live = work
    exe = sklearn_echo_command()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    fit = subprocess.run(
        exe + ["fit", "--normal", *bank, "-o", "fan.detector", "--fpr", "0.2", "--window", "1",
               "--model", TINY],
        cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert fit.returncode == 0, fit.stderr
    print(f"fit: {fit.stdout}")
    # a detector fitted with a checkpoint that has changed since
    ckpt = root / "moved.safetensors"
    shutil.copy(TINY, ckpt)
    rng = np.random.default_rng(0)
    p = make_pipeline(EchoEmbedder(model=str(ckpt), sample_rate=RATE), EchoKNNAnomalyDetector())
    save_detector(p.fit([rng.standard_normal(RATE) for _ in range(3)]), root / "old.detector", window=1.0)
    state = load_file(str(ckpt))
    state[min(state)] += 1e-3
    save_file(state, str(ckpt))

    growing = root / "growing.wav"
    growing.write_bytes(wav_header(RATE))
    commands = {
        "score": (exe + ["score", "--detector", "fan.detector", *test, "-o", "scores.csv"], None),
        "stdin": (exe + ["monitor", "--detector", "fan.detector", "-", "--format", "s16le",
                         "--rate", "16000", "--plot", "trace.png"], root / "live.s16"),
        "follow": (exe + ["monitor", "--detector", "fan.detector", str(growing), "--idle-timeout", "3"], None),
    }
    procs, started = {}, time.monotonic()
    for name, (cmd, stdin) in commands.items():
        with open(stdin or os.devnull, "rb") as f:  # the child keeps its own copy of the file
            procs[name] = subprocess.Popen(cmd, cwd=root, env=env, stdin=f,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Ctrl-C: a monitor that would follow the file for ten minutes more, interrupted
    interrupted = root / "interrupted.jsonl"
    with open(interrupted, "w") as f:
        ctrl_c = subprocess.Popen(
            exe + ["monitor", "--detector", "fan.detector", str(growing), "--idle-timeout", "600"],
            cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.PIPE, text=True,
            # Ctrl-C as in a terminal: a shell starts background jobs with SIGINT ignored,
            # and a child would inherit that (the tests may run in such a job)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def write_slowly():  # the recorder: half a second of samples every 0.25 s
        data = live.tobytes()
        step = RATE  # bytes: 0.5 s of 16-bit mono
        with open(growing, "ab") as f:
            for i in range(0, len(data), step):
                f.write(data[i : i + step])
                f.flush()
                time.sleep(0.25)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    out = {}
    # interrupted as soon as it has scored the 4 windows, while the other commands may still
    # run: its idle timeout must not end it first on a slow or busy machine
    deadline = time.monotonic() + 240
    while len(interrupted.read_text().splitlines()) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    ctrl_c.send_signal(signal.SIGINT)
    try:
        _, stderr = ctrl_c.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # fails test_ctrl_c_stops_with_the_summary, not the others
        ctrl_c.kill()
        stderr = "still running 60 s after SIGINT\n" + ctrl_c.communicate()[1]
    out["ctrl_c"] = (ctrl_c.returncode, interrupted.read_text(), stderr)
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[name] = (proc.returncode, stdout.decode(), stderr.decode())
        print(f"{name}: {time.monotonic() - started:.1f} s")
    writer.join()
    return root, out


def _lines(stdout):
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert "summary" in rows[-1]
    return rows[:-1], rows[-1]["summary"]


def test_fit_then_score(work, runs):
    root, out = runs
    _, _, test, _ = work
    rc, stdout, stderr = out["score"]
    assert rc in (0, EXIT_ALARM), stderr
    with open(root / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == sorted(test)
    assert list(rows[0]) == ["path", "anomaly_score", "p_value", "alarm", "windows", "worst_window_start"]
    saved = load_detector(root / "fan.detector")
    assert saved.window == 1.0 and saved.detector.fpr == 0.2
    n_alarms = 0
    for r in rows:
        x, _ = sf.read(r["path"], dtype="float32")
        scores = saved.pipeline.score_samples([x[:RATE], x[RATE : 2 * RATE]])
        assert float(r["anomaly_score"]) == pytest.approx(-scores.min(), rel=1e-6)
        p = min(1.0, 2 * saved.detector.p_values(saved.embedder.transform([x[:RATE], x[RATE:]])).min())
        assert float(r["p_value"]) == pytest.approx(p, rel=1e-5)
        assert int(r["alarm"]) == (p <= 0.2) and int(r["windows"]) == 2
        n_alarms += int(r["alarm"])
    assert rc == (EXIT_ALARM if n_alarms else 0)
    assert f"scored 4 recordings; {n_alarms} alarm" in stdout


def test_monitor_pcm_on_stdin_scores_as_offline_and_plots(work, runs):
    root, out = runs
    live = work[3].astype(np.float32) / 32768
    rc, stdout, stderr = out["stdin"]
    assert rc in (0, EXIT_ALARM), stderr
    lines, summary = _lines(stdout)
    assert [r["time"] for r in lines] == [0.0, 1.0, 2.0, 3.0]
    saved = load_detector(root / "fan.detector")
    offline = saved.pipeline.score_samples([live[i * RATE : (i + 1) * RATE] for i in range(4)])
    np.testing.assert_allclose([r["anomaly_score"] for r in lines], -offline, atol=1e-5)
    assert summary["windows"] == 4 and summary["seconds"] == 4.5 and summary["stopped_by"] == "end of input"
    assert summary["threshold"] == pytest.approx(-saved.detector.offset_)
    assert (rc == EXIT_ALARM) == (summary["alarms"] > 0)
    assert_png(root / "trace.png")


def test_monitor_follows_a_growing_wav_file(runs):
    _, out = runs
    rc, stdout, stderr = out["follow"]
    assert rc in (0, EXIT_ALARM), stderr
    lines, summary = _lines(stdout)
    stdin_lines, _ = _lines(out["stdin"][1])
    assert len(lines) == 4 and summary["windows"] == 4
    np.testing.assert_allclose([r["anomaly_score"] for r in lines],
                               [r["anomaly_score"] for r in stdin_lines], atol=1e-6)


def test_ctrl_c_stops_with_the_summary(runs):
    _, out = runs
    rc, stdout, stderr = out["ctrl_c"]
    assert rc in (0, EXIT_ALARM), stderr
    lines, summary = _lines(stdout)
    assert len(lines) == 4 and summary["stopped_by"] == "interrupt" and summary["windows"] == 4
    assert "Traceback" not in stderr


def test_detector_saved_with_another_checkpoint(runs, capsys):
    root, _ = runs
    rc = main(["score", "--detector", str(root / "old.detector"), str(root / "normal" / "*.wav")])
    stderr = capsys.readouterr().err
    assert rc == 1
    assert "old.detector" in stderr and "fitted with a checkpoint of SHA-256" in stderr
    assert len(set(re.findall(r"\b[0-9a-f]{64}\b", stderr))) == 2, stderr


# --------------------------------------------------------------------------- in-process errors
def _monitor(root, data: bytes, *args, monkeypatch, capsys):
    class Stdin:
        buffer = io.BytesIO(data)

    path = root / "stdin.bin"
    path.write_bytes(data)
    with open(path, "rb") as f:
        Stdin.buffer = f
        monkeypatch.setattr(sys, "stdin", Stdin)
        rc = main(["monitor", "--detector", str(root / "fan.detector"), *args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_bad_streams_keep_the_windows_scored_before(work, runs, monkeypatch, capsys):
    root, _ = runs
    live = work[3]
    # ends mid-sample: 2.5 s and one byte
    rc, stdout, err = _monitor(root, live[: int(2.5 * RATE)].tobytes() + b"\x01", "-", "--format", "s16le",
                               "--rate", "16000", monkeypatch=monkeypatch, capsys=capsys)
    lines, summary = _lines(stdout)
    assert rc == 1 and len(lines) == 2 and summary["stopped_by"] == "error"
    assert "ended mid-sample after 2.500 s: 1 byte(s) left over" in err
    # float PCM announced, integer PCM after 2.2 s of floats
    floats = (live[: int(2.2 * RATE)].astype("<f4") / 32768).tobytes()
    rc, stdout, err = _monitor(root, floats + live[RATE:].tobytes(), "-", "--format", "f32le", "--rate",
                               "16000", monkeypatch=monkeypatch, capsys=capsys)
    lines, _ = _lines(stdout)
    assert rc == 1 and len(lines) == 2 and "does not look like 32-bit float PCM; check --format" in err
    # integer PCM announced, float PCM given
    rc, stdout, err = _monitor(root, floats, "-", "--format", "s16le", "--rate", "16000",
                               monkeypatch=monkeypatch, capsys=capsys)
    assert rc == 1 and "looks like f32le, not s16le" in err
    # a rate or a channel count the detector was not fitted on
    rc, _, err = _monitor(root, live.tobytes(), "-", "--format", "s16le", "--rate", "48000",
                          monkeypatch=monkeypatch, capsys=capsys)
    assert rc == 1 and "48000 Hz is not one the embedder was fitted on (16000 Hz)" in err
    rc, _, err = _monitor(root, live.tobytes(), "-", "--format", "s16le", "--rate", "16000",
                          "--channels", "2", monkeypatch=monkeypatch, capsys=capsys)
    assert rc == 1 and "2 channel(s) but the embedder was fitted on 1" in err
    (root / "fast.wav").write_bytes(wav_header(48000) + live.tobytes())
    rc, _, err = _monitor(root, b"", str(root / "fast.wav"), "--idle-timeout", "0.2",
                          monkeypatch=monkeypatch, capsys=capsys)
    assert rc == 1 and "48000 Hz is not one the embedder was fitted on" in err
    rc, _, err = _monitor(root, b"", "-", monkeypatch=monkeypatch, capsys=capsys)
    assert rc == 1 and "needs --format" in err
    try:
        import sounddevice  # noqa: F401
    except ImportError:  # the optional extra is missing: said so
        rc, _, err = _monitor(root, b"", "soundcard", monkeypatch=monkeypatch, capsys=capsys)
        assert rc == 1 and "pip install 'sklearn-echo[sound]'" in err


def test_damaged_and_foreign_detector_files(runs, capsys, tmp_path):
    root, _ = runs
    (tmp_path / "notes.detector").write_text("not a detector")
    data = (root / "fan.detector").read_bytes()
    (tmp_path / "cut.detector").write_bytes(data[: len(data) // 3])
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    (tmp_path / "evil.detector").write_bytes(pickle.dumps(Evil()))
    expected = {
        "notes.detector": "is not a sklearn-echo detector file",
        "cut.detector": "cut.detector is damaged",
        "evil.detector": "is a pickle (joblib) file: loading it runs code",
        "missing.detector": "does not exist",
    }
    for name, message in expected.items():
        rc = main(["score", "--detector", str(tmp_path / name), str(Path(__file__))])
        assert rc == 1
        assert message in capsys.readouterr().err
    assert not marker.exists()


def test_fit_errors_and_joblib_detectors(work, capsys, tmp_path):
    _, bank, test, _ = work
    assert main(["fit", "--normal", bank[0], "-o", str(tmp_path / "d"), "--model", TINY]) == 1
    assert "at least 2 normal recordings" in capsys.readouterr().err
    assert main(["fit", "--normal", *bank, "-o", str(tmp_path / "d"), "--window", "10",
                 "--model", TINY]) == 1
    assert "is 3 s long, shorter than one 10 s window" in capsys.readouterr().err
    assert main(["fit", "--normal", *bank, "-o", str(tmp_path / "d.joblib"), "--window", "1",
                 "--fpr", "0.01", "--joblib", "--model", TINY]) == 0
    captured = capsys.readouterr()
    assert "12 windows cannot give a false-alarm rate of 0.01 (at least 99 are needed)" in captured.err
    assert main(["score", "--detector", str(tmp_path / "d.joblib"), test[0]]) == 1
    assert "--allow-pickle" in capsys.readouterr().err
    assert main(["score", "--detector", str(tmp_path / "d.joblib"), "--allow-pickle", test[0]]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["alarm"] == "0"  # no window can reach p <= 0.01
