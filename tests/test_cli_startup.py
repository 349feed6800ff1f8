"""``sklearn-echo --help`` starts light: no torch, pandas, matplotlib, ... and well under a second.

Building the parser must import none of the heavy modules (commands import
them when they run), and the input layer imports its readers only when a file
is read. Each check runs in a fresh process, as a user's command does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

COMMANDS = ["embed", "detect", "classify", "info"]
HEAVY = [
    "torch", "pandas", "matplotlib", "dask", "numba", "scipy.stats", "scipy.io", "soundfile",
    "sklearn", "sklearn_echo.embedder", "sklearn_echo.echo.model",
]
HELP_SECONDS = 3.0  # generous for a loaded machine; about 0.3 s on a quiet 2-core one


def console_script() -> str:
    for candidate in (Path(sys.executable).with_name("sklearn-echo"), shutil.which("sklearn-echo")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("the sklearn-echo console script is not installed (pip install -e .)")


def imported_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running ``code``."""
    probe = (
        "import contextlib, io, json, sys\n"
        f"{code}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_help_of_every_command_imports_no_heavy_module():
    code = (
        "from sklearn_echo.cli import main\n"
        f"for argv in [[]] + [[c] for c in {COMMANDS!r}]:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main(argv + ['--help'])\n"
        "        except SystemExit as exc:\n"
        "            assert exc.code == 0, (argv, exc.code)\n"
    )
    assert imported_after(code) == []


def test_signals_package_imports_no_reader():
    assert imported_after("import sklearn_echo.signals") == []


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_is_fast(command):
    argv = [console_script()] + ([command] if command else []) + ["--help"]
    subprocess.run(argv, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
    assert "usage: sklearn-echo" in out.stdout
    print(f"sklearn-echo {command or ''} --help: best of 3 {min(times):.2f} s")
    assert min(times) < HELP_SECONDS


def test_python_dash_m_runs_the_command():
    out = subprocess.run(
        [sys.executable, "-m", "sklearn_echo", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: sklearn-echo" in out.stdout and "embed" in out.stdout
