"""Census pipeline trainer: `python -m trainer train|promote` (see README.md)."""

from pipeline_common import __version__

__all__ = ["__version__"]
