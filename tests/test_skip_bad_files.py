"""``errors="skip"`` in the loading layer and ``--on-error skip`` in the commands.

A folder of real recordings (1 s crops of MIMII fan clips) holds four bad
files: an empty file, a text file named ``.wav``, a truncated recording and a
recording with a NaN. With skipping, every valid file is used and each bad one
is listed with its reason (stderr and outputs, exit status 3); without it, the
command stops and names all of them.
"""

from __future__ import annotations

import csv
import re
import shutil

import numpy as np
import pytest
import soundfile as sf

from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector
from sklearn_echo.cli import EXIT_ERROR, EXIT_SKIPPED, main
from sklearn_echo.signals import SignalError, SkippedItem, load_signals, scan_signals

from .conftest import MIMII_DIR, TINY_SAFETENSORS

TINY = str(TINY_SAFETENSORS)
REASONS = {
    "empty.wav": r"empty file \(0 bytes\)",
    "notes.wav": r"cannot read .* as a \.wav file",
    "truncated.wav": r"has 50 samples; at 16000 Hz at least 400 \(25 ms\) are needed",
    "nan.wav": r"contains NaN \(first at sample 100\)",
}


def _crop(src, dst, seconds=1.0):
    data, rate = sf.read(src, frames=int(seconds * 16000), dtype="int16")
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, data, rate, subtype="PCM_16")
    return str(dst)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """rec/normal: 3 valid clips, the empty and truncated files; rec/abnormal: 3 valid
    clips, the text file and the NaN recording; bank/: 3 other normal clips."""
    root = tmp_path_factory.mktemp("skip")
    normal = sorted((MIMII_DIR / "normal").glob("*.wav"))
    abnormal = sorted((MIMII_DIR / "abnormal").glob("*.wav"))
    good = [_crop(f, root / "rec" / "normal" / f.name) for f in normal[:3]]
    good += [_crop(f, root / "rec" / "abnormal" / f.name) for f in abnormal[:3]]
    bank = [_crop(f, root / "bank" / f.name) for f in normal[3:6]]
    (root / "rec" / "normal" / "empty.wav").write_bytes(b"")
    (root / "rec" / "normal" / "truncated.wav").write_bytes(normal[6].read_bytes()[:144])
    (root / "rec" / "abnormal" / "notes.wav").write_text("not a recording\n")
    noisy = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    noisy[100] = np.nan
    sf.write(root / "rec" / "abnormal" / "nan.wav", noisy, 16000, subtype="FLOAT")
    return root, sorted(good), bank


def _check_listed(text, root):
    for name, reason in REASONS.items():
        assert re.search(rf"{re.escape(name)}:? .*{reason}", text), (name, text)


def test_loading_layer_skips_and_lists(folder):
    root, good, _ = folder
    files = sorted(str(p) for p in (root / "rec").rglob("*.wav"))
    with pytest.raises(SignalError) as info:
        scan_signals(files, min_duration=0.025)
    assert len(info.value.errors) == 4
    scanned = scan_signals(files, min_duration=0.025, errors="skip")
    assert [i.path for i in scanned.infos] == good
    assert all(isinstance(s, SkippedItem) for s in scanned.skipped)
    assert sorted(files[s.index].rsplit("/", 1)[1] for s in scanned.skipped) == sorted(REASONS)
    for s in scanned.skipped:
        assert s.name.endswith(f"({files[s.index]})")
        assert re.search(REASONS[s.name.rsplit("/", 1)[1].rstrip(")")], s.reason)
    loaded = load_signals(files, min_duration=0.025, errors="skip")
    assert [s.path for s in loaded] == good and loaded.skipped == scanned.skipped
    # the kept signals embed as the valid files alone
    emb = EchoEmbedder(model=TINY)
    np.testing.assert_array_equal(emb.fit_transform(scanned), emb.fit_transform(good))
    with pytest.raises(ValueError, match="errors must be 'raise'"):
        load_signals(files, errors="ignore")


def test_embed_skips(folder, tmp_path, capsys):
    root, good, _ = folder
    out = tmp_path / "emb.npz"
    status = main(["embed", str(root / "rec"), "-o", str(out), "--model", TINY, "--on-error", "skip"])
    err = capsys.readouterr().err
    assert status == EXIT_SKIPPED == 3
    _check_listed(err, root)
    assert "4 files skipped" in err
    saved = np.load(out)
    assert saved["paths"].tolist() == good
    np.testing.assert_array_equal(saved["embeddings"], EchoEmbedder(model=TINY).fit_transform(good))
    skipped = dict(saved["skipped"].tolist())
    assert sorted(p.rsplit("/", 1)[1] for p in skipped) == sorted(REASONS)
    for path, reason in skipped.items():
        assert re.search(REASONS[path.rsplit("/", 1)[1]], reason)

    # default: stop before any work, naming every bad file
    status = main(["embed", str(root / "rec"), "-o", str(tmp_path / "x.npz"), "--model", TINY])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR
    assert err.startswith("error: 4 of 10 files are invalid:")
    _check_listed(err, root)
    assert not (tmp_path / "x.npz").exists()


