"""Errors a user can act on: every one names the problem and the fix."""

from __future__ import annotations

import argparse
from typing import NoReturn


class StageError(Exception):
    """Bad input or configuration. The stage prints one line and exits 2."""

    exit_code = 2

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem.rstrip(". ")
        self.fix = fix.rstrip(". ")

    def one_line(self, stage: str) -> str:
        text = f"ERROR [{stage}] {self.problem} | fix: {self.fix}"
        return " ".join(text.split())  # always a single line, whatever the messages held


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM so context managers remove partial outputs."""


class StageArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as a StageError (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise StageError(f"bad command line: {message}", f"see `{self.prog} --help`")
