"""The station client: short GT/1 exchanges over a Transport, every outcome classified.

One exchange = one short connection (station-protocol.md, "Transport"): open, write every
request frame (pipelined), read one response per request in order, verify each, close.
Each request ends in exactly one :class:`Outcome`:

* ``OK`` / ``REFUSED`` — a verified response from the station (REFUSED carries its code/msg);
* ``NOT_SENT`` — provably had no effect: the connection never opened, or the station answered
  ``E_REPLAY`` (which by contract has no other effect).  Safe to retry;
* ``UNKNOWN`` — written (perhaps partly) but no verified response: resolve with TXN_STATUS.

A response that fails verification (wrong terminal, not a response, wrong seq, bad MAC, bad
body) makes that request and every later one UNKNOWN, and the connection is dropped: once the
stream is out of step nothing after it can be trusted.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offline_queue.link import Outcome, Request, Result
from terminal_app.domain.ids import TerminalId
from terminal_app.errors import (
    BusinessRuleError,
    ConfigurationError,
    HandheldError,
    LinkBrokenError,
    LinkDownError,
    StorageError,
)
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import (
    MAX_BODY,
    Flags,
    FrameDecoder,
    GT1Error,
    SealedFrame,
    Suite,
    check_key,
    encode_body,
    open_frame,
    seal,
)
from terminal_app.station.refusals import refusal_text
from terminal_app.station.transport import SeqCounter, SocketTransport, Transport
from terminal_app.timeutil import Clock

log = logging.getLogger(__name__)

#: largest single read asked of the transport (the decoder bounds each frame anyway)
RECV_CHUNK = 4096
_MAX_SEQ = 0xFFFFFFFF


class NotSentError(LinkDownError):
    """The request certainly had no effect at the station: safe to retry."""


class OutcomeUnknownError(LinkBrokenError):
    """The request may or may not have taken effect: resolve with TXN_STATUS before retrying."""

    default_action = "The result is unknown; it will be checked with the station before anything is repeated."


class StationRefusedError(BusinessRuleError):
    """The station answered with an error body."""

    def __init__(self, code: str, msg: str, body: Mapping[str, Any]) -> None:
        self.code = code
        self.msg = msg
        self.body = dict(body)
        what, action = refusal_text(code)  # code and the station's English msg: in str() (the log) only
        super().__init__(what, action, code=code[:24], msg=msg[:200])


@dataclass
class ClientStats:
    """Cumulative counters (the benchmark and ``diag link`` report them)."""

    connections: int = 0  # connections opened
    round_trips: int = 0  # times the client waited for the station after writing (one per exchange)
    bytes_sent: int = 0
    bytes_received: int = 0
    frames_sent: int = 0
    frames_received: int = 0


class _Desync(Exception):
    """Internal: a response failed verification; carries the typed error for the results."""

    def __init__(self, error: HandheldError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Pending:
    index: int
    request: Request
    seq: int
    frame: bytes


class StationClient:
    """Talks GT/1 to the master station over a :class:`Transport` (synchronous, bounded)."""

    def __init__(self, *, terminal_id: str, key: bytes, suite: Suite, transport: Transport,
                 seq: SeqCounter, host: str, port: int, connect_timeout: float = 30.0,
                 response_timeout: float = 60.0, clock: Clock | None = None,
                 max_body: int = MAX_BODY, retry_replayed: bool = True) -> None:
        check_key(key, suite)  # ConfigurationError for a bad suite or an unusable key
        self.suite = Suite(suite)
        self.terminal_id = TerminalId(terminal_id)
        self._key = bytes(key)
        self.transport = transport
        self.seq = seq
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self.clock = clock if clock is not None else Clock()
        self.max_body = max_body
        self.retry_replayed = retry_replayed
        self.stats = ClientStats()
        #: seconds from the first byte written to the last response read, last exchange
        self.last_round_trip: float | None = None

    def __repr__(self) -> str:  # never show the key
        return f"StationClient(terminal_id={self.terminal_id!r}, suite={self.suite.name}, {self.host}:{self.port})"

    # ------------------------------------------------------------------ public API

    def exchange(self, requests: Sequence[Request]) -> list[Result]:
        """Send ``requests`` over one connection (pipelined) and classify each one.

        Never raises for link or peer failures.  Raises LocalProtocolError (a body GT/1 cannot
        carry) before anything is reserved or sent, and StorageError when the seq counter
        cannot be made durable.
        """
        if not requests:
            return []
        for r in requests:
            encode_body(r.body)  # refuse unsendable bodies before burning seqs or opening a link
        results = self._exchange_once(list(requests))
        if self.retry_replayed:
            again = [i for i, res in enumerate(results) if res.code == "E_REPLAY"]
            if again:
                # the counter was moved past the station's last_seq: one more try, new connection
                try:
                    retried = self._exchange_once([requests[i] for i in again])
                except StorageError as e:  # keep what the first connection established
                    log.warning("no retry after E_REPLAY: %s", e)
                else:
                    for i, res in zip(again, retried, strict=True):
                        results[i] = res
        return results

    def call(self, request: Request) -> dict[str, Any]:
        """One request; returns the OK body, or raises NotSentError / OutcomeUnknownError /
        StationRefusedError."""
        result = self.exchange([request])[0]
        return result_body(result)

    def hello(self, operator: str, app_version: str) -> dict[str, Any]:
        """HELLO; sets the clock's offset from the station's ``time``."""
        body = self.call(Request(MsgType.HELLO, {"op": operator, "app": app_version}))
        station_time = _parse_time(body.get("time"))
        # the station stamped its time somewhere in the round trip: take the midpoint (NTP-style)
        half = dt.timedelta(seconds=(self.last_round_trip or 0.0) / 2)
        self.clock.set_station_time(station_time + half)
        return body

    # ------------------------------------------------------------------ one connection

    def _exchange_once(self, requests: list[Request]) -> list[Result]:
        seqs = self.seq.reserve(len(requests))  # durable before anything is sealed or sent
        pending = [
            _Pending(i, r, s, seal(self._key, self.suite, self.terminal_id, s, int(r.msg_type), r.body))
            for i, (r, s) in enumerate(zip(requests, seqs, strict=True))
        ]
        results: list[Result | None] = [None] * len(requests)
        sent0, recv0 = self.transport.bytes_sent, self.transport.bytes_received
        try:
            try:
                self.transport.open(self.host, self.port, self.connect_timeout)
            except (HandheldError, OSError) as e:  # whatever failed, the connection never opened
                err = e if isinstance(e, LinkDownError) else NotSentError(
                    "Cannot connect to the master station ({error}).", error=e)
                return [Result(p.request, Outcome.NOT_SENT, error=err, seq=p.seq) for p in pending]
            self.stats.connections += 1
            self._run(pending, results)
        finally:
            try:
                self.transport.close()
            except (HandheldError, OSError) as e:  # closing must not hide the results we already have
                log.warning("closing the station link failed: %s", e)
            self.stats.bytes_sent += self.transport.bytes_sent - sent0
            self.stats.bytes_received += self.transport.bytes_received - recv0
        return [r for r in results if r is not None]

    def _run(self, pending: list[_Pending], results: list[Result | None]) -> None:
        start = self.clock.monotonic()
        try:
            # pipelining: every frame goes out in one write, then responses are read in order
            self.transport.send(b"".join(p.frame for p in pending))
        except (HandheldError, OSError) as e:
            err = OutcomeUnknownError("The connection broke while sending to the master station ({error}).",
                                      error=e)
            for p in pending:
                results[p.index] = Result(p.request, Outcome.UNKNOWN, error=err, seq=p.seq)
            return
        self.stats.frames_sent += len(pending)
        self.stats.round_trips += 1
        decoder = FrameDecoder(self.max_body)
        ready: list[SealedFrame] = []
        for n, p in enumerate(pending):
            try:
                frame = self._next_frame(decoder, ready)
                self.stats.frames_received += 1
                results[p.index] = self._verify(p, frame)
            except _Desync as d:
                log.warning("station exchange out of step at seq %d: %s", p.seq, d.error)
                for q in pending[n:]:
                    results[q.index] = Result(q.request, Outcome.UNKNOWN, error=d.error, seq=q.seq)
                return
            except Exception as e:  # a bug here must not lose the results already established
                log.exception("station exchange failed at seq %d", p.seq)
                err = OutcomeUnknownError("The exchange failed unexpectedly ({error}).", error=type(e).__name__)
                for q in pending[n:]:
                    results[q.index] = Result(q.request, Outcome.UNKNOWN, error=err, seq=q.seq)
                return
        self.last_round_trip = self.clock.monotonic() - start

    def _next_frame(self, decoder: FrameDecoder, ready: list[SealedFrame]) -> SealedFrame:
        deadline = self.clock.monotonic() + self.response_timeout
        while not ready:
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                raise _Desync(OutcomeUnknownError(
                    "The master station did not answer within {timeout:.0f} s.", timeout=self.response_timeout))
            try:
                # bounded: never more than the frame in progress can still hold
                data = self.transport.recv(min(RECV_CHUNK, decoder.needed()), remaining)
            except (HandheldError, OSError) as e:  # DeviceTimeoutError, LinkBrokenError
                raise _Desync(OutcomeUnknownError(
                    "No answer from the master station ({error}).", error=e)) from e
            try:
                if not data:
                    decoder.eof()
                    raise _Desync(OutcomeUnknownError(
                        "The master station closed the connection before answering."))
                ready.extend(decoder.feed(data))
            except GT1Error as e:
                raise _Desync(OutcomeUnknownError(
                    "The master station's answer is malformed ({error}).", error=e)) from e
        return ready.pop(0)

    def _verify(self, p: _Pending, frame: SealedFrame) -> Result:
        def bad(problem: str) -> _Desync:
            return _Desync(OutcomeUnknownError(
                "The master station's answer to seq {seq} is invalid: {problem}.", seq=p.seq, problem=problem))

        if frame.terminal_id != self.terminal_id:
            raise bad(f"it names terminal {frame.terminal_id}")
        if not frame.flags & Flags.RESPONSE:
            raise bad("it is not flagged as a response")
        if frame.seq != p.seq:
            raise bad(f"it echoes seq {frame.seq}")
        if frame.suite is not self.suite:
            raise bad(f"it uses suite {int(frame.suite)}")
        try:
            body = open_frame(self._key, frame)
        except GT1Error as e:
            raise _Desync(OutcomeUnknownError(
                "The master station's answer to seq {seq} does not verify ({error}).",
                seq=p.seq, error=e)) from e
        if not frame.flags & Flags.ERROR:
            if body.get("ok") is not True:
                raise bad('its body lacks "ok": true')
            return Result(p.request, Outcome.OK, body=body, seq=p.seq)
        code, msg = body.get("code"), body.get("msg", "")
        if body.get("ok") is not False or not isinstance(code, str) or not isinstance(msg, str):
            raise bad('an error response lacks "ok": false with a code and msg')
        if code == "E_REPLAY":
            last = body.get("last_seq")
            if isinstance(last, bool) or not isinstance(last, int) or not 0 <= last <= _MAX_SEQ:
                raise bad("E_REPLAY without a valid last_seq")
            try:
                self.seq.move_past(last)
            except HandheldError as e:  # StorageError: still no effect at the station
                log.warning("cannot move the seq counter past %d: %s", last, e)
            return Result(p.request, Outcome.NOT_SENT, body=body, code=code, msg=msg, seq=p.seq,
                          error=NotSentError("The master station refused message {seq} as a replay "
                                             "(its last is {last}).", seq=p.seq, last=last))
        return Result(p.request, Outcome.REFUSED, body=body, code=code, msg=msg, seq=p.seq)


def result_body(result: Result) -> dict[str, Any]:
    """The OK body of a result, or the typed error its outcome stands for."""
    if result.outcome is Outcome.OK:
        assert result.body is not None
        return result.body
    if result.outcome is Outcome.REFUSED:
        raise StationRefusedError(result.code or "", result.msg or "", result.body or {})
    if result.outcome is Outcome.NOT_SENT:
        if isinstance(result.error, NotSentError):
            raise result.error
        raise NotSentError("Nothing reached the master station ({error}).", error=result.error) \
            from result.error
    if isinstance(result.error, OutcomeUnknownError):
        raise result.error
    raise OutcomeUnknownError("The outcome at the master station is unknown ({error}).",
                              error=result.error) from result.error


def _parse_time(value: Any) -> dt.datetime:
    if isinstance(value, str) and len(value) <= 40:
        try:
            t = dt.datetime.fromisoformat(value)
        except ValueError:
            t = None
        if t is not None and t.tzinfo is not None:
            return t
    raise GT1Error("The master station's HELLO time {value!r} is not an ISO 8601 time with offset.",
                   value=str(value)[:40])


def client_from_settings(settings: Any, transport: Transport | None = None,
                         clock: Clock | None = None) -> StationClient:
    """A StationClient built from :class:`terminal_app.config.Settings`.

    ``[link] transport = "socket"`` uses the OS network stack; ``"modem"`` the GPRS modem's own
    TCP stack (drivers.modem, imported only then).
    """
    from terminal_app.config import read_key_file
    from terminal_app.station.seq import FileSeqCounter

    key = read_key_file(settings.station.key_file)
    if transport is None:
        transport = _transport_from_settings(settings)
    return StationClient(
        terminal_id=settings.terminal.id, key=key, suite=Suite(settings.station.suite), transport=transport,
        seq=FileSeqCounter(settings.station.seq_file), host=settings.station.host, port=settings.station.port,
        connect_timeout=settings.station.connect_timeout_s, response_timeout=settings.station.response_timeout_s,
        clock=clock)


def _transport_from_settings(settings: Any) -> Transport:
    if settings.link.transport == "socket":
        return SocketTransport()
    try:
        from drivers.modem.transport import ModemTransport
    except ImportError as e:
        raise ConfigurationError("The modem link is not available in this build ({error}).",
                                 'Set [link] transport = "socket".', error=e) from e
    return ModemTransport(settings.devices.modem)


__all__ = [
    "ClientStats", "NotSentError", "Outcome", "OutcomeUnknownError", "Request", "Result",
    "StationClient", "StationRefusedError", "client_from_settings", "result_body",
]
