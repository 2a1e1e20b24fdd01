"""The State Grid user card (scheme ``sgcc``, docs/card.md) end to end: production CardService,
SerialCardReader, journal, sync engine and StationClient against the mock reader (pty) with the
mock chip, the reference station's key holder, and the mock card meter running the meter's flow
as APDUs with its ESAM's keys.  Purchase, open account, re-issue and the return-write read pass
through the meter; the chip refuses unauthenticated writes, wrong MACs and replays; the meter
refuses what a real one would."""

from __future__ import annotations

import sqlite3

import pytest

from drivers.ic_card import sgcc
from drivers.ic_card.apdu import CommandApdu, ResponseApdu, StatusWord
from drivers.ic_card.reader import CardRemovedError
from hw_mocks.card.meter import Insertion
from hw_mocks.card.sgcc import SgccUserCardChip
from hw_mocks.station.card_keys import CardKeyHolder
from offline_queue.journal import EntryState
from terminal_app.services.topup import KIND_CONFIRM, KIND_PURCHASE, Reason, TopupRefused
from tests.rigs.card import (
    SERIAL,
    SGCC_CUSTOMER_NO,
    SGCC_METER_NO,
    START_COUNT,
    held,
    issue_sgcc_card,
    rig,
    sgcc_meter,
)

NEW_SERIAL = "8610000000002003"
#: an uninterrupted sale: POWER_ON is no APDU; SELECT 3F00, SELECT DF01, READ 81/82/85 (exact
#: sizes), INTERNAL AUTHENTICATE + GET RESPONSE (T=0), GET CHALLENGE, EXTERNAL AUTHENTICATE,
#: UPDATE 85, UPDATE 82, READ 82 back = 12 frames (+1 with the 01→02 type change)
FLOW_APDUS = 12


