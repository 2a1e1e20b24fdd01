"""What the daily settlement counts, from a real journal and store (no station needed): payments of
the day by kind, reversals against their payment, refused entries left out, card purchases as
their own rows, other days left out."""

from __future__ import annotations

import datetime as dt

from offline_queue.journal import EntryState, Journal, Settlement
from terminal_app.services.payment import PaymentKind
from terminal_app.services.settlement import day_figures
from terminal_app.services.store import LocalStore
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import SHANGHAI, FixedClock

DAY = dt.date(2026, 11, 24)


def pay(journal, cust, amount, at="2026-11-24T10:00:00+08:00"):
    return journal.capture("payment", MsgType.PAYMENT, encode_body_fast({"cust": cust, "amount": amount, "method": "cash", "at": at}))


def test_day_figures(tmp_path):
    clock = FixedClock(at=dt.datetime(2026, 11, 24, 18, 0, tzinfo=SHANGHAI))
    with Journal.open(tmp_path / "journal.sqlite", "40000001", clock=clock) as journal, \
            LocalStore.beside(tmp_path / "journal.sqlite") as store:
        a = pay(journal, "1001", 18350)
        store.save_document(a.txn, "receipt", {"payment_kind": "full"})
        b = pay(journal, "1002", 3000)
        store.save_document(b.txn, "receipt", {"payment_kind": "prepayment"})
        c = pay(journal, "1003", 700)  # no document (stopped before it was saved): counted as 电费缴费
        refused = pay(journal, "1004", 999)
        pay(journal, "1005", 1234, at="2026-11-23T23:59:59+08:00")  # yesterday (Asia/Shanghai)
        journal.capture("reversal", MsgType.REVERSAL, encode_body_fast({"orig": b.txn, "reason": "错", "at": "2026-11-24T11:00:00+08:00"}),
                        depends_on=b.txn)
        card = journal.capture("card", MsgType.CARD_AUTHORIZE, encode_body_fast({"cust": "1006", "meter": "M6", "amount": 5000,
                                                                "card_count": 3, "challenge": "00112233",
                                                                "at": "2026-11-24T12:00:00+08:00"}))
        journal.mark_in_flight([a.txn, refused.txn])
        journal.settle([Settlement(a.txn, EntryState.APPLIED, reply={"ok": True}),
                        Settlement(refused.txn, EntryState.REJECTED, code="E_LIMIT", msg="too much")])
        f = day_figures(journal, store, DAY)
    assert f.by_row == {"电费缴费": (2, 19050), "预收电费": (1, 3000), "购电": (1, 5000)}
    assert f.by_kind == {PaymentKind.FULL: (2, 19050), PaymentKind.PREPAYMENT: (1, 3000)}
    assert f.reversals == ((b.txn, 3000),)
    assert dict(f.kept) == {a.txn: 18350, c.txn: 700, card.txn: 5000}
    assert f.collected_fen == 24050  # 18350 + 3000 + 700 + 5000 − 3000
    assert a.txn not in f.unsynced and {c.txn, card.txn} <= f.unsynced


def test_one_list_of_rows_for_screen_and_slip_adds_up_with_cards_and_reversals(tmp_path):
    """Issue 13 (7): the rows include card top-ups and the reversal's amount (negative), and they
    add up to the cash to hand in — the screen and the slip show exactly these."""
    clock = FixedClock(at=dt.datetime(2026, 11, 24, 18, 0, tzinfo=SHANGHAI))
    with Journal.open(tmp_path / "journal.sqlite", "40000001", clock=clock) as journal, \
            LocalStore.beside(tmp_path / "journal.sqlite") as store:
        a = pay(journal, "1001", 18350)
        b = pay(journal, "1002", 3000)
        journal.capture("reversal", MsgType.REVERSAL, encode_body_fast({"orig": b.txn, "reason": "错", "at": "2026-11-24T11:00:00+08:00"}),
                        depends_on=b.txn)
        journal.capture("card", MsgType.CARD_AUTHORIZE, encode_body_fast({"cust": "1006", "meter": "M6", "amount": 5000,
                                                         "card_count": 3, "challenge": "00112233",
                                                         "at": "2026-11-24T12:00:00+08:00"}))
        f = day_figures(journal, store, DAY)
    lines = [(line.name, line.count, line.fen) for line in f.lines()]
    assert lines == [("电费缴费", 2, 21350), ("购电", 1, 5000), ("冲正", 1, -3000)]
    assert sum(line.fen for line in f.lines()) == f.collected_fen == 18350 + 5000
    f.check_adds_up()
    assert a.txn in dict(f.kept)
