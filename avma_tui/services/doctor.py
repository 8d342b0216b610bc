"""`avma-tui doctor`: a read-only preflight, one line per check, each failure with its fix.

The checks follow the path a connection takes: the name, the port, TLS, authentication, the endpoint's
access rules and elevation, then the host itself (Windows PowerShell, the Hyper-V role and module, build,
edition and activation), PowerShell Direct, the cluster's nodes as seen from *this* client, and the WinRM
quotas the tool can hit. A check whose premise failed is skipped, saying why. Nothing changes anything.

Windows facts used here (with sources): the default endpoint admits Administrators and Remote Management
Users (PowerShell-Docs about_Remote_Requirements.md; the SDDL in PowerShell/PowerShell
src/System.Management.Automation/engine/remoting/commands/CustomShellCommands.cs); a local administrator
other than the built-in one is filtered by UAC remotely unless LocalAccountTokenFilterPolicy = 1
(about_Remote_Troubleshooting.md; https://learn.microsoft.com/windows/win32/wmisdk/user-account-control-and-wmi);
PowerShell Direct needs Windows Server 2016 (build 14393) or newer on the host and in the guest, and
Windows PowerShell 5 (https://learn.microsoft.com/virtualization/hyper-v-on-windows/user-guide/powershell-direct);
WinRM quota defaults from MS-WSMV 2.2.4.42 (MaxShellsPerUser 30) and 2.2.4.10 (MaxEnvelopeSizekb 500).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from avma_tui.config import ConnectionSettings
from avma_tui.core.catalog import PsDirectVerdict
from avma_tui.core.catalog import ps_direct as catalog_ps_direct
from avma_tui.core.model import Diagnosis
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.kerberos import current_principal, is_ip_address
from avma_tui.hyperv.transport import Credential, TransportError

#: A check of the network takes at most this long, whatever the --timeout.
NETWORK_TIMEOUT = 5.0
#: Shells the tool can hold on one host at once: the connection, plus one per operation being cut after a
#: timeout (deleted in the background). Below this, the host can refuse the tool.
SHELLS_NEEDED = 5
HTTP_PORT, HTTPS_PORT = 5985, 5986


class Status(str, Enum):
    OK = "ok"
    FAIL = "fail"
    SKIP = "skip"


_MARK = {Status.OK: "✔", Status.FAIL: "✘", Status.SKIP: "–"}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's answer. `fix` (for a failure) says what to do, with the exact command."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.status is Status.SKIP:
            return f"{_MARK[self.status]} {self.name}: skipped: {self.detail}"
        text = f"{_MARK[self.status]} {self.name}: {self.detail}"
        return f"{text} — {self.fix}" if self.fix else text


def ok(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, Status.FAIL, detail, fix)


def skip(name: str, because: str) -> Check:
    return Check(name, Status.SKIP, because)


def exit_status(checks: list[Check]) -> int:
    """0 all green (skips are fine), 1 some check failed."""
    return 1 if any(check.status is Status.FAIL for check in checks) else 0


# --- the network, from this client ----------------------------------------------------------------


def resolve(host: str) -> tuple[Check, bool]:
    if is_ip_address(host):
        return ok("name", f"{host} is an IP address (Kerberos needs the host's name; NTLM works)"), True
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as err:
        return fail(
            "name", f"{host} does not resolve ({err.strerror or err})", f"check the name and DNS: nslookup {host}"
        ), False
    addresses = sorted({str(info[4][0]) for info in infos})
    return ok("name", f"{host} → {', '.join(addresses[:4])}"), True


def tcp(host: str, port: int) -> str | None:
    """None when a TCP connection to host:port opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=NETWORK_TIMEOUT):
            return None
    except TimeoutError:
        return f"no answer within {NETWORK_TIMEOUT:g} s (a firewall dropping it?)"
    except OSError as err:
        return err.strerror or type(err).__name__


def ports(settings: ConnectionSettings) -> tuple[list[Check], bool]:
    port = settings.effective_port
    scheme = "HTTPS" if settings.https else "HTTP"
    problem = tcp(settings.host, port)
    if problem is None:
        checks = [ok(f"TCP {port}", f"open ({scheme}, the port in use)")]
    else:
        checks = [
            fail(
                f"TCP {port}",
                f"cannot connect: {problem}",
                "on the host: Enable-PSRemoting -Force; New-NetFirewallRule -DisplayName 'WinRM "
                f"{scheme}' -Direction Inbound -Protocol TCP -LocalPort {port} -Action Allow",
            )
        ]
    other = HTTP_PORT if settings.https else HTTPS_PORT
    if port in (HTTP_PORT, HTTPS_PORT):
        other_problem = tcp(settings.host, other)
        other_scheme = "HTTP" if other == HTTP_PORT else "HTTPS"
        if other_problem is None:
            flag = "--http" if other == HTTP_PORT else "--https"
            checks.append(ok(f"TCP {other}", f"open too ({other_scheme}: {flag})"))
        else:
            checks.append(skip(f"TCP {other}", f"not the port in use ({other_scheme}: {other_problem})"))
    return checks, problem is None


