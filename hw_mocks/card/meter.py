"""The card meter's side of the card (费控智能电能表): what happens when the card goes into it.

:meth:`MockCardMeter.insert` applies field-facts' rules: the card must be for this meter (its
customer and meter numbers) and, by type, the card the meter is bound to (an open-account card
binds an unbound meter; a re-issued card rebinds it, after which the old card is refused).
Purchase count: card = meter → only write back; card = meter + 1 → load the purchase if the
wallet stays within its limit; anything else → refuse.  Every accepted insertion writes the
return data back to the card.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from drivers.ic_card.model import CardType, ReturnData
from hw_mocks.card.virtual import VirtualCard


class Insertion(Enum):
    LOADED = "loaded"
    WRITTEN_BACK = "written back"
    WRONG_METER = "refused: card of another meter"
    OLD_CARD = "refused: not the card this meter is bound to"
    BAD_COUNT = "refused: purchase count"
    OVER_LIMIT = "refused: credit limit"
    BLANK = "refused: blank card"
    # the State Grid user card's meter (hw_mocks.card.sgcc_meter)
    NOT_GENUINE = "refused: authentication failed (not a genuine card)"
    NOT_OPENED = "refused: the meter is not opened (开户) yet"
    RETURN_NOT_EMPTY = "refused: the card's return-write file is not empty (返写不为空)"


@dataclass
class MockCardMeter:
    cust: str
    meter: str
    count: int = 0  # purchases loaded (购电次数)
    remaining: int = 0  # fen in the wallet
    energy_centi_kwh: int = 0
    limit: int = 10_000_000  # 囤积上限: wallet + purchase may not exceed it
    bound_serial: str | None = None
    loaded: list[tuple[int, int]] = field(default_factory=list)  # (count, amount) of every load

    def consume(self, fen: int, centi_kwh: int) -> None:
        self.remaining -= fen
        self.energy_centi_kwh += centi_kwh

    @property
    def status(self) -> int:
        return (1 if self.remaining <= 0 else 0) | (2 if 0 < self.remaining < 1000 else 0)

    def insert(self, card: VirtualCard) -> Insertion:
        p, purchase = card.params, card.purchase
        if p.card_type is CardType.BLANK:
            return Insertion.BLANK
        if (p.cust, p.meter) != (self.cust, self.meter):
            return Insertion.WRONG_METER
        if p.card_type is CardType.PURCHASE and self.bound_serial not in (None, p.serial):
            return Insertion.OLD_CARD
        if p.card_type is CardType.OPEN_ACCOUNT and self.bound_serial not in (None, p.serial):
            return Insertion.OLD_CARD
        if purchase.count == self.count:
            outcome = Insertion.WRITTEN_BACK
        elif purchase.count == self.count + 1:
            if self.remaining + purchase.amount > self.limit:
                return Insertion.OVER_LIMIT
            self.remaining += purchase.amount
            self.count = purchase.count
            self.loaded.append((purchase.count, purchase.amount))
            outcome = Insertion.LOADED
        else:
            return Insertion.BAD_COUNT
        self.bound_serial = p.serial  # open-account binds, re-issue rebinds
        card.write_return(ReturnData(True, self.remaining, self.energy_centi_kwh, self.status, self.count))
        return outcome