def test_detect_scores_every_valid_file(folder, tmp_path, capsys):
    root, good, bank = folder
    out = tmp_path / "scores.csv"
    status = main(["detect", "--normal", *bank, "--test", str(root / "rec"), "-o", str(out),
                   "--model", TINY, "--on-error", "skip"])
    err = capsys.readouterr().err
    assert status == EXIT_SKIPPED, err
    _check_listed(err, root)
    with open(out) as f:
        rows = list(csv.DictReader(f))
    scored = [r for r in rows if r["anomaly_score"]]
    assert [r["path"] for r in scored] == good
    emb = EchoEmbedder(model=TINY).fit(bank + good)
    det = EchoKNNAnomalyDetector(n_neighbors=1).fit(emb.transform(bank))
    np.testing.assert_allclose([float(r["anomaly_score"]) for r in scored],
                               det.anomaly_score(emb.transform(good)), rtol=1e-6)
    skipped = {r["path"].rsplit("/", 1)[1]: r["skipped"] for r in rows if not r["anomaly_score"]}
    assert sorted(skipped) == sorted(REASONS)

    status = main(["detect", "--normal", *bank, "--test", str(root / "rec"), "--model", TINY])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR and "4 of 10 files are invalid" in err
    _check_listed(err, root)


def test_classify_skips(folder, tmp_path, capsys):
    root, good, _ = folder
    out = tmp_path / "pred.csv"
    status = main(["classify", str(root / "rec"), "--k", "1", "-o", str(out), "--model", TINY,
                   "--on-error", "skip"])
    captured = capsys.readouterr()
    assert status == EXIT_SKIPPED, captured.err
    _check_listed(captured.err, root)
    assert "leave-one-out cross-validation: 6 files" in captured.out
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows[:6]] == good
    assert sorted(r["path"].rsplit("/", 1)[1] for r in rows[6:]) == sorted(REASONS)
    assert all(r["skipped"] for r in rows[6:]) and not any(r["skipped"] for r in rows[:6])

    status = main(["classify", str(root / "rec"), "--model", TINY])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR and "4 of 10 files are invalid" in err


def test_dcase_skips(folder, tmp_path, capsys):
    pytest.importorskip("pandas")
    import pandas as pd

    root, _, _ = folder
    dataset = tmp_path / "dcase" / "fan"
    normal = sorted((root / "rec" / "normal").glob("0*.wav"))
    abnormal = sorted((root / "rec" / "abnormal").glob("0*.wav"))
    bank = sorted((root / "bank").glob("*.wav"))
    train = _mkdir(dataset / "train")
    for i, f in enumerate(bank):
        shutil.copy(f, train / f"section_00_source_train_normal_{i:04d}.wav")
    test = _mkdir(dataset / "test")
    for i, f in enumerate(normal):
        shutil.copy(f, test / f"section_00_source_test_normal_{i:04d}.wav")
    for i, f in enumerate(abnormal):
        shutil.copy(f, test / f"section_00_source_test_anomaly_{i:04d}.wav")
    bad = {"empty.wav": "section_00_source_test_normal_0010.wav",
           "notes.wav": "section_00_source_test_anomaly_0011.wav",
           "truncated.wav": "section_00_source_test_normal_0012.wav",
           "nan.wav": "section_00_source_train_normal_0013.wav"}
    for name, target in bad.items():
        src = next((root / "rec").rglob(name))
        folder_ = dataset / ("train" if "_train_" in target else "test")
        shutil.copy(src, folder_ / target)
    out = tmp_path / "figures.csv"
    status = main(["dcase", str(tmp_path / "dcase"), "-o", str(out), "--model", TINY,
                   "--on-error", "skip"])
    captured = capsys.readouterr()
    assert status == EXIT_SKIPPED, captured.err
    for name, target in bad.items():
        assert re.search(rf"skipped fan section 00 .*{target}: .*{REASONS[name]}", captured.err)
    table = pd.read_csv(out, dtype={"section": str})
    section = table[table["level"] == "section"].iloc[0]
    assert (section["n_train"], section["n_test"]) == (3, 6)
    assert sorted(n.split(": ")[0].rsplit("/", 1)[1]
                  for n in table.loc[table["level"] == "skipped", "notes"]) == sorted(bad.values())

    status = main(["dcase", str(tmp_path / "dcase"), "--model", TINY])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR and err.startswith("error: 4 of 13 files are invalid:")
    for target in bad.values():
        assert target in err


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path
