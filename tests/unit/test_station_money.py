"""Money is conserved through any mix of payments, resends and reversals (hypothesis): every fen
a customer paid, and not reversed, is on their bills or in their balance — exactly once."""

from __future__ import annotations

import datetime as dt
from contextlib import closing

from hypothesis import given, settings
from hypothesis import strategies as st

from hw_mocks.station import ledger
from hw_mocks.station.handlers import Station
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import SHANGHAI, FixedClock, iso
from tests.rigs.station import load_tiny

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
CUSTS = ("1001", "1002")

op = st.one_of(
    st.tuples(st.just("pay"), st.sampled_from(CUSTS), st.integers(1, 25_000)),
    st.tuples(st.just("resend"), st.integers(0, 50)),
    st.tuples(st.just("reverse"), st.integers(0, 50)),
)


def _held(conn, cust):
    paid = conn.execute("SELECT coalesce(sum(paid_amount + paid_penalty), 0) FROM bills WHERE cust = ?",
                        (cust,)).fetchone()[0]
    return paid + conn.execute("SELECT balance FROM customers WHERE cust = ?", (cust,)).fetchone()[0]


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(op, max_size=25))
def test_payments_resends_and_reversals_conserve_money(ops):
    with closing(ledger.connect(":memory:")) as conn:
        load_tiny(conn, fillers=0)
        station = Station(conn, FixedClock(at=NOW))
        start = {c: _held(conn, c) for c in CUSTS}
        seq = iter(range(1, 10_000))
        sent: list[tuple[dict, dict]] = []
        net = dict.fromkeys(CUSTS, 0)
        reversed_txns: set[str] = set()
        n = iter(range(1, 10_000))
        for o in ops:
            if o[0] == "pay":
                body = {"txn": f"00000001-{next(n)}", "cust": o[1], "amount": o[2], "method": "cash", "at": iso(NOW)}
                reply = station.process("00000001", next(seq), MsgType.PAYMENT, body).body
                assert reply["ok"]
                sent.append((body, reply))
                net[o[1]] += o[2]
            elif sent and o[0] == "resend":
                body, first = sent[o[1] % len(sent)]
                assert station.process("00000001", next(seq), MsgType.PAYMENT, body).body == first
            elif sent and o[0] == "reverse":
                body, _ = sent[o[1] % len(sent)]
                rev = {"txn": f"00000001-{next(n)}", "orig": body["txn"], "reason": "test", "at": iso(NOW)}
                reply = station.process("00000001", next(seq), MsgType.REVERSAL, rev).body
                if body["txn"] in reversed_txns:
                    assert reply["code"] == "E_NOT_ALLOWED"
                else:  # nothing spends a balance in this test, so every first reversal is allowed
                    assert reply["ok"], reply
                    reversed_txns.add(body["txn"])
                    net[body["cust"]] -= body["amount"]
        for c in CUSTS:
            assert _held(conn, c) - start[c] == net[c]
        assert conn.execute("SELECT count(*) FROM payments").fetchone()[0] == len(sent)
