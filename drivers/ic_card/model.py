"""The prepaid card application (购电卡应用): files, their byte layout, its commands, the write MAC.

Pure data and bytes (no I/O); docs/card.md is the specification other implementations follow.
The application is the DF named :data:`AID`; its files are reached by short file id (SFI):

    SFI 1  parameters  type(1) serial(8) cust(20 ASCII, 00-padded) meter(32 ASCII, 00-padded)
    SFI 2  purchase    amount(4, fen) purchase_count(4)                  written only with a MAC
    SFI 3  return      written(1) remaining(4, signed fen) energy(4, 0.01 kWh) status(2)
                       meter_count(4)                                   written by the meter

All integers are big endian.  The purchase file is written by UPDATE BINARY with secure
messaging (CLA 04): data = amount ‖ count ‖ MAC(4).  The card accepts it only when a challenge
it issued is still live (GET CHALLENGE must be the command right before), the MAC verifies
under the card's key, and the count is greater than the count the card already holds — so a
replayed write (its challenge is gone) or a forged one (its MAC is wrong) is refused by the
card, and no write can load the same purchase twice.

The MAC (:func:`purchase_mac`) is computed by the key holder (the master station), never by the
terminal: the first 4 bytes of AES-CMAC(card key, "GT1-CARD-PURCHASE" 00 ‖ challenge ‖ amount ‖
count ‖ len(cust) ‖ cust ‖ len(meter) ‖ meter).  The card takes cust and meter from its own
parameter file, so a MAC made for another customer's card fails too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from drivers.ic_card.apdu import CommandApdu
from terminal_app.errors import N_, LocalProtocolError, RemoteProtocolError

AID = bytes.fromhex("D156000001") + b"GT1CARD"  # RID of a Chinese registrant + our PIX
SFI_PARAMS = 1
SFI_PURCHASE = 2
SFI_RETURN = 3
PARAMS_LEN = 61
PURCHASE_LEN = 8
RETURN_LEN = 15
MAC_LEN = 4
CHALLENGE_LEN = 8
MAC_LABEL = b"GT1-CARD-PURCHASE\x00"
MAX_COUNT = 0xFFFF_FFFF


class CardDataError(RemoteProtocolError):
    """A card file's bytes do not follow the card application's layout."""

    default_action = "This card was not issued for this system, or it is damaged; take it to the business hall."


class CardType(IntEnum):
    BLANK = 0  # not personalised
    OPEN_ACCOUNT = 1  # 开户卡: the first card of a meter
    PURCHASE = 2  # 购电卡
    REISSUE = 3  # 补卡: replaces a lost or broken card; the meter then refuses the old one


def _text(raw: bytes, what: str) -> str:
    value = raw.rstrip(b"\x00")
    if b"\x00" in value or not all(0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A for b in value):
        raise CardDataError("The card's {field} field is not letters and digits.", field=what)
    return value.decode("ascii")


def _field(value: str, size: int, what: str) -> bytes:
    raw = value.encode("ascii", "replace")
    if not raw or len(raw) > size or not value.isalnum() or not value.isascii():
        raise LocalProtocolError("The {field} {value!r} does not fit the card's {size}-byte field.",
                                 field=what, value=value, size=size)
    return raw.ljust(size, b"\x00")


@dataclass(frozen=True, slots=True)
class Params:
    card_type: CardType
    serial: str  # 16 hex digits, printed on the card
    cust: str
    meter: str  # asset number of the meter the card belongs to

    def encode(self) -> bytes:
        serial = bytes.fromhex(self.serial)
        if len(serial) != 8:
            raise LocalProtocolError("A card serial is 16 hex digits, not {serial!r}.", serial=self.serial)
        return bytes((self.card_type,)) + serial + _field(self.cust, 20, N_("customer number")) + \
            _field(self.meter, 32, N_("meter number"))

    @classmethod
    def decode(cls, raw: bytes) -> Params:
        if len(raw) != PARAMS_LEN:
            raise CardDataError("The card's parameter file has {n} bytes, not 61.", n=len(raw))
        try:
            card_type = CardType(raw[0])
        except ValueError:
            raise CardDataError("The card's type {t} is unknown.", t=raw[0]) from None
        if card_type is CardType.BLANK:
            return cls(card_type, raw[1:9].hex(), "", "")
        return cls(card_type, raw[1:9].hex(), _text(raw[9:29], N_("customer number")), _text(raw[29:61], N_("meter number")))


@dataclass(frozen=True, slots=True)
class Purchase:
    amount: int  # fen of the last purchase written to the card
    count: int  # purchase count (购电次数) that purchase carries

    def encode(self) -> bytes:
        if not (0 <= self.amount <= MAX_COUNT and 0 <= self.count <= MAX_COUNT):
            raise LocalProtocolError("Purchase {amount}/{count} does not fit the card.", amount=self.amount,
                                     count=self.count)
        return self.amount.to_bytes(4, "big") + self.count.to_bytes(4, "big")

    @classmethod
    def decode(cls, raw: bytes) -> Purchase:
        if len(raw) != PURCHASE_LEN:
            raise CardDataError("The card's purchase file has {n} bytes, not 8.", n=len(raw))
        return cls(int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:], "big"))


@dataclass(frozen=True, slots=True)
class ReturnData:
    """What the meter wrote back when the card was last inserted (返写信息)."""

    written: bool  # False: no meter has seen the card since it was issued
    remaining: int  # fen of credit left in the meter (may be negative: 透支)
    energy_centi_kwh: int  # cumulative energy, 0.01 kWh
    status: int  # meter status word (bit 0: relay open, bit 1: low credit alarm)
    meter_count: int  # the meter's purchase count after that insertion

    def encode(self) -> bytes:
        return bytes((1 if self.written else 0,)) + self.remaining.to_bytes(4, "big", signed=True) + \
            self.energy_centi_kwh.to_bytes(4, "big") + self.status.to_bytes(2, "big") + \
            self.meter_count.to_bytes(4, "big")

    @classmethod
    def decode(cls, raw: bytes) -> ReturnData:
        if len(raw) != RETURN_LEN or raw[0] not in (0, 1):
            raise CardDataError("The card's return file is not 15 bytes starting 00/01.")
        return cls(bool(raw[0]), int.from_bytes(raw[1:5], "big", signed=True), int.from_bytes(raw[5:9], "big"),
                   int.from_bytes(raw[9:11], "big"), int.from_bytes(raw[11:15], "big"))


@dataclass(frozen=True, slots=True)
class CardContents:
    atr: bytes
    params: Params
    purchase: Purchase
    ret: ReturnData

    @property
    def loaded(self) -> bool:
        """The meter has loaded the purchase the card holds (the count rule's "written back")."""
        return self.ret.written and self.ret.meter_count >= self.purchase.count


# ---------------------------------------------------------------------- commands


def select_application() -> CommandApdu:
    # case 4 (FCI wanted): a T=0 card answers 61xx and the FCI comes with GET RESPONSE
    return CommandApdu(0x00, 0xA4, 0x04, 0x00, AID, le=256)


#: the size of each file of the application: READ BINARY asks for exactly that (ISO 7816-4 §11.2.3)
FILE_SIZES = {SFI_PARAMS: PARAMS_LEN, SFI_PURCHASE: PURCHASE_LEN, SFI_RETURN: RETURN_LEN}


def read_file(sfi: int, length: int | None = None) -> CommandApdu:
    """READ BINARY of the whole file ``sfi`` (short EF identifier in P1, offset 0).

    Le is the file's size when known (``length``, else :data:`FILE_SIZES`); for a file of
    unknown size Le = 00 (up to 256), which a card answers with the file and 62 82 when it is
    shorter (or 6Cxx, T=0 cards)."""
    le = length if length is not None else FILE_SIZES.get(sfi, 256)
    return CommandApdu(0x00, 0xB0, 0x80 | sfi, 0x00, le=le)


def get_challenge() -> CommandApdu:
    return CommandApdu(0x00, 0x84, 0x00, 0x00, le=CHALLENGE_LEN)


def update_purchase(amount: int, count: int, mac: bytes) -> CommandApdu:
    if len(mac) != MAC_LEN:
        raise LocalProtocolError("A card write MAC is 4 bytes, not {n}.", n=len(mac))
    return CommandApdu(0x04, 0xD6, 0x80 | SFI_PURCHASE, 0x00, Purchase(amount, count).encode() + mac)


def mac_input(cust: str, meter: str, amount: int, count: int, challenge: bytes) -> bytes:
    c, m = cust.encode("ascii"), meter.encode("ascii")
    return MAC_LABEL + challenge + Purchase(amount, count).encode() + bytes((len(c),)) + c + bytes((len(m),)) + m


def purchase_mac(key: bytes, cust: str, meter: str, amount: int, count: int, challenge: bytes) -> bytes:
    """The key holder's MAC over a purchase write (card and station side; never the terminal)."""
    from Crypto.Cipher import AES
    from Crypto.Hash import CMAC

    return CMAC.new(key, mac_input(cust, meter, amount, count, challenge), ciphermod=AES).digest()[:MAC_LEN]
