"""Issue 22 point 6: an operator's PIN reset from the console reaches the terminal through HELLO.

Console action (Flask's test client on the station's own ledger) → the terminal's HELLO to the
reference station over the real GT/1 link → the operators file → log-in with the one-time PIN →
a new own PIN → the one-time PIN refused the second time; the reset applied once only."""

from __future__ import annotations

import json
import logging
import re

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
