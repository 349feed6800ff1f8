"""``sklearn-echo finetune``: fine-tune ECHO on labels read from the file names (ArcFace, LoRA)."""

from __future__ import annotations

from .errors import CommandError
from .files import check_output, finish, load_recordings
from .labels import class_labels
from .options import (
    PATHS_HELP,
    add_command,
    add_on_error,
    add_training_options,
    positive_float,
    positive_int,
)

__all__ = ["register"]


def register(sub, common):
    """Register ``finetune`` and its options."""
    p = add_command(
        sub, "finetune", _cmd_finetune, common,
        help="fine-tune ECHO on labelled recordings (ArcFace head, LoRA adapters)",
        description="Fine-tune ECHO on an auxiliary classification of recordings (machine, "
        "section, operating attributes or fault classes read from the file names) with an "
        "additive angular margin head, and write the fine-tuned encoder (adapters merged) as a "
        ".safetensors file in the published format, which every command takes as --model; "
        "the head is written beside it (NAME.head.safetensors). Under torchrun the same "
        "command trains on several processes or machines.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=PATHS_HELP)
    p.add_argument("-o", "--output", required=True, metavar="FILE.safetensors",
                   help="the fine-tuned encoder")
    p.add_argument("--labels-from", default="folder", metavar="folder|REGEX",
                   help="'folder' (the folder holding each file, the default) or a regular "
                   "expression searched in each file's path; the label is its group 'label', "
                   "else its groups joined, else the whole match")
    p.add_argument("--from", dest="start", default=None, metavar="MODEL",
                   help="starting checkpoint (default: --model)")
    p.add_argument("--lora", type=positive_int, default=8, metavar="RANK",
                   help="rank of the low-rank adapters (default: %(default)s)")
    p.add_argument("--trainable", default="lora", metavar="lora|all|last:N",
                   help="what trains: adapters, every weight or the last N layers "
                   "(default: %(default)s)")
    add_training_options(p, steps=300, batch=16, batch_help="crops",
                         lr_help="1e-3 with LoRA, else 1e-4")
    p.add_argument("--margin", type=float, default=0.2,
                   help="angular margin in radians (default: %(default)s)")
    p.add_argument("--scale", type=positive_float, default=30.0,
                   help="logit scale (default: %(default)s)")
    p.add_argument("--mixup", type=float, default=0.0,
                   help="Beta(a, a) mixup of two crops; 0 is off (default: %(default)s)")
    p.add_argument("--validation-fraction", type=positive_float, default=None,
                   help="share of every class held back for a validation loss")
    add_on_error(p)
    return p


def _cmd_finetune(args) -> int:
    from ..finetuner import EchoFineTuner, head_path
    from ..signals.paths import default_rate
    from ..training.distributed import launched_rank

    check_output(args.output, "fine-tuned encoder")
    paths, scanned = load_recordings(args, args.paths, scan=True)
    labels = class_labels(paths, args.labels_from)
    if len(set(labels)) < 2:
        raise CommandError(
            f"--labels-from {args.labels_from!r} gives a single class ({labels[0]!r}) for "
            f"{len(paths)} files: fine-tuning needs at least 2 classes"
        )
    ft = EchoFineTuner(
        model=args.start or args.model, revision=args.revision,
        sample_rate=default_rate(args.sample_rate), trainable=args.trainable,
        lora_rank=args.lora, lora_alpha=2.0 * args.lora, arcface_scale=args.scale,
        arcface_margin=args.margin, mixup=args.mixup, max_steps=args.steps,
        batch_size=args.train_batch_size, learning_rate=args.lr,
        crop_seconds=args.crop_seconds, validation_fraction=args.validation_fraction,
        checkpoint_dir=args.checkpoint_dir, num_workers=args.workers, device=args.device,
        dtype=args.dtype, random_state=args.seed, progress=args.progress, n_jobs=args.n_jobs,
        multichannel=args.multichannel, mat_key=args.mat_key,
    )
    try:
        ft.fit(scanned, labels)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if launched_rank() != 0:  # under torchrun: every rank holds the same weights
        return finish(args)
    path = ft.save(args.output)
    loss = f"; loss {ft.loss_curve_[-1]:.4f}" if ft.loss_curve_ else ""
    print(f"fine-tuned {ft.n_steps_} steps on {len(ft.classes_)} classes{loss}; wrote {path} "
          f"and {head_path(path)}")
    return finish(args)
