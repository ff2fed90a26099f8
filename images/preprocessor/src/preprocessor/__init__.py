"""Census pipeline stage 2: the preprocessor (`python -m preprocessor --help`)."""

__version__ = "0.1.0"
