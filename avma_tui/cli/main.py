"""The one entry point, `avma-tui`: the TUI by default, sub-commands for scripts (docs/cli.md).

Imports are lazy: `avma-tui report` never loads Textual, and the TUI loads only what its first
screen needs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from avma_tui import __version__
from avma_tui.config import AUTH_KINDS
from avma_tui.core.text import clean
from avma_tui.errors import CliError

SUBCOMMANDS = ("report", "fix", "audit", "keys", "unattend", "sim", "doctor", "capture")
#: Words typed for a command that is not one, and what was meant.
COMMAND_WORDS = {
    "help": "--help",
    "version": "--version",
    "serve": "sim serve",
    "verify": "audit verify",
    "show": "audit show",
    "export": "audit export",
    "key": "keys",
}


#: Bounds of the seconds a flag accepts: (lowest, highest); what is outside is a typo, not a wish.
TIMEOUT_RANGE = (1.0, 3600.0)
VERIFY_TIMEOUT_RANGE = (1.0, 3600.0)
CONVERSION_WAIT_RANGE = (1.0, 14400.0)
REFRESH_RANGE = (1.0, 86400.0)  # and 0 for "off"


def seconds(text: str, flag: str, bounds: tuple[float, float], *, zero: bool = False) -> float:
    """A number of seconds from a flag: finite and within `bounds` (or 0 when `zero` allows it)."""
    low, high = bounds
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if (zero and value == 0) or (math.isfinite(value) and low <= value <= high):
        return value
    allowed = f"{low:g} to {high:g}" + (" (0: off)" if zero else "")
    raise CliError(f"{flag} expects seconds from {allowed}, not {text!r}")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is one `--help` away) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _seconds(flag: str, bounds: tuple[float, float], *, zero: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            return seconds(text, flag, bounds, zero=zero)
        except CliError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"{flag} ")) from None

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expects a TCP port from 1 to 65535, not {text!r}")
    return value


def _osa_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: 'reprot' is one from 'report'."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb)))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def meant_command(word: str) -> str | None:
    """The command a word in the HOST place was probably meant to be, or None for a plausible host name.

    A host name with a digit, a dot or a colon (hv01, hv01.corp.example, 10.0.0.5, ::1) is a host.
    A bare word is a command when it is one in any case, a known stand-in (help, verify), or within
    one edit of a command (two for the longer ones): 'reprot', 'fixx', 'Audit', 'unatend'.
    """
    if any(ch.isdigit() or ch in ".:[]%" for ch in word):
        return None
    folded = word.casefold()
    if folded in COMMAND_WORDS:
        return COMMAND_WORDS[folded]
    best = min(SUBCOMMANDS, key=lambda name: _osa_distance(folded, name))
    return best if _osa_distance(folded, best) <= (1 if len(best) <= 4 else 2) else None


def _check_host_word(word: str | None, argv: Sequence[str]) -> None:
    """A mistyped command must not become a host name (`avma-tui reprot --demo`); `--` forces a host."""
    if not word or "--" in argv:
        return
    if word in SUBCOMMANDS:
        raise CliError(f"{word!r} is a command: put it first (avma-tui {word} …)")
    meant = meant_command(word)
    if meant:
        raise CliError(f"unknown command {word!r} (did you mean {meant}?); a host of that name: avma-tui -- {word}")


def terminal_attached() -> bool:
    """The TUI needs a terminal to read keys from and to draw on (Textual draws on stderr; stdout must not
    be a file or pipe that would receive escape codes meant for a screen)."""
    return all(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stdout, sys.stderr))


def _add_debug(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    # A nested parser must not reset what its parent parsed: SUPPRESS leaves the attribute alone.
    default = argparse.SUPPRESS if nested else False
    parser.add_argument("--debug", action="store_true", default=default, help="show a traceback on an internal error")


def _add_target(parser: argparse.ArgumentParser) -> None:
    """--demo | --scenario FILE | HOST, and the connection options."""
    target = parser.add_argument_group("target")
    target.add_argument("--demo", action="store_true", help="the embedded simulated host (demo scenario)")
    target.add_argument("--scenario", metavar="FILE", help="a simulated host from a scenario TOML file")
    target.add_argument("host", nargs="?", metavar="HOST", help="a Hyper-V host to connect to over WinRM")
    conn = parser.add_argument_group("connection options")
    # Defaults are None ("not given"): check_target refuses connection options without a HOST, and
    # ConnectionSettings supplies the defaults.
    conn.add_argument("--port", type=_port, help="WinRM port (default 5986 with HTTPS, 5985 with HTTP)")
    scheme = conn.add_mutually_exclusive_group()
    scheme.add_argument("--https", dest="https", action="store_const", const=True, help="use HTTPS (default)")
    scheme.add_argument(
        "--http", dest="https", action="store_const", const=False, help="use HTTP with message encryption"
    )
    conn.add_argument("--auth", choices=AUTH_KINDS, help="authentication (default negotiate)")
    conn.add_argument("--user", help="account on the host (password from AVMA_PASSWORD or a prompt)")
    conn.add_argument("--ca-cert", metavar="PEM", help="trust the CAs in this PEM file")
    conn.add_argument("--insecure", action="store_const", const=True, help="do not validate the host's certificate")
    low, high = TIMEOUT_RANGE
    conn.add_argument(
        "--timeout",
        type=_seconds("--timeout", TIMEOUT_RANGE),
        metavar="SECONDS",
        help=f"bound on every call ({low:g}-{high:g}; default 30)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="avma-tui",
        description="See and fix Automatic Virtual Machine Activation (AVMA) on a Hyper-V host.",
        epilog="Sub-commands: report, fix, audit, keys, unattend, doctor, capture, sim serve|import "
        "(avma-tui SUB --help). "
        "A host whose name looks like a command: avma-tui -- NAME.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"avma-tui {__version__}")
    _add_target(parser)
    parser.add_argument(
        "--refresh",
        type=_seconds("--refresh", REFRESH_RANGE, zero=True),
        default=30.0,
        metavar="SECONDS",
        help="auto-refresh interval (30; 0 off)",
    )
    _add_waits(parser)
    _add_debug(parser)
    return parser


def _add_waits(parser: argparse.ArgumentParser) -> None:
    """How long a fix waits for its change to show: `fix` and the TUI take the same two options."""
    parser.add_argument(
        "--verify-timeout",
        type=_seconds("--verify-timeout", VERIFY_TIMEOUT_RANGE),
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for a change to read back (1-3600; default 120)",
    )
    parser.add_argument(
        "--conversion-wait",
        type=_seconds("--conversion-wait", CONVERSION_WAIT_RANGE),
        default=None,
        metavar="SECONDS",
        help="how long to wait for an edition conversion (DISM) to show (1-14400; default 1800)",
    )


def _sub_parser(name: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"avma-tui {name}", allow_abbrev=False)
    _add_debug(parser)
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
        parser.add_argument("--show-scripts", action="store_true", help="with --dry-run: print each step's PowerShell")
        _add_waits(parser)
    elif name == "audit":
        from avma_tui.config import audit_path

        parser.formatter_class = argparse.RawDescriptionHelpFormatter  # the path on one line, unwrapped
        parser.description = (
            f"The tamper-evident audit log. It is here:\n  {audit_path()}\n"
            "(AVMA_TUI_HOME=DIR makes it DIR/data/audit/audit.jsonl.)"
        )
        sub = parser.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
        where = sub.add_parser("path", help="print where the audit log is (whether or not it exists yet)")
        _add_debug(where, nested=True)
        verify = sub.add_parser("verify", help="walk the hash chain")
        verify.add_argument(
            "--head", metavar="HASH", help="an earlier head hash (or its first 12+ characters) that must be there"
        )
        show = sub.add_parser("show", help="print records")
        show.add_argument("--host", help="only records for this host")
        show.add_argument("--since", metavar="DATE", help="only records at or after this date (YYYY-MM-DD)")
        export = sub.add_parser("export", help="export records, ending with the head hash")
        export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
        export.add_argument("--month", metavar="YYYY-MM", help="only this month")
        export.add_argument("--output", metavar="FILE")
        for command in (verify, show, export):
            command.add_argument("--file", metavar="FILE", help="read this log (e.g. an auditor's copy; only read)")
            _add_debug(command, nested=True)
    elif name == "keys":
        parser.description = "The AVMA key table (version, edition, key) with sources."
    elif name == "unattend":
        parser.description = "An unattend.xml fragment carrying the right AVMA key."
        parser.add_argument("--version", required=True, dest="os_version", help="e.g. 2022, 2019, 2012R2")
        parser.add_argument("--edition", required=True, help="Datacenter, Standard, Essentials…")
    elif name == "sim":
        parser.description = "The simulated Hyper-V host."
        sub = parser.add_subparsers(dest="sim_command", required=True, parser_class=_Parser)
        serve = sub.add_parser("serve", help="serve a simulated host over WinRM on 127.0.0.1")
        serve.add_argument("--demo", action="store_true")
        serve.add_argument("--scenario", metavar="FILE")
        serve.add_argument("--port", type=int, default=0, help="port (default: a free one, printed)")
        serve.add_argument("--https", action="store_true", help="serve HTTPS with a generated certificate")
        serve.add_argument("--user", default="admin", help="the account to accept (password: AVMA_SIM_PASSWORD)")
        _add_debug(serve, nested=True)
        imported = sub.add_parser("import", help="turn a capture into an editable scenario file")
        imported.add_argument("capture", metavar="CAPTURE", help="a file written by avma-tui capture")
        imported.add_argument("--output", metavar="SCENARIO.toml", required=True)
        _add_debug(imported, nested=True)
    elif name == "doctor":
        parser.description = "Read-only checks before (or after) a connection fails: one line each, with the fix."
        _add_target(parser)
        parser.add_argument("--guest-user", help="also probe one guest over PowerShell Direct (AVMA_GUEST_PASSWORD)")
    elif name == "capture":
        parser.description = "Record what a host answers to every read, redacted, as a file that replays."
        _add_target(parser)
        parser.add_argument("--output", metavar="FILE", required=True, help="the capture file (gzip JSON)")
        parser.add_argument("--guest-user", help="read guest licenses and probe one guest (AVMA_GUEST_PASSWORD)")
        parser.add_argument("--anonymize", action="store_true", help="replace host, domain, VM and user names")
    return parser


def _audit_path(args: argparse.Namespace) -> int:
    """`avma-tui audit path`: the log's path on stdout (for scripts: `tail -f "$(avma-tui audit path)"`)."""
    from avma_tui.config import audit_path

    path = audit_path()
    print(path)
    if not path.exists():
        print("(not created yet: the first connection creates it)", file=sys.stderr)
    return 0


