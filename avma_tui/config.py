"""Paths (platformdirs, or AVMA_TUI_HOME) and saved connection profiles — never a password."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

APP_NAME = "avma-tui"
AUTH_KINDS = ("negotiate", "ntlm", "kerberos", "credssp", "basic")


def _root(kind: str) -> Path:
    home = os.environ.get("AVMA_TUI_HOME")
    if home:
        return Path(home) / kind
    import platformdirs

    return {
        "config": platformdirs.user_config_path,
        "data": platformdirs.user_data_path,
        "logs": platformdirs.user_log_path,
    }[kind](APP_NAME, appauthor=False)


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


def load_profiles() -> list[ConnectionSettings]:
    """Saved profiles, most recent first. A damaged file yields no profiles rather than an error."""
    try:
        raw = json.loads(_profiles_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    known = {f.name for f in fields(ConnectionSettings)}
    profiles = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("host"), str):
            try:
                profiles.append(ConnectionSettings(**{k: v for k, v in item.items() if k in known}))
            except TypeError:
                continue
    return profiles


def save_profile(settings: ConnectionSettings, keep: int = 10) -> None:
    """Put `settings` first in the recent-hosts list (deduplicated by host and port)."""
    others = [
        p
        for p in load_profiles()
        if (p.host.lower(), p.effective_port) != (settings.host.lower(), settings.effective_port)
    ]
    path = _profiles_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(p) for p in [settings, *others][:keep]], indent=2), encoding="utf-8")
    os.replace(tmp, path)
