"""The finetune command: labels from the folders or a pattern, published-format output, errors."""

import torch

from sklearn_echo.cli import main
from sklearn_echo.echo.checkpoint import read_state_dict
from sklearn_echo.echo.model import EchoEncoder
from sklearn_echo.finetuner import head_path
from sklearn_echo.training.export import read_metadata

from .conftest import MIMII_DIR, TINY_SAFETENSORS

TINY = str(TINY_SAFETENSORS)
FAST = ["--model", TINY, "--steps", "2", "--train-batch-size", "2", "--crop-seconds", "0.32",
        "--device", "cpu", "--lora", "2"]


def test_finetune_writes_the_published_format(tmp_path, capsys):
    out = tmp_path / "ft.safetensors"
    files = sorted(MIMII_DIR.glob("normal/*.wav"))[:3] + sorted(MIMII_DIR.glob("abnormal/*.wav"))[:3]
    code = main(["finetune", *map(str, files), "-o", str(out), *FAST])
    assert code == 0
    assert "fine-tuned 2 steps on 2 classes" in capsys.readouterr().out
    config = read_metadata(out)["finetuning"]["config"]
    assert set(read_state_dict(out)) == set(EchoEncoder(_config(config)).state_dict())
    head = read_state_dict(head_path(out))["weight"]
    assert tuple(head.shape) == (2, config["embed_dim"]) and bool(torch.isfinite(head).all())
    assert read_metadata(head_path(out))["classes"] == ["abnormal", "normal"]


def test_finetune_regex_labels_and_single_class(tmp_path, capsys):
    files = [str(p) for p in sorted(MIMII_DIR.glob("normal/*.wav"))[:4]]
    code = main(["finetune", *files, "-o", str(tmp_path / "a.safetensors"), *FAST])
    assert code == 1
    assert "single class ('normal')" in capsys.readouterr().err
    code = main(["finetune", *files, "-o", str(tmp_path / "b.safetensors"), *FAST,
                 "--labels-from", r"0000000(\d)"])
    assert code == 0


def _config(d):
    from sklearn_echo.echo.model import EchoConfig

    return EchoConfig(**d)
