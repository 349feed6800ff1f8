"""Tests of the input-loading layer, sklearn_echo.signals."""

import doctest
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import soundfile as sf
import torch

from sklearn_echo.signals import loading as signals_module  # the reading loop (load_item, scan_signals)
from sklearn_echo.signals import (
    SUPPORTED_EXTENSIONS,
    Item,
    Signal,
    SignalError,
    SignalFileNotFoundError,
    expand_paths,
    iter_signals,
    list_items,
    load_item,
    load_signals,
    scan_signals,
    supported_extensions,
)

# the same locations as tests/conftest.py (../shared next to the project root)
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CWRU_DIR = DATA_DIR / "cwru"
MIMII_DIR = DATA_DIR / "mimii_fan_id00"
CWRU_12K = CWRU_DIR / "12k_drive_end" / "12k_Drive_End_B007_0_118.mat"
CWRU_48K_X173 = CWRU_DIR / "48k_drive_end" / "48k_Drive_End_IR014_0_174.mat"
CWRU_NORMAL = CWRU_DIR / "normal" / "normal_0_97.mat"
MIMII_MONO = MIMII_DIR / "normal" / "00000000.wav"
MIMII_8CH = MIMII_DIR / "multichannel" / "normal_00000000_8ch.wav"

rng = np.random.default_rng(0)


def sig(n=1000, channels=None, dtype=np.float32):
    shape = (n,) if channels is None else (channels, n)
    return rng.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------- public surface
def test_supported_extensions():
    assert SUPPORTED_EXTENSIONS == (".wav", ".flac", ".ogg", ".mat", ".npy", ".csv")
    assert supported_extensions()[: len(SUPPORTED_EXTENSIONS)] == SUPPORTED_EXTENSIONS


def test_error_classes():
    assert issubclass(SignalError, ValueError)
    assert issubclass(SignalFileNotFoundError, SignalError)
    assert issubclass(SignalFileNotFoundError, FileNotFoundError)


