"""`report` text at a terminal fits its width; into a file or a pipe nothing is cut (issue 13 item 13);
the dashboard header and the report count errors and warnings with one function (item 17)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from avma_tui.paths import asset
from avma_tui.services.report import _HEADINGS, fit_columns, render_text
from avma_tui.services.session import Session
from avma_tui.services.summary import tally
from avma_tui.services.targets import open_simulated

GUEST = {"AVMA_GUEST_PASSWORD": "Passw0rd!"}
ARGS = ["report", "--demo", "--guest-user", "Administrator"]


def report_in_a_pty(columns: int) -> str:
    """`avma-tui report --demo` with stdout on a pseudo-terminal `columns` wide."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | GUEST
    proc = subprocess.Popen([sys.executable, "-m", "avma_tui", *ARGS], stdout=follower, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 1  # the demo has error findings
    return out.decode("utf-8").replace("\r\n", "\n")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("columns", [80, 120])
def test_at_a_terminal_every_line_fits(columns: int) -> None:
    out = report_in_a_pty(columns)
    lines = out.splitlines()
    assert all(len(line) <= columns for line in lines), max(lines, key=len)
    header = next(line for line in lines if line.startswith("NAME"))
    assert "ACTIVATION" in header and "WORST FINDING" in header  # what matters never leaves
    rows = lines[lines.index(header) + 1 :][:24]
    assert any("error: GUEST_EVALUATION" in row for row in rows)  # the finding column is whole at 80
    if columns == 80:
        assert "left out to fit 80 columns" in out


def test_into_a_pipe_nothing_is_cut() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "avma_tui", *ARGS],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, **GUEST, "COLUMNS": "80"},
        timeout=60,
    )
    lines = proc.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("NAME")))
    rows = lines[header + 1 : lines.index("", header)]
    assert "…" not in "\n".join(rows)
    row = next(r for r in rows if r.startswith("TEST-EVAL01"))
    assert "Windows Server 2022 Datacenter Evaluation" in row and "(Evaluation)" in row
    assert any("Windows Server 2022 Datacenter: Azure Edition" in r for r in rows)
    assert all(h in lines[header] for h in _HEADINGS)


def test_fit_columns_cuts_the_guest_os_first_and_drops_kvp_before_the_finding() -> None:
    natural = [11, 7, 45, 26, 37, 33]
    assert fit_columns(natural, None) == natural
    assert fit_columns(natural, 200) == natural
    wide = fit_columns(natural, 120)
    assert wide[0] == 11 and wide[5] == 33 and None not in wide and wide[2] == 20
    narrow = fit_columns(natural, 80)
    assert narrow[3] is None and narrow[1] is None  # KVP, then state, leave
    assert narrow[0] == 11 and narrow[5] == 33 and narrow[4] is not None
    assert sum(w for w in narrow if w is not None) + 2 * (sum(w is not None for w in narrow) - 1) <= 80


async def test_dashboard_and_report_count_the_same() -> None:
    from avma_tui.ui.widgets.host_summary import summary_text

    session = Session(open_simulated(asset("scenarios", "demo.toml")))
    diagnosis = await session.refresh()
    await session.close()
    counts = tally(diagnosis)
    header = summary_text(diagnosis, "").plain
    text = render_text(diagnosis)
    for words in (f"{counts.vms_with_errors} with errors", f"{counts.vms_with_warnings} with warnings"):
        assert words in header and words in text
    assert f"{counts.on_avma} on AVMA" in header and f"{counts.on_avma} on AVMA" in text
