"""The marketing system as the authority (issue 21, follow-up): BILL_QUERY is answered from its
books (trade 1001), card purchases (购电) are done there first (trade 2003) once per txn across
both hops, and the daily check covers them.  Real sockets, both ledgers (SQLite, PostgreSQL)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from hw_mocks.marketing import client as mclient
from hw_mocks.marketing import protocol as p
from hw_mocks.marketing.scenario import Scenario
from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
from terminal_app.station.client import Outcome, Request
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import iso
from tests.integration.test_daily_check import check
from tests.integration.test_marketing_broker import NOW, TID, Rig, pay

HOLDER = CardKeyHolder(DEMO_MASTER_KEY)
OWED_1001 = 18412  # the tiny area: 1001 owes 10000 + 300 and 8000 + 112 on NOW's day


@pytest.fixture
def rig(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target, card_mac=HOLDER)
    yield r
    r.close()


def outs(r: Rig) -> list[p.Trade]:
    return [p.Decoder().feed(bytes(raw))[0].trade for (raw,) in r.st_rows(
        "SELECT raw FROM mkt_messages WHERE direction = 'out' ORDER BY id")]


def counter_payment(r: Rig, amount: int, cust: str = "1001") -> p.Message:
    """A payment at one of the marketing system's own channels (a business-hall counter, station
    number 0100, terminal 90000001): straight to the stand-in, the station knows nothing of it."""
    stamp = f"{NOW:%Y%m%d%H%M%S}"
    req = p.request(p.Trade.PAYMENT, "20261124010000000001", stamp, txn="90000001-1", terminal="90000001",
                    operator="营业厅", cust=cust, amount=str(amount), method="cash", at=stamp)
    ans = mclient.exchange(r.mkt.address, req, 5)
    assert ans.ok, ans
    return ans


def total(body: dict) -> int:
    return sum(a["amount"] + a["penalty"] for a in body["arrears"])


def test_bill_query_is_answered_from_the_marketing_systems_books(rig):
    res = rig.one(MsgType.BILL_QUERY, {"cust": "1001"})
    assert res.outcome is Outcome.OK, res
    assert res.body["source"] == "marketing" and total(res.body) == OWED_1001
    assert [(a["period"], a["amount"], a["penalty"], a["due"]) for a in res.body["arrears"]] == \
        [("2026-09", 10000, 300, "2026-10-25"), ("2026-10", 8000, 112, "2026-11-10")]
    # both books agree on these bills: the station's accrual state goes with them (offline penalties)
    assert all("accrual" in a for a in res.body["arrears"])
    assert outs(rig) == [p.Trade.BILL_QUERY]
    ((raw,),) = rig.st_rows("SELECT raw FROM mkt_messages WHERE direction = 'in'")
    assert p.Decoder().feed(bytes(raw))[0].serial == res.body["mkt_serial"]


def test_a_payment_through_another_channel_shows_in_the_terminals_bill_query(rig):
    before = rig.one(MsgType.BILL_QUERY, {"cust": "1001"})
    assert total(before.body) == OWED_1001
    counter_payment(rig, 10300)  # pays 2026-09 with its penalty, at the business hall
    after = rig.one(MsgType.BILL_QUERY, {"cust": "1001"})
    assert after.outcome is Outcome.OK, after
    assert total(after.body) == OWED_1001 - 10300
    assert [a["period"] for a in after.body["arrears"]] == ["2026-10"]
    # the station's own copy does not know that payment: the answer did not come from it
    assert rig.st_rows("SELECT count(*) FROM payments") == [(0,)]
    # the terminal then pays what is left; the marketing system allocates it to what is owed there
    res = rig.one(MsgType.PAYMENT, pay(1, OWED_1001 - 10300))
    assert res.outcome is Outcome.OK, res
    last = rig.one(MsgType.BILL_QUERY, {"cust": "1001"})
    assert last.body["arrears"] == [] and last.body["balance"] == 0
    # another channel's payment is not this station's difference: the check has no alarm for it
    code, summary, err = check(rig)
    assert code == 0 and summary["alarms"] == 0, (summary, err)


def test_bill_query_while_the_marketing_system_is_down_is_a_definite_refusal(rig):
    rig.mkt.stop()
    res = rig.one(MsgType.BILL_QUERY, {"cust": "1001"})
    assert res.outcome is not Outcome.OK, res
    assert res.code == "E_INTERNAL" and "marketing system cannot be reached" in res.body["msg"], res.body
    assert "arrears" not in res.body and "balance" not in res.body  # no figures at all, stale or not
    # an unknown customer is still refused by the station before anything is asked
    unknown = rig.one(MsgType.BILL_QUERY, {"cust": "9999"})
    assert unknown.code == "E_UNKNOWN_CUSTOMER"


def buy(n: int, amount: int = 5000, count: int = 3) -> dict:
    return {"txn": f"{TID}-{n}", "cust": "1003", "meter": "A1003", "amount": amount, "card_count": count,
            "serial": "8610000000001003", "challenge": "0011223344556677", "at": iso(NOW)}


def test_a_card_purchase_is_done_by_the_marketing_system_first_once(rig):
    res = rig.one(MsgType.CARD_AUTHORIZE, buy(1))
    assert res.outcome is Outcome.OK, res
    assert res.body["mac"] == HOLDER("1003", "A1003", 5000, 4, "0011223344556677")
    (mrow,) = rig.mkt_rows("SELECT serial, code, txn, amount, state FROM mkt_serials")
    assert mrow[1:] == ("2003", f"{TID}-1", 5000, "A")
    assert rig.st_rows("SELECT serial, state, trade FROM mkt_exchanges") == [(mrow[0], "applied", "2003")]
    assert rig.st_rows("SELECT txn, amount FROM card_purchases") == [(f"{TID}-1", 5000)]
    again = rig.one(MsgType.CARD_AUTHORIZE, buy(1))
    assert again.body == res.body and outs(rig) == [p.Trade.PURCHASE]  # stored answer, no second exchange
    # resuming the authorization (a new MAC, no money) does not go to the marketing system
    resume = {**buy(2), "resume": f"{TID}-1", "challenge": "8899aabbccddeeff"}
    del resume["amount"]
    assert rig.one(MsgType.CARD_AUTHORIZE, resume).outcome is Outcome.OK
    assert outs(rig) == [p.Trade.PURCHASE]


def test_a_purchase_whose_answer_was_lost_is_resolved_by_query_never_bought_twice(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target, Scenario.from_dict({"fault": [{"trade": "2003", "nth": 1,
                                                                     "action": "lose_answer"}]}), card_mac=HOLDER)
    try:
        res = r.one(MsgType.CARD_AUTHORIZE, buy(1))
        assert res.outcome is Outcome.OK and r.mkt.lost_answers == 1, res
        assert outs(r) == [p.Trade.PURCHASE, p.Trade.QUERY]
        assert r.mkt_rows("SELECT txn, state FROM mkt_serials") == [(f"{TID}-1", "A")]
        assert r.st_rows("SELECT txn, purchase_count FROM card_purchases") == [(f"{TID}-1", 4)]
        # a second serial for the same txn (another station's retry gone wrong) is refused there
        (serial,) = r.mkt_rows("SELECT serial FROM mkt_serials")[0]
        stamp = f"{NOW:%Y%m%d%H%M%S}"
        twice = mclient.exchange(r.mkt.address, p.request(
            p.Trade.PURCHASE, str(int(serial) + 1), stamp, txn=f"{TID}-1", terminal=TID, operator="", cust="1003",
            meter="A1003", amount="5000", kind="purchase", at=stamp), 5)
        assert twice.rc is p.Rc.NOT_ALLOWED
        assert r.mkt_rows("SELECT count(*) FROM mkt_serials WHERE state = 'A'") == [(1,)]
        code, summary, err = check(r)
        assert code == 0 and summary["alarms"] == 0, (summary, err)
    finally:
        r.close()


def test_a_purchase_while_the_marketing_system_is_down_is_not_authorized(rig):
    rig.mkt.stop()
    res = rig.one(MsgType.CARD_AUTHORIZE, buy(1))
    assert res.outcome is not Outcome.OK and "mac" not in res.body, res
    assert rig.st_rows("SELECT count(*) FROM card_purchases") == [(0,)]
    assert rig.st_rows("SELECT state FROM mkt_exchanges") == [("not_sent",)]
    status = rig.client.call(Request(MsgType.TXN_STATUS, {"txns": [f"{TID}-1"]}))["status"]
    assert status == {f"{TID}-1": "unknown"}


@pytest.mark.parametrize("injected", ["deleted", "amount"])
def test_the_daily_check_covers_purchases_one_alarm_naming_the_txn(rig, injected):
    assert rig.one(MsgType.PAYMENT, pay(1, 500)).outcome is Outcome.OK
    assert rig.one(MsgType.CARD_AUTHORIZE, buy(2)).outcome is Outcome.OK
    code, summary, err = check(rig)
    assert code == 0 and summary["alarms"] == 0, (summary, err)
    assert summary["station"] == summary["marketing"] == {"count": 2, "amount": 5500}
    with closing(sqlite3.connect(rig.mdb)) as m:
        if injected == "deleted":
            m.execute("DELETE FROM mkt_serials WHERE txn = ?", (f"{TID}-2",))
        else:
            m.execute("UPDATE mkt_serials SET amount = 4000 WHERE txn = ?", (f"{TID}-2",))
        m.commit()
    code, summary, err = check(rig)
    assert code == 3, err
    assert summary["txns"] == [f"{TID}-2"]
    (kind,) = [k for (k,) in rig.st_rows("SELECT kind FROM check_alarms")]
    assert kind == ("missing_at_marketing" if injected == "deleted" else "amount_differs")


def test_the_stand_in_refuses_a_purchase_it_cannot_do(rig):
    stamp = f"{NOW:%Y%m%d%H%M%S}"

    def send(n: int, **over: str) -> p.Message:
        fields = {"txn": f"{TID}-{n}", "terminal": TID, "operator": "", "cust": "1003", "meter": "A1003",
                  "amount": "5000", "kind": "purchase", "at": stamp}
        fields.update(over)
        return mclient.exchange(rig.mkt.address, p.request(p.Trade.PURCHASE, f"2026112400010000{n:04d}", stamp,
                                                            **fields), 5)

    assert send(1, cust="9999").rc is p.Rc.UNKNOWN_CUSTOMER
    assert send(2, meter="A1001").rc is p.Rc.NOT_ALLOWED  # not the customer's meter
    assert send(3, cust="1001", meter="A1001").rc is p.Rc.NOT_ALLOWED  # not a prepaid card meter
    assert send(4, amount="0").rc is p.Rc.BAD_REQUEST
    assert rig.mkt_rows("SELECT count(*) FROM mkt_serials WHERE state = 'A'") == [(0,)]
    assert rig.mkt_rows("SELECT count(*) FROM mkt_serials WHERE state = 'R'") == [(4,)]


def test_a_slow_bill_query_is_a_definite_refusal_not_the_stations_copy(tmp_path, ledger_target):
    r = Rig(tmp_path, ledger_target, Scenario.from_dict({"fault": [{"trade": "1001", "nth": 1, "action": "delay",
                                                                     "seconds": 1.5}]}), timeout=0.3)
    try:
        res = r.one(MsgType.BILL_QUERY, {"cust": "1001"})
        assert res.code == "E_INTERNAL" and "arrears" not in res.body, res
        assert outs(r) == [p.Trade.BILL_QUERY]  # the request is kept even though no answer came
        again = r.one(MsgType.BILL_QUERY, {"cust": "1001"})  # the 2nd is not delayed
        assert again.outcome is Outcome.OK and total(again.body) == OWED_1001
    finally:
        r.close()
