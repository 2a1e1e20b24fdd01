"""The terminal's StationClient against the reference station (hw_mocks.station), end to end:
over OS sockets and through the mock GPRS modem on a pty in both dialects.

Also: frames an attacker or a broken link could deliver — replayed, tampered, truncated,
oversized — change nothing in the station's ledger, and are kept in its audit trail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import random
import socket
from collections.abc import Iterator

import pytest

from hw_mocks.station import ledger
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from terminal_app.station import protocol as p
from terminal_app.station.client import Outcome, Request, StationClient
from terminal_app.station.messages import MsgType
from terminal_app.station.seq import FileSeqCounter
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import SHANGHAI, FixedClock
from tests.rigs.station import audit_rows, load_tiny, snapshot

TERMINALS = {
    p.Suite.TDES: TerminalKey("10000001", 1, bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")),
    p.Suite.AES_GCM: TerminalKey("10000002", 2, bytes.fromhex("00112233445566778899AABBCCDDEEFF")),
}


@pytest.fixture
def station(tmp_path) -> Iterator[tuple[StationServer, str]]:
    db = str(tmp_path / "station.sqlite")
    conn = ledger.connect(db)
    try:
        load_tiny(conn)
    finally:
        conn.close()
    # the tiny area's penalties are stated for 2026-11-24 (they grow by the day)
    station_clock = FixedClock(at=dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI))
    with StationServer(db, {t.id: t for t in TERMINALS.values()}, clock=station_clock) as server:
        yield server, db


class Recorder(SocketTransport):
    """SocketTransport that keeps what went out (to compare with the station's audit trail)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = bytearray()

    def send(self, data: bytes) -> None:
        super().send(data)
        self.sent += data


def make_client(suite: p.Suite, port: int, transport, tmp_path) -> StationClient:
    term = TERMINALS[suite]
    return StationClient(terminal_id=term.id, key=term.key, suite=suite, transport=transport,
                         seq=FileSeqCounter(tmp_path / f"seq-{term.id}"), host="127.0.0.1", port=port,
                         connect_timeout=10.0, response_timeout=10.0)


def core_requests(tid: str, n: int = 1) -> list[Request]:
    txn = f"{tid}-{n}"
    return [
        Request(MsgType.HELLO, {"op": "0007", "app": "0.1.0"}),
        Request(MsgType.BILL_QUERY, {"cust": "1001"}),
        Request(MsgType.PAYMENT, {"txn": txn, "cust": "1001", "amount": 5000, "method": "cash",
                                  "at": "2026-11-24T10:15:00+08:00"}),
        Request(MsgType.TXN_STATUS, {"txns": [txn]}),
    ]


def check_core_results(results, tid: str, n: int = 1) -> None:
    """Results of core_requests(tid, n): the n-th 5000-fen payment of customer 1001."""
    assert [r.outcome for r in results] == [Outcome.OK] * 4, [(r.outcome, r.code, r.msg, r.error) for r in results]
    hello, bill, pay, status = (r.body for r in results)
    assert "time" in hello and isinstance(hello.get("params"), dict)
    # customer 1001 of the tiny area owes 2026-09: 10000 + 300 penalty, 2026-10: 8000 + 112;
    # each earlier payment took 5000 of it
    assert bill["cust"] == "1001"
    assert sum(a["amount"] + a["penalty"] for a in bill["arrears"]) == 18412 - 5000 * (n - 1)
    # the oldest period's penalty first (300, on the first payment only), then its amount
    assert pay["txn"] == f"{tid}-{n}"
    assert pay["applied"] == [{"period": "2026-09", "amount": 5000, "penalty": 300 if n == 1 else 0}]
    assert status["status"] == {f"{tid}-{n}": "applied"}


def check_audit(db: str, tid: str, client_sent: bytes, results) -> None:
    rows = [r for r in audit_rows(db) if r[1] == tid]
    ins = [r for r in rows if r[0] == "in"]
    outs = [r for r in rows if r[0] == "out"]
    # raw frames: exactly the bytes the terminal sent, in order; decrypted bodies alongside
    assert b"".join(r[4] for r in ins) == client_sent
    for (_dir, _t, seq, msg_type, _raw, body, note), res in zip(ins, results, strict=True):
        assert (seq, msg_type, note) == (res.seq, int(res.request.msg_type), None)
        assert json.loads(body) == res.request.body
    for (_dir, _t, seq, _type, raw, body, _note), res in zip(outs, results, strict=True):
        assert seq == res.seq and json.loads(body) == res.body
        assert p.open_frame(TERMINALS[p.Suite(raw[3])].key, p.decode_frame(raw)) == res.body


@pytest.mark.parametrize("suite", [p.Suite.TDES, p.Suite.AES_GCM])
def test_core_messages_over_sockets(station, tmp_path, suite):
    server, db = station
    tid = TERMINALS[suite].id
    transport = Recorder()
    client = make_client(suite, server.port, transport, tmp_path)
    results = client.exchange(core_requests(tid))
    check_core_results(results, tid)
    assert (client.stats.connections, client.stats.round_trips) == (1, 1)
    check_audit(db, tid, bytes(transport.sent), results)


# --------------------------------------------------------------------------- through the mock modem

HAVE_MODEM = importlib.util.find_spec("hw_mocks.modem") is not None and \
    importlib.util.find_spec("hw_mocks.modem.device") is not None and \
    importlib.util.find_spec("drivers.modem.transport") is not None


class RecordingModemTransport:
    """Wraps the production ModemTransport, keeping the bytes it was asked to send."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.sent = bytearray()

    @property
    def bytes_sent(self) -> int:
        return self.inner.bytes_sent

    @property
    def bytes_received(self) -> int:
        return self.inner.bytes_received

    def open(self, host: str, port: int, timeout: float) -> None:
        self.inner.open(host, port, timeout)

    def send(self, data: bytes) -> None:
        self.inner.send(data)
        self.sent += data

    def recv(self, max_bytes: int, timeout: float) -> bytes:
        return self.inner.recv(max_bytes, timeout)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.skipif(not HAVE_MODEM, reason="the mock modem (hw_mocks.modem) is not built yet")
@pytest.mark.parametrize("dialect", ["sim800", "m26", "ec200"])
@pytest.mark.parametrize("suite", [p.Suite.TDES, p.Suite.AES_GCM])
def test_core_messages_through_the_mock_modem(station, tmp_path, dialect, suite):
    from drivers.modem.transport import ModemTransport
    from hw_mocks.modem.device import MockModem
    from terminal_app.config import ModemSettings

    server, db = station
    tid = TERMINALS[suite].id
    with MockModem(dialect=dialect, scenario="normal") as modem:
        transport = RecordingModemTransport(ModemTransport(ModemSettings(url=modem.path, dialect=dialect)))
        client = make_client(suite, server.port, transport, tmp_path)
        results = client.exchange(core_requests(tid))
        check_core_results(results, tid)
        # a second exchange on a new connection through the same modem (the context stays up)
        again = client.exchange(core_requests(tid, 2))
        check_core_results(again, tid, 2)
    assert (client.stats.connections, client.stats.round_trips) == (2, 2)
    assert server.connections == 2
    check_audit(db, tid, bytes(transport.sent), results + again)


# --------------------------------------------------------------------------- hostile frames


def _raw_exchange(port: int, data: bytes, half_close: bool = True) -> bytes:
    """Send raw bytes to the station and return everything it answers before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with contextlib.suppress(OSError):  # the station may reset us mid-send: that is the point
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        out = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                out += chunk
        return out


@pytest.fixture
def paid(station, tmp_path):
    """A station where terminal 10000002 made one payment; returns (server, db, payment frame raw)."""
    server, db = station
    suite = p.Suite.AES_GCM
    client = make_client(suite, server.port, Recorder(), tmp_path)
    check_core_results(client.exchange(core_requests(TERMINALS[suite].id)), TERMINALS[suite].id)
    pay_raw = next(r[4] for r in audit_rows(db) if r[0] == "in" and r[3] == MsgType.PAYMENT)
    return server, db, pay_raw, client


def test_replayed_frame_changes_nothing(paid):
    server, db, pay_raw, _client = paid
    before, audit_before = snapshot(db), len(audit_rows(db))
    answer = _raw_exchange(server.port, pay_raw)
    body = p.open_frame(TERMINALS[p.Suite.AES_GCM].key, p.decode_frame(answer))
    assert body["code"] == "E_REPLAY" and body["last_seq"] >= p.decode_frame(pay_raw).seq
    assert snapshot(db) == before
    assert len(audit_rows(db)) == audit_before + 2  # the replay and its answer are on the trail


def _fresh_payment(client: StationClient, n: int) -> bytes:
    term = TERMINALS[p.Suite.AES_GCM]
    (seq,) = client.seq.reserve(1)
    return p.seal(term.key, p.Suite.AES_GCM, term.id, seq, MsgType.PAYMENT,
                  {"txn": f"{term.id}-{n}", "cust": "1001", "amount": 100, "method": "cash",
                   "at": "2026-11-24T11:00:00+08:00"})


@pytest.mark.parametrize("index", [0, 4, 9, 16, 19, 22, 27, 33, -1])  # header (salt 18..25), body, tag
def test_tampered_frame_changes_nothing(paid, index):
    server, db, _raw, client = paid
    frame = bytearray(_fresh_payment(client, 2))
    frame[index] ^= 0x20
    before = snapshot(db)
    assert _raw_exchange(server.port, bytes(frame)) == b""  # never answered
    assert snapshot(db) == before
    last = audit_rows(db)[-1]
    assert last[0] == "in" and last[6] and last[6].startswith(("refused", "malformed"))


def test_truncated_frame_changes_nothing(paid):
    server, db, _raw, client = paid
    frame = _fresh_payment(client, 3)
    before = snapshot(db)
    assert _raw_exchange(server.port, frame[:-5]) == b""
    assert snapshot(db) == before
    last = audit_rows(db)[-1]
    assert last[4] == frame[:64] and "truncated" in last[6]  # the first 64 bytes of the cut frame
    # the same seq, whole, is still accepted afterwards: the cut frame consumed nothing
    answer = _raw_exchange(server.port, frame)
    assert p.open_frame(TERMINALS[p.Suite.AES_GCM].key, p.decode_frame(answer))["ok"] is True


@pytest.mark.parametrize("suite", [p.Suite.TDES, p.Suite.AES_GCM])
def test_oversized_frame_changes_nothing(paid, suite):
    server, db, _raw, _client = paid
    term = TERMINALS[suite]
    # a header announcing the largest N (65535: beyond any legal suite 01 body) followed by more
    # than a whole frame's worth of bytes: refused without the station reading it all
    header = bytes.fromhex("4754" "02") + bytes([suite, 0, 0]) + term.id.encode() + (999).to_bytes(4, "big") \
        + bytes(8) + int(MsgType.PAYMENT).to_bytes(2, "big") + (0xFFFF).to_bytes(2, "big")
    before = snapshot(db)
    assert _raw_exchange(server.port, header + bytes(p.MAX_FRAME + 1000), half_close=False) == b""
    assert snapshot(db) == before
    last = audit_rows(db)[-1]
    assert last[0] == "in" and last[6].startswith(("refused", "malformed"))
    assert len(last[4]) <= 64  # the trail keeps at most the first 64 bytes of what did not authenticate


def test_client_cannot_send_an_oversized_body(paid):
    server, db, _raw, client = paid
    before = snapshot(db)
    with pytest.raises(p.LocalProtocolError):
        # 200 kB of hex digits: deflate cannot bring it under the 64 KiB body limit
        client.exchange([Request(MsgType.READINGS_UPLOAD, {"txn": "10000002-9",
                                                           "blob": random.Random(1).randbytes(100_000).hex()})])
    assert snapshot(db) == before


def _modem_raw(modem_path: str, dialect: str, port: int, data: bytes) -> bytes:
    """Raw bytes to the station through the modem's TCP stack; everything it answers until it closes."""
    from drivers.modem.transport import ModemTransport
    from terminal_app.config import ModemSettings
    from terminal_app.errors import DeviceTimeoutError

    t = ModemTransport(ModemSettings(url=modem_path, dialect=dialect))
    out = b""
    try:
        t.open("127.0.0.1", port, 10.0)
        t.send(data)
        with contextlib.suppress(DeviceTimeoutError):
            while chunk := t.recv(4096, 3.0):
                out += chunk
                if p.HEADER_LEN <= len(out) and len(out) >= p.HEADER_LEN + int.from_bytes(out[28:30], "big") + 16:
                    break  # one whole suite 02 response
    finally:
        t.close()
    return out


@pytest.mark.skipif(not HAVE_MODEM, reason="the mock modem (hw_mocks.modem) is not built yet")
@pytest.mark.parametrize("dialect", ["sim800", "m26", "ec200"])
def test_hostile_frames_through_the_modem_change_nothing(paid, dialect):
    from hw_mocks.modem.device import MockModem

    server, db, pay_raw, client = paid
    key = TERMINALS[p.Suite.AES_GCM].key
    before = snapshot(db)
    with MockModem(dialect=dialect, scenario="normal") as modem:
        answer = _modem_raw(modem.path, dialect, server.port, pay_raw)  # replayed
        assert p.open_frame(key, p.decode_frame(answer))["code"] == "E_REPLAY"
        tampered = bytearray(_fresh_payment(client, 5))
        tampered[30] ^= 1
        assert _modem_raw(modem.path, dialect, server.port, bytes(tampered)) == b""  # closed unanswered
    assert snapshot(db) == before


@pytest.mark.skipif(not HAVE_MODEM, reason="the mock modem (hw_mocks.modem) is not built yet")
@pytest.mark.parametrize("dialect", ["sim800", "m26", "ec200"])
def test_reply_lost_is_unknown_then_resolved_by_txn_status(station, tmp_path, dialect):
    from drivers.modem.transport import ModemTransport
    from hw_mocks.modem.device import MockModem
    from terminal_app.config import ModemSettings

    server, db = station
    tid = TERMINALS[p.Suite.AES_GCM].id
    # the modem's first connection breaks after the request went out, before the reply
    with MockModem(dialect=dialect, scenario="closed_after_request") as modem:
        client = make_client(p.Suite.AES_GCM, server.port,
                             ModemTransport(ModemSettings(url=modem.path, dialect=dialect)), tmp_path)
        pay = core_requests(tid)[2]
        (r,) = client.exchange([pay])
        assert r.outcome is Outcome.UNKNOWN
        (s,) = client.exchange([Request(MsgType.TXN_STATUS, {"txns": [pay.body["txn"]]})])
    # the station did apply it: the terminal must record it as paid, never take the money twice
    assert s.outcome is Outcome.OK and s.body["status"] == {pay.body["txn"]: "applied"}
