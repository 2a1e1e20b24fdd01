"""The station's card rules added with the card application (docs/protocol.md 0401/0403):
``resume`` gives a pending authorization a new MAC for a new challenge without moving money or
counts; a re-issue without money carries the meter's last purchase; the key holder's MACs."""

from __future__ import annotations

import pytest

import tests.unit.test_station_handlers as sh
from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
from terminal_app.errors import ConfigurationError
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import iso

HOLDER = CardKeyHolder(DEMO_MASTER_KEY)
CH1, CH2 = "0011223344556677", "8899aabbccddeeff"


@pytest.fixture
def h(tmp_path):
    harness = sh.Harness(tmp_path / "card.sqlite", fillers=0, card_mac=HOLDER)
    try:
        yield harness
    finally:
        harness.conn.close()


OLD_CARD, NEW_CARD = "1003000000000001", "1003000000000002"


def authorize(h, amount=5000, count=3, challenge=CH1, serial=OLD_CARD):
    body = {"txn": h.txn(), "cust": "1003", "meter": "A1003", "amount": amount, "card_count": count,
            "serial": serial, "challenge": challenge, "at": iso(sh.NOW)}
    return body, h.send(MsgType.CARD_AUTHORIZE, body)


def resume(h, auth, count=3, challenge=CH2, terminal=sh.T1):
    body = {"txn": h.txn(terminal), "cust": "1003", "meter": "A1003", "card_count": count, "serial": OLD_CARD,
            "challenge": challenge, "resume": auth, "at": iso(sh.NOW)}
    return h.send(MsgType.CARD_AUTHORIZE, body, terminal)


def test_resume_gives_a_new_mac_for_the_same_purchase_and_moves_nothing(h):
    body, auth = authorize(h)
    assert auth["mac"] == HOLDER("1003", "A1003", 5000, 4, CH1)
    before = sh.snapshot(h.db)["card_purchases"]
    again = resume(h, body["txn"])
    assert again["mac"] == HOLDER("1003", "A1003", 5000, 4, CH2) != auth["mac"]
    assert (again["amount"], again["purchase_count"], again["receipt"], again["resumes"]) == \
        (5000, 4, auth["receipt"], body["txn"])
    snap = sh.snapshot(h.db)
    assert snap["card_purchases"] == before  # no new purchase, no money
    assert h.conn.execute("SELECT purchase_count FROM meters WHERE asset = 'A1003'").fetchone()[0] == 4
    # a card that already holds the purchase must be confirmed, not written again
    assert resume(h, body["txn"], count=4)["code"] == "E_CARD_COUNT"
    # only the authorizing terminal, only while unconfirmed
    assert resume(h, body["txn"], terminal=sh.T2)["code"] == "E_BAD_REQUEST"  # another terminal's txn
    conf = h.send(MsgType.CARD_CONFIRM, {"txn": h.txn(), "auth": body["txn"], "purchase_count": 4, "at": iso(sh.NOW)})
    assert conf["ok"]
    assert resume(h, body["txn"])["code"] == "E_NOT_ALLOWED"
    assert resume(h, f"{sh.T1}-999")["code"] == "E_NOT_ALLOWED"  # unknown authorization


def test_reconcile_counts_a_resumed_purchase_once(h):
    body, auth = authorize(h)
    resume(h, body["txn"])
    rec = h.send(MsgType.RECONCILE, {"day": "2026-11-24", "count": 1, "amount": 5000, "txns": [body["txn"]]})
    assert rec["match"] is True and rec["station"] == {"count": 1, "amount": 5000}


def test_reissue_without_money_carries_the_last_purchase(h):
    body, auth = authorize(h, amount=7000)
    h.send(MsgType.CARD_CONFIRM, {"txn": h.txn(), "auth": body["txn"], "purchase_count": 4, "at": iso(sh.NOW)})
    re = h.send(MsgType.CARD_REISSUE, {"txn": h.txn(), "cust": "1003", "meter": "A1003", "amount": 0,
                                       "card_count": 0, "serial": NEW_CARD, "challenge": CH2, "at": iso(sh.NOW)})
    assert (re["amount"], re["card_amount"], re["purchase_count"]) == (0, 7000, 4)
    assert re["mac"] == HOLDER("1003", "A1003", 7000, 4, CH2)
    assert len(sh.snapshot(h.db)["card_purchases"]) == 1  # no money, no ledger row, nothing to confirm


def test_key_holder_needs_an_aes_key(tmp_path):
    with pytest.raises(ConfigurationError):
        CardKeyHolder(b"short")
    f = tmp_path / "master.key"
    f.write_text(DEMO_MASTER_KEY.hex() + "\n")
    f.chmod(0o600)
    assert CardKeyHolder.from_file(f)("1003", "A1003", 1, 1, CH1) == HOLDER("1003", "A1003", 1, 1, CH1)
    f.write_text("not hex")
    with pytest.raises(ConfigurationError):
        CardKeyHolder.from_file(f)


def test_card_master_key_file_must_be_private(tmp_path):
    f = tmp_path / "card-master.key"
    f.write_text("00112233445566778899aabbccddeeff\n", encoding="ascii")
    f.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        CardKeyHolder.from_file(f)
    f.chmod(0o600)
    holder = CardKeyHolder.from_file(f)
    assert holder.card_key("0100000001", "M1") == CardKeyHolder(bytes.fromhex(f.read_text())).card_key(
        "0100000001", "M1")
    assert "0011223344" not in repr(holder)


def test_after_a_reissue_the_old_card_cannot_be_sold_to(h):
    # 补卡 moves the meter to the new card: money loaded onto the old one would never be credited
    body, auth = authorize(h, amount=7000)
    h.send(MsgType.CARD_CONFIRM, {"txn": h.txn(), "auth": body["txn"], "purchase_count": 4, "at": iso(sh.NOW)})
    assert h.send(MsgType.CARD_QUERY, {"cust": "1003", "meter": "A1003"})["card_serial"] == OLD_CARD
    h.send(MsgType.CARD_REISSUE, {"txn": h.txn(), "cust": "1003", "meter": "A1003", "amount": 0,
                                  "card_count": 0, "serial": NEW_CARD, "challenge": CH2, "at": iso(sh.NOW)})
    assert h.send(MsgType.CARD_QUERY, {"cust": "1003", "meter": "A1003"})["card_serial"] == NEW_CARD
    before = sh.snapshot(h.db)
    _, old = authorize(h, amount=3000, count=4, serial=OLD_CARD)
    assert old["code"] == "E_CARD_REPLACED" and old["current"] == NEW_CARD
    assert sh.snapshot(h.db)["card_purchases"] == before["card_purchases"]  # no money moved
    _, new = authorize(h, amount=3000, count=4, serial=NEW_CARD)
    assert new["ok"] and new["purchase_count"] == 5


def test_a_card_request_without_its_serial_is_refused(h):
    body = {"txn": h.txn(), "cust": "1003", "meter": "A1003", "amount": 5000, "card_count": 3,
            "challenge": CH1, "at": iso(sh.NOW)}
    assert h.send(MsgType.CARD_AUTHORIZE, body)["code"] == "E_BAD_REQUEST"