def ledger_rows(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT txn, amount, purchase_count, state FROM card_purchases ORDER BY rowid").fetchall()


def assert_credited_once(r, amount: int, count: int = START_COUNT + 1) -> None:
    rows = ledger_rows(r.db)
    assert [(a, n, s) for _, a, n, s in rows] == [(amount, count, "confirmed")]
    assert held(r.card) == (count, amount)
    assert r.card.return_write is None  # emptied by the sale: the meter takes only an empty one
    entries = r.terminal.journal.entries()
    auths = [e for e in entries if e.kind == KIND_PURCHASE]
    confirms = [e for e in entries if e.kind == KIND_CONFIRM]
    assert len(auths) == 1 and auths[0].state is EntryState.APPLIED and auths[0].txn == rows[0][0]
    assert len(confirms) == 1 and confirms[0].depends_on == auths[0].txn
    before = r.meter.remaining
    assert r.insert_into_meter() is Insertion.LOADED
    assert r.meter.remaining == before + amount and r.meter.loaded[-1] == (count, amount)
    assert r.insert_into_meter() is Insertion.WRITTEN_BACK  # a second insertion loads nothing
    assert r.meter.remaining == before + amount


@pytest.mark.parametrize("protocol", [0, 1], ids=["T=0", "T=1"])
def test_a_purchase_passes_through_the_meter_and_the_return_write_read_shows_it(tmp_path, protocol):
    with rig(tmp_path, scheme="sgcc") as r:
        if protocol:
            r.device.remove()
            r.card = issue_sgcc_card(r.holder, protocol=1)
            r.device.insert(r.card)
        inq = r.terminal.service.inquire()  # the return-write file as the meter wrote it
        assert (inq.cust, inq.meter, inq.remaining, inq.loaded) == (SGCC_CUSTOMER_NO, SGCC_METER_NO, 2000, True)
        frames = r.device.apdus
        res = r.terminal.service.topup(12_300)
        assert r.device.apdus - frames == FLOW_APDUS + protocol * -1  # T=1: no GET RESPONSE
        assert (res.amount, res.purchase_count, res.recovered) == (12_300, START_COUNT + 1, False)
        assert res.meter == SGCC_METER_NO and any("123.00" in line for line in res.voucher.lines)
        assert r.card.log.wallet_writes == 1 and r.card.log.refused_writes == 0
        assert_credited_once(r, 12_300)
        inq = r.terminal.service.inquire()
        assert (inq.remaining, inq.loaded, inq.purchase.count) == (2000 + 12_300, True, START_COUNT + 1)
        assert r.card.return_write.purchase_count == START_COUNT + 1


def test_a_second_purchase_needs_the_card_in_the_meter_first(tmp_path):
    with rig(tmp_path, scheme="sgcc") as r:
        r.terminal.service.topup(5_000)
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.topup(5_000)
        assert e.value.reason is Reason.NOT_LOADED
        assert r.insert_into_meter() is Insertion.LOADED
        assert r.terminal.service.topup(7_000).purchase_count == START_COUNT + 2
        assert r.insert_into_meter() is Insertion.LOADED
        assert r.meter.loaded == [(START_COUNT + 1, 5_000), (START_COUNT + 2, 7_000)]


@pytest.mark.parametrize("executed", [False, True], ids=["before-chip", "answer-lost"])
@pytest.mark.parametrize("after", range(FLOW_APDUS))
def test_card_pulled_after_each_apdu_is_credited_exactly_once(tmp_path, after, executed):
    with rig(tmp_path, scheme="sgcc") as r:
        r.device.pull_after(after, executed=executed)
        with pytest.raises(CardRemovedError):
            r.terminal.service.topup(10_000)
        r.device.insert(r.card)  # the customer puts the same card back
        res = r.terminal.service.topup(10_000)
        assert res.purchase_count == START_COUNT + 1 and res.amount == 10_000
        assert_credited_once(r, 10_000)


def test_open_account_then_purchases(tmp_path):
    """开户: the open-account card (type 01, count 0) opens an unopened meter with its first
    purchase; the next sale turns it into a purchase card (02) that the opened meter takes."""
    with rig(tmp_path, scheme="sgcc") as r:
        with sqlite3.connect(r.db) as c:  # a new customer's meter: nothing sold yet
            c.execute("UPDATE meters SET purchase_count = 0 WHERE asset = 'A1003'")
        r.device.remove()
        r.card = issue_sgcc_card(r.holder, card_type=1, count=0, amount=0, loaded=False)
        r.meter = sgcc_meter(r.holder, count=0, remaining=0, bound_serial=None)
        r.device.insert(r.card)
        assert r.terminal.service.topup(20_000).purchase_count == 1
        assert r.card.params.card_type is sgcc.UserCardType.OPEN_ACCOUNT
        assert r.insert_into_meter() is Insertion.LOADED
        assert (r.meter.bound_serial, r.meter.customer_no, r.meter.remaining) == (SERIAL, SGCC_CUSTOMER_NO, 20_000)
        assert r.terminal.service.topup(3_000).purchase_count == 2
        assert r.card.params.card_type is sgcc.UserCardType.PURCHASE  # the record's checksum still holds
        assert r.insert_into_meter() is Insertion.LOADED and r.meter.remaining == 23_000
        # another meter's open-account card cannot open an opened meter
        stranger = issue_sgcc_card(r.holder, serial="8610000000007777", card_type=1, count=0, amount=0, loaded=False)
        assert r.meter.insert(stranger) is Insertion.OLD_CARD


@pytest.mark.parametrize("loaded_before_loss", [True, False])
def test_reissue_carries_the_last_purchase_and_the_old_card_is_refused(tmp_path, loaded_before_loss):
    with rig(tmp_path, scheme="sgcc") as r:
        r.terminal.service.topup(10_000)
        if loaded_before_loss:
            assert r.insert_into_meter() is Insertion.LOADED
        credit = r.meter.remaining
        old = r.device.remove()
        new = issue_sgcc_card(r.holder, serial=NEW_SERIAL, card_type=3, count=0, amount=0, loaded=False)
        r.device.insert(new)
        res = r.terminal.service.reissue(SGCC_CUSTOMER_NO, SGCC_METER_NO)
        assert (res.amount, res.purchase_count, res.confirm_txn) == (0, START_COUNT + 1, None)
        assert held(new) == (START_COUNT + 1, 10_000)
        outcome = r.meter.insert(new)
        assert outcome is (Insertion.WRITTEN_BACK if loaded_before_loss else Insertion.LOADED)
        assert r.meter.remaining == credit + (0 if loaded_before_loss else 10_000)
        assert r.meter.loaded == [(START_COUNT + 1, 10_000)] and r.meter.bound_serial == NEW_SERIAL
        assert r.meter.insert(old) is Insertion.OLD_CARD  # the lost card, found again
        r.card = new
        assert r.terminal.service.topup(3_000).purchase_count == START_COUNT + 2
        assert r.insert_into_meter() is Insertion.LOADED


def _x(chip, cmd: CommandApdu) -> ResponseApdu:
    resp = ResponseApdu.decode(chip.process(cmd.encode()))
    if resp.sw1 == 0x61:
        resp = ResponseApdu.decode(chip.process(CommandApdu(0, 0xC0, 0, 0, le=resp.sw2).encode()))
    return resp


def _opened(chip) -> None:
    chip.reset()
    assert _x(chip, sgcc.select_fid(sgcc.MF)).ok and _x(chip, sgcc.select_fid(sgcc.DF_USER)).ok


def test_the_card_refuses_unauthenticated_writes_wrong_macs_and_replays(tmp_path):
    from hw_mocks.station.card_keys import DEMO_MASTER_KEY

    holder = CardKeyHolder(DEMO_MASTER_KEY).sgcc
    chip = issue_sgcc_card(CardKeyHolder(DEMO_MASTER_KEY))
    before = dict(chip.files)
    wallet = sgcc.SmWrite(sgcc.SFI_WALLET, 0, sgcc.Wallet(99_000, START_COUNT + 1).encode())
    _opened(chip)
    # no external authentication: refused, whatever the MAC
    assert _x(chip, wallet.command(b"\0\0\0\0")).sw == StatusWord.SECURITY_NOT_SATISFIED
    # a plain write never
    assert _x(chip, CommandApdu(0, 0xD6, 0x82, 0, wallet.data)).sw == StatusWord.SECURITY_NOT_SATISFIED
    # external authentication without a challenge right before, or with a wrong cryptogram
    assert _x(chip, sgcc.external_authenticate(1, bytes(8))).sw == StatusWord.CONDITIONS_NOT_SATISFIED
    _x(chip, sgcc.get_challenge())
    assert _x(chip, sgcc.external_authenticate(1, bytes(8))).sw1 == 0x63 and chip.log.auth_failures == 1
    # a genuine sale recorded …
    challenge = _x(chip, sgcc.get_challenge()).data
    crypto = holder.vend(chip.serial, challenge, 99_000, START_COUNT + 1, None)
    auth = sgcc.external_authenticate(1, bytes.fromhex(crypto["ext_auth"]))
    writes = [w.command(bytes.fromhex(m)) for w, m in
              zip(sgcc.vend_writes(99_000, START_COUNT + 1, None), crypto["macs"], strict=True)]
    assert _x(chip, auth).ok
    # … a wrong MAC inside the session: refused, the file kept, the session over
    bad = writes[1].data[:-4] + bytes(4)
    assert _x(chip, CommandApdu(4, 0xD6, 0x82, 0, bad)).sw == StatusWord.SM_DATA_INCORRECT
    assert _x(chip, writes[1]).sw == StatusWord.SECURITY_NOT_SATISFIED
    assert chip.files == before and chip.log.mac_failures == 1
    # replayed later: the card's new challenge makes the recorded cryptogram and MACs worthless
    _x(chip, sgcc.get_challenge())
    assert _x(chip, auth).sw1 == 0x63
    assert all(_x(chip, w).sw == StatusWord.SECURITY_NOT_SATISFIED for w in writes)
    assert chip.files == before and chip.log.wallet_writes == 0
    # the meter's session may write only the return-write file
    challenge = _x(chip, sgcc.get_challenge()).data
    assert _x(chip, sgcc.external_authenticate(
        2, sgcc.encipher(holder.card_key(sgcc.KEY_METER_AUTH, chip.serial), challenge))).ok
    mac = sgcc.mac(holder.card_key(sgcc.KEY_METER_MAC, chip.serial), challenge, wallet.mac_input())
    assert _x(chip, wallet.command(mac)).sw == StatusWord.SECURITY_NOT_SATISFIED
    assert chip.files == before


def test_a_card_with_forged_keys_is_refused_by_the_station_and_the_meter(tmp_path):
    with rig(tmp_path, scheme="sgcc") as r:
        r.device.remove()
        forged = issue_sgcc_card(CardKeyHolder(bytes(range(16))))  # right serial and numbers, wrong keys
        r.card = forged
        r.device.insert(forged)
        with pytest.raises(TopupRefused) as e:
            r.terminal.service.topup(10_000)
        assert e.value.reason is Reason.REFUSED and "100.00" in str(e.value)  # the money goes back
        assert held(forged) == (START_COUNT, 5000) and ledger_rows(r.db) == []
        assert r.meter.insert(forged) is Insertion.NOT_GENUINE and r.meter.illegal_cards == 1


def test_the_meter_takes_only_what_a_real_one_would(tmp_path):
    from hw_mocks.station.card_keys import DEMO_MASTER_KEY

    holder = CardKeyHolder(DEMO_MASTER_KEY)

    def sold(count, amount=10_000, **kw):
        """A card as the vending side leaves it: the purchase on it, the return file emptied."""
        return issue_sgcc_card(holder, count=count, amount=amount, loaded=False, **kw)

    # the hoarding limit (囤积限额): remaining + purchase above it is refused, nothing loaded
    meter = sgcc_meter(holder, limit=10_000)
    assert meter.insert(sold(START_COUNT + 1)) is Insertion.OVER_LIMIT and meter.remaining == 2000
    assert meter.insert(sold(START_COUNT + 1, amount=8_000)) is Insertion.LOADED and meter.remaining == 10_000
    # a count two ahead: written back, refused (购电次数错)
    meter = sgcc_meter(holder)
    card = sold(START_COUNT + 2)
    assert meter.insert(card) is Insertion.BAD_COUNT and meter.loaded == []
    assert card.return_write is not None and card.return_write.purchase_count == START_COUNT
    # count + 1 over a return file not emptied: 返写不为空
    card = issue_sgcc_card(holder, count=START_COUNT + 1, loaded=True)
    assert meter.insert(card) is Insertion.RETURN_NOT_EMPTY and meter.loaded == []
    # another meter's card, a purchase card on an unopened meter
    other = SgccUserCardChip.issue(holder.sgcc, "000000009999", SGCC_CUSTOMER_NO, sgcc.UserCardType.PURCHASE, SERIAL)
    assert meter.insert(other) is Insertion.WRONG_METER
    assert sgcc_meter(holder, bound_serial=None).insert(sold(START_COUNT + 1)) is Insertion.NOT_OPENED
    # and the right card loads once
    card = sold(START_COUNT + 1)
    assert meter.insert(card) is Insertion.LOADED and meter.insert(card) is Insertion.WRITTEN_BACK
    assert meter.loaded == [(START_COUNT + 1, 10_000)]
