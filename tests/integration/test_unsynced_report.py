"""Issue 22: the console's "oldest unsynced entry" comes from the terminal itself — a HELLO
pipelined behind each sync batch reports what stays in its journal unsent (how many, the oldest
capture time), the station keeps the last report per terminal, the 在途资金 view shows it."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from hw_mocks.station import ledger
from hw_mocks.station.console import store as console_store
from tests.integration.test_usecase_rig import Rig


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        r.terminal.download_route("S1")
        r.terminal.sync.report = r.terminal.unsynced_report  # as Terminal.from_settings wires it
        yield r


def transit(rig):
    with contextlib.closing(ledger.connect(rig.db)) as conn:
        console_store.ensure_schema(conn)
        return {t.terminal: t for t in console_store.transit(conn)}


def test_the_terminal_reports_what_stays_unsynced_and_the_console_shows_it(rig):
    t = rig.terminal
    assert transit(rig) == {}  # nothing at the station, nothing reported
    rig.offline()
    first = t.take_payment("1001", 5000)
    rig.clock.advance(dt.timedelta(minutes=7))
    second = t.take_payment("1002", 3000)
    t.sync_now()  # no link: nothing reaches the station
    assert rig.station_rows("SELECT count(*) FROM terminal_reports") == [(0,)]
    rig.online()
    t.sync.max_batch = 1  # one entry per exchange: the report behind the first names the second
    seen = []
    original = t.unsynced_report

    def spy(batch):
        req = original(batch)
        seen.append(([e.txn for e in batch], req.body["unsynced"]))
        return req
    t.sync.report = spy
    t.sync_now()
    entries = {e.txn: e for e in rig.journal.entries()}
    assert seen[0] == ([first.txn], {"count": 1, "oldest": entries[second.txn].captured_at.isoformat()})
    assert seen[-1] == ([second.txn], {"count": 0, "oldest": None})
    (reported,) = rig.station_rows("SELECT terminal, op, oldest, waiting FROM terminal_reports")
    assert reported == (rig.terminal.terminal_id, "0007", None, 0)
    row = transit(rig)[rig.terminal.terminal_id]
    assert (row.cash, row.unsynced_count, row.unsynced_text) == (8000, 0, "-")


def test_entries_left_behind_by_a_broken_sync_are_shown_with_their_age(rig):
    t = rig.terminal
    t.sync.max_batch = 1
    rig.offline()
    t.take_payment("1001", 5000)
    rig.clock.advance(dt.timedelta(minutes=3))
    t.take_payment("1002", 3000)
    rig.online()
    t.sync._fault = lambda point: rig.offline() if point == "settled" else None  # the link drops after one batch
    t.sync_now()
    (waiting,) = rig.journal.open_entries()
    row = transit(rig)[rig.terminal.terminal_id]
    assert (row.cash, row.unsynced_count, row.unsynced) == (5000, 1, waiting.captured_at.isoformat())
    assert row.unsynced_text == f"{waiting.captured_at.isoformat()} (1)"


def test_a_terminal_whose_payments_have_not_arrived_is_listed_from_its_report(rig):
    from terminal_app.station.client import Request, result_body
    from terminal_app.station.messages import MsgType

    (res,) = rig.client.exchange([Request(MsgType.HELLO, {"op": "0007", "app": "t", "unsynced": {
        "count": 2, "oldest": "2026-11-24T08:15:00+08:00"}})])
    result_body(res)
    row = transit(rig)[rig.terminal.terminal_id]
    assert (row.operator, row.cash, row.unsynced_text) == ("0007", 0, "2026-11-24T08:15:00+08:00 (2)")


def test_a_malformed_report_is_refused(rig):
    from terminal_app.station.client import Request, StationRefusedError, result_body
    from terminal_app.station.messages import MsgType

    for bad in ({"count": 1, "oldest": None}, {"count": 0, "oldest": "2026-11-24T10:00:00+08:00"},
                {"count": -1, "oldest": None}, {"count": 1, "oldest": "2026-11-24T10:00:00"}, "x"):
        (res,) = rig.client.exchange([Request(MsgType.HELLO, {"op": "0007", "app": "t", "unsynced": bad})])
        with pytest.raises(StationRefusedError) as e:
            result_body(res)
        assert e.value.code == "E_BAD_REQUEST"
    assert rig.station_rows("SELECT count(*) FROM terminal_reports") == [(0,)]
