"""The README runs as written: its Python blocks in order, its commands parse.

The README reads the model and the data folder from ``ECHO_MODEL`` and
``ECHO_DATA`` (defaults ``echo-small`` and ``data``); here they point at the
fixture checkpoint and ``../shared/data``.
"""

from __future__ import annotations

import re
import shlex

import numpy as np
import pytest

from sklearn_echo.cli import build_parser

from .conftest import DATA_DIR, ROOT, TINY_SAFETENSORS

README = ROOT / "README.md"


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def commands(block: str) -> list[str]:
    """``sklearn-echo`` command lines of a shell block (continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", block)
    found = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # VAR=value prefixes
            words = words[1:]
        if words and words[0] == "sklearn-echo":
            found.append(words[1:])
    return found


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


def test_setup_section_is_kept(readme):
    setup = re.search(r"^## Set up\n(.*?)(?=^## )", readme, flags=re.S | re.M).group(1)
    block = re.search(r"<!-- setup-commands -->\n```bash\n(.*?)```\n<!-- /setup-commands -->", setup, re.S)
    assert block.group(1).splitlines() == [
        'pip install torch==2.13.0 && pip install -e ".[test]" && sklearn-echo demo',
        "python -m pytest -q",
    ]


def test_python_blocks_run_in_order(readme, monkeypatch, tmp_path):
    monkeypatch.setenv("ECHO_MODEL", str(TINY_SAFETENSORS))
    monkeypatch.setenv("ECHO_DATA", str(DATA_DIR))
    monkeypatch.chdir(tmp_path)
    code = blocks(readme, "python")
    assert len(code) >= 5
    namespace: dict = {"__name__": "readme"}
    for i, block in enumerate(code):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)

    # quick start: 18 CWRU recordings, 9 classes, k chosen among [1, 3]
    search = namespace["search"]
    assert len(namespace["files"]) == 18 and len(set(namespace["y"])) == 9
    assert search.best_params_["echoknnclassifier__n_neighbors"] in (1, 3)
    assert 0.0 <= search.best_score_ <= 1.0
    # anomaly detection: 20 scores, DCASE sign (higher = more anomalous)
    scores = namespace["scores"]
    assert scores.shape == (20,)
    np.testing.assert_allclose(
        scores, namespace["detector"][-1].anomaly_score(namespace["detector"][0].transform(namespace["test"]))
    )
    # mixed rates: 18 + 9 recordings, one width (the fixture model has D = 128)
    assert namespace["emb"].transform(namespace["X"]).shape == (27, 5 * 128)
    # scale-out: the same embeddings, whichever way they were computed
    X_ref = namespace["EchoEmbedder"](model=str(TINY_SAFETENSORS)).fit_transform(namespace["normal"])
    np.testing.assert_allclose(namespace["X_normal"], X_ref, atol=1e-5)
    np.testing.assert_allclose(np.asarray(namespace["X_dask"]), X_ref, atol=1e-5)


def test_shell_commands_parse(readme):
    parser = build_parser()
    found = [cmd for block in blocks(readme, "bash") for cmd in commands(block)]
    assert {cmd[0] for cmd in found} >= {"info", "embed", "detect", "classify"}
    for cmd in found:
        parser.parse_args(cmd)  # a usage error would exit with status 2
