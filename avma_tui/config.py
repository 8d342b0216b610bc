"""Paths (platformdirs, or AVMA_TUI_HOME) and saved connection profiles — never a password."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

APP_NAME = "avma-tui"
AUTH_KINDS = ("negotiate", "ntlm", "kerberos", "credssp", "basic")


def _root(kind: str) -> Path:
    home = os.environ.get("AVMA_TUI_HOME")
    if home:
        return Path(home) / kind
    import platformdirs

    where: dict[str, Callable[..., Path]] = {
        "config": platformdirs.user_config_path,
        "data": platformdirs.user_data_path,
        "logs": platformdirs.user_log_path,
    }
    return where[kind](APP_NAME, appauthor=False)


def config_dir() -> Path:
    return _root("config")


def data_dir() -> Path:
    return _root("data")


def log_dir() -> Path:
    return _root("logs")


def audit_path() -> Path:
    return data_dir() / "audit" / "audit.jsonl"


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach one host over WinRM. Holds no secret: safe to save as a profile."""

    host: str
    port: int | None = None  # None: 5986 for HTTPS, 5985 for HTTP
    https: bool = True
    auth: str = "negotiate"
    username: str = ""
    ca_cert: str = ""  # a PEM file of CAs to trust; "" uses the system store
    insecure: bool = False  # do not validate the certificate (shown as a warning)
    timeout: float = 30.0  # seconds; bounds every call

    @property
    def effective_port(self) -> int:
        return self.port or (5986 if self.https else 5985)

    @property
    def url(self) -> str:
        scheme = "https" if self.https else "http"
        host = self.host.strip("[]")  # an IPv6 literal may come bracketed ("[::1]") or not ("::1")
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.effective_port}/wsman"


def _profiles_file() -> Path:
    return config_dir() / "profiles.json"


#: A profiles file larger than this is not one the tool wrote (ten profiles are about 3 KB).
PROFILES_MAX_BYTES = 1024 * 1024


def _bad_field(name: str, value: object) -> str | None:
    """Why `value` cannot be profile field `name` (None when it can). Says what is expected, never the value."""
    if name == "host":
        return None if isinstance(value, str) and value.strip() else "host must be a non-empty text"
    if name == "port":
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536)
        return None if ok else "port must be a number from 1 to 65535"
    if name in ("https", "insecure"):
        return None if isinstance(value, bool) else f"{name} must be true or false"
    if name == "auth":
        return None if value in AUTH_KINDS else f"auth must be one of {', '.join(AUTH_KINDS)}"
    if name in ("username", "ca_cert"):
        return None if isinstance(value, str) else f"{name} must be a text"
    if name == "timeout":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")
        return None if ok else "timeout must be a positive number of seconds"
    return None  # a field this version does not know: ignored


def read_profiles() -> tuple[list[ConnectionSettings], list[str]]:
    """Saved profiles, most recent first, and one warning per damaged part of the file.

    A damaged file never raises: unreadable, not JSON (or nested too deep to parse), not a list, an
    entry that is not an object or has a field of the wrong type — each is skipped with a warning,
    and every valid profile is still returned. Warnings name the entry and field, never the value.
    """
    path = _profiles_file()
    try:
        with open(path, "rb") as fh:
            data = fh.read(PROFILES_MAX_BYTES + 1)
    except FileNotFoundError:
        return [], []
    except OSError as err:
        return [], [f"{path}: cannot be read ({err.strerror or err})"]
    if len(data) > PROFILES_MAX_BYTES:
        return [], [f"{path}: larger than {PROFILES_MAX_BYTES // 1024} KiB, not a profiles file; ignored"]
    try:
        raw = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # RecursionError: deeply nested brackets
        return [], [f"{path}: not valid JSON; no saved profiles were read"]
    if not isinstance(raw, list):
        return [], [f"{path}: not a list of profiles; ignored"]
    known = {f.name for f in fields(ConnectionSettings)}
    profiles, warnings = [], []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            warnings.append(f"{path}: profile {number} is not an object; skipped")
            continue
        values = {name: item[name] for name in known if name in item}
        problems = [problem for name in ["host", *values] if (problem := _bad_field(name, values.get(name)))]
        if problems:
            warnings.append(f"{path}: profile {number} skipped: {'; '.join(dict.fromkeys(problems))}")
            continue
        profiles.append(ConnectionSettings(**values))
    return profiles, warnings


def load_profiles() -> list[ConnectionSettings]:
    """The valid saved profiles, most recent first (`read_profiles` also says what was skipped)."""
    return read_profiles()[0]


def save_profile(settings: ConnectionSettings, keep: int = 10) -> None:
    """Put `settings` first in the recent-hosts list (deduplicated by host and port).

    A damaged file is kept beside the new one as `profiles.json.damaged` (its valid profiles carry over).
    """
    profiles, warnings = read_profiles()
    others = [
        p for p in profiles if (p.host.lower(), p.effective_port) != (settings.host.lower(), settings.effective_port)
    ]
    path = _profiles_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    if warnings and path.exists():
        os.replace(path, path.with_name(path.name + ".damaged"))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(p) for p in [settings, *others][:keep]], indent=2), encoding="utf-8")
    os.replace(tmp, path)
