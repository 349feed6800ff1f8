"""Saved detectors: a fitted embedder + anomaly detector in a file that loads without running code.

`save_detector` writes a fitted ``make_pipeline(EchoEmbedder(...),
EchoKNNAnomalyDetector(...))`` (its threshold included) and `load_detector`
reads it back, in one of two formats:

- ``"npz"`` (default): a NumPy ``.npz`` archive holding a JSON manifest
  (format, version, the class, parameters and fitted attributes of each step,
  the model fingerprint, the analysis window) and plain numeric arrays (the
  normal training embeddings, their groups). Loading parses JSON and reads
  arrays with ``allow_pickle=False``: nothing in the file is executed. The
  only classes a file may name are listed in `TRUSTED_TYPES`; anything else
  is refused. The detector is rebuilt by fitting it again on the saved
  embeddings (exact search is deterministic, so it scores as before; the
  saved threshold is checked).
- ``"joblib"``: a pickle, for pipelines this format cannot describe (other
  steps). Unpickling can run any code, so `load_detector` refuses it unless
  ``allow_pickle=True``.

Either way the checkpoint is resolved when the file is loaded: where the
checkpoint found has another SHA-256 than the one the detector was fitted
with, loading fails with an error naming both (not at the first score).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "TRUSTED_TYPES",
    "DetectorFile",
    "DetectorFileError",
    "load_detector",
    "save_detector",
]

FORMAT = "sklearn-echo-detector"
"""The ``format`` entry of every detector file's manifest."""

FORMAT_VERSION = 1
"""Version of the layout written by `save_detector`."""

TRUSTED_TYPES = ("sklearn.pipeline.Pipeline", "sklearn_echo.embedder.EchoEmbedder",
                 "sklearn_echo.neighbors.EchoKNNAnomalyDetector")
"""The only classes an ``npz`` detector file can name; nothing else is built from a file."""

_PICKLE_SIGNATURES = (b"\x80", b"\x78\x9c", b"\x78\x01", b"\x78\xda", b"\x1f\x8b", b"BZh", b"\xfd7zXZ")


class DetectorFileError(ValueError):
    """A detector file that cannot be read: damaged, foreign, or refused (pickle)."""


@dataclass
class DetectorFile:
    """A loaded detector and what its file says about it.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted: ``pipeline.score_samples(recordings)``, ``predict``, and the
        detector's ``p_values`` on embeddings.
    window : float or None
        Seconds of the windows the detector was fitted (and calibrated) on;
        None when it was fitted on whole recordings.
    model_fingerprint : str
        SHA-256 of the checkpoint the embeddings came from.
    format : str
        ``"npz"`` or ``"joblib"``.
    """

    pipeline: object
    window: float | None
    model_fingerprint: str
    format: str

    @property
    def embedder(self):
        """The pipeline's first step (`sklearn_echo.EchoEmbedder`)."""
        return self.pipeline[0]

    @property
    def detector(self):
        """The pipeline's last step (`sklearn_echo.EchoKNNAnomalyDetector`)."""
        return self.pipeline[-1]


# --------------------------------------------------------------------------- saving
def _check_pipeline(pipeline):
    from sklearn.utils.validation import check_is_fitted

    from .embedder import EchoEmbedder
    from .neighbors import EchoKNNAnomalyDetector

    steps = getattr(pipeline, "steps", None)
    if not steps or not isinstance(pipeline[0], EchoEmbedder):
        raise TypeError(
            "a detector is a fitted Pipeline starting with an EchoEmbedder, got "
            f"{type(pipeline).__name__}"
        )
    check_is_fitted(pipeline[0])
    check_is_fitted(pipeline[-1])
    return len(steps) == 2 and isinstance(pipeline[-1], EchoKNNAnomalyDetector)


