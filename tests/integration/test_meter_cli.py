"""``handheld-mocks meter`` as a process (pty symlink, SIGTERM) and ``handheld diag meter read``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from terminal_app.cli import main
from tests.util import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mock_process(tmp_path):
    procs = []

    def start(*args):
        link = tmp_path / "ttyIR0"
        proc = subprocess.Popen([sys.executable, "-m", "hw_mocks.cli", "meter", "--link", str(link), *args],
                                cwd=ROOT, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        wait_for(lambda: link.is_symlink() or proc.poll() is not None, timeout=10, what="the pty symlink")
        assert proc.poll() is None, proc.stderr.read()
        return proc, link

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        finally:
            proc.stderr.close()


@pytest.mark.parametrize(("standard", "address", "energy"), [
    ("2007", "000012345678", "12345.67"),
    ("1997", "000087654321", "8765.43"),
])
def test_diag_meter_read_finds_address_and_standard(mock_process, capsys, standard, address, energy):
    proc, link = mock_process("--standard", standard, "--baud", "9600", "--reply-delay-ms", "0")
    assert main(["diag", "meter", "read", "--port", str(link), "--di", "00010000", "--baud", "9600"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"address": address, "standard": standard,
                   "readings": {"00010000": {"value": energy, "unit": "kWh"}}}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not link.exists()  # the mock removes its symlink on the way out


def test_diag_meter_read_takes_defaults_from_configuration(mock_process, capsys, tmp_path, monkeypatch):
    _, link = mock_process("--baud", "9600", "--reply-delay-ms", "0")
    config = tmp_path / "handheld.toml"
    config.write_text(f'[devices.ir_meter]\nurl = "{link}"\nbaudrate = 9600\naddress = "000012345678"\n'
                      'standard = "2007"\n', encoding="utf-8")
    monkeypatch.setenv("HANDHELD_CONFIG", str(config))
    assert main(["diag", "meter", "read", "--di", "0001FF00", "00900200"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["address"] == "000012345678" and out["standard"] == "2007"
    assert out["readings"]["0001FF00"]["value"][0] == "12345.67"
    assert out["readings"]["00900200"] == {"value": "85.40", "unit": "元"}


def test_diag_meter_read_silent_meter_is_a_clear_error(mock_process, capsys):
    _, link = mock_process("--scenario", "silent")
    code = main(["diag", "meter", "read", "--port", str(link), "--standard", "2007", "--address", "000012345678",
                 "--retries", "0"])
    assert code == 1
    assert "Aim the IR head" in capsys.readouterr().err


def test_mock_rejects_unknown_scenario(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hw_mocks.cli", "meter", "--link", str(tmp_path / "x"),
                           "--scenario", "nope"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "No meter scenario named nope" in proc.stderr
