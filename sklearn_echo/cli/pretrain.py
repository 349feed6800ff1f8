"""``sklearn-echo pretrain``: adapt ECHO to your recordings by self-supervised pretraining."""

from __future__ import annotations

from .files import check_output, finish, load_recordings
from .options import (
    PATHS_HELP,
    add_command,
    add_on_error,
    add_training_options,
    positive_int,
)

__all__ = ["register"]


def register(sub, common):
    """Register ``pretrain`` and its options."""
    p = add_command(
        sub, "pretrain", _cmd_pretrain, common,
        help="pretrain ECHO on recordings (teacher-student, no labels)",
        description="Continue ECHO's self-supervised pretraining on recordings (or start from "
        "scratch with --model none) and write the trained encoder as a .safetensors file in "
        "the published format, which every command takes as --model. Under torchrun the same "
        "command trains on several processes or machines.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATHS_HELP)
    p.add_argument("-o", "--output", required=True, metavar="FILE.safetensors",
                   help="the trained encoder")
    add_training_options(p, steps=1000, batch=8, batch_help="signal crops",
                         lr_help="1e-4 * global batch / 256")
    p.add_argument("--mask-ratio", type=float, default=0.8, help="(default: %(default)s)")
    p.add_argument("--embed-dim", type=positive_int, default=None,
                   help="with --model none: token width (default 384)")
    p.add_argument("--depth", type=positive_int, default=None,
                   help="with --model none: layers (default 12)")
    add_on_error(p)
    return p


def _cmd_pretrain(args) -> int:
    from ..pretrainer import EchoPretrainer
    from ..signals.paths import default_rate
    from ..training.distributed import launched_rank

    check_output(args.output, "trained encoder")
    _, scanned = load_recordings(args, args.paths, scan=True)
    model = None if str(args.model).lower() == "none" else args.model
    pre = EchoPretrainer(
        model=model, revision=args.revision, embed_dim=args.embed_dim, depth=args.depth,
        sample_rate=default_rate(args.sample_rate), max_steps=args.steps,
        batch_size=args.train_batch_size, learning_rate=args.lr, mask_ratio=args.mask_ratio,
        crop_seconds=args.crop_seconds, checkpoint_dir=args.checkpoint_dir,
        num_workers=args.workers, device=args.device, dtype=args.dtype,
        random_state=args.seed, progress=args.progress, n_jobs=args.n_jobs,
        multichannel=args.multichannel, mat_key=args.mat_key,
    )
    pre.fit(scanned)
    if launched_rank() != 0:  # under torchrun: every rank holds the same weights
        return finish(args)
    path = pre.save(args.output)
    print(f"trained {pre.n_steps_} steps; loss {pre.loss_curve_[-1]:.4f}; wrote {path}"
          if pre.loss_curve_ else f"trained 0 steps; wrote {path}")
    return finish(args)
