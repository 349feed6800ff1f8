"""Dataset conventions read from file names (no audio is opened here).

`parse_dcase` turns DCASE Task 2 folders or file names (2020 to 2025) into
a table of machine, section, domain, split and label.
"""

from .dcase import (
    DCASE_COLUMNS,
    DCASE_CONVENTIONS,
    DCASENameError,
    parse_dcase,
    parse_dcase_name,
)

__all__ = ["DCASE_COLUMNS", "DCASE_CONVENTIONS", "DCASENameError", "parse_dcase", "parse_dcase_name"]
