"""Every relative link in the repository's Markdown names a file or folder that exists.

Docs drift when a file moves (the grids moved from trainer/grids.yaml into models/*.yaml and two
READMEs kept linking the old file). Web links and in-page anchors are not checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# [text](target) and [text](target "title"); images too. Reference-style links are not used here.
LINK = re.compile(r"\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")


def _markdown_files() -> list[Path]:
    """The repository's own Markdown: not in hidden folders (.venv, .demo, .git) or build output."""
    return sorted(
        path
        for path in ROOT.rglob("*.md")
        if not any(
            part.startswith(".") or part.endswith(".egg-info") for part in path.relative_to(ROOT).parts
        )
    )


def _relative_targets(text: str) -> list[str]:
    # Code blocks and inline code hold examples, not links.
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    out = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # http(s):, mailto:, ... and anchors in the same page
        out.append(target.split("#", 1)[0])
    return out


@pytest.mark.parametrize("doc", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = [t for t in _relative_targets(doc.read_text(encoding="utf-8")) if not (doc.parent / t).exists()]
    assert not broken, f"{doc.relative_to(ROOT)} links to missing files: {broken}"


def test_the_checker_finds_a_broken_link(tmp_path: Path) -> None:
    text = "see [grids](src/trainer/grids.yaml), [web](https://x.org/a), [here](#top), `[no](code.md)`"
    assert _relative_targets(text) == ["src/trainer/grids.yaml"]
