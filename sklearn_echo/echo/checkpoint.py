"""Finding, reading and validating ECHO checkpoints: the one loading function.

``load_encoder`` accepts a Hugging Face Hub repo id (default
``yucongzh/echo-small-0824``, alias ``echo-small``), a local directory, a
``.safetensors`` file or a ``.pth`` file holding ``{"encoder": state_dict}``.
The architecture is inferred from tensor shapes. Nothing is ever unpickled
beyond tensors (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

import torch

from ..device import resolve_device, resolve_dtype
from .model import EchoConfig, EchoEncoder, default_num_heads
from .models import DEFAULT_MODEL, HUB_FILENAME, MODEL_ALIASES, PACKAGED_MODELS

__all__ = [
    "CheckpointError",
    "ModelNotAvailableError",
    "resolve_checkpoint",
    "packaged_checkpoint",
    "read_state_dict",
    "infer_config",
    "load_encoder",
    "get_encoder",
    "cached_encoder",
    "clear_encoder_cache",
    "checkpoint_fingerprint",
]

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt")

_LAYER_KEYS = {
    "self_attn.in_proj_weight": lambda d, f: (3 * d, d),
    "self_attn.in_proj_bias": lambda d, f: (3 * d,),
    "self_attn.out_proj.weight": lambda d, f: (d, d),
    "self_attn.out_proj.bias": lambda d, f: (d,),
    "linear1.weight": lambda d, f: (f, d),
    "linear1.bias": lambda d, f: (f,),
    "linear2.weight": lambda d, f: (d, f),
    "linear2.bias": lambda d, f: (d,),
    "norm1.weight": lambda d, f: (d,),
    "norm1.bias": lambda d, f: (d,),
    "norm2.weight": lambda d, f: (d,),
    "norm2.bias": lambda d, f: (d,),
}
_LAYER_RE = re.compile(r"^encoder\.layers\.(\d+)\.")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or is not an ECHO encoder."""


class ModelNotAvailableError(FileNotFoundError):
    """The model cannot be found locally and cannot be downloaded."""


def _offline_help(model: str) -> str:
    return (
        "To use ECHO without network access, download the checkpoint on a machine "
        f"that has it (for example `huggingface-cli download {model} {HUB_FILENAME}`, "
        "or from the project's Zenodo record), copy it here and pass its path: "
        "model='/path/to/model.safetensors' (a .pth file holding {'encoder': state_dict} "
        "or a directory containing the file works too). A copy already in the Hugging "
        "Face cache (HF_HUB_CACHE) is used automatically, also with HF_HUB_OFFLINE=1."
    )


def _looks_like_path(model: str) -> bool:
    return (
        model.endswith(CHECKPOINT_SUFFIXES)
        or model.startswith((".", "~", "/", "\\"))
        or "\\" in model
        or model.count("/") > 1
        or os.path.splitdrive(model)[0] != ""
    )


