"""From command-line arguments to a HyperVHost: the simulated host or a real one over WinRM.

Shared by the TUI, `report` and `fix`, so all three accept the same targets and report the same
one-line errors. Passwords come from the environment or a prompt, never from the command line.
"""

from __future__ import annotations

import argparse
import getpass
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from avma_tui.config import ConnectionSettings
from avma_tui.errors import CliError
from avma_tui.hyperv.host import HyperVHost
from avma_tui.hyperv.transport import Credential
from avma_tui.paths import demo_scenario

if TYPE_CHECKING:
    from avma_tui.sim.scenario import Scenario


#: The largest scenario file read (the demo is ~20 KB); a bigger "scenario" is a mistake, not a host.
MAX_SCENARIO_BYTES = 4 * 1024 * 1024
#: Connection options: (attribute, flag). None in the namespace means "not given".
CONNECTION_OPTIONS = (
    ("port", "--port"),
    ("https", "--https/--http"),
    ("auth", "--auth"),
    ("user", "--user"),
    ("ca_cert", "--ca-cert"),
    ("insecure", "--insecure"),
    ("timeout", "--timeout"),
)


def check_target(args: argparse.Namespace) -> None:
    """Refuse arguments that contradict each other, before anything is opened or changed.

    --demo, --scenario FILE and HOST name one target each; connection options only mean something
    for a real host (named here, not chosen later on the connection screen).
    """
    demo, scenario, host = getattr(args, "demo", False), getattr(args, "scenario", None), getattr(args, "host", None)
    named = [what for what, given in (("--demo", demo), ("--scenario", scenario), (f"host {host!r}", host)) if given]
    if len(named) > 1:
        raise CliError(f"{' and '.join(named)} cannot be used together: name one target")
    given = [flag for attr, flag in CONNECTION_OPTIONS if getattr(args, attr, None) is not None]
    if given and (demo or scenario):
        raise CliError(f"{', '.join(given)}: connection options apply to a real HOST, not to the simulated host")
    if given and not host:
        raise CliError(f"{', '.join(given)}: connection options need a HOST (avma-tui HOST {given[0]} …)")
    if getattr(args, "https", None) is False:
        for attr, flag in (("ca_cert", "--ca-cert"), ("insecure", "--insecure")):
            if getattr(args, attr, None):
                raise CliError(f"{flag} applies to HTTPS, not --http")
    if getattr(args, "insecure", None) and getattr(args, "ca_cert", None):
        raise CliError("--insecure and --ca-cert cannot be used together")
    if host is not None and (not host.strip() or any(ch.isspace() or not ch.isprintable() for ch in host)):
        raise CliError(f"{host!r} is not a host name")


def scenario_path(args: argparse.Namespace) -> Path | None:
    """The scenario file the arguments name (--demo or --scenario), or None for a real host."""
    if getattr(args, "demo", False) and getattr(args, "scenario", None):
        raise CliError("--demo and --scenario cannot be used together")
    if getattr(args, "demo", False):
        return demo_scenario()
    if getattr(args, "scenario", None):
        return Path(args.scenario)
    return None


def _read_regular(path: Path, limit: int, what: str) -> bytes:
    """At most `limit` bytes of a regular file (a FIFO or /dev/zero would hang); CliError otherwise."""
    try:
        # Open without blocking (a FIFO would wait for a writer), then look at what was opened: no race.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CliError(f"{path}: not a regular file ({what})")
            raw = file.read(limit + 1)
    except OSError as err:
        raise CliError(f"{path}: cannot read the file ({err.strerror or type(err).__name__})") from None
    except ValueError:  # a NUL, or a character the file system cannot encode, in the path
        raise CliError(f"{path}: not a usable file name") from None
    if len(raw) > limit:
        raise CliError(f"{path}: larger than {limit // (1024 * 1024)} MiB; not {what}")
    return raw


def read_scenario(path: Path) -> Scenario:
    """Load a scenario file: a regular file of at most MAX_SCENARIO_BYTES."""
    from avma_tui.sim.scenario import ScenarioError, parse_scenario

    raw = _read_regular(path, MAX_SCENARIO_BYTES, "a scenario is a TOML file")
    try:
        return parse_scenario(raw, str(path))
    except ScenarioError as err:
        raise CliError(str(err)) from None


def open_simulated(path: Path) -> HyperVHost:
    """A HyperVHost on the in-process simulated host — a scenario file, or a capture replayed
    (docs/capture.md); a bad file raises CliError."""
    from avma_tui.services import capture
    from avma_tui.sim.engine import SimHost
    from avma_tui.sim.transport import SimTransport

    raw = _read_regular(path, capture.MAX_BYTES, "a scenario or a capture")
    if capture.looks_like_capture(raw):
        from avma_tui.sim.replay import ReplayTransport
        from avma_tui.sim.scenario import ScenarioError

        try:
            return HyperVHost(ReplayTransport(capture.parse(raw, path.name), source=path.name))
        except (capture.CaptureError, ScenarioError) as err:
            raise CliError(str(err)) from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise CliError(f"{path}: larger than {MAX_SCENARIO_BYTES // (1024 * 1024)} MiB; not a scenario file")
    from avma_tui.sim.scenario import ScenarioError, parse_scenario

    try:
        return HyperVHost(SimTransport(SimHost(parse_scenario(raw, str(path)))))
    except ScenarioError as err:
        raise CliError(str(err)) from None


def settings_from_args(args: argparse.Namespace) -> ConnectionSettings:
    """The settings for HOST; options not given take ConnectionSettings' defaults."""
    if not args.host:
        raise CliError("name a host, or use --demo or --scenario FILE")
    check_target(args)
    given = {
        "port": args.port,
        "https": args.https,
        "auth": args.auth,
        "username": args.user,
        "ca_cert": args.ca_cert,
        "insecure": args.insecure,
        "timeout": args.timeout,
    }
    host = args.host
    if host.startswith("[") and host.endswith("]"):  # "[::1]", as in a URL: the address is what is inside
        host = host[1:-1]
    return ConnectionSettings(host=host, **{name: value for name, value in given.items() if value is not None})


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
