"""The DCASE protocol: official figures, score files, end-to-end evaluation on shared clips.

``tests/data/dcase/official_2023`` holds score files in the official layout
(valve: k-NN scores of the tiny fixture model on the shared 2023 valve clips,
rounded to two significant digits so that scores tie; bandsaw: the real 2023
evaluation names and labels of the official ground truth without its target
anomalies, with tied integer scores), the matching ground-truth files, and
``evaluator_result.csv``: the output of the official
``dcase2023_task2_evaluator.py`` (nttcslab/dcase2023_task2_evaluator) run
unchanged on them. The 2024 evaluator gives a byte-identical result file.
"""

import csv
import math
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from sklearn_echo.datasets import parse_dcase
from sklearn_echo.evaluation import (
    evaluate_dcase,
    machine_figures,
    make_dcase_detector,
    overall_figures,
    read_score_files,
    section_figures,
    write_score_files,
)
from sklearn_echo.metrics import dcase_auc, dcase_domain_auc, dcase_pauc

from .conftest import DATA_DIR, ROOT, TINY_SAFETENSORS

OFFICIAL = ROOT / "tests" / "data" / "dcase" / "official_2023"
SECTION_COLUMNS = {
    "AUC (all)": "auc_all", "AUC (source)": "auc_source", "AUC (target)": "auc_target",
    "pAUC": "pauc", "precision (source)": "precision_source",
    "precision (target)": "precision_target", "recall (source)": "recall_source",
    "recall (target)": "recall_target", "F1 score (source)": "f1_source",
    "F1 score (target)": "f1_target",
}


def read_evaluator_result(path):
    """The evaluator's ``<system>_result.csv``: per machine, its sections and mean rows."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    machines, overall, machine, header = {}, {}, None, None
    for row in rows:
        if not row or not any(row):
            continue
        if len(row) == 1:
            machine = row[0]
            machines[machine] = {"sections": {}, "means": {}}
        elif row[0] == "section":
            header = row
        elif row[0] == "" and row[2] == "AUC":
            header = None
        elif row[0].startswith("official score"):
            overall[row[0]] = float(row[2])
        elif header is not None:
            machines[machine]["sections"][row[0]] = dict(zip(header[1:], map(float, row[1:])))
        else:
            values = dict(zip(["AUC", "pAUC", "precision", "recall", "F1 score"], map(float, row[2:])))
            if "over all" in row[0]:
                overall[row[0].split(" over all")[0]] = values
            else:
                machines[machine]["means"][row[0]] = values
    return machines, overall


@pytest.fixture(scope="module")
def official():
    return read_evaluator_result(OFFICIAL / "evaluator_result.csv")


@pytest.fixture(scope="module")
def official_scores():
    return read_score_files(OFFICIAL / "scores")


def close(a, b):
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-9)


def test_section_figures_equal_the_official_evaluator(official, official_scores):
    machines, _ = official
    table = section_figures(official_scores)
    assert sorted(machines) == sorted(table["machine"]) == ["bandsaw", "valve"]
    for _, row in table.iterrows():
        expected = machines[row["machine"]]["sections"][row["section"]]
        for theirs, ours in SECTION_COLUMNS.items():
            assert close(row[ours], expected[theirs]), (row["machine"], theirs, row[ours], expected[theirs])
    # the case holds ties and a section without target anomalies
    assert official_scores["anomaly_score"].duplicated().sum() > 100
    bandsaw = table.set_index("machine").loc["bandsaw"]
    assert bandsaw["n_anomaly_target"] == 0 and bandsaw["n_normal_target"] > 0
    assert not math.isnan(bandsaw["auc_target"])  # defined: target normals vs source anomalies


def test_machine_and_overall_means_equal_the_official_evaluator(official, official_scores):
    machines, overall = official
    sections = section_figures(official_scores)
    per_machine = machine_figures(sections).set_index("machine")
    for machine, got in per_machine.iterrows():
        means = machines[machine]["means"]
        pairs = [
            ("arithmetic mean", "AUC", "amean_auc"), ("arithmetic mean", "pAUC", "amean_pauc"),
            ("harmonic mean", "AUC", "hmean_auc"), ("harmonic mean", "pAUC", "hmean_pauc"),
            ("harmonic mean", "precision", "hmean_precision"),
            ("harmonic mean", "recall", "hmean_recall"), ("harmonic mean", "F1 score", "hmean_f1"),
            ("source harmonic mean", "AUC", "hmean_auc_source"),
            ("target harmonic mean", "AUC", "hmean_auc_target"),
        ]
        for row, col, ours in pairs:
            assert close(got[ours], means[row][col]), (machine, row, col)
    summary = overall_figures(sections)
    assert close(summary["official_score"], overall["official score"])
    assert close(summary["amean_auc"], overall["arithmetic mean"]["AUC"])
    assert close(summary["amean_pauc"], overall["arithmetic mean"]["pAUC"])
    assert close(summary["hmean_auc"], overall["harmonic mean"]["AUC"])
    assert close(summary["hmean_pauc"], overall["harmonic mean"]["pAUC"])
    assert close(summary["hmean_auc_source"], overall["source harmonic mean"]["AUC"])
    assert close(summary["hmean_auc_target"], overall["target harmonic mean"]["AUC"])
    for key in ("precision", "recall", "F1 score"):
        ours = "hmean_f1" if key == "F1 score" else f"hmean_{key}"
        assert close(summary[ours], overall["harmonic mean"][key])
    assert summary["notes"] == []


def test_ground_truth_files_agree_with_the_names(official_scores):
    """The labels and domains parsed from the clip names are the evaluator's ground truth."""
    for machine in ("valve", "bandsaw"):
        gt = {}
        for kind in ("data", "domain", "attributes"):
            with open(OFFICIAL / f"ground_truth_{kind}" / f"ground_truth_{machine}_section_00_test.csv") as f:
                gt[kind] = {r[0]: r[1] for r in csv.reader(f)}
        mine = official_scores[official_scores["machine"] == machine].set_index("name")
        assert len(mine) == len(gt["data"])
        for eval_name, full in gt["attributes"].items():
            clip = mine.loc[full + ".wav"]
            assert int(gt["data"][eval_name]) == int(clip["label"] == "anomaly")
            assert int(gt["domain"][eval_name]) == int(clip["domain"] == "target")


