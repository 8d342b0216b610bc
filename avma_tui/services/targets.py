"""From command-line arguments to a HyperVHost: the simulated host or a real one over WinRM.

Shared by the TUI, `report` and `fix`, so all three accept the same targets and report the same
one-line errors. Passwords come from the environment or a prompt, never from the command line.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from avma_tui.config import ConnectionSettings
from avma_tui.errors import CliError
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential
from avma_tui.paths import demo_scenario


def scenario_path(args: argparse.Namespace) -> Path | None:
    """The scenario file the arguments name (--demo or --scenario), or None for a real host."""
    if getattr(args, "demo", False) and getattr(args, "scenario", None):
        raise CliError("--demo and --scenario cannot be used together")
    if getattr(args, "demo", False):
        return demo_scenario()
    if getattr(args, "scenario", None):
        return Path(args.scenario)
    return None


def open_simulated(path: Path) -> HyperVHost:
    """A HyperVHost on the in-process simulated host; a bad scenario file raises CliError."""
    from avma_tui.sim.engine import SimHost
    from avma_tui.sim.scenario import ScenarioError, load_scenario
    from avma_tui.sim.transport import SimTransport

    try:
        scenario = load_scenario(path)
    except ScenarioError as err:
        raise CliError(str(err)) from None
    return HyperVHost(SimTransport(SimHost(scenario)))


def settings_from_args(args: argparse.Namespace) -> ConnectionSettings:
    if not args.host:
        raise CliError("name a host, or use --demo or --scenario FILE")
    if args.insecure and args.ca_cert:
        raise CliError("--insecure and --ca-cert cannot be used together")
    return ConnectionSettings(
        host=args.host,
        port=args.port,
        https=args.https,
        auth=args.auth,
        username=args.user or "",
        ca_cert=args.ca_cert or "",
        insecure=args.insecure,
        timeout=args.timeout,
    )


#: With these, no --user means the current logon (a Kerberos ticket, or the Windows logon through SSPI).
CURRENT_LOGON_AUTHS = ("negotiate", "kerberos")


def remote_user(settings: ConnectionSettings) -> str:
    """Who the host will see: the --user given, else (negotiate/kerberos) the current logon's principal."""
    if settings.username or settings.auth not in CURRENT_LOGON_AUTHS:
        return settings.username
    from avma_tui.hyperv.kerberos import current_principal

    return current_principal() or ""


def remote_user_of(args: argparse.Namespace) -> str:
    """remote_user() for command-line arguments; a simulated host has only the --user given."""
    if scenario_path(args) is not None:
        return args.user or ""
    return remote_user(settings_from_args(args))


def secret(env: str, prompt: str) -> str | None:
    """A password from `env`, else a prompt when a terminal is attached, else None."""
    value = os.environ.get(env)
    if value is not None:
        return value
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(prompt)
    return None


def open_remote(settings: ConnectionSettings) -> HyperVHost:
    from avma_tui.hyperv.psrp import PsrpTransport

    password = ""
    if settings.auth in ("basic", "ntlm", "credssp") or settings.username:
        if not settings.username:
            raise CliError(f"--user is required with --auth {settings.auth}")
        found = secret("AVMA_PASSWORD", f"Password for {settings.username}@{settings.host}: ")
        if found is None:
            raise CliError("no password: set AVMA_PASSWORD or run from a terminal")
        password = found
    return HyperVHost(PsrpTransport(settings, password))


def open_target(args: argparse.Namespace) -> HyperVHost:
    path = scenario_path(args)
    return open_simulated(path) if path else open_remote(settings_from_args(args))


def guest_credential(args: argparse.Namespace) -> Credential | None:
    """Guest credentials from --guest-user and AVMA_GUEST_PASSWORD (or a prompt); None without --guest-user."""
    user = getattr(args, "guest_user", None)
    if not user:
        return None
    password = secret("AVMA_GUEST_PASSWORD", f"Guest password for {user}: ")
    if password is None:
        raise CliError("no guest password: set AVMA_GUEST_PASSWORD or run from a terminal")
    return Credential(user, password)
