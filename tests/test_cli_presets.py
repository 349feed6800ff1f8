"""``classify --preset``: the SIREN fault-classification settings, on the real CWRU files.

The accuracy each preset prints equals the one computed here with the same
embeddings and scikit-learn's splitters (k = 5, whole files).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.model_selection import LeaveOneOut, StratifiedKFold, cross_val_predict

from sklearn_echo import EchoEmbedder, EchoKNNClassifier
from sklearn_echo.cli import EXIT_ERROR, build_parser, class_labels, main
from sklearn_echo.cli.presets import PRESETS

from .conftest import CWRU_DIR, TINY_SAFETENSORS

TINY = str(TINY_SAFETENSORS)
FOLDER = CWRU_DIR / "12k_drive_end"
FAULTS = r"_(B|IR|OR)(\d{3})"  # 9 classes: kind and diameter
KINDS = r"_(B|IR|OR)\d{3}"  # 3 classes: kind


@pytest.fixture(scope="module")
def cwru():
    files = sorted(str(p) for p in FOLDER.glob("*.mat"))
    X = EchoEmbedder(model=TINY, sample_rate=12000).fit_transform(files)
    return files, X


def _printed_accuracy(out, dataset):
    m = re.search(rf"SIREN {dataset} accuracy \(%\): (\d+\.\d\d)", out)
    assert m, out
    return float(m.group(1))


def test_presets_are_the_papers_protocols():
    assert {n: (p.cv, p.k) for n, p in PRESETS.items()} == {
        "cwru": ("loo", 5), "mafaulda": ("loo", 5), "iica": (5, 5), "iiee": ("list", 5)}
    args = build_parser().parse_args(["classify", "x", "--preset", "iica"])
    assert args.preset == "iica"


def test_cwru_leave_one_out(cwru, capsys):
    files, X = cwru
    status = main(["classify", str(FOLDER), "--sample-rate", "12000", "--labels-from", FAULTS,
                   "--preset", "cwru", "--model", TINY])
    out = capsys.readouterr().out
    assert status == 0
    y = np.array(class_labels(files, FAULTS))
    pred = cross_val_predict(EchoKNNClassifier(n_neighbors=5), X, y, cv=LeaveOneOut())
    assert _printed_accuracy(out, "CWRU") == round(100 * np.mean(pred == y), 2)
    assert "leave-one-out cross-validation: 18 files" in out
    assert "90.48 for ECHO-Small" in out


def test_iica_five_fold(cwru, capsys):
    files, X = cwru
    status = main(["classify", str(FOLDER), "--sample-rate", "12000", "--labels-from", KINDS,
                   "--preset", "iica", "--model", TINY])
    out = capsys.readouterr().out
    assert status == 0
    y = np.array(class_labels(files, KINDS))
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    pred = cross_val_predict(EchoKNNClassifier(n_neighbors=5), X, y, cv=cv)
    assert _printed_accuracy(out, "IICA") == round(100 * np.mean(pred == y), 2)
    assert "stratified 5-fold" in out


def test_iiee_train_test_list(cwru, tmp_path, capsys):
    files, X = cwru
    y = np.array(class_labels(files, KINDS))
    is_test = np.array(["_1_" in f for f in files])  # load 0 trains, load 1 tests
    split_list = tmp_path / "split.csv"
    lines = ["path,split,label"] + [
        f"{f},{'test' if t else 'train'},{label}" for f, t, label in zip(files, is_test, y)]
    split_list.write_text("\n".join(lines) + "\n")
    out_csv = tmp_path / "pred.csv"
    status = main(["classify", "--split-list", str(split_list), "--sample-rate", "12000",
                   "--preset", "iiee", "--model", TINY, "-o", str(out_csv)])
    out = capsys.readouterr().out
    assert status == 0
    pred = EchoKNNClassifier(n_neighbors=5).fit(X[~is_test], y[~is_test]).predict(X[is_test])
    assert _printed_accuracy(out, "IIEE") == round(100 * np.mean(pred == y[is_test]), 2)
    assert "train/test list (9 training files) tested 9 files" in out
    rows = out_csv.read_text().splitlines()
    assert len(rows) == 1 + 9 and all("_1_" in r for r in rows[1:])


def test_preset_errors(tmp_path, capsys):
    status = main(["classify", str(FOLDER), "--preset", "iiee", "--sample-rate", "12000"])
    assert status == EXIT_ERROR and "--split-list FILE.csv" in capsys.readouterr().err
    status = main(["classify", str(FOLDER), "--preset", "cwru", "--segment", "1"])
    assert status == EXIT_ERROR and "leave --segment out" in capsys.readouterr().err
    status = main(["classify", str(FOLDER), "--preset", "cwru", "--k", "3"])
    assert status == EXIT_ERROR and "k = 5" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("path,split\na.mat,validation\n")
    status = main(["classify", "--split-list", str(bad)])
    assert status == EXIT_ERROR and "line 2: split 'validation'" in capsys.readouterr().err