_VERIFY_HINTS = {
    10: "the certificate has expired: renew it on the host (a new HTTPS listener certificate)",
    18: "the certificate is self-signed: export it as PEM and pass --ca-cert FILE",
    19: "the chain ends in a CA this machine does not trust: pass the CA as --ca-cert FILE",
    20: "the issuing CA is not trusted here: pass your CA's certificate as --ca-cert FILE",
    62: "the certificate does not name this host: connect by a name it carries, or renew it with this name",
}


def tls(settings: ConnectionSettings) -> Check:
    """The handshake as the client will do it, and what --ca-cert or --insecure would change."""
    context = ssl.create_default_context(cafile=settings.ca_cert or None)
    if settings.insecure:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with (
            socket.create_connection((settings.host, settings.effective_port), timeout=NETWORK_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=settings.host) as wrapped,
        ):
            certificate = wrapped.getpeercert() or {}
    except ssl.SSLCertVerificationError as err:
        hint = _VERIFY_HINTS.get(err.verify_code, "pass the host's CA with --ca-cert FILE")
        return fail(
            "TLS", f"certificate not accepted ({err.verify_message})", f"{hint}; --insecure skips the check (unsafe)"
        )
    except ssl.SSLError as err:
        if "WRONG_VERSION_NUMBER" in str(err) or "record layer" in str(err):
            return fail("TLS", "the port does not speak TLS", f"it is an HTTP listener: use --http (port {HTTP_PORT})")
        return fail("TLS", f"handshake failed ({err.reason or err})", "check the HTTPS listener's certificate")
    except OSError as err:
        return fail("TLS", f"handshake failed ({err.strerror or err})", "check the HTTPS listener")
    if settings.insecure:
        return ok("TLS", "connected WITHOUT validating the certificate (--insecure)")
    expires = certificate.get("notAfter")
    until = f", valid until {expires}" if expires else ""
    return ok("TLS", f"certificate trusted and names {settings.host}{until}")


# --- on the host -----------------------------------------------------------------------------------


def authentication(settings: ConnectionSettings, mechanism: str | None, error: BaseException | None) -> Check:
    who = settings.username or current_principal() or "the current logon"
    why_not_kerberos = kerberos_absence(settings) if settings.auth in ("negotiate", "kerberos") else ""
    if error is not None:
        return fail("authentication", f"{settings.auth} as {who}: {error}", why_not_kerberos or "see the message")
    used = mechanism or settings.auth
    detail = f"{used} as {who}"
    if settings.auth == "negotiate" and used == "ntlm" and why_not_kerberos:
        detail += f" (not Kerberos: {why_not_kerberos})"
    return ok("authentication", detail)


def kerberos_absence(settings: ConnectionSettings) -> str:
    """Why Kerberos cannot be used for this connection, or "" when nothing here rules it out."""
    if is_ip_address(settings.host):
        return "the host is given by IP address; Kerberos needs its name"
    try:
        import gssapi  # noqa: F401
    except ImportError:
        return "no Kerberos library here (pip install 'avma-tui[kerberos]')" if _posix() else ""
    if not settings.username and current_principal() is None:
        return "no Kerberos ticket (run kinit)"
    return ""


def _posix() -> bool:
    import sys

    return sys.platform != "win32"


def access(pre: dict[str, Any]) -> list[Check]:
    user = str(pre.get("user") or "this account")
    checks = [
        ok("endpoint access", f"{user} may use the PowerShell endpoint (Administrators or Remote Management Users)")
    ]
    if pre.get("elevated"):
        checks.append(ok("elevation", f"{user} runs elevated (licensing and PowerShell Direct need it)"))
    elif (
        pre.get("local_account")
        and not pre.get("builtin_administrator")
        and pre.get("local_account_token_filter_policy") != 1
    ):
        checks.append(
            fail(
                "elevation",
                f"{user} is a local account, not the built-in Administrator: UAC filters its token remotely",
                "on the host (elevated): New-ItemProperty -Path HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion"
                "\\Policies\\System -Name LocalAccountTokenFilterPolicy -PropertyType DWord -Value 1 -Force "
                "(or use a domain account in Administrators)",
            )
        )
    else:
        checks.append(
            fail(
                "elevation",
                f"{user} is not an administrator on the host (licensing and PowerShell Direct need one)",
                f"on the host: Add-LocalGroupMember -Group Administrators -Member '{user}'",
            )
        )
    return checks