def test_docstring_examples_run():
    result = doctest.testmod(signals_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8
    assert result.failed == 0


# --------------------------------------------------------------------------- forms of X
def test_list_of_1d_arrays_becomes_mono_signals():
    a, b = sig(100), sig(250)
    out = load_signals([a, b], sample_rate=16000)
    assert [s.data.shape for s in out] == [(1, 100), (1, 250)]
    assert [s.source for s in out] == ["X[0]", "X[1]"]
    assert all(s.sample_rate == 16000.0 and s.path is None for s in out)
    np.testing.assert_array_equal(out[1].data[0], b)


def test_float32_contiguous_items_are_views_not_copies():
    a = sig(500)
    block = sig(400, channels=3)
    s1, s2 = load_signals([a, block], sample_rate=1000)
    assert np.shares_memory(s1.data, a)
    assert np.shares_memory(s2.data, block)
    assert s1.data.flags.c_contiguous and s2.data.flags.c_contiguous


def test_dense_2d_block_rows_are_mono_views():
    X = sig(300, channels=5)  # (n_signals, n_samples)
    out = load_signals(X, sample_rate=8000)
    assert len(out) == 5
    for i, s in enumerate(out):
        assert s.data.shape == (1, 300)
        assert np.shares_memory(s.data, X)
        np.testing.assert_array_equal(s.data[0], X[i])
    # more signals than samples per signal is fine for a dense block
    assert len(load_signals(np.zeros((50, 10), dtype=np.float32), 100)) == 50


def test_dense_3d_block():
    X = rng.standard_normal((4, 2, 256)).astype(np.float32)
    out = load_signals(X, sample_rate=48000)
    assert [s.data.shape for s in out] == [(2, 256)] * 4
    np.testing.assert_array_equal(out[3].data, X[3])
    assert np.shares_memory(out[0].data, X)


def test_dense_float64_and_fortran_blocks_are_converted():
    X = rng.standard_normal((3, 200))
    out = load_signals(X, sample_rate=100)
    assert out[0].data.dtype == np.float32 and out[0].data.flags.c_contiguous
    np.testing.assert_allclose(out[2].data[0], X[2].astype(np.float32))
    F = np.asfortranarray(sig(64, channels=3))
    out = load_signals(F, sample_rate=100)
    assert all(s.data.flags.c_contiguous for s in out)
    np.testing.assert_array_equal(out[1].data[0], F[1])


def test_integer_arrays_keep_their_values():
    a = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    [s] = load_signals([a], sample_rate=10)
    assert s.data.dtype == np.float32
    np.testing.assert_array_equal(s.data[0], [-32768.0, -1.0, 0.0, 1.0, 32767.0])
    [s] = load_signals([np.arange(5, dtype=np.uint8)], sample_rate=10)
    np.testing.assert_array_equal(s.data[0], np.arange(5, dtype=np.float32))


def test_lists_of_floats_and_nested_lists():
    out = load_signals([[0.0, 0.5, 1.0], [[1, 2, 3, 4], [5, 6, 7, 8]]], sample_rate=4)
    np.testing.assert_array_equal(out[0].data, [[0.0, 0.5, 1.0]])
    np.testing.assert_array_equal(out[1].data, [[1, 2, 3, 4], [5, 6, 7, 8]])


def test_tuple_object_array_and_series_of_signals():
    a, b = sig(10), sig(20, channels=2)
    objarr = np.empty(2, dtype=object)
    objarr[0], objarr[1] = a, b
    for X in [(a, b), objarr, pd.Series([a, b])]:
        out = load_signals(X, sample_rate=100)
        assert [s.data.shape for s in out] == [(1, 10), (2, 20)]
        np.testing.assert_array_equal(out[1].data, b)


def test_torch_tensors_as_items_and_as_dense_block():
    t = torch.linspace(-1, 1, 50)
    t2 = torch.randn(2, 40, requires_grad=True)
    out = load_signals([t, t2], sample_rate=1000)
    np.testing.assert_allclose(out[0].data[0], t.numpy())
    np.testing.assert_allclose(out[1].data, t2.detach().numpy())
    dense = torch.randn(3, 64)
    out = load_signals(dense, sample_rate=1000)
    assert len(out) == 3
    np.testing.assert_allclose(out[2].data[0], dense[2].numpy())
    [s] = load_signals([torch.ones(8, dtype=torch.bfloat16)], sample_rate=1000)
    np.testing.assert_array_equal(s.data, np.ones((1, 8), np.float32))


def test_paths_str_pathlike_and_string_array():
    for X in [[str(MIMII_MONO)], [MIMII_MONO], np.array([str(MIMII_MONO)]), pd.Series([str(MIMII_MONO)])]:
        [s] = load_signals(X)
        assert s.path == str(MIMII_MONO)
        assert s.source == f"X[0] ({MIMII_MONO})"
        assert s.sample_rate == 16000.0


def test_relative_paths_are_named_absolutely(tmp_path, monkeypatch):
    np.save(tmp_path / "rel.npy", sig(100))
    monkeypatch.chdir(tmp_path)
    [s] = load_signals(["rel.npy"], sample_rate=100)
    assert s.path == str(tmp_path / "rel.npy")
    assert s.source == f"X[0] ({tmp_path / 'rel.npy'})"


def test_pairs_give_per_item_rates():
    a, b = sig(100), sig(100)
    out = load_signals([(a, 12000), (b, 48000.0), (str(CWRU_12K), 12000)])
    assert [s.sample_rate for s in out] == [12000.0, 48000.0, 12000.0]
    assert out[2].path == str(CWRU_12K)
    # a pair rate takes precedence over the scalar default
    out = load_signals([(a, 12000), b], sample_rate=16000)
    assert [s.sample_rate for s in out] == [12000.0, 16000.0]
    # numpy scalars are fine as rates
    [s] = load_signals([(a, np.int64(8000))])
    assert s.sample_rate == 8000.0


def test_pair_of_signal_and_none_falls_back_to_default():
    [s] = load_signals([(sig(10), None)], sample_rate=500)
    assert s.sample_rate == 500.0


def test_two_channel_tuple_is_not_a_pair():
    [s] = load_signals([([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])], sample_rate=10)
    assert s.data.shape == (2, 3)


def test_signal_objects_can_be_passed_again():
    first = load_signals([str(MIMII_MONO), sig(100)], sample_rate=100)
    again = load_signals(first)
    assert again[0].sample_rate == 16000.0 and again[1].sample_rate == 100.0
    assert again[0].path == str(MIMII_MONO)
    assert np.shares_memory(again[0].data, first[0].data)


def test_dataframe_forms():
    a, b = sig(100), sig(200)
    out = load_signals(pd.DataFrame({"signal": [a, b], "sample_rate": [8000, 16000]}))
    assert [s.sample_rate for s in out] == [8000.0, 16000.0]
    np.testing.assert_array_equal(out[1].data[0], b)
    out = load_signals(pd.DataFrame({"path": [str(CWRU_12K), str(CWRU_NORMAL)], "sr": [12000, 48000]}))
    assert [(s.sample_rate, s.data.shape) for s in out] == [(12000.0, (1, 122571)), (48000.0, (1, 243938))]
    out = load_signals(pd.DataFrame({"file": [str(MIMII_MONO)], "label": ["normal"]}))
    assert out[0].sample_rate == 16000.0
    # "signal" wins over "path"; the scalar default serves a frame without a rate column
    df = pd.DataFrame({"path": ["ignored.wav"], "signal": [a]})
    [s] = load_signals(df, sample_rate=100)
    np.testing.assert_array_equal(s.data[0], a)
    # a DataFrame with a non-default index is read by position
    df = pd.DataFrame({"signal": [a, b]}, index=[10, 20])
    assert [s.source for s in load_signals(df, 100)] == ["X[0]", "X[1]"]


def test_dataframe_without_signal_column_lists_columns():
    with pytest.raises(SignalError, match=r"'signal', 'path' or 'file'.*\['x', 'label'\]"):
        load_signals(pd.DataFrame({"x": [1, 2], "label": ["a", "b"]}))


def test_dataframe_rate_column_conflicts_with_wav():
    df = pd.DataFrame({"path": [str(MIMII_MONO)], "sample_rate": [44100]})
    with pytest.raises(SignalError, match=r"sampled at 16000 Hz but 44100 Hz was given"):
        load_signals(df)


@pytest.mark.parametrize(
    "X",
    [
        "recording.wav",
        Path("recording.wav"),
        np.zeros(100),
        [0.1, 0.2, 0.3],
        pd.Series([0.1, 0.2]),
        torch.zeros(10),
        np.float32(1.0),
    ],
    ids=["str", "pathlike", "1d-array", "list-of-numbers", "numeric-series", "1d-tensor", "scalar"],
)
def test_a_single_item_as_X_is_an_error(X):
    with pytest.raises(SignalError, match=r"X must be a sequence of signals or file paths; wrap a single item in a list"):
        list_items(X, sample_rate=100)


def test_single_signal_and_pair_as_X_are_errors():
    [s] = load_signals([sig(10)], sample_rate=10)
    with pytest.raises(SignalError, match="wrap a single item in a list"):
        load_signals(s)
    with pytest.raises(SignalError, match=r"single \(signal, sample_rate\) pair; wrap it in a list"):
        load_signals((sig(10), 16000))


@pytest.mark.parametrize("X", [[], (), np.empty(0, dtype=object), pd.Series([], dtype=object)])
def test_empty_X_is_an_error(X):
    with pytest.raises(SignalError, match="X is empty"):
        load_signals(X, sample_rate=100)


@pytest.mark.parametrize(
    "X, match",
    [
        (None, "X is None"),
        ({"a": 1}, "X is a dict"),
        (np.zeros((2, 2, 2, 2)), r"4 dimensions"),
        (np.zeros((3, 10), dtype=complex), r"dtype complex128"),
        (np.array([["a.wav"], ["b.wav"]]), r"must be 1-D"),
    ],
)
def test_bad_containers(X, match):
    with pytest.raises(SignalError, match=match):
        list_items(X, sample_rate=100)


def test_generator_of_items_is_accepted():
    out = load_signals((sig(10) for _ in range(3)), sample_rate=10)
    assert len(out) == 3


# --------------------------------------------------------------------------- list_items / Item
def test_list_items_does_not_read_files_or_copy():
    a = sig(100)
    items = list_items([a, "missing.wav", ("missing.mat", 12000), "missing.npy"], sample_rate=500)
    assert [type(it) for it in items] == [Item] * 4
    assert items[0].value is a
    assert items[0].source == "X[0]" and items[0].sample_rate == 500.0
    assert items[1].source == f"X[1] ({os.path.abspath('missing.wav')})"
    # a sound file reads its own rate: the scalar default is not attached to it
    assert items[1].sample_rate is None
    assert items[2].value == "missing.mat" and items[2].sample_rate == 12000.0
    # formats without a stored rate get the scalar default
    assert items[3].sample_rate == 500.0
    assert items[3].path == os.path.abspath("missing.npy")


def test_list_items_dense_block_values_are_views():
    X = sig(100, channels=4)
    items = list_items(X, sample_rate=[1, 2, 3, 4])
    assert [it.sample_rate for it in items] == [1.0, 2.0, 3.0, 4.0]
    assert all(np.shares_memory(it.value, X) for it in items)


def test_load_item_on_one_item():
    [item] = list_items([str(MIMII_8CH)])
    s = load_item(item)
    assert s.data.shape == (8, 160000) and s.sample_rate == 16000.0
    manual = Item(index=7, value=np.arange(3), sample_rate=2.0, source="X[7]")
    assert load_item(manual) == Signal(np.arange(3, dtype=np.float32)[None], 2.0, "X[7]")


def test_item_equality():
    a = list_items([np.arange(3)], sample_rate=1)
    b = list_items([np.arange(3)], sample_rate=1)
    assert a == b
    assert a != list_items([np.arange(3)], sample_rate=2)


# --------------------------------------------------------------------------- rates
def test_per_item_rate_array():
    out = load_signals([sig(10), sig(10), sig(10)], sample_rate=np.array([8000, 16000, 44100.0]))
    assert [s.sample_rate for s in out] == [8000.0, 16000.0, 44100.0]
    out = load_signals([sig(10), (sig(10), 16000)], sample_rate=[8000, None])
    assert [s.sample_rate for s in out] == [8000.0, 16000.0]
    with pytest.raises(SignalError, match=r"no sampling rate for X\[0\]"):
        load_signals([sig(10), sig(10)], sample_rate=[None, 16000])


def test_per_item_rate_length_mismatch_names_both_lengths():
    with pytest.raises(ValueError, match=r"sample_rate has 2 per-item rates but X has 3 items"):
        list_items([sig(10)] * 3, sample_rate=[16000, 16000])


def test_per_item_rate_array_with_wrong_shape():
    with pytest.raises(SignalError, match=r"got shape \(1, 2\)"):
        list_items([sig(10)] * 2, sample_rate=[[1, 2]])


def test_pair_and_per_item_rate_must_agree():
    with pytest.raises(SignalError, match=r"X\[0\]: the \(signal, sample_rate\) pair gives 12000 Hz but sample_rate\[0\] gives 48000 Hz"):
        list_items([(sig(10), 12000)], sample_rate=[48000])
    # agreeing rates are fine
    assert list_items([(sig(10), 12000)], sample_rate=[12000.0])[0].sample_rate == 12000.0


def test_wav_rate_from_file_and_scalar_does_not_conflict():
    [s] = load_signals([str(MIMII_MONO)], sample_rate=48000)
    assert s.sample_rate == 16000.0


def test_explicit_rate_conflicting_with_wav_names_path_and_both_rates():
    for X, kw in [([(str(MIMII_MONO), 48000)], {}), ([str(MIMII_MONO)], {"sample_rate": [48000]})]:
        with pytest.raises(SignalError) as info:
            load_signals(X, **kw)
        msg = str(info.value)
        assert str(MIMII_MONO) in msg and "16000 Hz" in msg and "48000 Hz" in msg
    # an agreeing explicit rate is accepted
    [s] = load_signals([(str(MIMII_MONO), 16000)])
    assert s.sample_rate == 16000.0


def test_no_rate_names_the_item():
    with pytest.raises(SignalError, match=r"no sampling rate for X\[4\]; pass sample_rate=\.\.\."):
        load_signals([(sig(10), 100)] * 4 + [sig(10)])
    with pytest.raises(SignalError, match=r"no sampling rate for X\[0\] \(.*normal_0_97\.mat\).*\.mat files do not store one"):
        load_signals([str(CWRU_NORMAL)])


BAD_RATES = [True, np.bool_(False), float("nan"), float("inf"), -float("inf"), 0, -16000, "16000", 1 + 2j]


@pytest.mark.parametrize("rate", BAD_RATES, ids=[repr(r) for r in BAD_RATES])
def test_invalid_scalar_rates(rate):
    with pytest.raises(SignalError, match=r"sample_rate=.* is not valid: .*sampling rates must be real, positive, finite"):
        list_items([sig(10)], sample_rate=rate)


@pytest.mark.parametrize("rate", BAD_RATES, ids=[repr(r) for r in BAD_RATES])
def test_invalid_pair_and_per_item_rates_name_the_item(rate):
    with pytest.raises(SignalError, match=r"X\[1\]: the sample rate from the \(signal, sample_rate\) pair is not valid"):
        load_signals([(sig(10), 100), (sig(10), rate)])
    with pytest.raises(SignalError, match=r"X\[1\]: the sample rate from sample_rate\[1\] is not valid"):
        list_items([sig(10), sig(10)], sample_rate=[100, rate])


def test_invalid_dataframe_rate_names_column_and_row():
    df = pd.DataFrame({"signal": [sig(10), sig(10)], "sr": [100.0, np.nan]})
    with pytest.raises(SignalError, match=r"X\[1\]: the sample rate from column 'sr' is not valid: it is NaN"):
        load_signals(df)


def test_list_items_reports_all_bad_rates_at_once():
    with pytest.raises(SignalError) as info:
        list_items([sig(10)] * 3, sample_rate=[0, 100, -1])
    assert [i for i, _ in info.value.errors] == [0, 2]


# --------------------------------------------------------------------------- validation rules
def test_empty_signals():
    with pytest.raises(SignalError, match=r"X\[0\] is empty \(0 samples"):
        load_signals([np.zeros(0)], sample_rate=10)
    with pytest.raises(SignalError, match=r"X\[0\] is empty \(0 samples"):
        load_signals([np.zeros((2, 0))], sample_rate=10)
    with pytest.raises(SignalError, match=r"X\[0\] is empty \(0 channels"):
        load_signals([np.zeros((0, 5))], sample_rate=10)
    with pytest.raises(SignalError, match=r"X\[1\] is empty"):
        load_signals(np.zeros((2, 0)), sample_rate=10)


@pytest.mark.parametrize(
    "value, match",
    [
        (np.array(["a", "b", "c"]), r"X\[0\] has dtype <U1 \(strings\); signals must be real numbers"),
        (np.array([1.0, None, 2.0]), r"X\[0\] has dtype object \(Python objects\)"),
        ([1.0, None, 2.0], r"X\[0\] has dtype object"),
        (np.array([True, False, True]), r"X\[0\] has dtype bool \(booleans\)"),
        (np.array([1 + 1j, 2.0]), r"X\[0\] has dtype complex128 \(complex numbers\)"),
        (torch.ones(3, dtype=torch.bool), r"X\[0\] is a boolean tensor"),
        (torch.ones(3, dtype=torch.complex64), r"X\[0\] is a complex tensor"),
    ],
    ids=["str", "object", "list-with-None", "bool", "complex", "bool-tensor", "complex-tensor"],
)
def test_non_numeric_dtypes(value, match):
    with pytest.raises(SignalError, match=match):
        load_signals([value], sample_rate=10)


def test_non_numeric_item_without_rate_reports_the_dtype():
    with pytest.raises(SignalError, match=r"X\[0\] has dtype <U1"):
        load_signals([np.array(["a", "b"])])


@pytest.mark.parametrize(
    "value, match",
    [
        (3.5, r"X\[1\] is a single number \(3\.5\), not a signal"),
        (None, r"X\[1\] is None"),
        (b"abc", r"X\[1\] is bytes"),
        ({"a": 1}, r"X\[1\] has unsupported type dict"),
        (np.array(2.0), r"X\[1\] is a single number"),
        ([[1.0, 2.0], [3.0]], r"X\[1\] is a ragged nested sequence"),
        ([np.zeros(10), 16000], r"ragged.*use a tuple \(signal, sample_rate\)"),
    ],
    ids=["number", "none", "bytes", "dict", "0d", "ragged", "list-pair"],
)
def test_items_that_are_not_signals(value, match):
    with pytest.raises(SignalError, match=match):
        load_signals([sig(5), value], sample_rate=10)


def test_more_than_two_dimensions():
    with pytest.raises(SignalError, match=r"X\[0\] has 3 dimensions \(shape \(2, 3, 4\)\); a signal is 1-D"):
        load_signals([np.zeros((2, 3, 4))], sample_rate=10)


def test_nan_and_inf_say_which_and_where():
    a = np.zeros(100)
    a[17] = np.nan
    a[40] = np.nan
    with pytest.raises(SignalError, match=r"X\[2\] contains NaN \(first at sample 17\)"):
        load_signals([sig(10), sig(10), a], sample_rate=10)
    b = np.zeros((3, 50), dtype=np.float32)
    b[1, 3] = np.inf
    with pytest.raises(SignalError, match=r"X\[0\] contains Inf \(first at channel 1, sample 3\)"):
        load_signals([b], sample_rate=10)
    b[2, 0] = np.nan
    with pytest.raises(SignalError, match=r"contains NaN \(first at channel 2, sample 0\) and Inf \(first at channel 1, sample 3\)"):
        load_signals([b], sample_rate=10)
    c = np.zeros(10)
    c[5] = -np.inf
    with pytest.raises(SignalError, match=r"X\[0\] contains Inf \(first at sample 5\)"):
        load_signals(c[None, :], sample_rate=10)


def test_float64_values_overflowing_float32_are_reported():
    a = np.zeros(20)
    a[7] = 1e40
    with pytest.raises(SignalError, match=r"X\[0\] has a value too large for float32 at sample 7 \(1e\+40\)"):
        load_signals([a], sample_rate=10)


def test_huge_finite_float32_values_are_accepted():
    # the float32 sum overflows, the exact check must still accept them
    a = np.full(1000, 3e38, dtype=np.float32)
    [s] = load_signals([a], sample_rate=10)
    assert np.shares_memory(s.data, a)


def test_samples_channels_layout_is_rejected_with_transpose_hint():
    a = np.zeros((16000, 2), dtype=np.float32)
    with pytest.raises(SignalError, match=r"X\[0\] has shape \(16000, 2\): more rows than columns\. Signals are laid out \(channels, samples\).*X\[0\]\.T"):
        load_signals([a], sample_rate=16000)
    [s] = load_signals([a.T], sample_rate=16000)
    assert s.data.shape == (2, 16000)
    # square is accepted
    assert load_signals([np.zeros((4, 4))], sample_rate=4)[0].data.shape == (4, 4)


def test_3d_block_in_samples_channels_layout_is_rejected():
    with pytest.raises(SignalError, match=r"X\[0\] has shape \(100, 2\): more rows than columns"):
        load_signals(np.zeros((3, 100, 2)), sample_rate=10)


def test_min_duration():
    with pytest.raises(SignalError, match=r"^1 of 2 items of X is invalid: X\[1\] has 120 samples; at 16000 Hz at least 400 \(25 ms\) are needed$"):
        load_signals([sig(400), sig(120)], sample_rate=16000, min_duration=0.025)
    assert len(load_signals([sig(400)], sample_rate=16000, min_duration=0.025)) == 1
    with pytest.raises(SignalError, match=r"has 47999 samples; at 48000 Hz at least 48000 \(1 s\) are needed"):
        load_signals([sig(47999)], sample_rate=48000, min_duration=1)
    # a tiny min_duration still needs one sample, and 0 disables nothing else
    assert len(load_signals([sig(1)], sample_rate=10, min_duration=0)) == 1
    with pytest.raises(SignalError, match=r"X\[0\] has 5 samples; at 12000 Hz at least 6000 \(500 ms\)"):
        load_signals([(sig(5), 12000)], min_duration=0.5)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "1s", True])
