"""DCASE file names of every year 2020-2025 parse into machine, section, domain, split, label.

Every name below is a real DCASE Task 2 file name, copied from public sources:

* the shared data (``../shared/data/dcase2023_valve``, ``dcase2020_id00``);
* the evaluation lists of the SIREN benchmark (yucongzh/SIREN,
  ``supplements/eval_lists/eval_data_list_<year>_converted.csv``: evaluation
  name, reference name, label), for 2020 to 2025;
* the ground truth of the official 2023 evaluator
  (nttcslab/dcase2023_task2_evaluator, ``ground_truth_attributes/``);
* training names quoted in public DCASE code: ToyCar and valve 2021
  (yoshiinet/dcase2021_task2_ar_frame_seq_model), fan 2022 (``f-n_C``),
  valve and ToothBrush 2024 (``v1pat_A_v2pat_none``, ``noAttribute``).
"""

import subprocess
import sys

import pytest

from sklearn_echo.datasets import (
    DCASE_COLUMNS,
    DCASENameError,
    parse_dcase,
    parse_dcase_name,
)

from .conftest import DATA_DIR, ROOT

# (path, machine, section, domain, split, label, attributes, convention)
REAL_NAMES = [
    # 2020 development: <machine>/{train,test}/{normal,anomaly}_id_XX_NNNNNNNN.wav
    ("fan/train/normal_id_00_00000000.wav", "fan", "00", None, "train", "normal", "", "2020-dev"),
    ("fan/test/anomaly_id_01_00000064.wav", "fan", "01", None, "test", "anomaly", "", "2020-dev"),
    ("ToyConveyor/test/normal_id_01_00000098.wav", "ToyConveyor", "01", None, "test", "normal", "", "2020-dev"),
    # 2020 evaluation: no label
    ("pump/test/id_01_00000000.wav", "pump", "01", None, "test", None, "", "2020-eval"),
    # 2021: labelled test names without attributes, training names with them
    ("gearbox/source_test/section_03_source_test_anomaly_0000.wav",
     "gearbox", "03", "source", "test", "anomaly", "", "2021-2025"),
    ("gearbox/target_test/section_03_target_test_normal_0001.wav",
     "gearbox", "03", "target", "test", "normal", "", "2021-2025"),
    ("ToyCar/train/section_00_source_train_normal_0000_A1Spd28VMic1.wav",
     "ToyCar", "00", "source", "train", "normal", "A1Spd28VMic1", "2021-2025"),
    ("valve/train/section_00_source_train_normal_0000_pattern_00_no_pump.wav",
     "valve", "00", "source", "train", "normal", "pattern_00_no_pump", "2021-2025"),
    # 2021 evaluation: domain but no label
    ("fan/target_test/section_03_target_test_0000.wav", "fan", "03", "target", "test", None, "", "2021-eval"),
    # 2022
    ("bearing/test/section_03_source_test_normal_0000_vel_21.wav",
     "bearing", "03", "source", "test", "normal", "vel_21", "2021-2025"),
    ("bearing/test/section_03_target_test_anomaly_0001_vel_25.wav",
     "bearing", "03", "target", "test", "anomaly", "vel_25", "2021-2025"),
    ("fan/train/section_01_target_train_normal_0000_f-n_C.wav",
     "fan", "01", "target", "train", "normal", "f-n_C", "2021-2025"),
    ("bearing/test/section_03_0000.wav", "bearing", "03", None, "test", None, "", "2022-2025-eval"),
    # 2023
    ("valve/test/section_00_source_test_anomaly_0000_pat_00.wav",
     "valve", "00", "source", "test", "anomaly", "pat_00", "2021-2025"),
    ("bandsaw/test/section_00_target_test_normal_0000_vel_12.wav",
     "bandsaw", "00", "target", "test", "normal", "vel_12", "2021-2025"),
    ("bandsaw/test/section_00_0005.wav", "bandsaw", "00", None, "test", None, "", "2022-2025-eval"),
    # 2024
    ("3DPrinter/test/section_00_target_test_anomaly_0001_mdl_B_spd_2.wav",
     "3DPrinter", "00", "target", "test", "anomaly", "mdl_B_spd_2", "2021-2025"),
    ("valve/train/section_00_source_train_normal_0001_v1pat_A_v2pat_none.wav",
     "valve", "00", "source", "train", "normal", "v1pat_A_v2pat_none", "2021-2025"),
    ("ToothBrush/train/section_00_source_train_normal_0000_noAttribute.wav",
     "ToothBrush", "00", "source", "train", "normal", "noAttribute", "2021-2025"),
    # 2025: evaluation names, and the SIREN list's domain-only reference names
    ("Polisher/test/section_00_0001.wav", "Polisher", "00", None, "test", None, "", "2022-2025-eval"),
    ("Polisher/test/section_00_target_0001.wav", "Polisher", "00", "target", "test", None, "", "domain-only"),
]