def host_software(pre: dict[str, Any]) -> list[Check]:
    checks = []
    version = str(pre.get("ps_version") or "")
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if major >= 5:
        checks.append(
            ok(
                "Windows PowerShell",
                f"{version} ({pre.get('ps_edition') or 'Desktop'}), culture {pre.get('culture') or '?'}",
            )
        )
    else:
        checks.append(
            fail(
                "Windows PowerShell",
                f"{version or 'unknown'}: PowerShell Direct needs 5.0 or newer",
                "install WMF 5.1 on the host",
            )
        )
    vmms = pre.get("vmms")
    if vmms == "Running":
        checks.append(ok("Hyper-V role", "the vmms service (Hyper-V Virtual Machine Management) is running"))
    elif vmms:
        checks.append(fail("Hyper-V role", f"the vmms service is {vmms}", "on the host: Start-Service vmms"))
    else:
        checks.append(
            fail(
                "Hyper-V role",
                "no vmms service: the Hyper-V role is not installed",
                "on the host: Install-WindowsFeature -Name Hyper-V -IncludeManagementTools -Restart",
            )
        )
    if pre.get("hyperv_module"):
        checks.append(ok("Hyper-V module", f"version {pre['hyperv_module']}"))
    else:
        checks.append(
            fail("Hyper-V module", "not installed", "on the host: Install-WindowsFeature -Name Hyper-V-PowerShell")
        )
    return checks


def activation(diagnosis: Diagnosis) -> Check:
    host = diagnosis.inventory.host
    what = f"{host.os_name or 'Windows'} (build {host.build})"
    if diagnosis.host_can_activate:
        reason = diagnosis.host_can_activate_reason.removeprefix("Yes: ") or "it can activate guests"
        return ok("AVMA host", f"{what} can activate guests: {reason}")
    first = next((f for f in diagnosis.host_findings if f.subject_kind == "host"), None)
    fix = first.remedy_summary if first is not None else "see `avma-tui report` for the host's findings"
    return fail("AVMA host", f"{what}: {diagnosis.host_can_activate_reason or 'cannot activate guests'}", fix)


def ps_direct(pre: dict[str, Any], diagnosis: Diagnosis) -> Check:
    """core.catalog.ps_direct on the host, with what preflight reported where the inventory did not say.
    Unknown (the build or PowerShell version not reported) is skipped, not failed: the tool tries it, and the
    guest probe shows whether it works."""
    host = diagnosis.inventory.host
    build = host.build if host.build is not None else _number(pre.get("os_build"))
    host = replace(host, build=build, ps_version=host.ps_version or str(pre.get("ps_version") or ""))
    decision = catalog_ps_direct(host)
    if decision.verdict is PsDirectVerdict.YES:
        return ok("PowerShell Direct", f"possible from this host ({decision.reason})")
    if decision.verdict is PsDirectVerdict.MAY:
        return skip("PowerShell Direct", f"cannot tell: {decision.reason} (the guest probe shows whether it works)")
    return fail(
        "PowerShell Direct",
        f"not possible from this host: {decision.reason} (it needs Windows Server 2016 and Windows PowerShell 5)",
        "nothing to change here: the tool gives the console commands for each guest instead",
    )


def _number(value: Any) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() else None


async def guest_probe(host: HyperVHost, diagnosis: Diagnosis, credential: Credential | None) -> Check:
    if credential is None:
        return skip("guest probe", "no guest login given (--guest-user, AVMA_GUEST_PASSWORD)")
    facts = diagnosis.inventory.host
    # Guests PowerShell Direct can reach, those whose build is known first (a Windows Server 2016 or newer).
    candidates = sorted(
        (vm for vm in diagnosis.inventory.vms if catalog_ps_direct(facts, vm).possible),
        key=lambda vm: vm.os is None or vm.os.build is None,
    )
    if not candidates:
        return skip("guest probe", "no running guest PowerShell Direct can reach (Windows Server 2016 or newer)")
    vm = candidates[0]
    try:
        reads = await host.guest_licenses([vm.id], credential)
    except TransportError as err:
        return fail("guest probe", f"{vm.name}: {err}", "check the guest login and that the guest runs")
    read = reads.get(vm.id)
    error = getattr(read, "error", None) if read is not None else "no answer"
    if error:
        return fail("guest probe", f"{vm.name}: {error}", "check the guest login (a guest administrator) and the guest")
    return ok("guest probe", f"read {vm.name}'s license over PowerShell Direct as {credential.username}")


