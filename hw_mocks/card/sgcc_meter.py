"""The State Grid local-prepay meter's side of the user card (docs/card.md, "The meter's flow").

:meth:`SgccCardMeter.insert` runs the meter's flow on the card's chip as APDUs, with the keys a
meter's ESAM holds (``SgccKeyHolder.esam()``: internal authentication and the meter's own
keys, none of the vending side's):

1. reset (the card serial from the ATR's historical bytes), SELECT 3F00 / DF01, READ BINARY 81
   (4 bytes: is it issued?);
2. INTERNAL AUTHENTICATE with the ESAM's random: the card must answer with its own key;
3. the parameter record (45 bytes, ``68 … CS 16``), the return-write file (49), the wallet read
   with MAC (the ESAM verifies the data came from this card);
4. the checks of docs/card.md step 8 — meter number; card type (an open-account card only on an
   unopened meter with its count 0/1, a purchase card only with the serial the meter is bound
   to, a re-issue card with the customer's number rebinds the meter when its count is the meter's
   or one more and its return file is empty); the purchase-count rule; 999999.99 元 and the
   hoarding limit (囤积限额);
5. the write-back: GET CHALLENGE, EXTERNAL AUTHENTICATE with the meter's key (02), UPDATE BINARY
   85 with the ESAM's MAC.  A count-plus-one card whose return file was not empty is written back
   and refused (返写不为空); so is a card with a count two ahead (购电次数错).
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from drivers.ic_card import sgcc
from drivers.ic_card.apdu import CommandApdu, ResponseApdu, get_response, parse_atr
from hw_mocks.card.meter import Insertion

_SHANGHAI = ZoneInfo("Asia/Shanghai")


class _Refused(Exception):
    def __init__(self, outcome: Insertion) -> None:
        self.outcome = outcome


@dataclass
class SgccCardMeter:
    esam: Any  # hw_mocks.station.card_keys.SgccKeyHolder (its esam() share)
    meter_no: str  # 12 digits (表号)
    customer_no: str = ""  # stored when the meter is opened (开户)
    count: int = 0  # the ESAM wallet's purchase count
    remaining: int = 0  # fen in the ESAM wallet
    limit: int = 0  # 囤积限额, fen; 0 = none
    bound_serial: str | None = None  # the serial of the card this meter accepts
    ct_ratio: int = 1
    pt_ratio: int = 1
    illegal_cards: int = 0
    loaded: list[tuple[int, int]] = field(default_factory=list)  # (count, amount) of every load
    outcomes: list[Insertion] = field(default_factory=list)

    @property
    def opened(self) -> bool:
        return self.bound_serial is not None

    def consume(self, fen: int, centi_kwh: int = 0) -> None:
        """Electricity used: the ESAM wallet goes down (energy is not on this card's return file)."""
        self.remaining -= fen

    # ------------------------------------------------------------------ APDUs to the card
    @staticmethod
    def _x(chip: Any, cmd: CommandApdu) -> ResponseApdu:
        resp = ResponseApdu.decode(chip.process(cmd.encode()))
        if resp.sw1 == 0x6C:
            resp = ResponseApdu.decode(chip.process(CommandApdu(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data,
                                                                le=resp.sw2 or 256).encode()))
        data = b""
        while resp.sw1 == 0x61:
            data += resp.data
            resp = ResponseApdu.decode(chip.process(get_response(resp.sw2 or 256).encode()))
        return ResponseApdu(data + resp.data, resp.sw1, resp.sw2)

    def _ok(self, chip: Any, cmd: CommandApdu, refusal: Insertion = Insertion.NOT_GENUINE) -> bytes:
        resp = self._x(chip, cmd)
        if not resp.ok:
            raise _Refused(refusal)
        return resp.data

    # ------------------------------------------------------------------ the flow
    def insert(self, chip: Any) -> Insertion:
        try:
            outcome = self._insert(chip)
        except _Refused as r:
            outcome = r.outcome
        self.outcomes.append(outcome)
        return outcome

    def _insert(self, chip: Any) -> Insertion:
        hist = parse_atr(chip.reset()).historical
        serial = hist[1:9].hex().upper()
        self._ok(chip, sgcc.select_fid(sgcc.MF), Insertion.BLANK)
        self._ok(chip, sgcc.select_fid(sgcc.DF_USER), Insertion.BLANK)
        self._ok(chip, sgcc.read_file(sgcc.SFI_PARAMS, 4), Insertion.BLANK)
        rnd = os.urandom(8)
        if not hmac.compare_digest(self._ok(chip, sgcc.internal_authenticate(rnd)),
                                   sgcc.encipher(self.esam.card_key(sgcc.KEY_INTERNAL, serial), rnd)):
            self.illegal_cards += 1
            return Insertion.NOT_GENUINE
        try:
            params = sgcc.UserParams.decode(self._ok(chip, sgcc.read_file(sgcc.SFI_PARAMS, sgcc.PARAMS_LEN)))
            ret_raw = self._ok(chip, sgcc.read_file(sgcc.SFI_RETURN, sgcc.RETURN_LEN))
            ret_empty = sgcc.ReturnWrite.decode(ret_raw) is None
        except sgcc.SgccCardError:
            return Insertion.BLANK
        rnd4 = os.urandom(4)
        got = self._ok(chip, sgcc.read_with_mac(sgcc.SFI_WALLET, sgcc.WALLET_LEN, rnd4))
        data, mac = got[:sgcc.WALLET_LEN], got[sgcc.WALLET_LEN:]
        if len(got) != sgcc.WALLET_LEN + sgcc.MAC_LEN or \
                not hmac.compare_digest(sgcc.mac(self.esam.card_key(sgcc.KEY_METER_MAC, serial), rnd4, data), mac):
            self.illegal_cards += 1
            return Insertion.NOT_GENUINE
        wallet = sgcc.Wallet.decode(data)
        if params.meter_no != self.meter_no:
            return Insertion.WRONG_METER
        kind = params.card_type
        if kind is sgcc.UserCardType.RECONNECT:
            return Insertion.BLANK
        if kind is sgcc.UserCardType.OPEN_ACCOUNT:
            if self.opened and self.bound_serial != serial:
                return Insertion.OLD_CARD
            if not self.opened:
                if not ret_empty or wallet.purchase_count > 1:
                    return Insertion.RETURN_NOT_EMPTY if not ret_empty else Insertion.BAD_COUNT
                self.customer_no, self.bound_serial = params.customer_no, serial  # 开户
        elif not self.opened:
            return Insertion.NOT_OPENED
        elif params.customer_no != self.customer_no:
            return Insertion.WRONG_METER
        elif kind is sgcc.UserCardType.REISSUE and serial != self.bound_serial:
            if not (ret_empty and wallet.purchase_count in (self.count, self.count + 1)):
                return Insertion.OLD_CARD
            self.bound_serial = serial  # the old card is refused from now on
        elif serial != self.bound_serial:
            return Insertion.OLD_CARD
        rule = sgcc.count_rule(wallet.purchase_count, self.count)
        if rule is sgcc.CountRule.OLDER and kind is sgcc.UserCardType.PURCHASE:
            return Insertion.BAD_COUNT
        outcome = Insertion.WRITTEN_BACK
        if rule is sgcc.CountRule.COUNT_ERROR:
            outcome = Insertion.BAD_COUNT
        elif rule is sgcc.CountRule.LOAD:
            if not ret_empty:
                outcome = Insertion.RETURN_NOT_EMPTY
            elif not sgcc.hoarding_ok(self.remaining, wallet.amount_fen, self.limit):
                outcome = Insertion.OVER_LIMIT
            else:
                self.remaining += wallet.amount_fen  # the ESAM's wallet, recharged with the card's purchase
                self.count = wallet.purchase_count
                self.loaded.append((wallet.purchase_count, wallet.amount_fen))
                outcome = Insertion.LOADED
        self._write_back(chip, serial)
        return outcome

    def _write_back(self, chip: Any, serial: str) -> None:
        ret = sgcc.ReturnWrite(self.ct_ratio, self.pt_ratio, self.meter_no, self.customer_no or "0" * 12,
                               max(self.remaining, 0), self.count, max(-self.remaining, 0), self.illegal_cards,
                               dt.datetime.now(_SHANGHAI).strftime("%y%m%d%H%M")).encode()
        challenge = self._ok(chip, sgcc.get_challenge())
        self._ok(chip, sgcc.external_authenticate(
            sgcc.KEY_ID_METER, sgcc.encipher(self.esam.card_key(sgcc.KEY_METER_AUTH, serial), challenge)))
        write = sgcc.SmWrite(sgcc.SFI_RETURN, 0, ret)
        mac = sgcc.mac(self.esam.card_key(sgcc.KEY_METER_MAC, serial), challenge, write.mac_input())
        self._ok(chip, write.command(mac))
