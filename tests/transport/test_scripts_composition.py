"""Shared fragments (scripts/lib/*.ps1): every include resolves, and each composed script stands on its own.

test_scripts.py checks the composed text of every operation (parse, safety rules, JSON fields); these tests
check the composition itself and the PowerShell scoping it relies on.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_powershell

from avma_tui.hyperv import operations as scripts
from avma_tui.hyperv.operations import OPERATIONS, script_text

#: The operations that run code in a guest (PowerShell Direct): those that take the guest credential.
GUEST_OPS = [name for name, op in OPERATIONS.items() if "Credential" in op.params]

SCRIPTS_DIR = Path(scripts.__file__).with_name("scripts")
FRAGMENTS = sorted(SCRIPTS_DIR.glob("lib/*.ps1"))
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
INCLUDE = re.compile(r"^[ \t]*#include\b.*$", re.MULTILINE)


def _raw(op: str) -> str:
    return (SCRIPTS_DIR / f"{op}.ps1").read_text(encoding="utf-8")


def _includes(op: str) -> list[str]:
    return [line.split(maxsplit=1)[1] for line in INCLUDE.findall(_raw(op))]


def _nodes(node: tree_sitter.Node, node_type: str) -> Iterator[tree_sitter.Node]:
    if node.type == node_type:
        yield node
    for child in node.children:
        yield from _nodes(child, node_type)


def _text(node: tree_sitter.Node | None) -> str:
    return node.text.decode("utf-8") if node is not None and node.text is not None else ""


def _name(function: tree_sitter.Node) -> str:
    return _text(next(c for c in function.children if c.type == "function_name")).lower()


def _body(function: tree_sitter.Node) -> tree_sitter.Node:
    return next(c for c in function.children if c.type == "script_block")


def _defined(node: tree_sitter.Node) -> dict[str, tree_sitter.Node]:
    return {_name(f): f for f in _nodes(node, "function_statement")}


def _called(node: tree_sitter.Node) -> set[str]:
    return {_text(n).lower() for n in _nodes(node, "command_name")}


def _root(text: str) -> tree_sitter.Node:
    return PARSER.parse(text.encode("utf-8")).root_node


#: Every function our scripts and fragments define, by lower-case name.
OURS = {name for path in [*FRAGMENTS, *SCRIPTS_DIR.glob("*.ps1")] for name in _defined(_root(path.read_text("utf-8")))}


def test_fragments_exist() -> None:
    names = {p.stem for p in FRAGMENTS}
    assert names >= {"vm_json", "single_vm", "windows_license", "guest_license", "host_license", "licensing"}


@pytest.mark.parametrize("op", OPERATIONS)
def test_every_include_resolves_and_none_is_left(op: str) -> None:
    for line in INCLUDE.findall(_raw(op)):
        indent, name = line.split("#include")
        assert (SCRIPTS_DIR / name.strip()).is_file(), name
        fragment = (SCRIPTS_DIR / name.strip()).read_text(encoding="utf-8")
        assert textwrap.indent(fragment, indent) in script_text(op)
    assert not INCLUDE.search(script_text(op))


def test_every_fragment_is_included_somewhere() -> None:
    used = {name for op in OPERATIONS for name in _includes(op)}
    assert used == {f"lib/{p.name}" for p in FRAGMENTS}


@pytest.mark.parametrize("op", [op for op in OPERATIONS if _includes(op)])
def test_includes_follow_the_preamble(op: str) -> None:
    """Right after $ErrorActionPreference = 'Stop' (of the script, or of a guest script block), before other code."""
    lines = [line.strip() for line in _raw(op).splitlines() if line.strip()]
    assert lines[lines.index("#>") + 1].startswith("param(")
    for before, line in itertools.pairwise(lines):
        if line.startswith("#include"):
            assert before == "$ErrorActionPreference = 'Stop'" or before.startswith("#include"), line


def test_the_guest_code_includes_no_write_helper_it_does_not_use() -> None:
    """guest_licenses only reads: its text (shown in dry runs) carries no licensing change."""
    assert "Invoke-CimMethod" not in script_text("guest_licenses")
    assert "Invoke-CimMethod" in script_text("install_key")


@pytest.mark.parametrize("path", FRAGMENTS, ids=lambda p: p.name)
def test_fragment_holds_function_definitions_only(path: Path) -> None:
    root = _root(path.read_text(encoding="utf-8"))
    top = [c for c in root.children if c.type != "comment"]
    assert [c.type for c in top] == ["statement_list"]
    assert {c.type for c in top[0].children} == {"function_statement"}
    assert not INCLUDE.search(path.read_text(encoding="utf-8")), "fragments include nothing themselves"


@pytest.mark.parametrize("op", OPERATIONS)
def test_composed_script_defines_every_function_it_calls(op: str) -> None:
    """A missing include (single_vm without vm_json, say) would call a function the host never saw."""
    root = _root(script_text(op))
    assert (_called(root) & OURS) - set(_defined(root)) == set()


def _sent_blocks(root: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    """What each Invoke-Command sends: its -ScriptBlock, written in place or assigned to a variable before."""
    assigned = {}
    for assignment in _nodes(root, "assignment_expression"):
        blocks = list(_nodes(assignment.children[-1], "script_block_expression"))
        if blocks:
            assigned[_text(assignment.children[0]).lower()] = blocks[0]
    for command in _nodes(root, "command"):
        if _text(command.children[0]).lower() == "invoke-command":
            elements = [c for c in command.children[1].children if c.type != "command_argument_sep"]
            value = elements[[_text(e).lower() for e in elements].index("-scriptblock") + 1]
            literal = list(_nodes(value, "script_block_expression"))
            yield literal[0] if literal else assigned[_text(value).lower()]


@pytest.mark.parametrize("op", GUEST_OPS)
def test_guest_code_is_self_contained(op: str) -> None:
    """Code sent into a guest cannot see host-side functions: all it calls of ours is defined inside it."""
    blocks = list(_sent_blocks(_root(script_text(op))))
    assert blocks, "an Invoke-Command"
    for block in blocks:
        assert (_called(block) & OURS) - set(_defined(block)) == set(), _text(block)[:60]


@pytest.mark.parametrize(
    "sent", ["-ScriptBlock { Get-Doc }", "-ScriptBlock $Code", "-ArgumentList 1 -ScriptBlock $code"]
)
def test_the_self_contained_check_sees_a_host_side_helper(sent: str) -> None:
    root = _root(f"function Get-Doc {{ 1 }}\n$code = {{ Get-Doc }}\nInvoke-Command -VMId $Id {sent}\n")
    (block,) = _sent_blocks(root)
    assert _called(block) - set(_defined(block)) == {"get-doc"}


@pytest.fixture
def scripts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scripts directory of the test's own, with the composed-text cache empty before and after."""
    (tmp_path / "lib").mkdir()
    monkeypatch.setattr(scripts, "_SCRIPTS_DIR", tmp_path)
    script_text.cache_clear()
    yield tmp_path
    script_text.cache_clear()