def test_invalid_min_duration(bad):
    with pytest.raises(ValueError, match="min_duration must be None or a non-negative finite number"):
        load_signals([sig(10)], sample_rate=10, min_duration=bad)


def test_min_duration_uses_the_rate_read_from_the_file():
    with pytest.raises(SignalError, match=r"has 160000 samples; at 16000 Hz at least 176000 \(11 s\)"):
        load_signals([str(MIMII_MONO)], sample_rate=1, min_duration=11)


# --------------------------------------------------------------------------- one error for all bad items
def test_all_bad_items_are_reported_in_one_error(tmp_path):
    nan = np.array([1.0, np.nan])
    X = [sig(10), nan, str(tmp_path / "gone.wav"), np.zeros((100, 2)), sig(10), [[1.0], [2.0, 3.0]]]
    with pytest.raises(SignalError) as info:
        load_signals(X, sample_rate=100)
    err = info.value
    assert type(err) is SignalError
    msg = str(err)
    assert msg.startswith("4 of 6 items of X are invalid:\n")
    for needle in ["X[1] contains NaN", "X[2] (", "gone.wav): file not found", "X[3] has shape (100, 2)", "X[5] is a ragged"]:
        assert needle in msg
    assert "X[0]" not in msg and "X[4]" not in msg
    assert [i for i, _ in err.errors] == [1, 2, 3, 5]


