"""The DCASE Task 2 evaluation protocol: one detector per machine and section.

For every (machine, section) of a DCASE table (`sklearn_echo.datasets.parse_dcase`):

1. fit a fresh clone of the detector on the section's training clips
   (normal clips only), in one memory bank or, with ``domain_banks=True``,
   in a source bank and a target bank (the test score is then the minimum
   distance over both banks, as the SIREN benchmark scores DCASE 2021-2025
   clips);
2. score the section's test clips without their domain (the DCASE 2022+
   test condition), and decide anomalies with the detector's ``predict``;
3. compute the official figures (`sklearn_echo.evaluation.section_figures`)
   and their means per machine and overall.
"""

# License: MIT

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..metrics import DCASE_MAX_FPR, anomaly_scores_of
from .figures import machine_figures, overall_figures, section_figures
from .score_files import write_score_files

__all__ = ["DCASEResult", "evaluate_dcase", "make_dcase_detector"]

#: Columns of `DCASEResult.scores`.
SCORE_COLUMNS = (
    "machine", "section", "domain", "label", "attributes", "convention", "name", "path",
    "anomaly_score", "decision",
)


def make_dcase_detector(model=None, *, n_neighbors=1, **embedder_params):
    """The default detector: ECHO embeddings and k-NN anomaly scores.

    Parameters
    ----------
    model : str, default=None
        Checkpoint or published model name of `sklearn_echo.EchoEmbedder`
        (None: its default model).
    n_neighbors : int, default=1
        Neighbours of `sklearn_echo.EchoKNNAnomalyDetector` (the ECHO
        paper scores DCASE clips by the nearest distance, ``k = 1``).
    **embedder_params
        Further `sklearn_echo.EchoEmbedder` parameters (``device``,
        ``dtype``, ``cache``, ...).

    Returns
    -------
    detector : sklearn.pipeline.Pipeline
        ``make_pipeline(EchoEmbedder(model=model, ...),
        EchoKNNAnomalyDetector(n_neighbors=n_neighbors))``.

    Examples
    --------
    >>> from sklearn_echo.evaluation import make_dcase_detector
    >>> make_dcase_detector("../shared/fixtures/echo_reference/tiny_echo.safetensors").steps[-1][0]
    'echoknnanomalydetector'
    """
    from sklearn.pipeline import make_pipeline

    from ..embedder import EchoEmbedder
    from ..neighbors import EchoKNNAnomalyDetector

    if model is not None:
        embedder_params["model"] = model
    return make_pipeline(EchoEmbedder(**embedder_params), EchoKNNAnomalyDetector(n_neighbors=n_neighbors))


@dataclass
class DCASEResult:
    """Scores and official figures of a DCASE evaluation (see `evaluate_dcase`).

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per test clip: ``machine``, ``section``, ``domain``,
        ``label``, ``attributes``, ``convention``, ``name``, ``path``,
        ``anomaly_score`` (higher = more anomalous) and ``decision``
        (1 = anomaly; NaN when the detector has no ``predict``).
    sections : pandas.DataFrame
        Figures per machine and section (`section_figures`), plus
        ``n_train`` (training clips used).
    machines : pandas.DataFrame
        Means per machine (`machine_figures`).
    summary : dict
        Means over all machines and sections (`overall_figures`), with
        ``official_score`` and ``notes`` (undefined figures left out).
    protocol : str
        The evaluation rules used (``"2022"`` or ``"2021"``).
    """

    scores: object
    sections: object
    machines: object
    summary: dict = field(default_factory=dict)
    protocol: str = "2022"

    @property
    def official_score(self):
        """Harmonic mean of every source AUC, target AUC and pAUC (the DCASE ranking figure)."""
        return self.summary["official_score"]

    def figures_table(self):
        """All figures in one table: sections, then machine means, then the overall means.

        Returns
        -------
        table : pandas.DataFrame
            Columns ``level`` (``"section"``, ``"machine"``, ``"all"``),
            ``machine``, ``section`` and every figure; NaN where a figure
            does not apply or is undefined (see ``notes``).
        """
        import pandas as pd

        sections = self.sections.assign(level="section")
        machines = self.machines.assign(level="machine", section="")
        overall = {k: v for k, v in self.summary.items() if k != "notes"}
        overall = pd.DataFrame([{**overall, "level": "all", "machine": "", "section": "",
                                 "notes": "; ".join(self.summary.get("notes", []))}])
        table = pd.concat([sections, machines, overall], ignore_index=True)
        first = ["level", "machine", "section"]
        return table[first + [c for c in table.columns if c not in first]]

    def to_csv(self, path):
        """Write `figures_table` to a CSV file.

        Parameters
        ----------
        path : str or path-like
            Output file.

        Returns
        -------
        path : str
            The file written.
        """
        self.figures_table().to_csv(path, index=False)
        return os.fspath(path)

    def write_score_files(self, directory):
        """Write the official score and decision files (`write_score_files`), in the protocol's layout.

        Parameters
        ----------
        directory : str or path-like
            Output folder.

        Returns
        -------
        paths : list of str
            The files written.
        """
        return write_score_files(self.scores, directory, protocol=self.protocol)


