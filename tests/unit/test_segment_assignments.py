"""Segment assignments (表段分配, issue 18 point 4): ROUTE_DOWNLOAD answers a segment only to the
operator it is assigned to now; the station CLI and the assignments file; the terminal's refusal
in Chinese."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from hw_mocks.station import assignments, ledger
from hw_mocks.station.handlers import Station
from terminal_app.errors import ConfigurationError
from terminal_app.services import route
from terminal_app.services.store import LocalStore
from terminal_app.station.client import Request, StationRefusedError
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import SHANGHAI, FixedClock
from tests.rigs.station import TINY_OPERATOR, load_tiny
from ui.i18n import Translator

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)


class InProcessClient:
    def __init__(self, station: Station) -> None:
        self.station, self.seq = station, 0

    def call(self, request: Request) -> dict:
        self.seq += 1
        reply = self.station.process("00000001", self.seq, int(request.msg_type), dict(request.body))
        if reply.error:
            raise StationRefusedError(reply.body["code"], reply.body["msg"], reply.body)
        return reply.body


@pytest.fixture
def station(tmp_path):
    conn = ledger.connect(tmp_path / "station.sqlite")
    load_tiny(conn, 5, operator=None)
    with closing(conn):
        yield Station(conn, FixedClock(at=NOW))


def ask(station: Station, body: dict) -> dict:
    ask.seq = getattr(ask, "seq", 0) + 1  # type: ignore[attr-defined]
    return station.process("00000001", ask.seq, int(MsgType.ROUTE_DOWNLOAD),  # type: ignore[attr-defined]
                           {"page": 1, "page_size": 10, **body}).body


def test_a_segment_is_answered_only_to_the_operator_it_is_assigned_to_now(station):
    conn = station.conn
    refused = ask(station, {"segment": "S1", "op": "0007"})  # never assigned: nobody gets it
    assert (refused["ok"], refused["code"], refused["segment"], refused["op"]) == (False, "E_NOT_ASSIGNED", "S1",
                                                                                   "0007")
    assert assignments.assign(conn, [("S1", "0007")], by="test") == 1
    assert [i["cust"] for i in ask(station, {"segment": "S1", "op": "0007"})["items"]] == ["1001", "1002", "1003"]
    assert ask(station, {"segment": "S1", "op": "1001"})["code"] == "E_NOT_ASSIGNED"
    assert ask(station, {"segment": "S2", "op": "0007"})["code"] == "E_NOT_ASSIGNED"  # per segment
    # taken back and given to another: the latest row holds, the history stays
    assert assignments.assign(conn, [("S1", "1001")], by="test") == 1
    assert ask(station, {"segment": "S1", "op": "0007"})["code"] == "E_NOT_ASSIGNED"
    assert ask(station, {"segment": "S1", "op": "1001"})["ok"] is True
    assert assignments.assign(conn, [("S1", "1001")], by="test") == 0  # already so: nothing written
    assert conn.execute("SELECT operator FROM segment_assignments ORDER BY id").fetchall() == [("0007",), ("1001",)]
    assert assignments.current(conn) == {"S1": "1001", "S2": None}


@pytest.mark.parametrize("op", [None, "", "12345678901", "10a1", 7, "１００１"])
def test_route_download_without_a_valid_operator_is_a_bad_request(station, op):
    assignments.assign(station.conn, [("S1", "0007")], by="test")
    body = {"segment": "S1"} if op is None else {"segment": "S1", "op": op}
    assert ask(station, body)["code"] == "E_BAD_REQUEST"


def test_assignments_are_checked_whole_before_anything_is_written(station):
    conn = station.conn
    for pairs, why in (([("S1", "0007"), ("S9", "0007")], "S9 is not known"),
                       ([("S1", "0007"), ("S2", "12a")], "not 1–8 digits"),
                       ([("S1", "0007"), ("S 2", "0007")], "not a segment number")):
        with pytest.raises(ConfigurationError):
            assignments.assign(conn, pairs, by="test")
        assert conn.execute("SELECT count(*) FROM segment_assignments").fetchone()[0] == 0, why


def test_the_assignments_file(tmp_path, station):
    f = tmp_path / "assign.toml"
    f.write_text('# 表段号 = 操作员号\n[assignments]\n"S1" = "0007"\nS2 = "1001"\n', encoding="utf-8")
    assert assignments.read_file(f) == [("S1", "0007"), ("S2", "1001")]
    for bad in ('[assignments]\nS1 = 7\n', 'S1 = "0007"\n', '[assignments]\nS1 = "0007"\n[other]\n', "[assignments\n",
                b"\xff\xfe"):
        (f.write_bytes if isinstance(bad, bytes) else f.write_text)(bad)  # type: ignore[operator]
        with pytest.raises(ConfigurationError):
            assignments.check(station.conn, assignments.read_file(f))
    f.write_text("[assignments]\n" + "x" * assignments.MAX_FILE_BYTES)
    with pytest.raises(ConfigurationError, match="larger"):
        assignments.read_file(f)
    with pytest.raises(ConfigurationError, match="cannot be read"):
        assignments.read_file(tmp_path / "missing.toml")


def test_station_cli_assigns_from_the_command_line_and_from_a_file(tmp_path):
    db = tmp_path / "station.sqlite"
    with closing(ledger.connect(db)) as conn:
        load_tiny(conn, 2, operator=None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hw_mocks.cli", "station", *args, "--db", str(db)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    listed = cli("assignments")
    assert listed.returncode == 0 and listed.stdout.splitlines() == ["S1\t-", "S2\t-"]
    one = cli("assign", "--segment", "S1", "--operator", "1001")
    assert one.returncode == 0 and one.stdout.splitlines() == ["1 assignment(s) written, 0 unchanged", "S1\t1001",
                                                               "S2\t-"]
    f = tmp_path / "assign.toml"
    f.write_text('[assignments]\nS1 = "1001"\nS2 = "1002"\n')
    both = cli("assign", "--assignments-file", str(f))
    assert both.returncode == 0 and both.stdout.splitlines() == ["1 assignment(s) written, 1 unchanged", "S1\t1001",
                                                                "S2\t1002"]
    f.write_text('[assignments]\nS1 = "2001"\nS7 = "1002"\n')  # S7 unknown: nothing of the file is written
    bad = cli("assign", "--assignments-file", str(f))
    assert bad.returncode != 0 and "S7" in bad.stderr
    assert cli("assignments").stdout.splitlines() == ["S1\t1001", "S2\t1002"]
    assert cli("assign", "--segment", "S1").returncode != 0  # no operator: refused, nothing written
    with closing(ledger.connect(db)) as conn:
        assert conn.execute("SELECT segment, operator, by_user FROM segment_assignments ORDER BY id").fetchall() == [
            ("S1", "1001", "cli"), ("S2", "1002", "cli")]


def test_the_terminal_sends_its_operator_and_says_in_chinese_when_the_segment_is_not_theirs(tmp_path, station):
    assignments.assign(station.conn, [("S1", TINY_OPERATOR)], by="test")
    client = InProcessClient(station)
    clock = FixedClock(at=NOW)
    with LocalStore.open(tmp_path / "store.sqlite") as store:
        with pytest.raises(StationRefusedError) as refused:
            route.download_route(client, store, "S1", clock=clock, operator="1001")
        assert refused.value.code == "E_NOT_ASSIGNED"
        assert store.customers("S1") == []  # nothing of the segment is kept
        shown = Translator("zh_CN").error(refused.value)
        assert shown.startswith("此抄表段在主站没有分配给您。") and "分配给您的操作员号" in shown
        assert "E_NOT_ASSIGNED" not in shown  # the code is for the log
        summary = route.download_route(client, store, "S1", clock=clock, operator=TINY_OPERATOR)
        assert summary.customers == 3