def test_score_files_round_trip(tmp_path, official_scores):
    paths = write_score_files(official_scores, tmp_path)
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == sorted(
        p.name for p in (OFFICIAL / "scores").iterdir()
    )
    again = read_score_files(tmp_path)
    pd.testing.assert_frame_equal(again, official_scores)
    for path in (OFFICIAL / "scores").iterdir():  # the same lines, in file-name order
        assert (tmp_path / path.name).read_text().splitlines() == sorted(path.read_text().splitlines())


def test_unreadable_score_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No anomaly_score"):
        read_score_files(tmp_path)
    shutil.copy(OFFICIAL / "scores" / "anomaly_score_valve_section_00_test.csv", tmp_path)
    (tmp_path / "decision_result_valve_section_00_test.csv").write_text("section_00_0000.wav,1\n")
    with pytest.raises(ValueError, match="has no decision for"):
        read_score_files(tmp_path)


# ---------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def detector():
    return make_dcase_detector(str(TINY_SAFETENSORS))


@pytest.fixture(scope="module")
def valve_clips():
    """A quarter of the shared 2023 valve clips; half their normal clips train the detector."""
    clips = parse_dcase(DATA_DIR / "dcase2023_valve", machine="valve")
    clips = clips[clips["index"] % 4 == 0].copy()
    train = (clips["label"] == "normal") & (clips["index"] % 8 == 0)
    clips.loc[train, "split"] = "train"
    return clips


def check_against_direct_metrics(result):
    """Per-section figures equal the package's metrics on the detector's scores."""
    for _, row in result.sections.iterrows():
        part = result.scores[(result.scores["machine"] == row["machine"])
                             & (result.scores["section"] == row["section"])]
        y = (part["label"] == "anomaly").to_numpy(int)
        s = part["anomaly_score"].to_numpy()
        if y.min() == y.max():
            assert math.isnan(row["auc_all"]) and math.isnan(row["pauc"]) and row["notes"]
            continue
        assert row["auc_all"] == dcase_auc(y, s)
        assert row["pauc"] == dcase_pauc(y, s)
        if row["has_domains"]:
            for d in ("source", "target"):
                assert row[f"auc_{d}"] == dcase_domain_auc(y, s, part["domain"].to_numpy(), d)


