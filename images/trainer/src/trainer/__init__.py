"""Census pipeline trainer: `python -m trainer fit|promote` (see README.md)."""

__version__ = "0.1.0"