def test_the_listing_is_capped_at_20():
    X = [np.array([np.nan])] * 25
    with pytest.raises(SignalError) as info:
        load_signals(X, sample_rate=1)
    msg = str(info.value)
    assert "X[19] contains NaN" in msg and "X[20]" not in msg
    assert msg.endswith("... and 5 more")
    assert len(info.value.errors) == 25


def test_only_missing_files_raise_file_not_found(tmp_path):
    X = [str(tmp_path / "a.wav"), str(tmp_path / "b.mat"), sig(10)]
    with pytest.raises(SignalFileNotFoundError, match=r"X\[0\] \(.*a\.wav\): file not found") as info:
        load_signals(X, sample_rate=100)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    assert "b.mat" in str(info.value)
    with pytest.raises(SignalError) as info:
        load_signals(X + [np.array([np.inf])], sample_rate=100)
    assert not isinstance(info.value, FileNotFoundError)


def test_rate_errors_and_data_errors_are_reported_together():
    with pytest.raises(SignalError) as info:
        load_signals([(sig(10), 0), np.array([np.nan]), sig(10)], sample_rate=10)
    assert [i for i, _ in info.value.errors] == [0, 1]


def test_load_item_raises_single_item_errors(tmp_path):
    [item] = list_items([str(tmp_path / "x.flac")])
    with pytest.raises(SignalFileNotFoundError, match=r"^X\[0\] \(.*x\.flac\): file not found$"):
        load_item(item)


