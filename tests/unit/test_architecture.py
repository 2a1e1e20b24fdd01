"""The direction of imports (docs: architecture.md), held by import-linter's contracts.

The contracts live in setup.cfg ([importlinter:contract:*]): layers ui → terminal_app →
(offline_queue | drivers); drivers and the queue take from the core only the error root and the
clock; the queue never imports the station code; drivers take plain values, not the core's
settings or documents; the UI reaches devices, the journal and the station only through the
core; the core never imports the mocks except the simulate launcher; only ui imports urwid;
nothing shipped imports the tests; protocol modules are sans-IO.  This test runs ``lint-imports``
so the README's test command (and CI) enforces them.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contracts() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return [s.split(":", 2)[2] for s in cfg.sections() if s.startswith("importlinter:contract:")]


def test_every_import_contract_is_kept():
    assert LINT_IMPORTS.exists(), "import-linter is in the test extra: bash packaging/bootstrap.sh setup"
    out = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / "setup.cfg")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert f"Contracts: {len(contracts())} kept, 0 broken." in out.stdout, out.stdout[-3000:]


def test_the_contracts_hold_the_rules_of_the_house():
    """Each rule of architecture.md is a contract; dropping one is a visible change here."""
    assert set(contracts()) >= {"layers", "shared-ground", "queue-not-station", "drivers-plain-values",
                                "ui-through-the-core", "backend-not-screens", "core-no-mocks",
                                "lower-no-mocks", "urwid-in-ui", "no-shipped-tests", "sans-io"}


def test_a_broken_rule_fails_the_check(tmp_path):
    """The checker really looks: a driver importing the core's config breaks two contracts."""
    import shutil
    for pkg in ("terminal_app", "drivers", "offline_queue", "ui", "hw_mocks", "tests"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.po", "*.mo"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    port = tmp_path / "drivers" / "serial_port.py"
    port.write_text(port.read_text(encoding="utf-8") + "\nimport terminal_app.config  # noqa\n", encoding="utf-8")
    out = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(tmp_path / "setup.cfg")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(tmp_path)})
    assert out.returncode != 0
    assert "drivers.serial_port -> terminal_app.config" in out.stdout
