"""mypy passes on the lower layers (drivers/, offline_queue/) with the strict per-module settings
in setup.cfg ([mypy-drivers.*,offline_queue.*]): every function typed, the seams are Protocols
(offline_queue.link.Link, drivers.serial_port.SerialPort, the *Config protocols), not Any."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_passes_on_drivers_and_offline_queue(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "setup.cfg"),
                          "--cache-dir", str(tmp_path / "mypy-cache"), "drivers", "offline_queue"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "Success: no issues found" in out.stdout


def test_the_lower_layers_are_checked_strictly():
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    strict = cfg["mypy-drivers.*,offline_queue.*"]
    for option in ("disallow_untyped_defs", "disallow_incomplete_defs", "disallow_any_generics"):
        assert strict.getboolean(option), option