def test_iter_signals_streams_and_stops_at_first_bad_item():
    it = iter_signals([sig(10), np.array([np.nan]), sig(10)], sample_rate=10)
    assert next(it).n_samples == 10
    with pytest.raises(SignalError, match=r"X\[1\] contains NaN"):
        next(it)


# --------------------------------------------------------------------------- real files
def test_cwru_12k_mat():
    [s] = load_signals([str(CWRU_12K)], sample_rate=12000)
    ref = scipy.io.loadmat(str(CWRU_12K))["X118_DE_time"][:, 0].astype(np.float32)
    assert s.data.shape == (1, 122571) and s.sample_rate == 12000.0
    assert s.data.flags.c_contiguous and s.data.dtype == np.float32
    np.testing.assert_array_equal(s.data[0], ref)
    [fe] = load_signals([str(CWRU_12K)], sample_rate=12000, mat_key="FE_time")
    np.testing.assert_array_equal(fe.data[0], scipy.io.loadmat(str(CWRU_12K))["X118_FE_time"][:, 0].astype(np.float32))


def test_cwru_48k_mat_with_mismatched_record_number():
    [s] = load_signals([(CWRU_48K_X173, 48000)])
    ref = scipy.io.loadmat(str(CWRU_48K_X173))["X173_DE_time"][:, 0].astype(np.float32)
    assert s.data.shape == (1, 63788)
    np.testing.assert_array_equal(s.data[0], ref)


def test_cwru_normal_and_all_cwru_files_load():
    [s] = load_signals([CWRU_NORMAL], sample_rate=48000)
    assert s.data.shape == (1, 243938) and s.sample_rate == 48000.0
    files = sorted((CWRU_DIR / "12k_drive_end").glob("*.mat"))
    out = load_signals(files, sample_rate=12000)
    assert len(out) == 18 and all(x.n_channels == 1 and x.n_samples > 120000 for x in out)


def test_mat_key_errors_name_path_key_and_variables():
    with pytest.raises(SignalError, match=r"normal_0_97\.mat with mat_key='BA_time'.*none matches; variables present: X097_DE_time, X097_FE_time, X097RPM"):
        load_signals([CWRU_NORMAL], sample_rate=48000, mat_key="BA_time")
    with pytest.raises(SignalError, match=r"mat_key='time'.*2 match \(X097_DE_time, X097_FE_time\)"):
        load_signals([CWRU_NORMAL], sample_rate=48000, mat_key="time")
    with pytest.raises(TypeError, match="mat_key must be a str or None"):
        load_signals([CWRU_NORMAL], sample_rate=48000, mat_key=3)


def test_mat_key_exact_name_wins_and_none_takes_the_only_variable(tmp_path):
    path = tmp_path / "two.mat"
    scipy.io.savemat(path, {"time": np.arange(10.0), "DE_time": np.arange(10.0) * 2})
    [s] = load_signals([path], sample_rate=10, mat_key="time")
    np.testing.assert_array_equal(s.data[0], np.arange(10.0))
    one = tmp_path / "one.mat"
    scipy.io.savemat(one, {"vib": np.ones((3, 50))})
    [s] = load_signals([one], sample_rate=10, mat_key=None)
    assert s.data.shape == (3, 50)
    with pytest.raises(SignalError, match=r"mat_key=None needs exactly one variable, but 2 match"):
        load_signals([path], sample_rate=10, mat_key=None)


def test_mat_samples_channels_matrix_is_transposed(tmp_path):
    data = rng.standard_normal((500, 3))
    path = tmp_path / "multi.mat"
    scipy.io.savemat(path, {"acc_DE_time": data})
    [s] = load_signals([path], sample_rate=100)
    assert s.data.shape == (3, 500)
    np.testing.assert_array_equal(s.data, data.T.astype(np.float32))


def test_mat_with_non_numeric_variable(tmp_path):
    path = tmp_path / "text.mat"
    scipy.io.savemat(path, {"DE_time": "hello"})
    with pytest.raises(SignalError, match=r"text\.mat\).*has dtype <U5"):
        load_signals([path], sample_rate=100)


