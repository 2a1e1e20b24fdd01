"""Prepaid card top-up (购电), card re-issue (补卡) and card inquiry — the use cases.

The flow of a purchase (docs/card.md, "The top-up flow"):

    read the card → the customer and the card's meter (BILL_QUERY + CARD_QUERY) → purchase
    count rule (card = station, and the meter has loaded the card's last purchase) → amount
    within limits → GET CHALLENGE → journal the purchase (CARD_AUTHORIZE: money is taken from
    here on) → the station's MAC (through the journal's sync) → write → read back and verify →
    CARD_CONFIRM through the journal → 购电凭证.

Nothing lost, nothing twice: a purchase whose confirmation is not in the journal is
*unfinished*.  The next read of that card finishes it from what the card actually holds and
the station's record, before anything new is sold:

* the card holds the authorized count → the write happened: confirm;
* the card holds less → the write never landed: a new challenge, a new MAC for the SAME
  authorization (CARD_AUTHORIZE with ``resume``), write, verify, confirm;
* not authorized yet → sync first; refused by the station → the money goes back.

The card refuses any write whose count it already holds, so however many MACs a purchase has,
it loads once; the terminal never holds a card key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from drivers.ic_card.card import CardReader, PrepaidCard, SgccUserCard
from drivers.ic_card.model import MAC_LEN, MAX_COUNT, CardContents, CardType, Purchase
from drivers.ic_card.sgcc import MAX_MONEY_FEN
from offline_queue.journal import Entry, EntryState, Journal
from terminal_app.documents.templates import PurchaseVoucherData, purchase_voucher
from terminal_app.domain.money import format_fen
from terminal_app.errors import (
    N_,
    BusinessRuleError,
    ConfigurationError,
    DeviceError,
    LinkError,
    RemoteProtocolError,
)
from terminal_app.services import cash_limit, ports
from terminal_app.station.client import Request, StationRefusedError, result_body
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import Clock, iso

log = logging.getLogger(__name__)

#: card schemes (docs/card.md): the State Grid user card, and the project's earlier card
SCHEMES = ("sgcc", "gt1")

class CardEntry(StrEnum):
    """The journal entry kinds of the card use cases."""

    PURCHASE = "card_purchase"  # CARD_AUTHORIZE: the money is taken from here on
    RESUME = "card_resume"      # a new MAC for the same authorization (the write never landed)
    CONFIRM = "card_confirm"    # CARD_CONFIRM: the card holds the purchase
    CANCEL = "card_cancel"      # CARD_CANCEL: an unwritten purchase given up (a QR one refunded)
    REISSUE = "card_reissue"    # 补卡


KIND_PURCHASE, KIND_RESUME, KIND_CONFIRM, KIND_REISSUE, KIND_CANCEL = (
    CardEntry.PURCHASE, CardEntry.RESUME, CardEntry.CONFIRM, CardEntry.REISSUE, CardEntry.CANCEL)


class Reason(Enum):
    BLANK_CARD = "This card is blank."
    WRONG_CARD = "This card does not belong to customer {cust}'s card meter."
    COUNT_MISMATCH = "The card's purchase count {card} differs from the station's {station}: wrong or replaced card."
    NOT_LOADED = "The card's last purchase is not in the meter yet: insert the card into the meter first."
    LIMIT = "A card purchase must be {min}–{max} yuan."
    PENDING_ELSEWHERE = "Purchase {txn} on this card is unfinished at another terminal."
    REFUSED = "The master station refused the purchase."  # code and msg: for the log (str)
    INCONSISTENT = "The card holds count {card}/{amount} fen, which matches no purchase {txn} the station knows."
    NOT_REISSUE_CARD = "The card in the reader is not a re-issue card (补卡) for customer {cust}."
    ALREADY_REISSUED = "This re-issue card already carries the meter's purchase {count}; it is ready for the meter."
    CARD_REPLACED = "This card was replaced by a re-issued card (补卡); its meter no longer accepts it."
    OTHER_CARD = "The card in the reader is not the card shown (customer {cust})."
    NOTHING_TO_GIVE_UP = "This card has no unfinished purchase to give up."
    NOT_GIVEN_UP = "The master station did not give up purchase {txn} ({code})."
    HOARDING = ("The meter may hold at most {limit} yuan and held {remaining} yuan when the card was last in it:"
                " at most {room} yuan can be bought now.")


class TopupRefused(BusinessRuleError):
    """The purchase was not made (or, for REFUSED, the money taken must go back)."""

    def __init__(self, reason: Reason, action: str | None = None, **params: Any) -> None:
        self.reason = reason
        super().__init__(reason.value, action, **params)


class PaidNotWrittenError(DeviceError):
    """A purchase paid by payment code whose card write did not land (the card was pulled, the
    write failed): the wallet is charged, the purchase is authorized and waits for the same card.
    ``can_give_up``: the station lets this terminal give it up (CARD_CANCEL); not behind a
    marketing system, where the supervisor gives it up."""

    default_action = ("Insert the same card again and read it (F1): the purchase is finished, nothing is charged"
                      " twice. If the card cannot be written, give the purchase up (F2): the money goes back to the"
                      " wallet.")
    supervisor_action = N_("Insert the same card again and read it (F1): the purchase is finished, nothing is"
                           " charged twice. If the card cannot be written, call the supervisor: the purchase is given"
                           " up at the marketing system and the money goes back to the wallet.")

    def __init__(self, what: str, action: str | None = None, *, can_give_up: bool = True, **params: Any) -> None:
        self.can_give_up = can_give_up
        super().__init__(what, action if action is not None or can_give_up else self.supervisor_action, **params)


class AuthorizationPending(LinkError):
    default_action = ("Keep the money and the card's details; insert the same card again when the link is back"
                      " and the purchase will be finished.")


@dataclass(frozen=True, slots=True)
class CardLimits:
    card_min: int = 1_000
    card_max: int = 500_000

    @classmethod
    def from_hello(cls, params: Mapping[str, Any]) -> CardLimits:
        limits = params.get("limits", {})
        default = cls()
        return cls(int(limits.get("card_min", default.card_min)), int(limits.get("card_max", default.card_max)))


@dataclass(frozen=True, slots=True)
class TopupResult:
    cust: str
    meter: str
    amount: int  # fen the customer paid for this purchase (0 for a re-issue without money)
    purchase_count: int
    receipt: str
    auth_txn: str
    confirm_txn: str | None
    recovered: bool  # True: this finished an earlier, interrupted purchase (no new money taken)
    voucher: Any  # the 购电凭证 ticket
    method: str = "cash"  # wechat / alipay: paid by the customer's payment code
    acquirer_id: str = ""  # its id at the acquirer (支付单号)
    code: str = ""  # the code redacted, as journaled (wechat:13************3456)


@dataclass(frozen=True, slots=True)
class AbandonResult:
    """A purchase given up (放弃购电): ``cancel_txn`` None while the cancellation waits for the link
    (``pending``); ``confirmed`` when the card held it after all (finished, not given up)."""

    auth_txn: str
    amount: int
    cancel_txn: str | None
    method: str  # "cash", "wechat", "alipay": a QR purchase is refunded to the wallet, cash is given back
    refund_id: str
    confirmed: TopupResult | None
    pending: bool = False


@dataclass(frozen=True, slots=True)
class CardIdentity:
    """Which card: its customer, its meter and (when known) its serial number."""

    cust: str
    meter: str
    serial: str = ""

    def matches(self, cust: str, meter: str, serial: str) -> bool:
        return (cust, meter) == (self.cust, self.meter) and (not self.serial or self.serial.upper() == serial.upper())


@dataclass(frozen=True, slots=True)
class CardInquiry:
    """What the card says (余额查询): the meter's remaining credit as the meter last wrote it."""

    card_type: CardType
    serial: str
    cust: str
    meter: str
    purchase: Purchase
    remaining: int | None  # None: no meter has written the card back yet
    energy_centi_kwh: int | None
    meter_status: int | None
    loaded: bool


