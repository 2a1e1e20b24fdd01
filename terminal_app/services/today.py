"""Today on this terminal: what the operator's own journal says about the business day.

The route's ✓ (customers read or registered abnormal today), the payments one may reverse
(this operator's, today's, not refused), the reading notice printed for a customer today.
Pure queries over the journal and the local store; the business day is Asia/Shanghai's
(terminal_app.timeutil.business_day).
"""

from __future__ import annotations

from typing import Any

from offline_queue.journal import EntryState
from terminal_app.services import ports
from terminal_app.services.store import LocalStore
from terminal_app.services.views import PaymentView
from terminal_app.timeutil import business_day

#: (kWh, bill fen, tier lines (name, kWh, price, fen)) of a reading notice printed today
Estimate = tuple[str, int, tuple[tuple[str, str, str, int], ...]]


def read_today(journal: ports.Journal, clock: ports.Clock) -> set[str]:
    """The customers read (or registered abnormal) on this terminal today."""
    today = business_day(clock.now())
    out: set[str] = set()
    for e in journal.entries():
        if e.kind in ("reading", "abnormal") and business_day(e.captured_at) == today:
            body = e.body_dict()
            out.update(item.get("cust") for item in body.get("readings", []))
            if "cust" in body:
                out.add(body["cust"])
    return out


def visits_today(journal: ports.Journal, clock: ports.Clock) -> dict[str, str]:
    """Today's visits on this terminal: customer → "read" (a reading journaled) or "skipped"
    (only an abnormality registered — 门闭, 表计未找到 …: visited, no value)."""
    today = business_day(clock.now())
    read: set[str] = set()
    abnormal: set[str] = set()
    for e in journal.entries():
        if e.kind in ("reading", "abnormal") and business_day(e.captured_at) == today:
            body = e.body_dict()
            read.update(item.get("cust") for item in body.get("readings", []))
            if "cust" in body:
                abnormal.add(body["cust"])
    return {**{c: "skipped" for c in abnormal - read}, **{c: "read" for c in read}}


def payments_today(journal: ports.Journal, operator: str, clock: ports.Clock) -> list[PaymentView]:
    """This operator's payments of the business day (not refused), each marked when reversed."""
    today = business_day(clock.now())
    entries = journal.entries()
    reversed_ = {e.depends_on for e in entries if e.kind == "reversal" and e.state is not EntryState.REJECTED}
    out = []
    for e in entries:
        if e.kind != "payment" or e.state is EntryState.REJECTED or business_day(e.captured_at) != today:
            continue
        body = e.body_dict()
        if body.get("op") != operator:
            continue
        out.append(PaymentView(e.txn, str(body.get("cust", "")), int(body.get("amount", 0)), e.captured_at,
                               e.txn in reversed_))
    return out


def reading_estimate(journal: ports.Journal, store: LocalStore, customer: str, clock: ports.Clock) -> Estimate | None:
    """Today's reading of the customer on this terminal as its notice printed it, or None."""
    today = business_day(clock.now())
    for e in reversed(journal.entries()):
        if e.kind != "reading" or business_day(e.captured_at) != today:
            continue
        if any(item.get("cust") == customer for item in e.body_dict().get("readings", [])):
            doc = store.document(e.txn)
            if doc is None or doc[0] != "reading_notice" or doc[1].get("consumption_kwh") is None:
                return None
            d: dict[str, Any] = doc[1]
            return (d["consumption_kwh"], int(d["amount_fen"] or 0),
                    tuple((str(a), str(b), str(c), int(f)) for a, b, c, f in d.get("lines", ())))
    return None


def waiting(journal: ports.Journal, txn: str) -> bool:
    """The entry is journaled and not applied at the station yet (it waits for the link)."""
    entry = journal.get(txn)
    return entry is not None and entry.state is not EntryState.APPLIED
