"""The one entry point, `avma-tui`: the TUI by default, sub-commands for scripts (docs/cli.md).

Imports are lazy: `avma-tui report` never loads Textual, and the TUI loads only what its first
screen needs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from avma_tui import __version__
from avma_tui.config import AUTH_KINDS
from avma_tui.core.text import clean
from avma_tui.errors import CliError

SUBCOMMANDS = ("report", "fix", "audit", "keys", "unattend", "sim")


def _add_target(parser: argparse.ArgumentParser, *, host_required: bool = False) -> None:
    """--demo | --scenario FILE | HOST, and the connection options."""
    target = parser.add_argument_group("target")
    target.add_argument("--demo", action="store_true", help="the embedded simulated host (demo scenario)")
    target.add_argument("--scenario", metavar="FILE", help="a simulated host from a scenario TOML file")
    target.add_argument("host", nargs="?", metavar="HOST", help="a Hyper-V host to connect to over WinRM")
    conn = parser.add_argument_group("connection options")
    conn.add_argument("--port", type=int, help="WinRM port (default 5986 with HTTPS, 5985 with HTTP)")
    scheme = conn.add_mutually_exclusive_group()
    scheme.add_argument("--https", dest="https", action="store_true", default=True, help="use HTTPS (default)")
    scheme.add_argument("--http", dest="https", action="store_false", help="use HTTP with message encryption")
    conn.add_argument("--auth", choices=AUTH_KINDS, default="negotiate", help="authentication (default negotiate)")
    conn.add_argument("--user", help="account on the host (password from AVMA_PASSWORD or a prompt)")
    conn.add_argument("--ca-cert", metavar="PEM", help="trust the CAs in this PEM file")
    conn.add_argument("--insecure", action="store_true", help="do not validate the host's certificate")
    conn.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="bound on every call (30)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avma-tui",
        description="See and fix Automatic Virtual Machine Activation (AVMA) on a Hyper-V host.",
        epilog="Sub-commands: report, fix, audit, keys, unattend, sim serve (avma-tui SUB --help).",
    )
    parser.add_argument("--version", action="version", version=f"avma-tui {__version__}")
    _add_target(parser)
    parser.add_argument(
        "--refresh", type=float, default=30.0, metavar="SECONDS", help="auto-refresh interval (30; 0 off)"
    )
    return parser


def _sub_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"avma-tui {name}")
    if name == "report":
        parser.description = "Where do my VMs stand? One report, for scripts and monitoring."
        _add_target(parser)
        parser.add_argument("--format", choices=("text", "json", "csv"), default="text")
        parser.add_argument("--guest-user", help="guest account for PowerShell Direct (AVMA_GUEST_PASSWORD)")
        parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    elif name == "fix":
        parser.description = "Run the remedies for one VM without the TUI."
        _add_target(parser)
        parser.add_argument("--vm", required=True, metavar="NAME", help="the VM to fix (name or Id)")
        parser.add_argument("--guest-user", help="guest account for PowerShell Direct (AVMA_GUEST_PASSWORD)")
        parser.add_argument("--yes", action="store_true", help="do not ask before each change")
        parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
        parser.add_argument("--verify-timeout", type=float, default=120.0, metavar="SECONDS")
    elif name == "audit":
        parser.description = "The tamper-evident audit log."
        sub = parser.add_subparsers(dest="audit_command", required=True)
        verify = sub.add_parser("verify", help="walk the hash chain")
        verify.add_argument("--head", metavar="HASH", help="an exported head hash that must still be there")
        show = sub.add_parser("show", help="print records")
        show.add_argument("--host", help="only records for this host")
        show.add_argument("--since", metavar="DATE", help="only records at or after this date (YYYY-MM-DD)")
        export = sub.add_parser("export", help="export records, ending with the head hash")
        export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
        export.add_argument("--month", metavar="YYYY-MM", help="only this month")
        export.add_argument("--output", metavar="FILE")
    elif name == "keys":
        parser.description = "The AVMA key table (version, edition, key) with sources."
    elif name == "unattend":
        parser.description = "An unattend.xml fragment carrying the right AVMA key."
        parser.add_argument("--version", required=True, dest="os_version", help="e.g. 2022, 2019, 2012R2")
        parser.add_argument("--edition", required=True, help="Datacenter, Standard, Essentials…")
    elif name == "sim":
        parser.description = "The simulated Hyper-V host."
        sub = parser.add_subparsers(dest="sim_command", required=True)
        serve = sub.add_parser("serve", help="serve a simulated host over WinRM on 127.0.0.1")
        serve.add_argument("--demo", action="store_true")
        serve.add_argument("--scenario", metavar="FILE")
        serve.add_argument("--port", type=int, default=0, help="port (default: a free one, printed)")
        serve.add_argument("--https", action="store_true", help="serve HTTPS with a generated certificate")
        serve.add_argument("--user", default="admin", help="the account to accept (password: AVMA_SIM_PASSWORD)")
    return parser


def _dispatch(name: str, args: argparse.Namespace) -> int:
    if name == "report":
        from avma_tui.services.report import run
    elif name == "fix":
        from avma_tui.cli.fix import run
    elif name == "audit":
        from avma_tui.cli.audit import run
    elif name == "keys":
        from avma_tui.cli.catalog import keys as run
    elif name == "unattend":
        from avma_tui.cli.catalog import unattend as run
    elif name == "sim":
        from avma_tui.cli.sim import run
    else:
        from avma_tui.ui.app import run
    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        name, args = argv[0], _sub_parser(argv[0]).parse_args(argv[1:])
    else:
        name, args = "tui", _parser().parse_args(argv)
    try:
        return _dispatch(name, args)
    except CliError as err:
        print(f"avma-tui: error: {clean(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("avma-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `| head` stopped reading: end quietly, without a traceback at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
