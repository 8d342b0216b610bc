"""`avma-tui capture`: what a real host answers, exactly, in one small file that becomes a test.

A capture runs every read operation the tool uses (docs/operations.md: the operations that change
nothing) and keeps each answer as the host returned it — the raw JSON document, or the error with every
field the transport knows — with its timing, plus one PowerShell Direct probe of one guest. Nobody here
can reach a Windows host; the admins who run the tool can, and a capture brings their host's answers
back: `--scenario CAPTURE` replays it (reads answer from the capture, changes run against the
simulator seeded from it), and tests/fixtures/captures/ runs every capture through the whole tool.

What a capture never holds: a password (credentials are recorded by user name only) or a whole product
key (every key-shaped text keeps its last five characters, as Windows shows it). With `anonymize`, host,
domain, VM, cluster-node and user names become stable pseudonyms of the same shape.

The file (docs/capture.md): gzip-compressed JSON (plain JSON is read too), `format` 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import hmac
import io
import json
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from avma_tui import __version__
from avma_tui.core.catalog import PS_DIRECT_MIN_BUILD
from avma_tui.hyperv.transport import Credential, Transport, TransportError
from avma_tui.services.audit import redact

FORMAT = 1
KIND = "avma-tui capture"
#: Bigger than any real capture (a 2000-VM host is ~2 MB of JSON): a bound against a hostile file.
MAX_BYTES = 64 * 1024 * 1024
#: Guests per guest_licenses call, as the refresh reads them.
LICENSE_CHUNK = 25

_GZIP_MAGIC = b"\x1f\x8b"


class CaptureError(ValueError):
    """A file that is not a usable capture. str() is one line naming the file and the problem."""


# --- taking a capture --------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _error_fields(err: BaseException) -> dict[str, Any]:
    """Everything the transport knows about a failure, as JSON data (no secret: redacted later too)."""
    fields: dict[str, Any] = {"type": type(err).__name__, "message": str(err)}
    for name, value in vars(err).items():
        if name.startswith("_") or name in fields:
            continue
        fields[name] = value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)
    return fields


async def _phase(transport: Transport, op: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run one read operation and keep what came back, as it came back."""
    started = time.monotonic()
    shown = {name: (str(value) if isinstance(value, Credential) else value) for name, value in params.items()}
    entry: dict[str, Any] = {"op": op, "params": shown, "document": None, "error": None}
    try:
        entry["document"] = await transport.run(op, dict(params))
    except TransportError as err:
        entry["error"] = _error_fields(err)
    entry["seconds"] = round(time.monotonic() - started, 3)
    return entry


def _vms(inventory: Any) -> list[dict[str, Any]]:
    vms = inventory.get("vms") if isinstance(inventory, dict) else None
    return [vm for vm in vms if isinstance(vm, dict)] if isinstance(vms, list) else []


def _probe_candidate(vms: list[dict[str, Any]]) -> str | None:
    """A running guest new enough for PowerShell Direct, else any running one (its error is worth keeping)."""
    running = [vm for vm in vms if vm.get("state") == "Running" and isinstance(vm.get("id"), str)]

    def build(vm: dict[str, Any]) -> int:
        intrinsic = vm.get("intrinsic")
        if not isinstance(intrinsic, dict):
            intrinsic = {}
        text = str(intrinsic.get("OSBuildNumber") or "")
        return int(text) if text.isdigit() else 0

    new_enough = [vm for vm in running if build(vm) >= PS_DIRECT_MIN_BUILD]
    chosen = new_enough or running
    return str(chosen[0]["id"]) if chosen else None


#: A cluster node's read is bounded like the session bounds it (services/nodes.py).
NODE_TIMEOUT = 30.0


async def _node_phases(transport: Transport, inventory: Any) -> list[dict[str, Any]]:
    """host_info of every cluster node that is Up, each over its own connection from this client, as the
    session reads them (a node read from the host would be a second hop)."""
    for_node = getattr(transport, "for_node", None)
    cluster = inventory.get("cluster") if isinstance(inventory, dict) else None
    nodes = cluster.get("nodes") if isinstance(cluster, dict) else None
    if not callable(for_node) or not isinstance(nodes, list):
        return []

    async def one(name: str) -> dict[str, Any]:
        node = for_node(name)
        try:
            entry = await asyncio.wait_for(_phase(node, "host_info", {}), NODE_TIMEOUT + 1.0)
        except asyncio.TimeoutError:
            entry = {"op": "host_info", "params": {}, "document": None, "seconds": NODE_TIMEOUT,
                     "error": {"type": "TimedOut", "message": f"no answer within {NODE_TIMEOUT:g} s"}}  # fmt: skip
        finally:
            with contextlib.suppress(Exception):
                await node.close()
        return {**entry, "node": name}

    names = [
        n["name"]
        for n in nodes
        if isinstance(n, dict) and isinstance(n.get("name"), str) and n.get("state", "Up") == "Up"
    ]
    return list(await asyncio.gather(*(one(name) for name in names)))


