"""The example scripts run on the real recordings (quick mode, fixture checkpoint).

Each script is started as a user starts it, all at once (each process pays the
torch import), and its printed metrics and figure are checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from .conftest import DATA_DIR, ROOT, TINY_SAFETENSORS
from .test_cli import assert_png

EXAMPLES = ROOT / "examples"
OURS = {
    "cwru_fault_classification.py": ["cwru_confusion.png"],
    "mimii_anomaly_detection.py": ["mimii_roc.png"],
    "cwru_mixed_rates.py": ["cwru_mixed_rates.png"],
}
DEGRAM = EXAMPLES / "degram_cwru.py"  # the DEGram example, when it exists


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    scripts = list(OURS) + (["degram_cwru.py"] if DEGRAM.is_file() else [])
    env = dict(os.environ, HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    procs = {}
    for name in scripts:
        out = tmp_path_factory.mktemp(name[:-3])
        options = {"--model": str(TINY_SAFETENSORS), "--data": str(DATA_DIR), "--out": str(out)}
        source = (EXAMPLES / name).read_text()
        cmd = [sys.executable, str(EXAMPLES / name), "--quick"]
        for option, value in options.items():
            if name in OURS or f'"{option}"' in source:  # the options a script declares
                cmd += [option, value]
        log = open(out / "log.txt", "w")
        procs[name] = (subprocess.Popen(cmd, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT), out, log)
    results = {}
    for name, (proc, out, log) in procs.items():
        proc.wait(timeout=600)
        log.close()
        results[name] = (proc.returncode, (out / "log.txt").read_text(), out)
    return results


def finished(runs, name):
    code, log, out = runs[name]
    assert code == 0, log
    return log, out


def number(pattern, log):
    match = re.search(pattern, log, re.M)
    assert match, f"{pattern!r} not printed:\n{log}"
    value = float(match.group(1))
    assert 0.0 <= value <= 1.0
    return value


def test_cwru_fault_classification(runs):
    log, out = finished(runs, "cwru_fault_classification.py")
    assert "18 recordings, 72 segments of 0.5 s, 9 classes" in log
    tests = [number(rf"^train load {load} -> test other load: best k = \d+ .* test accuracy: ([0-9.]+)$", log)
             for load in (0, 1)]
    mean = number(r"^mean cross-load accuracy: ([0-9.]+)$", log)
    assert mean == pytest.approx(sum(tests) / 2, abs=1e-3)
    assert mean > 1 / 9  # better than chance, even with the random-weight fixture
    assert_png(out / "cwru_confusion.png")


def test_mimii_anomaly_detection(runs):
    log, out = finished(runs, "mimii_anomaly_detection.py")
    assert "memory bank: 5 normal clips; test: 5 normal, 4 abnormal" in log
    number(r"^AUC: ([0-9.]+)$", log)
    number(r"^pAUC \(max_fpr=0\.1\): ([0-9.]+)$", log)
    assert re.search(r"^flagged as anomalous: \d of 4 abnormal, \d of 5 normal$", log, re.M)
    assert_png(out / "mimii_roc.png")


def test_cwru_mixed_rates(runs):
    log, out = finished(runs, "cwru_mixed_rates.py")
    assert "band_layout='concat' cannot mix rates" in log
    for layout in ("hz", "relative"):
        for protocol in (r"12k -> 48k", r"48k -> 12k", r"mixed 3-fold"):
            number(rf"^\s*{layout}\s+{protocol}\s+accuracy: ([0-9.]+)$", log)
        assert re.search(rf"^\s*{layout}\s+embedding width at both rates: 640$", log, re.M)
    assert_png(out / "cwru_mixed_rates.png")


@pytest.mark.skipif(not DEGRAM.is_file(), reason="examples/degram_cwru.py is not written yet")
def test_degram_example(runs):
    log, out = finished(runs, "degram_cwru.py")
    pngs = list(out.glob("*.png"))
    assert pngs, f"no figure written:\n{log}"
    for png in pngs:
        assert_png(png)
    assert re.search(r"accuracy[^\n]*?([01]\.\d+)", log, re.I), log
