"""A hostile host (issue 15 item 3): every field of the inventory and license documents, mutated to each
wrong JSON type and to hostile strings, served over the real wire (pypsrp against the loopback endpoint).

`report` must exit 0 or 1 in all three formats with output that encodes as UTF-8, no traceback, and every
other VM intact: one bad value degrades its own item and never the host's report.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from avma_tui.cli.main import main
from avma_tui.core.model import LicenseState
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential
from avma_tui.services.licenses import LicenseOptions
from avma_tui.services.report import render
from avma_tui.services.session import Session
from avma_tui.sim.engine import SimHost
from avma_tui.sim.transport import SimTransport
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.transport.transport_support import PASSWORD, USER

LONE = "DC\udfff\ud800-\udc00"  # a pair in the wrong order and a lone low one: three lone surrogates
HOSTILE_TEXT = "\x1b[2J\u009b6n\u202e[red]x"
GUEST_PASSWORD = "Passw0rd!"  # the demo's guest account
BAD_VALUES: tuple[Any, ...] = (LONE, HOSTILE_TEXT, 7, -1, 10**30, 1.5, True, None, [1, "x"], {"a": LONE})

#: (operation, path): the path of the field the mutation replaces; an int step is a list index.
FIELDS: tuple[tuple[str, tuple[str | int, ...]], ...] = (
    ("inventory", ("host",)),
    ("inventory", ("host", "name")),
    ("inventory", ("host", "domain")),
    ("inventory", ("host", "build")),
    ("inventory", ("cluster",)),
    ("inventory", ("cluster", "nodes")),
    ("inventory", ("cluster", "nodes", 0)),
    ("inventory", ("cluster", "nodes", 0, "name")),
    ("inventory", ("vms",)),
    ("inventory", ("vms", 0)),
    ("inventory", ("vms", 0, "id")),
    ("inventory", ("vms", 0, "name")),
    ("inventory", ("vms", 0, "state")),
    ("inventory", ("vms", 0, "kvp")),
    ("inventory", ("vms", 0, "kvp", "status")),
    ("inventory", ("vms", 0, "intrinsic")),
    ("inventory", ("vms", 0, "intrinsic", "OSName")),
    ("inventory", ("vms", 0, "intrinsic", "OSBuildNumber")),
    ("inventory", ("events",)),
    ("inventory", ("events", 0)),
    ("inventory", ("events", 0, "message")),
    ("guest_licenses", ("licenses",)),
    ("guest_licenses", ("licenses", 0)),
    ("guest_licenses", ("licenses", 0, "license")),
    ("guest_licenses", ("licenses", 0, "error")),
    ("guest_licenses", ("licenses", 0, "license", "description")),
    ("guest_licenses", ("licenses", 0, "license", "license_status")),
)


def _replace(doc: Any, path: tuple[str | int, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return doc


class MutatingEngine:
    """The simulated host with one field of one operation's answer replaced."""

    def __init__(self, engine: SimHost, op: str, path: tuple[str | int, ...], value: Any) -> None:
        self.engine, self.op, self.path, self.value = engine, op, path, value

    def run(self, op: str, params: Mapping[str, Any]) -> Any:
        doc = self.engine.run(op, params)
        return _replace(doc, self.path, self.value) if op == self.op else doc


@pytest.fixture
def report(
    endpoint: WinRMEndpoint, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[[str], tuple[int, str]]]:
    """`avma-tui report` against the endpoint, as the command line runs it (in-process: main())."""
    monkeypatch.setenv("AVMA_PASSWORD", PASSWORD)
    monkeypatch.setenv("AVMA_GUEST_PASSWORD", GUEST_PASSWORD)

    def run(fmt: str) -> tuple[int, str]:
        argv = ["report", endpoint.host, "--port", str(endpoint.port), "--http", "--auth", "ntlm", "--user", USER]
        argv += ["--guest-user", "Administrator", "--format", fmt, "--timeout", "10"]
        code = main(argv)
        out, err = capsys.readouterr()
        assert err == "", err
        out.encode("utf-8")  # strict: a lone surrogate here is the crash of issue 15 item 3
        return code, out

    yield run


def _vm_names(engine: SimHost) -> list[str]:
    return [vm["name"] for vm in engine.run("inventory", {})["vms"]]


async def _check_each(
    session: Session, endpoint_or_engine: Any, engine: SimHost, op: str, path: tuple[str | int, ...], values: Any
) -> None:
    """Every value at this field, one refresh each: the report renders in all three formats, encodes as
    UTF-8, and shows every VM the bad value does not belong to (the session is what `report` runs)."""
    names = _vm_names(engine)
    for value in values:
        endpoint_or_engine.engine = MutatingEngine(engine, op, path, value)
        diagnosis = await session.refresh()
        for fmt in ("json", "text", "csv"):
            render(diagnosis, fmt).encode("utf-8")  # strict
        shown = [vm.name for vm in diagnosis.inventory.vms]
        if path == ("vms",):
            assert shown == [] or isinstance(value, list), value
            assert diagnosis.inventory.read_errors or value is None
        else:
            assert shown[-len(names) + 1 :] == names[1:], value  # the others are intact
        if op == "guest_licenses" and path != ("licenses",):
            reads = [vm.license.state for vm in diagnosis.inventory.vms[1:] if vm.running]
            assert reads.count(LicenseState.READ) >= 5, value