def test_valve_end_to_end(valve_clips, detector, tmp_path):
    result = evaluate_dcase(valve_clips, detector)
    sec = result.sections.iloc[0]
    assert (sec["machine"], sec["section"], sec["n_train"]) == ("valve", "00", 14)
    assert sec["n_test"] == 38 and sec["notes"] == ""
    check_against_direct_metrics(result)
    # the scores are those of the detector fitted on the section's training clips
    train = valve_clips[valve_clips["split"] == "train"]["path"].tolist()
    test = result.scores["path"].tolist()
    fitted = make_dcase_detector(str(TINY_SAFETENSORS)).fit(train)
    np.testing.assert_allclose(result.scores["anomaly_score"], -fitted.score_samples(test), rtol=1e-6)
    np.testing.assert_array_equal(result.scores["decision"], (fitted.predict(test) == -1).astype(int))
    # official score = harmonic mean of source AUC, target AUC and pAUC
    assert result.official_score == pytest.approx(
        3 / (1 / sec["auc_source"] + 1 / sec["auc_target"] + 1 / sec["pauc"]), abs=1e-12
    )
    # score files parse back into the same figures
    names = result.write_score_files(tmp_path)
    assert [n.rsplit("/", 1)[1] for n in names] == [
        "anomaly_score_valve_section_00_test.csv", "decision_result_valve_section_00_test.csv",
    ]
    back = read_score_files(tmp_path)
    again = section_figures(back)
    for col in ("auc_all", "auc_source", "auc_target", "pauc", "f1_source", "f1_target"):
        assert again[col].iloc[0] == sec[col]
    table = pd.read_csv(result.to_csv(tmp_path / "figures.csv"))
    assert list(table["level"]) == ["section", "machine", "all"]
    assert table["official_score"].iloc[-1] == pytest.approx(result.official_score, abs=1e-15)


def test_valve_with_source_and_target_banks(valve_clips, detector):
    one = evaluate_dcase(valve_clips, detector)
    two = evaluate_dcase(valve_clips, detector, domain_banks=True)
    check_against_direct_metrics(two)
    # k = 1: the minimum over the two banks is the nearest distance in their union
    np.testing.assert_allclose(two.scores["anomaly_score"], one.scores["anomaly_score"], rtol=1e-6)
    assert list(two.scores["name"]) == list(one.scores["name"])
    bad = valve_clips.copy()
    bad.loc[bad["split"] == "train", "domain"] = None
    with pytest.raises(ValueError, match="domain_banks=True needs the domain"):
        evaluate_dcase(bad, detector, domain_banks=True)


def test_dcase2020_names_end_to_end(tmp_path, detector):
    """2020 layout: <machine>/train/normal_id_*, <machine>/test/{normal,anomaly}_id_*."""
    src = DATA_DIR / "dcase2020_id00"
    for sub in ("train", "test"):
        (tmp_path / "fan" / sub).mkdir(parents=True)
    normals = sorted((src / "train").glob("normal_id_00_*.wav"))
    for i, path in enumerate(normals[:16]):
        (tmp_path / "fan" / ("train" if i < 10 else "test") / path.name).symlink_to(path)
    anomaly = src / "test" / "anomaly_id_00_00000000.wav"
    (tmp_path / "fan" / "test" / anomaly.name).symlink_to(anomaly)
    result = evaluate_dcase(tmp_path, detector)
    sec = result.sections.iloc[0]
    assert (sec["machine"], sec["section"], sec["n_train"], sec["n_test"]) == ("fan", "00", 10, 7)
    assert not sec["has_domains"] and math.isnan(sec["auc_source"])
    check_against_direct_metrics(result)
    # without domains the section AUC stands for the domain AUCs
    expected = 2 / (1 / sec["auc_all"] + 1 / sec["pauc"])
    assert result.official_score == pytest.approx(expected, abs=1e-12)
    names = result.write_score_files(tmp_path / "scores")
    assert names[0].endswith("anomaly_score_fan_id_00.csv")
    back = read_score_files(tmp_path / "scores")
    assert section_figures(back)["auc_all"].iloc[0] == sec["auc_all"]


