"""scikit-learn estimators on ECHO, a foundation model for machine signals."""

__version__ = "0.1.0"
