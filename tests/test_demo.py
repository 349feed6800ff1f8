"""The package runs its job out of the box: packaged model, bundled clips, ``sklearn-echo demo``.

Everything here runs offline (``HF_HUB_OFFLINE=1``): the ``echo-demo`` alias
resolves to the file inside the package, ``load_demo`` reads the bundled
clips, the command prints AUC and pAUC and writes the ROC plot, and the wheel
and the sdist carry the model, the clips and their cards.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest

from sklearn_echo.cli import main
from sklearn_echo.datasets import load_demo
from sklearn_echo.echo.checkpoint import (
    load_encoder,
    packaged_checkpoint,
    resolve_checkpoint,
)
from sklearn_echo.echo.models import MODEL_ALIASES, PACKAGED_MODELS

from .conftest import ROOT

ASSETS = ROOT / "sklearn_echo" / "assets"
PACKAGED_FILES = [
    "sklearn_echo/assets/echo-demo.safetensors",
    "sklearn_echo/assets/echo-demo.md",
    "sklearn_echo/assets/demo/ATTRIBUTION.md",
    "sklearn_echo/assets/demo/train_normal_00.flac",
    "sklearn_echo/assets/demo/test_abnormal_03.flac",
]


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_echo_demo_alias_resolves_to_the_packaged_file(offline):
    path = resolve_checkpoint("echo-demo")
    assert path == ASSETS / "echo-demo.safetensors" == packaged_checkpoint("echo-demo")
    assert "echo-demo" not in MODEL_ALIASES and PACKAGED_MODELS["echo-demo"] == path.name
    config = load_encoder("echo-demo", device="cpu").config
    assert (config.embed_dim, config.depth) == (128, 4)
    assert path.stat().st_size < 5_000_000
    with pytest.raises(ValueError, match="'echo-big' is not a packaged model"):
        packaged_checkpoint("echo-big")


def test_model_card_states_the_shipped_file():
    card = (ASSETS / "echo-demo.md").read_text()
    digest = hashlib.sha256((ASSETS / "echo-demo.safetensors").read_bytes()).hexdigest()
    assert re.search(r"SHA-256[^`]*`([0-9a-f]{64})`", card).group(1) == digest
    for needed in ("CC BY-SA 4.0", "random initialisation", "log-mel statistics",
                   "MIMII AUC", "CWRU 12k->48k", "ECHO-Small", "train_demo_model.py"):
        assert needed in card, needed


def test_load_demo_paths_and_arrays():
    demo = load_demo()
    assert len(demo.train) == 4 and len(demo.test) == 8 and demo.sample_rate == 16000
    assert demo.y_test.tolist() == [0] * 4 + [1] * 4
    assert all("normal" in os.path.basename(p) for p in demo.train)
    assert ["abnormal" in os.path.basename(p) for p in demo.test] == demo.y_test.astype(bool).tolist()
    assert "CC BY-SA 4.0" in demo.DESCR and "MIMII" in demo.DESCR
    arrays = load_demo(as_arrays=True)
    assert [x.shape for x in arrays.test] == [(32000,)] * 8
    assert all(x.dtype == np.float32 and np.abs(x).max() <= 1.0 for x in arrays.train)
    assert arrays.test_files == demo.test_files
    total = sum(os.path.getsize(p) for p in demo.train_files + demo.test_files)
    assert total < 600_000


def test_demo_command_runs_offline(offline, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    auc = float(re.search(r"^AUC: ([0-9.]+)$", out, re.MULTILINE).group(1))
    pauc = float(re.search(r"^pAUC \(max_fpr=0.1\): ([0-9.]+)$", out, re.MULTILINE).group(1))
    assert 0.0 <= pauc <= 1.0 and 0.5 < auc <= 1.0
    assert "model: echo-demo" in out
    assert (tmp_path / "demo_roc.png").read_bytes()[:4] == b"\x89PNG"
    assert "sklearn-echo detect --normal" in out


def test_demo_without_matplotlib_skips_the_plot(offline, tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    roc = tmp_path / "roc.png"
    assert main(["demo", "--roc", str(roc)]) == 0
    out = capsys.readouterr().out
    assert "matplotlib is not installed" in out and "AUC: " in out
    assert not roc.exists()


def test_demo_bad_roc_folder_is_an_error(tmp_path, capsys):
    assert main(["demo", "--roc", str(tmp_path / "missing" / "roc.png")]) == 1
    assert "folder" in capsys.readouterr().err


@pytest.mark.slow
def test_wheel_and_sdist_carry_model_clips_and_cards(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "sklearn_echo", src / "sklearn_echo",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out)], cwd=src, check=True, timeout=300)
    build_sdist = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    subprocess.run([sys.executable, "-c", build_sdist, str(out)], cwd=src, check=True,
                   timeout=300, capture_output=True)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as z:
        in_wheel = set(z.namelist())
    with tarfile.open(sdist) as t:
        in_sdist = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for name in PACKAGED_FILES:
        assert name in in_wheel, name
        assert name in in_sdist, name
    assert len([n for n in in_wheel if n.endswith(".flac")]) == 12
    assert wheel.stat().st_size < 10_000_000
