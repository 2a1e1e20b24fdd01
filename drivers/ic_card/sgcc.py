"""The State Grid local-prepay user card (国网本地费控用户卡), sans-IO: what can be read from it.

docs/card.md, "The State Grid local-prepay user card", is the specification with its sources.
The application is DF ``DF01`` under MF ``3F00``, selected by file identifier; its files are
read by short file identifier (READ BINARY, P1 = 80 | SFI) with their exact sizes.  This module
covers the part the terminal can do without the State Grid keys: the framed record the files
hold (``68 CMD LEN(2) DATA CS 16``), the return-write file the meter fills (返写信息文件), the
purchase (wallet) file, and the meter's purchase-count rule.  Writing the wallet and the
authentications need the station's encryption machine and are not implemented yet.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from drivers.ic_card.apdu import CommandApdu
from terminal_app.errors import LocalProtocolError, RemoteProtocolError

MF = bytes.fromhex("3F00")
DF_USER = bytes.fromhex("DF01")
SFI_PARAMS = 1  # 参数信息文件, P1 81
SFI_WALLET = 2  # 购电信息 (钱包) 文件, P1 82
SFI_TARIFF_CURRENT = 3  # 当前套电价文件, P1 83
SFI_TARIFF_BACKUP = 4  # 备用套电价文件, P1 84
SFI_RETURN = 5  # 返写信息文件, P1 85
PARAMS_LEN = 45  # 68 CMD LEN(2) data(39) CS 16
WALLET_LEN = 8  # amount(4) count(4)
RETURN_LEN = 49  # 68 11 00 2B data(43) CS 16
RETURN_CMD = 0x11
MAX_MONEY_FEN = 99_999_999  # 999999.99 元: what the meter's wallet holds at most


class SgccCardError(RemoteProtocolError):
    """A State Grid user card file's bytes do not follow the layout."""

    default_action = "This card was not issued for this system, or it is damaged; take it to the business hall."


class UserCardType(enum.IntEnum):
    RECONNECT = 0x00  # 合闸复电卡
    OPEN_ACCOUNT = 0x01  # 开户卡
    PURCHASE = 0x02  # 购电卡
    REISSUE = 0x03  # 补卡


def checksum(data: bytes) -> int:
    """The record's CS: the sum of the bytes after 68 up to the CS, modulo 256."""
    return sum(data) & 0xFF


def encode_record(cmd: int, data: bytes) -> bytes:
    if not 0 <= cmd <= 0xFF or len(data) > 0xFFFF:
        raise LocalProtocolError("A card record needs a one-byte command and at most 65535 data bytes.")
    body = bytes((cmd,)) + len(data).to_bytes(2, "big") + data
    return b"\x68" + body + bytes((checksum(body), 0x16))


def decode_record(raw: bytes) -> tuple[int, bytes]:
    """``(command, data)`` of a framed record; :class:`SgccCardError` for anything else."""
    if len(raw) < 6 or raw[0] != 0x68 or raw[-1] != 0x16:
        raise SgccCardError("The card record is not framed 68 … 16 ({n} bytes).", n=len(raw))
    n = int.from_bytes(raw[2:4], "big")
    if len(raw) != n + 6:
        raise SgccCardError("The card record says {n} data bytes but holds {m}.", n=n, m=len(raw) - 6)
    if checksum(raw[1:-2]) != raw[-2]:
        raise SgccCardError("The card record's checksum is wrong.")
    return raw[1], bytes(raw[4:-2])


def _bcd(raw: bytes, what: str) -> str:
    digits = raw.hex()
    if not digits.isdigit():
        raise SgccCardError("The card's {field} is not BCD.", field=what)
    return digits


