"""``handheld-mocks modem`` as a real process on a pty, and ``handheld diag modem … status`` against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hw_mocks.link import PtyLink
from terminal_app.cli import main as handheld
from tests.util import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_config(monkeypatch):
    monkeypatch.delenv("HANDHELD_CONFIG", raising=False)
    for name in list(os.environ):
        if name.startswith("HANDHELD_DEVICES__MODEM__"):
            monkeypatch.delenv(name)


GSM_WEAK = {"sim": "ready", "rssi": 5, "dbm": -103, "bars": 1, "registration": "home", "gprs_registration": "home",
            "attached": True, "apn": "", "context": "IP INITIAL", "local_ip": None, "technology": "2G",
            "rsrp": None, "rsrq": None}
# EC200x on LTE: CEREG home, CGREG not registered (not on GSM); bars from RSRP −120 dBm (1 bar)
LTE_WEAK = {**GSM_WEAK, "gprs_registration": "not_registered", "context": "INACTIVE", "technology": "4G",
            "rsrp": -120, "rsrq": -18}


@pytest.mark.parametrize(("dialect", "flag"), [("sim800", "sim800"), ("m26", "m26"), ("ec200", "ec200"),
                                               ("sim800", "auto"), ("m26", "auto"), ("ec200", "auto")])
def test_mock_cli_and_diag_status(tmp_path, capsys, dialect, flag):
    link = tmp_path / "ttyModem"
    proc = subprocess.Popen([sys.executable, "-m", "hw_mocks.cli", "modem", "--link", str(link),
                             "--dialect", dialect, "--scenario", "weak_signal"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(link.exists, timeout=10, what="the mock modem's pty link")
        assert handheld(["diag", "modem", "--port", str(link), "--dialect", flag, "status"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status == {"dialect": dialect, **(LTE_WEAK if dialect == "ec200" else GSM_WEAK)}
        assert handheld(["diag", "modem", "--port", str(link), "--dialect", flag, "--apn", "cmnet", "up"]) == 0
        up = json.loads(capsys.readouterr().out)
        assert up["context"] in ("IP STATUS", "ACTIVE") and up["local_ip"] and up["apn"] == "cmnet"
        assert up["dialect"] == dialect
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"mock modem {dialect} (scenario weak_signal" in err.decode()
    assert not link.exists()  # the mock removed its link on the way out


def test_diag_status_failures_exit_nonzero_with_advice(tmp_path, capsys, monkeypatch):
    assert handheld(["diag", "modem", "--port", str(tmp_path / "nothing"), "status"]) == 1
    err = capsys.readouterr().err
    assert "Cannot open the modem port" in err and "plugged in" in err
    monkeypatch.setenv("HANDHELD_DEVICES__MODEM__COMMAND_TIMEOUT_S", "0.5")
    link = PtyLink()  # a port with a dead modem behind it
    try:
        assert handheld(["diag", "modem", "--port", link.path, "status"]) == 1
    finally:
        link.close()
    err = capsys.readouterr().err
    assert "does not answer AT commands" in err and "baud rate" in err


def test_mock_cli_lists_scenarios(capsys):
    from hw_mocks.cli import main as mocks
    assert mocks(["modem", "--link", "/unused", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("no_sim", "no_coverage", "weak_signal", "searching_then_registered", "attach_refused",
                 "pdp_deact_mid_session", "closed_after_request", "slow_gprs"):
        assert name in out