def build_two_sections(root):
    """valve/{train,test}: section 00 from the shared clips, section 01 whose test clips are all normal.

    The clips of section 01 are shared valve clips renamed with section 01.
    """
    src = sorted((DATA_DIR / "dcase2023_valve" / "test").glob("*.wav"))
    (root / "valve" / "train").mkdir(parents=True)
    (root / "valve" / "test").mkdir(parents=True)
    for path in src:
        info = parse_dcase([path]).iloc[0]
        if info["index"] % 4:
            continue
        normal_train = info["label"] == "normal" and info["index"] % 8 == 0
        for section in ("00", "01"):
            if section == "01" and info["label"] == "anomaly":
                continue
            split = "train" if normal_train else "test"
            name = path.name.replace("section_00_", f"section_{section}_").replace("_test_", f"_{split}_")
            (root / "valve" / split / name).symlink_to(path)


def test_section_without_anomalies_is_nan_and_said_so(tmp_path, detector):
    build_two_sections(tmp_path)
    with pytest.warns(UserWarning, match="section '01'.*AUC \\(all\\) undefined"):
        result = evaluate_dcase(tmp_path, detector)
    sections = result.sections.set_index("section")
    assert list(sections.index) == ["00", "01"]
    s01 = sections.loc["01"]
    for col in ("auc_all", "auc_source", "auc_target", "pauc"):
        assert math.isnan(s01[col])
    assert "0 anomalous" in s01["notes"] and s01["n_anomaly_source"] == 0
    assert sections.loc["00", "notes"] == ""
    check_against_direct_metrics(result)
    # the means use the defined figures and list what they left out
    s00 = sections.loc["00"]
    assert result.official_score == pytest.approx(
        3 / (1 / s00["auc_source"] + 1 / s00["auc_target"] + 1 / s00["pauc"]), abs=1e-12
    )
    assert len(result.summary["notes"]) == 1 and "valve section 01" in result.summary["notes"][0]
    table = pd.read_csv(result.to_csv(tmp_path / "figures.csv"), dtype={"section": str})
    assert table.loc[table["section"] == "01", "auc_all"].isna().all()
    # the score files of both sections are written and parse back
    result.write_score_files(tmp_path / "scores")
    back = read_score_files(tmp_path / "scores")
    assert sorted(set(back["section"])) == ["00", "01"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = section_figures(back)  # figures alone do not warn
    assert math.isnan(again.set_index("section").loc["01", "pauc"])


def test_errors_name_the_section(valve_clips, detector):
    no_train = valve_clips.assign(split="test")
    with pytest.raises(ValueError, match="machine 'valve' section '00' has 52 test clips but no training"):
        evaluate_dcase(no_train, detector)
    with pytest.raises(ValueError, match="no test clip"):
        evaluate_dcase(valve_clips[valve_clips["split"] == "train"], detector)
    with pytest.raises(ValueError, match="missing the columns"):
        evaluate_dcase(valve_clips.drop(columns=["split"]), detector)
    with pytest.raises(ValueError, match="1 clips have no split.*recordings/normal_id_00_00000000.wav"):
        evaluate_dcase(parse_dcase(["recordings/normal_id_00_00000000.wav"]), detector)


def test_guide_examples_run_as_written(monkeypatch, tmp_path, capsys):
    """The python blocks of docs/dcase.md, in order, on the tiny model and the shared data."""
    import re

    monkeypatch.setenv("ECHO_MODEL", str(TINY_SAFETENSORS))
    monkeypatch.setenv("ECHO_DATA", str(DATA_DIR))
    monkeypatch.setenv("SKLEARN_ECHO_REPO", str(ROOT))
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "docs" / "dcase.md").read_text()
    namespace = {"__name__": "dcase_guide"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the guide's example has no undefined figure
        for i, block in enumerate(re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)):
            exec(compile(block, f"docs/dcase.md python block {i + 1}", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    result = namespace["result"]
    assert f"official score {result.official_score:.4f}" in out
    assert (tmp_path / "figures.csv").is_file()
    assert sorted(p.name for p in (tmp_path / "scores").iterdir()) == [
        "anomaly_score_valve_section_00_test.csv", "decision_result_valve_section_00_test.csv",
    ]
    assert "0.6942838532" in out  # the 2021 case's official score
    assert namespace["truth"]["label"].notna().all()


# ------------------------------------------------------------- DCASE 2021 rules

OFFICIAL_2021 = ROOT / "tests" / "data" / "dcase" / "official_2021"


def read_evaluator_result_2021(path):
    """The 2021 evaluator's result: (machine, section, domain) rows, machine means, overall."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(r)]
    cols = ["AUC", "pAUC", "precision", "recall", "F1 score"]
    sections, means, overall, machine = {}, {}, {}, None
    for row in rows:
        if len(row) == 1:
            machine = row[0]
        elif row[0] in ("section", ""):
            continue
        elif row[0] == "official score":
            overall["official score"] = float(row[2])
        elif row[1] in ("source", "target"):
            sections[(machine, row[0], row[1])] = dict(zip(cols, map(float, row[2:])))
        elif "over all" in row[0]:
            overall[row[0].split(" over all")[0]] = dict(zip(cols, map(float, row[2:])))
        else:
            means[(machine, row[0])] = dict(zip(cols, map(float, row[2:])))
    return sections, means, overall


def test_2021_rules_equal_the_official_2021_evaluator():
    """Real 2021 evaluation names and labels (ToyCar, fan), tied scores, the 2021 evaluator's output."""
    from sklearn_echo.evaluation import attach_ground_truth, read_ground_truth

    expected, means, overall = read_evaluator_result_2021(OFFICIAL_2021 / "evaluator_result.csv")
    scores = read_score_files(OFFICIAL_2021 / "scores")
    assert scores["label"].isna().all()  # evaluation names: labels come from the ground truth
    scores = attach_ground_truth(scores, read_ground_truth(OFFICIAL_2021))
    table = section_figures(scores, protocol="2021")
    assert len(table) == 4 and len(expected) == 8
    for _, row in table.iterrows():
        for d in ("source", "target"):
            want = expected[(row["machine"], row["section"], d)]
            for theirs, ours in [("AUC", "auc"), ("pAUC", "pauc"), ("precision", "precision"),
                                 ("recall", "recall"), ("F1 score", "f1")]:
                assert close(row[f"{ours}_{d}"], want[theirs]), (row["machine"], row["section"], d, theirs)
    per_machine = machine_figures(table).set_index("machine")
    for machine, got in per_machine.iterrows():
        # (the evaluator's per-machine source/target rows slice by the number of
        # machine types, not of sections: they are not compared)
        assert close(got["amean_auc"], means[(machine, "arithmetic mean")]["AUC"])
        assert close(got["amean_pauc"], means[(machine, "arithmetic mean")]["pAUC"])
        assert close(got["hmean_auc"], means[(machine, "harmonic mean")]["AUC"])
        assert close(got["hmean_pauc"], means[(machine, "harmonic mean")]["pAUC"])
        assert close(got["hmean_f1"], means[(machine, "harmonic mean")]["F1 score"])
    summary = overall_figures(table)
    assert close(summary["official_score"], overall["official score"])
    assert close(summary["hmean_auc"], overall["harmonic mean"]["AUC"])
    assert close(summary["hmean_pauc"], overall["harmonic mean"]["pAUC"])
    assert close(summary["amean_auc"], overall["arithmetic mean"]["AUC"])
    assert close(summary["hmean_auc_source"], overall["source harmonic mean"]["AUC"])
    assert close(summary["hmean_auc_target"], overall["target harmonic mean"]["AUC"])
    assert close(summary["hmean_recall"], overall["harmonic mean"]["recall"])


def test_2021_score_files_round_trip(tmp_path):
    scores = read_score_files(OFFICIAL_2021 / "scores")
    written = write_score_files(scores, tmp_path, protocol="2021")
    assert sorted(p.rsplit("/", 1)[1] for p in written) == sorted(p.name for p in (OFFICIAL_2021 / "scores").iterdir())
    pd.testing.assert_frame_equal(read_score_files(tmp_path), scores)
    with pytest.raises(ValueError, match="every clip needs a domain"):
        write_score_files(scores.assign(domain=None), tmp_path, protocol="2021")


def test_ground_truth_of_the_2023_evaluator_and_a_siren_list(tmp_path, official_scores):
    from sklearn_echo.evaluation import attach_ground_truth, read_ground_truth

    truth = read_ground_truth(OFFICIAL)
    assert len(truth) == len(official_scores)
    # score files written with evaluation names get their labels and domains back
    renamed = official_scores.copy()
    by_reference = dict(zip(truth["reference"], truth["name"]))
    renamed["name"] = [by_reference[n] for n in renamed["name"]]
    renamed["label"], renamed["domain"] = None, None
    labelled = attach_ground_truth(renamed, truth)
    assert list(labelled["label"]) == list(official_scores["label"])
    assert list(labelled["domain"]) == list(official_scores["domain"])
    # SIREN's evaluation list: real lines of eval_data_list_2022_converted.csv
    listing = tmp_path / "eval_data_list_2022_converted.csv"
    listing.write_text(
        "bearing\n"
        "section_03_0000.wav,section_03_source_test_normal_0000_vel_21.wav,0\n"
        "section_03_0001.wav,section_03_target_test_anomaly_0001_vel_25.wav,1\n"
        "section_03_0002.wav,section_03_source_test_normal_0002_vel_9.wav,0\n"
    )
    truth = read_ground_truth(listing)
    assert truth[["machine", "section", "label", "domain"]].values.tolist() == [
        ["bearing", "03", "normal", "source"], ["bearing", "03", "anomaly", "target"],
        ["bearing", "03", "normal", "source"],
    ]
    clips = attach_ground_truth(parse_dcase(["bearing/test/section_03_0001.wav"]), truth)
    assert (clips.loc[0, "label"], clips.loc[0, "domain"]) == ("anomaly", "target")
    listing.write_text("section_03_0000.wav,section_03_source_test_normal_0000_vel_21.wav,0\n")
    with pytest.raises(ValueError, match="expected a machine line"):
        read_ground_truth(listing)


def test_evaluation_set_without_labels(tmp_path, detector):
    """Evaluation names carry no label: scored and written, figures once the ground truth is attached."""
    from sklearn_echo.evaluation import attach_ground_truth, read_ground_truth

    src = parse_dcase(DATA_DIR / "dcase2023_valve")
    src = src[src["index"] % 4 == 0].reset_index(drop=True)
    root = tmp_path / "eval_data" / "valve"
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir(parents=True)
    (tmp_path / "gt" / "ground_truth_data").mkdir(parents=True)
    (tmp_path / "gt" / "ground_truth_domain").mkdir(parents=True)
    labels, domains, k = [], [], 0
    for _, row in src.iterrows():
        if row["label"] == "normal" and row["index"] % 8 == 0:
            name = row["name"].replace("_test_", "_train_")
            (root / "train" / name).symlink_to(row["path"])
        else:
            name = f"section_00_{k:04d}.wav"
            k += 1
            (root / "test" / name).symlink_to(row["path"])
            labels.append(f"{name},{int(row['label'] == 'anomaly')}\n")
            domains.append(f"{name},{int(row['domain'] == 'target')}\n")
    (tmp_path / "gt" / "ground_truth_data" / "ground_truth_valve_section_00_test.csv").write_text("".join(labels))
    (tmp_path / "gt" / "ground_truth_domain" / "ground_truth_valve_section_00_test.csv").write_text("".join(domains))

    with pytest.warns(UserWarning, match="38 unlabelled clips left out"):
        blind = evaluate_dcase(tmp_path / "eval_data", detector)
    assert blind.scores["label"].isna().all() and math.isnan(blind.official_score)
    assert len(blind.write_score_files(tmp_path / "scores")) == 2

    truth = read_ground_truth(tmp_path / "gt")
    labelled = evaluate_dcase(attach_ground_truth(parse_dcase(tmp_path / "eval_data"), truth), detector)
    later = section_figures(attach_ground_truth(read_score_files(tmp_path / "scores"), truth))
    for col in ("auc_all", "auc_source", "auc_target", "pauc", "f1_source"):
        assert later[col].iloc[0] == labelled.sections[col].iloc[0]
    assert labelled.sections["notes"].iloc[0] == "" and labelled.sections["n_test"].iloc[0] == 38
