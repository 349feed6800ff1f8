"""ONNX export and the onnxruntime backend: parity with torch on the fixture cases, int8
fidelity, the command, and the errors (another model, missing extra)."""

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from sklearn_echo import EchoEmbedder
from sklearn_echo.cli import main
from sklearn_echo.echo.checkpoint import (
    cached_encoder,
    clear_encoder_cache,
    load_encoder,
    read_state_dict,
)
from sklearn_echo.echo.export import encoder_graph, export_onnx
from sklearn_echo.echo.model import EchoConfig, EchoEncoder
from sklearn_echo.echo.onnx_backend import OnnxModelError, load_onnx_encoder
from sklearn_echo.echo.pipeline import embed_signals

from .conftest import TINY_SAFETENSORS

MODEL = str(TINY_SAFETENSORS)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    assert main(["export", "--model", MODEL, "--onnx", str(folder / "tiny.onnx")]) == 0
    assert main(["export", "--model", MODEL, "--onnx", str(folder / "tiny8.onnx"), "--int8"]) == 0
    return folder / "tiny.onnx", folder / "tiny8.onnx"


def test_onnxruntime_float32_matches_torch_on_all_fixture_cases(exported, fixture_data):
    sigs = fixture_data[0]
    assert len(sigs) == 12
    torch_enc = load_encoder(MODEL)
    ort_enc = load_onnx_encoder(torch_enc, str(exported[0]))
    ref = embed_signals(torch_enc, sigs, segments=True)
    out = embed_signals(ort_enc, sigs, segments=True)
    for i, (a, b) in enumerate(zip(ref, out)):
        assert np.abs(a.utterance - b.utterance).max() <= 1e-4, i
        assert np.abs(a.segments - b.segments).max() <= 1e-4, i


def test_onnxruntime_int8_keeps_band_vectors_within_fidelity(exported, fixture_data):
    sigs = fixture_data[0]
    torch_enc = load_encoder(MODEL)
    ort_enc = load_onnx_encoder(torch_enc, str(exported[1]), precision="int8")
    assert ort_enc.precision == "onnxruntime-int8"
    for i, (a, b) in enumerate(zip(embed_signals(torch_enc, sigs), embed_signals(ort_enc, sigs))):
        x, y = a.utterance.reshape(-1, 128), b.utterance.reshape(-1, 128)
        cos = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
        assert cos.min() >= 0.99, (i, cos.min())


def test_embedder_backend_onnxruntime_and_file_match_torch(exported):
    x = [np.random.default_rng(0).standard_normal(24000).astype(np.float32)]
    kw = {"model": MODEL, "sample_rate": 16000, "cache": False}
    ref = EchoEmbedder(**kw).fit_transform(x)
    in_memory = EchoEmbedder(**kw, backend="onnxruntime").fit_transform(x)
    from_file = EchoEmbedder(**kw, backend=str(exported[0])).fit_transform(x)
    assert np.abs(ref - in_memory).max() <= 1e-4
    assert np.abs(ref - from_file).max() <= 1e-4


def test_graph_has_dynamic_batch_and_sequence_axes(exported):
    import onnx

    model = onnx.load(str(exported[0]))
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "sequence", 128]
    enc = load_onnx_encoder(load_encoder(MODEL), str(exported[0]))
    for n, length in [(1, 5), (3, 40)]:
        assert enc(torch.zeros(n, length, 128)).shape == (n, length, 128)


def test_a_file_of_another_checkpoint_is_refused(exported, tmp_path):
    from safetensors.torch import save_file

    state = {k: v.clone() for k, v in read_state_dict(MODEL).items()}
    state["norm.bias"] += 0.5
    other = tmp_path / "other.safetensors"
    save_file(state, str(other))
    other_onnx = export_onnx(load_encoder(other), tmp_path / "other.onnx")
    with pytest.raises(OnnxModelError, match="exported from another checkpoint"):
        EchoEmbedder(model=MODEL, sample_rate=16000, backend=str(other_onnx)).fit(
            [np.zeros(16000, np.float32)]
        )


def test_a_file_of_another_shape_or_origin_is_refused(tmp_path):
    import onnx

    base = load_encoder(MODEL)
    small = EchoEncoder(EchoConfig(embed_dim=64, depth=1, num_heads=1, ffn_dim=128)).eval()
    wrong = tmp_path / "wrong.onnx"
    onnx.save(encoder_graph(small, fingerprint=base.fingerprint), str(wrong))
    with pytest.raises(OnnxModelError, match="another architecture.*embed_dim"):
        load_onnx_encoder(base, str(wrong))
    bare = encoder_graph(base)
    del bare.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(bare, str(foreign))
    with pytest.raises(OnnxModelError, match="not written by 'sklearn-echo export"):
        load_onnx_encoder(base, str(foreign))


def test_precision_of_the_file_must_match_dtype(exported):
    with pytest.raises(OnnxModelError, match="exported in 'int8' but dtype='float32'"):
        load_onnx_encoder(load_encoder(MODEL), str(exported[1]), precision="float32")


def test_backend_onnxruntime_without_the_extra_is_a_clear_error(monkeypatch):
    clear_encoder_cache()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install 'sklearn-echo\[onnx\]'"):
        cached_encoder(MODEL, device="cpu", backend="onnxruntime")
    clear_encoder_cache()


def test_backend_errors_name_the_rule():
    with pytest.raises(ValueError, match="backend='tensorrt' is not supported"):
        cached_encoder(MODEL, device="cpu", backend="tensorrt")
    with pytest.raises(ValueError, match="dtype='bfloat16' is not available with backend"):
        cached_encoder(MODEL, device="cpu", dtype="bfloat16", backend="onnxruntime")


def test_export_command_errors(tmp_path, capsys):
    assert main(["export", "--model", MODEL, "--onnx", str(tmp_path / "model.bin")]) == 1
    assert "must end in .onnx" in capsys.readouterr().err
