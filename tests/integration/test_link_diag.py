"""``handheld diag link hello`` against the reference station, configured by file and environment."""

from __future__ import annotations

import datetime as dt
import json

from hw_mocks.station import ledger
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from terminal_app.cli import main
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import SHANGHAI, FixedClock
from tests.rigs.station import audit_rows
from tests.util import free_port, write_key_file

KEY = bytes.fromhex("5A5A5A5A000011112222333344445555")
TID = "10000009"


def write_config(tmp_path, port: int, suite: int = 2) -> str:
    key_file = write_key_file(tmp_path / "terminal.key", KEY)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[terminal]
id = "{TID}"
[station]
host = "127.0.0.1"
port = {port}
suite = {suite}
key_file = "{key_file}"
seq_file = "{tmp_path / 'seq'}"
connect_timeout_s = 5
response_timeout_s = 5
[link]
transport = "socket"
""", encoding="utf-8")
    return str(cfg)


def test_hello_prints_round_trip_bytes_and_offset(tmp_path, capsys, monkeypatch):
    db = tmp_path / "station.sqlite"
    ledger.connect(db).close()
    # the station's clock runs two hours ahead: the terminal must learn that offset
    station_clock = FixedClock(at=dt.datetime.now(SHANGHAI) + dt.timedelta(hours=2))
    with StationServer(db, {TID: TerminalKey(TID, 1, KEY)}, clock=station_clock) as server:
        monkeypatch.setenv("HANDHELD_CONFIG", write_config(tmp_path, 1, suite=2))
        # environment beats the file: the file's port 1 and suite 2 are overridden
        monkeypatch.setenv("HANDHELD_STATION__PORT", str(server.port))
        monkeypatch.setenv("HANDHELD_STATION__SUITE", "1")
        assert main(["diag", "link", "hello", "--operator", "0042"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["terminal"] == TID and out["suite"] == 1
    assert out["station"] == f"127.0.0.1:{server.port}" and out["transport"] == "socket"
    assert 0 < out["round_trip_s"] <= out["connect_and_round_trip_s"] < 5
    assert abs(out["clock_offset_s"] - 7200) < 5
    rows = audit_rows(db)
    assert [r[0] for r in rows] == ["in", "out"] and rows[0][3] == MsgType.HELLO
    assert out["bytes_sent"] == len(rows[0][4]) and out["bytes_received"] == len(rows[1][4])
    assert json.loads(rows[0][5])["op"] == "0042"


def test_hello_failure_is_clear_and_nonzero(tmp_path, capsys):
    cfg = write_config(tmp_path, free_port())
    assert main(["--config", cfg, "diag", "link", "hello"]) == 1
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["ok"] is False and out["outcome"] == "not_sent" and out["bytes_sent"] == 0
    assert "Cannot connect" in captured.err


def test_missing_key_file_is_a_configuration_error(tmp_path, capsys):
    cfg = write_config(tmp_path, free_port())
    (tmp_path / "terminal.key").unlink()
    assert main(["--config", cfg, "diag", "link", "hello"]) == 1
    assert "Key file" in capsys.readouterr().err


def test_hello_through_the_mock_modem(tmp_path, capsys, monkeypatch):
    from hw_mocks.modem.device import MockModem

    db = tmp_path / "station.sqlite"
    ledger.connect(db).close()
    with StationServer(db, {TID: TerminalKey(TID, 2, KEY)}) as server, \
            MockModem(dialect="m26", scenario="normal") as modem:
        cfg = write_config(tmp_path, server.port)
        monkeypatch.setenv("HANDHELD_DEVICES__MODEM__URL", modem.path)
        monkeypatch.setenv("HANDHELD_DEVICES__MODEM__DIALECT", "m26")
        assert main(["--config", cfg, "diag", "link", "hello", "--transport", "modem"]) == 0
        assert any(c.upper().startswith("AT+QIOPEN") for c in modem.commands)  # really went through the modem
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["transport"] == "modem"
    rows = audit_rows(db)
    assert out["bytes_sent"] == len(rows[0][4]) and out["bytes_received"] == len(rows[1][4])
