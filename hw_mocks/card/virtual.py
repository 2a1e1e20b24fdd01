"""A virtual CPU card holding the prepaid application (docs/card.md), answering raw APDUs.

As a T=0 card (the default) a case 4 command (SELECT with Le) is answered ``61xx`` and its
data fetched with GET RESPONSE; READ BINARY with the wrong Le is answered ``6Cxx``.  As a T=1
card (``protocol=1``, its ATR says so) it answers as ISO 7816-4 reads for any protocol: SELECT's
FCI comes with 90 00, READ BINARY returns Ne bytes, or the file up to its end with the warning
62 82 when Ne is larger (Le = 00 included).  The purchase
file changes only by a MAC-protected UPDATE BINARY right after GET CHALLENGE, with a count
greater than the one the card holds; writes are atomic (anti-tearing: a pulled card keeps the
old or the new file, never a mix).  MACs are compared in constant time; after
``MAX_MAC_FAILURES`` wrong MACs in a row the write key is blocked (6983).
"""

from __future__ import annotations

import hmac
import random
import threading
from dataclasses import dataclass
from typing import Any

from drivers.ic_card import model
from drivers.ic_card.apdu import ApduError, CommandApdu, ResponseApdu, StatusWord
from drivers.ic_card.model import CardType, Params, Purchase, ReturnData

MAX_MAC_FAILURES = 15


def _sw(sw: int, data: bytes = b"") -> bytes:
    return ResponseApdu.of(sw, data).encode()


@dataclass
class CardLog:
    """What the card did (tests read it)."""

    writes: int = 0  # purchase writes accepted
    mac_failures: int = 0  # wrong MACs, in total
    refused_writes: int = 0  # writes refused for any reason