def cluster_nodes(diagnosis: Diagnosis, settings: ConnectionSettings | None) -> list[Check]:
    cluster = diagnosis.inventory.cluster
    if cluster is None:
        return [skip("cluster", "the host is not in a failover cluster")]
    checks = [ok("cluster", f"{cluster.name}: {len(cluster.nodes)} other node(s)")]
    for node in cluster.nodes:
        name = f"node {node.name}"
        if settings is None:
            checks.append(skip(name, "a simulated host: nothing to reach on the network"))
            continue
        problem = tcp(node.name, settings.effective_port)
        if problem is None:
            checks.append(ok(name, f"reachable from this client on port {settings.effective_port}"))
        else:
            checks.append(
                fail(
                    name,
                    f"not reachable from this client on port {settings.effective_port}: {problem}",
                    f"check the name resolves here and WinRM listens on {node.name} (Enable-PSRemoting)",
                )
            )
    return checks


def quotas(pre: dict[str, Any]) -> list[Check]:
    winrm = pre.get("winrm")
    if not isinstance(winrm, dict):
        winrm = {}
    shells = [
        value
        for value in (winrm.get("max_shells_per_user"), winrm.get("plugin_max_shells_per_user"))
        if isinstance(value, int)
    ]
    envelope, idle = winrm.get("max_envelope_size_kb"), winrm.get("idle_timeout_ms")
    if not shells and envelope is None:
        return [skip("WinRM quotas", "the host did not let this account read WSMan:\\localhost")]
    checks = []
    fewest = min(shells) if shells else None
    if fewest is not None and fewest < SHELLS_NEEDED:
        checks.append(
            fail(
                "WinRM shells",
                f"MaxShellsPerUser is {fewest}: the tool can need {SHELLS_NEEDED}",
                "on the host: Set-Item WSMan:\\localhost\\Shell\\MaxShellsPerUser 30",
            )
        )
    else:
        checks.append(
            ok(
                "WinRM shells",
                f"MaxShellsPerUser {fewest if fewest is not None else '?'} (the tool needs {SHELLS_NEEDED})",
            )
        )
    details = []
    if isinstance(envelope, int):
        details.append(f"MaxEnvelopeSizekb {envelope}")
    if isinstance(idle, int):
        details.append(f"IdleTimeout {idle // 1000} s")
    if details:
        checks.append(ok("WinRM limits", ", ".join(details)))
    return checks


# --- the whole run ---------------------------------------------------------------------------------

Report = Callable[[Check], None]


async def run(
    host: HyperVHost,
    *,
    settings: ConnectionSettings | None,
    guest_credential: Credential | None = None,
    report: Report | None = None,
    diagnose: Callable[[Any], Awaitable[Diagnosis]] | None = None,
) -> list[Check]:
    """Every check, in order; `report` gets each line as soon as it is known. `settings` None: a simulated
    host (the network checks are skipped)."""
    checks: list[Check] = []

    def add(*found: Check) -> None:
        for check in found:
            checks.append(check)
            if report is not None:
                report(check)

    if settings is None:
        add(skip("network", "a simulated host (--demo / --scenario): no name, port or certificate to check"))
    else:
        named, resolved = await asyncio.to_thread(resolve, settings.host)
        add(named)
        if not resolved:
            return checks
        port_checks, open_ = await asyncio.to_thread(ports, settings)
        add(*port_checks)
        if not open_:
            return checks
        secure = (
            await asyncio.to_thread(tls, settings) if settings.https else skip("TLS", "HTTP with message encryption")
        )
        add(secure)
        if secure.status is Status.FAIL:
            add(skip("authentication", "the TLS check failed: fix that first"))
            return checks
    try:
        pre = await host.transport.run("preflight", {})
    except TransportError as err:
        if settings is not None:
            add(authentication(settings, None, err))
        else:
            add(fail("host", str(err), "see the message"))
        return checks
    if settings is not None:
        add(authentication(settings, getattr(host.transport, "mechanism", None), None))
    pre = pre
    if not isinstance(pre, dict):
        pre = {}
    add(*access(pre), *host_software(pre))
    try:
        diagnosis = await (diagnose(host) if diagnose else _diagnose(host))
    except TransportError as err:
        add(fail("inventory", str(err), "run `avma-tui capture` and attach it to a problem report"))
        return checks
    add(activation(diagnosis), ps_direct(pre, diagnosis))
    add(await guest_probe(host, diagnosis, guest_credential))
    add(*await asyncio.to_thread(cluster_nodes, diagnosis, settings))
    add(*quotas(pre))
    return checks


async def _diagnose(host: HyperVHost) -> Diagnosis:
    from avma_tui.core.findings import diagnose

    return diagnose(await host.inventory())
