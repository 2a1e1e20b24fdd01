"""The prepaid card through a reader: read its files, get a challenge, write a purchase.

Works with any reader that has ``power_on()`` and ``transmit(CommandApdu) -> ResponseApdu``
(the serial reader module, or PC/SC via :mod:`drivers.ic_card.pcsc`).  It holds no keys: the
MAC of a write comes from the key holder (the master station) as bytes.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from drivers.ic_card import model, sgcc
from drivers.ic_card.apdu import ApduError, CommandApdu, ResponseApdu, StatusWord, parse_atr
from drivers.ic_card.model import CardContents, CardType, Params, Purchase, ReturnData
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
    """The project's own card scheme (``gt1``, docs/card.md).  One card session: ``read()`` then, for a purchase, ``challenge()`` and ``write_purchase()``."""

    scheme = "gt1"

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
        """UPDATE BINARY of the purchase file with the key holder's MAC (must follow challenge()).

        ``6985`` here is a challenge that did not live to the write (the card was reset or re-powered
        in between — a card put back into a reader just as pcscd powers it) or a count the card already
        holds: either way the purchase is finished by reading the card again, not at the business hall."""
        resp = self.reader.transmit(model.update_purchase(amount, count, mac))
        if resp.sw == StatusWord.CONDITIONS_NOT_SATISFIED:
            raise CardStatusError("The card refused to {step} ({name}, SW {sw}).",
                                  "Insert the same card again; the purchase will be finished from what it holds.",
                                  step="take the purchase", name=resp.name, sw=resp.sw)
        if not resp.ok:
            raise CardStatusError("The card refused to {step} ({name}, SW {sw}).", step="take the purchase",
                                  name=resp.name, sw=resp.sw)

    def authorization_fields(self) -> dict[str, str]:
        """What the key holder needs for the write: the card's challenge."""
        return {"challenge": self.challenge().hex()}

    def write_authorized(self, amount: int, count: int, reply: Mapping[str, Any]) -> None:
        self.write_purchase(amount, count, bytes.fromhex(str(reply["mac"])))


