"""A Kerberos realm (AVMA.TEST) with a real MIT KDC, and the loopback WinRM endpoint accepting Kerberos.

The realm is made once per test process. Everything skips, saying why, when the KDC programs or the
gssapi library are missing (`.ci/run` installs both), or when hv01.avma.test cannot be made to resolve.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from avma_tui.paths import demo_scenario
from avma_tui.sim.engine import SimHost
from avma_tui.sim.scenario import load_scenario
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.kerberos.kdc import USER, Kdc, host_entry, missing_tools, running_kdc


def _unavailable(reason: str) -> None:
    """Skip — or fail where the realm must exist (.ci/run sets AVMA_REQUIRE_KERBEROS=1 after installing it)."""
    if os.environ.get("AVMA_REQUIRE_KERBEROS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kdc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kdc]:
    missing = missing_tools()
    if missing:
        _unavailable(f"MIT Kerberos is not installed ({', '.join(missing)}): apt-get install krb5-kdc krb5-user")
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401
    except ImportError:
        _unavailable(
            "the Kerberos client libraries are not installed: pip install -e '.[kerberos]' (needs libkrb5-dev)"
        )
    with host_entry() as resolves:
        if not resolves:
            _unavailable("hv01.avma.test does not resolve to 127.0.0.1 and /etc/hosts is not writable (run as root)")
        with running_kdc(tmp_path_factory.mktemp("realm")) as realm:
            yield realm


@pytest.fixture
def krb_env(kdc: Kdc, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process (client and acceptor) and its children use the test realm; no ticket to start with."""
    for name, value in kdc.env.items():
        monkeypatch.setenv(name, value)
    kdc.kdestroy()
    return {**os.environ, **kdc.env}


@pytest.fixture
def kerberos_endpoint(kdc: Kdc, krb_env: dict[str, str], tmp_path: Path) -> Iterator[WinRMEndpoint]:
    """The demo host over HTTP with message encryption, accepting alice by Kerberos (and no NTLM password)."""
    endpoint = WinRMEndpoint(
        SimHost(load_scenario(demo_scenario())), username=USER, password=os.urandom(16).hex(), keytab=kdc.keytab
    )
    with endpoint:
        yield endpoint