def test_mimii_mono_wav_reads_rate_from_file():
    [s] = load_signals([MIMII_MONO])
    ref, sr = sf.read(MIMII_MONO, dtype="float32")
    assert sr == 16000 and s.sample_rate == 16000.0
    assert s.data.shape == (1, 160000)
    np.testing.assert_array_equal(s.data[0], ref)


def test_mimii_8_channel_wav():
    [s] = load_signals([MIMII_8CH])
    ref, _ = sf.read(MIMII_8CH, dtype="float32", always_2d=True)
    assert s.data.shape == (8, 160000) and s.data.flags.c_contiguous
    np.testing.assert_array_equal(s.data, ref.T)


def test_npy_files(tmp_path):
    mono, multi = sig(300), sig(300, channels=2)
    np.save(tmp_path / "mono.npy", mono)
    np.save(tmp_path / "multi.npy", multi)
    np.save(tmp_path / "ints.npy", np.arange(10, dtype=np.int32))
    out = load_signals([tmp_path / "mono.npy", tmp_path / "multi.npy", tmp_path / "ints.npy"], sample_rate=1000)
    np.testing.assert_array_equal(out[0].data[0], mono)
    np.testing.assert_array_equal(out[1].data, multi)
    np.testing.assert_array_equal(out[2].data[0], np.arange(10))
    assert out[0].path == str(tmp_path / "mono.npy")


def test_npy_errors(tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((300, 2)))
    with pytest.raises(SignalError, match=r"wrong\.npy\) has shape \(300, 2\): more rows than columns.*save arr\.T"):
        load_signals([tmp_path / "wrong.npy"], sample_rate=10)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SignalError, match=r"obj\.npy\): cannot read .*obj\.npy as a \.npy file: ValueError: .*allow_pickle"):
        load_signals([tmp_path / "obj.npy"], sample_rate=10)
    np.save(tmp_path / "nan.npy", np.array([0.0, 1.0, np.nan]))
    with pytest.raises(SignalError, match=r"X\[0\] \(.*nan\.npy\) contains NaN \(first at sample 2\)"):
        load_signals([tmp_path / "nan.npy"], sample_rate=10)


def test_csv_files(tmp_path):
    data = rng.standard_normal((200, 2)).astype(np.float32)
    np.savetxt(tmp_path / "plain.csv", data, delimiter=",", fmt="%.9g")
    np.savetxt(tmp_path / "header.csv", data, delimiter=",", fmt="%.9g", header="left,right", comments="")
    np.savetxt(tmp_path / "mono.csv", data[:, 0], fmt="%.9g")
    np.savetxt(tmp_path / "semi.csv", data, delimiter=";", fmt="%.9g", header="a;b", comments="")
    out = load_signals(
        [tmp_path / "plain.csv", tmp_path / "header.csv", tmp_path / "mono.csv", tmp_path / "semi.csv"],
        sample_rate=100,
    )
    for s in (out[0], out[1], out[3]):
        np.testing.assert_array_equal(s.data, data.T)
    np.testing.assert_array_equal(out[2].data, data[:, :1].T)


def test_csv_errors(tmp_path):
    (tmp_path / "row.csv").write_text(",".join(str(i) for i in range(50)) + "\n")
    with pytest.raises(SignalError, match=r"has shape \(50, 1\).*each column is a channel and each row a sample"):
        load_signals([tmp_path / "row.csv"], sample_rate=10)
    (tmp_path / "text.csv").write_text("a,b\n1,2\n3,oops\n")
    with pytest.raises(SignalError, match=r"text\.csv\): cannot read .*text\.csv as a \.csv file: ValueError"):
        load_signals([tmp_path / "text.csv"], sample_rate=10)
    (tmp_path / "empty.csv").write_text("\n")
    with pytest.raises(SignalError, match=r"empty\.csv is empty"):
        load_signals([tmp_path / "empty.csv"], sample_rate=10)
    (tmp_path / "header_only.csv").write_text("a,b\n")
    with pytest.raises(SignalError, match=r"header_only\.csv"):
        load_signals([tmp_path / "header_only.csv"], sample_rate=10)


@pytest.mark.parametrize("ext, subtype", [(".flac", "PCM_16"), (".ogg", "VORBIS"), (".wav", "FLOAT")])
def test_sound_file_round_trip(tmp_path, ext, subtype):
    t = np.arange(22050) / 22050
    data = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 100 * t)], axis=1).astype(np.float32)
    path = tmp_path / f"tone{ext}"
    sf.write(path, data, 22050, subtype=subtype)
    [s] = load_signals([path], sample_rate=1)
    assert s.sample_rate == 22050.0 and s.data.shape == (2, 22050)
    if subtype == "VORBIS":  # lossy: same shape and close waveform
        assert np.corrcoef(s.data[0], data[:, 0])[0, 1] > 0.99
    else:
        np.testing.assert_allclose(s.data, data.T, atol=1 / 32768)


def test_unsupported_extension_lists_supported(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SignalError, match=r"unsupported file type '\.txt' for .*notes\.txt; supported: \.wav, \.flac, \.ogg, \.mat, \.npy, \.csv"):
        load_signals([tmp_path / "notes.txt"], sample_rate=10)