async def take(
    transport: Transport, *, guest_credential: Credential | None = None, probe_vm: str | None = None
) -> dict[str, Any]:
    """Read everything the tool reads from the host behind `transport`; return the capture (redacted)."""
    capture: dict[str, Any] = {
        "format": FORMAT,
        "kind": KIND,
        "tool": {"name": "avma-tui", "version": __version__},
        "taken_at": _now(),
        "target": transport.description,
        "anonymized": False,
        "guest_user": guest_credential.username if guest_credential else None,
        "phases": [],
        "probe": None,
    }
    capture["phases"].append(await _phase(transport, "preflight", {}))  # $PSVersionTable, build, culture, rights
    inventory = await _phase(transport, "inventory", {})
    capture["phases"].append(inventory)
    capture["phases"] += await _node_phases(transport, inventory["document"])
    vms = _vms(inventory["document"])
    running = [vm["id"] for vm in vms if vm.get("state") == "Running" and isinstance(vm.get("id"), str)]
    if guest_credential is not None:
        for start in range(0, len(running), LICENSE_CHUNK):
            chunk = running[start : start + LICENSE_CHUNK]
            capture["phases"].append(
                await _phase(transport, "guest_licenses", {"VmIds": chunk, "Credential": guest_credential})
            )
        target = probe_vm or _probe_candidate(vms)
        if target is not None:
            capture["probe"] = await _phase(
                transport, "guest_licenses", {"VmIds": [target], "Credential": guest_credential}
            )
    return redact(capture)


# --- anonymising -----------------------------------------------------------------------------------

_NON_ASCII_LETTERS = "äöüéèñøåçłžšíóú"  # each upper-cases to one letter


def _names(capture: Mapping[str, Any]) -> set[str]:
    """Every host, domain, cluster, node, VM and user name the capture mentions in a named field."""
    names: set[str] = set()

    def add(value: Any) -> None:
        if isinstance(value, str) and value.strip():
            names.add(value)

    add(capture.get("guest_user"))
    for phase in [*capture.get("phases", []), capture.get("probe") or {}]:
        document = phase.get("document") if isinstance(phase, dict) else None
        if not isinstance(document, dict):
            continue
        add(phase.get("node"))
        host = document.get("host")
        if isinstance(host, dict):
            for key in ("name", "domain", "fqdn", "user"):
                add(host.get(key))
        cluster = document.get("cluster")
        if isinstance(cluster, dict):
            add(cluster.get("name"))
            for node in cluster.get("nodes") or []:
                if isinstance(node, dict):
                    add(node.get("name"))
        for vm in _vms(document):
            add(vm.get("name"))
            intrinsic = vm.get("intrinsic")
            if isinstance(intrinsic, dict):
                add(intrinsic.get("FullyQualifiedDomainName"))
        for event in document.get("events") or []:
            if isinstance(event, dict):
                add(event.get("vm_name"))
        for read in document.get("licenses") or []:
            license_ = read.get("license") if isinstance(read, dict) else None
            if isinstance(license_, dict):
                add(license_.get("avma_host"))
    # A user given as DOMAIN\user or user@domain: each part is a name of its own too.
    for name in list(names):
        names.update(part for part in re.split(r"[\\@]", name) if part and part != name)
    # An FQDN's labels: the host part alone appears in messages ("HV01"), the domain part elsewhere.
    for name in list(names):
        if "." in name and not name.replace(".", "").isdigit():
            first, _, rest = name.partition(".")
            names.update(part for part in (first, rest) if len(part) > 1)
    return names


