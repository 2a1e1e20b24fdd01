"""A State Grid local-prepay user card (docs/card.md), as far as it is read without keys.

MF 3F00 → DF01 selected by file identifier; the parameter, wallet, tariff and return-write
files read by short file identifier, T=0 (6Cxx for a wrong Le) or T=1 (Ne bytes, or the file and
62 82).  The authenticated part — internal/external authentication, reads and writes with MAC —
is not modelled yet: those commands are answered 6982 (security status not satisfied), as a
card answers before authentication.  Duck-types :class:`hw_mocks.card.virtual.VirtualCard` for
:class:`hw_mocks.card.device.MockCardReader` and :class:`hw_mocks.card.vicc.ViccCard`.
"""

from __future__ import annotations

import threading

from drivers.ic_card import sgcc
from drivers.ic_card.apdu import ApduError, CommandApdu, ResponseApdu, StatusWord


def _sw(sw: int, data: bytes = b"") -> bytes:
    return ResponseApdu.of(sw, data).encode()


class SgccUserCardChip:
    def __init__(self, serial: str, params: bytes, wallet: sgcc.Wallet, ret: sgcc.ReturnWrite | None,
                 *, protocol: int = 0) -> None:
        if len(bytes.fromhex(serial)) != 8 or len(params) != sgcc.PARAMS_LEN:
            raise ValueError("a card serial is 8 bytes and the parameter record 45")
        self.serial = serial
        self.protocol = protocol
        self.files = {sgcc.SFI_PARAMS: params, sgcc.SFI_WALLET: wallet.encode(),
                      sgcc.SFI_RETURN: ret.encode() if ret is not None else bytes(sgcc.RETURN_LEN)}
        self._lock = threading.RLock()
        self._df = False
        self._mf = False
        self.log: list[str] = []

    @property
    def atr(self) -> bytes:
        # TS T0=6D: TB1 TC1, 13 historical bytes; the serial is ATR bytes 5–12 as meters take it
        return bytes.fromhex("3B6D0000") + bytes.fromhex("00") + bytes.fromhex(self.serial) + bytes(4)

    def reset(self) -> bytes:
        with self._lock:
            self._mf = self._df = False
            return self.atr

    def process(self, raw: bytes) -> bytes:
        with self._lock:
            try:
                cmd = CommandApdu.decode(raw)
            except ApduError:
                return _sw(StatusWord.WRONG_LENGTH)
            self.log.append(f"{cmd.cla:02X}{cmd.ins:02X}{cmd.p1:02X}{cmd.p2:02X}")
            if cmd.ins == 0xA4:
                return self._select(cmd)
            if cmd.ins == 0xB0 and cmd.cla == 0x00:
                return self._read(cmd)
            if cmd.ins in (0x88, 0x82, 0xD6) or (cmd.ins == 0xB0 and cmd.cla == 0x04):
                return _sw(StatusWord.SECURITY_NOT_SATISFIED)  # the keyed part: not modelled
            return _sw(StatusWord.INS_NOT_SUPPORTED)

    def _select(self, cmd: CommandApdu) -> bytes:
        if (cmd.p1, cmd.p2) != (0x00, 0x00):
            return _sw(StatusWord.INCORRECT_P1P2)
        if cmd.data == sgcc.MF:
            self._mf, self._df = True, False
            return _sw(StatusWord.OK)
        if cmd.data == sgcc.DF_USER and self._mf:
            self._df = True
            return _sw(StatusWord.OK)
        return _sw(StatusWord.FILE_NOT_FOUND)

    def _read(self, cmd: CommandApdu) -> bytes:
        if not self._df:
            return _sw(StatusWord.CONDITIONS_NOT_SATISFIED)
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
