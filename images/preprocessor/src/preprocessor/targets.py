"""The binary targets the preprocessor can derive (no heavy imports: the CLI lists them in --help)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A binary target derived from one column; that column is then not a feature (no leak)."""

    name: str
    column: str
    positive: str


TARGETS = {
    "never_married": Target("never_married", "marital_status", "Never-married"),
    "income_over_50k": Target("income_over_50k", "income_bracket", ">50K"),
}