def _fit(estimator, X, domain):
    if domain is None:
        return estimator.fit(X)
    from sklearn.pipeline import Pipeline
    from sklearn.utils.metadata_routing import _routing_enabled

    if isinstance(estimator, Pipeline) and not _routing_enabled():
        return estimator.fit(X, **{f"{estimator.steps[-1][0]}__domain": domain})
    return estimator.fit(X, domain=domain)


def _score(estimator, X):
    """Anomaly scores and decisions, embedding the clips once for a pipeline."""
    from sklearn.pipeline import Pipeline

    final, Xt = estimator, X
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        final, Xt = estimator.steps[-1][1], estimator[:-1].transform(X)
    scores = anomaly_scores_of(final, Xt)
    decision = None
    if hasattr(final, "predict"):
        decision = (np.asarray(final.predict(Xt)) == -1).astype(int)
    return scores, decision


def _as_table(clips):
    from ..datasets.dcase import DCASE_COLUMNS, parse_dcase

    if hasattr(clips, "columns"):
        missing = [c for c in ("machine", "section", "split", "label", "path") if c not in clips.columns]
        if missing:
            raise ValueError(
                f"clips is missing the columns {missing}; build it with "
                "sklearn_echo.datasets.parse_dcase."
            )
        table = clips.copy()
        if "name" not in table.columns:
            table["name"] = [os.path.basename(os.fspath(p)) for p in table["path"]]
        for col in DCASE_COLUMNS:
            if col not in table.columns:
                table[col] = None
        return table.reset_index(drop=True)
    return parse_dcase(clips)