@pytest.mark.parametrize("row", REAL_NAMES, ids=[r[0] for r in REAL_NAMES])
def test_real_names_of_every_year(row):
    path, machine, section, domain, split, label, attributes, convention = row
    got = parse_dcase_name(path)
    assert (got["machine"], got["section"], got["domain"], got["split"], got["label"],
            got["attributes"], got["convention"]) == (machine, section, domain, split, label,
                                                      attributes, convention)
    assert got["name"] == path.rsplit("/", 1)[1]
    assert got["path"] == path


def test_table_columns_and_index():
    table = parse_dcase([r[0] for r in REAL_NAMES])
    assert tuple(table.columns) == DCASE_COLUMNS
    assert len(table) == len(REAL_NAMES)
    assert table.loc[1, "index"] == 64 and table.loc[0, "index"] == 0


def test_shared_2023_valve_folder():
    table = parse_dcase(DATA_DIR / "dcase2023_valve")
    assert len(table) == 200
    assert set(table["machine"]) == {"dcase2023_valve"}  # the folder above test/
    assert set(table["split"]) == {"test"} and set(table["section"]) == {"00"}
    assert table.groupby(["domain", "label"]).size().to_dict() == {
        ("source", "anomaly"): 50, ("source", "normal"): 50,
        ("target", "anomaly"): 50, ("target", "normal"): 50,
    }
    # valve's pattern attribute: source holds patterns 00/01, target 02/03
    assert set(table.loc[table["domain"] == "source", "attributes"]) == {"pat_00", "pat_01"}
    assert set(table.loc[table["domain"] == "target", "attributes"]) == {"pat_02", "pat_03"}
    assert set(parse_dcase(DATA_DIR / "dcase2023_valve", machine="valve")["machine"]) == {"valve"}


def test_shared_2020_folder():
    table = parse_dcase(DATA_DIR / "dcase2020_id00")
    assert table.groupby(["split", "label"]).size().to_dict() == {
        ("test", "anomaly"): 1, ("train", "normal"): 75,
    }
    assert set(table["domain"].isna()) == {True}
    assert set(table["convention"]) == {"2020-dev"}


@pytest.mark.parametrize(
    "path, machine, split",
    [
        ("fan_section_00_source_test_normal_0000.wav", "fan", "test"),
        ("fan_test_section_00_target_test_anomaly_0022_m-n_W.wav", "fan", "test"),
        ("data/ToyCar_train_normal_id_01_00000098.wav", "ToyCar", "train"),
        ("ToyCar_id_01_00000000.wav", "ToyCar", "test"),
    ],
)
def test_flattened_layout_takes_the_machine_from_a_prefix(path, machine, split):
    got = parse_dcase_name(path)
    assert (got["machine"], got["split"]) == (machine, split)


def test_split_folder_outside_the_official_layout_gives_no_split():
    got = parse_dcase_name("recordings/normal_id_00_00000000.wav")
    assert got["split"] is None and got["machine"] == "recordings"


@pytest.mark.parametrize(
    "name",
    ["section_00_source_validation_normal_0000.wav", "normal_00000000.wav", "fan.wav",
     "section_xx_source_test_normal_0000.wav"],
)
def test_unknown_name_is_an_error_naming_it_and_the_conventions(name):
    with pytest.raises(DCASENameError) as err:
        parse_dcase(["valve/test/section_00_source_test_normal_0000_pat_00.wav", f"valve/test/{name}"])
    message = str(err.value)
    assert name in message
    for convention in ("2020-dev", "2021-2025", "2022-2025-eval", "normal_id_00_00000000.wav"):
        assert convention in message


def test_empty_folder_and_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="No .wav/.flac file"):
        parse_dcase(tmp_path)
    with pytest.raises(TypeError, match="paths_or_root"):
        parse_dcase(3)


def test_importing_the_parser_does_not_import_pandas():
    code = "import sys, sklearn_echo.datasets; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
