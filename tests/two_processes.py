"""Two CPU processes (gloo) against one process over the same global batch.

The harness of the distributed training tests: ``build(rank, world, batch,
*args)`` returns a training run and the data of its rank; each rank's run
and a one-process run over the global batch are stepped, the state of the
named modules recorded after every step, and the records compared.
"""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def snapshots(run, data, parts):
    """Per step: the loss and a copy of the state of each module ``getattr(run, part)``."""
    out = []
    for batch in data:
        run.step(batch)
        record = {"loss": run.loss_curve[-1]}
        for part in parts:
            record[part] = {k: v.detach().clone() for k, v in getattr(run, part).state_dict().items()}
        out.append(record)
    return out


def _worker(rank, world, build, args, batch, parts, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        run, data = build(rank, world, batch, *args)
        torch.save(snapshots(run, data, parts), f"{out_dir}/rank{rank}.pt")
        dist.barrier()  # both ranks done before either tears its connections down
    finally:
        dist.destroy_process_group()


def two_ranks_and_one(tmp_path, build, args, batch, parts):
    """The records of two ranks (``batch`` each) and of one process over ``2 * batch``."""
    mp.spawn(_worker, args=(2, build, args, batch, parts, str(tmp_path / "init"), str(tmp_path)),
             nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    torch.set_num_threads(1)
    return ranks, snapshots(*build(0, 1, 2 * batch, *args), parts)


def check_like_one_process(ranks, single, parts, steps, tolerance):
    """Both ranks equal after every step, each within ``tolerance`` of one process.

    Returns the largest difference from one process.
    """
    assert len(ranks[0]) == len(ranks[1]) == len(single) == steps
    worst = 0.0
    for step in range(steps):
        a, b, ref = ranks[0][step], ranks[1][step], single[step]
        assert a["loss"] == b["loss"]
        assert a["loss"] == pytest.approx(ref["loss"], rel=1e-5)
        for part in parts:
            for k, v in a[part].items():
                assert torch.equal(v, b[part][k]), f"ranks differ in {part} {k} after step {step}"
                diff = (v - ref[part][k]).abs().max().item()
                worst = max(worst, diff)
                assert diff <= tolerance, f"{part} {k} differs by {diff} after step {step}"
    return worst

