"""The operation scripts: they parse, follow the safety rules, and produce every field host.py reads."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_powershell

import avma_tui
from avma_tui.hyperv import host as host_module
from avma_tui.hyperv.operations import OPERATIONS, script_text
from avma_tui.hyperv.transport import Credential, RemoteError
from avma_tui.paths import assets_dir
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario

#: The operations that run code in a guest (PowerShell Direct): those that take the guest credential.
GUEST_OPS = [name for name, op in OPERATIONS.items() if "Credential" in op.params]

PACKAGE = Path(avma_tui.__file__).parent
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def _broken_nodes(text: str) -> list[str]:
    found: list[str] = []

    def walk(node: tree_sitter.Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            found.append(f"{node.type} at line {node.start_point[0] + 1}")
        for child in node.children:
            walk(child)

    walk(PARSER.parse(text.encode("utf-8")).root_node)
    return found


def test_the_parser_catches_broken_powershell() -> None:
    """Guards the parse test below: tree-sitter must flag an unclosed block."""
    assert _broken_nodes("param([string]$A)\nif ($A) { Get-VM -Id $A\n")


@pytest.mark.parametrize("op", OPERATIONS)
def test_script_parses(op: str) -> None:
    assert _broken_nodes(script_text(op)) == []


@pytest.mark.parametrize("op", OPERATIONS)
def test_script_follows_the_safety_rules(op: str) -> None:
    text = script_text(op)
    assert re.search(r"^param\(", text, re.MULTILINE), "a param() block"
    assert "$ErrorActionPreference = 'Stop'" in text
    assert "Invoke-Expression" not in text and not re.search(r"\biex\b", text, re.IGNORECASE)
    assert "[scriptblock]::Create" not in text.replace(" ", "")
    assert not re.search(r"-(VM)?Name\s+\$", text), "VMs are resolved by Id, never by a wildcard-capable name"
    assert text.count("ConvertTo-Json -Depth 6 -Compress") == 1, "exactly one JSON document out"


def test_unknown_operation_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        script_text("Remove-VM")


def test_every_documented_operation_has_a_script() -> None:
    doc = (PACKAGE.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## `(\w+)`", doc, re.MULTILINE)) | set(
        re.findall(r"^\| `(\w+)` \|", doc, re.MULTILINE)
    )
    assert documented == set(OPERATIONS)


def test_kvp_service_is_matched_by_guid() -> None:
    for op in ("inventory", "vm", "enable_kvp", "start_vm"):
        text = script_text(op)
        assert "2A34B1C2-FD73-4043-8A5B-DD2159BC743F" in text
        assert "Key-Value Pair Exchange'" not in text and '"Key-Value Pair Exchange"' not in text


@pytest.mark.parametrize("op", GUEST_OPS)
def test_guest_code_gets_data_through_parameters(op: str) -> None:
    text = script_text(op)
    assert "-Credential $Credential" in text
    assert "-VMId" in text, "PowerShell Direct by VM Id"
    if op in ("install_key", "set_edition"):
        assert "-ArgumentList" in text


# --- no script text is ever built by string formatting ----------------------------------------------


def _python_sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _is_script_text_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "script_text"


#: Variables and param blocks mark script text; cmdlet names alone also occur in messages for people.
_POWERSHELL = re.compile(r"\$[A-Za-z_]\w*|param\(")
#: The modules that talk to a host. Elsewhere (remedies, diagnosis) PowerShell is only shown to people.
_TRANSPORT_DIRS = ("hyperv", "sim")


def _looks_like_powershell(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(_POWERSHELL.search(node.value))


def _formatting_offences(tree: ast.Module, talks_to_host: bool = True) -> list[str]:
    """Script text combined with data anywhere; PowerShell-looking text formatted in host-facing modules."""
    offences = []
    for node in ast.walk(tree):
        operands: list[ast.AST] = []
        templates: list[ast.AST] = []
        if isinstance(node, ast.JoinedStr):
            operands = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
            templates = [v for v in node.values if isinstance(v, ast.Constant)]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
            operands = [node.left, node.right]
            templates = [node.left] if isinstance(node.op, ast.Mod) else []
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("format", "replace", "join"):
                operands = [node.func.value, *node.args]
                templates = [node.func.value] if node.func.attr == "format" else []
            if node.func.attr == "add_script" and not (len(node.args) == 1 and _is_script_text_call(node.args[0])):
                offences.append(f"line {node.lineno}: add_script() of something other than script_text(op)")
        if talks_to_host and any(_looks_like_powershell(t) for t in templates):
            offences.append(f"line {node.lineno}: PowerShell-looking text built by formatting")
        offences += [f"line {node.lineno}: script text combined with data" for o in operands if _is_script_text_call(o)]
    return offences


def test_the_formatting_check_catches_spliced_scripts() -> None:
    spliced = ast.parse('ps.add_script(script_text("vm") + name)\ntext = f"Get-VM -Id $id {vm_id}"\n')
    assert len(_formatting_offences(spliced)) == 3


def test_no_python_source_builds_script_text() -> None:
    offences = [
        f"{path.relative_to(PACKAGE)} {offence}"
        for path, tree in _python_sources()
        for offence in _formatting_offences(tree, path.relative_to(PACKAGE).parts[0] in _TRANSPORT_DIRS)
    ]
    assert offences == []


# --- every field host.py reads is produced by the script and by the simulated engine -----------------


def _keys_read_by(function_name: str) -> set[str]:
    """String keys a parse function reads with .get("key") or _member(doc, "key")."""
    tree = ast.parse(Path(host_module.__file__).read_text(encoding="utf-8"))
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function_name)
    keys = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and (
            getattr(node.func, "attr", "") == "get" or getattr(node.func, "id", "") == "_member"
        ):
            keys |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return keys


HOST = _keys_read_by("parse_host")
VM = _keys_read_by("parse_vm") | _keys_read_by("parse_kvp")
LICENSE = _keys_read_by("parse_license")
INSIDE_OS = _keys_read_by("parse_inside_os")  # the guest's Win32_OperatingSystem, read with its license
#: Read only from captures made with earlier inventory scripts, which carried each node's facts
#: (hyperv/host.py parse_cluster) and each event decoded by the script (decode_event); today's script and
#: engine give a node's name and state only, and each event's raw data.
LEGACY_CAPTURE_KEYS = {"reachable", "vm_name", "vm_id", "notification", "hresult"}
INVENTORY = (
    _keys_read_by("parse_inventory") | HOST | VM | _keys_read_by("parse_cluster") | _keys_read_by("decode_event")
) - LEGACY_CAPTURE_KEYS
EXPECTED: dict[str, set[str]] = {
    "inventory": INVENTORY,
    "vm": VM,
    "enable_kvp": VM | {"vm"},
    "start_vm": VM | {"vm"},
    "guest_licenses": _keys_read_by("parse_licenses") | LICENSE | INSIDE_OS,
    "install_key": LICENSE | {"license"},
    "activate_guest": LICENSE | {"license"},
    "activate_host": HOST | {"host"},
}


def test_key_extraction_sees_the_parsers() -> None:
    assert {"partial_product_key", "hyperv", "virtual"} <= HOST
    assert {"avma_host", "avma_last_activation", "license_status_reason"} <= LICENSE
    assert {"caption", "build_number", "sku", "product_type"} <= INSIDE_OS
    assert "os" in EXPECTED["guest_licenses"]
    assert {"state", "nodes", "data", "value", "events", "intrinsic", "status"} <= INVENTORY


@pytest.mark.parametrize("op", sorted(EXPECTED))
def test_script_produces_every_field_the_facade_reads(op: str) -> None:
    text = script_text(op)
    missing = {key for key in EXPECTED[op] if not re.search(rf"(?<![$\w.]){key}\s+=", text)}
    assert missing == set()


def _all_keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _all_keys(v)}
    return set()


def test_engine_produces_every_field_the_facade_reads() -> None:
    produced: dict[str, set[str]] = {op: set() for op in EXPECTED}
    for path in sorted((assets_dir() / "scenarios").glob("*.toml")):
        engine = SimHost(load_scenario(path))
        inventory = engine.run("inventory", {})
        produced["inventory"] |= _all_keys(inventory)
        credential = engine.guest_credentials or Credential("nobody", "x")
        ids = [vm["id"] for vm in inventory["vms"]]
        attempts: list[tuple[str, dict[str, object]]] = [("guest_licenses", {"VmIds": ids, "Credential": credential})]
        for vm_id in ids:
            attempts += [
                ("vm", {"VmId": vm_id}),
                ("enable_kvp", {"VmId": vm_id}),
                ("start_vm", {"VmId": vm_id}),
                ("activate_guest", {"VmId": vm_id, "Credential": credential}),
            ]
        for op, params in attempts:
            try:
                produced[op] |= _all_keys(engine.run(op, params))
            except RemoteError:
                continue
    for op, expected in EXPECTED.items():
        if op in ("install_key", "activate_host"):
            continue  # same LICENSE / HOST shapes, covered through activate_guest and inventory
        assert expected - produced[op] == set(), op


# --- errors as records (issue 11) ----------------------------------------------------------------------


def test_the_error_record_carries_every_field_the_facade_reads() -> None:
    errors = (PACKAGE / "hyperv" / "scripts" / "lib" / "errors.ps1").read_text(encoding="utf-8")
    read = _keys_read_by("parse_error")
    assert read == {"fqeid", "category", "exception", "hresult", "target", "message"}
    assert {key for key in read if not re.search(rf"(?<![$\w.]){key}\s+=", errors)} == set()
    assert "ErrorData.CimInstanceProperties['error_Code']" in errors, "a CimException's HRESULT is in ErrorData"


#: Scripts that cannot fail as a whole: every part that fails is reported as null (preflight.ps1, for doctor).
_NEVER_FAIL = ("preflight",)


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op not in _NEVER_FAIL])
def test_every_script_reports_its_errors_as_records(op: str) -> None:
    text = script_text(op)
    assert "error = ConvertTo-ErrorDocument $_" in text
    assert not re.search(r"\bthrow\s+['\"(]\s*['\"]", text), "no error as bare text: New-ToolError gives it an id"
    if "-VMId" in text:  # guest code makes its records in the guest, where a CimException still has ErrorData
        guest_code = text[text.index("-ScriptBlock") if "-ScriptBlock {" in text else text.index("$guestScript = {") :]
        assert "function ConvertTo-ErrorDocument" in guest_code


# --- O(N) scripts and Hyper-V detection (issue 10 items 6 and "O(N) scripts") -----------------------------------

_LOOPS = ("foreach_statement", "for_statement", "while_statement", "do_statement")


def _pipelines_over_collections_in_loops(text: str) -> list[str]:
    """Pipelines whose input is a collection (an expression, not a command) inside the body of a loop.

    Such a pipeline walks the whole collection once per iteration: O(N²) over the VMs, tens of seconds at
    2000 VMs in Windows PowerShell 5.1 (issue 10). Loops join through hashtables keyed by the VM's Id instead.
    """
    found: list[str] = []

    def walk(node: tree_sitter.Node, in_loop: bool) -> None:
        if node.type in _LOOPS:
            in_loop = True
        if node.type == "command" and node.children and node.children[0].text == b"ForEach-Object":
            in_loop = True
        if in_loop and node.type == "pipeline_chain":
            bars = [c for c in node.children if c.type == "|"]
            if bars and node.children[0].type != "command":
                found.append(f"line {node.start_point[0] + 1}: {node.text.decode()[:60]}")
        for child in node.children:
            walk(child, in_loop)

    walk(PARSER.parse(text.encode("utf-8")).root_node, False)
    return found


def test_the_loop_check_catches_a_pipeline_over_a_collection_in_a_loop() -> None:
    quadratic = "foreach ($vm in $vms) { $s = $services | Where-Object { $_.VMId -eq $vm.Id } }"
    assert _pipelines_over_collections_in_loops(quadratic)
    assert _pipelines_over_collections_in_loops("for ($i = 0; $i -lt 3; $i++) { @($x) | Select-Object -First 1 }")
    assert not _pipelines_over_collections_in_loops("foreach ($vm in $vms) { Get-Foo | Out-Null }")
    assert not _pipelines_over_collections_in_loops("$x = $list | Select-Object -First 1")


@pytest.mark.parametrize("op", OPERATIONS)
def test_no_script_walks_a_collection_inside_a_loop(op: str) -> None:
    assert _pipelines_over_collections_in_loops(script_text(op)) == []


#: The Hyper-V module's cmdlets the scripts call; each must be module-qualified (Hyper-V\Get-VM), so VMware
#: PowerCLI's Get-VM cannot shadow it (Module Name: Hyper-V in Microsoft's cmdlet reference).
_HYPERV_CMDLETS = {b"Get-VM", b"Start-VM", b"Resume-VM", b"Stop-VM", b"Get-VMIntegrationService"}
_HYPERV_CMDLETS |= {b"Enable-VMIntegrationService", b"Disable-VMIntegrationService"}


def _unqualified_hyperv_calls(text: str) -> list[str]:
    found: list[str] = []

    def walk(node: tree_sitter.Node) -> None:
        if node.type == "command_name" and node.text in _HYPERV_CMDLETS:
            found.append(f"line {node.start_point[0] + 1}: {node.text.decode()}")
        for child in node.children:
            walk(child)

    walk(PARSER.parse(text.encode("utf-8")).root_node)
    return found


@pytest.mark.parametrize("op", OPERATIONS)
def test_hyperv_cmdlets_are_module_qualified(op: str) -> None:
    assert _unqualified_hyperv_calls("Get-VM -Id $x") == ["line 1: Get-VM"]
    assert _unqualified_hyperv_calls(script_text(op)) == []


def test_hyperv_is_detected_by_the_vmms_service_and_the_module_qualified_get_vm() -> None:
    text = script_text("inventory")
    assert "Get-Service -Name vmms" in text and "'Hyper-V\\Get-VM'" in text
    assert "$hyperV = Test-HyperV" in text
    assert "ps_version          = $PSVersionTable.PSVersion.ToString()" in text


def test_single_vm_reads_filter_the_kvp_component_on_the_host() -> None:
    text = script_text("vm")
    assert 'Filter    = "SystemName = \'" + $Vm.Id.ToString() + "\'"' in text
    assert "Property  = @('SystemName', 'GuestIntrinsicExchangeItems')" in text
