"""Two CPU processes (gloo) train like one process over the same global batch."""

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sklearn_echo.echo.model import EchoConfig, EchoEncoder
from sklearn_echo.signals import scan_signals
from sklearn_echo.training import (
    DistContext,
    ExampleSpec,
    Pretraining,
    PretrainingDataset,
    Recipe,
    SignalSource,
    training_items,
)

STEPS = 3
BATCH = 2  # per rank
# One process over the global batch differs from two only by the order of
# floating-point sums (the gradient all-reduce); AdamW then steps by about the
# learning rate (1e-3) per step; measured: at most 4.1e-6 after 3 steps.
TOLERANCE = 2e-5


def _build(rank, world, batch):
    signals = [np.random.default_rng(i).standard_normal(12000).astype(np.float32) for i in range(6)]
    scanned = scan_signals(signals, 16000)
    torch.manual_seed(0)
    enc = EchoEncoder(EchoConfig(embed_dim=64, depth=1, num_heads=1, ffn_dim=256))
    recipe = Recipe(max_steps=STEPS, learning_rate=1e-3, warmup_steps=1, ema_decay=0.9,
                    ema_end_decay=0.99, ema_anneal_steps=STEPS, decoder_layers=1)
    ctx = DistContext(rank, world) if world > 1 else DistContext()
    run = Pretraining(enc, recipe, "cpu", dist=ctx, seed=0)
    spec = ExampleSpec(crop_frames=48, clone_batch=2)
    data = PretrainingDataset(SignalSource(scanned), training_items(scanned.infos), spec, batch,
                              seed=0, stop_step=STEPS, rank=rank, world_size=world)
    return run, data


def _snapshots(run, data):
    out = []
    for batch in data:
        run.step(batch)
        out.append({
            "student": {k: v.clone() for k, v in run.student.state_dict().items()},
            "teacher": {k: v.clone() for k, v in run.teacher.state_dict().items()},
            "loss": run.loss_curve[-1],
        })
    return out


def _worker(rank, world, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        run, data = _build(rank, world, BATCH)
        torch.save(_snapshots(run, data), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_two_processes_match_one_process_over_the_global_batch(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    torch.set_num_threads(1)
    single = _snapshots(*_build(0, 1, 2 * BATCH))
    assert len(ranks[0]) == len(ranks[1]) == len(single) == STEPS
    for step in range(STEPS):
        a, b, ref = ranks[0][step], ranks[1][step], single[step]
        assert a["loss"] == b["loss"]
        assert a["loss"] == pytest.approx(ref["loss"], rel=1e-5)
        for part in ("student", "teacher"):
            for k, v in a[part].items():
                assert torch.equal(v, b[part][k]), f"ranks differ in {part} {k} after step {step}"
                diff = (v - ref[part][k]).abs().max().item()
                assert diff <= TOLERANCE, f"{part} {k} differs by {diff} after step {step}"
