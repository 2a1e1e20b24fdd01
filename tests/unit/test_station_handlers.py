"""Business rules of the reference station, called directly (no network): payment allocation,
idempotency, replay, reversal rules, TXN_STATUS, RECONCILE, paging, dunning and card rules."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest

from hw_mocks.station import ledger
from hw_mocks.station.handlers import Limits, Station
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import SHANGHAI, FixedClock, iso
from tests.rigs.station import load_tiny, snapshot

T1 = "00000001"
T2 = "00000002"
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)


class Harness:
    def __init__(self, db, fillers: int = 23, card_mac=None) -> None:
        self.db = db
        self.conn = ledger.connect(db)
        load_tiny(self.conn, fillers)
        self.clock = FixedClock(at=NOW)
        self.station = Station(self.conn, self.clock, Limits(page_size_max=10), card_mac=card_mac)
        self.seqs = {T1: itertools.count(1), T2: itertools.count(1)}
        self.txns = itertools.count(1)

    def send(self, msg_type, body, terminal=T1, seq=None):
        reply = self.station.process(terminal, next(self.seqs[terminal]) if seq is None else seq, msg_type, body)
        assert reply.body["ok"] is (not reply.error)
        return reply.body

    def txn(self, terminal=T1):
        return f"{terminal}-{next(self.txns)}"

    def pay(self, cust, amount, terminal=T1, txn=None):
        body = {"txn": txn or self.txn(terminal), "cust": cust, "amount": amount, "method": "cash",
                "at": iso(self.clock.now())}
        return body, self.send(MsgType.PAYMENT, body, terminal)

    def bills(self, cust):
        return self.conn.execute("SELECT period, paid_amount, paid_penalty FROM bills WHERE cust = ? ORDER BY period",
                                 (cust,)).fetchall()

    def balance(self, cust):
        return self.conn.execute("SELECT balance FROM customers WHERE cust = ?", (cust,)).fetchone()[0]


@pytest.fixture
def h(ledger_target):  # every rule on SQLite and on PostgreSQL
    harness = Harness(ledger_target)
    try:
        yield harness
    finally:
        harness.conn.close()


def test_payment_goes_to_oldest_period_penalty_first_then_amount(h):
    # on 2026-11-24 1001 owes 2026-09: 10000 + 300 penalty, 2026-10: 8000 + 112. Pay 10500:
    # 2026-09 penalty 300, charge 10000 (10300 in all); 200 left → 2026-10 penalty 112, charge 88.
    _, r = h.pay("1001", 10500)
    assert r["applied"] == [{"period": "2026-09", "amount": 10300, "penalty": 300},
                            {"period": "2026-10", "amount": 200, "penalty": 112}]
    assert r["to_balance"] == 0 and r["balance"] == 0 and r["penalty_day"] == "2026-11-24"
    assert r["arrears"] == 8000 - 88
    assert h.bills("1001") == [("2026-09", 10000, 300), ("2026-10", 88, 112)]
    assert len(r["receipt"]) == 16 and r["receipt"].startswith("20261124")


def test_overpayment_goes_to_the_prepayment_balance(h):
    owed = 10000 + 300 + 8000 + 112
    _, r = h.pay("1001", owed + 1234)
    assert r["to_balance"] == 1234 and r["balance"] == 1234 and r["arrears"] == 0
    bq = h.send(MsgType.BILL_QUERY, {"cust": "1001"})
    assert bq["arrears"] == [] and bq["balance"] == 1234
    # prepayment (预收) by a customer with no arrears adds to the balance it already has
    _, r2 = h.pay("1002", 700)
    assert r2["applied"] == [] and r2["balance"] == 500 + 700


def test_same_txn_same_body_returns_the_original_response_and_applies_once(h):
    body, first = h.pay("1001", 5000)
    h.clock.advance(dt.timedelta(minutes=5))
    again = h.send(MsgType.PAYMENT, body)
    assert again == first  # same receipt number, balances and time
    assert h.conn.execute("SELECT count(*) FROM payments").fetchone()[0] == 1
    assert h.bills("1001")[0] == ("2026-09", 4700, 300)


def test_same_txn_different_body_is_a_conflict_without_effect(h):
    body, _ = h.pay("1001", 5000)
    before = snapshot(h.db)
    r = h.send(MsgType.PAYMENT, {**body, "amount": 6000})
    assert r["code"] == "E_TXN_CONFLICT"
    # the same txn reused for another message type is a conflict too
    r2 = h.send(MsgType.REVERSAL, {"txn": body["txn"], "orig": body["txn"], "reason": "x", "at": body["at"]})
    assert r2["code"] == "E_TXN_CONFLICT"
    after = snapshot(h.db)
    assert {k: v for k, v in after.items() if k != "terminal_seq"} == \
           {k: v for k, v in before.items() if k != "terminal_seq"}


def test_replayed_seq_is_refused_with_last_seq_and_changes_nothing(h):
    h.pay("1001", 100, txn=f"{T1}-1")  # seq 1
    h.send(MsgType.HELLO, {"op": "op1", "app": "t"}, seq=7)
    before = snapshot(h.db)
    for seq in (7, 3):
        r = h.send(MsgType.PAYMENT, {"txn": f"{T1}-99", "cust": "1001", "amount": 100, "method": "cash",
                                     "at": iso(NOW)}, seq=seq)
        assert r["code"] == "E_REPLAY" and r["last_seq"] == 7
    assert snapshot(h.db) == before
    # another terminal has its own counter
    assert h.send(MsgType.HELLO, {"op": "op2", "app": "t"}, terminal=T2, seq=1)["ok"]


def test_reversal_restores_bills_and_balance_exactly(h):
    before = snapshot(h.db)
    body, _ = h.pay("1001", 20000)  # all arrears (18412) and 1588 to balance
    assert h.balance("1001") == 1588
    r = h.send(MsgType.REVERSAL, {"txn": h.txn(), "orig": body["txn"], "reason": "wrong customer", "at": iso(NOW)})
    assert r["orig"] == body["txn"] and r["balance"] == 0 and r["arrears"] == 18412
    after = snapshot(h.db)
    assert after["customers"] == before["customers"]
    # the paid parts are restored; the penalty accrued through the payment day was carried forward
    # exactly (on the charge of that day), so every later day's penalty is the same as without it
    cols = lambda rows: [(r[0], r[1], r[2], r[4], r[5]) for r in rows]  # noqa: E731 (no accrual columns)
    assert cols(after["bills"]) == cols(before["bills"])
    assert h.send(MsgType.BILL_QUERY, {"cust": "1001"})["arrears"][0] == \
        {"period": "2026-09", "amount": 10000, "penalty": 300, "due": "2026-10-25",
         "accrual": {"basis": 10000, "accrued": "300", "through": "2026-11-24", "paid": 0}}
    h.clock.advance(dt.timedelta(days=10))
    later = h.send(MsgType.BILL_QUERY, {"cust": "1001"})["arrears"]
    assert [(a["penalty"]) for a in later] == [400, 192]  # 40 and 24 days: as if never paid


def test_reversal_refused_twice_for_another_terminal_and_on_the_next_day(h):
    body, _ = h.pay("1001", 3000)
    other = h.send(MsgType.REVERSAL, {"txn": h.txn(T2), "orig": body["txn"], "reason": "x", "at": iso(NOW)},
                   terminal=T2)
    assert other["code"] == "E_NOT_ALLOWED"
    ok = h.send(MsgType.REVERSAL, {"txn": h.txn(), "orig": body["txn"], "reason": "x", "at": iso(NOW)})
    assert ok["ok"]
    twice = h.send(MsgType.REVERSAL, {"txn": h.txn(), "orig": body["txn"], "reason": "x", "at": iso(NOW)})
    assert twice["code"] == "E_NOT_ALLOWED" and "already reversed" in twice["msg"]

    body2, _ = h.pay("1001", 3000)
    bills = h.bills("1001")
    # one minute after midnight Asia/Shanghai: the business day has closed
    h.clock.at = dt.datetime(2026, 11, 25, 0, 1, tzinfo=SHANGHAI)
    late = h.send(MsgType.REVERSAL, {"txn": h.txn(), "orig": body2["txn"], "reason": "x",
                                     "at": iso(h.clock.now())})
    assert late["code"] == "E_NOT_ALLOWED" and "2026-11-24" in late["msg"]
    assert h.bills("1001") == bills
    unknown = h.send(MsgType.REVERSAL, {"txn": h.txn(), "orig": f"{T1}-424242", "reason": "x", "at": iso(NOW)})
    assert unknown["code"] == "E_NOT_ALLOWED"


def test_reversal_refused_when_its_prepayment_was_spent(h):
    body, _ = h.pay("1002", 1000)  # no arrears: all to balance (500 → 1500)
    h.conn.execute("UPDATE customers SET balance = 400 WHERE cust = '1002'")  # spent on a card purchase, say
    r = h.send(MsgType.REVERSAL, {"txn": h.txn(), "orig": body["txn"], "reason": "x", "at": iso(NOW)})
    assert r["code"] == "E_NOT_ALLOWED" and h.balance("1002") == 400


def test_txn_status_applied_rejected_unknown(h):
    good, _ = h.pay("1001", 100)
    bad_txn = h.txn()
    r = h.send(MsgType.PAYMENT, {"txn": bad_txn, "cust": "9999", "amount": 100, "method": "cash", "at": iso(NOW)})
    assert r["code"] == "E_UNKNOWN_CUSTOMER"
    over = h.txn()
    r = h.send(MsgType.PAYMENT, {"txn": over, "cust": "1001", "amount": Limits().payment_max + 1,
                                 "method": "cash", "at": iso(NOW)})
    assert r["code"] == "E_LIMIT"
    never = h.txn()
    foreign = f"{T2}-1"
    h.send(MsgType.HELLO, {"op": "x", "app": "y"}, terminal=T2)
    h.pay("1002", 100, terminal=T2, txn=foreign)
    st = h.send(MsgType.TXN_STATUS, {"txns": [good["txn"], bad_txn, over, never, foreign]})
    assert st["status"] == {good["txn"]: "applied", bad_txn: "rejected", over: "rejected", never: "unknown",
                            foreign: "unknown"}  # another terminal's txns are not disclosed


def test_txn_must_carry_the_senders_terminal_id(h):
    r = h.send(MsgType.PAYMENT, {"txn": f"{T2}-5", "cust": "1001", "amount": 100, "method": "cash", "at": iso(NOW)})
    assert r["code"] == "E_BAD_REQUEST"
    assert h.conn.execute("SELECT count(*) FROM txns").fetchone()[0] == 0


@pytest.mark.parametrize("patch, field", [
    ({"amount": 0}, "amount"), ({"amount": "100"}, "amount"), ({"amount": True}, "amount"),
    ({"method": "cheque"}, "method"), ({"at": "2026-11-24T10:00:00"}, "at"), ({"at": "yesterday"}, "at"),
    ({"cust": ""}, "cust"), ({"cust": "10 01"}, "cust"),
])
def test_bad_payment_fields_are_refused_with_the_field_named(h, patch, field):
    body = {"txn": h.txn(), "cust": "1001", "amount": 100, "method": "cash", "at": iso(NOW), **patch}
    r = h.send(MsgType.PAYMENT, body)
    assert r["code"] == "E_BAD_REQUEST" and f'"{field}"' in r["msg"]
    assert h.bills("1001")[0] == ("2026-09", 0, 0)


def test_reconcile_match_and_mismatch(h):
    a, ra = h.pay("1001", 1000)
    b, rb = h.pay("1002", 2500)
    c, _ = h.pay("1001", 700)
    h.send(MsgType.REVERSAL, {"txn": h.txn(), "orig": c["txn"], "reason": "x", "at": iso(NOW)})
    ok = h.send(MsgType.RECONCILE, {"day": "2026-11-24", "count": 2, "amount": 3500, "txns": [a["txn"], b["txn"]]})
    assert ok["match"] is True and ok["station"] == {"count": 2, "amount": 3500}
    assert ok["reversed"] == {"count": 1, "amount": 700} and ok["missing"] == [] and ok["extra"] == []
    # the terminal lists a payment the station never got, and forgot one the station has
    ghost = f"{T1}-777"
    bad = h.send(MsgType.RECONCILE, {"day": "2026-11-24", "count": 2, "amount": 1000 + 400,
                                     "txns": [a["txn"], ghost]})
    assert bad["match"] is False and bad["missing"] == [ghost] and bad["extra"] == [b["txn"]]
    rows = h.conn.execute("SELECT match FROM reconciliations ORDER BY id").fetchall()
    assert rows == [(1,), (0,)]  # the mismatch is recorded (the station's alarm)
    other_day = h.send(MsgType.RECONCILE, {"day": "2026-11-23", "count": 0, "amount": 0, "txns": []})
    assert other_day["match"] is True and other_day["station"] == {"count": 0, "amount": 0}


def test_route_download_pages_cover_the_segment_exactly_once(h):
    first = h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S2", "page": 1, "page_size": 10, "op": "0007"})
    assert first["total"] == 23 and first["pages"] == 3
    seen = [i["cust"] for p in range(1, 4)
            for i in h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S2", "page": p, "page_size": 10, "op": "0007"})["items"]]
    assert sorted(seen) == sorted(f"2{n:03d}" for n in range(23)) and len(seen) == len(set(seen))
    s1 = h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S1", "page": 1, "page_size": 10, "op": "0007"})
    item = s1["items"][0]
    assert item["cust"] == "1001" and item["meter"] == {"asset": "A1001", "addr": "000000001001",
                                                        "standard": "2007", "card": False}
    assert item["last"]["value"] == "1234.56" and len(item["arrears"]) == 2
    assert s1["tariffs"].keys() == {"sichuan-residential", "flat-commercial"}
    assert h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S2", "page": 4, "page_size": 10, "op": "0007"})["code"] == "E_BAD_REQUEST"
    assert h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S2", "page": 1, "page_size": 11, "op": "0007"})["code"] == "E_LIMIT"
    assert h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S9", "page": 1, "page_size": 5, "op": "0007"})["code"] == \
        "E_UNKNOWN_SEGMENT"


def test_readings_upload_is_all_or_nothing_and_keeps_the_newest(h):
    later = iso(NOW)
    good = {"cust": "1001", "meter": "A1001", "value": "1300.02", "at": later, "source": "ir"}
    keyed = {"cust": "1002", "meter": "A1002", "value": "90.5", "at": later, "source": "keypad"}
    r = h.send(MsgType.READINGS_UPLOAD, {"txn": h.txn(), "readings": [good, keyed]})
    assert r["code"] == "E_BAD_REQUEST" and r["index"] == 1  # keyed in without a reason
    wrong_meter = {**keyed, "reason": "IR head broken", "meter": "A1001"}
    r = h.send(MsgType.READINGS_UPLOAD, {"txn": h.txn(), "readings": [good, wrong_meter]})
    assert r["code"] == "E_UNKNOWN_METER"
    assert h.conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0
    r = h.send(MsgType.READINGS_UPLOAD, {"txn": h.txn(), "readings": [good, {**keyed, "reason": "IR head broken"}]})
    assert r["accepted"] == 2
    route = h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S1", "page": 1, "page_size": 3, "op": "0007"})["items"]
    assert route[0]["last"] == {"value": "1300.02", "at": later}
    old = {**good, "value": "1250.00", "at": "2026-11-01T09:00:00+08:00"}
    h.send(MsgType.READINGS_UPLOAD, {"txn": h.txn(), "readings": [old]})
    assert h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S1", "page": 1, "page_size": 3, "op": "0007"})["items"][0]["last"]["value"] \
        == "1300.02"


def test_abnormal_register_and_dunning_rules(h):
    r = h.send(MsgType.ABNORMAL_REGISTER, {"txn": h.txn(), "cust": "1001", "meter": "A1001", "code": "door_locked",
                                           "at": iso(NOW)})
    assert r["ref"].startswith("YC20261124")
    assert h.send(MsgType.ABNORMAL_REGISTER, {"txn": h.txn(), "cust": "1001", "meter": "A1001", "code": "other",
                                              "at": iso(NOW)})["code"] == "E_BAD_REQUEST"
    tasks = h.send(MsgType.DUNNING_TASKS, {"segment": "S1", "page": 1, "page_size": 10})
    assert [(t["task"], t["total"]) for t in tasks["items"]] == [("T1", 18412), ("T2", 0)]
    check = h.send(MsgType.ARREARS_CHECK, {"cust": "1002"})
    assert check["may_disconnect"] is False and check["total"] == 0
    # disconnecting a customer without arrears is refused (避免误停电)
    wrong = h.send(MsgType.DUNNING_RESULT, {"txn": h.txn(), "task": "T2", "result": "disconnected", "at": iso(NOW)})
    assert wrong["code"] == "E_NOT_ALLOWED"
    h.pay("1001", 18412)
    assert h.send(MsgType.ARREARS_CHECK, {"cust": "1001"})["may_disconnect"] is False
    cut = h.send(MsgType.DUNNING_RESULT, {"txn": h.txn(), "task": "T1", "result": "disconnected", "at": iso(NOW)})
    assert cut["code"] == "E_NOT_ALLOWED"
    done = h.send(MsgType.DUNNING_RESULT, {"txn": h.txn(), "task": "T1", "result": "paid", "at": iso(NOW)})
    assert done["state"] == "paid"
    assert [t["task"] for t in h.send(MsgType.DUNNING_TASKS, {"segment": "S1", "page": 1,
                                                              "page_size": 10})["items"]] == ["T2"]


def test_hello_params_and_unknown_type(h):
    r = h.send(MsgType.HELLO, {"op": "op1", "app": "0.1"})
    assert r["time"] == iso(NOW) and r["params"]["business_day"] == "2026-11-24"
    assert r["params"]["tariffs"]["sichuan-residential"]
    assert h.send(0x0999, {})["code"] == "E_UNKNOWN_TYPE"
    tariff = h.send(MsgType.TARIFFS, {"names": ["flat-commercial"]})["tariffs"][0]
    assert '"flat-commercial"' in tariff["data"] and tariff["version"] == r["params"]["tariffs"]["flat-commercial"]
    assert h.send(MsgType.TARIFFS, {"names": ["nonesuch"]})["code"] == "E_BAD_REQUEST"


def test_card_purchase_count_rule_and_idempotent_mac(tmp_path):
    macs = []

    def key_holder(cust, meter, amount, count, challenge):
        macs.append((cust, meter, amount, count, challenge))
        return f"{len(macs):08x}"

    h = Harness(tmp_path / "card.sqlite", fillers=0, card_mac=key_holder)
    try:
        base = {"cust": "1003", "meter": "A1003", "amount": 5000, "serial": "1003000000000001",
                "challenge": "0011223344556677", "at": iso(NOW)}
        wrong = h.send(MsgType.CARD_AUTHORIZE, {**base, "txn": h.txn(), "card_count": 2})
        assert wrong["code"] == "E_CARD_COUNT" and wrong["station_count"] == 3
        body = {**base, "txn": h.txn(), "card_count": 3}
        auth = h.send(MsgType.CARD_AUTHORIZE, body)
        assert auth["purchase_count"] == 4 and auth["mac"] == "00000001"
        assert h.send(MsgType.CARD_AUTHORIZE, body) == auth and len(macs) == 1  # the same MAC, not a new one
        # a second purchase before the first is confirmed is refused
        assert h.send(MsgType.CARD_AUTHORIZE, {**base, "txn": h.txn(), "card_count": 4})["code"] == "E_NOT_ALLOWED"
        conf = h.send(MsgType.CARD_CONFIRM, {"txn": h.txn(), "auth": body["txn"], "purchase_count": 4, "at": iso(NOW)})
        assert conf["ok"]
        q = h.send(MsgType.CARD_QUERY, {"cust": "1003", "meter": "A1003"})
        assert q["purchase_count"] == 4 and q["last"]["state"] == "confirmed"
        not_card = h.send(MsgType.CARD_AUTHORIZE, {**base, "cust": "1001", "meter": "A1001", "txn": h.txn(),
                                                   "card_count": 0})
        assert not_card["code"] == "E_NOT_ALLOWED"
    finally:
        h.conn.close()


def test_card_functions_unavailable_without_a_key_holder(h):
    r = h.send(MsgType.CARD_AUTHORIZE, {"txn": h.txn(), "cust": "1003", "meter": "A1003", "amount": 5000,
                                        "card_count": 3, "challenge": "0011223344556677", "at": iso(NOW)})
    assert r["code"] == "E_UNAVAILABLE"


PLACE = {"lat": "31.271234", "lon": "106.303456", "fix_at": "2026-11-24T01:59:30+00:00", "age_s": 30, "mode": "3D",
         "hdop": "1.1", "sats": 11, "source": "CGNSINF"}


def test_a_reading_carries_its_gnss_place_validated_and_stored(h):
    item = {"cust": "1001", "meter": "A1001", "value": "1300.00", "at": iso(h.clock.now()), "source": "ir",
            "place": PLACE}
    assert h.send(MsgType.READINGS_UPLOAD, {"txn": h.txn(), "readings": [item]})["accepted"] == 1
    stored = h.conn.execute("SELECT place FROM readings WHERE cust = '1001'").fetchone()[0]
    assert json.loads(stored) == {**PLACE, "fix_at": "2026-11-24T09:59:30+08:00"}  # kept in Asia/Shanghai
    for bad in ({**PLACE, "lat": "91.0"}, {**PLACE, "lon": "１06.3"}, {**PLACE, "extra": 1}, {**PLACE, "mode": "4D"},
                {**PLACE, "age_s": -1}, {**PLACE, "fix_at": "2026-11-24T01:59:30"}, {**PLACE, "sats": 100},
                {k: v for k, v in PLACE.items() if k != "lat"}, "31.2,106.3"):
        reply = h.send(MsgType.READINGS_UPLOAD, {"txn": h.txn(), "readings": [{**item, "place": bad}]})
        assert (reply["code"], reply["index"]) == ("E_BAD_REQUEST", 0), bad
    assert h.conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 1


def test_premise_note_newest_wins_is_idempotent_and_bounded(h):
    at = iso(h.clock.now())
    body = {"txn": h.txn(), "cust": "1001", "text": "狗凶，先敲门", "at": at}
    first = h.send(MsgType.PREMISE_NOTE, body)
    assert first["ok"] and h.send(MsgType.PREMISE_NOTE, body) == first  # the same txn: the same answer
    page = h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S1", "page": 1, "page_size": 10, "op": "0007"})
    notes = {i["cust"]: i.get("note") for i in page["items"]}
    assert notes["1001"] == {"text": "狗凶，先敲门", "at": at} and notes["1002"] is None
    older = iso(h.clock.now() - dt.timedelta(hours=1))
    assert h.send(MsgType.PREMISE_NOTE, {"txn": h.txn(), "cust": "1001", "text": "旧", "at": older})["ok"]
    assert h.conn.execute("SELECT text FROM premise_notes").fetchall() == [("狗凶，先敲门",)]
    newer = iso(h.clock.now() + dt.timedelta(minutes=1))
    assert h.send(MsgType.PREMISE_NOTE, {"txn": h.txn(), "cust": "1001", "text": "", "at": newer})["ok"]
    page = h.send(MsgType.ROUTE_DOWNLOAD, {"segment": "S1", "page": 1, "page_size": 10, "op": "0007"})
    assert all("note" not in i for i in page["items"])  # cleared
    for bad_text in ("x" * 201, "两行\n文字", "   ", 7):
        r = h.send(MsgType.PREMISE_NOTE, {"txn": h.txn(), "cust": "1001", "text": bad_text, "at": at})
        assert r["code"] == "E_BAD_REQUEST", bad_text
    r = h.send(MsgType.PREMISE_NOTE, {"txn": h.txn(), "cust": "9999", "text": "x", "at": at})
    assert r["code"] == "E_UNKNOWN_CUSTOMER"


def _photo_jpeg() -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 240), (30, 40, 30))
    d = ImageDraw.Draw(img)
    for y in range(0, 240, 5):
        d.line([(0, y), (320, (y * 31) % 240)], fill=((y * 11) % 255, (y * 5) % 255, 90), width=2)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_photo_upload_stores_chunks_once_assembles_checks_and_bounds(h):
    import base64
    import hashlib

    from terminal_app.services.photo import chunk_bodies

    reading = h.txn()
    item = {"cust": "1001", "meter": "A1001", "value": "1300.00", "at": iso(h.clock.now()), "source": "ir"}
    assert h.send(MsgType.READINGS_UPLOAD, {"txn": reading, "readings": [item]})["ok"]
    jpeg = _photo_jpeg()
    bodies = chunk_bodies(reading, jpeg, chunk=2048)
    assert len(bodies) >= 3
    first = {"txn": h.txn(), **bodies[0]}
    r = h.send(MsgType.PHOTO_UPLOAD, first)
    assert (r["have"], r["complete"]) == ([0], False)
    assert h.send(MsgType.PHOTO_UPLOAD, first) == r  # the same txn: the same answer
    # the same chunk under another txn (a terminal that lost its journal entry's answer) is no second copy
    assert h.send(MsgType.PHOTO_UPLOAD, {"txn": h.txn(), **bodies[0]})["have"] == [0]
    for b in bodies[1:]:
        r = h.send(MsgType.PHOTO_UPLOAD, {"txn": h.txn(), **b})
    assert r["complete"] and r["have"] == list(range(len(bodies)))
    stored = h.conn.execute("SELECT jpeg, size, sha256 FROM photos WHERE reading = ?", (reading,)).fetchall()
    assert [(bytes(j), s, d) for j, s, d in stored] == [(jpeg, len(jpeg), hashlib.sha256(jpeg).hexdigest())]
    # bounds: every field checked, refusals are final (E_BAD_REQUEST) and store nothing
    good = {"txn": "", **chunk_bodies(reading, jpeg + b"another", chunk=4096)[0]}  # the first of several
    bad_fields = [{"reading": "00000001-999"}, {"reading": "00000002-1"}, {"sha256": "ab"}, {"size": 0},
                  {"size": 70_000}, {"count": 0}, {"count": 65}, {"index": good["count"]}, {"index": -1},
                  {"data": ""}, {"data": "!!!!"}, {"data": base64.b64encode(bytes(9000)).decode()},
                  {"size": str(good["size"])}, {"data": 7}, {"count": True}, {"count": 1}]
    for change in bad_fields:
        r = h.send(MsgType.PHOTO_UPLOAD, {**good, "txn": h.txn(), **change})
        assert r["code"] == "E_BAD_REQUEST", change
    assert h.conn.execute("SELECT count(*) FROM photo_chunks").fetchone()[0] == len(bodies)
    r = h.send(MsgType.PHOTO_UPLOAD, {**good, "txn": h.txn()})  # unchanged, the same chunk is accepted
    assert (r["have"], r["complete"]) == ([0], False)


def test_photo_upload_refuses_chunks_that_do_not_make_the_photo_they_claim(h):
    from terminal_app.services.photo import chunk_bodies

    reading = h.txn()
    item = {"cust": "1001", "meter": "A1001", "value": "1300.00", "at": iso(h.clock.now()), "source": "ir"}
    assert h.send(MsgType.READINGS_UPLOAD, {"txn": reading, "readings": [item]})["ok"]
    jpeg = _photo_jpeg()
    bodies = chunk_bodies(reading, jpeg, chunk=4096)
    forged = chunk_bodies(reading, bytes(len(jpeg)), chunk=4096)  # same size, other bytes, the claimed hash
    for b in bodies[:-1]:
        assert h.send(MsgType.PHOTO_UPLOAD, {"txn": h.txn(), **b})["ok"]
    r = h.send(MsgType.PHOTO_UPLOAD, {"txn": h.txn(), **bodies[-1], "data": forged[-1]["data"]})
    assert r["code"] == "E_BAD_REQUEST" and "sha256" in r["msg"]
    assert h.conn.execute("SELECT count(*) FROM photos").fetchone()[0] == 0
    r = h.send(MsgType.PHOTO_UPLOAD, {"txn": h.txn(), **bodies[-1]})  # the true last chunk: the photo is whole
    assert r["complete"]
    # not a JPEG, even with a matching hash: refused
    junk = bytes(range(256)) * 4
    assert h.send(MsgType.PHOTO_UPLOAD, {"txn": h.txn(), **chunk_bodies(reading, junk)[0]})["code"] == "E_BAD_REQUEST"
