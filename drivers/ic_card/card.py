"""The prepaid card through a reader: read its files, get a challenge, write a purchase.

Works with any reader that has ``power_on()`` and ``transmit(CommandApdu) -> ResponseApdu``
(the serial reader module, or PC/SC via :mod:`drivers.ic_card.pcsc`).  It holds no keys: the
MAC of a write comes from the key holder (the master station) as bytes.
"""

from __future__ import annotations

from typing import Any, Protocol

from drivers.ic_card import model, sgcc
from drivers.ic_card.apdu import CommandApdu, ResponseApdu, StatusWord
from drivers.ic_card.model import CardContents, Params, Purchase, ReturnData
from terminal_app.errors import DeviceError


class CardReader(Protocol):
    atr: bytes | None

    def power_on(self) -> bytes: ...

    def transmit(self, command: CommandApdu) -> ResponseApdu: ...


class CardStatusError(DeviceError):
    """The card refused a command; ``sw`` says why (e.g. SM_DATA_INCORRECT: the MAC is wrong)."""

    default_action = "Take the card to the business hall if it keeps refusing."

    def __init__(self, what: str, action: str | None = None, *, sw: int, **params: Any) -> None:
        self.sw = sw
        super().__init__(what, action, sw=f"{sw:04X}", **params)


class PrepaidCard:
    """One card session: ``read()`` then, for a purchase, ``challenge()`` and ``write_purchase()``."""

    def __init__(self, reader: CardReader) -> None:
        self.reader = reader

    def _ok(self, command: CommandApdu, what: str) -> bytes:
        resp = self.reader.transmit(command)
        if not resp.ok:
            raise CardStatusError("The card refused to {step} ({name}, SW {sw}).", step=what, name=resp.name,
                                  sw=resp.sw)
        return resp.data

    def read_binary(self, sfi: int, what: str, length: int | None = None) -> bytes:
        """The whole file ``sfi`` (ISO 7816-4 READ BINARY, Le = its size when known).

        62 82 (end of file before Ne bytes) is a warning with data: the data is the file.
        Any other warning (62 81 "data may be corrupted", 62 83 "file deactivated" …) or error
        refuses the read."""
        command = model.read_file(sfi, length)
        resp = self.reader.transmit(command)
        if resp.ok or resp.sw == StatusWord.END_OF_FILE:
            return resp.data
        raise CardStatusError("The card refused to {step} ({name}, SW {sw}).", step=what, name=resp.name,
                              sw=resp.sw)

    def read(self) -> CardContents:
        """Power the card up (cold reset) and read its three files."""
        atr = self.reader.power_on()
        self._ok(model.select_application(), "open the purchase application")
        params = Params.decode(self.read_binary(model.SFI_PARAMS, "read its parameters"))
        purchase = Purchase.decode(self.read_binary(model.SFI_PURCHASE, "read its purchase file"))
        ret = ReturnData.decode(self.read_binary(model.SFI_RETURN, "read its return file"))
        return CardContents(atr, params, purchase, ret)

    def read_purchase(self) -> Purchase:
        return Purchase.decode(self.read_binary(model.SFI_PURCHASE, "read its purchase file"))

    def challenge(self) -> bytes:
        data = self._ok(model.get_challenge(), "give a challenge")
        if len(data) != model.CHALLENGE_LEN:
            raise CardStatusError("The card's challenge has {n} bytes.", sw=StatusWord.OK, n=len(data))
        return data

    def write_purchase(self, amount: int, count: int, mac: bytes) -> None:
        """UPDATE BINARY of the purchase file with the key holder's MAC (must follow challenge())."""
        self._ok(model.update_purchase(amount, count, mac), "take the purchase")


class SgccUserCard:
    """A State Grid local-prepay user card (:mod:`drivers.ic_card.sgcc`): what the terminal reads
    without the State Grid keys — the return-write file the meter filled and the wallet file."""

    def __init__(self, reader: CardReader) -> None:
        self.reader = reader

    def _open(self) -> bytes:
        atr = self.reader.power_on()
        for fid, what in ((sgcc.MF, "select its master file"), (sgcc.DF_USER, "open its user application")):
            resp = self.reader.transmit(sgcc.select_fid(fid))
            if not resp.ok:
                raise CardStatusError("The card refused to {step} ({name}, SW {sw}).", step=what, name=resp.name,
                                      sw=resp.sw)
        return atr

    def _read(self, sfi: int, length: int, what: str) -> bytes:
        resp = self.reader.transmit(sgcc.read_file(sfi, length))
        if resp.ok or resp.sw == StatusWord.END_OF_FILE:
            return resp.data
        raise CardStatusError("The card refused to {step} ({name}, SW {sw}).", step=what, name=resp.name, sw=resp.sw)

    def read(self) -> tuple[sgcc.Wallet, sgcc.ReturnWrite | None]:
        """Power up, select DF01, read the wallet and the return-write file (exact sizes)."""
        self._open()
        wallet = sgcc.Wallet.decode(self._read(sgcc.SFI_WALLET, sgcc.WALLET_LEN, "read its purchase file"))
        ret = sgcc.ReturnWrite.decode(self._read(sgcc.SFI_RETURN, sgcc.RETURN_LEN, "read its return-write file"))
        return wallet, ret
