"""The official DCASE figures of a table of anomaly scores: per section, per machine, overall.

The formulas are those of the official DCASE 2022, 2023 and 2024 Task 2
evaluators (``dcase2023_task2_evaluator.py``, ``dcase2024_task2_evaluator.py``,
the default ``protocol="2022"``):

* per machine and section: ``AUC (all)``, ``AUC (source)`` and
  ``AUC (target)`` (the normal clips of that domain against all the
  section's anomalies), ``pAUC`` (``roc_auc_score(max_fpr=0.1)`` on all
  clips) and precision, recall and F1 of the decisions of each domain
  (`sklearn_echo.metrics.dcase_section_figures`);
* per machine: arithmetic and harmonic means over its sections (the AUC
  means over the source and target AUCs together);
* overall: the **official score**, the harmonic mean of every source AUC,
  target AUC and pAUC of every machine and section, each floored at
  machine epsilon (`sklearn_echo.metrics.dcase_evaluator_hmean`).

Undefined figures (a section without anomalies, a domain without normal
clips) are NaN, left out of the means, and listed in the ``notes``.
Sections without domains (DCASE 2020) enter the means with their
``AUC (all)`` in place of the two domain AUCs. With ``protocol="2021"``
(the DCASE 2021 evaluator) each domain is a test set of its own, with its
own AUC and pAUC, and the official score is the harmonic mean of all of
them.
"""

# License: MIT

from __future__ import annotations

import numpy as np

from ..metrics import (
    DCASE_MAX_FPR,
    DCASE_SECTION_FIGURES,
    dcase_evaluator_hmean,
    dcase_section_figures,
)

__all__ = ["SUMMARY_FIGURES", "machine_figures", "overall_figures", "section_figures"]

#: Columns of the per-machine table and keys of the overall summary.
SUMMARY_FIGURES = (
    "official_score",
    "amean_auc", "hmean_auc", "hmean_auc_source", "hmean_auc_target",
    "amean_pauc", "hmean_pauc",
    "hmean_precision", "hmean_recall", "hmean_f1",
)


def _labels(label):
    y = []
    for v in label:
        if v == "anomaly" or v == 1:
            y.append(1)
        elif v == "normal" or v == 0:
            y.append(0)
        else:
            y.append(-1)
    return np.asarray(y, dtype=int)


def section_figures(scores, *, protocol="2022", max_fpr=DCASE_MAX_FPR):
    """Figures of every machine and section of a score table.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per test clip: ``machine``, ``section``, ``label``
        (``"normal"``/``"anomaly"`` or 0/1; None for unlabelled clips, which
        are left out), ``anomaly_score`` and optionally ``domain`` and
        ``decision`` (`read_score_files` and `DCASEResult.scores` give
        such tables).
    protocol : {"2022", "2021"}, default="2022"
        The evaluation rules (`sklearn_echo.metrics.dcase_section_figures`):
        ``"2022"``, those of the DCASE 2022-2024 evaluators (domain AUCs
        against all the section's anomalies, one pAUC per section);
        ``"2021"``, those of the 2021 evaluator (AUC and pAUC per domain on
        that domain's clips; the means then take ``pauc_source`` and
        ``pauc_target`` in place of ``pauc``).
    max_fpr : float, default=0.1
        Upper false-positive rate of the pAUC.

    Returns
    -------
    table : pandas.DataFrame
        One row per (machine, section), sorted: ``machine``, ``section``,
        the figures `sklearn_echo.metrics.DCASE_SECTION_FIGURES`,
        ``protocol``, ``has_domains``, the clip counts ``n_test``, ``n_normal_source``,
        ``n_normal_target``, ``n_anomaly_source``, ``n_anomaly_target``,
        ``n_unlabelled``, and ``notes`` (``"; "``-joined reasons for NaN
        figures, ``""`` when all are defined).

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_echo.evaluation import section_figures
    >>> scores = pd.DataFrame({"machine": "valve", "section": "00",
    ...     "domain": ["source"] * 3 + ["target"] * 3,
    ...     "label": ["normal", "normal", "anomaly", "normal", "normal", "anomaly"],
    ...     "anomaly_score": [0.1, 0.2, 0.9, 0.5, 0.7, 0.6]})
    >>> section_figures(scores)[["auc_source", "auc_target", "pauc"]].round(4)
       auc_source  auc_target    pauc
    0         1.0        0.75  0.7368
    """
    import pandas as pd

    has_domain_col = "domain" in scores.columns
    rows = []
    for (machine, section), part in scores.groupby(["machine", "section"], sort=True):
        y_all = _labels(part["label"])
        known = y_all >= 0
        y = y_all[known]
        s = part["anomaly_score"].to_numpy(dtype=float)[known]
        domain = part["domain"].to_numpy(dtype=object)[known] if has_domain_col else None
        has_domains = domain is not None and any(d in ("source", "target") for d in domain)
        decision = None
        if "decision" in part.columns and part["decision"].notna().all():
            decision = part["decision"].to_numpy()[known].astype(int)
        fig = dcase_section_figures(
            y, s, domain=domain if has_domains else None, decision=decision,
            domains=("source", "target") if has_domains else (), protocol=protocol,
            max_fpr=max_fpr,
        )
        row = {"machine": machine, "section": section}
        row.update({k: fig[k] for k in DCASE_SECTION_FIGURES})
        row["protocol"] = protocol
        row["has_domains"] = has_domains
        row["n_test"] = int(known.sum())
        for d in ("source", "target"):
            mine = np.array([v == d for v in domain]) if has_domains else np.zeros(y.shape, bool)
            row[f"n_normal_{d}"] = int((mine & (y == 0)).sum())
            row[f"n_anomaly_{d}"] = int((mine & (y == 1)).sum())
        row["n_unlabelled"] = int((~known).sum())
        notes = fig["notes"] if has_domains else [n for n in fig["notes"] if not n.startswith("no domains")]
        if row["n_unlabelled"]:
            notes = [*notes, f"{row['n_unlabelled']} unlabelled clips left out"]
        row["notes"] = "; ".join(notes)
        rows.append(row)
    columns = ["machine", "section", *DCASE_SECTION_FIGURES, "protocol", "has_domains", "n_test",
               "n_normal_source", "n_anomaly_source", "n_normal_target", "n_anomaly_target",
               "n_unlabelled", "notes"]
    return pd.DataFrame(rows, columns=columns)