def test_corrupt_file_names_path_and_reader_message(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(SignalError, match=r"X\[0\] \(.*broken\.wav\): cannot read .*broken\.wav as a \.wav file: \w+"):
        load_signals([bad])
    bad_mat = tmp_path / "broken.mat"
    bad_mat.write_bytes(b"\x00" * 10)
    with pytest.raises(SignalError, match=r"cannot read .*broken\.mat as a \.mat file"):
        load_signals([bad_mat], sample_rate=10)


def test_folder_and_empty_path_items(tmp_path):
    with pytest.raises(SignalError, match=r"is a folder, not a file"):
        load_signals([tmp_path])
    with pytest.raises(SignalError, match=r"X\[0\] is an empty path"):
        load_signals([""], sample_rate=1)


def test_uppercase_extension(tmp_path):
    path = tmp_path / "LOUD.WAV"
    sf.write(path, np.zeros(100, dtype=np.float32), 8000)
    [s] = load_signals([path])
    assert s.sample_rate == 8000.0


# --------------------------------------------------------------------------- Signal
def test_signal_properties_repr_and_pickle():
    [s] = load_signals([MIMII_8CH])
    assert (s.n_channels, s.n_samples, s.duration) == (8, 160000, 10.0)
    assert repr(s) == f"Signal(source='X[0] ({MIMII_8CH})', n_channels=8, n_samples=160000, sample_rate=16000.0)"
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(AttributeError):
        s.sample_rate = 1.0
    other = Signal(s.data.copy(), 16000.0, s.source, s.path)
    assert other == s
    other.data[0, 0] += 1
    assert other != s


# --------------------------------------------------------------------------- expand_paths
def test_expand_paths_folder_is_sorted_recursive_and_absolute():
    files = expand_paths([MIMII_DIR / "normal"])
    assert len(files) == 20
    assert files == sorted(files) and all(os.path.isabs(f) for f in files)
    assert files[0] == str(MIMII_DIR / "normal" / "00000000.wav")
    assert len(expand_paths(str(MIMII_DIR))) == 42
    with pytest.raises(SignalFileNotFoundError, match=r"folder .*mimii_fan_id00 contains no files with a supported extension"):
        expand_paths(MIMII_DIR, recursive=False)


def test_expand_paths_globs_and_deduplication():
    pattern = str(CWRU_DIR / "48k_drive_end" / "*IR*.mat")
    files = expand_paths([pattern, str(CWRU_48K_X173)])
    assert [os.path.basename(f) for f in files] == [
        "48k_Drive_End_IR007_0_109.mat",
        "48k_Drive_End_IR014_0_174.mat",
        "48k_Drive_End_IR021_0_213.mat",
    ]
    everything = expand_paths([str(CWRU_DIR / "**" / "*.mat"), CWRU_DIR / "normal"])
    assert len(everything) == 28
    assert len(expand_paths([str(CWRU_DIR / "*")])) == 28  # matched folders are expanded
    # expanded paths load directly
    assert load_signals(files, sample_rate=48000)[1].n_samples == 63788


def test_expand_paths_missing_patterns_are_named(tmp_path):
    with pytest.raises(SignalFileNotFoundError, match=r"pattern '.*\*\.flac' matched nothing"):
        expand_paths([str(MIMII_DIR / "normal" / "*.flac")])
    with pytest.raises(FileNotFoundError, match=r"'.*nothing_here\.wav': no such file or folder"):
        expand_paths([str(MIMII_MONO), str(tmp_path / "nothing_here.wav")])
    with pytest.raises(SignalFileNotFoundError) as info:
        expand_paths([str(tmp_path / "a.wav"), str(tmp_path / "b*.wav")])
    assert len(info.value.errors) == 2


def test_expand_paths_filters_extensions_and_hidden_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["b.wav", "a.npy", "README.md", "._b.wav", "sub/c.FLAC", ".hidden/d.wav", "sub/e.csv"]:
        (tmp_path / name).write_bytes(b"")
    names = [os.path.relpath(f, tmp_path) for f in expand_paths(tmp_path)]
    assert names == ["a.npy", "b.wav", os.path.join("sub", "c.FLAC"), os.path.join("sub", "e.csv")]
    assert [os.path.basename(f) for f in expand_paths(tmp_path, recursive=False)] == ["a.npy", "b.wav"]
    assert [os.path.basename(f) for f in expand_paths(tmp_path, extensions=["wav", ".flac"])] == ["b.wav", "c.FLAC"]
    # an explicitly named file is kept whatever its extension
    assert expand_paths(tmp_path / "README.md") == [str(tmp_path / "README.md")]
    with pytest.raises(SignalFileNotFoundError, match=r"matched 1 paths but no file with a supported extension"):
        expand_paths(str(tmp_path / "*.md"))
    assert expand_paths([]) == []


# --------------------------------------------------------------------------- what estimator checks rely on
def test_object_dense_blocks_of_numbers_are_accepted():
    X = rng.uniform(size=(4, 10)).astype(object)
    out = load_signals(X, sample_rate=10)
    np.testing.assert_array_equal(out[2].data[0], X[2].astype(np.float32))
    X[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="argument must be a string.* number"):
        load_signals(X, sample_rate=10)


def test_object_array_of_numbers_is_one_signal():
    with pytest.raises(SignalError, match="wrap a single item in a list"):
        load_signals(np.array([1.0, 2.0], dtype=object), sample_rate=10)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_messages_name_both_words(bad):
    X = rng.uniform(size=(10, 3))
    X[0, 0] = bad
    with pytest.raises(SignalError) as info:
        load_signals(X, sample_rate=10)
    assert "NaN" in str(info.value) and "inf" in str(info.value)


def test_complex_data_message():
    for X in [np.ones((3, 4), dtype=complex), [np.ones(4, dtype=complex)]]:
        with pytest.raises(ValueError, match="Complex data not supported"):
            load_signals(X, sample_rate=10)


# --------------------------------------------------------------------------- scan_signals
def test_scan_reports_every_bad_item_as_load_signals_does(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("x")
    X = [str(MIMII_MONO), np.array([1.0, np.nan] * 400), str(tmp_path / "missing.wav"), str(text)]
    with pytest.raises(SignalError) as loaded:
        load_signals(X, sample_rate=16000)
    with pytest.raises(SignalError) as scanned:
        scan_signals(X, sample_rate=16000)
    assert str(scanned.value) == str(loaded.value)
    assert scanned.value.errors == loaded.value.errors
    assert [i for i, _ in scanned.value.errors] == [1, 2, 3]


def test_scan_keeps_no_file_samples_and_blocks_read_them_again(monkeypatch):
    array = sig(4000)
    X = [str(MIMII_MONO), (array, 8000), str(CWRU_12K), str(MIMII_8CH)]
    reads = []
    real = signals_module.load_item

    def counting(item, **kwargs):
        reads.append(item.index)
        return real(item, **kwargs)

    monkeypatch.setattr(signals_module, "load_item", counting)
    scanned = scan_signals(X, sample_rate=12000)
    assert reads == [0, 1, 2, 3]  # every item checked once
    assert scanned._held.keys() == {1}  # only the in-memory item is held
    info = scanned.infos
    assert [(i.index, i.n_channels, i.sample_rate) for i in info] == [
        (0, 1, 16000.0), (1, 1, 8000.0), (2, 1, 12000.0), (3, 8, 16000.0)
    ]
    assert info[0].path == str(MIMII_MONO) and info[1].path is None
    reads.clear()
    expected = load_signals(X, sample_rate=12000)
    reads.clear()
    # blocks of at most 200,000 samples: the 10 s clips (160,000) and the 8-channel file alone
    blocks = list(scanned.blocks(max_samples=200_000))
    assert [[s.source for s in b] for b in blocks] == [
        ["X[0] (%s)" % MIMII_MONO, "X[1]"], ["X[2] (%s)" % CWRU_12K], ["X[3] (%s)" % MIMII_8CH]
    ]
    assert reads == [0, 2, 3]  # files read again, the array not
    assert [s for b in blocks for s in b] == expected
    assert np.shares_memory(blocks[0][1].data, array)  # held, not copied
    assert [len(b) for b in scanned.blocks(None)] == [4]


def test_scan_blocks_name_a_file_that_changed_since_the_scan(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, sig(1600), 16000)
    scanned = scan_signals([str(path)])
    sf.write(path, sig(800), 16000)
    with pytest.raises(SignalError, match=r"X\[0\] \(.*a\.wav\) changed while it was being read: "
                       r"1 channel\(s\) x 1600 samples at 16000 Hz when first read, 1 x 800 at 16000 Hz now"):
        list(scanned.blocks())


def test_scanned_sets_join_in_order():
    x1, x2 = sig(800), sig(1200)
    a = scan_signals([str(MIMII_MONO), x1], sample_rate=8000)
    b = scan_signals([x2, str(CWRU_12K)], sample_rate=12000)
    both = a + b
    assert len(both) == 4 and both.infos == a.infos + b.infos
    [signals] = both.blocks()
    expected = load_signals([str(MIMII_MONO), x1], sample_rate=8000) + load_signals(
        [x2, str(CWRU_12K)], sample_rate=12000
    )
    assert signals == expected
    assert np.shares_memory(signals[2].data, x2)  # in-memory items stay held after the join
    with pytest.raises(ValueError, match="different mat_key"):
        a + scan_signals([sig(800)], sample_rate=8000, mat_key="FE_time")


# --------------------------------------------------------------------------- item_name
def by_path(index, path):
    return path if path else f"item {index}"


def test_item_name_names_items_in_errors_and_sources(tmp_path):
    np.save(tmp_path / "short.npy", sig(10))
    X = [str(MIMII_MONO), str(tmp_path / "short.npy"), np.array([1.0, np.nan] * 400)]
    with pytest.raises(SignalError) as info:
        load_signals(X, sample_rate=16000, min_duration=0.025, item_name=by_path)
    # an item that is not a file makes the header count "items"
    assert str(info.value).splitlines() == [
        "2 of 3 items are invalid:",
        f"  - {tmp_path / 'short.npy'} has 10 samples; at 16000 Hz at least 400 (25 ms) are needed",
        "  - item 2 contains NaN (first at sample 1); all values must be finite (no NaN or inf)",
    ]
    [s] = load_signals([MIMII_MONO], item_name=by_path)
    assert s.source == str(MIMII_MONO)
    [s] = iter_signals([MIMII_MONO], item_name=by_path)
    assert s.source == str(MIMII_MONO)
    assert scan_signals([MIMII_MONO], item_name=by_path).infos[0].source == str(MIMII_MONO)
    assert [it.source for it in list_items([sig(5)], 10, item_name=by_path)] == ["item 0"]


def test_item_name_header_counts_files_when_every_item_is_one(tmp_path):
    missing = [str(tmp_path / "a.wav"), str(tmp_path / "b.npy")]
    with pytest.raises(SignalFileNotFoundError) as info:
        scan_signals(missing, sample_rate=8000, item_name=by_path)
    assert str(info.value).splitlines()[0] == "2 of 2 files are invalid:"
    assert info.value.errors == [(0, f"{missing[0]}: file not found"), (1, f"{missing[1]}: file not found")]
    # signals read from files count as files; the name is given the file's path
    [s] = load_signals([MIMII_MONO])
    with pytest.raises(SignalError, match=rf"^1 of 1 files is invalid: {MIMII_MONO} has 160000 samples"):
        load_signals([s], min_duration=20.0, item_name=by_path)


def test_item_name_default_is_unchanged_and_must_be_callable():
    with pytest.raises(SignalError, match=r"^1 of 2 items of X is invalid: X\[1\] \(.*missing\.npy\): file not found"):
        load_signals([sig(5), "missing.npy"], sample_rate=10)
    with pytest.raises(TypeError, match="item_name must be None or a callable"):
        load_signals([sig(5)], sample_rate=10, item_name="X")


def test_check_signal_input_passes_item_name_on():
    from sklearn.base import BaseEstimator

    from sklearn_echo.signals import check_signal_input

    scanned = check_signal_input(BaseEstimator(), [str(MIMII_MONO)], reset=True, item_name=by_path)
    assert scanned.infos[0].source == str(MIMII_MONO)


# --------------------------------------------------------------------------- readers and rate rules
def test_reader_registry_decides_support_and_stored_rates():
    from sklearn_echo.signals.readers import READERS, reader_for, readers, stores_rate

    assert tuple(READERS) == SUPPORTED_EXTENSIONS
    assert tuple(readers()) == supported_extensions()
    assert reader_for("A.WAV") is READERS[".wav"] and reader_for("notes.txt") is None
    assert [stores_rate(p) for p in ["a.wav", "b.flac", "c.mat", "d.npy", "e.csv"]] == [True, True, False, False, False]


def test_rate_rules_are_parsed_and_applied():
    from sklearn_echo.signals import default_rate, file_rates, parse_rate_rule, rule_rates

    rules = [parse_rate_rule(t) for t in ["*/48k/*=48000", "12000", "*/b/*=48000"]]
    assert rules == [("*/48k/*", 48000.0), (None, 12000.0), ("*/b/*", 48000.0)]
    assert default_rate(rules) == 12000.0 and rule_rates(rules) == [48000.0, 12000.0]
    assert file_rates(["/d/48k/a.npy", "/d/x.csv", "/d/y.wav"], rules) == ([48000.0, 12000.0, None], [])
    for text, message in [("=48000", "no pattern before '='"), ("a=fast", "'fast' is not a number"),
                          ("-3", "'-3' must be a positive number"), ("inf", "'inf' must be a positive number")]:
        with pytest.raises(ValueError, match=message):
            parse_rate_rule(text)
