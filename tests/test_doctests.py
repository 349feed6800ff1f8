"""The examples in the public docstrings run and print what they claim."""

import doctest
import importlib
import os
import pkgutil

import pytest

import sklearn_echo

from .conftest import ROOT

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(sklearn_echo.__path__, "sklearn_echo.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # examples refer to ../shared like the tests do
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_every_public_estimator_has_an_example():
    for name in ("EchoEmbedder", "EchoKNNClassifier", "EchoKNNAnomalyDetector", "DEGramClassifier"):
        doc = getattr(sklearn_echo, name).__doc__
        assert "Examples" in doc and ">>>" in doc, name
    assert os.path.isdir(ROOT / "sklearn_echo")