def test_include_is_replaced_by_the_fragment(scripts_dir: Path) -> None:
    (scripts_dir / "lib" / "f.ps1").write_text("function F { 1 }\n", encoding="utf-8")
    (scripts_dir / "vm.ps1").write_text("param()\n#include lib/f.ps1\nF\n", encoding="utf-8")
    assert script_text("vm") == "param()\nfunction F { 1 }\nF\n"


@pytest.mark.parametrize(
    "line",
    ["#include lib/missing.ps1", "#include lib/../vm.ps1", "#include f.ps1", "  #include   lib/F.ps1", "#include"],
)
def test_a_bad_include_fails_at_load(scripts_dir: Path, line: str) -> None:
    (scripts_dir / "lib" / "f.ps1").write_text("function F { 1 }\n", encoding="utf-8")
    (scripts_dir / "vm.ps1").write_text(f"param()\n{line}\nF\n", encoding="utf-8")
    with pytest.raises(ValueError, match="names no fragment"):
        script_text("vm")


def test_a_fragment_may_not_include(scripts_dir: Path) -> None:
    (scripts_dir / "lib" / "f.ps1").write_text("function F { 1 }\n", encoding="utf-8")
    (scripts_dir / "lib" / "g.ps1").write_text("#include lib/f.ps1\nfunction G { F }\n", encoding="utf-8")
    (scripts_dir / "vm.ps1").write_text("param()\n#include lib/g.ps1\nG\n", encoding="utf-8")
    with pytest.raises(ValueError, match="includes nothing"):
        script_text("vm")
