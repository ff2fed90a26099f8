"""Shared building blocks of the census pipeline stages (see docs/contract.md)."""

__version__ = "0.1.0"
