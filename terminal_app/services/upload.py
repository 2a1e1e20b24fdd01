"""Upload readings (抄表数据远程上装): the journaled readings and abnormal registrations go out with
the sync engine (READINGS_UPLOAD / ABNORMAL_REGISTER, pipelined, exactly once by txn).

Readings are never sent from here directly: the journal is the one queue, so a reading taken
offline, or one whose answer was lost, is resolved and resent by the same rules as a payment.
"""

from __future__ import annotations

from dataclasses import dataclass

from offline_queue.journal import OPEN, EntryState
from terminal_app.services import ports

READING_KINDS = ("reading", "abnormal")


@dataclass(frozen=True, slots=True)
class UploadStatus:
    waiting: int    # readings and abnormal registrations not yet confirmed by the station
    uploaded: int   # confirmed (applied) by the station
    refused: int    # refused by the station (parked: the supervisor looks at them)
    error: str | None = None  # why the last attempt stopped, if it did


def upload_status(journal: ports.Journal, error: str | None = None) -> UploadStatus:
    counts = {"open": 0, "applied": 0, "rejected": 0}
    for e in journal.entries():
        if e.kind not in READING_KINDS:
            continue
        if e.state in OPEN:
            counts["open"] += 1
        elif e.state is EntryState.APPLIED:
            counts["applied"] += 1
        else:
            counts["rejected"] += 1
    return UploadStatus(counts["open"], counts["applied"], counts["rejected"], error)


def upload_readings(journal: ports.Journal, sync: ports.Sync) -> UploadStatus:
    """Drain the journal now (readings and anything else waiting, in capture order); never raises
    for link failures — the status says what is still waiting and why."""
    report = sync.sync_now()
    return upload_status(journal, report.error)