class _Encoder:
    """Values to JSON, numpy arrays set aside (``{"array": key}``)."""

    def __init__(self):
        self.arrays = {}

    def __call__(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biufU":
                raise TypeError(f"{where}: arrays of dtype {value.dtype} cannot be saved in an npz detector file")
            key = f"a{len(self.arrays)}"
            self.arrays[key] = value
            return {"array": key}
        if isinstance(value, tuple):
            return {"tuple": [self(v, where) for v in value]}
        if isinstance(value, list):
            return [self(v, where) for v in value]
        raise TypeError(
            f"{where} is a {type(value).__name__}, which an npz detector file cannot hold; "
            "save with format='joblib'"
        )


def save_detector(pipeline, path, *, window=None, format="npz"):
    """Write a fitted detector pipeline to ``path``.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted ``make_pipeline(EchoEmbedder(...), EchoKNNAnomalyDetector(...))``
        (``format="joblib"`` takes any steps after the embedder).
    path : str or path-like
    window : float, optional
        Seconds of the windows the detector was fitted on (None: whole
        recordings); the commands score and monitor with windows of this length.
    format : {"npz", "joblib"}, default="npz"

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_echo import EchoEmbedder, EchoKNNAnomalyDetector
    >>> from sklearn_echo.persistence import load_detector, save_detector
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal(16000) for _ in range(6)]
    >>> pipe = make_pipeline(
    ...     EchoEmbedder(model="../shared/fixtures/echo_reference/tiny_echo.safetensors",
    ...                  sample_rate=16000),
    ...     EchoKNNAnomalyDetector(fpr=0.2)).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "fan.detector")
    >>> _ = save_detector(pipe, path, window=1.0)
    >>> saved = load_detector(path)
    >>> saved.window, saved.format
    (1.0, 'npz')
    >>> bool(np.array_equal(saved.pipeline.score_samples(X), pipe.score_samples(X)))
    True
    """
    from . import __version__

    native = _check_pipeline(pipeline)
    embedder = pipeline[0]
    window = None if window is None else float(window)
    if format == "joblib":
        import joblib

        payload = {
            "format": FORMAT, "version": FORMAT_VERSION, "pipeline": pipeline,
            "window": window, "model_fingerprint": embedder.model_fingerprint_,
        }
        joblib.dump(payload, path)
        return path
    if format != "npz":
        raise ValueError(f"format must be 'npz' or 'joblib', got {format!r}")
    if not native:
        raise TypeError(
            "the npz format holds an EchoEmbedder followed by an EchoKNNAnomalyDetector; this "
            f"pipeline has {[type(s).__name__ for _, s in pipeline.steps]}: save with format='joblib'"
        )
    detector = pipeline[-1]
    enc = _Encoder()
    params = embedder.get_params()
    emb_state = {
        k: enc(v, f"EchoEmbedder.{k}")
        for k, v in vars(embedder).items()
        if k not in params and not k.startswith("__") and k != "_encoder_spec"
    }
    det_params = detector.get_params()
    if det_params["random_state"] is not None and not isinstance(det_params["random_state"], int):
        raise TypeError("random_state of the detector must be an int or None to be saved in an npz file")
    X, domain, groups = detector._fit_rows()
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "sklearn_echo": __version__,
        "window": window,
        "model_fingerprint": embedder.model_fingerprint_,
        "steps": [
            {
                "name": pipeline.steps[0][0], "class": TRUSTED_TYPES[1],
                "params": {k: enc(v, f"EchoEmbedder({k}=...)") for k, v in params.items()},
                "state": emb_state,
            },
            {
                "name": pipeline.steps[1][0], "class": TRUSTED_TYPES[2],
                "params": {k: enc(v, f"EchoKNNAnomalyDetector({k}=...)") for k, v in det_params.items()},
                "fit": {
                    "X": enc(X, "bank"),
                    "domain": enc(domain, "domain"),
                    "groups": enc(groups, "groups"),
                },
                "offset": detector.offset_,
            },
        ],
    }
    buffer = io.BytesIO()
    np.savez(buffer, manifest=np.array(json.dumps(manifest)), **enc.arrays)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    return path


# --------------------------------------------------------------------------- loading
def _decode(value, arrays, where):
    if isinstance(value, dict):
        if set(value) == {"array"}:
            key = value["array"]
            if key not in arrays:
                raise DetectorFileError(f"{where} refers to array {key!r}, which the file lacks")
            return arrays[key]
        if set(value) == {"tuple"}:
            return tuple(_decode(v, arrays, where) for v in value["tuple"])
        raise DetectorFileError(f"{where} holds an object the format does not define")
    if isinstance(value, list):
        return [_decode(v, arrays, where) for v in value]
    return value


