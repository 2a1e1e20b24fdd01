"""The console's own, bounded database connections and web-server threads (issue 22).

The console never shares a connection with the station: the station's ledger worker keeps its one
connection (and PostgreSQL front ends theirs), and the console takes its connections from a pool
of its own, at most :data:`DB_CONNECTIONS` of them:

* PostgreSQL: a psycopg_pool.ConnectionPool (connections kept open between requests — a busy
  server is not asked to fork a backend for every page), each named ``handheld-console`` in
  pg_stat_activity and with a ``statement_timeout`` of :data:`STATEMENT_TIMEOUT_S`: a console page
  can take at most that many of the cluster's ``max_connections`` and never hold a lock longer.
* SQLite: a connection per request (cheap), at most DB_CONNECTIONS at a time (a semaphore).

A request that waits more than :data:`CHECKOUT_TIMEOUT_S` for a connection gets :class:`Busy` (the
app answers 503 with a Retry-After): the supervisor sees "busy, try again", never a hung page.

The web server handles requests in a pool of :data:`SERVER_THREADS` threads (werkzeug's threaded
server starts a thread per request, without bound); the next connections wait in the listen queue.
Those threads run at a lower CPU priority (nice +:data:`NICE`, Linux sets it per thread): when the
machine is short of CPU the station's payments go first and the console's pages wait — a console
polled back to back took ~40 % of the payments' throughput on a busy 2-core machine without it.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import sqlite3
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer

DB_CONNECTIONS = 4
CHECKOUT_TIMEOUT_S = 10.0
STATEMENT_TIMEOUT_S = 20
SERVER_THREADS = 8
NICE = 10


class Busy(Exception):
    """No console connection became free within CHECKOUT_TIMEOUT_S."""


def _is_pg(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


class ConsoleDB:
    """Hands out and takes back the console's connections to the ledger ``target``."""

    def __init__(self, target: str, size: int = DB_CONNECTIONS, checkout_timeout: float = CHECKOUT_TIMEOUT_S) -> None:
        self.target, self.size, self.checkout_timeout = target, size, checkout_timeout
        self._pool: Any = None
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self.out = 0  # connections handed out now (tests and the bench read it)
        self.most = 0  # the most ever out at once

    def _pg_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                from hw_mocks.station import pg

                def configure(raw: Any) -> None:
                    pg.configure(raw)
                    raw.execute(f"SET statement_timeout = '{int(STATEMENT_TIMEOUT_S)}s'")
                    raw.execute("SET application_name = 'handheld-console'")

                self._pool = ConnectionPool(self.target, min_size=1, max_size=self.size, open=True,
                                            configure=configure, timeout=self.checkout_timeout,
                                            name="handheld-console", kwargs={"autocommit": True})
            return self._pool

    def acquire(self) -> sqlite3.Connection:
        if not self._slots.acquire(timeout=self.checkout_timeout):
            raise Busy()
        try:
            if _is_pg(self.target):
                from psycopg_pool import PoolTimeout

                from hw_mocks.station.pg import PgConnection

                try:
                    raw = self._pg_pool().getconn()
                except PoolTimeout as e:
                    raise Busy() from e
                conn: Any = PgConnection(self.target, raw=raw)
            else:
                conn = sqlite3.connect(self.target, isolation_level=None, timeout=10.0, check_same_thread=False)
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self.out += 1
            self.most = max(self.most, self.out)
        return conn

    def release(self, conn: Any) -> None:
        try:
            if getattr(conn, "backend", "sqlite") == "postgresql":
                raw = conn.detach()
                self._pg_pool().putconn(raw)
            else:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.close()
        finally:
            with self._lock:
                self.out -= 1
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


class BoundedWSGIServer(ThreadedWSGIServer):
    """werkzeug's threaded server with a fixed pool of request threads instead of one per request."""

    def __init__(self, *a: Any, threads: int = SERVER_THREADS, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._workers = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="console-http",
                                                              initializer=_lower_priority)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket],
                        client_address: Any) -> None:
        self._workers.submit(self.process_request_thread, request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self._workers.shutdown(wait=True, cancel_futures=True)
        pool = getattr(self.app, "extensions", {}).get("console_db")
        if pool is not None:  # the app's connections go with its server
            pool.close()


def _lower_priority() -> None:
    """This thread only (Linux: a thread is a task with its own nice value); elsewhere: no change."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICE))
    except (OSError, AttributeError):
        pass


def make_server(host: str, port: int, app: Any, threads: int = SERVER_THREADS) -> BoundedWSGIServer:
    return BoundedWSGIServer(host, port, app, threads=threads)