@dataclass(frozen=True, slots=True)
class Allowance:
    """What may be bought onto a card now (fen): ``most`` under every limit known."""

    most: int
    hoard_limit: int | None  # the meter's 囤积上限 (None: the station sets none)
    cash_room: int | None  # the operator's cash limit less the cash in hand (None: no limit)


def _remaining(contents: CardContents) -> int:
    """The credit the meter held when it last wrote the card back (0 for a card never in a meter).
    The meter only spends from it since (the card is the only way credit comes in), so the check
    is on the safe side."""
    return max(0, contents.ret.remaining) if contents.ret.written else 0


def hoarding_room(remaining: int, hoard_limit: Any) -> int:
    """Fen the meter can still take: up to its hoarding limit when the station gives one, never
    above 999 999.99 元 (the wallet's size)."""
    cap = MAX_MONEY_FEN
    if isinstance(hoard_limit, int) and not isinstance(hoard_limit, bool) and hoard_limit > 0:
        cap = min(cap, hoard_limit)
    return max(0, cap - remaining)


def _checked(reply: Mapping[str, Any], txn: str) -> Mapping[str, Any]:
    """The station's authorization, bounded before a byte of it goes to the card."""
    def num(key: str) -> bool:
        value = reply.get(key)
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT

    mac = reply.get("mac")
    ok = (num("purchase_count") and num("amount") and ("card_amount" not in reply or num("card_amount"))
          and isinstance(mac, str) and len(mac) == 2 * MAC_LEN and all(c in "0123456789abcdefABCDEF" for c in mac)
          and isinstance(reply.get("receipt"), str) and 0 < len(reply["receipt"]) <= 32
          and reply["receipt"].isascii() and reply["receipt"].isprintable())
    if not ok:
        raise RemoteProtocolError("The master station's authorization of {txn} is malformed.",
                                  "Report it to the station's operator; nothing was written to the card.", txn=txn)
    return reply


