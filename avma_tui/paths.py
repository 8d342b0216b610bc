"""Where the packaged assets live: inside the wheel (avma_tui/assets) or, from a source tree, ../assets."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def assets_dir() -> Path:
    packaged = _HERE / "assets"
    return packaged if packaged.is_dir() else _HERE.parent / "assets"


def asset(*parts: str) -> Path:
    return assets_dir().joinpath(*parts)


def demo_scenario() -> Path:
    return asset("scenarios", "demo.toml")
