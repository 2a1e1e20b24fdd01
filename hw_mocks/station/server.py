"""The reference station's TCP server: GT/1 short connections for many terminals at once.

One event loop (station-protocol.md "Transport", docs/protocol.md "Station rules"):

* the **event loop** (asyncio, one :class:`_Connection` protocol per TCP connection) accepts,
  reads, decodes and authenticates frames, enforces the deadlines and writes answers.  All that
  an unauthenticated peer can make the station do happens here, and costs little: a frame is
  refused from its header alone when the header names an unknown terminal, the wrong suite or a
  retired version, and nothing of a refused frame is ever read further;
* the **group commit** (:mod:`hw_mocks.station.commit`) runs every request — audit rows, seq,
  txn, handler, the sealed answer — in batches on the same loop, one COMMIT (one fsync, in a
  helper thread while the loop reads on) per batch.  An answer is written only after the commit
  that holds its request.

Transport rules, per connection:

* deadlines no trickle of bytes can extend: a frame's 30-byte header within ``header_timeout``
  (10 s) of the frame's first byte, the whole frame within 10 s + N ÷ ``min_rate`` (500 bytes a
  second); the first whole, authenticated frame within the same bound counted from acceptance;
  and 30 s without a byte (``idle_timeout``) while the station owes no answer;
* a connection holds an *unauthenticated slot* until its first frame authenticates; there are
  ``unauth_slots`` (1024) of them, and a newcomer who finds them full takes the slot of the
  **oldest** unauthenticated connection, which is closed — a newcomer is never refused;
* pipelined requests are answered in order; a terminal that has its answers and closes its side
  is closed at once (nothing lingers), and nothing about a connection outlives it.

Frames that do not authenticate are never answered; each gets the bounded audit row of
:func:`hw_mocks.station.audit.refused_record`, within :class:`~hw_mocks.station.audit.RefusalBudget`.

:class:`StationServer` runs the loop in a background thread for tests (a context manager that
exposes ``port``) or in the calling thread for the CLI (:meth:`StationServer.serve_forever`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import resource
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

from hw_mocks.station import audit, ledger
from hw_mocks.station.broker import FORWARDED, Broker, Forward, Lookup, Outcome
from hw_mocks.station.commit import GroupCommit, Job
from hw_mocks.station.handlers import REDACTED_CODE_RE, CardMac, Ctx, Limits, QrJob, Reply, Station
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.validate import Refusal
from terminal_app.domain.paycode import redact
from terminal_app.errors import ConfigurationError, DeviceError, HandheldError, LocalProtocolError
from terminal_app.station.messages import ErrorCode, MsgType
from terminal_app.station.protocol import (
    HEADER_LEN,
    AuthError,
    BodyError,
    FrameDecoder,
    FrameError,
    Header,
    SealedFrame,
    VersionError,
    open_frame,
    seal,
)
from terminal_app.timeutil import SHANGHAI, Clock, iso

log = logging.getLogger(__name__)

#: a frame's header must be complete this long after its first byte (contract)
HEADER_TIMEOUT = 10.0
#: the slowest link the deadlines allow for: a whole frame may take 10 s + N ÷ this (bytes/s)
MIN_RATE = 500
#: connections that have not authenticated yet, at least (contract: ≥ 1024)
UNAUTH_SLOTS = 1024
#: requests one connection may have queued at the ledger before the station stops reading it
MAX_PIPELINE = 256
#: seconds between checks that a minute of refused-frame rows has ended (its counter row)
BUDGET_TICK = 5.0
#: what the listening socket may hold before the loop accepts (the kernel caps it at somaxconn)
BACKLOG = 4096


def _what(e: HandheldError) -> str:
    """The error's "what failed" sentence with its values filled in (no advice: this is a log)."""
    try:
        return e.what.format(**e.params) if e.params else e.what
    except (KeyError, IndexError, ValueError):
        return e.what


