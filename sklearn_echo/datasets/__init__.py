"""Dataset conventions read from file names (no audio is opened here).

`parse_dcase` turns DCASE Task 2 folders or file names (2020 to 2025) into
a table of machine, section, domain, split and label; `load_demo` returns the
demo clips shipped with the package (a small fan anomaly-detection set).
"""

from .dcase import (
    DCASE_COLUMNS,
    DCASE_CONVENTIONS,
    DCASENameError,
    parse_dcase,
    parse_dcase_name,
)
from .demo import load_demo

__all__ = ["DCASE_COLUMNS", "DCASE_CONVENTIONS", "DCASENameError", "load_demo", "parse_dcase", "parse_dcase_name"]
