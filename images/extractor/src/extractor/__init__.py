"""Census pipeline stage 1: the extractor (`python -m extractor --help`)."""

from pipeline_common import __version__

__all__ = ["__version__"]
