"""The top-up flow end to end: production CardService, SerialCardReader, journal, sync engine and
StationClient against the mock card reader (pty) with a virtual card and the reference station.

Exactly once is checked three ways every time: the station's ledger (card_purchases), the card
(purchase file) and the journal (authorization + confirmation), then the meter loads the card.
"""

from __future__ import annotations

import sqlite3

import pytest

from drivers.ic_card.reader import CardRemovedError
from hw_mocks.card.meter import Insertion
from offline_queue.journal import EntryState
from terminal_app.errors import LinkDownError
from terminal_app.services.topup import (
    KIND_CONFIRM,
    KIND_PURCHASE,
    AuthorizationPending,
    Reason,
    TopupRefused,
)
from terminal_app.station.transport import SocketTransport
from tests.rigs.card import CUST, METER, START_COUNT, open_terminal, rig


class Killed(BaseException):
    """The terminal dies here (in-process stand-in for a kill; everything durable stays)."""


def ledger_rows(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT txn, amount, purchase_count, state FROM card_purchases ORDER BY rowid").fetchall()


def assert_credited_once(r, amount: int, count: int = START_COUNT + 1) -> None:
    rows = ledger_rows(r.db)
    assert [(a, n, s) for _, a, n, s in rows] == [(amount, count, "confirmed")]
    assert (r.card.purchase.amount, r.card.purchase.count) == (amount, count)
    entries = r.terminal.journal.entries()
    auths = [e for e in entries if e.kind == KIND_PURCHASE]
    confirms = [e for e in entries if e.kind == KIND_CONFIRM]
    assert len(auths) == 1 and auths[0].state is EntryState.APPLIED and auths[0].txn == rows[0][0]
    assert len(confirms) == 1 and confirms[0].state is EntryState.APPLIED and confirms[0].depends_on == auths[0].txn
    before = r.meter.remaining
    assert r.insert_into_meter() is Insertion.LOADED
    assert r.meter.remaining == before + amount and r.meter.loaded[-1] == (count, amount)
    assert r.insert_into_meter() is Insertion.WRITTEN_BACK  # a second insertion loads nothing
    assert r.meter.remaining == before + amount


def test_whole_flow_online(tmp_path):
    with rig(tmp_path) as r:
        inq = r.terminal.service.inquire()
        assert (inq.cust, inq.meter, inq.remaining, inq.loaded) == (CUST, METER, 2000, True)
        res = r.terminal.service.topup(12_300)
        assert (res.amount, res.purchase_count, res.recovered) == (12_300, START_COUNT + 1, False)
        assert "购电凭证" in res.voucher.lines and any("123.00" in line for line in res.voucher.lines)
        assert_credited_once(r, 12_300)
        # the card now shows the meter's new remaining credit
        assert r.terminal.service.inquire().remaining == 2000 + 12_300


def test_second_purchase_needs_the_card_in_the_meter_first(tmp_path):
    with rig(tmp_path) as r:
        r.terminal.service.topup(5_000)
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.topup(5_000)
        assert e.value.reason is Reason.NOT_LOADED and "insert the card into the meter" in str(e.value)
        assert r.insert_into_meter() is Insertion.LOADED
        assert r.terminal.service.topup(7_000).purchase_count == START_COUNT + 2
        assert [a for _, a, _, _ in ledger_rows(r.db)] == [5_000, 7_000]


@pytest.mark.parametrize("amount", [999, 500_001])
def test_amount_outside_the_limits_is_refused_before_anything_is_journaled(tmp_path, amount):
    with rig(tmp_path) as r:
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.topup(amount)
        assert e.value.reason is Reason.LIMIT
        assert r.terminal.journal.entries() == [] and ledger_rows(r.db) == []


def test_a_card_of_another_meter_or_count_is_refused(tmp_path):
    from drivers.ic_card.model import Purchase

    with rig(tmp_path) as r:
        r.card.purchase = Purchase(5000, START_COUNT - 1)  # an old card: the station counts 3
        r.card.ret = r.card.ret.__class__(True, 0, 0, 0, START_COUNT - 1)
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.topup(5_000)
        assert e.value.reason is Reason.COUNT_MISMATCH
        assert ledger_rows(r.db) == [] and r.terminal.journal.entries() == []


# The flow's APDU frames: SELECT + GET RESPONSE (T=0), 3 × READ BINARY (exact Le), GET
# CHALLENGE, UPDATE BINARY (the write), READ BINARY of the purchase = 8.
@pytest.mark.parametrize("executed", [False, True], ids=["before-chip", "answer-lost"])
@pytest.mark.parametrize("after", range(8))
def test_card_pulled_after_each_apdu_is_credited_exactly_once(tmp_path, after, executed):
    with rig(tmp_path) as r:
        r.device.pull_after(after, executed=executed)
        with pytest.raises(CardRemovedError):
            r.terminal.service.topup(10_000)
        assert r.device.pulled.is_set() and r.device.card is None
        r.device.insert(r.card)  # the customer puts the same card back
        res = r.terminal.service.topup(10_000)
        # interrupted before the purchase was journaled: a fresh sale; after: the old one finished
        journaled_before = len([e for e in r.terminal.journal.entries() if e.kind == KIND_PURCHASE]) == 1
        assert journaled_before
        assert res.purchase_count == START_COUNT + 1 and res.amount == 10_000
        assert_credited_once(r, 10_000)


@pytest.mark.parametrize("point", ["captured", "authorized", "written", "verified", "confirm_captured"])
def test_terminal_killed_mid_purchase_is_finished_by_the_next_read(tmp_path, point):
    armed = {"on": True}

    def fault(p):
        if armed["on"] and p == point:
            raise Killed(p)

    with rig(tmp_path, fault=fault) as r:
        with pytest.raises(Killed):
            r.terminal.service.topup(20_000)
        # the terminal dies: a new process opens the same journal, the card stays in the reader
        r.terminal.close()
        armed["on"] = False
        r.terminal = open_terminal(tmp_path / "journal.sqlite", r.station.port, r.device.url)
        if point == "confirm_captured":
            # the purchase is complete on the card; the pending confirmation is delivered first
            with pytest.raises(TopupRefused) as e:
                r.terminal.service.topup(20_000)
            assert e.value.reason is Reason.NOT_LOADED
        else:
            res = r.terminal.service.topup(20_000)
            assert res.recovered and res.amount == 20_000
        assert_credited_once(r, 20_000)


def test_a_card_reset_between_challenge_and_write_says_insert_again_and_is_credited_once(tmp_path):
    """pcscd may power a re-inserted card up while the terminal already talks to it: the challenge is
    gone and the write answers 6985.  The operator is told to insert the same card again (not to go to
    the business hall), and that finishes the purchase once."""
    from drivers.ic_card.apdu import StatusWord
    from drivers.ic_card.card import CardStatusError

    armed = {"on": True}
    cards = []

    def fault(point):
        if armed["on"] and point == "authorized":
            armed["on"] = False
            cards[0].reset()  # the card is re-powered between GET CHALLENGE and the write

    with rig(tmp_path, fault=fault) as r:
        cards.append(r.card)
        with pytest.raises(CardStatusError) as e:
            r.terminal.service.topup(15_000)
        assert e.value.sw == StatusWord.CONDITIONS_NOT_SATISFIED
        assert "insert the same card again" in str(e.value.action).lower()
        assert r.card.purchase.count == START_COUNT and r.card.log.writes == 0
        res = r.terminal.service.topup(15_000)
        assert res.recovered and res.amount == 15_000
        assert_credited_once(r, 15_000)


class SwitchableTransport(SocketTransport):
    """The OS socket transport with a switch: while ``down`` no connection opens (no coverage)."""

    down = False

    def open(self, host, port, timeout):
        if self.down:
            raise LinkDownError("no coverage here")
        super().open(host, port, timeout)


def test_link_down_during_authorization_keeps_the_money_journaled(tmp_path):
    transport = SwitchableTransport()
    faults = []

    def fault(point):
        faults.append(point)
        if faults == ["captured"]:
            transport.down = True  # the signal goes after the lookup, before the authorization

    with rig(tmp_path, transport=transport, fault=fault) as r:
        with pytest.raises(AuthorizationPending):
            r.terminal.service.topup(8_000)
        assert ledger_rows(r.db) == [] and r.card.purchase.count == START_COUNT
        assert [e.state for e in r.terminal.journal.entries()] == [EntryState.PENDING]
        transport.down = False  # coverage is back; the customer inserts the same card again
        res = r.terminal.service.topup(8_000)
        assert res.recovered and res.amount == 8_000
        assert_credited_once(r, 8_000)


def test_the_purchase_voucher_comes_out_of_the_printer(tmp_path):
    from drivers.printer import ThermalPrinter
    from hw_mocks.printer import MockPrinter

    with MockPrinter(link=tmp_path / "ttyPrinter", out_dir=tmp_path / "out") as mock, \
            ThermalPrinter(mock.path, status_timeout=0.5) as printer, rig(tmp_path, printer=printer) as r:
        res = r.terminal.service.topup(45_600)
        [printed] = mock.wait_for_tickets(1)
        text = "\n".join(printed.lines)
        assert "购电凭证" in text and "456.00" in text and "肆佰伍拾陆元整" in text
        assert res.receipt in text and printed.qr_codes == [res.receipt]
        res.voucher.check_width(32)


@pytest.mark.parametrize(("cust", "meter"), [("1001", "A1001"), ("1003", "A1001"), ("9999", "A9999")])
def test_a_card_not_of_the_customers_card_meter_is_a_wrong_card(tmp_path, cust, meter):
    from drivers.ic_card.model import CardType, Purchase
    from hw_mocks.card.virtual import VirtualCard

    with rig(tmp_path) as r:
        r.device.remove()
        r.device.insert(VirtualCard.issue(r.holder, CardType.PURCHASE, "0000000000000042", cust, meter,
                                          Purchase(0, 0)))
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.topup(5_000)
        assert e.value.reason is Reason.WRONG_CARD
        assert r.terminal.journal.entries() == [] and ledger_rows(r.db) == []


def test_a_blank_card_is_refused(tmp_path):
    from drivers.ic_card.model import CardType
    from hw_mocks.card.virtual import VirtualCard

    with rig(tmp_path) as r:
        r.device.remove()
        r.device.insert(VirtualCard.issue(r.holder, CardType.BLANK, "0000000000000043", "0", "0"))
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.topup(5_000)
        assert e.value.reason is Reason.BLANK_CARD


def test_the_top_up_goes_to_the_card_shown_and_another_card_is_refused(tmp_path):
    """The operator read card A and took the money for it; card B is in the reader now: refused
    before anything is journaled.  Card A itself (same customer, meter, serial) goes through."""
    from drivers.ic_card.model import CardType, Purchase
    from hw_mocks.card.virtual import VirtualCard
    from terminal_app.services.topup import CardIdentity

    with rig(tmp_path) as r:
        shown = r.terminal.service.inquire()
        card = CardIdentity(shown.cust, shown.meter, shown.serial)
        original = r.device.remove()
        r.device.insert(VirtualCard.issue(r.holder, CardType.PURCHASE, "0000000000000099", "1003", "A1003",
                                          Purchase(0, 0)))
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.topup(5_000, card=card)
        assert e.value.reason is Reason.OTHER_CARD and shown.cust in str(e.value)
        assert r.terminal.journal.entries() == [] and ledger_rows(r.db) == []
        r.device.remove()
        r.device.insert(original)
        res = r.terminal.service.topup(5_000, card=card)
        assert res.amount == 5_000 and not res.recovered
        assert_credited_once(r, 5_000)
