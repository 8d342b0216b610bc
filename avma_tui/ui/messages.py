"""What screens ask of the app. Screens and widgets never call the app back or import `ui.app`.

The app gives each screen what it needs when it creates it (the Session, the audit log, a way to
connect) and listens for these messages, which bubble from the screen to the app. That keeps the
import graph one-way (app → screens → widgets), checked by tests/test_import_contract.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message
from textual.screen import Screen

from avma_tui.hyperv.transport import Credential
from avma_tui.services.session import Session


@dataclass
class DashboardReady(Message):
    """The dashboard is mounted: the app shows what the session knows, or reads the host now."""

    dashboard: Screen[Any]


@dataclass
class FixRequested(Message):
    """Open the fix wizard: `vm_ids` [] means the host; mode is "fix", "key" or "batch"."""

    vm_ids: list[str] = field(default_factory=list)
    mode: str = "fix"


@dataclass
class CredentialsGiven(Message):
    """The admin gave guest credentials: the app keeps them in the session and reads the host again."""

    credential: Credential


@dataclass
class Connected(Message):
    """The connection screen's first read worked: the app opens the dashboard on this session."""

    session: Session
