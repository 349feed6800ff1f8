"""Two CPU processes (gloo) fine-tune like one process over the same global batch."""

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sklearn_echo.echo.model import EchoConfig, EchoEncoder
from sklearn_echo.signals import scan_signals
from sklearn_echo.training import DistContext, SignalSource, training_items
from sklearn_echo.training.lora import add_lora
from sklearn_echo.training.supervised import (
    FineTuneRecipe,
    LabelledDataset,
    SupervisedTraining,
)

STEPS = 3
BATCH = 2  # per rank
CROP = 32  # frames
LABELS = [0, 0, 1, 1, 2, 2]
# One process over the global batch differs from two only by the order of
# floating-point sums (the gradient all-reduce); AdamW, dividing every
# gradient by its own size, turns that rounding into weight differences far
# below its step (about the learning rate, 1e-3 for the encoder, 1e-2 for the
# head). Measured after 3 steps: at most 9.0e-6 with every encoder weight
# trained (an attention input projection), 8.4e-7 with LoRA adapters.
# A wrong shard or a wrong loss scale moves weights by about 1e-3 per step.
TOLERANCE = 5e-5


def _build(rank, world, batch, trainable):
    rng = np.random.default_rng(0)
    signals = [(a * rng.standard_normal(8000)).astype(np.float32)
               for a in (1.0, 1.0, 0.1, 0.1, 0.01, 0.01)]
    scanned = scan_signals(signals, 16000)
    torch.manual_seed(0)
    enc = EchoEncoder(EchoConfig(embed_dim=64, depth=1, num_heads=1, ffn_dim=256))
    if trainable == "lora":
        add_lora(enc, 2, 4.0, seed=0)
    recipe = FineTuneRecipe(max_steps=STEPS, learning_rate=1e-3, head_learning_rate=1e-2,
                            warmup_steps=1)
    ctx = DistContext(rank, world) if world > 1 else DistContext()
    run = SupervisedTraining(enc, len(set(LABELS)), recipe, "cpu", dist=ctx, seed=0)
    data = LabelledDataset(SignalSource(scanned), training_items(scanned.infos), LABELS, CROP,
                           batch, seed=0, stop_step=STEPS, rank=rank, world_size=world)
    return run, data


def _snapshots(run, data):
    out = []
    for batch in data:
        run.step(batch)
        out.append({
            "model": {k: v.detach().clone() for k, v in run.net.state_dict().items()},
            "loss": run.loss_curve[-1],
        })
    return out


def _worker(rank, world, trainable, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        run, data = _build(rank, world, BATCH, trainable)
        torch.save(_snapshots(run, data), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
@pytest.mark.parametrize("trainable", ["all", "lora"])
def test_two_processes_match_one_process_over_the_global_batch(tmp_path, trainable):
    mp.spawn(_worker, args=(2, trainable, str(tmp_path / "init"), str(tmp_path)), nprocs=2,
             join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    torch.set_num_threads(1)
    single = _snapshots(*_build(0, 1, 2 * BATCH, trainable))
    assert len(ranks[0]) == len(ranks[1]) == len(single) == STEPS
    start = _build(0, 1, 2 * BATCH, trainable)[0].net.state_dict()
    worst = 0.0
    for step in range(STEPS):
        a, b, ref = ranks[0][step], ranks[1][step], single[step]
        assert a["loss"] == b["loss"]
        assert a["loss"] == pytest.approx(ref["loss"], rel=1e-5)
        for k, v in a["model"].items():
            assert torch.equal(v, b["model"][k]), f"ranks differ in {k} after step {step}"
            diff = (v - ref["model"][k]).abs().max().item()
            worst = max(worst, diff)
            assert diff <= TOLERANCE, f"{k} differs by {diff} after step {step}"
    print(f"largest difference from one process ({trainable}): {worst:.3g}")
    # the run trained: the head and the trained encoder weights moved
    moved = {k for k, v in single[-1]["model"].items() if not torch.equal(v, start[k])}
    assert "head.weight" in moved
    assert any(k.startswith("encoder.") for k in moved)