_IDS = {"ids": lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else v}


@pytest.mark.parametrize(("op", "path"), FIELDS, **_IDS)
async def test_over_the_wire_a_hostile_field_degrades_only_its_item(
    op: str, path: tuple[str | int, ...], endpoint: WinRMEndpoint, engine: SimHost, connect: Callable[..., Any]
) -> None:
    """Over pypsrp and the loopback endpoint: lone surrogates and one other bad value per field (rotating,
    so every bad value crosses the wire for some field)."""
    # All guests in one call (the mutation hits each call's first license; the session's first call, the
    # credential probe, is one guest alone): one lane, one chunk, the credential proven by the probe's peers.
    session = Session(
        HyperVHost(connect(endpoint)),
        guest_credential=Credential("Administrator", GUEST_PASSWORD),
        license_options=LicenseOptions(lanes=1, chunk_size=100),
    )
    session.licenses._proven = session.guest_credential
    other = BAD_VALUES[1 + FIELDS.index((op, path)) % (len(BAD_VALUES) - 1)]
    await _check_each(session, endpoint, engine, op, path, (LONE, other))


class _Holder:
    """What SimTransport runs: swapped for a mutating engine like the endpoint's."""

    def __init__(self, engine: SimHost) -> None:
        self.engine: Any = engine

    def run(self, op: str, params: Mapping[str, Any]) -> Any:
        return self.engine.run(op, params)


@pytest.mark.parametrize(("op", "path"), FIELDS, **_IDS)
async def test_in_process_every_bad_value_at_every_field(op: str, path: tuple[str | int, ...], engine: SimHost) -> None:
    """The whole cross product, through SimTransport (which also round-trips every answer through JSON)."""
    holder = _Holder(engine)
    transport = SimTransport(engine, latency_ms=0)
    transport.engine = holder  # type: ignore[assignment]
    session = Session(
        HyperVHost(transport),
        guest_credential=Credential("Administrator", GUEST_PASSWORD),
        license_options=LicenseOptions(lanes=1, chunk_size=100),  # all guests in one call, as above
    )
    session.licenses._proven = session.guest_credential
    await _check_each(session, holder, engine, op, path, BAD_VALUES)


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_a_lone_surrogate_in_a_guest_os_name_does_not_break_the_report(
    fmt: str, endpoint: WinRMEndpoint, engine: SimHost, report: Callable[[str], tuple[int, str]]
) -> None:
    """The case issue 15 found: UnicodeEncodeError at sys.stdout.write, in every format."""
    endpoint.engine = MutatingEngine(engine, "inventory", ("vms", 0, "intrinsic", "OSName"), LONE)  # type: ignore[assignment]
    code, out = report(fmt)
    assert code in (0, 1)
    assert "DC\ufffd\ufffd-\ufffd" in out or fmt == "text"  # the text table cuts long cells
    for name in _vm_names(engine):
        assert name in out


def test_a_lone_surrogate_in_the_host_name_keeps_the_audit_chain(
    endpoint: WinRMEndpoint, engine: SimHost, report: Callable[[str], tuple[int, str]]
) -> None:
    """The host name goes into the audit log, whose hash needs UTF-8: the next connection still works."""
    endpoint.engine = MutatingEngine(engine, "inventory", ("host", "name"), LONE)  # type: ignore[assignment]
    assert report("text")[0] in (0, 1)
    code, out = report("json")
    assert code in (0, 1)
    assert json.loads(out)["host"]["name"] == "DC\ufffd\ufffd-\ufffd"
    assert main(["audit", "verify"]) == 0


def test_wrong_types_are_named_in_the_report(
    endpoint: WinRMEndpoint, engine: SimHost, report: Callable[[str], tuple[int, str]]
) -> None:
    endpoint.engine = MutatingEngine(engine, "inventory", ("events",), 42)  # type: ignore[assignment]
    _, out = report("text")
    assert "Not readable from the host" in out
    assert "events: expected a list, found a number; no event is shown" in out


def test_a_license_of_the_wrong_type_fails_only_that_vm(
    endpoint: WinRMEndpoint, engine: SimHost, report: Callable[[str], tuple[int, str]]
) -> None:
    first = engine.run("guest_licenses", {"VmIds": [vm.id for vm in engine.scenario.vms], "Credential": None})
    vm_id = first["licenses"][0]["vm_id"]

    class OneBadLicense(MutatingEngine):
        """Licenses are read in chunks (services/licenses.py): only that VM's entry is spoiled, wherever it is."""

        def run(self, op: str, params: Mapping[str, Any]) -> Any:
            doc = self.engine.run(op, params)
            for entry in doc.get("licenses", []) if op == "guest_licenses" else []:
                if entry["vm_id"] == vm_id:
                    entry["license"] = "nope"
            return doc

    endpoint.engine = OneBadLicense(engine, "guest_licenses", (), None)  # type: ignore[assignment]
    doc = json.loads(report("json")[1])
    by_id = {vm["id"]: vm for vm in doc["vms"]}
    assert by_id[vm_id]["license_read"] == "failed"
    assert "not readable" in by_id[vm_id]["license_error"]
    assert sum(1 for vm in doc["vms"] if vm["license_read"] == "read") >= 5
