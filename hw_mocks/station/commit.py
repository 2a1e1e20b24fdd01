"""Group commit: the station's one writer of the ledger, answering only what is durable.

Every write to the ledger — a request's effects with its audit rows, the row of a refused
frame — is a *job* handed to :class:`LedgerWorker`, a thread that owns the SQLite connection.
It takes every job waiting (up to ``max_batch``), runs them in order inside ONE transaction and
commits it: one fsync of the WAL (``synchronous=FULL``) for the whole batch.  Only then are
the jobs' results handed back (``on_done``, on the caller's event loop), so the server writes
an answer only once the commit holding the request's effects is durable (contract,
"Idempotency"); while one batch commits, the next one queues up, so the busier the station the
more requests share an fsync.  A batch whose commit fails answers none of its jobs (their
connections are closed: the terminals ask TXN_STATUS).

``max_batch=1`` is the one-commit-per-request station (the benchmark's baseline).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Job:
    """``run()`` executes inside the batch's transaction (in the worker thread); its result —
    or None when the batch did not commit — goes to ``done`` after the commit."""

    run: Callable[[], Any]
    done: Callable[[Any], None] | None = None


@dataclass
class CommitStats:
    commits: int = 0  # transactions committed (one fsync each)
    jobs: int = 0  # jobs committed
    largest: int = 0  # most jobs in one commit
    failed: int = 0  # batches rolled back


_STOP = object()


class LedgerWorker:
    """The ledger's single writer thread (see the module docstring)."""

    def __init__(self, conn: sqlite3.Connection, deliver: Callable[[Callable[[], None]], None], *,
                 max_batch: int = 512, on_rollback: Callable[[], None] | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.conn = conn
        self._deliver = deliver  # e.g. loop.call_soon_threadsafe
        self.max_batch = max_batch
        self._on_rollback = on_rollback
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.stats = CommitStats()
        self._thread = threading.Thread(target=self._run, name="gt1-ledger", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        self._queue.put(job)

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                batch.append(job)
            self._commit(batch)

    def _commit(self, batch: list[Job]) -> None:
        conn = self.conn
        results: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                results.append(job.run())
            conn.execute("COMMIT")  # the one fsync of the batch
        except Exception:
            log.exception("a ledger commit of %d job(s) failed: none of them is answered", len(batch))
            self.stats.failed += 1
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("rolling back the failed commit failed too")
            if self._on_rollback is not None:
                self._on_rollback()
            results = [None] * len(batch)
        else:
            self.stats.commits += 1
            self.stats.jobs += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
        done = [(job.done, result) for job, result in zip(batch, results, strict=True) if job.done is not None]
        if done:
            self._deliver(lambda: _call_all(done))


def _call_all(done: list[tuple[Callable[[Any], None], Any]]) -> None:
    for fn, result in done:
        try:
            fn(result)
        except Exception:  # one connection's bug must not stop the others' answers
            log.exception("delivering a ledger result failed")
