"""Every reference the project makes to its own documentation resolves inside the repository.

The contracts live in docs/ (issue 14): a link in a Markdown file, or a `docs/…` path named in code, a
script, a scenario or a test, must point at a file that exists; nothing may point at material the
repository does not ship (the first specification's spec/ and DESIGN.md, or the team's shared folder).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
_DOCS_PATH = re.compile(r"(?<![\w/.-])docs/[\w./-]*[\w]")
_FOREIGN = re.compile(r"(?<![\w/.-])(?:spec/\w+\.md|DESIGN\.md|\.\./shared/)")
_TEXT_SUFFIXES = {".md", ".py", ".toml", ".ps1", ".tcss", ".txt", ""}


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [
        REPO / name for name in out.splitlines() if (REPO / name).suffix in _TEXT_SUFFIXES and (REPO / name).is_file()
    ]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


def test_markdown_links_resolve() -> None:
    broken = []
    for path in _tracked():
        if path.suffix != ".md":
            continue
        for target in _MD_LINK.findall(_read(path)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the same page
            if not (path.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{path.relative_to(REPO)} → {target}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_docs_paths_named_anywhere_exist() -> None:
    missing = []
    for path in _tracked():
        if path.name in ("test_docs_links.py", "avma-reference.md"):  # the reference cites other repositories' docs/
            continue
        for ref in set(_DOCS_PATH.findall(_read(path))):
            if not (REPO / ref).exists():
                missing.append(f"{path.relative_to(REPO)} names {ref}")
    assert not missing, "\n".join(sorted(missing))


def test_nothing_points_outside_the_repository() -> None:
    foreign = [
        f"{path.relative_to(REPO)}: {match}"
        for path in _tracked()
        if path.name != "test_docs_links.py"
        for match in _FOREIGN.findall(_read(path))
    ]
    assert not foreign, "\n".join(foreign)
