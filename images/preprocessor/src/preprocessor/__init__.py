"""Census pipeline stage 2: the preprocessor (`python -m preprocessor --help`)."""

from pipeline_common import __version__

__all__ = ["__version__"]
