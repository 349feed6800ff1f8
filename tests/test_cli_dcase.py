"""``sklearn-echo dcase``, run as a user runs it, against the DCASE library.

Three datasets: the real DCASE 2023 valve test clips (both domains; part of
the normal clips taken as training clips with ``--train-from-test``), the
real DCASE 2020 machine (``train/`` and ``test/`` folders) and a folder built
here from valve clips with three sections, one of whose test clips hold no
anomaly. The per-section figures of the command equal those of
`evaluate_dcase` run here on the same clips (embeddings shared through the
disk cache) and those computed from the score files read back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pd = pytest.importorskip("pandas")

from sklearn_echo.cli import EXIT_ERROR, main  # noqa: E402
from sklearn_echo.cli.dcase import hold_out_training_clips  # noqa: E402
from sklearn_echo.datasets import parse_dcase  # noqa: E402
from sklearn_echo.evaluation import (  # noqa: E402
    evaluate_dcase,
    make_dcase_detector,
    read_score_files,
    section_figures,
)

from .conftest import DATA_DIR, TINY_SAFETENSORS  # noqa: E402

TINY = str(TINY_SAFETENSORS)
VALVE = DATA_DIR / "dcase2023_valve"
DCASE2020 = DATA_DIR / "dcase2020_id00"
FIGURES = ["auc_all", "auc_source", "auc_target", "pauc", "precision_source",
           "precision_target", "recall_source", "recall_target", "f1_source", "f1_target"]


def _built(root: Path) -> Path:
    """valve/{train,test} with sections 00 and 01 (both labels, both domains) and 02
    (normal test clips only), from 1 s crops of the real valve clips."""
    clips = sorted((VALVE / "test").glob("*.wav"))

    def pick(domain, label):
        return [c for c in clips if f"_{domain}_test_{label}_" in c.name]

    source = {lab: iter(pick("source", lab)) for lab in ("normal", "anomaly")}
    target = {lab: iter(pick("target", lab)) for lab in ("normal", "anomaly")}
    pools = {"source": source, "target": target}
    plan = {  # section: (train per domain, test normal per domain, test anomaly per domain)
        "00": (3, 2, 2),
        "01": (3, 2, 2),
        "02": (2, 3, 0),
    }
    for section, (n_train, n_normal, n_anomaly) in plan.items():
        for domain, pool in pools.items():
            made = [("train", "normal", n_train), ("test", "normal", n_normal),
                    ("test", "anomaly", n_anomaly)]
            index = 0
            for split, label, count in made:
                for _ in range(count):
                    src = next(pool["normal" if split == "train" else label])
                    data, rate = sf.read(src, frames=16000, dtype="int16")
                    name = f"section_{section}_{domain}_{split}_{label}_{index:04d}_pat_00.wav"
                    dst = root / "valve" / split / name
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(dst, data, rate, subtype="PCM_16")
                    index += 1
    return root


def _command():
    exe = Path(sys.executable).with_name("sklearn-echo")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "sklearn_echo"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The three evaluations, started together (each pays the torch import once)."""
    built = _built(tmp_path_factory.mktemp("built"))
    cases = {
        "valve": (VALVE, ["--train-from-test", "0.2", "--seed", "3", "--domain-banks",
                          "--roc-dir", "roc"]),
        "dcase2020": (DCASE2020, []),
        "built": (built, ["--domain-banks"]),
    }
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    procs = {}
    for name, (root, extra) in cases.items():
        out = tmp_path_factory.mktemp(f"dcase_{name}")
        cmd = _command() + ["dcase", str(root), "--model", TINY, "-o", "figures.csv",
                            "--scores-dir", "scores", "--cache", "cache", *extra]
        procs[name] = (subprocess.Popen(cmd, cwd=out, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True), out, root)
    results = {}
    for name, (proc, out, root) in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        results[name] = {"rc": proc.returncode, "stdout": stdout, "stderr": stderr,
                         "out": out, "root": root}
    return results


def _sections(run):
    table = pd.read_csv(run["out"] / "figures.csv", dtype={"section": str})
    return table[table["level"] == "section"].reset_index(drop=True)


def _assert_same_figures(command, library):
    library = library.reset_index(drop=True)
    assert command[["machine", "section"]].values.tolist() == library[["machine", "section"]].values.tolist()
    np.testing.assert_allclose(command[FIGURES].to_numpy(float), library[FIGURES].to_numpy(float),
                               rtol=1e-9, atol=1e-12, equal_nan=True)
    assert command["n_test"].tolist() == library["n_test"].tolist()


def _library(run, table, *, domain_banks):
    detector = make_dcase_detector(TINY, cache=str(run["out"] / "cache"))
    with pytest.warns(UserWarning) if run["root"] is DCASE2020 else _nothing():
        return evaluate_dcase(table, detector, domain_banks=domain_banks)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _score_files_figures(run):
    scores = read_score_files(run["out"] / "scores")
    return scores, section_figures(scores)


