"""Bill query (电费查询): the station's real-time answer when the link is up, else the downloaded
route data — then clearly marked offline, with the age of that data.

Either way the view also lists what this terminal has collected from the customer that the
shown figures do not include yet (payments still in the journal, or taken after the download),
so the operator does not ask for money twice.

Penalties (违约金) are as of the day of payment: online the station counts them to its business
day; offline the terminal counts them to today with the station's own rule and the accrual
state downloaded with the route (terminal_app.domain.penalty — the station's arithmetic), and
the view says they are estimates (估算): the station's answer to the payment is the figure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from offline_queue.journal import OPEN, EntryState
from terminal_app.domain.customer import Arrears, BalanceUse, balance_uses, total_arrears
from terminal_app.domain.dunning import apply_oldest_first
from terminal_app.domain.records import get_int, get_str, get_time, need_mapping
from terminal_app.errors import BusinessRuleError, LinkError
from terminal_app.services import ports
from terminal_app.services.ports import UseCaseContext
from terminal_app.services.store import LocalStore
from terminal_app.station.client import Request
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import business_day


@dataclass(frozen=True, slots=True)
class BillView:
    """What the bill screen shows; ``online`` False means "离线数据" with ``age``."""

    customer: str
    name: str
    address: str
    arrears: tuple[Arrears, ...]
    balance: int          # prepayment held (预收余额), fen
    as_of: dt.datetime    # the station's time of these figures
    online: bool
    age: dt.timedelta     # how old the figures are (0 when just asked)
    not_included_fen: int = 0  # this terminal's payments to the customer the figures do not include yet
    balance_used: tuple[BalanceUse, ...] = ()  # what the prepayment balance paid lately (预存抵扣)
    penalty_day: dt.date | None = None  # the day the penalties are counted to

    @property
    def estimated(self) -> bool:
        """The penalties were counted on this terminal (offline): 估算 on screen and paper."""
        return any(a.estimated for a in self.arrears)

    @property
    def penalty_fen(self) -> int:
        return sum(a.penalty for a in self.arrears)

    @property
    def from_balance_fen(self) -> int:
        """What the prepayment balance paid of the bills shown (预存抵扣)."""
        return sum(a.from_balance for a in self.arrears)

    @property
    def arrears_total(self) -> int:
        return total_arrears(self.arrears)

    @property
    def still_owed(self) -> int:
        """Arrears less what this terminal already collected and the figures do not show yet."""
        return max(0, self.arrears_total - self.not_included_fen)

    @property
    def label(self) -> str:
        if self.online:
            return "实时数据"
        hours = int(self.age.total_seconds() // 3600)
        return f"离线数据（{hours}小时前下载）" if hours else "离线数据（1小时内下载）"


def _payments(journal: ports.Journal, cust: str) -> list[Any]:
    """This terminal's payments to ``cust`` that the station has not refused and that are not reversed."""
    entries = journal.entries()
    reversed_ = {e.depends_on for e in entries if e.kind == "reversal" and e.state is not EntryState.REJECTED}
    return [e for e in entries if e.kind == "payment" and e.state is not EntryState.REJECTED
            and e.txn not in reversed_ and e.body_dict().get("cust") == cust]


def not_included(journal: ports.Journal, cust: str, as_of: dt.datetime | None = None) -> int:
    """Fen this terminal took from ``cust`` that figures of the station (taken at ``as_of``; None:
    just now) do not show yet: payments still in the journal (or taken after ``as_of``), less
    payments the station has applied whose reversal (冲正) has not reached it yet."""
    paid = sum(e.body_dict()["amount"] for e in _payments(journal, cust)
               if e.state in OPEN or (as_of is not None and e.captured_at >= as_of))
    entries = journal.entries()
    applied = {e.txn: e for e in entries if e.kind == "payment" and e.state is EntryState.APPLIED
               and e.body_dict().get("cust") == cust}
    undone = sum(applied[e.depends_on].body_dict()["amount"] for e in entries
                 if e.kind == "reversal" and e.state in OPEN and e.depends_on in applied
                 and (as_of is None or applied[e.depends_on].captured_at < as_of))
    return paid - undone


def owed_now(arrears: tuple[Arrears, ...], journal: ports.Journal, cust: str, as_of: dt.datetime | None = None
             ) -> tuple[Arrears, ...]:
    """The arrears still owed once this terminal's payments the figures do not show are taken off,
    period by period as the station allocates them (oldest first, penalty first)."""
    return apply_oldest_first(arrears, max(0, not_included(journal, cust, as_of)))


def query_bill(ctx: UseCaseContext, cust: str, *, allow_offline: bool = True) -> BillView:
    """Ask the station (BILL_QUERY); when the link is down, answer from the downloaded route."""
    client, store, journal, clock = ctx.link, ctx.store, ctx.journal, ctx.clock
    try:
        body = client.call(Request(MsgType.BILL_QUERY, {"cust": cust}))
    except LinkError:
        if not allow_offline:
            raise
        return offline_bill(store, journal, cust, clock=clock)
    except BusinessRuleError as e:
        if getattr(e, "code", None) == "E_UNKNOWN_CUSTOMER":
            raise BusinessRuleError("Customer {cust} is unknown at the station.", "Check the customer number.",
                                    cust=cust) from e
        raise
    d = need_mapping(body, "bill query")
    arrears = d.get("arrears")
    if not isinstance(arrears, list) or len(arrears) > 240:
        arrears = []
    as_of = get_time(d, "as_of", "bill query")
    category = d.get("category") if isinstance(d.get("category"), str) else None
    pending = sum(e.body_dict()["amount"] for e in _payments(journal, cust) if e.state in OPEN)
    return BillView(cust, get_str(d, "name", "bill query", max_len=64), get_str(d, "addr", "bill query", default=""),
                    tuple(Arrears.from_dict(a, category) for a in arrears),
                    get_int(d, "balance", "bill query", default=0), as_of, True, dt.timedelta(0), pending,
                    balance_uses(d.get("balance_used")), business_day(as_of))


def offline_bill(store: LocalStore, journal: ports.Journal, cust: str, *, clock: ports.Clock) -> BillView:
    """The bill from the downloaded route data, marked offline with its age."""
    customer = store.customer(cust)
    as_of = store.customer_as_of(cust)
    if customer is None or as_of is None:
        raise LinkError("The master station cannot be reached and customer {cust} is not in the downloaded routes.",
                        "Move to better signal and query again, or download the customer's route first.", cust=cust)
    since = [e for e in _payments(journal, cust) if e.state in OPEN or e.captured_at >= as_of]
    # the penalty of each bill counted to today, as the station would count it (estimate: 估算)
    today = business_day(clock.now())
    rule = store.penalty_rule()
    arrears = tuple(a.as_of(rule, today) for a in customer.arrears)
    return BillView(cust, customer.name, customer.address, arrears, customer.balance, as_of, False,
                    max(dt.timedelta(0), clock.now() - as_of), sum(e.body_dict()["amount"] for e in since),
                    customer.balance_used, today)
