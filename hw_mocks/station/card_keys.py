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
