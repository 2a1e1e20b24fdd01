"""Issue 22 point 6: an operator's PIN reset from the console reaches the terminal through HELLO.

Console action (Flask's test client on the station's own ledger) → the terminal's HELLO to the
reference station over the real GT/1 link → the operators file → log-in with the one-time PIN →
a new own PIN → the one-time PIN refused the second time; the reset applied once only."""

from __future__ import annotations

import json
import logging
import re
from contextlib import closing

import pytest

pytest.importorskip("flask")

from hw_mocks.station.console import app as console  # noqa: E402
from terminal_app.operators import MAX_FAILURES, LoginRefusedError, OperatorStore  # noqa: E402
from terminal_app.services.pin_reset import fetch_pin_resets  # noqa: E402
from tests.integration.test_usecase_rig import Rig  # noqa: E402

PASSWORD = "correct horse 22"


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        yield r


def _reset_on_console(db) -> str:
    app = console.create_app(db)
    app.config["TESTING"] = True
    from hw_mocks.station import ledger
    conn = ledger.connect(db)
    try:
        console.add_user(conn, "sup", "supervisor", PASSWORD, "test")
    finally:
        conn.close()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "sup", "password": PASSWORD, "csrf_token": token})
    page = client.get("/pin-reset").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    page = client.post("/pin-reset", data={"operator": "0007", "csrf_token": token}).get_data(as_text=True)
    console.close(app)
    return re.search(r'id="pinonce".*?<code>(\d{6})</code>', page, re.S).group(1)


def test_console_reset_fetched_by_the_terminal_unlocks_once(rig, tmp_path, caplog):
    ops = OperatorStore(tmp_path / "operators.json")
    ops.set_pin("0007", "王师傅", "1357")
    ops.set_pin("0008", "李师傅", "2468")
    for _ in range(MAX_FAILURES):  # locked out
        with pytest.raises(LoginRefusedError):
            ops.verify("0007", "9999")
    assert ops.is_locked("0007")

    pin = _reset_on_console(rig.db)
    caplog.set_level(logging.DEBUG)
    assert fetch_pin_resets(rig.client, ops, operator="0008", clock=rig.clock) == ["0007"]
    assert not ops.is_locked("0007")
    # the file holds the hash and the id, never the PIN; the logs neither
    text = (tmp_path / "operators.json").read_text(encoding="utf-8")
    assert pin not in text and "$argon2id$" in text
    assert pin not in caplog.text and "$argon2id$" not in caplog.text

    # the old PIN no longer logs in while the reset is pending; the one-time PIN does, once
    with pytest.raises(LoginRefusedError):
        ops.verify("0007", "1357")
    op = ops.verify("0007", pin)
    assert op.id == "0007" and op.must_change
    ops.change_own_pin("0007", "8642")
    assert not ops.verify("0007", "8642").must_change
    with pytest.raises(LoginRefusedError):
        ops.verify("0007", pin)  # second use refused

    # fetched again (the reset is still within its 24 h at the station): applied once only
    assert fetch_pin_resets(rig.client, ops, operator="0008", clock=rig.clock) == []
    assert ops.verify("0007", "8642").name == "王师傅"
    assert json.loads(text)["operators"]["0008"].get("reset") is None  # the other operator untouched


def _hello(rig, **extra):
    from terminal_app.station.client import Request
    from terminal_app.station.messages import MsgType

    return rig.client.call(Request(MsgType.HELLO, {"op": "0008", "app": "t", **extra}))


def test_a_used_reset_is_reported_recorded_once_and_handed_out_no_more(rig, tmp_path):
    """The terminal reports the one-time PINs used on it (HELLO used_resets); the station records
    each use once (insert-only) and stops listing that reset; the report is in the audit trail."""
    import sqlite3

    from hw_mocks.station import ledger
    from tests.integration.test_usecase_rig import TID
    from tests.rigs.station import rows

    ops = OperatorStore(tmp_path / "operators.json")
    ops.set_pin("0007", "王师傅", "1357")
    pin = _reset_on_console(rig.db)
    (rid,) = [r["id"] for r in _hello(rig)["params"]["pin_resets"]]
    assert fetch_pin_resets(rig.client, ops, operator="0007", clock=rig.clock) == ["0007"]
    assert ops.used_resets(rig.clock.now()) == []  # filed, not used: still listed for the other terminals
    assert [r["id"] for r in _hello(rig)["params"]["pin_resets"]] == [rid]
    assert rows(rig.db, "SELECT count(*) FROM pin_reset_uses") == [(0,)]

    assert ops.verify("0007", pin).must_change  # used
    assert ops.used_resets(rig.clock.now()) == [rid]
    # the sync batch's HELLO (the one a terminal sends behind every batch) carries it
    rig.terminal.operators = ops
    report = rig.terminal.unsynced_report([])
    assert report.body["used_resets"] == [rid]
    assert rig.client.call(report)["params"]["pin_resets"] == []
    assert rows(rig.db, "SELECT reset, terminal, operator FROM pin_reset_uses") == [(rid, TID, "0007")]
    # reported again (every HELLO until it expires) and through F2: recorded once, listed no more
    assert fetch_pin_resets(rig.client, ops, operator="0007", clock=rig.clock) == []
    assert _hello(rig)["params"]["pin_resets"] == []
    assert rows(rig.db, "SELECT count(*) FROM pin_reset_uses") == [(1,)]
    # insert-only; the report is in the station's hash-chained trail (its decrypted body)
    with closing(ledger.connect(rig.db)) as conn, pytest.raises(sqlite3.Error, match="never changed"):
        conn.execute("DELETE FROM pin_reset_uses")
    bodies = [b for (b,) in rows(rig.db, "SELECT body FROM audit WHERE direction = 'in' AND msg_type = 1")]
    assert any(rid in (b or "") and "used_resets" in b for b in bodies)
    # an id the station never issued changes nothing; a malformed report is refused
    _hello(rig, used_resets=["deadbeef00"])
    assert rows(rig.db, "SELECT count(*) FROM pin_reset_uses") == [(1,)]
    from terminal_app.errors import HandheldError
    for bad in ("x", ["a b"], ["x" * 33], ["a"] * 51):
        with pytest.raises(HandheldError):
            _hello(rig, used_resets=bad)
