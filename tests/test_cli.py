"""The ``sklearn-echo`` command, run as a user runs it, on crops of the real recordings.

Starting a Python process that imports torch costs seconds, so every command a
user would type is started at once (module fixture ``runs``) and each test
checks one of them; behaviour that needs no new process (usage errors, label
parsing, error messages) is checked by calling :func:`sklearn_echo.cli.main`.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier

from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector
from sklearn_echo.echo.checkpoint import checkpoint_fingerprint, load_encoder
from sklearn_echo.cli import EXIT_ERROR, anomaly_label, build_parser, class_labels, main
from sklearn_echo.signals import SignalError, load_signals
from sklearn_echo.echo.bands import band_plan

from .conftest import CWRU_DIR, MIMII_DIR, TINY_SAFETENSORS

TINY = str(TINY_SAFETENSORS)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CWRU_LABELS = r"_(B|IR|OR)(\d{3})"


def sklearn_echo_command() -> list[str]:
    """The installed console script (``pip install -e .`` puts it next to python)."""
    for candidate in (Path(sys.executable).with_name("sklearn-echo"), shutil.which("sklearn-echo")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    pytest.fail("the sklearn-echo console script is not installed (pip install -e .)")


def assert_png(path, min_bytes=5000):
    import matplotlib.image

    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert float(image[..., :3].std()) > 0.05  # not a blank canvas


# --------------------------------------------------------------------------- data
@dataclass
class Crops:
    normal_bank: list  # 4 normal MIMII clips
    test_dir: Path  # test/normal (2 clips) and test/abnormal (3 clips)
    test_files: list
    cwru_dir: Path  # 18 CWRU 12 kHz crops saved as .npy (no rate stored)
    cwru_files: list


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """Short copies of real recordings: 1.5 s MIMII clips (.wav), 1 s CWRU crops (.npy)."""
    root = tmp_path_factory.mktemp("recordings")
    normal = sorted((MIMII_DIR / "normal").glob("*.wav"))
    abnormal = sorted((MIMII_DIR / "abnormal").glob("*.wav"))

    def crop_wav(src, dst):
        data, rate = sf.read(src, frames=int(1.5 * 16000), dtype="int16")
        dst.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dst, data, rate, subtype="PCM_16")
        return str(dst)

    bank = [crop_wav(f, root / "bank" / f.name) for f in normal[:4]]
    test = [crop_wav(f, root / "test" / "normal" / f.name) for f in normal[4:6]]
    test += [crop_wav(f, root / "test" / "abnormal" / f.name) for f in abnormal[:3]]
    cwru = root / "cwru"
    cwru.mkdir()
    mats = sorted((CWRU_DIR / "12k_drive_end").glob("*.mat"))
    cwru_files = []
    for f, s in zip(mats, load_signals(mats, 12000)):
        dst = cwru / (f.stem + ".npy")
        np.save(dst, s.data[0, :12000])
        cwru_files.append(str(dst))
    return Crops(bank, root / "test", sorted(test), cwru, cwru_files)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    out: Path


@pytest.fixture(scope="module")
def runs(crops, tmp_path_factory):
    """Start every command at once (each pays the torch import), then collect them."""
    exe = sklearn_echo_command()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    empty_cache = tmp_path_factory.mktemp("empty_hf_cache")
    commands = {
        "embed": exe + [
            "embed", *crops.normal_bank, str(crops.cwru_dir / "*.npy"),
            "--sample-rate", "12000", "-o", "emb.npz", "--model", TINY,
            "--progress", "--cache", "cache",
        ],
        "detect": exe + [
            "detect", "--normal", *crops.normal_bank, "--test", str(crops.test_dir),
            "-o", "scores.csv", "--roc", "roc.png", "--model", TINY,
        ],
        "classify": exe + [
            "classify", str(crops.cwru_dir), "--sample-rate", "12000",
            "--labels-from", CWRU_LABELS, "--segment", "0.5", "--cv", "loo", "--k", "3",
            "--confusion", "cm.png", "-o", "predictions.csv", "--model", TINY,
        ],
        "info": exe + ["info", "--model", TINY, "--rates", "12000,16000,48000", "--json"],
        # default model (echo-small), no network, empty Hub cache
        "offline": exe + ["embed", crops.normal_bank[0], "-o", "x.npz"],
        "missing": [sys.executable, "-m", "sklearn_echo", "embed", "no/such/file.wav",
                    "-o", "x.npz", "--model", TINY],
    }
    # files a user might pass by mistake, in the folder the command runs in
    commands["unsupported"] = exe + [
        "embed", "notes.txt", "short.npy", "--sample-rate", "16000", "-o", "x.npz", "--model", TINY,
    ]
    outs = {name: tmp_path_factory.mktemp(f"run_{name}") for name in commands}
    (outs["unsupported"] / "notes.txt").write_text("not a signal")
    np.save(outs["unsupported"] / "short.npy", np.zeros(10))
    procs = {}
    for name, cmd in commands.items():
        out = outs[name]
        run_env = dict(env)
        if name == "offline":
            run_env.update(HF_HUB_CACHE=str(empty_cache), HF_HOME=str(empty_cache))
        stdout, stderr = open(out / "stdout.txt", "w"), open(out / "stderr.txt", "w")
        procs[name] = (subprocess.Popen(cmd, cwd=out, env=run_env, stdout=stdout, stderr=stderr), out, stdout, stderr)
    results = {}
    for name, (proc, out, stdout, stderr) in procs.items():
        proc.wait(timeout=600)
        stdout.close()
        stderr.close()
        results[name] = Run(
            proc.returncode,
            (out / "stdout.txt").read_text(),
            (out / "stderr.txt").read_text(),
            out,
        )
    return results


def succeeded(run: Run) -> Run:
    assert run.returncode == 0, run.stderr
    return run


# --------------------------------------------------------------------------- subprocess runs
def test_embed_writes_npz_equal_to_the_estimator(runs, crops):
    run = succeeded(runs["embed"])
    with np.load(run.out / "emb.npz", allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    paths = sorted(crops.normal_bank) + sorted(crops.cwru_files)
    assert list(data["paths"]) == sorted(paths)
    order = list(data["paths"])
    rates = [16000.0 if p.endswith(".wav") else 12000.0 for p in order]
    np.testing.assert_array_equal(data["sample_rates"], rates)
    assert data["embeddings"].dtype == np.float32
    # default band_layout="hz": both rates on the 5 bands (0-6.4 kHz) of 12 kHz
    assert data["embeddings"].shape == (len(paths), 5 * 128)
    assert str(data["model_fingerprint"]) == checkpoint_fingerprint(TINY)
    assert str(data["band_layout"]) == "hz"
    expected = EchoEmbedder(model=TINY, sample_rate=12000).fit_transform(order)
    np.testing.assert_allclose(data["embeddings"], expected, rtol=1e-5, atol=1e-6)
    assert f"wrote {len(paths)} embeddings of width 640" in run.stdout
    assert "ECHO" in run.stderr and "chunk" in run.stderr  # the progress bar
    assert any((run.out / "cache").rglob("*")), "--cache DIR keeps the embeddings"


def test_detect_scores_csv_metrics_and_roc(runs, crops):
    run = succeeded(runs["detect"])
    with open(run.out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == crops.test_files
    assert list(rows[0]) == ["path", "anomaly_score", "is_anomaly", "label"]
    assert [r["label"] for r in rows] == [
        "anomaly" if "abnormal" in r["path"] else "normal" for r in rows
    ]
    scores = np.array([float(r["anomaly_score"]) for r in rows])
    # the same scores as the estimators give in this process
    emb = EchoEmbedder(model=TINY).fit(crops.normal_bank + crops.test_files)
    det = EchoKNNAnomalyDetector().fit(emb.transform(crops.normal_bank))
    np.testing.assert_allclose(scores, det.anomaly_score(emb.transform(crops.test_files)), rtol=1e-6)
    y = np.array([r["label"] == "anomaly" for r in rows], dtype=int)
    auc = float(re.search(r"^AUC: ([0-9.]+)$", run.stdout, re.M).group(1))
    pauc = float(re.search(r"^pAUC \(max_fpr=0.1\): ([0-9.]+)$", run.stdout, re.M).group(1))
    assert auc == pytest.approx(roc_auc_score(y, scores), abs=1e-4)
    assert pauc == pytest.approx(roc_auc_score(y, scores, max_fpr=0.1), abs=1e-4)
    assert_png(run.out / "roc.png")


def test_classify_accuracy_table_predictions_and_confusion(runs, crops):
    run = succeeded(runs["classify"])
    with open(run.out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(crops.cwru_files)  # two 0.5 s segments per 1 s crop
    # sklearn's own k-NN, leave-one-file-out, on the same segments
    segments, groups = [], []
    for i, s in enumerate(load_signals(crops.cwru_files, 12000)):
        segments += [(s.data[0, :6000], 12000), (s.data[0, 6000:], 12000)]
        groups += [i, i]
    y = np.repeat(class_labels(crops.cwru_files, CWRU_LABELS), 2)
    X = EchoEmbedder(model=TINY).fit_transform(segments)
    knn = KNeighborsClassifier(n_neighbors=3, metric="cosine", algorithm="brute")
    expected = cross_val_predict(knn, X, y, groups=groups, cv=LeaveOneGroupOut())
    assert [r["label"] for r in rows] == list(y)
    assert [r["predicted"] for r in rows] == list(expected)
    accuracy = float(re.search(r"^accuracy: ([0-9.]+)$", run.stdout, re.M).group(1))
    assert accuracy == pytest.approx(np.mean(expected == y), abs=1e-4)
    for label in sorted(set(y)):  # one table row per class: n, correct, accuracy
        n, correct, acc = re.search(rf"^{label}\s+(\d+)\s+(\d+)\s+([0-9.]+)$", run.stdout, re.M).groups()
        assert int(n) == 4 and int(correct) == int(np.sum(expected[y == label] == label))
    assert "leave-one-file-out" in run.stdout
    assert_png(run.out / "cm.png")


def test_info_describes_model_and_bands_per_rate(runs):
    info = json.loads(succeeded(runs["info"]).stdout)
    encoder = load_encoder(TINY)
    assert info["fingerprint"] == checkpoint_fingerprint(TINY)
    assert Path(info["model"]) == TINY_SAFETENSORS.resolve()
    assert (info["embed_dim"], info["depth"], info["num_heads"]) == (128, 2, 2)
    assert info["parameters"] == sum(p.numel() for p in encoder.parameters())
    assert [r["sample_rate"] for r in info["rates"]] == [12000, 16000, 48000]
    assert [r["bands"] for r in info["rates"]] == [band_plan(r).n_bands for r in (12000, 16000, 48000)]
    assert [r["width"] for r in info["rates"]] == [5 * 128, 7 * 128, 19 * 128]
    assert info["mixed_width"] == 5 * 128  # hz: the common range, 12 kHz's 5 bands


def test_unreachable_model_says_how_to_pass_a_local_file(runs):
    run = runs["offline"]
    assert run.returncode == EXIT_ERROR
    assert run.stderr.startswith("error: could not load the ECHO checkpoint 'yucongzh/echo-small-0824'")
    assert "pass its path" in run.stderr and "model.safetensors" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (run.out / "x.npz").exists()


def test_missing_file_is_named(runs):
    run = runs["missing"]
    assert run.returncode == EXIT_ERROR
    assert re.fullmatch(r"error: .*no/such/file\.wav.*\n", run.stderr)
    assert "Traceback" not in run.stderr


def test_unsupported_extension_and_bad_files_are_named(runs):
    run = runs["unsupported"]
    bad = run.out
    assert run.returncode == EXIT_ERROR
    assert run.stderr.startswith("error: 2 of 2 files are invalid")
    assert f"{bad / 'notes.txt'}: unsupported file type '.txt'" in run.stderr
    assert f"{bad / 'short.npy'} has 10 samples; at 16000 Hz at least 400 (25 ms) are needed" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (run.out / "x.npz").exists()


# --------------------------------------------------------------------------- in-process
def test_rate_less_files_need_sample_rate(crops, tmp_path, capsys):
    code = main(["embed", str(crops.cwru_dir), "-o", str(tmp_path / "x.npz"), "--model", TINY])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert re.fullmatch(
        r"error: 18 of 18 files store no sampling rate \(\.npy; first: .*B007_0_118\.npy\); "
        r"give it with --sample-rate HZ \(or PATTERN=HZ per group of files\)\n",
        err,
    )


@pytest.fixture(scope="module")
def crops_48k(crops):
    """Three 0.5 s crops of 48 kHz CWRU records as .npy (no rate stored), in a '48k' folder."""
    folder = crops.cwru_dir.parent / "cwru_48k"
    folder.mkdir(exist_ok=True)
    mats = sorted((CWRU_DIR / "48k_drive_end").glob("*.mat"))[:3]
    files = []
    for f, s in zip(mats, load_signals(mats, 48000)):
        files.append(str(folder / (f.stem + ".npy")))
        np.save(files[-1], s.data[0, :24000])
    return files


def test_sample_rate_rules_give_each_group_of_files_its_rate(crops, crops_48k, tmp_path, capsys):
    out = tmp_path / "mixed.npz"
    wavs = crops.normal_bank[:2]
    code = main([
        "embed", *crops.cwru_files[:3], *crops_48k, *wavs, "-o", str(out), "--model", TINY,
        "--sample-rate", "*/cwru_48k/*=48000", "--sample-rate", "12000",
    ])
    assert code == 0, capsys.readouterr().err
    with np.load(out, allow_pickle=False) as f:
        paths, rates, X = list(f["paths"]), f["sample_rates"], f["embeddings"]
    expected_rates = {**{p: 12000.0 for p in crops.cwru_files[:3]},
                      **{p: 48000.0 for p in crops_48k}, **{p: 16000.0 for p in wavs}}
    assert dict(zip(paths, rates.tolist())) == expected_rates
    # the same features as the estimator given one rate per file (None: the file's own)
    per_item = [None if p.endswith(".wav") else expected_rates[p] for p in paths]
    expected = EchoEmbedder(model=TINY).fit_transform(paths, sample_rate=per_item)
    np.testing.assert_allclose(X, expected, rtol=1e-5, atol=1e-6)
    assert "12000 Hz, 16000 Hz, 48000 Hz" in capsys.readouterr().out


def test_sample_rate_rules_first_match_wins_and_relative_patterns(crops_48k, tmp_path, monkeypatch):
    from sklearn_echo.signals import file_rates

    folder = Path(crops_48k[0]).parent
    monkeypatch.chdir(folder.parent)
    rules = [("cwru_48k/*B007*", 44100.0), ("cwru_48k/*", 48000.0)]
    rates, missing = file_rates(crops_48k, rules)
    assert rates == [44100.0 if "B007" in p else 48000.0 for p in crops_48k]
    assert missing == []
    rates, missing = file_rates(crops_48k + ["/elsewhere/x.wav"], [("*/other/*", 12000.0)])
    assert rates == [None] * 4 and missing == crops_48k


def test_sample_rate_rules_that_miss_files_are_an_error(crops, crops_48k, tmp_path, capsys):
    code = main([
        "embed", *crops.cwru_files[:2], *crops_48k, "-o", str(tmp_path / "x.npz"), "--model", TINY,
        "--sample-rate", "*/cwru_48k/*=48000",
    ])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert re.fullmatch(
        r"error: 2 of 5 files store no sampling rate \(\.npy; first: .*B007_0_118\.npy\); "
        r"no --sample-rate pattern matches them; add PATTERN=HZ or a plain HZ\n",
        err,
    )
    assert not (tmp_path / "x.npz").exists()


def test_info_lists_the_rates_of_sample_rate_rules(capsys):
    code = main(["info", "--model", TINY, "--rates", "16000", "--json",
                 "--sample-rate", "*48k*=48000", "--sample-rate", "12000"])
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert [r["sample_rate"] for r in info["rates"]] == [16000, 48000, 12000]


def test_debug_shows_the_exception(tmp_path):
    with pytest.raises(SignalError, match="unsupported file type"):
        (tmp_path / "a.txt").write_text("x")
        main(["embed", str(tmp_path / "a.txt"), "-o", str(tmp_path / "x.npz"), "--model", TINY, "--debug"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["classify", "x", "--cv", "1"], "needs at least 2 folds"),
        (["classify", "x", "--cv", "ten"], "neither 'loo'"),
        (["embed", "x"], "-o/--output"),
        (["embed", "x", "-o", "y.npz", "--sample-rate", "-3"], "must be a positive number"),
        (["embed", "x", "-o", "y.npz", "--sample-rate", "fast"], "'fast' is not a number"),
        (["embed", "x", "-o", "y.npz", "--sample-rate", "=48000"], "no pattern before '='"),
        (["embed", "x", "-o", "y.npz", "--sample-rate", "*48k*=fast"], "'fast' is not a number"),
        (["embed", "x", "-o", "y.npz", "--batch-size", "0"], "'0' must be at least 1"),
        (["embed", "x", "-o", "y.npz", "--batch-size", "1.5"], "'1.5' is not an integer"),
        (["detect", "--normal", "a", "--test", "b", "--k", "0"], "'0' must be at least 1"),
        (["classify", "x", "--metric", "l1"], "invalid choice: 'l1'"),
        (["info", "--rates", "8000,0"], "'0' must be a positive number"),
        (["detect", "--normal", "a"], "--test"),
        (["info", "--band-layout", "wide"], "invalid choice: 'wide'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_detect_prints_csv_without_output_and_refuses_roc_without_labels(crops, tmp_path, capsys):
    code = main(["detect", "--normal", *crops.normal_bank[:2], "--test", *crops.normal_bank[2:],
                 "--model", TINY])
    captured = capsys.readouterr()
    assert code == 0
    lines = captured.out.splitlines()
    assert lines[0] == "path,anomaly_score,is_anomaly"  # no label column: no label in these paths
    assert [line.split(",")[0] for line in lines[1:]] == crops.normal_bank[2:]
    code = main(["detect", "--normal", *crops.normal_bank[:2], "--test", *crops.normal_bank[2:],
                 "--roc", str(tmp_path / "roc.png"), "--model", TINY])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.startswith("error: --roc needs normal and anomalous test files labelled by their paths")
    assert not (tmp_path / "roc.png").exists()


def test_info_text_table(capsys):
    assert main(["info", "--model", TINY, "--band-layout", "concat"]) == 0
    out = capsys.readouterr().out
    assert f"fingerprint  sha256:{checkpoint_fingerprint(TINY)}" in out
    for rate, bands in [(8000, 4), (12000, 5), (16000, 7), (22050, 9), (44100, 18), (48000, 19)]:
        assert re.search(rf"^\s*{rate}\s+\d+\s+{bands}\s+{bands * 128}$", out, re.M)
    assert "not possible with band_layout='concat'" in out


def test_output_folder_must_exist(crops, capsys):
    code = main(["embed", *crops.normal_bank, "-o", "/no/such/folder/x.npz", "--model", TINY])
    assert code == EXIT_ERROR
    assert "folder /no/such/folder does not exist" in capsys.readouterr().err


def test_errors_name_files_by_path(tmp_path, capsys):
    plain, paren = tmp_path / "plain" / "short.npy", tmp_path / "run (2)" / "short.npy"
    for f in (plain, paren):
        f.parent.mkdir()
        np.save(f, np.zeros(10))
    code = main(["embed", str(plain), str(paren), "--sample-rate", "16000", "-o", str(tmp_path / "x.npz")])
    assert code == EXIT_ERROR
    rule = "has 10 samples; at 16000 Hz at least 400 (25 ms) are needed"
    # a path holding a parenthesis keeps the X[i] (path) form, whose brackets show where it ends
    assert capsys.readouterr().err == (
        f"error: 2 of 2 files are invalid:\n  - {plain} {rule}\n  - X[1] ({paren}) {rule}\n"
    )


# --------------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "path, label",
    [
        ("mimii/fan/id_00/abnormal/00000003.wav", 1),
        ("mimii/fan/id_00/normal/00000003.wav", 0),
        ("dcase/section_00_source_test_anomaly_0001_vel_8.wav", 1),
        ("dcase/section_00_target_test_normal_0042.wav", 0),
        ("data/multichannel/normal_00000000_8ch.wav", 0),
        ("data/Anomalous-runs/pump.flac", 1),
        ("data/normal/line-2/abnormal_run.wav", 1),  # the file name decides first
        ("data/normality/x.wav", None),  # whole words only
        ("plant/pump_0001.wav", None),
    ],
)
def test_anomaly_label_from_path(path, label):
    assert anomaly_label(path) == label


def test_class_labels_folder_regex_and_errors():
    files = [str(CWRU_DIR / "12k_drive_end" / "12k_Drive_End_OR014@6_1_198.mat"),
             str(CWRU_DIR / "12k_drive_end" / "12k_Drive_End_B007_0_118.mat")]
    assert class_labels(files, "folder") == ["12k_drive_end", "12k_drive_end"]
    assert class_labels(files, CWRU_LABELS) == ["OR014", "B007"]
    assert class_labels(files, r"Drive_End_(?P<label>[A-Z]+)") == ["OR", "B"]
    assert class_labels(files, r"(?:B|IR|OR)\d{3}") == ["OR014", "B007"]
    with pytest.raises(Exception, match=r"does not give a label for 1 of 2 files: .*B007_0_118"):
        class_labels(files, r"OR\d+")
    with pytest.raises(Exception, match="not a valid regular expression"):
        class_labels(files, "(unclosed")


def test_knn_options_of_detect_and_classify():
    parser = build_parser()
    detect = parser.parse_args(["detect", "--normal", "a", "--test", "b"])
    classify = parser.parse_args(["classify", "a"])
    assert (detect.k, detect.metric, detect.func.__name__) == (1, "cosine", "_cmd_detect")
    assert (classify.k, classify.metric, classify.func.__name__) == (5, "cosine", "_cmd_classify")
    args = parser.parse_args(["classify", "a", "--k", "3", "--metric", "euclidean", "--cv", "4"])
    assert (args.k, args.metric, args.cv) == (3, "euclidean", 4)


def test_parser_defaults_follow_the_embedder():
    args = build_parser().parse_args(["embed", "a.wav", "-o", "x.npz"])
    defaults = EchoEmbedder().get_params()
    for name in ("model", "band_layout", "multichannel", "mat_key", "dtype", "device"):
        assert getattr(args, name) == defaults[name]


def test_info_lists_the_published_models(capsys):
    from sklearn_echo.echo.models import MODEL_ALIASES

    assert main(["info", "--model", TINY, "--rates", "16000"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"echo-small\s+yucongzh/echo-small-0824", out)
    assert re.search(r"echo-tiny\s+yucongzh/echo-tiny-0828", out)
    assert main(["info", "--model", TINY, "--rates", "16000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["published_models"] == MODEL_ALIASES