def _read_npz(path):
    name = os.fspath(path)
    try:
        with np.load(name, allow_pickle=False) as data:
            if "manifest" not in data.files:
                raise DetectorFileError(
                    f"{name} is an .npz archive but not a sklearn-echo detector file (no manifest)"
                )
            arrays = {k: data[k] for k in data.files}
    except DetectorFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise DetectorFileError(f"{name} is damaged: {type(exc).__name__}: {exc}") from None
    try:
        manifest = json.loads(str(arrays.pop("manifest")))
    except ValueError as exc:
        raise DetectorFileError(f"{name} is damaged: its manifest is not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DetectorFileError(f"{name} is not a sklearn-echo detector file (format is not {FORMAT!r})")
    if manifest.get("version") != FORMAT_VERSION:
        raise DetectorFileError(
            f"{name} has detector format version {manifest.get('version')}; this sklearn-echo "
            f"reads version {FORMAT_VERSION}"
        )
    return name, manifest, arrays


def _build(name, manifest, arrays, model):
    from sklearn.pipeline import Pipeline

    from .embedder import EchoEmbedder
    from .neighbors import EchoKNNAnomalyDetector

    steps = manifest.get("steps")
    classes = [s.get("class") for s in steps] if isinstance(steps, list) else None
    if classes != list(TRUSTED_TYPES[1:]):
        raise DetectorFileError(
            f"{name} names the classes {classes}; a detector file may only hold "
            f"{list(TRUSTED_TYPES[1:])} (trusted types: {', '.join(TRUSTED_TYPES)})"
        )
    emb_step, det_step = steps
    try:
        params = {k: _decode(v, arrays, f"{name}: EchoEmbedder.{k}") for k, v in emb_step["params"].items()}
        if model is not None:
            params["model"] = model
        embedder = EchoEmbedder(**params)
        embedder._validate_params()
        for key, value in emb_step["state"].items():
            if key.startswith("__") or callable(getattr(EchoEmbedder, key, None)):
                raise DetectorFileError(f"{name}: EchoEmbedder state {key!r} is not an attribute")
            setattr(embedder, key, _decode(value, arrays, f"{name}: EchoEmbedder.{key}"))
        det_params = {
            k: _decode(v, arrays, f"{name}: EchoKNNAnomalyDetector.{k}")
            for k, v in det_step["params"].items()
        }
        detector = EchoKNNAnomalyDetector(**det_params)
        fit = {k: _decode(v, arrays, f"{name}: detector {k}") for k, v in det_step["fit"].items()}
        if not isinstance(fit.get("X"), np.ndarray) or fit["X"].ndim != 2:
            raise DetectorFileError(f"{name}: the detector's embeddings are missing")
        if fit["X"].shape[1] != embedder.n_features_out_:
            raise DetectorFileError(
                f"{name}: the detector's embeddings have {fit['X'].shape[1]} features, the "
                f"embedder {embedder.n_features_out_}"
            )
        detector.fit(fit["X"], domain=fit.get("domain"), groups=fit.get("groups"))
    except DetectorFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DetectorFileError(f"{name} is damaged or was written by another version: {exc}") from None
    saved = det_step.get("offset")
    if not isinstance(saved, (int, float)) or not np.isclose(detector.offset_, saved, rtol=1e-6, atol=1e-9):
        raise DetectorFileError(
            f"{name}: the rebuilt detector's threshold {detector.offset_!r} differs from the saved "
            f"{saved!r}: the file is damaged"
        )
    pipeline = Pipeline([(emb_step.get("name", "echoembedder"), embedder),
                         (det_step.get("name", "echoknnanomalydetector"), detector)])
    return pipeline


def _sniff(name) -> bytes:
    try:
        with open(name, "rb") as f:
            return f.read(8)
    except IsADirectoryError:
        raise DetectorFileError(f"{name} is a folder, not a detector file") from None


def load_detector(path, *, model=None, allow_pickle=False) -> DetectorFile:
    """Read a detector written by `save_detector` and resolve its checkpoint.

    Parameters
    ----------
    path : str or path-like
    model : str, optional
        Where to find the checkpoint now (default: where it was at fit time).
        It must be the same file: its SHA-256 is checked.
    allow_pickle : bool, default=False
        Also read ``joblib`` files. Unpickling runs code from the file: only
        for files you trust.

    Returns
    -------
    DetectorFile

    Raises
    ------
    DetectorFileError
        The file is damaged, is not a detector file, names a class outside
        `TRUSTED_TYPES`, or is a pickle and ``allow_pickle`` is False.
    ValueError
        The checkpoint found has another SHA-256 than the fitted one (both named).
    """
    name = os.fspath(path)
    head = _sniff(name)
    if head.startswith(b"PK"):
        name, manifest, arrays = _read_npz(name)
        pipeline = _build(name, manifest, arrays, model)
        window, fmt = manifest.get("window"), "npz"
    elif head.startswith(_PICKLE_SIGNATURES):
        if not allow_pickle:
            raise DetectorFileError(
                f"{name} is a pickle (joblib) file: loading it runs code stored in the file. "
                "Load it only if you trust its origin (allow_pickle=True, --allow-pickle), or "
                "save the detector in the npz format"
            )
        import joblib

        try:
            payload = joblib.load(name)
        except Exception as exc:  # noqa: BLE001 - a damaged pickle raises anything
            raise DetectorFileError(f"{name} is damaged: {type(exc).__name__}: {exc}") from None
        if isinstance(payload, dict) and payload.get("format") == FORMAT:
            pipeline, window = payload.get("pipeline"), payload.get("window")
        else:
            pipeline, window = payload, None
        try:
            _check_pipeline(pipeline)
        except (TypeError, ValueError) as exc:
            raise DetectorFileError(f"{name} does not hold a fitted detector: {exc}") from None
        if model is not None:
            pipeline[0].set_params(model=model)
        fmt = "joblib"
    else:
        raise DetectorFileError(
            f"{name} is not a sklearn-echo detector file (it starts with {head[:4]!r}, neither an "
            "npz archive nor a joblib pickle)"
        )
    embedder = pipeline[0]
    try:
        embedder.resolve_model()  # now: a checkpoint with another SHA-256 fails here
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return DetectorFile(pipeline, None if window is None else float(window),
                        embedder.model_fingerprint_, fmt)