def pseudonym(name: str, key: bytes) -> str:
    """A stable stand-in for `name` of the same shape: letters stay letters (case kept), digits digits,
    non-ASCII stays non-ASCII, and everything else — dots, spaces, markup, quotes, controls — stays as is,
    so a name that breaks rendering still breaks it after anonymising."""
    stream = hmac.new(key, name.casefold().encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    while len(stream) < len(name):
        stream += hashlib.sha256(stream).digest()
    out = []
    for char, byte in zip(name, stream[: len(name)], strict=True):
        if char.isascii() and char.isdigit():
            out.append(str(byte % 10))
        elif char.isascii() and char.isalpha():
            letter = chr(ord("a") + byte % 26)
            out.append(letter.upper() if char.isupper() else letter)
        elif not char.isascii() and unicodedata.category(char).startswith("L"):
            letter = _NON_ASCII_LETTERS[byte % len(_NON_ASCII_LETTERS)]
            out.append(letter.upper() if char.isupper() else letter)
        else:
            out.append(char)
    return "".join(out)


def anonymize(capture: dict[str, Any], *, key: bytes | None = None) -> dict[str, Any]:
    """The capture with every name (wherever it appears, in any case) replaced by its pseudonym."""
    key = key or os.urandom(32)  # per capture: the same name maps the same way within it, never across
    names = sorted(_names(capture), key=len, reverse=True)
    if not names:
        return {**capture, "anonymized": True}
    pattern = re.compile("|".join(re.escape(name) for name in names), re.IGNORECASE)

    def rename(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            return pseudonym(match[0], key)  # keyed on the casefolded name, cased like this occurrence

        return pattern.sub(one, text)

    result = _map_strings(capture, rename)
    result["anonymized"] = True
    return result


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """`value` with `change` applied to every string in it (dictionary keys are field names: kept)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    return value


# --- the file --------------------------------------------------------------------------------------


def write(capture: Mapping[str, Any], path: Path) -> int:
    """Write the capture gzip-compressed; return the file's size in bytes."""
    data = json.dumps(capture, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path.stat().st_size


def looks_like_capture(raw: bytes) -> bool:
    """Whether file content is a capture (gzip, or JSON naming itself one) rather than a scenario."""
    if raw.startswith(_GZIP_MAGIC):
        return True
    return bool(re.match(rb"\s*\{", raw[:64])) and KIND.encode() in raw[:4096]


def read(path: Path) -> dict[str, Any]:
    """Load and check a capture file; any problem is one CaptureError line naming the file."""
    try:
        if not path.is_file():
            raise CaptureError(f"{path.name}: not a regular file")
        if path.stat().st_size > MAX_BYTES:
            raise CaptureError(f"{path.name}: larger than {MAX_BYTES // 2**20} MiB, not a capture")
        raw = path.read_bytes()
    except OSError as err:
        raise CaptureError(f"{path.name}: cannot read it ({err.strerror or err})") from None
    return parse(raw, path.name)


def parse(raw: bytes, name: str = "capture") -> dict[str, Any]:
    """A capture from file content (gzip or plain JSON), checked."""
    if raw.startswith(_GZIP_MAGIC):
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
                raw = fh.read(MAX_BYTES + 1)
        except (OSError, EOFError) as err:
            raise CaptureError(f"{name}: truncated or damaged gzip data ({err})") from None
        if len(raw) > MAX_BYTES:
            raise CaptureError(f"{name}: unpacks to more than {MAX_BYTES // 2**20} MiB, not a capture")
    try:
        data = json.loads(raw.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CaptureError(f"{name}: not JSON ({type(err).__name__}), so not a capture") from None
    return check(data, name)


def check(data: Any, name: str = "capture") -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise CaptureError(f'{name}: not an avma-tui capture (no "kind": "{KIND}")')
    version = data.get("format")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CaptureError(f"{name}: the capture has no format number")
    if version > FORMAT:
        raise CaptureError(f"{name}: capture format {version} is newer than this avma-tui reads ({FORMAT}): upgrade")
    if version < 1:
        raise CaptureError(f"{name}: capture format {version} is not one avma-tui ever wrote")
    phases = data.get("phases")
    if not isinstance(phases, list) or not all(_valid_phase(phase) for phase in phases):
        raise CaptureError(f"{name}: its phases are damaged (each needs an op, and a document or an error)")
    if not any(phase["op"] == "inventory" for phase in phases):
        raise CaptureError(f"{name}: it has no inventory, so there is no host to replay")
    probe = data.get("probe")
    if probe is not None and not _valid_phase(probe):
        raise CaptureError(f"{name}: its PowerShell Direct probe is damaged")
    return data


def _valid_phase(phase: Any) -> bool:
    return (
        isinstance(phase, dict)
        and isinstance(phase.get("op"), str)
        and isinstance(phase.get("params", {}), dict)
        and ("document" in phase or "error" in phase)
        and (phase.get("error") is None or isinstance(phase["error"], dict))
    )


def documents(capture: Mapping[str, Any], op: str) -> Iterator[Any]:
    """The documents the capture holds for `op`, in the order they were read (errors left out)."""
    for phase in capture.get("phases", []):
        if phase.get("op") == op and phase.get("error") is None:
            yield phase.get("document")
