"""``csv_columns``: the signal columns of CSV files, on the real PHM 2012 files.

Each PRONOSTIA snapshot holds the clock in its first four columns and the two
accelerometers in the last two; ``csv_columns`` keeps the accelerometers.
"""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_echo import EchoEmbedder
from sklearn_echo.cli import main
from sklearn_echo.signals import SignalError, load_signals, scan_signals

from .conftest import DATA_DIR, TINY_SAFETENSORS

PHM_DIR = DATA_DIR / "phm2012_bearing" / "Bearing1_1"
PHM_RATE = 25600
TINY = str(TINY_SAFETENSORS)


@pytest.fixture(scope="module")
def phm_files():
    files = sorted(str(p) for p in PHM_DIR.glob("acc_*.csv"))
    assert len(files) == 40
    return files[:4] + files[-4:]  # healthy and degraded snapshots


def test_embedder_takes_the_chosen_columns(phm_files):
    every = EchoEmbedder(model=TINY, sample_rate=PHM_RATE)
    X_every = every.fit_transform(phm_files)
    assert every.n_channels_ == 6  # the clock is read as four channels

    chosen = EchoEmbedder(model=TINY, sample_rate=PHM_RATE, csv_columns=[4, 5])
    X_chosen = chosen.fit_transform(phm_files)
    assert chosen.n_channels_ == 2
    assert X_chosen.shape == (len(phm_files), X_every.shape[1] // 3)

    arrays = [np.loadtxt(f, delimiter=",")[:, 4:6].T for f in phm_files]
    X_arrays = EchoEmbedder(model=TINY, sample_rate=PHM_RATE).fit_transform(arrays)
    np.testing.assert_array_equal(X_chosen, X_arrays)
    # counted from the last column: the same channels
    np.testing.assert_array_equal(
        EchoEmbedder(model=TINY, sample_rate=PHM_RATE, csv_columns=(-2, -1)).fit_transform(phm_files),
        X_chosen,
    )


def test_header_names_choose_columns(tmp_path, phm_files):
    data = np.loadtxt(phm_files[0], delimiter=",")
    path = tmp_path / "snapshot.csv"
    np.savetxt(path, data, delimiter=",", header="hour,minute,second,us,h_acc,v_acc", comments="")
    [by_name] = load_signals([path], PHM_RATE, csv_columns=["v_acc", "h_acc"])
    np.testing.assert_array_equal(by_name.data, data[:, [5, 4]].T.astype(np.float32))
    [by_index] = load_signals([path], PHM_RATE, csv_columns=[5, 4])
    np.testing.assert_array_equal(by_name.data, by_index.data)


def test_column_errors_name_the_file_and_the_rule(tmp_path, phm_files):
    with pytest.raises(SignalError, match=r"csv_columns index 6 is out of range for .*acc_00001\.csv, "
                                          r"which has 6 columns"):
        load_signals(phm_files[:1], PHM_RATE, csv_columns=[4, 6])
    with pytest.raises(SignalError, match=r"names the column 'h_acc', but .* has no header row"):
        scan_signals(phm_files[:1], PHM_RATE, csv_columns=["h_acc"])
    with pytest.raises(TypeError, match="csv_columns must be None"):
        load_signals(phm_files[:1], PHM_RATE, csv_columns=[4.0])


def test_command_line_option(tmp_path, phm_files, capsys):
    out = tmp_path / "phm.npz"
    status = main([
        "embed", *phm_files, "--sample-rate", str(PHM_RATE), "--csv-columns=-2,-1",
        "-o", str(out), "--model", TINY,
    ])
    assert status == 0, capsys.readouterr().err
    saved = np.load(out)
    assert saved["n_channels"].tolist() == [2] * len(phm_files)
    X = EchoEmbedder(model=TINY, sample_rate=PHM_RATE, csv_columns=[4, 5]).fit_transform(phm_files)
    np.testing.assert_array_equal(saved["embeddings"], X)
    assert saved["skipped"].shape == (0, 2)