class SgccUserCard:
    """A State Grid local-prepay user card (:mod:`drivers.ic_card.sgcc`, docs/card.md scheme ``sgcc``)
    through any reader, with the same session interface as :class:`PrepaidCard`: ``read()`` (the
    parameter, wallet and return-write files, free reads), ``authorization_fields()`` (internal
    authentication and the challenge the station's key holder answers), ``write_authorized()``
    (external authentication, then the sale's writes with secure messaging).  It holds no keys."""

    scheme = "sgcc"

    def __init__(self, reader: CardReader) -> None:
        self.reader = reader
        self.user_params: sgcc.UserParams | None = None
        self.return_write: sgcc.ReturnWrite | None = None
        self.serial = ""
        self._count = 0
        self._retype: bytes | None = None

    def _ok(self, command: CommandApdu, what: str) -> bytes:
        resp = self.reader.transmit(command)
        if not resp.ok:
            raise CardStatusError("The card refused to {step} ({name}, SW {sw}).", step=what, name=resp.name,
                                  sw=resp.sw)
        return resp.data

    def _open(self) -> bytes:
        atr = self.reader.power_on()
        try:
            hist = parse_atr(atr).historical
        except ApduError as e:
            raise sgcc.SgccCardError("The card's answer to reset is not an ISO 7816-3 ATR.") from e
        if len(hist) < 9:
            raise sgcc.SgccCardError("The card's answer to reset carries no serial number.")
        self.serial = hist[1:9].hex().upper()
        self._ok(sgcc.select_fid(sgcc.MF), "select its master file")
        self._ok(sgcc.select_fid(sgcc.DF_USER), "open its user application")
        return atr

    def _read(self, sfi: int, length: int, what: str) -> bytes:
        resp = self.reader.transmit(sgcc.read_file(sfi, length))
        if resp.ok or resp.sw == StatusWord.END_OF_FILE:
            return resp.data
        raise CardStatusError("The card refused to {step} ({name}, SW {sw}).", step=what, name=resp.name, sw=resp.sw)

    def read_files(self) -> tuple[sgcc.Wallet, sgcc.ReturnWrite | None]:
        """Power up, select DF01, read the wallet and the return-write file (exact sizes)."""
        self._open()
        wallet = sgcc.Wallet.decode(self._read(sgcc.SFI_WALLET, sgcc.WALLET_LEN, "read its purchase file"))
        ret = sgcc.ReturnWrite.decode(self._read(sgcc.SFI_RETURN, sgcc.RETURN_LEN, "read its return-write file"))
        return wallet, ret

    def read(self) -> CardContents:
        """Power up; the parameter, wallet and return-write files, as the terminal's card contents:
        the station's customer number (the card's 客户编号 without its zero padding), the meter
        number (表号, the meter's 12-digit address), the wallet, what the meter wrote back."""
        atr = self._open()
        params = sgcc.UserParams.decode(self._read(sgcc.SFI_PARAMS, sgcc.PARAMS_LEN, "read its parameters"))
        wallet = sgcc.Wallet.decode(self._read(sgcc.SFI_WALLET, sgcc.WALLET_LEN, "read its purchase file"))
        ret = sgcc.ReturnWrite.decode(self._read(sgcc.SFI_RETURN, sgcc.RETURN_LEN, "read its return-write file"))
        self.user_params, self.return_write, self._count = params, ret, wallet.purchase_count
        card_type = {sgcc.UserCardType.OPEN_ACCOUNT: CardType.OPEN_ACCOUNT, sgcc.UserCardType.PURCHASE:
                     CardType.PURCHASE, sgcc.UserCardType.REISSUE: CardType.REISSUE}.get(params.card_type,
                                                                                       CardType.BLANK)
        if ret is None:
            back = ReturnData(False, 0, 0, 0, 0)
        else:
            remaining = ret.remaining_fen - ret.overdraft_fen
            back = ReturnData(True, remaining, 0, 1 if remaining <= 0 else 0, ret.purchase_count)
        return CardContents(atr, Params(card_type, self.serial.lower(), sgcc.customer_of(params.customer_no),
                                        params.meter_no), Purchase(wallet.amount_fen, wallet.purchase_count), back)

    def read_purchase(self) -> Purchase:
        w = sgcc.Wallet.decode(self._read(sgcc.SFI_WALLET, sgcc.WALLET_LEN, "read its purchase file"))
        return Purchase(w.amount_fen, w.purchase_count)

    def authorization_fields(self) -> dict[str, str]:
        """INTERNAL AUTHENTICATE with the terminal's random (the station checks the card is genuine),
        then GET CHALLENGE for the key holder's EXTERNAL AUTHENTICATE and MACs.  An open-account
        card that has already opened its meter (count ≥ 1) is turned into a purchase card by the
        sale (``retype``: the type byte and the record's new checksum)."""
        if self.user_params is None:
            raise CardStatusError("The card was not read before a sale.", sw=StatusWord.CONDITIONS_NOT_SATISFIED)
        rnd = secrets.token_bytes(8)
        cryptogram = self._ok(sgcc.internal_authenticate(rnd), "authenticate itself")
        if len(cryptogram) != 8:
            raise CardStatusError("The card's authentication answer has {n} bytes.", sw=StatusWord.OK,
                                  n=len(cryptogram))
        p = self.user_params
        self._retype = p.retyped(sgcc.UserCardType.PURCHASE) \
            if p.card_type is sgcc.UserCardType.OPEN_ACCOUNT and self._count >= 1 else None
        challenge = self._ok(sgcc.get_challenge(), "give a challenge")
        if len(challenge) != sgcc.CHALLENGE_LEN:
            raise CardStatusError("The card's challenge has {n} bytes.", sw=StatusWord.OK, n=len(challenge))
        fields = {"scheme": self.scheme, "challenge": challenge.hex(), "inauth": rnd.hex(), "incrypt": cryptogram.hex()}
        if self._retype is not None:
            fields["retype"] = self._retype.hex()
        return fields

    def write_authorized(self, amount: int, count: int, reply: Mapping[str, Any]) -> None:
        """EXTERNAL AUTHENTICATE with the key holder's cryptogram, then the writes of the sale, each
        with its MAC (must follow :meth:`authorization_fields`, no other command between)."""
        self._ok(sgcc.external_authenticate(sgcc.KEY_ID_VEND, bytes.fromhex(str(reply["ext_auth"]))),
                 "accept the station's authentication")
        writes = sgcc.vend_writes(amount, count, self._retype)
        macs = list(reply["macs"])
        if len(macs) != len(writes):
            raise CardStatusError("The station sent {n} MACs for {m} card writes.", sw=StatusWord.OK, n=len(macs),
                                  m=len(writes))
        for write, mac in zip(writes, macs, strict=True):
            self._ok(write.command(bytes.fromhex(mac)), "take the purchase")
