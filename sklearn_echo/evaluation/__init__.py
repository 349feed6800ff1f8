"""Evaluation protocols: the DCASE Task 2 (SIREN) anomaly-detection protocol.

`evaluate_dcase` fits a detector per machine and section, scores the test
clips and computes the official DCASE figures; `write_score_files` and
`read_score_files` handle the submission files the official evaluators
read; `section_figures`, `machine_figures` and `overall_figures` compute the
figures of any score table.
"""

from .dcase import DCASEResult, evaluate_dcase, make_dcase_detector
from .figures import SUMMARY_FIGURES, machine_figures, overall_figures, section_figures
from .score_files import read_score_files, score_file_name, write_score_files

__all__ = [
    "SUMMARY_FIGURES",
    "DCASEResult",
    "evaluate_dcase",
    "machine_figures",
    "make_dcase_detector",
    "overall_figures",
    "read_score_files",
    "score_file_name",
    "section_figures",
    "write_score_files",
]