def resolve_checkpoint(
    model: str | os.PathLike = DEFAULT_MODEL,
    revision: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Return the local path of the checkpoint file named by ``model``.

    Parameters
    ----------
    model : str or path-like, default="echo-small"
        A ``.safetensors`` or ``.pth`` file, a directory holding one
        (``model.safetensors`` preferred), an alias (``"echo-small"``), the
        packaged demonstration model ``"echo-demo"`` (read from the installed
        package, never downloaded) or a Hugging Face Hub repo id. Hub files go through ``huggingface_hub`` and
        its cache, so ``HF_HUB_OFFLINE=1`` and ``HF_HUB_CACHE`` are honoured.
    revision : str, optional
        Hub branch, tag or commit to pin (ignored for local paths).
    cache_dir : path-like, optional
        Hub cache folder (defaults to huggingface_hub's).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        A local path that does not exist, or a directory with no checkpoint.
    ModelNotAvailableError
        A Hub model that is neither cached nor reachable; the message says how
        to pass a local file.
    """
    if isinstance(model, os.PathLike) or (isinstance(model, str) and os.path.exists(model)):
        return _resolve_local(Path(model).expanduser())
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a path or a Hub repo id, got {model!r}")
    if model in PACKAGED_MODELS:
        return packaged_checkpoint(model)
    if model in MODEL_ALIASES:
        return _download(MODEL_ALIASES[model], revision, cache_dir)
    if _looks_like_path(model):
        path = Path(model).expanduser()
        if path.exists():
            return _resolve_local(path)
        raise FileNotFoundError(f"model file or directory not found: {model!r}")
    return _download(model, revision, cache_dir)


def packaged_checkpoint(name: str) -> Path:
    """Path of a checkpoint shipped inside the package (``PACKAGED_MODELS``), read offline.

    Examples
    --------
    >>> from sklearn_echo.echo.checkpoint import packaged_checkpoint
    >>> packaged_checkpoint("echo-demo").name
    'echo-demo.safetensors'
    """
    if name not in PACKAGED_MODELS:
        raise ValueError(
            f"{name!r} is not a packaged model; packaged models: {', '.join(sorted(PACKAGED_MODELS))}"
        )
    path = Path(__file__).resolve().parents[1] / "assets" / PACKAGED_MODELS[name]
    if not path.is_file():
        raise ModelNotAvailableError(
            f"the packaged model {name!r} is missing from this installation ({str(path)!r}); "
            "reinstall sklearn-echo"
        )
    return path


def _resolve_local(path: Path) -> Path:
    if path.is_file():
        return path.resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"model file or directory not found: {str(path)!r}")
    preferred = path / HUB_FILENAME
    if preferred.is_file():
        return preferred.resolve()
    for suffix in CHECKPOINT_SUFFIXES:
        found = sorted(path.glob(f"*{suffix}"))
        if len(found) == 1:
            return found[0].resolve()
        if len(found) > 1:
            raise FileNotFoundError(
                f"model directory {str(path)!r} holds several {suffix} files "
                f"({', '.join(p.name for p in found)}); pass the file itself"
            )
    raise FileNotFoundError(
        f"model directory {str(path)!r} holds no checkpoint "
        f"({HUB_FILENAME}, *.safetensors or *.pth)"
    )


def _download(repo_id: str, revision: str | None, cache_dir) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        local = hf_hub_download(
            repo_id=repo_id,
            filename=HUB_FILENAME,
            revision=revision,
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
    except Exception as exc:  # every huggingface_hub failure means the same to a user
        where = repo_id + (f"@{revision}" if revision else "")
        raise ModelNotAvailableError(
            f"could not load the ECHO checkpoint {where!r} from the Hugging Face Hub "
            f"and no cached copy was found ({type(exc).__name__}: {exc}). "
            + _offline_help(repo_id)
        ) from exc
    return Path(local)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the encoder state dict from a ``.safetensors`` or ``.pth`` file.

    ``.pth`` files are read with ``torch.load(weights_only=True)``: a dict
    whose ``"encoder"`` entry is the state dict (a flat state dict is accepted
    too). Unreadable, truncated or foreign files raise `CheckpointError`
    naming the path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:
            raise CheckpointError(
                f"{str(path)!r} is not a readable safetensors checkpoint "
                f"(truncated or corrupt?): {exc}"
            ) from exc
    if suffix in (".pth", ".pt"):
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(
                f"{str(path)!r} is not a readable PyTorch checkpoint (truncated, corrupt, "
                f"or holding objects other than tensors): {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(obj, dict) and isinstance(obj.get("encoder"), dict):
            obj = obj["encoder"]
        if not isinstance(obj, dict) or not all(
            isinstance(v, torch.Tensor) for v in obj.values()
        ):
            raise CheckpointError(
                f"{str(path)!r} does not hold an ECHO state dict: expected a dict with an "
                "'encoder' entry mapping parameter names to tensors"
            )
        return obj
    raise CheckpointError(
        f"{str(path)!r}: unsupported checkpoint extension {suffix!r}; use a "
        ".safetensors file or a .pth file holding {'encoder': state_dict}"
    )


def infer_config(state_dict: dict, num_heads: int | None = None) -> EchoConfig:
    """Infer the encoder architecture from tensor shapes and check every key.

    Parameters
    ----------
    state_dict : dict of str to Tensor
        Extra keys (a decoder, for instance) are ignored.
    num_heads : int, optional
        Attention heads; ``D / 64`` when not given (ECHO's head width).

    Raises
    ------
    CheckpointError
        Naming every missing or mis-shaped encoder key.
    """

    def shape(key):
        t = state_dict.get(key)
        return None if t is None else tuple(t.shape)

    for key in ("cls_token", "pos_embed", "patch_embed.proj.weight"):
        if shape(key) is None:
            raise CheckpointError(
                f"not an ECHO encoder checkpoint: missing key {key!r} "
                f"(found {len(state_dict)} keys, e.g. {sorted(state_dict)[:5]})"
            )
    d = shape("cls_token")[-1]
    pw_shape = shape("patch_embed.proj.weight")
    if len(pw_shape) != 4 or pw_shape[0] != d or pw_shape[1] != 1:
        raise CheckpointError(
            f"key 'patch_embed.proj.weight' has shape {pw_shape}, expected ({d}, 1, band, patch)"
        )
    band_width, patch_width = pw_shape[2], pw_shape[3]
    pos = shape("pos_embed")
    if len(pos) != 3 or pos[0] != 1 or pos[2] != d or pos[1] < 2:
        raise CheckpointError(f"key 'pos_embed' has shape {pos}, expected (1, L, {d})")
    layer_ids = sorted({int(m.group(1)) for k in state_dict if (m := _LAYER_RE.match(k))})
    if not layer_ids:
        raise CheckpointError("not an ECHO encoder checkpoint: no 'encoder.layers.N.*' keys")
    depth = layer_ids[-1] + 1
    ffn = shape("encoder.layers.0.linear1.weight")
    ffn_dim = ffn[0] if ffn else 4 * d
    expected = {
        "cls_token": (1, 1, d),
        "pos_embed": pos,
        "patch_embed.proj.weight": pw_shape,
        "patch_embed.proj.bias": (d,),
        "norm.weight": (d,),
        "norm.bias": (d,),
    }
    for i in range(depth):
        for suffix, fn in _LAYER_KEYS.items():
            expected[f"encoder.layers.{i}.{suffix}"] = fn(d, ffn_dim)
    missing = [k for k in expected if k not in state_dict]
    if missing:
        raise CheckpointError(
            f"checkpoint is missing {len(missing)} encoder key(s): "
            + ", ".join(repr(k) for k in missing[:10])
            + (" ..." if len(missing) > 10 else "")
        )
    wrong = [
        f"{k!r} has shape {shape(k)}, expected {v}"
        for k, v in expected.items()
        if shape(k) != tuple(v)
    ]
    if wrong:
        raise CheckpointError("mis-shaped encoder key(s): " + "; ".join(wrong))
    heads = default_num_heads(d) if num_heads is None else int(num_heads)
    if heads < 1 or d % heads:
        raise CheckpointError(f"num_heads={heads} does not divide embed_dim={d}")
    return EchoConfig(
        embed_dim=d,
        depth=depth,
        num_heads=heads,
        ffn_dim=ffn_dim,
        band_width=band_width,
        patch_width=patch_width,
        max_patches=pos[1] - 1,
    )


@functools.lru_cache(maxsize=16)
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def checkpoint_fingerprint(path: str | os.PathLike) -> str:
    """SHA-256 of the checkpoint file's bytes (cached per path, size and mtime)."""
    st = os.stat(path)
    return _fingerprint(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def load_encoder(
    model: str | os.PathLike = DEFAULT_MODEL,
    revision: str | None = None,
    *,
    num_heads: int | None = None,
    device="cpu",
    dtype="float32",
    cache_dir=None,
) -> EchoEncoder:
    """Load an ECHO encoder, ready for inference.

    Parameters
    ----------
    model : str or path-like, default="echo-small"
        See `resolve_checkpoint`.
    revision : str, optional
        Hub revision pin.
    num_heads : int, optional
        Attention heads (default ``D / 64``).
    device : {"auto", "cpu", "cuda"} or torch.device, default="cpu"
    dtype : {"float32", "bfloat16", "float16", "int8"}, default="float32"
        float16 on CUDA only; int8 (linear layers on int8 kernels, see
        `sklearn_echo.echo.quantize`) on CPU only.
    cache_dir : path-like, optional
        Hugging Face cache folder.

    Returns
    -------
    EchoEncoder
        In eval mode, on ``device``, in ``dtype``; ``encoder.checkpoint_path``
        and ``encoder.fingerprint`` (SHA-256 of the file) are set.

    Examples
    --------
    >>> from sklearn_echo.echo.checkpoint import load_encoder
    >>> enc = load_encoder("../shared/fixtures/echo_reference/tiny_echo.safetensors")
    >>> enc.config.embed_dim, enc.config.depth, enc.config.num_heads
    (128, 2, 2)
    """
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    path = resolve_checkpoint(model, revision, cache_dir=cache_dir)
    return _load_file(path, num_heads, dev, dt)


def _load_file(path, num_heads, dev: torch.device, dt: torch.dtype, kernels=None) -> EchoEncoder:
    """The encoder of a resolved checkpoint file, in eval mode on ``dev`` in ``dt``."""
    state = read_state_dict(path)
    config = infer_config(state, num_heads)
    encoder = EchoEncoder(config, kernels)
    wanted = encoder.state_dict().keys()
    encoder.load_state_dict({k: state[k] for k in wanted}, strict=True)
    int8 = dt == torch.int8
    encoder = encoder.to(device=dev, dtype=torch.float32 if int8 else dt).eval()
    encoder.requires_grad_(False)
    if int8:
        from .quantize import quantize_encoder

        quantize_encoder(encoder)
    encoder.checkpoint_path = str(path)
    encoder.fingerprint = checkpoint_fingerprint(path)
    return encoder


@functools.lru_cache(maxsize=4)
def _cached_encoder(path: str, num_heads, device: str, dtype: str, kernels) -> EchoEncoder:
    dev = torch.device(device)
    return _load_file(path, num_heads, dev, resolve_dtype(dtype, dev), kernels)


@functools.lru_cache(maxsize=4)
def _cached_onnx_encoder(path: str, num_heads, file, precision: str):
    from .onnx_backend import load_onnx_encoder

    base = _cached_encoder(path, num_heads, "cpu", "float32", None)
    return load_onnx_encoder(base, file, precision)


def cached_encoder(
    path, *, num_heads=None, device="auto", dtype="float32", kernels=None, backend="torch"
):
    """The encoder of a resolved checkpoint file, loaded once per process and reused.

    The embedding pipeline loads models through this: ``path`` is a file that
    `resolve_checkpoint` found already, so nothing is asked of the Hub. At most
    four encoders are kept; `sklearn_echo.echo.cache.clear_cache` drops them.

    Parameters
    ----------
    path : path-like
        A ``.safetensors`` or ``.pth`` checkpoint file.
    num_heads : int, optional
    device : str or torch.device, default="auto"
    dtype : {"float32", "bfloat16", "float16", "int8"}, default="float32"
        An int8 encoder is quantized once, when it is loaded, and kept quantized.
    kernels : KernelOptions, optional
        Inference kernels (`sklearn_echo.echo.kernels`); default the fastest.
    backend : str, default="torch"
        ``"onnxruntime"`` runs the Transformer in onnxruntime (the optional
        ``onnx`` extra; CPU, float32 or int8), exported in memory; the path of
        a ``.onnx`` file written by ``sklearn-echo export --onnx`` runs that
        file, which must come from the same checkpoint
        (`sklearn_echo.echo.onnx_backend`).

    Returns
    -------
    EchoEncoder or OnnxEncoder

    Examples
    --------
    >>> from sklearn_echo.echo.checkpoint import cached_encoder
    >>> path = "../shared/fixtures/echo_reference/tiny_echo.safetensors"
    >>> cached_encoder(path) is cached_encoder(path)
    True
    """
    from .onnx_backend import parse_backend

    kind, file = parse_backend(backend)
    dev = resolve_device(device)
    name = str(dtype).replace("torch.", "")
    if kind == "onnxruntime":
        if dev.type != "cpu":
            raise ValueError(
                f"backend={backend!r} runs on CPU only (onnxruntime's CPU provider); "
                f"device={str(device)!r} was asked for: use device='cpu' or backend='torch'"
            )
        if name not in ("float32", "int8"):
            raise ValueError(
                f"dtype={name!r} is not available with backend={backend!r}; use "
                "'float32' or 'int8'"
            )
        if name == "int8":
            resolve_dtype(name, dev)
        return _cached_onnx_encoder(str(path), num_heads, file, name)
    resolve_dtype(dtype, dev)
    return _cached_encoder(str(path), num_heads, str(dev), name, kernels)


def clear_encoder_cache():
    """Drop every encoder `cached_encoder` holds (and the GPU memory they used)."""
    _cached_encoder.cache_clear()
    _cached_onnx_encoder.cache_clear()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def get_encoder(model=DEFAULT_MODEL, revision=None, *, num_heads=None, device="auto", dtype="float32"):
    """Like `load_encoder`, but loaded once per process and reused.

    Resolves ``model`` (for a Hub id, a look-up in the Hub cache or a
    download), then returns `cached_encoder` of the file. Estimators resolve
    once in ``fit`` and then use `cached_encoder` directly.
    """
    path = resolve_checkpoint(model, revision)
    return cached_encoder(path, num_heads=num_heads, device=device, dtype=dtype)
