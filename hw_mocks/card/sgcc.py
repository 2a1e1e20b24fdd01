"""A State Grid local-prepay user card's chip (docs/card.md, scheme ``sgcc``), answering raw APDUs.

MF 3F00 → DF01 selected by file identifier; the parameter, wallet, tariff and return-write
files read by short file identifier, T=0 (6Cxx for a wrong Le, 61xx then GET RESPONSE for data
of a case 4 command) or T=1 (Ne bytes, or the file and 62 82).  Reads are free (CLA 00); a read
with MAC (CLA 04, the meter's) returns data ‖ MAC under the meter's MAC key.

Writes only with secure messaging inside an authenticated session:

* INTERNAL AUTHENTICATE ``00 88 00 01 08 rnd`` → E(K_internal, rnd) (the card is genuine);
* GET CHALLENGE 8 → the challenge lives for the next command only, which must be
* EXTERNAL AUTHENTICATE ``00 82 00 kid 08 E(K, challenge)`` — key id 01 the vending side's, 02
  the meter's; a wrong cryptogram is ``63Cx`` (tries left), blocked after :data:`MAX_FAILURES`;
* then UPDATE BINARY ``04 D6 8s off Lc data MAC`` with MAC(K_mac of the session, challenge,
  header ‖ Lc ‖ data): the vending session may write files 81, 82, 85, the meter's only 85.
  A wrong MAC is ``6988`` and ends the session; the wallet write must raise the purchase count
  (``6985`` otherwise: the same purchase never twice) and ends the session.  Any other command
  (a SELECT, a read, a reset) ends it too, so nothing recorded can be replayed later.

Writes are atomic (the chip's anti-tearing: a pulled card holds the old or the new file).
Duck-types :class:`hw_mocks.card.virtual.VirtualCard` for :class:`hw_mocks.card.device.MockCardReader`
and :class:`hw_mocks.card.vicc.ViccCard`.
"""

from __future__ import annotations

import hmac
import random
import threading
from dataclasses import dataclass

from drivers.ic_card import sgcc
from drivers.ic_card.apdu import ApduError, CommandApdu, ResponseApdu, StatusWord

MAX_FAILURES = 15


def _sw(sw: int, data: bytes = b"") -> bytes:
    return ResponseApdu.of(sw, data).encode()


@dataclass
class SgccCardLog:
    """What the chip did (tests read it)."""

    writes: int = 0  # SM writes accepted
    wallet_writes: int = 0
    refused_writes: int = 0
    mac_failures: int = 0
    auth_failures: int = 0


@dataclass
class _Session:
    key_id: int
    mac_key: bytes
    iv: bytes
    files: frozenset[int]


