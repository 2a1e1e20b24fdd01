"""The reference station's TCP server: GT/1 short connections for many terminals at once.

Per connection (station-protocol.md "Transport"): frames are decoded as they stream in and
answered strictly in order (pipelining); 30 s without a byte closes the connection; nothing
about a connection outlives it (seqs and txns live in the ledger).  A malformed or truncated
frame, a response-flagged frame, an unknown terminal, a suite other than the provisioned one or
a failed MAC/tag is never answered: it is audited and the connection closed at once.

Everything runs on one asyncio loop; the ledger calls are synchronous SQLite on that loop's
thread, so requests from all terminals are serialised — the simplest correct order.

:class:`StationServer` runs the loop in a background thread for tests (a context manager that
exposes ``port``) or in the calling thread for the CLI (:meth:`StationServer.serve_forever`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from hw_mocks.station import audit, ledger
from hw_mocks.station.handlers import CardMac, Limits, Reply, Station
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.validate import Refusal
from terminal_app.errors import ConfigurationError, DeviceError, HandheldError, LocalProtocolError
from terminal_app.station.messages import ErrorCode
from terminal_app.station.protocol import (
    MAX_FRAME,
    AuthError,
    BodyError,
    FrameDecoder,
    FrameError,
    SealedFrame,
    encode_body,
    open_frame,
    seal,
)
from terminal_app.timeutil import Clock, iso

log = logging.getLogger(__name__)

READ_CHUNK = 65536


def _what(e: HandheldError) -> str:
    """The error's "what failed" sentence with its values filled in (no advice: this is a log)."""
    try:
        return e.what.format(**e.params) if e.params else e.what
    except (KeyError, IndexError, ValueError):
        return e.what