@dataclass(frozen=True, slots=True)
class ReturnWrite:
    """The return-write file (返写信息文件) as the meter last wrote it; ``None`` when empty."""

    ct_ratio: int
    pt_ratio: int
    meter_no: str  # 12 digits
    customer_no: str  # 12 digits
    remaining_fen: int  # 剩余金额
    purchase_count: int  # the meter's count after that insertion
    overdraft_fen: int  # 透支金额
    illegal_cards: int  # 非法插卡次数
    written_at: str  # "YYMMDDhhmm" as the meter's clock had it

    def encode(self) -> bytes:
        """The file as a meter writes it (the mock card meter's side)."""
        data = bytearray(43)
        data[1:4] = bytes.fromhex(f"{self.ct_ratio:06d}")
        data[4:7] = bytes.fromhex(f"{self.pt_ratio:06d}")
        data[7:13] = bytes.fromhex(self.meter_no)
        data[13:19] = bytes.fromhex(self.customer_no)
        data[19:23] = self.remaining_fen.to_bytes(4, "big")
        data[23:27] = self.purchase_count.to_bytes(4, "big")
        data[27:31] = bytes.fromhex(f"{self.overdraft_fen:08d}")
        data[34:38] = bytes.fromhex(f"{self.illegal_cards:08d}")
        data[38:43] = bytes.fromhex(self.written_at)
        return encode_record(RETURN_CMD, bytes(data))

    @classmethod
    def decode(cls, raw: bytes) -> ReturnWrite | None:
        if len(raw) != RETURN_LEN:
            raise SgccCardError("The card's return-write file has {n} bytes, not 49.", n=len(raw))
        # empty (no meter has written it since issue): no record, CT ratio bytes zero
        if raw[0] != 0x68 and not any(raw[5:8]):
            return None
        cmd, data = decode_record(raw)
        if cmd != RETURN_CMD:
            raise SgccCardError("The card's return-write record has command {cmd:#04x}.", cmd=cmd)
        remaining = int.from_bytes(data[19:23], "big")
        return cls(int(_bcd(data[1:4], "CT ratio")), int(_bcd(data[4:7], "PT ratio")),
                   _bcd(data[7:13], "meter number"), _bcd(data[13:19], "customer number"),
                   remaining, int.from_bytes(data[23:27], "big"), int(_bcd(data[27:31], "overdraft")),
                   int(_bcd(data[34:38], "illegal-card count")), _bcd(data[38:43], "write-back time"))


@dataclass(frozen=True, slots=True)
class Wallet:
    """The purchase (wallet) file: the last purchase written onto the card."""

    amount_fen: int
    purchase_count: int

    def encode(self) -> bytes:
        if not (0 <= self.amount_fen <= MAX_MONEY_FEN and 0 <= self.purchase_count <= 0xFFFF_FFFF):
            raise LocalProtocolError("Purchase {amount}/{count} does not fit the card.", amount=self.amount_fen,
                                     count=self.purchase_count)
        return self.amount_fen.to_bytes(4, "big") + self.purchase_count.to_bytes(4, "big")

    @classmethod
    def decode(cls, raw: bytes) -> Wallet:
        if len(raw) != WALLET_LEN:
            raise SgccCardError("The card's purchase file has {n} bytes, not 8.", n=len(raw))
        return cls(int.from_bytes(raw[:4], "big"), int.from_bytes(raw[4:], "big"))


class CountRule(enum.Enum):
    """What a meter does with a card, by the card's count against its own (docs/card.md, step 8)."""

    LOAD = "load"  # card = meter + 1: the purchase is loaded
    NOTHING = "nothing"  # equal: already loaded; only the write-back
    OLDER = "older"  # card < meter: an old card (open/re-issue: serial update only)
    COUNT_ERROR = "count_error"  # card ≥ meter + 2: written back, refused (购电次数错)


def count_rule(card_count: int, meter_count: int) -> CountRule:
    if card_count < meter_count:
        return CountRule.OLDER
    if card_count == meter_count:
        return CountRule.NOTHING
    if card_count == meter_count + 1:
        return CountRule.LOAD
    return CountRule.COUNT_ERROR


def hoarding_ok(remaining_fen: int, amount_fen: int, limit_fen: int) -> bool:
    """Would the meter take ``amount_fen`` on top of ``remaining_fen``?  Never above 999999.99 元,
    nor above the hoarding limit (囤积限额) when one is set (0 = none)."""
    total = remaining_fen + amount_fen
    return total <= MAX_MONEY_FEN and (limit_fen == 0 or total <= limit_fen)


# ---------------------------------------------------------------------- commands


def select_fid(fid: bytes) -> CommandApdu:
    return CommandApdu(0x00, 0xA4, 0x00, 0x00, fid)


def read_file(sfi: int, length: int) -> CommandApdu:
    return CommandApdu(0x00, 0xB0, 0x80 | sfi, 0x00, le=length)