def _dispatch(name: str, args: argparse.Namespace) -> int:
    if name == "report":
        from avma_tui.cli.report import run
    elif name == "fix":
        from avma_tui.cli.fix import run
    elif name == "audit" and args.audit_command == "path":
        run = _audit_path
    elif name == "audit":
        from avma_tui.cli.audit import run
    elif name == "keys":
        from avma_tui.cli.catalog import keys as run
    elif name == "unattend":
        from avma_tui.cli.catalog import unattend as run
    elif name == "sim":
        from avma_tui.cli.sim import run
    elif name == "doctor":
        from avma_tui.cli.doctor import run
    elif name == "capture":
        from avma_tui.cli.capture import run
    else:
        from avma_tui.ui.app import run
    return run(args)


def _parse(argv: list[str]) -> tuple[str, argparse.Namespace]:
    """The command and its arguments, checked: what contradicts itself is refused before anything runs."""
    if argv and argv[0] in SUBCOMMANDS:
        name, args = argv[0], _sub_parser(argv[0]).parse_args(argv[1:])
    else:
        if argv and not argv[0].startswith("-"):  # before parsing: `fixx --vm X` is a typo, not a bad option
            _check_host_word(argv[0], argv)
        name, args = "tui", _parser().parse_args(argv)
        _check_host_word(args.host, argv)
    if name in ("tui", "report", "fix", "doctor", "capture"):
        from avma_tui.services.targets import check_target  # not for keys, audit, sim: they start faster

        check_target(args)
    if name == "fix" and args.dry_run and args.yes:
        raise CliError("--dry-run changes nothing and --yes runs every change: choose one")
    if name == "fix" and args.show_scripts and not args.dry_run:
        raise CliError("--show-scripts goes with --dry-run (each confirmation shows its script anyway)")
    if name == "tui" and not terminal_attached():
        raise CliError(
            "the TUI needs a terminal (stdin, stdout and stderr); "
            "for a file or a pipe use: avma-tui report … [--format json|csv]"
        )
    return name, args


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: what the command returned (report, fix: 1 means findings left), 2 for a usage or
    connection problem and for any unexpected error (one line; the traceback with --debug), 130 on ctrl+c."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = False
    try:
        name, args = _parse(argv)
        debug = bool(getattr(args, "debug", False))
        return _dispatch(name, args)
    except CliError as err:
        print(f"avma-tui: error: {clean(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("avma-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `| head` stopped reading: end quietly, without a traceback at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for SIGPIPE; never 1, which means "error findings"
    except Exception as err:  # a crash must not exit 1 ("error findings") or spill a traceback
        if debug:
            traceback.print_exc()
        where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
        print(
            f"avma-tui: internal error: {type(err).__name__}{at}: {_one_line(str(err))} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return 2


def _one_line(text: str) -> str:
    return clean(" ".join(text.split()))[:300]
