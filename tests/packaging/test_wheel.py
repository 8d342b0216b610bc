"""An installed (non-editable) wheel, run from outside the source tree, finds its assets."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this tree, unpacked into a fresh target directory (dependencies from this venv)."""
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("avma_tui-*.whl")
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "avma_tui/assets/catalog.toml" in names
        assert "avma_tui/assets/scenarios/demo.toml" in names
        assert "avma_tui/hyperv/scripts/inventory.ps1" in names
        assert any(n.startswith("avma_tui/hyperv/scripts/lib/") and n.endswith(".ps1") for n in names)
        archive.extractall(target)
    return target


def _run(installed: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(installed), "AVMA_TUI_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, "-m", "avma_tui", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_installed_wheel_uses_its_own_assets(installed: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    code = (
        "import avma_tui.paths as a; from avma_tui.hyperv.operations import OPERATIONS, script_text; "
        "[script_text(op) for op in OPERATIONS]; print(a.__file__); print(a.assets_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    module_file, assets = out.stdout.splitlines()
    assert Path(module_file).is_relative_to(installed)
    assert Path(assets) == installed / "avma_tui" / "assets"


@pytest.mark.slow
def test_installed_wheel_runs_keys_and_the_demo_report(installed: Path, tmp_path: Path) -> None:
    keys = _run(installed, tmp_path, "keys")
    assert keys.returncode == 0, keys.stderr
    assert "4GF74" in keys.stdout  # Windows Server 2019 Standard AVMA key, from the packaged catalog
    report = _run(installed, tmp_path, "report", "--demo", "--format", "json")
    assert report.returncode in (0, 1), report.stderr
    assert '"vms"' in report.stdout