def test_valve_2023_names_train_from_test(runs):
    run = runs["valve"]
    assert run["rc"] == 0, run["stderr"]
    command = _sections(run)
    table = hold_out_training_clips(parse_dcase(VALVE), 0.2, seed=3)
    library = _library(run, table, domain_banks=True)
    _assert_same_figures(command, library.sections)
    assert command["n_train"].tolist() == [20]  # 10 normal clips of each domain
    assert command["n_test"].tolist() == [180]
    scores, from_files = _score_files_figures(run)
    assert sorted(scores["name"]) == sorted(library.scores["name"])
    _assert_same_figures(command, from_files)
    overall = pd.read_csv(run["out"] / "figures.csv").query("level == 'all'")["official_score"]
    assert overall.iloc[0] == pytest.approx(library.official_score, rel=1e-12)
    assert f"{library.official_score:.4f}" in run["stdout"]
    assert "auc_source" in run["stdout"] and "auc_target" in run["stdout"]
    png = run["out"] / "roc" / "roc_dcase2023_valve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dcase2020_train_and_test_folders(runs):
    run = runs["dcase2020"]
    assert run["rc"] == 0, run["stderr"]
    command = _sections(run)
    library = _library(run, parse_dcase(DCASE2020), domain_banks=False)
    _assert_same_figures(command, library.sections)
    assert (command["n_train"].tolist(), command["n_test"].tolist()) == ([75], [1])
    # its one test clip is an anomaly: no AUC, said so
    assert "undefined" in run["stdout"] and "0 normal and 1 anomalous" in run["stdout"]
    scores, from_files = _score_files_figures(run)
    assert sorted(os.listdir(run["out"] / "scores")) == [
        "anomaly_score_dcase2020_id00_id_00.csv", "decision_result_dcase2020_id00_id_00.csv"]
    np.testing.assert_allclose(scores["anomaly_score"], library.scores["anomaly_score"], rtol=1e-6)


def test_built_folder_with_a_section_without_anomalies(runs):
    run = runs["built"]
    assert run["rc"] == 0, run["stderr"]
    command = _sections(run)
    assert command["section"].tolist() == ["00", "01", "02"]
    with pytest.warns(UserWarning, match="section '02'"):
        library = evaluate_dcase(parse_dcase(run["root"]),
                                 make_dcase_detector(TINY, cache=str(run["out"] / "cache")),
                                 domain_banks=True)
    _assert_same_figures(command, library.sections)
    defined = command.iloc[:2]
    assert np.isfinite(defined[["auc_source", "auc_target", "pauc"]].to_numpy(float)).all()
    assert np.isnan(command.loc[2, ["auc_source", "auc_target", "pauc"]].to_numpy(float)).all()
    assert "undefined" in command.loc[2, "notes"]
    assert "undefined: valve section 02" in run["stdout"]
    _, from_files = _score_files_figures(run)
    _assert_same_figures(command, from_files)


def test_errors_without_training_clips_or_pandas(tmp_path, capsys, monkeypatch):
    status = main(["dcase", str(VALVE), "--model", TINY])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR
    assert "has no training clip" in err and "--train-from-test FRACTION" in err
    monkeypatch.setitem(sys.modules, "pandas", None)
    status = main(["dcase", str(VALVE), "--model", TINY])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR and "needs pandas" in err and "sklearn-echo[pandas]" in err


def test_flat_folder_of_dcase_names(tmp_path, capsys):
    """A folder of 2023 names without train/test folders: the folder is the machine."""
    flat = tmp_path / "gearbox"
    flat.mkdir()
    clips = sorted((VALVE / "test").glob("*.wav"))
    normal = [c for c in clips if "_source_test_normal_" in c.name]
    anomaly = [c for c in clips if "_source_test_anomaly_" in c.name]
    names = [(normal[0], "section_00_source_train_normal_0000_pat_00.wav"),
             (normal[1], "section_00_source_train_normal_0001_pat_00.wav"),
             (normal[2], "section_00_source_test_normal_0000_pat_00.wav"),
             (normal[3], "section_00_source_test_normal_0001_pat_00.wav"),
             (anomaly[0], "section_00_source_test_anomaly_0002_pat_00.wav"),
             (anomaly[1], "section_00_source_test_anomaly_0003_pat_00.wav")]
    for src, name in names:
        data, rate = sf.read(src, frames=8000, dtype="int16")
        sf.write(flat / name, data, rate, subtype="PCM_16")
    status = main(["dcase", str(flat), "--model", TINY, "-o", str(tmp_path / "f.csv"),
                   "--scores-dir", str(tmp_path / "scores")])
    out = capsys.readouterr().out
    assert status == 0
    command = pd.read_csv(tmp_path / "f.csv", dtype={"section": str}).query("level == 'section'")
    assert command[["machine", "n_train", "n_test"]].values.tolist() == [["gearbox", 2, 4]]
    _assert_same_figures(command.reset_index(drop=True),
                         section_figures(read_score_files(tmp_path / "scores")))
    assert "gearbox" in out


def test_clips_without_split_are_named(tmp_path, capsys):
    flat = tmp_path / "fan"
    flat.mkdir()
    sf.write(flat / "normal_id_00_00000000.wav", np.zeros(8000, dtype=np.int16), 16000)
    status = main(["dcase", str(flat), "--model", TINY])
    err = capsys.readouterr().err
    assert status == EXIT_ERROR
    assert "1 clips have no split" in err and "normal_id_00_00000000.wav" in err
