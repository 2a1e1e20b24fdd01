"""补卡 (card re-issue) by the station's rules, end to end: the new card carries the meter's last
purchase again, so a purchase lost with the old card is loaded once and a loaded one is not
loaded again; the meter then refuses the old card."""

from __future__ import annotations

import sqlite3

import pytest

from drivers.ic_card.model import CardType, Purchase
from hw_mocks.card.meter import Insertion
from terminal_app.services.topup import Reason, TopupRefused
from tests.rigs.card import CUST, METER, START_COUNT, issue_card, rig

NEW_SERIAL = "8610000000002003"


def swap_in_new_card(r):
    """The old card is lost; the business hall's re-issue card goes into the reader."""
    old = r.device.remove()
    new = issue_card(r.holder, serial=NEW_SERIAL, card_type=CardType.REISSUE, count=0, amount=0)
    new.ret = new.ret.__class__(False, 0, 0, 0, 0)
    r.device.insert(new)
    return old, new


@pytest.mark.parametrize("loaded_before_loss", [True, False])
def test_reissue_carries_the_last_purchase_and_it_loads_exactly_once(tmp_path, loaded_before_loss):
    with rig(tmp_path) as r:
        r.terminal.service.topup(10_000)
        if loaded_before_loss:
            assert r.insert_into_meter() is Insertion.LOADED
        credit = r.meter.remaining
        old, new = swap_in_new_card(r)
        res = r.terminal.service.reissue(CUST, METER)
        assert (res.amount, res.purchase_count, res.confirm_txn) == (0, START_COUNT + 1, None)
        assert "补卡" in res.voucher.lines[7] or any("补卡" in line for line in res.voucher.lines)
        assert new.purchase == Purchase(10_000, START_COUNT + 1)
        outcome = r.meter.insert(new)
        if loaded_before_loss:
            assert outcome is Insertion.WRITTEN_BACK and r.meter.remaining == credit
        else:
            assert outcome is Insertion.LOADED and r.meter.remaining == credit + 10_000
        assert r.meter.loaded == [(START_COUNT + 1, 10_000)]  # once, whichever way
        assert r.meter.insert(old) is Insertion.OLD_CARD  # the lost card, found again, is refused
        # the new card then buys like any card
        assert r.terminal.service.topup(3_000).purchase_count == START_COUNT + 2
        assert r.meter.insert(new) is Insertion.LOADED
        with sqlite3.connect(r.db) as c:
            assert c.execute("SELECT amount, purchase_count, state FROM card_purchases ORDER BY rowid").fetchall() \
                == [(10_000, START_COUNT + 1, "confirmed"), (3_000, START_COUNT + 2, "confirmed")]


def test_reissue_with_money_is_one_more_confirmed_purchase(tmp_path):
    with rig(tmp_path) as r:
        _, new = swap_in_new_card(r)
        res = r.terminal.service.reissue(CUST, METER, amount=20_000)
        assert (res.amount, res.purchase_count) == (20_000, START_COUNT + 1) and res.confirm_txn
        assert new.purchase == Purchase(20_000, START_COUNT + 1)
        assert r.meter.insert(new) is Insertion.LOADED and r.meter.loaded == [(START_COUNT + 1, 20_000)]
        with sqlite3.connect(r.db) as c:
            assert c.execute("SELECT kind, state FROM card_purchases").fetchall() == [("reissue", "confirmed")]


def test_reissue_needs_a_reissue_card_of_that_customer(tmp_path):
    with rig(tmp_path) as r:
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.reissue(CUST, METER)  # the customer's ordinary card is in the reader
        assert e.value.reason is Reason.NOT_REISSUE_CARD
        swap_in_new_card(r)
        with pytest.raises(TopupRefused):
            r.terminal.service.reissue("1001", "A1001")
        assert r.terminal.journal.entries() == []


@pytest.mark.parametrize("executed", [False, True], ids=["before-chip", "answer-lost"])
def test_a_reissue_interrupted_by_a_pulled_card_ends_with_the_purchase_on_the_card_once(tmp_path, executed):
    from drivers.ic_card.reader import CardRemovedError

    with rig(tmp_path) as r:
        r.terminal.service.topup(10_000)
        _, new = swap_in_new_card(r)
        r.device.pull_after(6, executed=executed)  # 5 frames read the card (exact Le), GET CHALLENGE, the write
        with pytest.raises(CardRemovedError):
            r.terminal.service.reissue(CUST, METER)
        r.device.insert(new)
        if executed:
            with pytest.raises(TopupRefused) as e:
                r.terminal.service.reissue(CUST, METER)
            assert e.value.reason is Reason.ALREADY_REISSUED
        else:
            assert r.terminal.service.reissue(CUST, METER).purchase_count == START_COUNT + 1
        assert new.purchase == Purchase(10_000, START_COUNT + 1) and new.log.writes == 1
        assert r.meter.insert(new) is Insertion.LOADED and r.meter.loaded == [(START_COUNT + 1, 10_000)]


def test_the_old_card_found_again_is_refused_before_any_money_is_taken(tmp_path):
    # the lost card's count still matches the station's: without the serial check the station would
    # authorize a purchase the meter then refuses (money taken, never credited)
    with rig(tmp_path) as r:
        r.terminal.service.topup(10_000)
        assert r.insert_into_meter() is Insertion.LOADED
        old, new = swap_in_new_card(r)
        r.terminal.service.reissue(CUST, METER)
        r.device.remove()
        r.device.insert(old)
        captured_before = len(r.terminal.journal.entries())
        with pytest.raises(TopupRefused) as info:
            r.terminal.service.topup(5_000)
        assert info.value.reason is Reason.CARD_REPLACED
        assert len(r.terminal.journal.entries()) == captured_before  # nothing journaled, no money taken
        with sqlite3.connect(r.db) as c:
            assert c.execute("SELECT count(*) FROM card_purchases WHERE amount = 5000").fetchone() == (0,)
