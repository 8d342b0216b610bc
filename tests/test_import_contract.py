"""The import contract (issue 14 item 5): the layers import one way, and no module imports itself back.

The graph is read from the source with `ast`, every import counted wherever it is written: at the top,
inside a function (lazy imports), or under `if TYPE_CHECKING:`. A lazy import still ties the modules
together; it only hides the tie from whoever reads the top of the file.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "avma_tui"

#: Edges that break a rule only because of another engineer's pending work, with the issue that removes them.
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    """Module → every module it imports (avma_tui modules by full name, others by top-level package)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:  # `from pkg import module` imports the submodule
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if submodule in modules else base)
        graph[name] = {t if t.startswith(PACKAGE + ".") or t == PACKAGE else t.split(".")[0] for t in targets}
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; the graph is a few hundred edges, recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(graph: Mapping[str, set[str]], sources: str, forbidden: Iterable[str]) -> list[str]:
    forbidden = tuple(forbidden)
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _in(module, sources)
        for target in targets
        if any(_in(target, f) for f in forbidden) and (module, target) not in KNOWN_EXCEPTIONS
    )


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_cycle_finder_finds_cycles_and_only_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_graph_sees_lazy_and_type_checking_imports(graph: dict[str, set[str]]) -> None:
    # cli.main imports the TUI inside a function; the services' session imports the audit log for types only
    assert "avma_tui.ui.app" in graph["avma_tui.cli.main"]
    assert "avma_tui.services.audit" in graph["avma_tui.services.session"]
    assert "textual" in graph["avma_tui.ui.app"]


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_core_is_pure_domain(graph: dict[str, set[str]]) -> None:
    forbidden = ["textual", "avma_tui.hyperv", "avma_tui.services", "avma_tui.ui", "avma_tui.cli"]
    assert violations(graph, "avma_tui.core", forbidden) == []


def test_the_simulator_knows_no_front_end(graph: dict[str, set[str]]) -> None:
    assert violations(graph, "avma_tui.sim", ["avma_tui.cli", "avma_tui.ui"]) == []


def test_services_run_without_textual(graph: dict[str, set[str]]) -> None:
    assert violations(graph, "avma_tui.services", ["textual"]) == []


def test_only_the_entry_point_imports_the_cli(graph: dict[str, set[str]]) -> None:
    importers = {
        module
        for module, targets in graph.items()
        if not _in(module, "avma_tui.cli") and any(_in(t, "avma_tui.cli") for t in targets)
    }
    assert importers == {"avma_tui.__main__"}


def test_only_the_cli_opens_the_tui_app(graph: dict[str, set[str]]) -> None:
    """Screens and widgets get what they need from the app and answer with messages (ui/messages.py)."""
    importers = {module for module, targets in graph.items() if "avma_tui.ui.app" in targets}
    assert importers == {"avma_tui.cli.main"}


def test_known_exceptions_are_still_needed(graph: dict[str, set[str]]) -> None:
    """An exception whose edge is gone must be deleted, so the rule is whole again."""
    assert [edge for edge in KNOWN_EXCEPTIONS if edge[1] not in graph.get(edge[0], set())] == []
