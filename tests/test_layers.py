"""The package's layers only import downward (docs/architecture.md)."""

import ast

from .conftest import ROOT

PACKAGE = ROOT / "sklearn_echo"

# top-level module or package -> layer; a module may import only from its own
# layer or the ones below it
LAYERS = {
    "device": 0, "conformal": 0,  # base: devices, threads, conformal arithmetic
    "signals": 1, "datasets": 1,  # input: files, arrays, dataset file names
    "echo": 2,  # the ECHO layer: features, model, checkpoints, pipeline
    "band_layout": 3, "embedder": 3, "streaming": 3, "degram": 3,  # embeddings and estimators
    "training": 3, "pretrainer": 3, "finetuner": 3,
    "neighbors": 4, "metrics": 4, "evaluation": 4, "persistence": 4,  # neighbours and metrics
    "cli": 5, "__main__": 5,  # command line
}


def _imports(path, package):
    """Absolute names of the sklearn_echo modules ``path`` imports (module level or in functions)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    yield from (f"{target}.{a.name}" for a in node.names)
                    continue
            else:
                target = node.module or ""
            yield target
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_every_module_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()}
    assert tops - {"assets"} <= set(LAYERS), f"modules without a layer: {sorted(tops - set(LAYERS))}"


def test_layers_only_import_downward():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if len(parts) < 2 or parts == ("sklearn_echo", "__init__"):
            continue  # the top-level package exports names lazily from every layer
        source = parts[1]
        package = ".".join(parts[:-1])  # what relative imports start from
        for name in _imports(path, package):
            if not name.startswith("sklearn_echo."):
                continue
            target = name.split(".")[1]
            if target in LAYERS and LAYERS[target] > LAYERS[source]:
                upward.append(f"{'.'.join(parts)} (layer {LAYERS[source]}) imports {name} "
                              f"(layer {LAYERS[target]})")
    assert not upward, "\n".join(sorted(set(upward)))