def _checked_card(reply: Mapping[str, Any], txn: str, scheme: str) -> Mapping[str, Any]:
    """The State Grid card's cryptograms in the authorization (EXTERNAL AUTHENTICATE's, one MAC a
    write: 2 or 3 writes), bounded before a byte goes to the card; the project's card: ``mac``."""
    if scheme != "sgcc":
        return reply

    def hexes(value: Any, n: int) -> bool:
        return isinstance(value, str) and len(value) == 2 * n and all(c in "0123456789abcdefABCDEF" for c in value)

    macs = reply.get("macs")
    if not (hexes(reply.get("ext_auth"), 8) and isinstance(macs, list) and 2 <= len(macs) <= 3
            and all(hexes(m, MAC_LEN) for m in macs)):
        raise RemoteProtocolError("The master station's authorization of {txn} carries no State Grid card cryptograms.",
                                  "Report it to the station's operator; nothing was written to the card.", txn=txn)
    return reply


def _paid_by(body: Mapping[str, Any], reply: Mapping[str, Any], wallets: Mapping[Any, str]) -> dict[str, str]:
    """The voucher's 支付方式 (wallet + the journal's masked code) and 支付单号 of a QR purchase."""
    from terminal_app.domain.paycode import PayChannel

    method, acquirer_id = body.get("method"), reply.get("acquirer_id")
    if method not in ("wechat", "alipay") or not isinstance(acquirer_id, str):
        return {}
    code = str(body.get("auth_code", ""))
    masked = code.partition(":")[2] if ":" in code else ""
    return {"method": f"{wallets[PayChannel(method)]} {masked}".strip(), "acquirer_id": acquirer_id[:64]}


