"""A real MIT Kerberos KDC on loopback for the tests: realm AVMA.TEST, the host hv01.avma.test.

Debian's krb5-kdc and krb5-admin-server provide the daemons (.ci/run installs them). The realm lives in a
temporary folder: its own krb5.conf and kdc.conf, a database made with kdb5_util, principals made with
kadmin.local, and krb5kdc listening on a free loopback port. Nothing outside that folder is touched except
one /etc/hosts line mapping the realm's host name to 127.0.0.1 (see `host_entry`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REALM = "AVMA.TEST"
HOST = "hv01.avma.test"
USER = "alice"
PASSWORD = "Kerb-Passw0rd!"
SPN = f"HTTP/{HOST}@{REALM}"
HOSTS_FILE = Path("/etc/hosts")
_HOSTS_LINE = f"127.0.0.1 {HOST}  # avma-tui tests\n"
DAEMONS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kdestroy")


def missing_tools() -> list[str]:
    """The MIT Kerberos programs this fixture needs that are not installed."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    return [name for name in DAEMONS if shutil.which(name, path=search) is None]


def _tool(name: str) -> str:
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    found = shutil.which(name, path=search)
    assert found, f"{name} is not installed"
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Kdc:
    """A running realm. `env` holds the variables a client or acceptor process needs."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def keytab(self) -> Path:
        return self.root / "http.keytab"

    @property
    def ccache(self) -> Path:
        return self.root / "ccache"

    @property
    def env(self) -> dict[str, str]:
        return {
            "KRB5_CONFIG": str(self.root / "krb5.conf"),
            "KRB5_KDC_PROFILE": str(self.root / "kdc.conf"),
            "KRB5CCNAME": f"FILE:{self.ccache}",
            "KRB5_KTNAME": f"FILE:{self.keytab}",
        }

    def run(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            args, input=stdin, capture_output=True, text=True, timeout=30, env={**os.environ, **self.env, **(env or {})}
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def kinit(self, password: str = PASSWORD, *, lifetime: str = "10h", principal: str = USER) -> None:
        self.run(_tool("kinit"), "-l", lifetime, principal, stdin=password + "\n")

    def kdestroy(self) -> None:
        subprocess.run([_tool("kdestroy")], env={**os.environ, **self.env}, capture_output=True, timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _write_config(root: Path, port: int) -> None:
    (root / "krb5.conf").write_text(
        f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    ticket_lifetime = 10h
[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{port}
    }}
[domain_realm]
    .avma.test = {REALM}
    avma.test = {REALM}
"""
    )
    (root / "kdc.conf").write_text(
        f"""[kdcdefaults]
    kdc_ports = {port}
    kdc_tcp_ports = {port}
[realms]
    {REALM} = {{
        database_name = {root}/principal
        key_stash_file = {root}/stash
        acl_file = {root}/kadm5.acl
        max_life = 10h
        max_renewable_life = 1d
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}
[logging]
    kdc = FILE:{root}/kdc.log
"""
    )
    (root / "kadm5.acl").write_text("")


@contextmanager
def running_kdc(root: Path) -> Iterator[Kdc]:
    """Create the realm under `root`, start krb5kdc, yield it, stop it."""
    port = _free_port()
    _write_config(root, port)
    env = {
        **os.environ,
        "KRB5_CONFIG": str(root / "krb5.conf"),
        "KRB5_KDC_PROFILE": str(root / "kdc.conf"),
    }
    subprocess.run(
        [_tool("kdb5_util"), "create", "-s", "-r", REALM, "-P", "master-key-for-tests"],
        env=env, capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    for query in (
        f"addprinc -pw {PASSWORD} {USER}",
        f"addprinc -pw {PASSWORD} bob",
        f"addprinc -randkey {SPN}",
        f"ktadd -k {root / 'http.keytab'} {SPN}",
    ):
        subprocess.run([_tool("kadmin.local"), "-q", query], env=env, capture_output=True, check=True, timeout=60)
    process = subprocess.Popen(
        [_tool("krb5kdc"), "-n", "-r", REALM], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    kdc = Kdc(root=root, port=port, process=process)
    try:
        _wait_listening(port, process)
        yield kdc
    finally:
        kdc.stop()


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"krb5kdc exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("krb5kdc did not start listening")


def resolves_to_loopback(name: str = HOST) -> bool:
    try:
        return any(info[4][0] == "127.0.0.1" for info in socket.getaddrinfo(name, None, socket.AF_INET))
    except OSError:
        return False


@contextmanager
def host_entry() -> Iterator[bool]:
    """Make HOST resolve to 127.0.0.1 for the tests; yield whether it does.

    Kerberos names the service by the host name the client was given, so the client must connect to
    hv01.avma.test, not to 127.0.0.1. The tests add one line to /etc/hosts when they may (root, as in CI)
    and remove exactly that line afterwards; the client has no resolver override, so what is tested is
    the path a user takes. Without the line (a developer who is not root), the Kerberos tests skip.
    """
    if resolves_to_loopback():
        yield True
        return
    try:
        with HOSTS_FILE.open("a", encoding="utf-8") as fh:
            fh.write(_HOSTS_LINE)
    except OSError:
        yield False
        return
    try:
        yield resolves_to_loopback()
    finally:
        text = HOSTS_FILE.read_text(encoding="utf-8")
        if _HOSTS_LINE in text:
            HOSTS_FILE.write_text(text.replace(_HOSTS_LINE, "", 1), encoding="utf-8")
