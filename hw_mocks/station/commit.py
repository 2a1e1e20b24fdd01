"""Group commit: the station writes its ledger in batches and answers only what is durable.

Every write to the ledger — a request's effects with its audit rows, the row of a refused
frame — is a *job* handed to :class:`GroupCommit`.  It runs every job waiting (up to
``max_batch``), in order, inside ONE transaction, then commits it: one fsync of the WAL
(``synchronous=FULL``) for the whole batch.  Only then are the jobs' results handed back
(``done``), so the server writes an answer only once the commit holding the request's effects
is durable (contract, "Idempotency").  While one batch commits, the next one queues up, so the
busier the station the more requests share an fsync.  A batch whose commit fails answers none
of its jobs (their connections are closed: the terminals ask TXN_STATUS).

Where the work runs (profiled, docs/station.md "Capacity"): the jobs run on the event loop's
thread and only the COMMIT — the fsync, the one long wait — runs in a helper thread, during
which the loop goes on reading and authenticating the next requests.  A ledger thread running
the jobs themselves had the two threads hand the GIL to each other at every SQLite statement
(each releases it): dozens of handoffs per request, more costly than the statements.

``max_batch=1`` is the one-commit-per-request station (the benchmark's baseline).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Job:
    """``run()`` executes inside the batch's transaction; its result — or None when the batch
    did not commit — goes to ``done`` after the commit."""

    run: Callable[[], Any]
    done: Callable[[Any], None] | None = None


@dataclass
class CommitStats:
    commits: int = 0  # transactions committed (one fsync each)
    jobs: int = 0  # jobs committed
    largest: int = 0  # most jobs in one commit
    failed: int = 0  # batches rolled back
    commit_seconds: float = 0.0  # time spent in COMMIT (the fsync), all batches
    longest_commit_s: float = 0.0
    run_seconds: float = 0.0  # time spent running the jobs (on the loop)


class GroupCommit:
    """The ledger's one writer, driven by the event loop (see the module docstring).

    Not thread-safe: :meth:`submit` is called on the loop's thread, and the connection is used
    only by this object (on the loop, and by its helper thread for COMMIT while the loop keeps
    off it)."""

    def __init__(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop, *, max_batch: int = 512,
                 on_rollback: Callable[[], None] | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.conn = conn
        self.loop = loop
        self.max_batch = max_batch
        self._on_rollback = on_rollback
        self._queue: collections.deque[Job] = collections.deque()
        self._busy = False  # a batch is running or committing: the connection is taken
        self._scheduled = False
        self._idle: asyncio.Event | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gt1-commit")
        self.stats = CommitStats()

    def submit(self, job: Job) -> None:
        self._queue.append(job)
        if not self._busy and not self._scheduled:
            # run on the next turn of the loop: what else arrives in this turn joins the batch
            self._scheduled = True
            self.loop.call_soon(self._start)

    async def drain(self) -> None:
        """Wait until every job submitted so far is committed (or failed)."""
        while self._busy or self._queue or self._scheduled:
            self._idle = asyncio.Event()
            await self._idle.wait()

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------ one batch

    def _start(self) -> None:
        self._scheduled = False
        if self._busy or not self._queue:
            self._settled()
            return
        batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
        self._busy = True
        conn = self.conn
        results: list[Any] = []
        t0 = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                results.append(job.run())
        except Exception:
            self._failed(batch)
            return
        self.stats.run_seconds += time.perf_counter() - t0
        fut = self.loop.run_in_executor(self._executor, self._commit_now)  # the one fsync of the batch
        fut.add_done_callback(lambda f: self._committed(batch, results, f))

    def _commit_now(self) -> None:
        t0 = time.perf_counter()
        self.conn.execute("COMMIT")
        took = time.perf_counter() - t0
        self.stats.commit_seconds += took
        self.stats.longest_commit_s = max(self.stats.longest_commit_s, took)

    def _committed(self, batch: list[Job], results: list[Any], fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self._failed(batch, fut.exception() if not fut.cancelled() else None)
            return
        self.stats.commits += 1
        self.stats.jobs += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        self._finish(batch, results)

    def _failed(self, batch: list[Job], error: BaseException | None = None) -> None:
        log.error("a ledger commit of %d job(s) failed: none of them is answered", len(batch),
                  exc_info=error if error is not None else True)
        self.stats.failed += 1
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except Exception:  # sqlite3 or PostgreSQL (hw_mocks.station.pg)
                log.exception("rolling back the failed commit failed too")
        if self._on_rollback is not None:
            self._on_rollback()
        self._finish(batch, [None] * len(batch))

    def _finish(self, batch: list[Job], results: list[Any]) -> None:
        self._busy = False
        for job, result in zip(batch, results, strict=True):
            if job.done is not None:
                try:
                    job.done(result)
                except Exception:  # one connection's bug must not stop the others' answers
                    log.exception("delivering a ledger result failed")
        if self._queue:
            # what queued up during the commit is the next batch, on the next turn of the loop
            self._scheduled = True
            self.loop.call_soon(self._start)
        else:
            self._settled()

    def _settled(self) -> None:
        if self._idle is not None and not self._busy and not self._queue:
            self._idle.set()