def evaluate_dcase(
    clips, estimator=None, *, domain_banks=False, protocol="2022", max_fpr=DCASE_MAX_FPR,
    machines=None, verbose=False,
):
    """Fit, score and evaluate every machine and section of a DCASE dataset.

    Parameters
    ----------
    clips : pandas.DataFrame, str, path-like or list
        The clips: a table of `sklearn_echo.datasets.parse_dcase` (its
        ``split`` column chooses training and test clips, so a table can
        move clips between them), or anything `parse_dcase` accepts (a
        dataset folder, file names).
    estimator : estimator, default=None
        Anomaly detector taking the clip paths as ``X`` (a pipeline ending
        in an outlier detector with ``anomaly_score``, ``score_samples`` or
        ``decision_function``). It is cloned for every section. None:
        `make_dcase_detector` (ECHO's default model, ``k = 1``).
    domain_banks : bool, default=False
        Fit with ``domain=`` (source and target memory banks; the test score
        is the minimum over the banks). Every training clip must have a
        domain.
    protocol : {"2022", "2021"}, default="2022"
        The evaluation rules of the figures (`section_figures`): those of
        the DCASE 2022-2024 evaluators, or of the 2021 evaluator (AUC and
        pAUC per domain on that domain's clips). `DCASEResult.write_score_files`
        writes the file layout of the same year.
    max_fpr : float, default=0.1
        Upper false-positive rate of the pAUC.
    machines : list of str, default=None
        Evaluate only these machine types.
    verbose : bool, default=False
        Print one line per section as it is done.

    Returns
    -------
    result : DCASEResult
        Scores, per-section, per-machine and overall figures. Figures that
        are undefined (a section whose test clips hold no anomaly, a domain
        without normal test clips) are NaN, explained in the ``notes``
        column, left out of the means, and announced with a
        ``UserWarning``.

    Raises
    ------
    ValueError
        If a clip has no split, a section has test clips but no training
        clip, or no test clip, or ``domain_banks=True`` and a training clip
        has no domain.

    Examples
    --------
    >>> from sklearn_echo.datasets import parse_dcase
    >>> from sklearn_echo.evaluation import evaluate_dcase, make_dcase_detector
    >>> clips = parse_dcase("../shared/data/dcase2023_valve").iloc[::10].copy()
    >>> train = (clips["label"] == "normal") & (clips["index"] % 20 < 10)
    >>> clips.loc[train, "split"] = "train"
    >>> detector = make_dcase_detector("../shared/fixtures/echo_reference/tiny_echo.safetensors")
    >>> result = evaluate_dcase(clips, detector)
    >>> result.sections[["machine", "section", "n_train", "n_test"]]
               machine section  n_train  n_test
    0  dcase2023_valve      00        6      14
    >>> 0 <= result.official_score <= 1
    True
    """
    import pandas as pd
    from sklearn.base import clone

    table = _as_table(clips)
    if machines is not None:
        table = table[table["machine"].isin(list(machines))]
    unsplit = table[~table["split"].isin(["train", "test"])]
    if len(unsplit):
        raise ValueError(
            f"{len(unsplit)} clips have no split (neither their name nor their folder says "
            f"train or test), e.g. {unsplit['path'].iloc[0]!r}: set the 'split' column of the "
            "table or use the official layout <root>/<machine>/{train,test}/."
        )
    if estimator is None:
        estimator = make_dcase_detector()
    frames, n_train = [], {}
    groups = table.groupby(["machine", "section"], sort=True, dropna=False)
    if len(groups) == 0:
        raise ValueError("clips holds no clip to evaluate.")
    for (machine, section), part in groups:
        where = f"machine {machine!r} section {section!r}"
        train = part[(part["split"] == "train") & (part["label"] != "anomaly")]
        test = part[part["split"] == "test"].sort_values("name", kind="stable")
        if len(test) == 0:
            raise ValueError(f"{where} has no test clip (split == 'test') to score.")
        if len(train) == 0:
            raise ValueError(
                f"{where} has {len(test)} test clips but no training clip (split == 'train', "
                "normal) to fit the detector on."
            )
        domain = None
        if domain_banks:
            bad = train[~train["domain"].isin(["source", "target"])]
            if len(bad):
                raise ValueError(
                    f"domain_banks=True needs the domain of every training clip; {where} has "
                    f"{len(bad)} without, e.g. {bad['name'].iloc[0]!r}."
                )
            domain = train["domain"].to_numpy(dtype=object)
        model = _fit(clone(estimator), train["path"].tolist(), domain)
        scores, decision = _score(model, test["path"].tolist())
        out = test[[c for c in SCORE_COLUMNS if c in test.columns]].copy()
        out["anomaly_score"] = scores
        out["decision"] = decision if decision is not None else np.nan
        frames.append(out)
        n_train[(machine, section)] = len(train)
        if verbose:
            print(f"{machine} section {section}: {len(train)} training clips, {len(test)} test clips")
    scores = pd.concat(frames, ignore_index=True)[list(SCORE_COLUMNS)]
    sections = section_figures(scores, protocol=protocol, max_fpr=max_fpr)
    sections.insert(2, "n_train", [n_train[(m, s)] for m, s in zip(sections["machine"], sections["section"])])
    for m, s, note in zip(sections["machine"], sections["section"], sections["notes"]):
        if note:
            warnings.warn(f"DCASE machine {m!r} section {s!r}: {note} (NaN).", UserWarning, stacklevel=2)
    return DCASEResult(
        scores=scores, sections=sections, machines=machine_figures(sections),
        summary=overall_figures(sections), protocol=protocol,
    )
