"""The documentation site builds offline without a warning, and what it shows runs.

``mkdocs build --strict`` fails on any warning: a broken link or anchor, a page
missing from the nav or a nav entry without a page, an API object that
mkdocstrings cannot find or a docstring it cannot parse.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from sklearn_echo.cli import build_parser

from .conftest import DATA_DIR, ROOT, TINY_SAFETENSORS
from .test_readme import blocks, commands

DOCS = ROOT / "docs"
GUIDE_PAGES = [
    "index.md", "architecture.md", "quickstart.md", "input-forms.md", "band-layouts.md", "neighbors.md",
    "degram.md", "performance.md", "scaling.md", "cli.md",
]
API_CONTENT = {  # page -> text its rendered docstrings must contain
    "embedder": ["EchoEmbedder", "n_features_out_", "model_fingerprint_", "band_layout"],
    "neighbors": ["EchoKNNClassifier", "EchoKNNAnomalyDetector", "anomaly_score", "NeighborIndex"],
    "metrics": ["dcase_auc", "dcase_pauc", "dcase_official_score", "make_dcase_scorer"],
    "degram": ["DEGramClassifier"],
    "signals": ["load_signals", "expand_paths", "SignalError", "SignalFileNotFoundError"],
    "checkpoint": ["load_encoder", "resolve_checkpoint", "ModelNotAvailableError", "EchoConfig"],
    "pipeline": ["plan_chunks", "encode_chunks", "band_plan", "EmbeddingPipeline", "KernelOptions"],
    "cli": ["anomaly_label", "class_labels", "build_parser", "EXIT_ERROR"],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert not re.search(r"^(WARNING|ERROR)\b", log, re.M), log
    return out


def text_of(html_file) -> str:
    html = html_file.read_text()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_mkdocs_build_strict(site):
    for page in GUIDE_PAGES:
        name = page[:-3]
        built = site / "index.html" if name == "index" else site / name / "index.html"
        assert built.is_file(), f"{page} is not in the built site"
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in GUIDE_PAGES:
        assert re.search(rf":\s*{re.escape(page)}\s*$", nav, re.M), f"{page} is not in the nav"


@pytest.mark.parametrize("page, needles", sorted(API_CONTENT.items()))
def test_api_reference_is_generated_from_docstrings(site, page, needles):
    text = text_of(site / "api" / page / "index.html")
    for needle in needles:
        assert needle in text, f"{needle} missing from api/{page}"
    assert "Parameters" in text or page == "cli"


def test_site_needs_no_network(site):
    for html in site.rglob("*.html"):
        loaded = re.findall(r"""<(?:link|script)[^>]+(?:href|src)=["'](https?:)?//""", html.read_text())
        assert not loaded, f"{html.relative_to(site)} loads a resource from the network"


def test_every_cli_option_is_documented():
    doc = (DOCS / "cli.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, subparser in sub.choices.items():
        assert f"## {name}" in doc
        for action in subparser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    documented = re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", doc)
                    assert documented, f"{name} {option} is not in docs/cli.md"


def test_documented_commands_parse():
    parser = build_parser()
    n = 0
    for page in ["index.md", "quickstart.md", "cli.md", "scaling.md"]:
        for block in blocks((DOCS / page).read_text(), "bash"):
            for cmd in commands(block):
                if any("..." in word or word.startswith("[") for word in cmd):
                    continue  # a synopsis, not a command
                parser.parse_args(cmd)
                n += 1
    assert n >= 8


def test_quickstart_runs_as_written(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ECHO_MODEL", str(TINY_SAFETENSORS))
    monkeypatch.setenv("ECHO_DATA", str(DATA_DIR))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "quickstart"}
    for i, block in enumerate(blocks((DOCS / "quickstart.md").read_text(), "python")):
        exec(compile(block, f"docs/quickstart.md python block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert namespace["X"].shape == (18, 5 * 128)
    assert len(namespace["segments"]) == 180 and len(set(namespace["groups"])) == 18
    accuracy = float(re.search(r"leave-one-recording-out accuracy: ([0-9.]+)", out).group(1))
    assert accuracy == pytest.approx(np.mean(namespace["pred"] == np.array(namespace["labels"])), abs=1e-3)
    assert namespace["scores"].shape == (20,)
    assert re.search(r"AUC 0\.\d{3}, pAUC 0\.\d{3}", out)
    assert namespace["E_mixed"].shape == (27, 5 * 128)
    with np.load(tmp_path / "cwru_12k.npz") as saved:
        np.testing.assert_array_equal(saved["embeddings"], namespace["X"])