def _amean(values):
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _summary(table):
    """The evaluator's means over the sections of ``table``."""
    aucs, paucs = [], []
    protocols = table["protocol"] if "protocol" in table.columns else ["2022"] * len(table)
    for (_, row), protocol in zip(table.iterrows(), protocols):
        if protocol == "2021":
            aucs += [row["auc_source"], row["auc_target"]]
            paucs += [row["pauc_source"], row["pauc_target"]]
            continue
        aucs += [row["auc_source"], row["auc_target"]] if row["has_domains"] else [row["auc_all"]]
        paucs.append(row["pauc"])
    aucs = np.asarray(aucs, dtype=float)
    paucs = np.asarray(paucs, dtype=float)

    def both(name):
        return np.concatenate([table[f"{name}_source"].to_numpy(dtype=float),
                               table[f"{name}_target"].to_numpy(dtype=float)])

    return {
        "official_score": dcase_evaluator_hmean(np.concatenate([aucs, paucs])),
        "amean_auc": _amean(aucs),
        "hmean_auc": dcase_evaluator_hmean(aucs),
        "hmean_auc_source": dcase_evaluator_hmean(table["auc_source"].to_numpy(dtype=float)),
        "hmean_auc_target": dcase_evaluator_hmean(table["auc_target"].to_numpy(dtype=float)),
        "amean_pauc": _amean(paucs),
        "hmean_pauc": dcase_evaluator_hmean(paucs),
        "hmean_precision": dcase_evaluator_hmean(both("precision")),
        "hmean_recall": dcase_evaluator_hmean(both("recall")),
        "hmean_f1": dcase_evaluator_hmean(both("f1")),
    }


def machine_figures(sections):
    """Means over the sections of each machine, as in the evaluator's result table.

    Parameters
    ----------
    sections : pandas.DataFrame
        The table of `section_figures`.

    Returns
    -------
    table : pandas.DataFrame
        One row per machine: ``machine``, ``n_sections`` and
        `SUMMARY_FIGURES`: ``official_score`` (harmonic mean of the
        machine's source AUCs, target AUCs and pAUCs), ``amean_auc`` /
        ``hmean_auc`` (over source and target AUCs together: the
        evaluator's "arithmetic mean" / "harmonic mean" rows),
        ``hmean_auc_source``, ``hmean_auc_target`` ("source/target harmonic
        mean"), ``amean_pauc``, ``hmean_pauc`` and the harmonic means of
        precision, recall and F1 over both domains.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_echo.evaluation import machine_figures, section_figures
    >>> scores = pd.DataFrame({"machine": "valve", "section": ["00"] * 4 + ["01"] * 4,
    ...     "domain": ["source", "source", "target", "target"] * 2,
    ...     "label": ["normal", "anomaly"] * 4,
    ...     "anomaly_score": [0.1, 0.9, 0.2, 0.8, 0.5, 0.4, 0.3, 0.6]})
    >>> machine_figures(section_figures(scores))[["machine", "amean_auc", "hmean_pauc"]]
      machine  amean_auc  hmean_pauc
    0   valve      0.875    0.848485
    """
    import pandas as pd

    rows = []
    for machine, part in sections.groupby("machine", sort=True):
        rows.append({"machine": machine, "n_sections": len(part), **_summary(part)})
    return pd.DataFrame(rows, columns=["machine", "n_sections", *SUMMARY_FIGURES])


def overall_figures(sections):
    """Means over every machine and section; ``official_score`` is the DCASE ranking figure.

    Parameters
    ----------
    sections : pandas.DataFrame
        The table of `section_figures`.

    Returns
    -------
    summary : dict
        `SUMMARY_FIGURES` over all machines and sections (see
        `machine_figures`) and ``notes``: the undefined figures left out.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_echo.evaluation import overall_figures, section_figures
    >>> scores = pd.DataFrame({"machine": "valve", "section": "00",
    ...     "domain": ["source"] * 3 + ["target"] * 3,
    ...     "label": ["normal", "normal", "anomaly", "normal", "normal", "anomaly"],
    ...     "anomaly_score": [0.1, 0.2, 0.9, 0.5, 0.7, 0.6]})
    >>> round(overall_figures(section_figures(scores))["official_score"], 4)
    0.8129
    """
    out = _summary(sections)
    out["notes"] = [
        f"{m} section {s}: {n}" for m, s, n in zip(sections["machine"], sections["section"], sections["notes"]) if n
    ]
    return out