def _json(body: Mapping[str, Any]) -> str:
    # the audit's copy of a body already checked by the codec (decoded, or about to be sealed);
    # a payment code (付款码) is a bearer token for the customer's money: the audit keeps it redacted
    code = body.get("auth_code")
    if code is not None and not (isinstance(code, str) and REDACTED_CODE_RE.fullmatch(code)):
        body = {**body, "auth_code": redact(code) if isinstance(code, str) else "?"}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _raise_fd_limit() -> None:
    """Thousands of connections need thousands of descriptors: lift the soft limit to the hard one."""
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class StationServer:
    """The reference master station; ``with StationServer(db, terminals) as st: st.port``."""

    def __init__(self, db_path: str | os.PathLike[str], terminals: Mapping[str, TerminalKey], *,
                 host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None,
                 idle_timeout: float = 30.0, limits: Limits | None = None, card_mac: CardMac | None = None,
                 header_timeout: float = HEADER_TIMEOUT, min_rate: float = MIN_RATE,
                 unauth_slots: int = UNAUTH_SLOTS, max_batch: int = 512,
                 on_ready: Callable[[int], None] | None = None, marketing: str | None = None,
                 marketing_timeout: float = 5.0, front_end: int = 0,
                 acquirer: Mapping[Any, Any] | None = None, acquirer_params: Any = None,
                 acquirer_sleep: Callable[[float], None] | None = None) -> None:
        if unauth_slots < 1:
            raise ConfigurationError("The station needs at least one unauthenticated slot.", "Raise unauth_slots.")
        self.db_path = os.fspath(db_path)
        self.terminals = dict(terminals)
        self._key_ids = {tid: t.key_id for tid, t in self.terminals.items()}
        self.host = host
        self._port = port
        self.clock = clock or Clock()
        self.idle_timeout = idle_timeout
        self.header_timeout = header_timeout
        self.min_rate = min_rate
        self.unauth_slots = unauth_slots
        self.max_batch = max_batch
        self.limits = limits or Limits()
        self.card_mac = card_mac
        self.on_ready = on_ready
        #: "host:port" of the marketing system behind the station (hw_mocks.station.broker), or None
        self.marketing = marketing
        self.marketing_timeout = marketing_timeout
        if not 0 <= front_end <= 9:
            raise ConfigurationError("The front end's number must be 1 to 9 (0: the only one).", "Give --front-end 1..9.")
        #: 1…9: one of several front ends on one PostgreSQL ledger (its receipts, serials, audit chain)
        self.front_end = front_end
        #: the acquirer's channels (hw_mocks.station.acquirer.load_channels) for QR payments, or None
        self.acquirer = dict(acquirer) if acquirer is not None else None
        self.acquirer_params = acquirer_params
        self.acquirer_sleep = acquirer_sleep
        #: threads for the acquirer's calls (each QR order may wait on it for about a minute)
        self._qr_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._conns: set[_Connection] = set()
        #: connections without an authenticated frame yet, oldest first
        self._unauth: collections.OrderedDict[_Connection, None] = collections.OrderedDict()
        self._budget = audit.RefusalBudget()
        self._worker: GroupCommit | None = None
        self._audit: audit.AuditWriter | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self.connections = 0  # accepted so far (tests and the benchmarks read it)
        self.evicted = 0  # unauthenticated connections closed to admit a newer one
        self.refused = 0  # frames that did not authenticate
        self.refused_rows_dropped = 0  # of those, rows not kept (over the rate limit)

    @property
    def port(self) -> int:
        return self._port

    @property
    def stats(self) -> dict[str, Any]:
        """Counters for QA and the benchmarks (``handheld-mocks station --stats`` prints them)."""
        w = self._worker.stats if self._worker is not None else None
        return {"connections": self.connections, "evicted": self.evicted, "refused": self.refused,
                "refused_rows_dropped": self.refused_rows_dropped,
                "commits": w.commits if w else 0, "jobs": w.jobs if w else 0,
                "largest_commit": w.largest if w else 0, "failed_commits": w.failed if w else 0,
                "commit_s": round(w.commit_seconds, 3) if w else 0.0,
                "longest_commit_s": round(w.longest_commit_s, 4) if w else 0.0,
                "run_s": round(w.run_seconds, 3) if w else 0.0}

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 10.0) -> StationServer:
        self._thread = threading.Thread(target=self._run_thread, name="gt1-station", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise DeviceError("The reference station did not start within {t} s.", t=timeout)
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> StationServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_thread(self) -> None:
        try:
            asyncio.run(self.serve())
        except BaseException as e:  # surfaced to start()
            self._error = e
            self._ready.set()

    def set_terminals(self, terminals: Mapping[str, TerminalKey]) -> None:
        """Take a new provisioning (the console provisioned, re-keyed or revoked a terminal): frames
        that arrive from now on are checked against it."""
        new = dict(terminals)
        self._key_ids = {tid: t.key_id for tid, t in new.items()}
        self.terminals = new

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI)."""
        asyncio.run(self.serve())

    async def serve(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        _raise_fd_limit()
        conn = ledger.connect(self.db_path, check_same_thread=False)  # COMMIT runs in a helper thread
        self.station = Station(conn, self.clock, self.limits, self.card_mac, self.idle_timeout,
                               front_end=self.front_end)
        if self.marketing is not None:
            self.station.broker = Broker(self.marketing, self.marketing_timeout,
                                         station_id=f"{self.front_end or 1:04d}")
        if self.acquirer is not None:
            self._start_acquirer(loop)
        self._audit = audit.AuditWriter(conn, chain=self.front_end)
        self._worker = GroupCommit(conn, loop, max_batch=self.max_batch, on_rollback=self._audit.forget)
        try:
            try:
                server = await loop.create_server(lambda: _Connection(self), self.host, self._port,
                                                  backlog=BACKLOG, reuse_address=True)
            except OSError as e:
                raise ConfigurationError("The station cannot listen on {host}:{port} ({error}).",
                                         "Choose another --port, or stop what is using it.", host=self.host,
                                         port=self._port, error=e.strerror or type(e).__name__) from e
            try:
                self._port = server.sockets[0].getsockname()[1]
                self._tick_handle = loop.call_later(BUDGET_TICK, self._tick)
                self._ready.set()
                if self.on_ready is not None:
                    self.on_ready(self._port)
                await self._stopping.wait()
            finally:
                server.close()
                for c in list(self._conns):
                    c.abort()
                if self._tick_handle is not None:
                    self._tick_handle.cancel()
                self._counter_row(self._budget.roll(None))
        finally:
            try:
                await self._worker.drain()  # commits what is queued
            finally:
                self._worker.close()
                conn.close()
                if self._qr_pool is not None:
                    self._qr_pool.shutdown(wait=False, cancel_futures=True)
                if self.station.qr is not None:
                    self.station.qr.journal.close()

    def _start_acquirer(self, loop: asyncio.AbstractEventLoop) -> None:
        """QR payments (issue 17): the order journal in the ledger, and every order a previous run
        left unfinished resumed at once (queried first, never paid again; or reversed again)."""
        from hw_mocks.station.acquirer import OrderJournal, QrPayments

        assert self.acquirer is not None
        journal = OrderJournal.on_ledger(self.db_path, self.clock.now)
        kw = {"sleep": self.acquirer_sleep} if self.acquirer_sleep is not None else {}
        self.station.qr = QrPayments(journal, self.acquirer, self.acquirer_params, **kw)
        self._qr_pool = concurrent.futures.ThreadPoolExecutor(64, thread_name_prefix="acquirer")
        for txn in journal.unfinished():
            log.info("resuming QR order %s left unfinished", txn)
            fut = loop.run_in_executor(self._qr_pool, self.station.qr.resume, txn)
            fut.add_done_callback(lambda f, t=txn: f.exception() and log.error(
                "resuming QR order %s failed: %s", t, f.exception()))
        self._give_back()  # what a previous run charged and then refused, before it could give it back

    def _give_back(self) -> None:
        """Refund, in the acquirer's pool, every QR payment charged and then refused (the marketing
        system refused it after the customer's wallet paid): the customer never pays for nothing."""
        if self.station.qr is not None and self._qr_pool is not None:
            with contextlib.suppress(RuntimeError):  # the station is stopping: the next start sweeps
                self._qr_pool.submit(self.station.qr.give_back)

    def _after_qr_decision(self, body: Mapping[str, Any], msg_type: int,
                           then: Callable[[Any], None]) -> Callable[[Any], None]:
        """``then``, and once a QR PAYMENT's (or QR card purchase's) decision is committed, the give-back sweep."""
        def done(result: Any) -> None:
            then(result)
            if msg_type in (MsgType.PAYMENT, MsgType.CARD_AUTHORIZE) and body.get("method") in ("wechat", "alipay"):
                self._give_back()
        return done

    # ------------------------------------------------------------------ connections

    def _admit(self, c: _Connection) -> None:
        self.connections += 1
        self._conns.add(c)
        if len(self._unauth) >= self.unauth_slots:
            oldest, _ = self._unauth.popitem(last=False)
            self.evicted += 1
            oldest.evict(f"closed to admit a newer connection (all {self.unauth_slots} unauthenticated slots taken)")
        self._unauth[c] = None

    def _authenticated(self, c: _Connection) -> None:
        self._unauth.pop(c, None)

    def _forget(self, c: _Connection) -> None:
        self._unauth.pop(c, None)
        self._conns.discard(c)

    def refusal_for(self, h: Header | SealedFrame) -> str | None:
        """Why a frame with this header is refused before its MAC/tag is even looked at."""
        if h.flags & 1:
            return "refused: response flag on a request"
        key = self.terminals.get(h.terminal_id)
        if key is None:
            return "refused: unknown terminal"
        if int(h.suite) != key.suite:
            return f"refused: suite {int(h.suite)} is not the terminal's suite"
        return None

    # ------------------------------------------------------------------ the ledger's jobs

    def submit_request(self, c: _Connection, frame: SealedFrame, key: TerminalKey, body: dict[str, Any] | None,
                       bad_body: str | None) -> None:
        if c.gated:  # a PAYMENT/REVERSAL before it is still with the marketing system
            c.held.append((frame, key, body, bad_body))
            return
        peer = c.peer
        assert self._worker is not None
        slot = c.reserve()
        # a connection's requests take effect in order: one that may go to the marketing system
        # holds the ones behind it until it is settled (a reversal pipelined behind its payment)
        gate = bad_body is None and (
            (self.marketing is not None and (frame.msg_type in FORWARDED or frame.msg_type == MsgType.BILL_QUERY))
            or (self.acquirer is not None and frame.msg_type in (MsgType.PAYMENT, MsgType.REVERSAL,
                                                                 MsgType.CARD_AUTHORIZE, MsgType.CARD_CANCEL)))

        def finish(result: bytes | None) -> None:
            c.deliver(slot, result)
            if gate:
                c.gated = False
                while c.held and not c.gated:
                    if c.closed:
                        c.held.clear()
                        break
                    self.submit_request(c, *c.held.popleft())

        def done(result: bytes | _Forwarding | None) -> None:
            if isinstance(result, _Forwarding) and isinstance(result.forward, QrJob):
                assert self._loop is not None  # its seq is committed: now the acquirer, then decide again
                self._loop.create_task(self._acquire(result, done, finish))
            elif isinstance(result, _Forwarding):  # phase A committed: now the marketing system
                assert self._loop is not None
                self._loop.create_task(self._forward(result, finish))
            else:
                finish(result)

        if gate:
            c.gated = True
        self._worker.submit(Job(lambda: self._answer(peer, frame, key, body, bad_body), done))

    async def _forward(self, fw: _Forwarding, finish: Callable[[bytes | None], None]) -> None:
        """The marketing hop of a PAYMENT/REVERSAL, then its phase B in a batch (broker)."""
        assert self.station.broker is not None and self._worker is not None
        try:
            out = await self.station.broker.exchange(fw.forward)
        except Exception:  # a bug: the txn stays pending (asked about first next time)
            log.exception("the marketing exchange of %s failed", getattr(fw.forward, "txn", fw.forward.request.serial))
            finish(None)
            return
        self._worker.submit(Job(lambda: self._settle(fw, out),
                                self._after_qr_decision(fw.body, fw.frame.msg_type, finish)))

    async def _acquire(self, fw: _Forwarding, done: Callable[[Any], None],
                       finish: Callable[[bytes | None], None]) -> None:
        """The acquirer's part of a QR PAYMENT or of its reversal (a refund), in a thread of its own
        (it may take a minute), then the txn decided again in a batch — which may go on to the
        marketing system like every payment."""
        assert self._loop is not None and self._worker is not None and isinstance(fw.forward, QrJob)
        job = fw.forward
        try:
            await self._loop.run_in_executor(self._qr_pool, self.station.run_acquirer, job)
        except Exception as e:  # QrOrderConflict: the txn's order was for another channel or amount
            log.warning("QR txn %s refused by the acquirer's journal: %s", job.txn, type(e).__name__)
            reply = Reply(Refusal(ErrorCode.TXN_CONFLICT, f"txn {job.txn} was already used for another QR payment",
                                  txn=job.txn).body(), True)
            self._worker.submit(Job(lambda: self._seal_out(fw.peer, fw.frame, fw.key, reply,
                                                           iso(self.clock.now())), finish))
            return
        self._worker.submit(Job(lambda: self._after_acquirer(fw), self._after_qr_decision(fw.body, fw.frame.msg_type,
                                                                                          done)))

    def _after_acquirer(self, fw: _Forwarding) -> bytes | _Forwarding:
        frame = fw.frame
        at = iso(self.clock.now())
        reply = self.station.after_acquirer(frame.terminal_id, frame.seq, frame.msg_type, fw.body)
        if isinstance(reply, Forward):
            return _Forwarding(fw.peer, frame, fw.key, fw.body, reply)
        return self._seal_out(fw.peer, frame, fw.key, reply, at)

    def _settle(self, fw: _Forwarding, out: Outcome) -> bytes:
        frame = fw.frame
        ctx = Ctx(frame.terminal_id, frame.seq, self.clock.now())
        reply = self.station.broker.settle(self.station, ctx, frame.msg_type, fw.body, fw.forward, out)  # type: ignore[union-attr]
        return self._seal_out(fw.peer, frame, fw.key, reply, iso(ctx.now))

    def _answer(self, peer: str, frame: SealedFrame, key: TerminalKey, body: dict[str, Any] | None,
                bad_body: str | None) -> bytes | _Forwarding:
        """In the group commit, inside the batch's transaction: audit the request, apply it,
        seal and audit the answer.  An SQLite error ends the batch (nothing of it is answered)."""
        assert self._audit is not None
        tid, seq, mt = frame.terminal_id, frame.seq, frame.msg_type
        kid = self._key_ids.get(tid) or key.key_id  # revoked or re-keyed meanwhile: the key it authenticated with
        at = iso(self.clock.now())
        if bad_body is None:
            assert body is not None
            self._audit.append(audit.AuditRecord(at, peer, "in", tid, seq, mt, frame.raw, _json(body)))
            reply = self.station.apply(tid, seq, mt, body, kid)
            if isinstance(reply, Forward | Lookup | QrJob):
                return _Forwarding(peer, frame, key, body, reply)
        else:
            self._audit.append(audit.AuditRecord(at, peer, "in", tid, seq, mt, frame.raw, None,
                                                 f"bad body: {bad_body}"))
            reply = self.station.apply_bad_body(tid, seq, "the body is not a valid GT/1 JSON object", kid)
        return self._seal_out(peer, frame, key, reply, at)

    def _seal_out(self, peer: str, frame: SealedFrame, key: TerminalKey, reply: Reply, at: str) -> bytes:
        tid, seq, mt = frame.terminal_id, frame.seq, frame.msg_type
        try:
            out = seal(key.key, frame.suite, tid, seq, mt, reply.body, response=True, error=reply.error)
        except LocalProtocolError:  # e.g. a page too large for one frame even deflated
            reply = Reply(Refusal(ErrorCode.LIMIT, "the answer does not fit one GT/1 frame; ask for a smaller"
                                  " page_size").body(), True)
            out = seal(key.key, frame.suite, tid, seq, mt, reply.body, response=True, error=True)
        self._audit.append(audit.AuditRecord(at, peer, "out", tid, seq, mt, out, _json(reply.body)))
        return out

    def audit_refused(self, peer: str, address: str, data: bytes | bytearray, note: str,
                      h: Header | SealedFrame | None, done: Callable[[Any], None]) -> bool:
        """The bounded row of a frame that did not authenticate, if the budget allows one: True
        when a row was queued (``done`` is called once it is committed)."""
        self.refused += 1
        now = self.clock.now()
        keep, ended = self._budget.admit(int(now.timestamp() // 60), address, len(data))
        self._counter_row(ended)
        if not keep:
            self.refused_rows_dropped += 1
            return False
        log.info("refused frame from %s: %s", peer, note)
        rec = audit.refused_record(iso(now), peer, data, note, *((h.terminal_id, h.seq, h.msg_type) if h else ()))
        assert self._audit is not None and self._worker is not None
        writer = self._audit
        self._worker.submit(Job(lambda: writer.append(rec), done))
        return True

    def _counter_row(self, ended: tuple[int, int, int] | None) -> None:
        if ended is None or self._worker is None or self._audit is None:
            return
        minute, n, nbytes = ended
        start = iso(dt.datetime.fromtimestamp(minute * 60, SHANGHAI))
        log.warning("%d frame(s) that did not authenticate in the minute from %s were not recorded (rate limit)",
                    n, start)
        rec = audit.AuditRecord(iso(self.clock.now()), "*", "in", None, None, None, b"", None,
                                f"dropped: {n} frame(s) that did not authenticate in the minute from {start} were"
                                f" not recorded (over {self._budget.per_peer} a minute per peer address or"
                                f" {self._budget.in_all} in all); {nbytes} bytes read", nbytes, None)
        writer = self._audit
        self._worker.submit(Job(lambda: writer.append(rec)))

    def _tick(self) -> None:
        """Close the budget's minute when it has ended (its counter row), then look again later."""
        self._counter_row(self._budget.roll(int(self.clock.now().timestamp() // 60)))
        if self._loop is not None and not (self._stopping and self._stopping.is_set()):
            self._tick_handle = self._loop.call_later(BUDGET_TICK, self._tick)


@dataclasses.dataclass(slots=True)
class _Forwarding:
    """A request whose phase A committed and that now waits for the marketing system."""

    peer: str
    frame: SealedFrame
    key: TerminalKey
    body: dict[str, Any]
    forward: Forward | Lookup | QrJob


class _Connection(asyncio.Protocol):
    """One TCP connection: frames in, answers out in order, deadlines (see the module docstring)."""

    def __init__(self, srv: StationServer) -> None:
        self.srv = srv
        self.loop = srv._loop
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.address = "?"
        self.decoder = FrameDecoder()
        self.tail = bytearray()  # every byte read of the frame being received (or refused)
        self.accepted = self.last_rx = 0.0
        self.frame_start: float | None = None  # when the current frame's first byte came
        self.frame_n: int | None = None  # its body length N, once its header is in
        self.first_n: int | None = None  # N of the connection's first frame
        self.authenticated = False
        self.outstanding = 0  # requests at the ledger, not answered yet
        self.finishing = False  # reads nothing more; closes once the outstanding answers are out
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None
        self._read_paused = self._write_paused = False
        #: answers go out in request order: a forwarded request answers later than the next one
        self._slots = 0  # slots handed out
        self._next = 0  # the slot whose answer goes out next
        self._ready: dict[int, bytes] = {}
        self.gated = False  # a request that may go to the marketing system is not settled yet
        self.held: collections.deque[tuple[SealedFrame, TerminalKey, dict[str, Any] | None, str | None]] = \
            collections.deque()

    # ------------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        if isinstance(peername, tuple):
            self.peer, self.address = f"{peername[0]}:{peername[1]}", str(peername[0])
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.accepted = self.last_rx = self.loop.time()
        self.srv._admit(self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.finishing:
            return  # nothing after a refusal or the end is ever decoded
        now = self.last_rx = self.loop.time()
        if not self.tail:
            self.frame_start = now  # the first byte of a frame
        self.tail += data
        error: FrameError | None = None
        try:
            frames = self.decoder.feed(data)
        except FrameError as e:
            frames, error = [], e
        for frame in frames:
            if not self._take(frame):
                return
            del self.tail[:len(frame.raw)]
        if frames:
            self.frame_start = now if self.tail else None
            self.frame_n = None
            if error is None:
                try:
                    self.decoder.feed(b"")  # an error found after good frames in the same chunk
                except FrameError as e:
                    error = e
        if error is not None:
            self.refuse(f"refused: {_what(error)}" if isinstance(error, VersionError) else f"malformed: {_what(error)}",
                        None)
            return
        if self.frame_n is None and len(self.tail) >= HEADER_LEN:
            try:
                h = self.decoder.header()
            except FrameError as e:  # (feed checked it already)
                self.refuse(f"malformed: {_what(e)}", None)
                return
            if h is not None:
                why = self.srv.refusal_for(h)
                if why is not None:
                    self.refuse(why, h)  # from the header alone: the body is never read
                    return
                self.frame_n = h.length
                if not self.authenticated and self.first_n is None:
                    self.first_n = h.length
        self._arm()

    def eof_received(self) -> bool:
        if not self.finishing:
            if self.tail:
                self.refuse("truncated: the connection ended in the middle of a frame", self._header())
            else:
                self.finishing = True
                self._close_if_done()
        return True  # keep the write side open for the answers still owed

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.finishing = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.srv._forget(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        self._flow()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._flow()

    # ------------------------------------------------------------------ frames

    def _take(self, frame: SealedFrame) -> bool:
        """Authenticate a whole frame and queue it for the ledger; False when it was refused."""
        srv = self.srv
        why = srv.refusal_for(frame)
        if why is not None:
            self.refuse(why, frame)
            return False
        key = srv.terminals[frame.terminal_id]
        bad_body = None
        body: dict[str, Any] | None = None
        try:
            body = open_frame(key.key, frame)
        except AuthError:
            self.refuse("refused: MAC/tag does not verify", frame)
            return False
        except BodyError as e:  # authentic, but not a GT/1 body: answered E_BAD_REQUEST
            bad_body = _what(e)
        if not self.authenticated:
            self.authenticated = True
            srv._authenticated(self)
        self.outstanding += 1
        srv.submit_request(self, frame, key, body, bad_body)
        self._flow()
        return True

    def _header(self) -> Header | None:
        try:
            return self.decoder.header()
        except FrameError:
            return None

    def refuse(self, note: str, h: Header | SealedFrame | None) -> None:
        """Audit the frame being received (bounded row), read nothing more, close once the answers
        owed for the frames before it are written and its row is committed."""
        if self.srv.audit_refused(self.peer, self.address, self.tail, note, h, self._audited):
            self.outstanding += 1
        self.tail = bytearray()
        self.finishing = True
        if self.transport is not None and not self.closed:
            with contextlib.suppress(RuntimeError):
                self.transport.pause_reading()
        self._close_if_done()

    def evict(self, why: str) -> None:
        """Closed to free an unauthenticated slot (the oldest one goes)."""
        if self.closed:
            return
        if self.tail and not self.finishing:
            self.refuse(f"truncated: {why}", self._header())
        self.finishing = True
        self._close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # ------------------------------------------------------------------ answers

    def reserve(self) -> int:
        self._slots += 1
        return self._slots - 1

    def deliver(self, slot: int, out: bytes | None) -> None:
        """The ledger committed (``out``: the answer to the request of ``slot``) or failed (None:
        close, answer nothing more).  Answers are written in request order."""
        self.outstanding -= 1
        if self.closed:
            return  # the terminal left; the ledger has it, TXN_STATUS will tell
        if out is None:
            self.finishing = True
            self._close()
            return
        assert self.transport is not None
        self._ready[slot] = out
        while self._next in self._ready:
            self.transport.write(self._ready.pop(self._next))
            self._next += 1
        if self._close_if_done():
            return
        self._flow()
        self._arm()

    def _audited(self, _result: Any) -> None:
        self.outstanding -= 1
        if not self.closed:
            self._close_if_done()

    def _close_if_done(self) -> bool:
        if self.finishing and self.outstanding == 0:
            self._close()
            return True
        return False

    def _close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()  # after the answers already written
        self.srv._forget(self)

    def _flow(self) -> None:
        """Stop reading while too many requests wait for the ledger or the peer does not read."""
        if self.transport is None or self.closed or self.finishing:
            return
        pause = self._write_paused or self.outstanding >= MAX_PIPELINE
        if pause and not self._read_paused:
            self.transport.pause_reading()
            self._read_paused = True
        elif not pause and self._read_paused and self.outstanding < MAX_PIPELINE // 2:
            self.transport.resume_reading()
            self._read_paused = False

    # ------------------------------------------------------------------ deadlines

    def _deadline(self) -> tuple[float, str] | None:
        srv = self.srv
        best: tuple[float, str] | None = None
        if not self.authenticated:
            n = self.first_n or 0
            best = (self.accepted + srv.header_timeout + n / srv.min_rate,
                    f"no authenticated frame within {srv.header_timeout + n / srv.min_rate:g} s of connecting")
        if self.frame_start is not None and self.tail:
            if self.frame_n is None:
                cand = (self.frame_start + srv.header_timeout,
                        f"header not complete within {srv.header_timeout:g} s of its first byte")
            else:
                limit = srv.header_timeout + self.frame_n / srv.min_rate
                cand = (self.frame_start + limit, f"frame not complete within {limit:g} s of its first byte")
            if best is None or cand[0] < best[0]:
                best = cand
        if self.outstanding == 0:
            cand = (self.last_rx + srv.idle_timeout, f"idle for {srv.idle_timeout:g} s")
            if best is None or cand[0] < best[0]:
                best = cand
        return best

    def _arm(self) -> None:
        if self.closed or self.finishing:
            return
        d = self._deadline()
        if d is None:
            return
        if self.timer is not None:
            if self.timer.when() <= d[0]:
                return  # it fires first and looks again
            self.timer.cancel()
        self.timer = self.loop.call_at(d[0], self._expire)

    def _expire(self) -> None:
        self.timer = None
        if self.closed or self.finishing:
            return
        d = self._deadline()
        if d is None:
            return
        if self.loop.time() < d[0]:
            self._arm()
            return
        if self.tail:
            self.refuse(f"truncated: {d[1]}", self._header())
        else:
            log.info("closed %s: %s", self.peer, d[1])
            self.finishing = True
            if self.outstanding == 0:
                self._close()