class VirtualCard:
    """The card's chip.  Thread-safe: the reader thread and a test may both touch it."""

    def __init__(self, params: Params, key: bytes, purchase: Purchase | None = None,
                 ret: ReturnData | None = None, *, rng: random.Random | None = None, protocol: int = 0) -> None:
        if protocol not in (0, 1):
            raise ValueError(f"protocol T={protocol} is not T=0 or T=1")
        self.protocol = protocol
        self.params = params
        self._key = bytes(key)
        self.purchase = purchase or Purchase(0, 0)
        self.ret = ret or ReturnData(False, 0, 0, 0, 0)
        self._rng = rng or random.SystemRandom()
        self._lock = threading.RLock()
        self._selected = False
        self._challenge: bytes | None = None
        self._pending_out = b""  # T=0: response data waiting for GET RESPONSE
        self._failures = 0
        self.log = CardLog()

    def __repr__(self) -> str:
        return f"VirtualCard({self.params.card_type.name}, {self.params.cust}, {self.params.meter})"

    @classmethod
    def issue(cls, key_holder: Any, card_type: CardType, serial: str, cust: str, meter: str,
              purchase: Purchase | None = None, ret: ReturnData | None = None,
              rng: random.Random | None = None, protocol: int = 0) -> VirtualCard:
        """Personalise a card the way the business hall does: its key from the key holder
        (:class:`hw_mocks.station.card_keys.CardKeyHolder`)."""
        return cls(Params(card_type, serial, cust, meter), key_holder.card_key(cust, meter), purchase, ret, rng=rng,
                   protocol=protocol)

    @property
    def atr(self) -> bytes:
        serial = bytes.fromhex(self.params.serial)
        if self.protocol == 0:
            # TS=3B direct convention; T0=68: TB1, TC1 present, 8 historical bytes (the serial)
            return bytes.fromhex("3B680000") + serial
        # T0=88: TD1 present, 8 historical bytes; TD1=01: T=1, nothing further; then TCK
        body = bytes.fromhex("8801") + serial
        tck = 0
        for b in body:
            tck ^= b
        return b"\x3b" + body + bytes((tck,))

    @property
    def blocked(self) -> bool:
        return self._failures >= MAX_MAC_FAILURES

    def reset(self) -> bytes:
        """Cold reset: everything volatile is gone (selection, challenge, pending data)."""
        with self._lock:
            self._selected = False
            self._challenge = None
            self._pending_out = b""
            return self.atr

    def write_return(self, ret: ReturnData) -> None:
        """The meter's write-back (the meter authenticates with its own ESAM; not modelled)."""
        with self._lock:
            self.ret = ret

    # ------------------------------------------------------------------ APDUs
    def process(self, raw: bytes) -> bytes:
        with self._lock:
            try:
                cmd = CommandApdu.decode(raw)
            except ApduError:
                return _sw(StatusWord.WRONG_LENGTH)
            challenge, self._challenge = self._challenge, None  # valid for the next command only
            if cmd.ins == 0xC0 and cmd.cla & 0xFC == 0:
                return self._get_response(cmd)
            self._pending_out = b""
            if cmd.cla not in (0x00, 0x04):
                return _sw(StatusWord.CLA_NOT_SUPPORTED)
            if cmd.ins == 0xA4:
                return self._select(cmd)
            if not self._selected:
                return _sw(StatusWord.CONDITIONS_NOT_SATISFIED)
            if cmd.ins == 0xB0:
                return self._read(cmd)
            if cmd.ins == 0x84:
                return self._challenge_cmd(cmd)
            if cmd.ins == 0xD6:
                return self._update(cmd, challenge)
            return _sw(StatusWord.INS_NOT_SUPPORTED)

    def _get_response(self, cmd: CommandApdu) -> bytes:
        if not self._pending_out:
            return _sw(StatusWord.CONDITIONS_NOT_SATISFIED)
        n = cmd.le or 256
        out, self._pending_out = self._pending_out[:n], self._pending_out[n:]
        if self._pending_out:
            return _sw(0x6100 | (len(self._pending_out) & 0xFF), out)
        return _sw(StatusWord.OK, out)

    def _select(self, cmd: CommandApdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0x04, 0x00):
            return _sw(StatusWord.INCORRECT_P1P2)
        if cmd.data != model.AID:
            self._selected = False
            return _sw(StatusWord.FILE_NOT_FOUND)
        self._selected = True
        if cmd.le is None:
            return _sw(StatusWord.OK)
        fci = bytes((0x6F, len(model.AID) + 2, 0x84, len(model.AID))) + model.AID
        if self.protocol == 1:
            return _sw(StatusWord.OK, fci[:cmd.le])
        self._pending_out = fci
        return _sw(0x6100 | len(fci))  # T=0: no data with a case 4 answer

    def _file(self, sfi: int) -> bytes | None:
        if sfi == model.SFI_PARAMS:
            return self.params.encode()
        if sfi == model.SFI_PURCHASE:
            return self.purchase.encode()
        if sfi == model.SFI_RETURN:
            return self.ret.encode()
        return None

    def _read(self, cmd: CommandApdu) -> bytes:
        if not cmd.p1 & 0x80:
            return _sw(StatusWord.INCORRECT_P1P2)
        if cmd.cla != 0x00:
            return _sw(StatusWord.CLA_NOT_SUPPORTED)
        content = self._file(cmd.p1 & 0x1F)
        if content is None:
            return _sw(StatusWord.FILE_NOT_FOUND)
        if cmd.p2 != 0 or cmd.data:
            return _sw(StatusWord.WRONG_P1P2)
        if cmd.le is None:
            return _sw(StatusWord.WRONG_LENGTH)
        if self.protocol == 1:
            if cmd.le > len(content):
                return _sw(StatusWord.END_OF_FILE, content)  # a warning, with the data
            return _sw(StatusWord.OK, content[:cmd.le])
        if cmd.le != len(content):
            return _sw(0x6C00 | len(content))
        return _sw(StatusWord.OK, content)

    def _challenge_cmd(self, cmd: CommandApdu) -> bytes:
        if cmd.le != model.CHALLENGE_LEN or cmd.data:
            return _sw(0x6C00 | model.CHALLENGE_LEN)
        self._challenge = bytes(self._rng.getrandbits(8) for _ in range(model.CHALLENGE_LEN))
        return _sw(StatusWord.OK, self._challenge)

    def _update(self, cmd: CommandApdu, challenge: bytes | None) -> bytes:
        sfi = cmd.p1 & 0x1F if cmd.p1 & 0x80 else None
        if sfi != model.SFI_PURCHASE or cmd.cla != 0x04:
            # the parameter and return files are not the terminal's to write; plain writes never
            self.log.refused_writes += 1
            return _sw(StatusWord.SECURITY_NOT_SATISFIED)
        if len(cmd.data) != model.PURCHASE_LEN + model.MAC_LEN or cmd.p2 != 0:
            self.log.refused_writes += 1
            return _sw(StatusWord.WRONG_LENGTH)
        if self.blocked:
            self.log.refused_writes += 1
            return _sw(StatusWord.AUTH_METHOD_BLOCKED)
        if challenge is None or self.params.card_type is CardType.BLANK:
            self.log.refused_writes += 1
            return _sw(StatusWord.CONDITIONS_NOT_SATISFIED)
        new = Purchase.decode(cmd.data[:model.PURCHASE_LEN])
        want = model.purchase_mac(self._key, self.params.cust, self.params.meter, new.amount, new.count, challenge)
        if not hmac.compare_digest(want, cmd.data[model.PURCHASE_LEN:]):
            self._failures += 1
            self.log.mac_failures += 1
            self.log.refused_writes += 1
            return _sw(StatusWord.SM_DATA_INCORRECT)
        self._failures = 0
        if new.count <= self.purchase.count:
            self.log.refused_writes += 1
            return _sw(StatusWord.CONDITIONS_NOT_SATISFIED)  # never the same purchase twice
        self.purchase = new  # atomic: one assignment under the lock
        self.log.writes += 1
        return _sw(StatusWord.OK)
