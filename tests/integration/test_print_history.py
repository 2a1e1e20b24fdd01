"""The print history (打印记录) on the rig's real journal, store, printer driver and mock printer:
every document listed with its print state, found by customer number, printed again as 副本;
originals that never reached paper are listed and print exactly once as the original.

The tiny area (tests/rigs/station.py): 1001 王秀英 owes 18412 fen; 1002 owes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from drivers.printer import COPY_MARK, PrintOutcome
from terminal_app.errors import BusinessRuleError
from tests.integration.test_usecase_rig import Rig


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        r.terminal.download_route("S1")
        yield r


def test_yesterdays_receipt_is_found_by_customer_and_reprinted_as_a_copy(rig):
    t = rig.terminal
    first = t.take_payment("1001", 5000, tendered=5000)
    rig.clock.advance(dt.timedelta(days=1))
    second = t.take_payment("1002", 1000, tendered=1000)
    docs = t.documents()
    assert [(d.identity, d.kind, d.customer, d.amount_fen, d.printed) for d in docs] == [
        (second.txn, "receipt", "1002", 1000, True), (first.txn, "receipt", "1001", 5000, True)]
    assert docs[1].name == "王秀英" and docs[0].at - docs[1].at == dt.timedelta(days=1)
    found = t.documents("1001")
    assert [d.identity for d in found] == [first.txn]
    assert t.documents("100") == docs  # part of the number finds both
    assert t.documents("7777") == []
    assert t.print_document(first.txn).outcome is PrintOutcome.COPY_PRINTED
    original, _second, copy = rig.tickets(3)
    assert COPY_MARK not in original and COPY_MARK in copy and "￥50.00" in copy and first.txn in copy
    assert t.unprinted_originals() == []


def test_an_original_the_printer_never_took_is_offered_and_prints_once_as_the_original(rig):
    t = rig.terminal
    rig.printer_mock.paper_end = True  # out of paper: the driver sends nothing, nothing is marked
    pay = t.take_payment("1001", 5000, tendered=5000)
    assert pay.print_error is not None
    assert [(d.identity, d.printed) for d in t.unprinted_originals()] == [(pay.txn, False)]
    assert [d.printed for d in t.documents("1001")] == [False]
    rig.printer_mock.load_paper()
    assert t.print_document(pay.txn).outcome is PrintOutcome.ORIGINAL_PRINTED
    assert t.unprinted_originals() == []
    assert t.print_document(pay.txn).outcome is PrintOutcome.COPY_PRINTED  # from now on a copy only
    original, copy = rig.tickets(2)
    assert COPY_MARK not in original and COPY_MARK in copy


def test_a_settlement_slip_is_listed_and_printed_again_as_a_copy(rig):
    t = rig.terminal
    t.take_payment("1001", 5000, tendered=5000)
    settled = t.settle_day()
    slip = settled.slip.slip_no
    docs = t.documents()
    assert [d.kind for d in docs] == ["settlement_slip", "receipt"] and docs[0].identity == slip
    assert docs[0].customer == "" and docs[0].amount_fen == 5000 and docs[0].printed
    assert t.print_document(slip).outcome is PrintOutcome.COPY_PRINTED
    assert COPY_MARK in rig.tickets(3)[2]


def test_documents_older_than_the_journals_keep_period_are_not_listed(rig):
    t = rig.terminal
    old = t.take_payment("1001", 5000, tendered=5000)
    rig.clock.advance(dt.timedelta(days=rig.journal.keep_days + 1))
    new = t.take_payment("1002", 1000, tendered=1000)
    assert [d.identity for d in t.documents()] == [new.txn]
    assert old.txn not in [d.identity for d in t.documents("1001")]


def test_an_unknown_document_is_refused(rig):
    with pytest.raises(BusinessRuleError):
        rig.terminal.print_document("30000001-999")
