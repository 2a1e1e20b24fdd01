"""The reference station over TCP: a client built on B1's GT/1 codec and client, both suites,
pipelining, and the refusals of the contract — garbage, oversize, truncated, tampered, unknown
terminal, wrong suite, replay — each audited and none changing the ledger."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
from contextlib import closing, contextmanager

import pytest

from hw_mocks.station import audit, ledger
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from terminal_app.station.client import Outcome, Request, StationClient
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import HEADER_LEN, Suite, decode_frame, open_frame, seal
from terminal_app.station.seq import FileSeqCounter
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import SHANGHAI, FixedClock, iso
from tests.rigs.station import audit_rows, load_tiny, rows, snapshot

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
K1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
K2 = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
TERMINALS = {"00000001": TerminalKey("00000001", 2, K1), "00000002": TerminalKey("00000002", 1, K2)}


@pytest.fixture
def db(ledger_target):  # the whole module on SQLite and on PostgreSQL (issue 21)
    with closing(ledger.connect(ledger_target)) as conn:
        load_tiny(conn)
    return ledger_target


@pytest.fixture
def station(db):
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), idle_timeout=5.0) as st:
        yield st


def client(station, tmp_path, tid="00000001"):
    t = TERMINALS[tid]
    return StationClient(terminal_id=tid, key=t.key, suite=Suite(t.suite), transport=SocketTransport(),
                         seq=FileSeqCounter(tmp_path / f"seq-{tid}"), host="127.0.0.1", port=station.port,
                         connect_timeout=5, response_timeout=5, clock=FixedClock(at=NOW))


@contextmanager
def raw_connection(station):
    with socket.create_connection(("127.0.0.1", station.port), timeout=5) as s:
        yield s


def read_all(s: socket.socket) -> bytes:
    """Everything the station sends until it closes (bounded by the socket timeout)."""
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return out
        out += chunk


@pytest.mark.parametrize("tid", ["00000001", "00000002"])  # suite 2 (AES-GCM) and suite 1 (3DES)
def test_core_messages_end_to_end(station, tmp_path, db, tid):
    c = client(station, tmp_path, tid)
    hello = c.hello("op7", "0.1.0")
    assert hello["time"] == iso(NOW) and hello["params"]["business_day"] == "2026-11-24"
    bill = c.call(Request(MsgType.BILL_QUERY, {"cust": "1001"}))
    assert [a["period"] for a in bill["arrears"]] == ["2026-09", "2026-10"] and bill["name"] == "王秀英"
    pay = {"txn": f"{tid}-1", "cust": "1001", "amount": 10300, "method": "cash", "at": iso(NOW)}
    paid = c.call(Request(MsgType.PAYMENT, pay))
    assert paid["applied"] == [{"period": "2026-09", "amount": 10300, "penalty": 300}]
    again = c.call(Request(MsgType.PAYMENT, pay))  # a resend after an unknown outcome
    assert again == paid
    rev = c.call(Request(MsgType.REVERSAL, {"txn": f"{tid}-2", "orig": f"{tid}-1", "reason": "wrong", "at": iso(NOW)}))
    assert rev["orig"] == f"{tid}-1" and rev["arrears"] == 18412
    pay3 = {**pay, "txn": f"{tid}-3", "amount": 500}
    c.call(Request(MsgType.PAYMENT, pay3))
    st = c.call(Request(MsgType.TXN_STATUS, {"txns": [f"{tid}-1", f"{tid}-2", f"{tid}-3", f"{tid}-4"]}))
    assert st["status"] == {f"{tid}-1": "applied", f"{tid}-2": "applied", f"{tid}-3": "applied",
                            f"{tid}-4": "unknown"}
    rec = c.call(Request(MsgType.RECONCILE, {"day": "2026-11-24", "count": 1, "amount": 500, "txns": [f"{tid}-3"]}))
    assert rec["match"] is True
    route = c.call(Request(MsgType.ROUTE_DOWNLOAD, {"segment": "S2", "page": 1, "page_size": 100, "op": "0007"}))
    assert route["total"] == 23 and len(route["items"]) == 23  # large enough to travel deflated
    # the audit trail holds every frame both ways, raw and decrypted, and its chain holds
    rows = audit_rows(db)
    assert len(rows) == 2 * 9 and [r[0] for r in rows] == ["in", "out"] * 9
    assert all(r[1] == tid for r in rows)
    pay_in = rows[4]
    assert json.loads(pay_in[5]) == pay and pay_in[3] == MsgType.PAYMENT
    assert open_frame(TERMINALS[tid].key, decode_frame(bytes(pay_in[4]))) == pay
    assert json.loads(rows[5][5]) == paid
    with closing(ledger.connect(db)) as conn:
        assert audit.verify(conn).ok


def test_pipelined_requests_are_answered_in_order_on_one_connection(station, tmp_path, db):
    c = client(station, tmp_path)
    reqs = [Request(MsgType.PAYMENT, {"txn": f"00000001-{n}", "cust": "1001", "amount": 1000, "method": "cash",
                                      "at": iso(NOW)}) for n in range(1, 21)]
    reqs.insert(5, Request(MsgType.BILL_QUERY, {"cust": "9999"}))  # a refusal in the middle
    connections = station.connections
    results = c.exchange(reqs)
    assert station.connections == connections + 1 and c.stats.round_trips == 1
    assert [r.outcome for r in results] == [Outcome.OK] * 5 + [Outcome.REFUSED] + [Outcome.OK] * 15
    receipts = [r.body["receipt"] for r in results if r.outcome is Outcome.OK]
    assert receipts == sorted(receipts) and len(set(receipts)) == 20
    # 20 x 1000 fen in order: 2026-09 (10300) first, then 2026-10 (8112), the rest 1588 to balance
    assert results[-1].body["balance"] == 20000 - 10300 - 8112
    assert snapshot(db)["customers"][0][7] == 1588


def _payment_frame(seq=5, tid="00000001", amount=1000, txn="00000001-1"):
    t = TERMINALS[tid]
    return seal(t.key, Suite(t.suite), tid, seq, MsgType.PAYMENT,
                {"txn": txn, "cust": "1001", "amount": amount, "method": "cash", "at": iso(NOW)})


def _tampered():
    f = bytearray(_payment_frame())
    f[HEADER_LEN + 3] ^= 0x01
    return bytes(f)


def _wrong_key():
    return seal(bytes(16), Suite.AES_GCM, "00000001", 5, MsgType.PAYMENT, {"txn": "00000001-1", "cust": "1001",
                                                                          "amount": 1, "method": "cash",
                                                                          "at": iso(NOW)})


def _oversize():
    # suite 01 announcing a 65535-byte body: not a multiple of 8, refused from the header alone
    return b"GT\x02\x01\x00\x0000000001" + (5).to_bytes(4, "big") + bytes(8) + b"\x02\x02" + b"\xff\xff" \
        + b"\x00" * 100


def _version_01():
    # a whole version 01 frame of a provisioned terminal, as the retired codec sealed it: 22-byte
    # header, nonce = dir ‖ 00 00 00 ‖ seq ‖ 00 00 00 00 (docs/protocol.md, "Version 01")
    from Crypto.Cipher import AES

    plain = b'{"txn":"00000001-1","cust":"1001","amount":1000,"method":"cash","at":"2026-11-24T10:00:00+08:00"}'
    header = b"GT\x01\x02\x00\x0000000001" + (5).to_bytes(4, "big") + b"\x02\x02" + len(plain).to_bytes(2, "big")
    c = AES.new(K1, AES.MODE_GCM, nonce=b"\x01\x00\x00\x00" + (5).to_bytes(4, "big") + bytes(4))
    c.update(header)
    ct, tag = c.encrypt_and_digest(plain)
    return header + ct + tag


CASES = {
    "garbage": (lambda: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "malformed"),
    "oversize": (_oversize, "malformed"),
    "bad version": (lambda: b"GT\x07" + _payment_frame()[3:], "version 7"),
    "version 01": (_version_01, "retired"),
    "tampered": (_tampered, "MAC/tag"),
    "wrong key": (_wrong_key, "MAC/tag"),
    "unknown terminal": (lambda: seal(K1, Suite.AES_GCM, "12345678", 5, MsgType.PAYMENT, {"txn": "12345678-1"}),
                         "unknown terminal"),
    "wrong suite": (lambda: seal(K1, Suite.TDES, "00000001", 5, MsgType.PAYMENT, {"txn": "00000001-1"}), "suite"),
    "response flag": (lambda: seal(K1, Suite.AES_GCM, "00000001", 5, MsgType.PAYMENT, {"ok": True}, response=True),
                      "response flag"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_frames_are_audited_unanswered_and_change_nothing(station, db, case):
    make, note = CASES[case]
    before = snapshot(db)
    n_audit = len(audit_rows(db))
    frame = make()
    with raw_connection(station) as s:
        s.sendall(frame + _payment_frame(seq=6, txn="00000001-2"))  # a good frame after it is never read
        assert read_all(s) == b""  # closed without an answer
    assert snapshot(db) == before
    rows = audit_rows(db)[n_audit:]
    assert len(rows) == 1 and rows[0][0] == "in" and note in rows[0][6] and rows[0][5] is None
    assert bytes(rows[0][4]) and frame.startswith(bytes(rows[0][4])[:16])


def test_truncated_frame_is_audited_and_changes_nothing(station, db):
    before = snapshot(db)
    frame = _payment_frame()
    with raw_connection(station) as s:
        s.sendall(frame[:-7])
        s.shutdown(socket.SHUT_WR)
        assert read_all(s) == b""
    assert snapshot(db) == before
    row = audit_rows(db)[-1]
    # the bounded row of a frame that did not authenticate: its first 64 bytes, count and SHA-256
    assert "truncated" in row[6] and bytes(row[4]) == frame[:64]
    assert refused_size_and_hash(db) == (len(frame) - 7, hashlib.sha256(frame[:-7]).hexdigest())


def refused_size_and_hash(db) -> tuple[int, str]:
    return rows(db, "SELECT size, sha256 FROM audit ORDER BY id DESC LIMIT 1")[0]


def test_replayed_frame_gets_e_replay_and_changes_nothing(station, db):
    frame = _payment_frame(seq=9)
    with raw_connection(station) as s:
        s.sendall(frame)
        s.shutdown(socket.SHUT_WR)
        first = decode_frame(read_all(s))
    assert open_frame(K1, first)["ok"] is True
    before = snapshot(db)
    for replay in (frame, _payment_frame(seq=9, amount=5, txn="00000001-7"), _payment_frame(seq=3, txn="00000001-8")):
        with raw_connection(station) as s:
            s.sendall(replay)
            s.shutdown(socket.SHUT_WR)
            answer = decode_frame(read_all(s))
        body = open_frame(K1, answer)
        assert answer.is_error and body["code"] == "E_REPLAY" and body["last_seq"] == 9
    assert snapshot(db) == before


def test_good_frames_before_garbage_are_answered_then_the_connection_closes(station, db):
    with raw_connection(station) as s:
        s.sendall(_payment_frame(seq=1) + b"\x00garbage")
        data = read_all(s)
    answer = decode_frame(data)  # exactly one frame, then the close
    assert answer.seq == 1 and open_frame(K1, answer)["ok"]
    assert "malformed" in audit_rows(db)[-1][6]


def test_idle_connection_is_closed(db):
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), idle_timeout=0.3) as st:
        with raw_connection(st) as s:
            s.sendall(_payment_frame()[:10])  # a frame started, then silence
            assert read_all(s) == b""
        row = audit_rows(db)[-1]
        assert "idle" in row[6] and bytes(row[4]) == _payment_frame()[:10]
        # nothing needed from that connection: a new one works at once
        c_frame = _payment_frame(seq=2)
        with raw_connection(st) as s:
            s.sendall(c_frame)
            assert open_frame(K1, decode_frame(read_all_one(s)))["ok"]


def read_all_one(s: socket.socket) -> bytes:
    s.shutdown(socket.SHUT_WR)
    return read_all(s)


def test_many_terminals_at_once(db, tmp_path):
    import threading

    terminals = {f"{n:08d}": TerminalKey(f"{n:08d}", 1 + n % 2, bytes(range(n, n + 16))) for n in range(10, 18)}
    results: dict[str, list[Outcome]] = {}
    with StationServer(db, terminals, clock=FixedClock(at=NOW)) as st:
        def work(tid: str) -> None:
            t = terminals[tid]
            c = StationClient(terminal_id=tid, key=t.key, suite=Suite(t.suite), transport=SocketTransport(),
                              seq=FileSeqCounter(tmp_path / tid), host="127.0.0.1", port=st.port,
                              connect_timeout=5, response_timeout=10)
            out = []
            for n in range(3):
                res = c.exchange([Request(MsgType.PAYMENT, {"txn": f"{tid}-{n}", "cust": "1002", "amount": 100,
                                                            "method": "cash", "at": iso(NOW)})])
                out += [r.outcome for r in res]
            results[tid] = out

        threads = [threading.Thread(target=work, args=(tid,)) for tid in terminals]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert all(v == [Outcome.OK] * 3 for v in results.values()) and len(results) == 8
    assert snapshot(db)["customers"][1][7] == 500 + 8 * 3 * 100  # 1002's balance


def test_authenticated_but_unusable_body_gets_e_bad_request(station, db):
    # built with pycryptodome directly (nonce and AAD per station-protocol.md, suite 02): a JSON
    # array is valid JSON, authenticates, and is still not a GT/1 body
    from Crypto.Cipher import AES

    seq = 4
    salt = bytes.fromhex("0f1e2d3c4b5a6978")
    header = b"GT\x02\x02\x00\x0000000001" + seq.to_bytes(4, "big") + salt + b"\x02\x02"
    plain = b"[1,2]"
    header += len(plain).to_bytes(2, "big")
    cipher = AES.new(K1, AES.MODE_GCM, nonce=salt + seq.to_bytes(4, "big"), mac_len=16)
    cipher.update(header)
    ct, tag = cipher.encrypt_and_digest(plain)
    before = snapshot(db)
    with raw_connection(station) as s:
        s.sendall(header + ct + tag)
        answer = decode_frame(read_all_one(s))
    body = open_frame(K1, answer)
    assert answer.is_error and body["code"] == "E_BAD_REQUEST"
    after = snapshot(db)
    assert after["terminal_seq"] == [("00000001", seq, TERMINALS["00000001"].key_id)]  # a replay of it is refused
    assert {k: v for k, v in after.items() if k != "terminal_seq"} == \
           {k: v for k, v in before.items() if k != "terminal_seq"}
    assert "bad body" in audit_rows(db)[-2][6]


def test_station_failure_answers_e_internal_and_leaves_the_txn_unknown(station, db, tmp_path, monkeypatch):
    from hw_mocks.station.handlers import Station

    def broken(self, ctx, body, txn):
        self.conn.execute("UPDATE customers SET balance = balance + 1")  # must be rolled back
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Station, "_h_payment", broken)
    c = client(station, tmp_path)
    before = snapshot(db)
    res = c.exchange([Request(MsgType.PAYMENT, {"txn": "00000001-1", "cust": "1001", "amount": 100,
                                                "method": "cash", "at": iso(NOW)})])[0]
    assert res.outcome is Outcome.REFUSED and res.code == "E_INTERNAL"
    assert snapshot(db) == before
    monkeypatch.undo()
    st = c.call(Request(MsgType.TXN_STATUS, {"txns": ["00000001-1"]}))
    assert st["status"] == {"00000001-1": "unknown"}
