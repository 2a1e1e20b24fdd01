"""The sync engine: drains the journal to the master station, exactly once in effect.

When it runs: on demand (:meth:`SyncEngine.sync_now`), after each capture (use cases call
:meth:`SyncEngine.notify_captured`), and on a timer with exponential backoff and jitter while the
link is down (:meth:`SyncEngine.poll`, driven by :class:`SyncThread` or by a test with a fake
clock).  One drain at a time (a lock); the journal's single-writer rule does the rest.

One drain:

1. Entries whose outcome is unknown (``unknown``, or ``in_flight`` left by a crash) are asked
   about with TXN_STATUS (0x0501) BEFORE anything is sent (payment-terminal practice: never
   blindly resend).  ``rejected`` → parked; ``applied`` → sent again with the same txn and the
   byte-identical body, because the station answers a repeat with the ORIGINAL response (receipt
   no., balances), which is then stored; ``unknown`` (never arrived) → sent again as is.
2. Everything sendable goes in ONE connection, pipelined, in capture order (batches of
   ``max_batch`` when the backlog is larger).  A reversal (``depends_on``) travels only after
   its payment: in the same batch right behind it, or once the payment is applied; if the
   payment was refused, the reversal is parked too.
   Photos (kind ``photo``, one entry per chunk: terminal_app.services.photo) travel in their own
   lane: only once nothing else is sendable, ONE chunk per exchange, after the reading they prove
   (``depends_on``).  So a payment captured while photos upload waits at most for the chunk
   already on the wire, and goes before the next one.  And the lane is paced: after a chunk that
   took d seconds the next one waits d·(1/photo_duty − 1), so the link carries a chunk at most
   ``photo_duty`` of the time (default 10 %) — a payment meets a chunk on the wire rarely, and
   then for half a chunk on average (tests/bench/photo_lane.py measures it).  A capture wakes the
   engine at once; only the next chunk waits.  On GPRS a 30 KB photo then takes ~4 minutes: proof
   of a reading is not urgent, money is.
3. Before the send, one transaction marks the batch in flight and reserves its seqs (fsynced
   when it moves the journal's durable send or seq mark — see offline_queue.journal: either way
   a power cut cannot make a sent entry look never sent); after it, one transaction records
   every outcome: OK → applied with the reply; refused →
   parked with code and message (never blocks the others); not sent → pending again; no
   verified answer → unknown (step 1 next time).  ``E_INTERNAL`` counts as unknown: the station
   failed, so only TXN_STATUS can say whether the txn took effect.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from offline_queue.backoff import Backoff
from offline_queue.journal import Entry, EntryState, Journal, QueueSettings, Settlement
from offline_queue.link import TXN_STATUS, Link, Outcome, Request, Result
from offline_queue.state import QueueStatus, Signal
from terminal_app.errors import HandheldError

log = logging.getLogger(__name__)

#: station codes meaning "failed on the station's side", not a business refusal
UNKNOWN_CODES = frozenset({"E_INTERNAL"})
#: txns asked about per TXN_STATUS request (keeps each body far below the frame limit)
STATUS_CHUNK = 200
#: the journal kind of a photo chunk: the photo lane (module docstring)
PHOTO_KIND = "photo"
#: photo chunks read per batch selection (the lane sends one; the others may wait on their reading)
PHOTO_SCAN = 8
#: the share of the time the photo lane may keep the link busy (module docstring)
PHOTO_DUTY = 0.1


@dataclass
class SyncReport:
    """What one drain did (for logs, the sync screen and tests)."""

    applied: int = 0
    rejected: int = 0
    unknown: int = 0
    not_sent: int = 0
    resolved: dict[str, str] = field(default_factory=dict)  # txn -> station's TXN_STATUS answer
    exchanges: int = 0  # StationClient.exchange calls (each at most one connection)
    error: str | None = None
    photo_due: float | None = None  # the photo lane paused until then (monotonic), chunks still waiting

    @property
    def ok(self) -> bool:
        return self.error is None


class SyncEngine:
    """Drains ``journal`` through ``client``, any :class:`offline_queue.link.Link` (the station client is one)."""

    def __init__(self, journal: Journal, client: Link, *, backoff: Backoff | None = None,
                 monotonic: Callable[[], float] = time.monotonic, max_batch: int = 200,
                 fault_hook: Callable[[str], None] | None = None,
                 report: Callable[[Sequence[Entry]], Request | None] | None = None,
                 photo_duty: float = PHOTO_DUTY) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if not 0 < photo_duty <= 1:
            raise ValueError("photo_duty must be in (0, 1]")
        self.photo_duty = photo_duty
        self._photo_not_before: float | None = None
        self.journal = journal
        self.client = client
        self.backoff = backoff if backoff is not None else Backoff()
        self.monotonic = monotonic
        self.max_batch = max_batch
        #: test seam: called with "in_flight", "exchanged", "settled" (the crash test exits there)
        self._fault = fault_hook or (lambda point: None)
        #: a query pipelined behind each batch (the terminal's HELLO reporting what stays unsynced,
        #: issue 22): built from the batch, its answer only logged — it never settles an entry
        self.report = report
        self._drain_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._next_due: float | None = self.monotonic() if journal.open_entries(limit=1) else None
        self._last_failure: float | None = None
        self._syncing = False
        self._wakeup = threading.Event()
        #: emitted with a fresh QueueStatus whenever the queue or the link state changes
        self.changed: Signal[QueueStatus] = Signal()
        self._disconnect = journal.changed.connect(lambda _reason: self._emit())

    @classmethod
    def from_settings(cls, journal: Journal, client: Link, settings: QueueSettings, *,
                      monotonic: Callable[[], float] = time.monotonic,
                      fault_hook: Callable[[str], None] | None = None) -> SyncEngine:
        """An engine with [journal] sync_batch_max and backoff_* from :class:`terminal_app.config.Settings`."""
        js = settings.journal
        return cls(journal, client, backoff=Backoff(base=js.backoff_base_s, cap=js.backoff_cap_s),
                   max_batch=js.sync_batch_max, monotonic=monotonic, fault_hook=fault_hook)

    def close(self) -> None:
        self._disconnect()

    # ------------------------------------------------------------------ state for the UI
    def status(self) -> QueueStatus:
        st = self.journal.status()
        with self._state_lock:
            due = self._next_due
            syncing = self._syncing
        nxt = None if due is None else max(0.0, due - self.monotonic())
        return dataclasses.replace(st, next_attempt_in=nxt, syncing=syncing)

    def _emit(self) -> None:
        if self.changed.has_listeners():
            self.changed.emit(self.status())

    # ------------------------------------------------------------------ triggers
    def notify_captured(self) -> None:
        """Use cases call this after each capture: sync soon — at once unless the link just
        failed, then no sooner than the backoff's base delay after that failure."""
        now = self.monotonic()
        with self._state_lock:
            earliest = now if self._last_failure is None else max(now, self._last_failure + self.backoff.base)
            self._next_due = earliest if self._next_due is None else min(self._next_due, earliest)
        self._wakeup.set()

    def next_attempt_in(self) -> float | None:
        with self._state_lock:
            due = self._next_due
        return None if due is None else max(0.0, due - self.monotonic())

    def poll(self) -> SyncReport | None:
        """Run a drain if one is due (the timer's tick); returns its report, or None."""
        with self._state_lock:
            due = self._next_due is not None and self.monotonic() >= self._next_due
        return self.sync_now() if due else None

    # ------------------------------------------------------------------ the drain
    def sync_now(self) -> SyncReport:
        """Drain everything that can be sent now; never raises for link failures."""
        with self._drain_lock:
            with self._state_lock:
                self._syncing = True
            self._emit()
            report = SyncReport()
            try:
                self._drain(report)
            except HandheldError as e:  # storage trouble: keep it visible, retry on the timer
                report.error = str(e)
                log.error("sync stopped: %s", e)
            finally:
                self._after_drain(report)
            return report

    def _after_drain(self, report: SyncReport) -> None:
        now = self.monotonic()
        remaining = bool(self.journal.open_entries(limit=1))
        with self._state_lock:
            self._syncing = False
            if report.ok:
                self.backoff.reset()
                self._last_failure = None
                # left over after a good drain = captured meanwhile: go again at once (unless this
                # drain moved nothing, which must not turn into a busy loop)
                progressed = report.applied + report.rejected > 0
                if not remaining:
                    self._next_due = None
                elif report.photo_due is not None:  # only paced photo chunks wait: wake for the next
                    self._next_due = report.photo_due
                else:
                    self._next_due = now + (0.0 if progressed else self.backoff.base)
            else:
                self._last_failure = now
                self._next_due = now + self.backoff.next_delay()
        if report.ok:
            try:
                self.journal.prune_if_due()
            except HandheldError as e:
                log.error("journal pruning failed: %s", e)
        self._emit()

    def _drain(self, report: SyncReport) -> None:
        doubtful = self.journal.open_entries(doubtful=True)
        if doubtful and not self._resolve(doubtful, report):
            return
        while True:
            paused = self._photo_not_before is not None and self.monotonic() < self._photo_not_before
            batch = self._select_batch(report, photos=not paused)
            if not batch:
                if paused and self.journal.open_entries(1, kind=PHOTO_KIND):
                    report.photo_due = self._photo_not_before
                return
            if batch[0].kind != PHOTO_KIND:
                if not self._send(batch, report):
                    return
                continue
            start = self.monotonic()
            sent = self._send(batch, report)
            end = self.monotonic()
            self._photo_not_before = end + (end - start) * (1 / self.photo_duty - 1)
            if not sent:
                return

    def _resolve(self, entries: Sequence[Entry], report: SyncReport) -> bool:
        """Ask TXN_STATUS about every doubtful entry; record what the station says."""
        txns = [e.txn for e in entries]
        requests = [Request(TXN_STATUS, {"txns": txns[i:i + STATUS_CHUNK]})
                    for i in range(0, len(txns), STATUS_CHUNK)]
        results = self.client.exchange(requests)
        report.exchanges += 1
        answers: dict[str, str] = {}
        failure: str | None = None
        for res in results:
            if res.outcome is Outcome.OK and isinstance((res.body or {}).get("status"), dict):
                for txn, verdict in res.body["status"].items():  # type: ignore[index]
                    if isinstance(txn, str) and verdict in ("applied", "rejected", "unknown"):
                        answers[txn] = verdict
            elif failure is None:
                failure = _describe(res)
        settlements = []
        for txn in txns:
            verdict = answers.get(txn)
            if verdict is None:
                continue  # stays doubtful until the station answers for it
            report.resolved[txn] = verdict
            if verdict == "rejected":
                report.rejected += 1
                settlements.append(Settlement(txn, EntryState.REJECTED, code="E_REJECTED",
                                              msg="the station reports this txn as rejected (TXN_STATUS)"))
            else:
                # applied: resend the identical body to fetch the original response;
                # unknown: it never arrived — resend the identical body
                settlements.append(Settlement(txn, EntryState.PENDING))
        missing = [t for t in txns if t not in answers]
        if missing and failure is None:
            failure = f"the station's TXN_STATUS did not cover {len(missing)} txn(s)"
        self.journal.settle(settlements, error=failure)
        if failure is not None:
            report.error = failure
            return False
        return True

    def _select_batch(self, report: SyncReport, *, photos: bool = True) -> list[Entry]:
        batch: list[Entry] = []
        in_batch: set[str] = set()
        parked: list[Settlement] = []
        # the money lane first; the photo lane (its chunks read only when the money lane is empty,
        # PHOTO_SCAN at a time: they are many and large) only when nothing else is sendable
        open_entries = self.journal.open_entries(not_kind=PHOTO_KIND)
        if photos and not any(e.state is EntryState.PENDING for e in open_entries):
            open_entries += self.journal.open_entries(PHOTO_SCAN, kind=PHOTO_KIND)
        deps = {e.depends_on for e in open_entries if e.depends_on}
        dep_states = self.journal.states_of(deps) if deps else {}
        photo: Entry | None = None  # the photo lane's next chunk, sent only when nothing else is
        for e in open_entries:
            if e.state is not EntryState.PENDING:
                continue  # doubtful entries wait for TXN_STATUS
            if e.kind == PHOTO_KIND and (photo is not None or batch):
                continue
            if e.depends_on is not None and e.depends_on not in in_batch:
                dep = dep_states.get(e.depends_on)
                if dep is EntryState.REJECTED:
                    parked.append(Settlement(e.txn, EntryState.REJECTED, code="E_ORIG_REJECTED",
                                             msg=f"{e.depends_on} was refused by the station"))
                    continue
                if dep is not None and dep is not EntryState.APPLIED:
                    continue  # a reversal never travels before the payment it reverses
                # dep None: pruned long after it settled — let the station judge
            if e.kind == PHOTO_KIND:
                photo = e  # kept back: money and readings captured after it still go first
                continue
            batch.append(e)
            in_batch.add(e.txn)
            if len(batch) >= self.max_batch:
                break
        if not batch and photo is not None:
            batch.append(photo)
        if parked:
            report.rejected += len(parked)
            self.journal.settle(parked)
        return batch

    def _send(self, batch: list[Entry], report: SyncReport) -> bool:
        txns = [e.txn for e in batch]
        # in flight + seqs, one transaction — a crash from here on is "outcome unknown"
        extra = self.report(batch) if self.report is not None else None
        self.journal.mark_in_flight(txns, seqs_needed=len(batch) + (extra is not None))
        self._fault("in_flight")
        try:
            results = self.client.exchange([Request(e.msg_type, e.body_dict()) for e in batch]
                                           + ([extra] if extra is not None else []))
            if extra is not None:
                tail = results[-1]
                results = results[:-1]
                if tail.outcome is not Outcome.OK:
                    log.info("the journal report was not answered: %s", _describe(tail))
        except HandheldError as e:
            self.journal.settle([Settlement(t, EntryState.UNKNOWN) for t in txns], error=str(e))
            report.unknown += len(txns)
            report.error = str(e)
            return False
        report.exchanges += 1
        self._fault("exchanged")
        settlements: list[Settlement] = []
        failure: str | None = None
        for entry, res in zip(batch, results, strict=True):
            if res.outcome is Outcome.OK:
                settlements.append(Settlement(entry.txn, EntryState.APPLIED, reply=res.body))
                report.applied += 1
            elif res.outcome is Outcome.REFUSED and res.code not in UNKNOWN_CODES:
                settlements.append(Settlement(entry.txn, EntryState.REJECTED, reply=res.body, code=res.code,
                                              msg=res.msg))
                report.rejected += 1
                log.warning("station refused %s: %s %s", entry.txn, res.code, res.msg)
            elif res.outcome is Outcome.NOT_SENT:
                settlements.append(Settlement(entry.txn, EntryState.PENDING))
                report.not_sent += 1
                failure = failure or _describe(res)
            else:
                settlements.append(Settlement(entry.txn, EntryState.UNKNOWN))
                report.unknown += 1
                failure = failure or _describe(res)
        self.journal.settle(settlements, success=failure is None, error=failure)
        self._fault("settled")
        if failure is not None:
            report.error = failure
            return False
        return True


def _describe(res: Result) -> str:
    if res.outcome is Outcome.REFUSED:
        return f"station error {res.code}: {res.msg}"
    return str(res.error) if res.error is not None else res.outcome.value


class SyncThread:
    """Runs :meth:`SyncEngine.poll` in a worker thread: wakes on a capture or when the backoff
    timer is due.  A context manager; ``stop()`` joins the thread."""

    def __init__(self, engine: SyncEngine, idle_check_s: float = 60.0) -> None:
        self.engine = engine
        self.idle_check_s = idle_check_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-sync", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.engine.next_attempt_in()
            self.engine._wakeup.wait(self.idle_check_s if wait is None else min(wait, self.idle_check_s))
            self.engine._wakeup.clear()
            if self._stop.is_set():
                return
            try:
                self.engine.poll()
            except Exception:  # keep syncing; the error is in the log and the status
                log.exception("sync attempt failed")

    def start(self) -> SyncThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.engine._wakeup.set()
        self._thread.join(timeout)

    def __enter__(self) -> SyncThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
