"""Evaluation protocols: the DCASE Task 2 (SIREN) anomaly-detection protocol.

`evaluate_dcase` fits a detector per machine and section, scores the test
clips and computes the official DCASE figures; `write_score_files` and
`read_score_files` handle the submission files the official evaluators
read; `read_ground_truth` and `attach_ground_truth` label evaluation clips; `section_figures`, `machine_figures` and `overall_figures` compute the
figures of any score table.
"""

from .dcase import DCASEResult, evaluate_dcase, make_dcase_detector
from .figures import SUMMARY_FIGURES, machine_figures, overall_figures, section_figures
from .ground_truth import attach_ground_truth, read_ground_truth
from .score_files import read_score_files, score_file_name, write_score_files

__all__ = [
    "SUMMARY_FIGURES",
    "DCASEResult",
    "attach_ground_truth",
    "evaluate_dcase",
    "machine_figures",
    "make_dcase_detector",
    "overall_figures",
    "read_ground_truth",
    "read_score_files",
    "score_file_name",
    "section_figures",
    "write_score_files",
]
