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


# ---------------------------------------------------------------------- the user parameter record (file 81)

PARAMS_CMD = 0x01  # the record's command byte on a user card (an assumption: docs/card.md)
PARAMS_TYPE_OFFSET = 42  # the user card type byte, from the record start
PARAMS_CS_OFFSET = 43


@dataclass(frozen=True, slots=True)
class UserParams:
    """The parameter file (参数信息文件, 81) as far as the terminal uses it: the meter number
    (表号), the customer number (客户编号), the user card type; the other bytes as issued."""

    meter_no: str  # 12 digits
    customer_no: str  # 12 digits
    card_type: UserCardType
    raw: bytes  # the whole 45-byte record

    @classmethod
    def build(cls, meter_no: str, customer_no: str, card_type: UserCardType) -> UserParams:
        """The record the business hall personalises (the tariff/threshold fields left zero)."""
        if not (len(meter_no) == 12 and meter_no.isdigit() and len(customer_no) == 12 and customer_no.isdigit()):
            raise LocalProtocolError("Meter and customer numbers on a State Grid card are 12 digits each.")
        data = bytearray(39)
        data[26:32] = bytes.fromhex(meter_no)  # record offsets 30–35
        data[32:38] = bytes.fromhex(customer_no)  # 36–41
        data[38] = card_type  # 42
        return cls.decode(encode_record(PARAMS_CMD, bytes(data)))

    @classmethod
    def decode(cls, raw: bytes) -> UserParams:
        if len(raw) != PARAMS_LEN:
            raise SgccCardError("The card's parameter file has {n} bytes, not 45.", n=len(raw))
        decode_record(raw)
        try:
            card_type = UserCardType(raw[PARAMS_TYPE_OFFSET])
        except ValueError:
            raise SgccCardError("The card's user card type {t} is unknown.", t=raw[PARAMS_TYPE_OFFSET]) from None
        return cls(_bcd(raw[30:36], "meter number"), _bcd(raw[36:42], "customer number"), card_type, bytes(raw))

    def retyped(self, card_type: UserCardType) -> bytes:
        """The two bytes (type, checksum) at :data:`PARAMS_TYPE_OFFSET` that make this record ``card_type``."""
        cs = (self.raw[PARAMS_CS_OFFSET] - self.raw[PARAMS_TYPE_OFFSET] + card_type) & 0xFF
        return bytes((card_type, cs))


# ---------------------------------------------------------------------- keys, cryptograms, MACs
#
# The reference key holder's algorithm (docs/card.md, "Keys and cryptograms"): two-key triple DES
# (TDEA, a public cipher; a real 密码机/ESAM uses SM1/SM4 — the card and the key holder only have
# to agree).  Card keys are diversified from a master key by the card serial (PBOC style:
# E(serial) ‖ E(~serial)); an authentication cryptogram is E(K, challenge); a secure-messaging
# MAC is ISO/IEC 9797-1 MAC algorithm 1 (CBC-MAC, TDEA, padding method 2), initial value the
# challenge of the session, first 4 bytes.  The terminal never calls these with a key: only the
# station's key holder, the mock card and the mock meter's ESAM hold keys.

KEY_INTERNAL = "internal"  # the card proves it is genuine (内部认证)
KEY_VEND_AUTH = "vend-auth"  # the vending side proves it may write (外部认证, key id 01)
KEY_VEND_MAC = "vend-mac"  # MACs of the vending side's writes
KEY_METER_AUTH = "meter-auth"  # the meter's ESAM (外部认证, key id 02): opens the return-write file
KEY_METER_MAC = "meter-mac"  # MACs of the meter's write-back and of the reads with MAC
KEY_NAMES = (KEY_INTERNAL, KEY_VEND_AUTH, KEY_VEND_MAC, KEY_METER_AUTH, KEY_METER_MAC)
KEY_ID_VEND = 0x01
KEY_ID_METER = 0x02
CHALLENGE_LEN = 8
MAC_LEN = 4
SM_CLA = 0x04


def _tdes(key: bytes) -> object:
    from Crypto.Cipher import DES3

    return DES3.new(DES3.adjust_key_parity(key), DES3.MODE_ECB)


def encipher(key: bytes, block: bytes) -> bytes:
    """TDEA encryption of one 8-byte block (an authentication cryptogram)."""
    if len(block) != 8:
        raise LocalProtocolError("A cryptogram is over one 8-byte block, not {n} bytes.", n=len(block))
    return _tdes(key).encrypt(block)  # type: ignore[attr-defined,no-any-return]


