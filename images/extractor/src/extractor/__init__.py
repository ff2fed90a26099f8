"""Census pipeline stage 1: the extractor (`python -m extractor --help`)."""

__version__ = "0.1.0"
