"""The station as the card key holder (密钥管理): diversified card keys and the purchase-write MAC.

A real utility keeps the master key in a security module; the reference station keeps it in
memory.  Each card's key is diversified from the master key by the customer and meter it is
issued for (AES-CMAC of a labelled, length-prefixed string), so one card's key tells nothing
about another's.  The MAC itself is :func:`drivers.ic_card.model.purchase_mac` (docs/card.md).
Keys are never logged or shown (``repr`` hides them).

    StationServer(db, terminals, card_mac=CardKeyHolder(master_key))
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

from drivers.ic_card import sgcc
from drivers.ic_card.model import purchase_mac
from terminal_app.errors import ConfigurationError

#: the demo area's master key (simulator and tests only; a real station's comes from its HSM)
DEMO_MASTER_KEY = bytes.fromhex("6b657920686f6c6465722064656d6f21")
_LABEL = b"GT1-CARD-KEY\x00"


def _lp(text: str) -> bytes:
    raw = text.encode("ascii")
    return bytes((len(raw),)) + raw


class CardKeyHolder:
    """``card_mac`` callback of the station: (cust, meter, amount, count, challenge hex) → MAC hex."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) not in (16, 24, 32):
            raise ConfigurationError("The card master key has {n} bytes; AES needs 16, 24 or 32.",
                                     "Give the key holder a 128/192/256-bit key.", n=len(master_key))
        self._master = bytes(master_key)
        #: the State Grid user card's side of the same key holder (docs/card.md, scheme "sgcc")
        self.sgcc = SgccKeyHolder(self._master)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CardKeyHolder:
        """A key file holds the master key in hex (like the terminal key files), readable by its owner only."""
        try:
            if Path(path).stat().st_mode & 0o077:
                raise ConfigurationError("The card master key file {path} is readable by other users.",
                                         "Run: chmod 600 {path}.", path=str(path))
            return cls(bytes.fromhex(Path(path).read_text(encoding="ascii").strip()))
        except (OSError, ValueError) as e:
            raise ConfigurationError("The card master key file {path} cannot be read ({error}).",
                                     "Check the file: hex digits of a 16/24/32-byte key.", path=str(path),
                                     error=type(e).__name__) from e

    def __repr__(self) -> str:
        return "CardKeyHolder(<key hidden>)"

    def card_key(self, cust: str, meter: str) -> bytes:
        """The key personalised into the card of this customer and meter (card issuing only)."""
        from Crypto.Cipher import AES
        from Crypto.Hash import CMAC

        return CMAC.new(self._master, _LABEL + _lp(cust) + _lp(meter), ciphermod=AES).digest()

    def __call__(self, cust: str, meter: str, amount: int, count: int, challenge: str) -> str:
        return purchase_mac(self.card_key(cust, meter), cust, meter, amount, count, bytes.fromhex(challenge)).hex()

    def verify(self, cust: str, meter: str, amount: int, count: int, challenge: str, mac: str) -> bool:
        return hmac.compare_digest(self(cust, meter, amount, count, challenge), mac.lower())


class SgccKeyHolder:
    """The key holder of the State Grid user card (scheme ``sgcc``, docs/card.md): the reference
    station's stand-in for the encryption machine (密码机).  Its algorithm is two-key triple DES
    (a public cipher, :mod:`drivers.ic_card.sgcc`); a real one uses the utility's SM1/SM4 keys.

    Master keys, one per key of the card (internal authentication, the vending side's external
    authentication and MAC, the meter's external authentication and MAC), are derived from the
    station's master key; each card's keys are diversified by its serial, so one card's keys tell
    nothing about another's.  ``esam()`` is the meter's share (no vending keys)."""

    def __init__(self, master_key: bytes, names: tuple[str, ...] = sgcc.KEY_NAMES) -> None:
        from Crypto.Cipher import AES
        from Crypto.Hash import CMAC

        self._masters = {name: CMAC.new(master_key, b"SGCC-USER-CARD\x00" + name.encode("ascii"),
                                        ciphermod=AES).digest() for name in names}

    def __repr__(self) -> str:
        return "SgccKeyHolder(<keys hidden>)"

    def esam(self) -> SgccKeyHolder:
        """What a meter's ESAM holds: the internal-authentication and the meter's keys only."""
        esam = SgccKeyHolder.__new__(SgccKeyHolder)
        esam._masters = {k: v for k, v in self._masters.items()
                         if k in (sgcc.KEY_INTERNAL, sgcc.KEY_METER_AUTH, sgcc.KEY_METER_MAC)}
        return esam

    def card_key(self, name: str, serial: str) -> bytes:
        """Card key ``name`` of the card ``serial`` (16 hex digits): personalisation and the ESAM."""
        try:
            master = self._masters[name]
        except KeyError:
            raise ConfigurationError("This key holder has no {name} key.", name=name) from None
        return sgcc.diversify(master, bytes.fromhex(serial))

    def card_keys(self, serial: str) -> dict[str, bytes]:
        """Every key a card is personalised with (the business hall's card issuing)."""
        return {name: self.card_key(name, serial) for name in self._masters}

    def internal_ok(self, serial: str, rnd: bytes, cryptogram: bytes) -> bool:
        """Did the card answer INTERNAL AUTHENTICATE of ``rnd`` with its own key? (constant time)"""
        want = sgcc.encipher(self.card_key(sgcc.KEY_INTERNAL, serial), rnd)
        return hmac.compare_digest(want, cryptogram)

    def vend(self, serial: str, challenge: bytes, amount: int, count: int, retype: bytes | None) -> dict[str, Any]:
        """The cryptograms of one sale onto card ``serial``: EXTERNAL AUTHENTICATE of its challenge
        (``ext_auth``) and the MAC of each write of :func:`drivers.ic_card.sgcc.vend_writes` (``macs``,
        hex, in order; the wallet's is also ``mac``)."""
        if len(challenge) != sgcc.CHALLENGE_LEN:
            raise ValueError("the card's challenge is 8 bytes")
        key = self.card_key(sgcc.KEY_VEND_MAC, serial)
        macs = [sgcc.mac(key, challenge, w.mac_input()).hex() for w in sgcc.vend_writes(amount, count, retype)]
        return {"ext_auth": sgcc.encipher(self.card_key(sgcc.KEY_VEND_AUTH, serial), challenge).hex(),
                "macs": macs, "mac": macs[-1]}
