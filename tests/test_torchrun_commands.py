"""The training commands under torchrun: two CPU processes, one output written once."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist

from sklearn_echo import EchoEmbedder
from sklearn_echo.echo.checkpoint import load_encoder

SHARED = Path(__file__).resolve().parents[2] / "shared"
TINY = SHARED / "fixtures" / "echo_reference" / "tiny_echo.safetensors"
COMPRESSOR = SHARED / "data" / "air_compressor"


def _torchrun(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "sklearn_echo", *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
@pytest.mark.parametrize("command", ["finetune", "pretrain"])
def test_training_command_under_torchrun_writes_one_loadable_model(tmp_path, command):
    out = tmp_path / f"{command}.safetensors"
    if command == "finetune":
        args = ["finetune", str(COMPRESSOR), "--from", str(TINY), "--lora", "2", "--steps", "3",
                "--train-batch-size", "2", "--crop-seconds", "0.5", "-o", str(out)]
        message = "fine-tuned 3 steps on 3 classes"
    else:
        args = ["pretrain", str(COMPRESSOR / "Off"), "--model", str(TINY), "--steps", "3",
                "--train-batch-size", "2", "--crop-seconds", "0.5", "-o", str(out)]
        message = "trained 3 steps"
    result = _torchrun(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count(message) == 1, result.stdout  # rank 0 alone reports
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == []
    enc = load_encoder(out)
    assert set(enc.state_dict()) == set(load_encoder(TINY).state_dict())
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    emb = EchoEmbedder(model=str(out), sample_rate=16000, cache=False).fit_transform([x])
    assert emb.shape[0] == 1 and np.isfinite(emb).all()