class CardService:
    """Top-up, re-issue and inquiry over a card reader, the journal and the station."""

    def __init__(self, reader: CardReader, journal: Journal, sync: ports.Sync, client: ports.StationLink, *,
                 terminal_id: str, operator: str = "", clock: ports.Clock | None = None,
                 limits: CardLimits | None = None, printer: ports.Printer | None = None,
                 fault: Callable[[str], None] | None = None, store: Any = None, scheme: str = "gt1") -> None:
        if scheme not in SCHEMES:
            raise ConfigurationError("The card scheme {scheme!r} is not one of {schemes}.",
                                     "Set [devices.card_reader] scheme.", scheme=scheme, schemes=", ".join(SCHEMES))
        #: the card scheme (docs/card.md): "sgcc" the State Grid user card, "gt1" the project's earlier one
        self.card: PrepaidCard | SgccUserCard = SgccUserCard(reader) if scheme == "sgcc" else PrepaidCard(reader)
        self.store = store  # services.store.LocalStore: the settled days (日结), when given
        self.journal = journal
        self.sync = sync
        self.client = client
        self.terminal_id = terminal_id
        self.operator = operator or "-"
        self.clock = clock or Clock()
        self.limits = limits or CardLimits()
        self.printer = printer
        #: test seam: "captured", "authorized", "written", "verified", "confirm_captured"
        self._fault = fault or (lambda point: None)

    # ------------------------------------------------------------------ inquiry
    def inquire(self) -> CardInquiry:
        c = self.card.read()
        r = c.ret if c.ret.written else None
        gt1 = self.card.scheme == "gt1"  # the State Grid return-write file has no energy nor status word
        return CardInquiry(c.params.card_type, c.params.serial, c.params.cust, c.params.meter, c.purchase,
                           r.remaining if r else None, r.energy_centi_kwh if r and gt1 else None,
                           r.status if r and gt1 else None, c.loaded)

    def finish_unfinished(self) -> TopupResult | None:
        """Read the card and finish its interrupted purchase, if the journal has one (else None).
        The UI calls this whenever a card is read for anything else than a sale."""
        contents = self.card.read()
        p = contents.params
        unfinished = self._unfinished(p.cust, p.meter) if p.card_type is not CardType.BLANK else None
        if unfinished is None:
            return None
        return self._finish(contents, unfinished)

    # ------------------------------------------------------------------ top-up
    def topup(self, amount: int, *, card: CardIdentity | None = None) -> TopupResult:
        """Sell ``amount`` fen onto the card in the reader — or, if an earlier purchase on this card
        is unfinished, finish that one instead (``recovered``; no new money is taken).  ``card``:
        the card the operator was shown (and took the money for); another card in the reader now
        is refused before anything is journaled."""
        contents, customer, finished = self._sale(amount, card, cash=True)
        if finished is not None:
            return finished
        p = contents.params
        auth = self.card.authorization_fields()
        entry = self.journal.capture(KIND_PURCHASE, MsgType.CARD_AUTHORIZE, encode_body_fast({
            "cust": p.cust, "meter": p.meter, "amount": amount, "card_count": contents.purchase.count,
            "serial": p.serial, **auth, "at": iso(self.clock.now())}))
        self._fault("captured")
        reply = self._authorized(entry)
        self._fault("authorized")
        return self._write_and_confirm(entry, reply, customer.get("name", ""), recovered=False)

    def topup_qr(self, amount: int, code_text: str, *, card: CardIdentity | None = None,
                 response_timeout: float | None = None) -> TopupResult:
        """购电 paid by the customer's payment code (付款码): the rules of :meth:`topup`, then the rules
        of a QR payment (services.qr_payment): the code recognised first; the purchase journaled with
        the code redacted before anything is sent; sent now with the whole code and a long response
        timeout (the station charges the wallet before it gives the MAC); no connection → refused
        here (QrOfflineError, never cash, never queued); refused → QrRefusedError (nothing charged,
        nothing written); no answer → TXN_STATUS first, else QrOutcomeUnknownError.  Then the card
        is written and confirmed as for cash; a pulled card is finished by the next read of the same
        card (a fresh MAC for the same purchase: nothing charged twice) or given up (:meth:`abandon`:
        refunded).  An unfinished earlier purchase on this card is finished instead (``recovered``)."""
        from terminal_app.domain.paycode import parse_paycode, redact
        from terminal_app.services import qr_payment as qp

        code = parse_paycode(code_text)  # anything else is refused before anything is read or written
        try:
            contents, customer, finished = self._sale(amount, card, cash=False)
        except AuthorizationPending:
            raise
        except LinkError as e:  # the station cannot be asked now: a QR purchase needs it now (never cash)
            raise qp.QrOfflineError("QR payments need the station now, and it cannot be reached.") from e
        if finished is not None:
            return finished
        p = contents.params
        auth = self.card.authorization_fields()
        entry = self.journal.capture(KIND_PURCHASE, MsgType.CARD_AUTHORIZE, encode_body_fast({
            "cust": p.cust, "meter": p.meter, "amount": amount, "card_count": contents.purchase.count,
            "serial": p.serial, **auth, "method": code.channel.value, "auth_code": redact(code),
            "at": iso(self.clock.now())}))
        log.info("QR card purchase %s journaled (%s, %d fen)", entry.txn, redact(code), amount)
        self._fault("captured")
        wire = {**entry.body_dict(), "auth_code": code.secret}  # the whole code: only in the encrypted frame
        answer = qp.send_now(self.journal, self.client, self.sync, entry.txn, MsgType.CARD_AUTHORIZE, wire,
                             response_timeout or qp.QR_RESPONSE_TIMEOUT_S, what="QR card purchase")
        reply = _checked(answer, entry.txn)
        self._fault("authorized")
        count, card_amount = int(reply["purchase_count"]), int(reply.get("card_amount", reply["amount"]))
        try:
            self.card.write_authorized(card_amount, count, _checked_card(reply, entry.txn, self.card.scheme))
            self._fault("written")
            self._verify(card_amount, count)
        except DeviceError as e:  # charged, not on the card: the same card again finishes it (or give it up)
            log.warning("QR card purchase %s paid, the card write did not land: %s", entry.txn, e)
            raise PaidNotWrittenError("The customer paid {amount} yuan; the card was not written.",
                                      can_give_up=reply.get("cancel") is not False, amount=format_fen(amount)) from e
        self._fault("verified")
        return self._confirm(entry, reply, customer.get("name", ""), recovered=False)

    def _customer_card(self, card: CardIdentity | None) -> CardContents:
        """Read the card in the reader: a customer's card, and the one the operator was shown."""
        contents = self.card.read()
        p = contents.params
        if p.card_type is CardType.BLANK:
            raise TopupRefused(Reason.BLANK_CARD, "Use the customer's card, or re-issue one.")
        if card is not None and not card.matches(p.cust, p.meter, p.serial):
            raise TopupRefused(Reason.OTHER_CARD, "Read the card again, then enter the amount.", cust=card.cust)
        return contents

    def abandon(self, *, card: CardIdentity | None = None, reason: str = "given_up") -> AbandonResult:
        """放弃购电: give up the unfinished purchase of the card in the reader (its write never landed:
        the card cannot be written here, the customer leaves).  The card read now proves it does not
        hold the purchase; one that holds it is confirmed instead (``confirmed``).  CARD_CANCEL goes
        through the journal; a purchase paid by payment code is refunded by the station (once).
        ``card``: the card the operator was shown."""
        contents = self._customer_card(card)
        p = contents.params
        auth = self._unfinished(p.cust, p.meter)
        if auth is None:
            raise TopupRefused(Reason.NOTHING_TO_GIVE_UP, "Read the card: it holds its last purchase.")
        reply = self._authorized(auth)
        count = int(reply["purchase_count"])
        card_amount = int(reply.get("card_amount", reply["amount"]))
        if contents.purchase == Purchase(card_amount, count) or auth.kind != KIND_PURCHASE:
            return AbandonResult(auth.txn, int(reply["amount"]), None, "", "",
                                 self._finish(contents, auth))  # on the card already: confirmed, not given up
        body = auth.body_dict()
        cancel = self.journal.capture(KIND_CANCEL, MsgType.CARD_CANCEL, encode_body_fast({
            "auth": auth.txn, "card_count": contents.purchase.count, "serial": p.serial, "reason": reason[:60],
            "at": iso(self.clock.now())}), depends_on=auth.txn)
        self._fault("cancel_captured")
        self.sync.notify_captured()
        try:
            self.sync.sync_now()
        except LinkError as e:
            log.warning("card purchase %s given up: the cancellation waits in the journal: %s", auth.txn, e)
        done = self.journal.get(cancel.txn)
        assert done is not None
        if done.state is EntryState.REJECTED:
            raise TopupRefused(Reason.NOT_GIVEN_UP, "Insert the same card again to finish the purchase, or call the"
                               " supervisor.", txn=auth.txn, code=done.reject_code)
        answer = done.reply if done.state is EntryState.APPLIED else None
        method = str(body.get("method", "cash"))
        return AbandonResult(auth.txn, int(reply["amount"]), cancel.txn if answer is not None else None,
                             method, str((answer or {}).get("refund_id", "")), None, pending=answer is None)

    def _sale(self, amount: int, card: CardIdentity | None, *, cash: bool
              ) -> tuple[CardContents, dict[str, Any], TopupResult | None]:
        """The card in the reader, the customer, and the checks of a new purchase — or the earlier
        unfinished purchase of this card finished instead (third)."""
        contents = self._customer_card(card)
        p = contents.params
        unfinished = self._unfinished(p.cust, p.meter)
        finished = self._finish(contents, unfinished) if unfinished is not None else None
        if finished is not None:
            return contents, {}, finished
        if self.journal.open_entries(limit=1):
            self.sync.sync_now()  # a confirmation still in the journal must reach the station first
        customer, station = self._lookup(p.cust, p.meter)
        last = station.get("last") or {}
        if last.get("state") == "authorized":
            if isinstance(last.get("txn"), str) and self.journal.get(last["txn"]) is not None:
                raise AuthorizationPending("The confirmation of purchase {txn} has not reached the station yet.",
                                           txn=last["txn"])
            raise TopupRefused(Reason.PENDING_ELSEWHERE, "Finish it at that terminal, or call the supervisor.",
                               txn=last.get("txn"))
        current = station.get("card_serial")
        if current is not None and current.upper() != p.serial.upper():
            # money loaded here would be taken and never credited: the meter refuses a replaced card
            raise TopupRefused(Reason.CARD_REPLACED, "Keep the old card; top up the customer's new card.")
        if contents.purchase.count != station["purchase_count"]:
            raise TopupRefused(Reason.COUNT_MISMATCH, "Check the card with the customer; a lost card is re-issued.",
                               card=contents.purchase.count, station=station["purchase_count"])
        if contents.purchase.count and not contents.loaded:
            raise TopupRefused(Reason.NOT_LOADED, "Ask the customer to insert the card into the meter, then come back.")
        if isinstance(amount, bool) or not isinstance(amount, int) or \
                not self.limits.card_min <= amount <= self.limits.card_max:
            raise TopupRefused(Reason.LIMIT, "Enter an amount within the limits.",
                               min=format_fen(self.limits.card_min), max=format_fen(self.limits.card_max))
        self._hoarding(amount, _remaining(contents), station)
        self._day_open()
        if cash:  # money by payment code is the acquirer's, not cash in the operator's hand
            self._cash_limit(amount)
        return contents, customer, None

    def _day_open(self) -> None:
        """No money after 日结 of the day (services.day_close: the same rule as payments)."""
        if self.store is not None:
            from terminal_app.services.day_close import check_day_open
            from terminal_app.timeutil import business_day

            check_day_open(self.store, business_day(self.clock.now()))

    def _hoarding(self, amount: int, remaining: int, station: Mapping[str, Any]) -> None:
        """囤积上限: the meter refuses a card that would take it above its hoarding limit (and above
        999 999.99 元), and the money would be taken for nothing — refused before it is taken."""
        room = hoarding_room(remaining, station.get("hoard_limit"))
        if amount > room:
            limit = station.get("hoard_limit")
            raise TopupRefused(Reason.HOARDING, "Enter at most {room} yuan, or top up after the customer has used"
                               " some credit.", limit=format_fen(limit if isinstance(limit, int) else MAX_MONEY_FEN),
                               remaining=format_fen(remaining), room=format_fen(room))

    def _cash_limit(self, amount: int) -> None:
        if self.store is not None:
            cash_limit.check(self.journal, self.store, self.operator, amount)

    def allowance(self, contents: CardContents) -> Allowance:
        """The most that can be bought onto this card now: the station's card limit, the meter's
        hoarding limit (CARD_QUERY) and the operator's cash limit (None where nothing is known)."""
        p = contents.params
        _customer, station = self._lookup(p.cust, p.meter)
        hoard = station.get("hoard_limit")
        room = hoarding_room(_remaining(contents), hoard)
        cash = cash_limit.room(self.journal, self.store, self.operator) if self.store is not None else None
        most = min(self.limits.card_max, room, cash if cash is not None else self.limits.card_max)
        return Allowance(most, hoard if isinstance(hoard, int) and not isinstance(hoard, bool) else None, cash)

    # ------------------------------------------------------------------ re-issue
    def reissue(self, cust: str, meter: str, amount: int = 0) -> TopupResult:
        """补卡: load the station's purchase state onto a re-issue card personalised for ``cust``.

        Without money the new card carries the meter's last purchase again (the meter loads it
        only if it never did); with ``amount`` it carries one more purchase."""
        contents = self.card.read()
        p = contents.params
        if p.card_type is not CardType.REISSUE or (p.cust, p.meter) != (cust, meter):
            raise TopupRefused(Reason.NOT_REISSUE_CARD, "Insert the re-issue card prepared for this customer.",
                               cust=cust)
        unfinished = self._unfinished(cust, meter)
        finished = self._finish(contents, unfinished) if unfinished is not None else None
        if finished is not None:
            return finished
        customer, station = self._lookup(cust, meter)
        if not amount and contents.purchase.count and contents.purchase.count == station["purchase_count"]:
            # an earlier re-issue's write landed but its answer was lost (the card was pulled)
            raise TopupRefused(Reason.ALREADY_REISSUED, "Give the card to the customer for the meter.",
                               count=contents.purchase.count)
        if amount and not self.limits.card_min <= amount <= self.limits.card_max:
            raise TopupRefused(Reason.LIMIT, "Enter an amount within the limits.",
                               min=format_fen(self.limits.card_min), max=format_fen(self.limits.card_max))
        if amount:
            # the lost card's credit in the meter is unknown here: the new purchase alone is checked
            self._hoarding(amount, 0, station)
            self._day_open()
            self._cash_limit(amount)
        auth = self.card.authorization_fields()
        entry = self.journal.capture(KIND_REISSUE, MsgType.CARD_REISSUE, encode_body_fast({
            "cust": cust, "meter": meter, "amount": amount, "card_count": contents.purchase.count,
            "serial": contents.params.serial, **auth, "at": iso(self.clock.now())}))
        self._fault("captured")
        reply = self._authorized(entry)
        self._fault("authorized")
        return self._write_and_confirm(entry, reply, customer.get("name", ""), recovered=False)

    # ------------------------------------------------------------------ the steps
    def _lookup(self, cust: str, meter: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The customer (BILL_QUERY) and the station's card state (CARD_QUERY), one exchange."""
        results = self.client.exchange([Request(MsgType.BILL_QUERY, {"cust": cust}),
                                        Request(MsgType.CARD_QUERY, {"cust": cust, "meter": meter})])
        try:
            customer = result_body(results[0])
            station = result_body(results[1])
        except StationRefusedError as e:
            if e.code in ("E_UNKNOWN_CUSTOMER", "E_UNKNOWN_METER", "E_NOT_ALLOWED", "E_BAD_REQUEST"):
                raise TopupRefused(Reason.WRONG_CARD, "Check the card with the customer.", cust=cust) from e
            raise
        # the project's card names the meter's asset number, a State Grid card its address (表号)
        if meter not in (customer.get("meter"), customer.get("comm_addr")) or customer.get("card") is not True:
            raise TopupRefused(Reason.WRONG_CARD, "Check the card with the customer.", cust=cust)
        count = station.get("purchase_count")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_COUNT:
            raise TopupRefused(Reason.WRONG_CARD, "Check the card with the customer.", cust=cust)
        return customer, station

    def _authorized(self, entry: Entry) -> Mapping[str, Any]:
        """Sync the journal and return the station's OK reply for ``entry``."""
        current = self.journal.get(entry.txn)
        if current is None or current.state is not EntryState.APPLIED:
            self.sync.notify_captured()
            self.sync.sync_now()
            current = self.journal.get(entry.txn)
        assert current is not None
        if current.state is EntryState.APPLIED and current.reply is not None:
            return _checked(current.reply, entry.txn)
        if current.state is EntryState.REJECTED:
            body = entry.body_dict()
            if body.get("method") in ("wechat", "alipay"):  # the wallet was not charged: nothing to give back
                from terminal_app.services.qr_payment import refusal

                raise refusal(current.reject_code, current.reply if isinstance(current.reply, dict) else {})
            raise TopupRefused(Reason.REFUSED, "Give the customer back {amount} yuan; nothing was written to the card.",
                               code=current.reject_code, msg=current.reject_msg,
                               amount=format_fen(int(body.get("amount", 0))))
        raise AuthorizationPending("The master station has not authorized purchase {txn} yet.", txn=entry.txn)

    def _write_and_confirm(self, auth: Entry, reply: Mapping[str, Any], name: str, *, recovered: bool,
                           mac_reply: Mapping[str, Any] | None = None) -> TopupResult:
        count = int(reply["purchase_count"])
        card_amount = int(reply.get("card_amount", reply["amount"]))
        mac_src = _checked_card(mac_reply or reply, auth.txn, self.card.scheme)
        self.card.write_authorized(card_amount, count, mac_src)
        self._fault("written")
        self._verify(card_amount, count)
        self._fault("verified")
        return self._confirm(auth, reply, name, recovered=recovered)

    def _verify(self, card_amount: int, count: int) -> None:
        held = self.card.read_purchase()
        if held != Purchase(card_amount, count):
            raise DeviceError("The card holds {held_count}/{held_amount} fen after the write, not {count}/{amount}.",
                              "Insert the same card again; the purchase will be finished from what it holds.",
                              held_count=held.count, held_amount=held.amount, count=count, amount=card_amount)

    def _confirm(self, auth: Entry, reply: Mapping[str, Any], name: str, *, recovered: bool) -> TopupResult:
        from terminal_app.services.qr_payment import WALLET_ZH

        body = auth.body_dict()
        paid = _paid_by(body, reply, WALLET_ZH)
        count = int(reply["purchase_count"])
        confirm_txn = None
        if int(reply["amount"]) > 0:  # a re-issue without money has no ledger row to confirm
            confirm = self.journal.capture(KIND_CONFIRM, MsgType.CARD_CONFIRM, encode_body_fast({
                "auth": auth.txn, "purchase_count": count, "at": iso(self.clock.now())}), depends_on=auth.txn)
            confirm_txn = confirm.txn
            self._fault("confirm_captured")
            self.sync.notify_captured()
            try:
                self.sync.sync_now()  # the journal delivers it later if the link is down now
            except LinkError as e:
                log.warning("card confirmation %s waits in the journal: %s", confirm.txn, e)
        voucher = purchase_voucher(PurchaseVoucherData(
            receipt_no=str(reply["receipt"]), customer_no=body["cust"], customer_name=name, meter_no=body["meter"],
            amount_fen=int(reply["amount"]), purchase_count=count, at=auth.captured_at, operator=self.operator,
            terminal_id=self.terminal_id, kind="补卡" if auth.kind == KIND_REISSUE else "购电",
            method=paid.get("method", ""), acquirer_id=paid.get("acquirer_id", "")))
        if self.printer is not None:
            self.printer.print_ticket(voucher, already_printed=False)
        return TopupResult(body["cust"], body["meter"], int(reply["amount"]), count, str(reply["receipt"]),
                           auth.txn, confirm_txn, recovered, voucher, method=str(body.get("method", "cash")),
                           acquirer_id=paid.get("acquirer_id", ""),
                           code=str(body.get("auth_code", "")) if paid else "")

    # ------------------------------------------------------------------ recovery
    def _unfinished(self, cust: str, meter: str) -> Entry | None:
        """The latest authorization of this card's meter that is not confirmed in the journal."""
        confirmed: set[str] = set()
        for e in reversed(self.journal.entries()):
            if e.kind in (KIND_CONFIRM, KIND_CANCEL) and e.depends_on:
                if e.kind == KIND_CONFIRM or e.state is not EntryState.REJECTED:  # given up: never resumed
                    confirmed.add(e.depends_on)
                continue
            if e.kind not in (KIND_PURCHASE, KIND_REISSUE) or e.state is EntryState.REJECTED:
                continue
            body = e.body_dict()
            if (body.get("cust"), body.get("meter")) != (cust, meter):
                continue
            if e.txn in confirmed:
                return None
            if e.state is EntryState.APPLIED and e.reply is not None and int(e.reply.get("amount", 0)) == 0:
                return None  # a re-issue without money: nothing to confirm
            return e
        return None

    def _finish(self, contents: CardContents, auth: Entry) -> TopupResult | None:
        reply = self._authorized(auth)
        count = int(reply["purchase_count"])
        card_amount = int(reply.get("card_amount", reply["amount"]))
        held = contents.purchase
        name = ""
        if held == Purchase(card_amount, count):
            log.info("card already holds purchase %s: confirming it", auth.txn)
            return self._confirm(auth, reply, name, recovered=True)
        if int(reply["amount"]) == 0:
            return None  # a re-issue without money that never reached the card: simply re-issue again
        if held.count >= count:
            raise TopupRefused(Reason.INCONSISTENT, "Keep the card and call the supervisor.", card=held.count,
                               amount=held.amount, txn=auth.txn)
        # the write never landed: a fresh MAC for the same authorization, then write it
        log.info("purchase %s never reached the card: resuming it", auth.txn)
        fields = self.card.authorization_fields()
        body = auth.body_dict()
        resume = self.journal.capture(KIND_RESUME, MsgType.CARD_AUTHORIZE, encode_body_fast({
            "cust": body["cust"], "meter": body["meter"], "card_count": held.count,
            "serial": contents.params.serial, **fields, "resume": auth.txn, "at": iso(self.clock.now())}),
            depends_on=auth.txn)
        self._fault("captured")
        mac_reply = self._authorized(resume)
        self._fault("authorized")
        return self._write_and_confirm(auth, reply, name, recovered=True, mac_reply=mac_reply)