class SgccUserCardChip:
    """The chip; ``keys`` maps :data:`drivers.ic_card.sgcc.KEY_NAMES` to its diversified keys
    (``SgccKeyHolder.card_keys(serial)``); without keys every keyed command is 6982."""

    def __init__(self, serial: str, params: bytes, wallet: sgcc.Wallet, ret: sgcc.ReturnWrite | None,
                 *, protocol: int = 0, keys: dict[str, bytes] | None = None,
                 rng: random.Random | None = None) -> None:
        if len(bytes.fromhex(serial)) != 8 or len(params) != sgcc.PARAMS_LEN:
            raise ValueError("a card serial is 8 bytes and the parameter record 45")
        if protocol not in (0, 1):
            raise ValueError(f"protocol T={protocol} is not T=0 or T=1")
        self.serial = serial.upper()
        self.protocol = protocol
        self.files = {sgcc.SFI_PARAMS: bytes(params), sgcc.SFI_WALLET: wallet.encode(),
                      sgcc.SFI_RETURN: ret.encode() if ret is not None else bytes(sgcc.RETURN_LEN)}
        self._keys = dict(keys or {})
        self._rng = rng or random.SystemRandom()
        self._lock = threading.RLock()
        self._df = False
        self._mf = False
        self._challenge: bytes | None = None
        self._session: _Session | None = None
        self._pending_out = b""
        self._failures = 0
        self.log = SgccCardLog()
        self.apdus: list[str] = []  # CLA INS P1 P2 of every command, in order

    @classmethod
    def issue(cls, key_holder: object, meter_no: str, customer_no: str, card_type: sgcc.UserCardType,
              serial: str, wallet: sgcc.Wallet | None = None, ret: sgcc.ReturnWrite | None = None,
              *, protocol: int = 0, rng: random.Random | None = None) -> SgccUserCardChip:
        """Personalise a card the way the business hall does (its keys from the key holder's
        ``card_keys``, e.g. ``CardKeyHolder(...).sgcc``)."""
        params = sgcc.UserParams.build(meter_no, customer_no, card_type).raw
        keys = key_holder.card_keys(serial)  # type: ignore[attr-defined]
        return cls(serial, params, wallet or sgcc.Wallet(0, 0), ret, protocol=protocol, keys=keys, rng=rng)

    def __repr__(self) -> str:
        return f"SgccUserCardChip({self.serial})"

    # ------------------------------------------------------------------ state for tests and meters
    @property
    def atr(self) -> bytes:
        # TS=3B; T0=6D (TB1 TC1, 13 historical bytes) for T=0; the serial is ATR bytes 5–12 as
        # meters take it.  T=1: T0=ED (TB1 TC1 TD1), TD1=01, then TCK.
        hist = bytes.fromhex("00") + bytes.fromhex(self.serial) + bytes(4)
        if self.protocol == 0:
            return bytes.fromhex("3B6D0000") + hist
        body = bytes.fromhex("ED000001") + hist
        tck = 0
        for b in body:
            tck ^= b
        return b"\x3b" + body + bytes((tck,))

    @property
    def wallet(self) -> sgcc.Wallet:
        return sgcc.Wallet.decode(self.files[sgcc.SFI_WALLET])

    @property
    def params(self) -> sgcc.UserParams:
        return sgcc.UserParams.decode(self.files[sgcc.SFI_PARAMS])

    @property
    def return_write(self) -> sgcc.ReturnWrite | None:
        return sgcc.ReturnWrite.decode(self.files[sgcc.SFI_RETURN])

    @property
    def blocked(self) -> bool:
        return self._failures >= MAX_FAILURES

    def reset(self) -> bytes:
        with self._lock:
            self._mf = self._df = False
            self._challenge = None
            self._session = None
            self._pending_out = b""
            return self.atr

    # ------------------------------------------------------------------ APDUs
    def process(self, raw: bytes) -> bytes:
        with self._lock:
            try:
                cmd = CommandApdu.decode(raw)
            except ApduError:
                return _sw(StatusWord.WRONG_LENGTH)
            self.apdus.append(f"{cmd.cla:02X}{cmd.ins:02X}{cmd.p1:02X}{cmd.p2:02X}")
            challenge, self._challenge = self._challenge, None  # lives for the next command only
            if cmd.ins == 0xC0 and cmd.cla == 0x00:
                return self._get_response(cmd)
            self._pending_out = b""
            session = self._session
            if not (cmd.ins == 0xD6 and cmd.cla == sgcc.SM_CLA):
                self._session = None  # only SM writes continue a session
            if cmd.cla not in (0x00, sgcc.SM_CLA):
                return _sw(StatusWord.CLA_NOT_SUPPORTED)
            if cmd.ins == 0xA4:
                return self._select(cmd)
            if not self._df:
                return _sw(StatusWord.CONDITIONS_NOT_SATISFIED)
            if cmd.ins == 0xB0:
                return self._read(cmd) if cmd.cla == 0x00 else self._read_mac(cmd)
            if cmd.ins == 0x84 and cmd.cla == 0x00:
                return self._get_challenge(cmd)
            if cmd.ins == 0x88 and cmd.cla == 0x00:
                return self._internal(cmd)
            if cmd.ins == 0x82 and cmd.cla == 0x00:
                return self._external(cmd, challenge)
            if cmd.ins == 0xD6:
                return self._update(cmd, session)
            return _sw(StatusWord.INS_NOT_SUPPORTED)

    def _out(self, data: bytes, le: int | None) -> bytes:
        """Data of a case 4 command: with 90 00 (T=1), or 61xx and GET RESPONSE (T=0)."""
        if self.protocol == 1:
            return _sw(StatusWord.OK, data[:le or 256])
        self._pending_out = data
        return _sw(0x6100 | len(data))

    def _get_response(self, cmd: CommandApdu) -> bytes:
        if not self._pending_out:
            return _sw(StatusWord.CONDITIONS_NOT_SATISFIED)
        n = cmd.le or 256
        out, self._pending_out = self._pending_out[:n], self._pending_out[n:]
        if self._pending_out:
            return _sw(0x6100 | (len(self._pending_out) & 0xFF), out)
        return _sw(StatusWord.OK, out)

    def _select(self, cmd: CommandApdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0x00, 0x00) or cmd.cla != 0x00:
            return _sw(StatusWord.INCORRECT_P1P2)
        if cmd.data == sgcc.MF:
            self._mf, self._df = True, False
            return _sw(StatusWord.OK)
        if cmd.data == sgcc.DF_USER and self._mf:
            self._df = True
            return _sw(StatusWord.OK)
        return _sw(StatusWord.FILE_NOT_FOUND)

    def _read(self, cmd: CommandApdu) -> bytes:
        if not cmd.p1 & 0x80:
            return _sw(StatusWord.INCORRECT_P1P2)
        content = self.files.get(cmd.p1 & 0x1F)
        if content is None:
            return _sw(StatusWord.FILE_NOT_FOUND)
        if cmd.le is None:
            return _sw(StatusWord.WRONG_LENGTH)
        content = content[cmd.p2:]
        if self.protocol == 1:
            if cmd.le > len(content):
                return _sw(StatusWord.END_OF_FILE, content)
            return _sw(StatusWord.OK, content[:cmd.le])
        if cmd.le > len(content):
            return _sw(0x6C00 | len(content))
        return _sw(StatusWord.OK, content[:cmd.le])  # fewer than the file: its first Le bytes

    def _read_mac(self, cmd: CommandApdu) -> bytes:
        key = self._keys.get(sgcc.KEY_METER_MAC)
        content = self.files.get(cmd.p1 & 0x1F) if cmd.p1 & 0x80 else None
        if key is None:
            return _sw(StatusWord.SECURITY_NOT_SATISFIED)
        if content is None:
            return _sw(StatusWord.FILE_NOT_FOUND)
        if len(cmd.data) not in (4, 8) or cmd.le is None or cmd.le < sgcc.MAC_LEN:
            return _sw(StatusWord.WRONG_LENGTH)
        data = content[cmd.p2:cmd.p2 + cmd.le - sgcc.MAC_LEN]
        return self._out(data + sgcc.mac(key, cmd.data, data), cmd.le)

    def _get_challenge(self, cmd: CommandApdu) -> bytes:
        if cmd.le not in (4, 8) or cmd.data:
            return _sw(0x6C00 | sgcc.CHALLENGE_LEN)
        self._challenge = bytes(self._rng.getrandbits(8) for _ in range(cmd.le))
        return _sw(StatusWord.OK, self._challenge)

    def _internal(self, cmd: CommandApdu) -> bytes:
        key = self._keys.get(sgcc.KEY_INTERNAL)
        if key is None:
            return _sw(StatusWord.SECURITY_NOT_SATISFIED)
        if len(cmd.data) != 8 or (cmd.p1, cmd.p2) != (0x00, 0x01):
            return _sw(StatusWord.WRONG_LENGTH if len(cmd.data) != 8 else StatusWord.INCORRECT_P1P2)
        return self._out(sgcc.encipher(key, cmd.data), cmd.le)

    def _external(self, cmd: CommandApdu, challenge: bytes | None) -> bytes:
        names = {sgcc.KEY_ID_VEND: (sgcc.KEY_VEND_AUTH, sgcc.KEY_VEND_MAC,
                                    frozenset({sgcc.SFI_PARAMS, sgcc.SFI_WALLET, sgcc.SFI_RETURN})),
                 sgcc.KEY_ID_METER: (sgcc.KEY_METER_AUTH, sgcc.KEY_METER_MAC, frozenset({sgcc.SFI_RETURN}))}
        if cmd.p2 not in names or cmd.p1 != 0 or len(cmd.data) != 8:
            return _sw(StatusWord.INCORRECT_P1P2 if len(cmd.data) == 8 else StatusWord.WRONG_LENGTH)
        auth_name, mac_name, files = names[cmd.p2]
        auth_key, mac_key = self._keys.get(auth_name), self._keys.get(mac_name)
        if auth_key is None or mac_key is None:
            return _sw(StatusWord.SECURITY_NOT_SATISFIED)
        if self.blocked:
            return _sw(StatusWord.AUTH_METHOD_BLOCKED)
        if challenge is None or len(challenge) != 8:
            return _sw(StatusWord.CONDITIONS_NOT_SATISFIED)  # GET CHALLENGE 8 must come right before
        if not hmac.compare_digest(sgcc.encipher(auth_key, challenge), cmd.data):
            self._failures += 1
            self.log.auth_failures += 1
            return _sw(0x63C0 | max(0, MAX_FAILURES - self._failures) & 0x0F)
        self._failures = 0
        self._session = _Session(cmd.p2, mac_key, challenge, files)
        return _sw(StatusWord.OK)

    def _refuse(self, sw: int) -> bytes:
        self.log.refused_writes += 1
        self._session = None
        return _sw(sw)

    def _update(self, cmd: CommandApdu, session: _Session | None) -> bytes:
        if cmd.cla != sgcc.SM_CLA or not cmd.p1 & 0x80:
            return self._refuse(StatusWord.SECURITY_NOT_SATISFIED)  # plain writes never
        sfi = cmd.p1 & 0x1F
        content = self.files.get(sfi)
        if content is None:
            return self._refuse(StatusWord.FILE_NOT_FOUND)
        if session is None or sfi not in session.files:
            return self._refuse(StatusWord.SECURITY_NOT_SATISFIED)
        data, got = cmd.data[:-sgcc.MAC_LEN], cmd.data[-sgcc.MAC_LEN:]
        if len(cmd.data) <= sgcc.MAC_LEN or cmd.p2 + len(data) > len(content):
            return self._refuse(StatusWord.WRONG_LENGTH)
        want = sgcc.mac(session.mac_key, session.iv, sgcc.sm_input(cmd.cla, cmd.ins, cmd.p1, cmd.p2, data))
        if not hmac.compare_digest(want, got):
            self.log.mac_failures += 1
            return self._refuse(StatusWord.SM_DATA_INCORRECT)
        new = content[:cmd.p2] + data + content[cmd.p2 + len(data):]
        if sfi == sgcc.SFI_WALLET:
            if sgcc.Wallet.decode(new).purchase_count <= self.wallet.purchase_count:
                return self._refuse(StatusWord.CONDITIONS_NOT_SATISFIED)  # never the same purchase twice
            self._session = None  # the wallet ends the sale: nothing after it rides on this session
            self.log.wallet_writes += 1
        else:
            self._session = session
        self.files[sfi] = new  # atomic: one assignment under the lock
        self.log.writes += 1
        return _sw(StatusWord.OK)