class StationServer:
    """The reference master station; ``with StationServer(db, terminals) as st: st.port``."""

    def __init__(self, db_path: str | os.PathLike[str], terminals: Mapping[str, TerminalKey], *,
                 host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None,
                 idle_timeout: float = 30.0, limits: Limits | None = None, card_mac: CardMac | None = None,
                 max_connections: int = 256, on_ready: Callable[[int], None] | None = None) -> None:
        self.db_path = os.fspath(db_path)
        self.terminals = dict(terminals)
        self.host = host
        self._port = port
        self.clock = clock or Clock()
        self.idle_timeout = idle_timeout
        self.limits = limits or Limits()
        self.card_mac = card_mac
        self.max_connections = max_connections
        self.on_ready = on_ready
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._conns: set[asyncio.Task[Any]] = set()
        self.connections = 0  # accepted so far (tests and the benchmark read it)

    @property
    def port(self) -> int:
        return self._port

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

    def stop(self, timeout: float = 10.0) -> None:
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

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI)."""
        asyncio.run(self.serve())

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        conn = ledger.connect(self.db_path)
        try:
            self.station = Station(conn, self.clock, self.limits, self.card_mac, self.idle_timeout)
            try:
                server = await asyncio.start_server(self._client, self.host, self._port)
            except OSError as e:
                raise ConfigurationError("The station cannot listen on {host}:{port} ({error}).",
                                         "Choose another --port, or stop what is using it.", host=self.host,
                                         port=self._port, error=e.strerror or type(e).__name__) from e
            try:
                self._port = server.sockets[0].getsockname()[1]
                self._ready.set()
                if self.on_ready is not None:
                    self.on_ready(self._port)
                await self._stopping.wait()
            finally:
                server.close()
                for task in list(self._conns):
                    task.cancel()
                await asyncio.gather(*self._conns, return_exceptions=True)
                await server.wait_closed()
        finally:
            conn.close()

    # ------------------------------------------------------------------ one connection

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self.connections += 1
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        try:
            if len(self._conns) > self.max_connections:
                log.warning("refused %s: more than %d connections", peer, self.max_connections)
                return
            await self._converse(reader, writer, peer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # a station bug: drop this connection, keep serving the others
            log.exception("connection from %s failed inside the station", peer)
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        decoder = FrameDecoder()
        tail = bytearray()  # bytes of the frame being received, for the audit of a bad one
        while True:
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), self.idle_timeout)
            except TimeoutError:
                log.info("closed %s: idle for %.0f s", peer, self.idle_timeout)
                if decoder.pending:  # a frame was started and never finished
                    self._audit_refused(peer, bytes(tail), f"truncated: idle for {self.idle_timeout:g} s")
                return
            if not data:
                try:
                    decoder.eof()
                except FrameError as e:
                    self._audit_refused(peer, bytes(tail), f"truncated: {_what(e)}")
                return
            error: FrameError | None = None
            try:
                frames = decoder.feed(data)
            except FrameError as e:
                frames, error = [], e
            tail += data
            for frame in frames:
                del tail[:len(frame.raw)]
            for frame in frames:
                answer = self._on_frame(frame, peer)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
            if error is None and frames:
                try:
                    decoder.feed(b"")  # an error found after good frames in the same chunk
                except FrameError as e:
                    error = e
            if error is not None:
                self._audit_refused(peer, bytes(tail[:MAX_FRAME]), f"malformed: {_what(error)}")
                return

    # ------------------------------------------------------------------ one frame

    def _audit(self, rec: audit.AuditRecord) -> None:
        audit.append(self.station.conn, rec)

    def _audit_refused(self, peer: str, raw: bytes, note: str, frame: SealedFrame | None = None) -> None:
        log.warning("refused frame from %s: %s", peer, note)
        self._audit(audit.AuditRecord(iso(self.clock.now()), peer, "in", frame.terminal_id if frame else None,
                                      frame.seq if frame else None, frame.msg_type if frame else None, raw,
                                      None, note))

    def _on_frame(self, frame: SealedFrame, peer: str) -> bytes | None:
        """The response frame to send, or None to close the connection unanswered."""
        key = self.terminals.get(frame.terminal_id)
        if frame.is_response:
            self._audit_refused(peer, frame.raw, "refused: response flag on a request", frame)
            return None
        if key is None:
            self._audit_refused(peer, frame.raw, "refused: unknown terminal", frame)
            return None
        if int(frame.suite) != key.suite:
            self._audit_refused(peer, frame.raw, f"refused: suite {int(frame.suite)} is not the terminal's suite",
                                frame)
            return None
        try:
            body = open_frame(key.key, frame)
        except AuthError:
            self._audit_refused(peer, frame.raw, "refused: MAC/tag does not verify", frame)
            return None
        except BodyError as e:
            self._audit(audit.AuditRecord(iso(self.clock.now()), peer, "in", frame.terminal_id, frame.seq,
                                          frame.msg_type, frame.raw, None, f"bad body: {_what(e)}"))
            reply = self._guarded(lambda: self.station.refuse_body(frame.terminal_id, frame.seq,
                                                                   "the body is not a valid GT/1 JSON object"))
        else:
            self._audit(audit.AuditRecord(iso(self.clock.now()), peer, "in", frame.terminal_id, frame.seq,
                                          frame.msg_type, frame.raw, encode_body(body).decode("utf-8")))
            reply = self._guarded(lambda: self.station.process(frame.terminal_id, frame.seq, frame.msg_type, body))
        try:
            out = seal(key.key, frame.suite, frame.terminal_id, frame.seq, frame.msg_type, reply.body,
                       response=True, error=reply.error)
        except LocalProtocolError:  # e.g. a page too large for one frame even deflated
            reply = Reply(Refusal(ErrorCode.LIMIT, "the answer does not fit one GT/1 frame; ask for a smaller"
                                  " page_size").body(), True)
            out = seal(key.key, frame.suite, frame.terminal_id, frame.seq, frame.msg_type, reply.body,
                       response=True, error=True)
        self._audit(audit.AuditRecord(iso(self.clock.now()), peer, "out", frame.terminal_id, frame.seq,
                                      frame.msg_type, out, encode_body(reply.body).decode("utf-8")))
        return out

    @staticmethod
    def _guarded(fn: Any) -> Reply:
        try:
            return fn()
        except Exception:  # a station bug must not kill the connection loop; the txn stays unknown
            log.exception("request failed inside the station")
            return Reply(Refusal(ErrorCode.INTERNAL, "the station failed to process the request; ask TXN_STATUS"
                                 " later").body(), True)
