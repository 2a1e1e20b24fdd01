"""The daily QR check's comparison, on hand-made movements (the end-to-end check is in
tests/integration/test_acquirer_mock.py)."""

from __future__ import annotations

from hw_mocks.station.acquirer import StatementLine
from hw_mocks.station.qr_check import acquirer_movements, compare
from terminal_app.domain.paycode import PayChannel

W, A = PayChannel.WECHAT, PayChannel.ALIPAY


def line(ch, no, kind, fen):
    return StatementLine(ch, no, "x", kind, fen, "2026-12-07 10:00:00")


def test_nets_per_order_number():
    nets = acquirer_movements([line(W, "1", "pay", 100), line(W, "2", "revoked", 200), line(A, "3", "pay", 300),
                               line(A, "3", "refund", 300), line(W, "4", "pay", 50), line(W, "4", "refund", 20)])
    assert nets == {(W, "1"): 100, (W, "2"): 0, (A, "3"): 0, (W, "4"): 30}


def test_agreeing_days_have_no_difference_and_each_kind_is_named():
    station = {(W, "1"): ("1", 100, "PAID"), (W, "2"): ("2", 0, "REVERSED"), (A, "3"): ("3", 0, "NOT_PAID")}
    assert compare(station, {(W, "1"): 100, (W, "2"): 0}) == []
    diffs = compare({**station, (W, "5"): ("5", 500, "PAID"), (W, "6"): ("6", 0, "UNRESOLVED"),
                     (W, "7"): ("7", 0, ""), (W, "8"): ("8", 0, "REVERSED"), (A, "9"): ("9", 900, "PAID")},
                    {(W, "1"): 100, (W, "6"): 600, (W, "8"): 800, (A, "9"): 901, (A, "10"): 1000})
    got = {(d.order_number, d.kind, d.station_fen, d.acquirer_fen) for d in diffs}
    assert got == {("5", "not_at_acquirer", 500, 0), ("6", "unresolved", 0, 600), ("7", "unresolved", 0, 0),
                   ("8", "not_on_station", 0, 800), ("9", "amount", 900, 901), ("10", "not_on_station", 0, 1000)}
