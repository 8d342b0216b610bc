"""The connection screen: where to connect and as whom, saved profiles, and errors in plain words.

The password lives in the masked field and in the transport only; profiles never hold one
(config.save_profile). Connecting does the first full read, so a host that answers but is not a
Hyper-V host is reported here rather than as an empty dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from avma_tui.config import AUTH_KINDS, ConnectionSettings, read_profiles, save_profile
from avma_tui.hyperv.host import HyperVHost
from avma_tui.services.session import Session
from avma_tui.services.targets import CURRENT_LOGON_AUTHS, remote_user
from avma_tui.ui import safe
from avma_tui.ui.messages import Connected
from avma_tui.ui.workers import describe_error

#: Opens the WinRM transport to a host with a password (tests pass one onto the simulator).
Connector = Callable[[ConnectionSettings, str], HyperVHost]
#: What the app gives the screen: a Session on the host (with the app's audit log), not yet read.
SessionFactory = Callable[[ConnectionSettings, str], Session]


def open_host(settings: ConnectionSettings, password: str) -> HyperVHost:
    """A HyperVHost over WinRM (pypsrp), loaded only when the admin actually connects."""
    from avma_tui.hyperv.psrp import PsrpTransport

    return HyperVHost(PsrpTransport(settings, password))


class FormError(ValueError):
    """A field the admin has to correct; the message names it."""


def settings_from_form(
    host: str, port: str, https: bool, auth: str, user: str, ca_cert: str, insecure: bool, timeout: float
) -> ConnectionSettings:
    host = host.strip()
    if not host:
        raise FormError("Enter the host's name or address.")
    port_number: int | None = None
    if port.strip():
        if not port.strip().isdigit() or not 0 < int(port) < 65536:
            raise FormError("The port must be a number from 1 to 65535.")
        port_number = int(port)
    if insecure and ca_cert.strip():
        raise FormError('Choose a CA file or "do not validate", not both.')
    if ca_cert.strip() and not Path(ca_cert.strip()).is_file():
        raise FormError(f"There is no CA file at {ca_cert.strip()}.")
    return ConnectionSettings(
        host=host,
        port=port_number,
        https=https,
        auth=auth,
        username=user.strip(),
        ca_cert=ca_cert.strip(),
        insecure=insecure,
        timeout=timeout,
    )


def profile_label(settings: ConnectionSettings) -> Content:
    who = f"{settings.username} · " if settings.username else ""
    return safe.assemble(
        (settings.host, "bold"),
        f":{settings.effective_port}  ",
        (f"{who}{settings.auth} · {'HTTPS' if settings.https else 'HTTP'}", "$text-muted"),
    )


class ConnectScreen(Screen[None]):
    """Connect to a Hyper-V host over WinRM; posts `Connected` once the first read worked."""

    # The fields have the focus, so q is a letter here: the footer names the way out (the app's ctrl+c binding).
    BINDINGS = [Binding("ctrl+c", "app.quit", "Quit", key_display="^c", priority=True, id="connect-quit-key")]

    def __init__(
        self, open_session: SessionFactory, settings: ConnectionSettings | None = None, *, password: str = ""
    ) -> None:
        super().__init__()
        self.open_session = open_session
        self.initial = settings
        self._given_password = password  # from AVMA_PASSWORD: connect at once
        self._failed: tuple[ConnectionSettings, str] | None = None  # the last failed attempt, for Run checks
        self.profiles, self.profile_warnings = read_profiles()

    def compose(self) -> ComposeResult:
        start = self.initial or ConnectionSettings(host="")
        with Vertical(id="connect-form") as form:
            form.border_title = "Connect to a Hyper-V host"
            with Grid(id="fields"):
                yield Label("Host")
                yield Input(start.host, placeholder="hv01.contoso.local", id="host", compact=True)
                yield Label("Port")
                yield Input(str(start.port or ""), placeholder="5986 / 5985", id="port", compact=True)
                yield Label("Transport")
                yield Select(
                    [("HTTPS", True), ("HTTP (message encryption)", False)],
                    value=start.https,
                    allow_blank=False,
                    id="https",
                    compact=True,
                )
                yield Label("Auth")
                yield Select(
                    [(kind, kind) for kind in AUTH_KINDS], value=start.auth, allow_blank=False, id="auth", compact=True
                )
                yield Label("User")
                yield Input(start.username, placeholder="CONTOSO\\admin", id="user", compact=True)
                yield Label("Password")
                yield Input(password=True, placeholder="kept in memory only", id="password", compact=True)
                yield Label("CA file")
                yield Input(start.ca_cert, placeholder="PEM file (empty: system store)", id="ca", compact=True)
                yield Label("")
                yield Checkbox("Do not validate the certificate", start.insecure, id="insecure", compact=True)
            yield Static(
                "⚠ Without validation anyone on the path can pose as this host and read the password.",
                id="insecure-warning",
            )
            with Horizontal(id="connect-buttons"):
                yield Button("Connect", variant="primary", id="connect", compact=True)
                # After a failed connection: the read-only checks of `avma-tui doctor`, shown here.
                yield Button("Run checks", id="run-checks", compact=True)
            yield Static(id="connect-status")
            yield Static(Content.styled("ctrl+c quits", "$text-muted"), id="connect-quit")
            yield Static(id="connect-checks")
        with Vertical(id="profiles-box") as box:
            box.border_title = "Recent hosts"
            yield OptionList(*(Option(profile_label(p), id=str(i)) for i, p in enumerate(self.profiles)), id="profiles")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#run-checks").display = False
        self.query_one("#insecure-warning").display = self.query_one("#insecure", Checkbox).value
        self.query_one("#profiles-box").display = bool(self.profiles)
        target = "#password" if self.initial else "#host"
        self.query_one(target, Input).focus()
        if self.profile_warnings:  # a damaged profiles file: the valid profiles are listed, the rest named here
            more = len(self.profile_warnings) - 3
            lines = [safe.clean(warning, limit=300) for warning in self.profile_warnings[:3]]
            text = "\n".join(lines) + (f"\n…and {more} more" if more > 0 else "")
            self.notify(text, title="Saved profiles", severity="warning", markup=False, timeout=15)
        if self.initial and self._given_password:
            self.query_one("#password", Input).value, self._given_password = self._given_password, ""
            self._submit()

    @on(Checkbox.Changed, "#insecure")
    def _insecure_changed(self, event: Checkbox.Changed) -> None:
        self.query_one("#insecure-warning").display = event.value

    @on(OptionList.OptionSelected, "#profiles")
    def _profile_chosen(self, event: OptionList.OptionSelected) -> None:
        profile = self.profiles[int(event.option.id or 0)]
        self.query_one("#host", Input).value = profile.host
        self.query_one("#port", Input).value = str(profile.port or "")
        self.query_one("#https", Select).value = profile.https
        self.query_one("#auth", Select).value = profile.auth
        self.query_one("#user", Input).value = profile.username
        self.query_one("#ca", Input).value = profile.ca_cert
        self.query_one("#insecure", Checkbox).value = profile.insecure
        self.query_one("#password", Input).focus()

    @on(Button.Pressed, "#connect")
    @on(Input.Submitted)
    def _submit(self) -> None:
        try:
            settings = self._settings()
        except FormError as err:
            self._status(Content.styled(str(err), "$text-error"))
            return
        self._status(safe.assemble("Connecting to ", (settings.url, "bold"), _as_whom(settings), "…"))
        self.query_one("#connect", Button).disabled = True
        self.query_one("#run-checks").display = False
        self.query_one("#connect-checks", Static).update("")
        self._connect(settings, self.query_one("#password", Input).value)

    def _settings(self) -> ConnectionSettings:
        timeout = self.initial.timeout if self.initial else ConnectionSettings(host="").timeout
        return settings_from_form(
            host=self.query_one("#host", Input).value,
            port=self.query_one("#port", Input).value,
            https=bool(self.query_one("#https", Select).value),
            auth=str(self.query_one("#auth", Select).value),
            user=self.query_one("#user", Input).value,
            ca_cert=self.query_one("#ca", Input).value,
            insecure=self.query_one("#insecure", Checkbox).value,
            timeout=timeout,
        )

    def _status(self, content: Content) -> None:
        self.query_one("#connect-status", Static).update(content)

    # An explicit description: by default Textual describes a worker with the repr of its arguments,
    # which here include the password.
    @work(exclusive=True, group="connect", exit_on_error=False, description="connect to the host")
    async def _connect(self, settings: ConnectionSettings, password: str) -> None:
        session: Session | None = None
        try:
            session = self.open_session(settings, password)
            host = (await session.refresh()).inventory.host
        except Exception as err:  # every failure is shown here, in plain words, never as a traceback
            problem = describe_error(err)
        else:
            if host.hyperv:
                save_profile(settings)
                self.post_message(Connected(session))
                return
            problem = f"{host.fqdn} is not a Hyper-V host: the Hyper-V role is not installed."
        if session is not None:
            await _close_quietly(session)
        self._status(safe.assemble(("Could not connect: ", "bold $text-error"), safe.text(problem, limit=400)))
        self.query_one("#connect", Button).disabled = False
        self._failed = (settings, password)
        self.query_one("#run-checks").display = True

    @on(Button.Pressed, "#run-checks")
    def _run_checks(self) -> None:
        if self._failed is not None:
            self.query_one("#run-checks", Button).disabled = True
            self._checks(*self._failed)

    @work(exclusive=True, group="connect", exit_on_error=False, description="run the connection checks")
    async def _checks(self, settings: ConnectionSettings, password: str) -> None:
        """`avma-tui doctor` for the connection that failed; each line appears as its check finishes."""
        from avma_tui.services import doctor

        lines: list[Content] = []
        shown = self.query_one("#connect-checks", Static)

        def report(check: doctor.Check) -> None:
            lines.append(safe.text(check.line(), _CHECK_STYLE[check.status], limit=300))
            shown.update(Content("\n").join(lines))

        host = self.open_session(settings, password).host
        try:
            await doctor.run(host, settings=settings, report=report)
        except Exception as err:  # the checks themselves failed: say so, in place
            report(doctor.fail("checks", describe_error(err), "run `avma-tui doctor` in a terminal"))
        finally:
            await host.close()
            self.query_one("#run-checks", Button).disabled = False


_CHECK_STYLE = {"ok": "$text-success", "fail": "$text-error", "skip": "$text-muted"}


def _as_whom(settings: ConnectionSettings) -> str:
    """as you: alice@CORP.EXAMPLE — when no user is given and the current logon will be used."""
    if settings.username or settings.auth not in CURRENT_LOGON_AUTHS:
        return ""
    who = remote_user(settings)
    return f" as you: {who}" if who else " as you (no Kerberos ticket found: run kinit, or enter a user)"


async def _close_quietly(session: Session) -> None:
    try:
        await session.close()
    except Exception:  # the connection already failed; its close error adds nothing
        return
