"""Shared test fixtures: paths into ``../shared`` (next to the project root)."""

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
FIXTURE_DIR = SHARED / "fixtures" / "echo_reference"
DATA_DIR = SHARED / "data"
CWRU_DIR = DATA_DIR / "cwru"
MIMII_DIR = DATA_DIR / "mimii_fan_id00"
TINY_SAFETENSORS = FIXTURE_DIR / "tiny_echo.safetensors"
TINY_PTH = FIXTURE_DIR / "tiny_echo_checkpoint.pth"


@pytest.fixture(scope="session")
def shared_dir():
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def tiny_checkpoint():
    """Path of the tiny ECHO checkpoint (published format) used as the model in tests."""
    return str(TINY_SAFETENSORS)


@pytest.fixture(scope="session")
def fixture_data():
    """The 12 reference cases: ``[(signal, rate)]``, the expected outputs, the case records."""
    signals = np.load(FIXTURE_DIR / "signals.npz")
    expected = np.load(FIXTURE_DIR / "expected.npz")
    cases = json.loads((FIXTURE_DIR / "cases.json").read_text())["cases"]
    sigs = [
        (signals[f"signal_{c['key']}"], float(signals["sample_rates"][i]))
        for i, c in enumerate(cases)
    ]
    return sigs, expected, cases
