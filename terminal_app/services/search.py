"""Finding a customer on the downloaded route (查找用户): by number, by meter, by the last digits
of either, or by name — what an electrician types at the door.

Order of the answer: an exact customer or meter number first; then numbers or meters ending in
the digits typed (the trailing digits painted on the meter box or said by the customer — at
least :data:`MIN_TRAILING` of them); then numbers starting with them; then names containing the
text.  At most ``limit`` customers, in route order within each group.
"""

from __future__ import annotations

from terminal_app.domain.customer import Customer
from terminal_app.services.store import LocalStore

#: fewer trailing digits than this match too much of a segment to be a search
MIN_TRAILING = 3


def find_customers(store: LocalStore, query: str, *, limit: int = 50) -> list[Customer]:
    q = query.strip()
    if not q:
        return []
    route = [c for seg in store.downloaded_segments() for c in store.customers(seg)]
    groups: list[list[Customer]] = [[], [], [], []]
    for c in route:
        if q in (c.number, c.meter.number):
            groups[0].append(c)
        elif q.isdigit() and len(q) >= MIN_TRAILING and (c.number.endswith(q) or c.meter.number.endswith(q)):
            groups[1].append(c)
        elif q.isdigit() and c.number.startswith(q):
            groups[2].append(c)
        elif not q.isdigit() and q in c.name:
            groups[3].append(c)
    found = [c for g in groups for c in g][:limit]
    if not found:  # not on a downloaded route: a scanned meter or typed number the store knows
        hit = store.customer_by_meter(q) or store.customer(q)
        found = [hit] if hit is not None else []
    return found
