"""Checkpoint loading: Hub cache (offline), local files and directories, and bad checkpoints."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sklearn_echo.echo.checkpoint import (
    CheckpointError,
    ModelNotAvailableError,
    checkpoint_fingerprint,
    infer_config,
    load_encoder,
    read_state_dict,
    resolve_checkpoint,
)

from .conftest import ROOT, TINY_PTH, TINY_SAFETENSORS

REPO = "yucongzh/echo-small-0824"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _hub_cache(root, filename_src=TINY_SAFETENSORS, commit=COMMIT):
    """A Hugging Face Hub cache holding the fixture as REPO's model.safetensors."""
    repo_dir = root / ("models--" + REPO.replace("/", "--"))
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    shutil.copy(filename_src, snap / "model.safetensors")
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    return root


def _offline(monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_hub_alias_resolves_from_local_cache_offline(tmp_path, monkeypatch):
    _offline(monkeypatch)
    cache = _hub_cache(tmp_path / "hub")
    path = resolve_checkpoint("echo-small", cache_dir=cache)
    assert path.name == "model.safetensors" and COMMIT in str(path)
    enc = load_encoder(REPO, revision=COMMIT, cache_dir=cache)
    assert enc.config.embed_dim == 128
    assert enc.fingerprint == checkpoint_fingerprint(TINY_SAFETENSORS)


def test_hub_offline_without_cache_explains_how_to_pass_a_local_file(tmp_path, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(ModelNotAvailableError, match=r"model='/path/to/model.safetensors'"):
        resolve_checkpoint("echo-small", cache_dir=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="echo-small-0824"):
        load_encoder(REPO, revision="v9", cache_dir=tmp_path / "empty")


def test_hf_hub_offline_environment_variable_in_a_fresh_process(tmp_path):
    """HF_HUB_OFFLINE=1 and HF_HUB_CACHE are honoured as set by a user."""
    cache = _hub_cache(tmp_path / "hub")
    code = (
        "from sklearn_echo.echo.checkpoint import load_encoder\n"
        "enc = load_encoder('echo-small')\n"
        "print(enc.config.embed_dim, enc.checkpoint_path)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), HF_HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("128 ") and COMMIT in out.stdout


def test_local_directory_like_snapshot_download_local_dir(tmp_path):
    local_dir = tmp_path / "echo-small"
    local_dir.mkdir()
    shutil.copy(TINY_SAFETENSORS, local_dir / "model.safetensors")
    (local_dir / "config.json").write_text("{}")
    assert resolve_checkpoint(local_dir) == (local_dir / "model.safetensors").resolve()
    assert load_encoder(str(local_dir)).config.depth == 2


def test_directory_with_a_single_pth(tmp_path):
    shutil.copy(TINY_PTH, tmp_path / "ckpt.pth")
    assert resolve_checkpoint(tmp_path).name == "ckpt.pth"


def test_safetensors_and_pth_hold_the_same_encoder():
    a = load_encoder(TINY_SAFETENSORS).state_dict()
    b = load_encoder(TINY_PTH).state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_extra_keys_are_tolerated_and_heads_default_to_64_wide():
    state = read_state_dict(TINY_SAFETENSORS)
    assert "decoder.0.weight" in state
    assert infer_config(state).num_heads == 128 // 64
    assert infer_config(state, num_heads=4).num_heads == 4
    with pytest.raises(CheckpointError, match="num_heads=3 does not divide"):
        infer_config(state, num_heads=3)


def test_missing_encoder_key_is_named(tmp_path):
    state = load_file(TINY_SAFETENSORS)
    del state["encoder.layers.1.norm2.weight"]
    path = tmp_path / "missing.safetensors"
    save_file(state, path)
    with pytest.raises(CheckpointError, match=r"missing 1 encoder key.*'encoder.layers.1.norm2.weight'"):
        load_encoder(path)


def test_misshaped_encoder_key_is_named(tmp_path):
    state = load_file(TINY_SAFETENSORS)
    state["norm.bias"] = torch.zeros(7)
    path = tmp_path / "bad.safetensors"
    save_file(state, path)
    with pytest.raises(CheckpointError, match=r"'norm.bias' has shape \(7,\), expected \(128,\)"):
        load_encoder(path)


def test_truncated_safetensors_is_an_error_naming_the_file(tmp_path):
    data = TINY_SAFETENSORS.read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.safetensors.*not a readable safetensors"):
        load_encoder(path)


def test_truncated_pth_is_an_error_naming_the_file(tmp_path):
    data = TINY_PTH.read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match=r"truncated\.pth.*not a readable PyTorch checkpoint"):
        load_encoder(path)


def test_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.pth"):
        load_encoder(path)


def test_pth_with_arbitrary_objects_is_refused(tmp_path):
    import collections

    path = tmp_path / "evil.pth"
    # An OrderedDict subclass from the standard library is not on the tensor allow-list.
    torch.save({"encoder": collections.Counter(a=1)}, path)
    with pytest.raises(CheckpointError, match="evil.pth"):
        load_encoder(path)


def test_pth_without_encoder_entry(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"weights": [1, 2, 3]}, path)
    with pytest.raises(CheckpointError, match="'encoder' entry"):
        load_encoder(path)


def test_missing_local_path_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_encoder(str(tmp_path / "nope.safetensors"))
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        load_encoder(tmp_path)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\0" * 10)
    with pytest.raises(CheckpointError, match="unsupported checkpoint extension"):
        load_encoder(path)


def test_float16_is_refused_on_cpu_and_devices_are_checked():
    with pytest.raises(ValueError, match="float16.*CUDA"):
        load_encoder(TINY_SAFETENSORS, dtype="float16")
    with pytest.raises(ValueError, match="dtype='float64' is not supported"):
        load_encoder(TINY_SAFETENSORS, dtype="float64")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_encoder(TINY_SAFETENSORS, device="cuda")
    enc = load_encoder(TINY_SAFETENSORS, device="auto")
    assert enc.cls_token.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert not any(p.requires_grad for p in enc.parameters())
    assert np.isfinite(enc.pos_embed.detach().cpu().numpy()).all()


def test_bfloat16_on_a_cpu_without_bfloat16_instructions_warns(monkeypatch):
    import warnings

    from sklearn_echo import device as device_module

    # the probe agrees with the CPU flags the kernel reports
    flags = open("/proc/cpuinfo").read().split() if os.path.exists("/proc/cpuinfo") else None
    probe = device_module.cpu_has_fast_bfloat16()
    if flags is not None and probe is not None:
        assert probe == ("avx512_bf16" in flags or "amx_bf16" in flags)
    monkeypatch.setattr(device_module, "cpu_has_fast_bfloat16", lambda: False)
    with pytest.warns(UserWarning, match="no bfloat16 matrix instructions.*slower than float32"):
        enc = load_encoder(TINY_SAFETENSORS, device="cpu", dtype="bfloat16")
    assert enc.cls_token.dtype == torch.bfloat16  # it still runs
    for has in (True, None):
        monkeypatch.setattr(device_module, "cpu_has_fast_bfloat16", lambda has=has: has)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            load_encoder(TINY_SAFETENSORS, device="cpu", dtype="bfloat16")
    monkeypatch.setattr(device_module, "cpu_has_fast_bfloat16", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_encoder(TINY_SAFETENSORS, device="cpu", dtype="float32")  # float32: no warning


def test_echo_tiny_alias_loads_its_shape_offline_and_embeds(tmp_path, monkeypatch):
    """A checkpoint of ECHO-Tiny's shape (random weights) in a Hub cache, offline, by alias."""
    from sklearn_echo import EchoEmbedder
    from sklearn_echo.echo.model import EchoConfig, EchoEncoder
    from sklearn_echo.echo.models import MODEL_ALIASES

    import huggingface_hub.constants as c

    assert MODEL_ALIASES["echo-tiny"] == "yucongzh/echo-tiny-0828"
    torch.manual_seed(0)
    tiny = EchoEncoder(EchoConfig(embed_dim=192, depth=12, num_heads=3, ffn_dim=768))
    src = tmp_path / "echo_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, src)
    repo_dir = tmp_path / "hub" / "models--yucongzh--echo-tiny-0828"
    snap = repo_dir / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    shutil.copy(src, snap / "model.safetensors")
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(COMMIT)
    _offline(monkeypatch)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    enc = load_encoder("echo-tiny")
    assert (enc.config.embed_dim, enc.config.depth, enc.config.num_heads) == (192, 12, 3)
    assert 5.0e6 < enc.n_parameters < 6.0e6
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    emb = EchoEmbedder(model="echo-tiny", band_layout="concat", sample_rate=16000, cache=False)
    assert emb.fit_transform([x]).shape == (1, 7 * 192)
