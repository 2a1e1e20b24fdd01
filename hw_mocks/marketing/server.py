"""The marketing-system stand-in's TCP server: short connections, one answer per request.

``with MarketingServer(db) as m: m.port`` runs it in a background thread (tests, the
simulator); ``handheld-mocks marketing`` runs it in its own process.  A connection that sends
bytes that are not this interface's records is logged and closed; one idle for ``idle_timeout``
is closed.  Faults come from :class:`~hw_mocks.marketing.scenario.Scenario` (replaceable while
it runs: ``m.scenario = …``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable

from hw_mocks.marketing import protocol as p
from hw_mocks.marketing.scenario import Scenario
from hw_mocks.marketing.store import Marketing, connect
from terminal_app.errors import ConfigurationError, DeviceError
from terminal_app.timeutil import Clock

log = logging.getLogger(__name__)


class MarketingServer:
    def __init__(self, db_path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0,
                 clock: Clock | None = None, scenario: Scenario | None = None, idle_timeout: float = 30.0,
                 on_ready: Callable[[int], None] | None = None) -> None:
        self.db_path = os.fspath(db_path)
        self.host = host
        self._port = port
        self.clock = clock or Clock()
        self.scenario = scenario or Scenario()
        self.idle_timeout = idle_timeout
        self.on_ready = on_ready
        self.requests = 0  # requests handled (tests read it)
        self.lost_answers = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        return f"{self.host}:{self._port}"

    def start(self, timeout: float = 10.0) -> MarketingServer:
        self._thread = threading.Thread(target=self._run_thread, name="marketing", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise DeviceError("The marketing stand-in did not start within {t} s.", t=timeout)
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> MarketingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_thread(self) -> None:
        try:
            asyncio.run(self.serve())
        except BaseException as e:
            self._error = e
            self._ready.set()

    def serve_forever(self) -> None:
        asyncio.run(self.serve())

    async def serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        conn = connect(self.db_path)
        self.books = Marketing(conn, self.clock, closed_days=lambda: self.scenario.closed_days)
        try:
            try:
                server = await asyncio.start_server(self._client, self.host, self._port, reuse_address=True)
            except OSError as e:
                raise ConfigurationError("The marketing stand-in cannot listen on {host}:{port} ({error}).",
                                         "Choose another --port.", host=self.host, port=self._port,
                                         error=e.strerror or type(e).__name__) from e
            self._port = server.sockets[0].getsockname()[1]
            self._ready.set()
            if self.on_ready is not None:
                self.on_ready(self._port)
            try:
                await self._stopping.wait()
            finally:
                server.close()
        finally:
            conn.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else "?"
        dec = p.Decoder()
        try:
            while True:
                data = await asyncio.wait_for(reader.read(65536), self.idle_timeout)
                if not data:
                    return
                for msg in dec.feed(data):
                    if msg.kind is not p.Kind.REQUEST:
                        raise p.MarketingProtocolError("an answer sent to the marketing system")
                    if not await self._one(msg, peer, writer):
                        return
        except (p.MarketingProtocolError, TimeoutError, ConnectionError) as e:
            log.info("marketing: closed %s: %s", peer, e)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, msg: p.Message, peer: str, writer: asyncio.StreamWriter) -> bool:
        """Handle one request; False when the connection is to be closed (a fault)."""
        books = self.books
        fault = self.scenario.fault_for(msg.trade.value)
        books.log(peer, "in", msg.raw)
        if fault is not None and fault.action == "drop":
            log.warning("marketing scenario: dropped %s serial %s before doing it", msg.trade.value, msg.serial)
            return False
        if fault is not None and fault.action == "delay":
            await asyncio.sleep(fault.seconds)  # the scenario's slow answer, not a synchronisation
        ans = books.handle(msg)
        self.requests += 1
        try:
            out = p.encode(ans)
        except p.MarketingEncodeError:  # a bug of the stand-in: say so rather than leave the station waiting
            log.exception("marketing: the answer to serial %s cannot be encoded", msg.serial)
            out = p.encode(books._refuse(msg, p.Rc.INTERNAL, self.clock.now(), "internal error"))
        books.log(peer, "out", out)
        if fault is not None and fault.action == "lose_answer":
            self.lost_answers += 1
            log.warning("marketing scenario: %s serial %s done, its answer lost", msg.trade.value, msg.serial)
            return False
        writer.write(out)
        await writer.drain()
        return True
