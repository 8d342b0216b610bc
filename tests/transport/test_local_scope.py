"""Every operation runs in a local scope (issue 10 item 5).

What this can honestly prove: the loopback endpoint does not execute PowerShell, so it cannot show a
variable vanishing. It proves the client's side of the contract on the wire: every CreatePipeline the
real pypsrp client sends, on one runspace pool, carries UseLocalScope=true for its one command (read
by psrpcore from the PSRP message), and the endpoint refuses a script run in the pool's global scope.
That a variable set in a local scope is invisible to the next pipeline of the same pool is PowerShell's
own semantics (about_Scopes, https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_scopes),
not exercised here.
"""

from __future__ import annotations

from collections.abc import Callable

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from avma_tui.hyperv.operations import script_text
from avma_tui.hyperv.psrp import PsrpTransport
from avma_tui.sim.winrm.server import WinRMEndpoint
from tests.transport.transport_support import PASSWORD, USER

PRINT01 = "3c0a8f2e-5b1d-4c6a-9e47-0d2b7f1a6c0b"


async def test_operations_on_one_pool_each_run_in_a_local_scope(
    endpoint: WinRMEndpoint, connect: Callable[..., PsrpTransport]
) -> None:
    transport = connect(endpoint)
    await transport.run("inventory")
    await transport.run("vm", {"VmId": PRINT01})
    await transport.run("enable_kvp", {"VmId": PRINT01})
    seen = endpoint.pipelines
    assert [op for _, op, _ in seen] == ["inventory", "vm", "enable_kvp"]
    assert len({shell for shell, _, _ in seen}) == 1  # one pool: the case where a global variable would leak
    assert all(scopes == (True,) for _, _, scopes in seen), seen


def test_a_script_in_the_global_scope_is_refused(endpoint: WinRMEndpoint) -> None:
    """The endpoint's side: the same packaged script without UseLocalScope fails, so a regression is caught."""
    with (
        WSMan(endpoint.host, port=endpoint.port, ssl=False, auth="ntlm", username=USER, password=PASSWORD) as wsman,
        RunspacePool(wsman) as pool,
    ):
        ps = PowerShell(pool).add_script(script_text("inventory"))
        ps.invoke()
        assert ps.had_errors
        assert "local scope" in str(ps.streams.error[-1])
    assert endpoint.pipelines[-1][1:] == ("inventory", (None,))
