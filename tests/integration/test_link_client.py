"""StationClient over real TCP sockets against a tiny in-test station built from the codec.

The peer is deliberately minimal (one connection at a time, a handler per frame); the reference
station in hw_mocks is exercised in test_link_e2e.py.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Callable

import pytest

from terminal_app.errors import LocalProtocolError
from terminal_app.station import protocol as p
from terminal_app.station.client import (
    NotSentError,
    Outcome,
    OutcomeUnknownError,
    Request,
    StationClient,
    StationRefusedError,
)
from terminal_app.station.messages import MsgType
from terminal_app.station.seq import FileSeqCounter
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import SHANGHAI, Clock
from tests.util import free_port

KEY = bytes.fromhex("A1B2C3D4E5F60718293A4B5C6D7E8F90")
TID = "27182818"

#: handler(frame, body, station) -> bytes to send, or None to hang up, or STALL to say nothing
STALL = b""
Handler = Callable[[p.SealedFrame, dict, "TinyStation"], bytes | None]


def ok(frame: p.SealedFrame, body: dict, **extra) -> bytes:
    return p.seal(KEY, frame.suite, frame.terminal_id, frame.seq, frame.msg_type,
                  {"ok": True, "echo": body, **extra}, response=True)


def refuse(frame: p.SealedFrame, code: str, msg: str, **extra) -> bytes:
    return p.seal(KEY, frame.suite, frame.terminal_id, frame.seq, frame.msg_type,
                  {"ok": False, "code": code, "msg": msg, **extra}, response=True, error=True)


class TinyStation:
    """A TCP peer speaking GT/1 through the codec; runs in one thread, context manager."""

    def __init__(self, handler: Handler, batch: int = 1, dribble: bool = False) -> None:
        self.handler = handler
        self.batch = batch  # answer only once this many frames arrived (proves pipelining)
        self.dribble = dribble  # send answers one byte per TCP segment (reassembly)
        self.received: list[tuple[p.SealedFrame, dict]] = []
        self.connections = 0
        self.last_seq = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tiny-station", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> TinyStation:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._server.accept()
                except TimeoutError:
                    continue
                with conn:
                    self.connections += 1
                    self._serve(conn)
        except BaseException as e:  # surfaced in __exit__
            self.error = e

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        dec = p.FrameDecoder()
        queue: list[tuple[p.SealedFrame, dict]] = []
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            for f in dec.feed(data):
                body = p.open_frame(KEY, f)
                self.received.append((f, body))
                queue.append((f, body))
            if len(queue) < self.batch:
                continue
            out = b""
            for f, body in queue:
                reply = self.handler(f, body, self)
                if reply is None:
                    conn.sendall(out)
                    return  # hang up
                out += reply
            queue.clear()
            if out and self.dribble:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for i in range(len(out)):
                    conn.sendall(out[i:i + 1])
            elif out:
                conn.sendall(out)


@pytest.fixture
def counter(tmp_path):
    return FileSeqCounter(tmp_path / "seq")


def make_client(port: int, counter, *, suite=p.Suite.AES_GCM, clock=None, response_timeout=3.0,
                **kw) -> StationClient:
    return StationClient(terminal_id=TID, key=KEY, suite=suite, transport=SocketTransport(), seq=counter,
                         host="127.0.0.1", port=port, connect_timeout=2.0, response_timeout=response_timeout,
                         clock=clock, **kw)


def payment(n: int) -> Request:
    return Request(MsgType.PAYMENT, {"txn": f"{TID}-{n}", "cust": "0100200300", "amount": 100 * n,
                                     "method": "cash", "at": "2026-11-24T10:15:00+08:00"})


@pytest.mark.parametrize("suite", [p.Suite.TDES, p.Suite.AES_GCM])
def test_pipelined_exchange_in_order_on_one_connection(counter, suite):
    reqs = [payment(n) for n in range(1, 6)]
    # the station answers only after all five frames arrived: a client that waited for each
    # response before sending the next would time out here
    with TinyStation(lambda f, b, s: ok(f, b), batch=5) as station:
        client = make_client(station.port, counter, suite=suite)
        results = client.exchange(reqs)
    assert [r.outcome for r in results] == [Outcome.OK] * 5
    assert [r.body["echo"]["txn"] for r in results] == [r.body["txn"] for r in reqs]
    assert [f.seq for f, _ in station.received] == [1, 2, 3, 4, 5] == [r.seq for r in results]
    assert station.connections == 1
    assert (client.stats.connections, client.stats.round_trips, client.stats.frames_sent) == (1, 1, 5)
    assert client.stats.bytes_sent == sum(len(f.raw) for f, _ in station.received)
    assert client.stats.bytes_received > 0 and client.last_round_trip is not None


def test_connect_refused_is_not_sent(counter):
    client = make_client(free_port(), counter)
    results = client.exchange([payment(1), payment(2)])
    assert [r.outcome for r in results] == [Outcome.NOT_SENT] * 2
    assert all(r.error is not None for r in results)
    with pytest.raises(NotSentError):
        client.call(payment(3))
    assert client.stats.connections == 0 and client.stats.bytes_sent == 0


def test_hang_up_after_the_request_is_unknown(counter):
    with TinyStation(lambda f, b, s: None) as station:
        client = make_client(station.port, counter)
        results = client.exchange([payment(1), payment(2)])
        assert [r.outcome for r in results] == [Outcome.UNKNOWN] * 2
        with pytest.raises(OutcomeUnknownError, match="closed"):
            client.call(payment(3))
    assert len(station.received) == 3


def test_response_timeout_is_unknown(counter):
    with TinyStation(lambda f, b, s: STALL) as station:
        client = make_client(station.port, counter, response_timeout=0.3)
        clock = Clock()
        t0 = clock.monotonic()
        with pytest.raises(OutcomeUnknownError):
            client.call(payment(1))
        assert clock.monotonic() - t0 > 0.25  # gave the station its whole response timeout


def test_station_error_is_refused_with_code_and_msg(counter):
    def handler(f, b, s):
        return refuse(f, "E_LIMIT", "超过限额") if b["amount"] > 150 else ok(f, b, receipt="R1")

    with TinyStation(handler) as station:
        client = make_client(station.port, counter)
        r1, r2, r3 = client.exchange([payment(1), payment(2), payment(1)])
        assert (r1.outcome, r2.outcome, r3.outcome) == (Outcome.OK, Outcome.REFUSED, Outcome.OK)
        assert (r2.code, r2.msg) == ("E_LIMIT", "超过限额")
        with pytest.raises(StationRefusedError) as ei:
            client.call(payment(5))
    assert ei.value.code == "E_LIMIT" and ei.value.body["ok"] is False


def replaying(f, b, s):
    if f.seq <= s.last_seq:
        return refuse(f, "E_REPLAY", "seq not greater", last_seq=s.last_seq)
    s.last_seq = f.seq
    return ok(f, b)


def test_replay_moves_the_counter_and_retries_once(counter):
    with TinyStation(replaying) as station:
        station.last_seq = 100  # e.g. the terminal was re-provisioned and lost its counter
        client = make_client(station.port, counter)
        r1, r2 = client.exchange([payment(1), payment(2)])
        assert (r1.outcome, r2.outcome) == (Outcome.OK, Outcome.OK)
        assert (r1.seq, r2.seq) == (101, 102)
        assert station.connections == 2  # the retry needed a new connection
        assert [f.seq for f, _ in station.received] == [1, 2, 101, 102]
        assert counter.current() == 102


def test_replay_without_retry_is_not_sent(counter):
    with TinyStation(replaying) as station:
        station.last_seq = 50
        client = make_client(station.port, counter, retry_replayed=False)
        (r,) = client.exchange([payment(1)])
        assert r.outcome is Outcome.NOT_SENT and r.code == "E_REPLAY" and isinstance(r.error, NotSentError)
        assert counter.current() == 50
        # the caller's own retry goes out with a fresh seq past the station's and is accepted
        assert client.call(payment(1))["ok"] is True
        assert station.received[-1][0].seq == 51


def test_replay_twice_stays_not_sent(counter):
    def always(f, b, s):
        return refuse(f, "E_REPLAY", "seq not greater", last_seq=f.seq + 1000)

    with TinyStation(always) as station:
        client = make_client(station.port, counter)
        with pytest.raises(NotSentError, match="replay"):
            client.call(payment(1))
        assert station.connections == 2  # one retry, not a loop
        assert counter.current() == station.received[-1][0].seq + 1000


def _bad(kind: str):
    def handler(f, b, s):
        if b["amount"] != 200:  # only the second request's answer is broken
            return ok(f, b)
        if kind == "seq":
            return p.seal(KEY, f.suite, f.terminal_id, f.seq + 1, f.msg_type, {"ok": True}, response=True)
        if kind == "terminal":
            return p.seal(KEY, f.suite, "99999999", f.seq, f.msg_type, {"ok": True}, response=True)
        if kind == "not_response":
            return p.seal(KEY, f.suite, f.terminal_id, f.seq, f.msg_type, {"ok": True})
        if kind == "mac":
            raw = bytearray(ok(f, b))
            raw[-1] ^= 1
            return bytes(raw)
        if kind == "ok_missing":
            return p.seal(KEY, f.suite, f.terminal_id, f.seq, f.msg_type, {"receipt": "x"}, response=True)
        if kind == "suite":  # correctly sealed, but not in the terminal's suite
            other = p.Suite.TDES if f.suite is p.Suite.AES_GCM else p.Suite.AES_GCM
            return p.seal(KEY, other, f.terminal_id, f.seq, f.msg_type, {"ok": True}, response=True)
        if kind == "error_flag_ok_true":
            return p.seal(KEY, f.suite, f.terminal_id, f.seq, f.msg_type, {"ok": True}, response=True, error=True)
        if kind == "garbage":
            return b"HTTP/1.1 400 Bad Request\r\n\r\n"
        raise AssertionError(kind)
    return handler


@pytest.mark.parametrize("kind", ["seq", "terminal", "not_response", "mac", "ok_missing", "suite",
                                  "error_flag_ok_true", "garbage"])
def test_failed_verification_makes_it_and_the_rest_unknown(counter, kind):
    with TinyStation(_bad(kind), batch=3) as station:
        client = make_client(station.port, counter)
        results = client.exchange([payment(1), payment(2), payment(3)])
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.UNKNOWN, Outcome.UNKNOWN]
    assert isinstance(results[1].error, OutcomeUnknownError)


def test_oversized_response_is_refused_from_its_header(counter):
    def huge(f, b, s):  # a header announcing 60000 body bytes, then silence
        return p.build_header(f.suite, p.Flags.RESPONSE, f.terminal_id, f.seq, p.new_salt(), f.msg_type, 60000)

    with TinyStation(huge) as station:
        client = make_client(station.port, counter, max_body=4096, response_timeout=5.0)
        (r,) = client.exchange([payment(1)])
        # refused from the header ("announces"), not after waiting for the body (a timeout)
        assert r.outcome is Outcome.UNKNOWN and "announces" in str(r.error)


def test_hello_sets_the_clock_offset(counter):
    ahead = dt.datetime.now(SHANGHAI) + dt.timedelta(hours=1)

    def hello(f, b, s):
        assert f.msg_type == MsgType.HELLO and b == {"op": "0042", "app": "0.1.0"}
        return ok(f, b, time=ahead.replace(microsecond=0).isoformat(), params={})

    with TinyStation(hello) as station:
        clock = Clock()
        client = make_client(station.port, counter, clock=clock)
        body = client.hello("0042", "0.1.0")
    assert body["ok"] is True
    assert abs(clock.offset - dt.timedelta(hours=1)) < dt.timedelta(seconds=3)


def test_unsendable_body_fails_before_anything_happens(counter):
    with TinyStation(lambda f, b, s: ok(f, b)) as station:
        client = make_client(station.port, counter)
        with pytest.raises(LocalProtocolError):
            client.exchange([payment(1), Request(MsgType.PAYMENT, {"amount": 1.5})])
    assert station.connections == 0 and counter.current() == 0


def test_reads_are_bounded(counter):
    asked: list[int] = []

    class Spy(SocketTransport):
        def recv(self, max_bytes: int, timeout: float) -> bytes:
            asked.append(max_bytes)
            return super().recv(max_bytes, timeout)

    with TinyStation(lambda f, b, s: ok(f, b, pad="x" * 9000), batch=2) as station:
        client = StationClient(terminal_id=TID, key=KEY, suite=p.Suite.AES_GCM, transport=Spy(), seq=counter,
                               host="127.0.0.1", port=station.port, response_timeout=3.0)
        results = client.exchange([payment(1), payment(2)])
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK]
    assert max(asked) <= 4096


def test_counter_failure_during_the_replay_retry_keeps_established_results(counter):
    from terminal_app.errors import StorageError

    class DiskFull(FileSeqCounter):
        calls = 0

        def reserve(self, n: int = 1) -> range:
            DiskFull.calls += 1
            if DiskFull.calls > 1:
                raise StorageError("The message counter file cannot be written.")
            return super().reserve(n)

    with TinyStation(replaying, batch=2) as station:
        station.last_seq = 1  # seq 1 is a replay, seq 2 is accepted
        client = make_client(station.port, DiskFull(counter.path))
        r1, r2 = client.exchange([payment(1), payment(2)])
    assert (r1.outcome, r1.code) == (Outcome.NOT_SENT, "E_REPLAY")
    assert r2.outcome is Outcome.OK and r2.body["echo"]["txn"] == f"{TID}-2"  # not lost
    assert station.connections == 1


def test_socket_transport_zero_timeout_is_a_timeout_not_a_broken_link():
    from terminal_app.errors import DeviceTimeoutError

    with TinyStation(lambda f, b, s: STALL) as station, SocketTransport() as t:
        t.open("127.0.0.1", station.port, 2.0)
        with pytest.raises(DeviceTimeoutError):
            t.recv(10, 0.0)
        t.send(b"G")  # after a tiny recv timeout, sends still get the open timeout
        assert t.bytes_sent == 1


def test_responses_arriving_byte_by_byte_are_reassembled(counter):
    with TinyStation(lambda f, b, s: ok(f, b, note="分" * 50), batch=3, dribble=True) as station:
        client = make_client(station.port, counter, suite=p.Suite.TDES)
        results = client.exchange([payment(1), payment(2), payment(3)])
    assert [r.outcome for r in results] == [Outcome.OK] * 3
    assert [r.body["echo"]["amount"] for r in results] == [100, 200, 300]
    assert client.stats.frames_received == 3
