"""Reading statistics per segment (抄表统计, issue 18 point 3): the first thing a supervisor checks
at the day-end — of each segment downloaded on this terminal, how many customers were read,
read with an abnormality, skipped, and are still unread on the business day.

Every customer of a segment falls in exactly one class, so the four add up to the segment's
customers:

* **abnormal** (异常): read, and the reading carries an abnormal code or an abnormality was
  registered with it (停走, 倒走, 估抄 …);
* **read** (已抄): read, nothing abnormal;
* **skipped** (跳过): visited without a value — an abnormality registered alone (门闭, 表计未找到:
  services.reading's "a visit with no value at all");
* **unread** (未抄): nothing journaled for the customer on the day.

Figures come from this terminal's journal (the day's ``reading`` and ``abnormal`` entries; one
the station refused does not count: the station has no reading of it) and the downloaded routes
in the local store.  Pure queries, no I/O beyond them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from offline_queue.journal import EntryState
from terminal_app.services import ports
from terminal_app.services.store import LocalStore
from terminal_app.timeutil import business_day


@dataclass(frozen=True, slots=True)
class SegmentReadings:
    segment: str  # 表段号
    total: int    # customers on the downloaded route
    read: int
    abnormal: int
    skipped: int

    @property
    def unread(self) -> int:
        return self.total - self.read - self.abnormal - self.skipped

    def as_row(self) -> tuple[str, int, int, int, int, int]:
        """(segment, total, read, unread, abnormal, skipped): the slip's and the screen's order."""
        return (self.segment, self.total, self.read, self.unread, self.abnormal, self.skipped)


def reading_statistics(journal: ports.Journal, store: LocalStore, day: dt.date) -> tuple[SegmentReadings, ...]:
    """Per downloaded segment, in segment order: the business day ``day``'s reading statistics."""
    read: set[str] = set()
    flagged: set[str] = set()      # a reading with an abnormal code, or an abnormality registered
    registered: set[str] = set()   # an abnormality registered (with or without a value)
    for e in journal.entries():
        if e.kind not in ("reading", "abnormal") or e.state is EntryState.REJECTED \
                or business_day(e.captured_at) != day:
            continue
        body = e.body_dict()
        if e.kind == "reading":
            for item in body.get("readings", []):
                if isinstance(item, dict) and isinstance(item.get("cust"), str):
                    read.add(item["cust"])
                    if item.get("abnormal"):
                        flagged.add(item["cust"])
        elif isinstance(body.get("cust"), str):
            registered.add(body["cust"])
    out = []
    for segment in store.downloaded_segments():
        customers = {c.number for c in store.customers(segment)}
        read_here = customers & read
        abnormal = read_here & (flagged | registered)
        skipped = (customers & registered) - read_here
        out.append(SegmentReadings(segment, len(customers), len(read_here - abnormal), len(abnormal), len(skipped)))
    return tuple(out)