def diversify(master: bytes, serial: bytes) -> bytes:
    """The card's 16-byte key from a master key and its 8-byte serial (分散因子)."""
    if len(serial) != 8:
        raise LocalProtocolError("A card serial is 8 bytes, not {n}.", n=len(serial))
    return encipher(master, serial) + encipher(master, bytes(b ^ 0xFF for b in serial))


def mac(key: bytes, iv: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 1 over TDEA, padding method 2 (80 00 …), IV ``iv`` (8 bytes; a
    4-byte challenge is extended with 00s), the first :data:`MAC_LEN` bytes."""
    iv = iv.ljust(8, b"\x00")
    if len(iv) != 8:
        raise LocalProtocolError("A MAC's initial value is at most 8 bytes.")
    padded = data + b"\x80" + bytes((-len(data) - 1) % 8)
    cipher = _tdes(key)
    state = iv
    for i in range(0, len(padded), 8):
        state = cipher.encrypt(bytes(a ^ b for a, b in zip(state, padded[i:i + 8], strict=True)))  # type: ignore[attr-defined]
    return state[:MAC_LEN]


def sm_input(cla: int, ins: int, p1: int, p2: int, data: bytes) -> bytes:
    """What a secure-messaging MAC covers: the header, Lc (data + MAC) and the data (ISO 7816-4 §10)."""
    return bytes((cla, ins, p1, p2, len(data) + MAC_LEN)) + data


# ---------------------------------------------------------------------- the vending writes

@dataclass(frozen=True, slots=True)
class SmWrite:
    """One UPDATE BINARY with secure messaging: file ``sfi`` from ``offset``, ``data`` (MAC appended)."""

    sfi: int
    offset: int
    data: bytes

    def mac_input(self) -> bytes:
        return sm_input(SM_CLA, 0xD6, 0x80 | self.sfi, self.offset, self.data)

    def command(self, mac_: bytes) -> CommandApdu:
        if len(mac_) != MAC_LEN:
            raise LocalProtocolError("A card write MAC is 4 bytes, not {n}.", n=len(mac_))
        return CommandApdu(SM_CLA, 0xD6, 0x80 | self.sfi, self.offset, self.data + mac_)


def vend_writes(amount_fen: int, count: int, retype: bytes | None) -> list[SmWrite]:
    """The writes of a sale, in order (docs/card.md): the card type (an open-account card that
    has opened its meter becomes a purchase card: type and checksum of file 81), the return-write
    file emptied (the meter refuses a new purchase over a full one), the wallet last — the write
    that carries the money, so a card pulled before it holds no new purchase."""
    writes = []
    if retype is not None:
        if len(retype) != 2:
            raise LocalProtocolError("A card type change is the type and the checksum (2 bytes).")
        writes.append(SmWrite(SFI_PARAMS, PARAMS_TYPE_OFFSET, retype))
    writes.append(SmWrite(SFI_RETURN, 0, bytes(RETURN_LEN)))
    writes.append(SmWrite(SFI_WALLET, 0, Wallet(amount_fen, count).encode()))
    return writes


def internal_authenticate(rnd: bytes) -> CommandApdu:
    return CommandApdu(0x00, 0x88, 0x00, 0x01, rnd, le=8)


def get_challenge(n: int = CHALLENGE_LEN) -> CommandApdu:
    return CommandApdu(0x00, 0x84, 0x00, 0x00, le=n)


def external_authenticate(key_id: int, cryptogram: bytes) -> CommandApdu:
    return CommandApdu(0x00, 0x82, 0x00, key_id, cryptogram)


def read_with_mac(sfi: int, length: int, rnd: bytes) -> CommandApdu:
    """READ BINARY with MAC (the meter's): the data comes back followed by MAC(K, rnd, data)."""
    return CommandApdu(SM_CLA, 0xB0, 0x80 | sfi, 0x00, rnd, le=length + MAC_LEN)


def customer_of(customer_no: str) -> str:
    """What the terminal names the card's customer by: its 12-digit 客户编号 as it is (the station
    resolves it to its customer number, which the card carries left-padded with zeros)."""
    return customer_no


def customer_no_of(cust: str) -> str:
    if not (cust.isdigit() and cust.isascii() and len(cust) <= 12):
        raise LocalProtocolError("Customer {cust} has no 12-digit number for a State Grid card.", cust=cust)
    return cust.rjust(12, "0")
