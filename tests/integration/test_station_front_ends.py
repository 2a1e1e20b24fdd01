"""Several front-end processes on one PostgreSQL ledger (issue 21): each terminal may land on any
of them; idempotency and replay protection hold across them by the database's constraints and
row locks — proven with the same frame sent to two front ends at once — and the ledger is exact
after a front end is killed in the middle of a run.

The front ends are the command a utility runs (``handheld-mocks station --front-end N``), each
its own process, on a real throwaway PostgreSQL cluster."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from hw_mocks.station import ledger
from hw_mocks.station.area import Bill, Customer, insert, packaged_tariffs
from terminal_app.station.client import Outcome, Request, StationClient
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import Suite, decode_frame, open_frame, seal
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import iso, now
from tests.rigs.station import rows

ROOT = Path(__file__).resolve().parents[2]
N_TERMINALS = 8


def tid_of(i: int) -> str:
    return f"6{i:07d}"


def key_of(i: int) -> bytes:
    return bytes((i * 11 + j * 7 + 3) % 256 for j in range(16))


def cust_of(i: int) -> str:
    return f"8{i:05d}"


class FrontEnds:
    def __init__(self, dsn: str, work: Path, n: int = 2) -> None:
        self.dsn, self.work = dsn, work
        self.prov = work / "terminals.toml"
        self.prov.write_text("".join(f'[[terminal]]\nid = "{tid_of(i)}"\nsuite = 2\nkey = "{key_of(i).hex()}"\n'
                                     for i in range(N_TERMINALS)))
        self.prov.chmod(0o600)
        self.procs: dict[int, subprocess.Popen] = {}
        self.ports: dict[int, int] = {}
        for fe in range(1, n + 1):
            self.start(fe)

    def start(self, fe: int) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "hw_mocks.cli", "station", "--port", "0", "--db", self.dsn,
                                 "--terminals", str(self.prov), "--front-end", str(fe)], cwd=ROOT,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()  # blocks until it listens (or dies)
        if "listening on" not in line:
            proc.kill()
            raise AssertionError(f"front end {fe} did not start: {line}{proc.stderr.read()}")
        self.procs[fe] = proc
        self.ports[fe] = int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1])

    def kill(self, fe: int) -> None:
        self.procs[fe].send_signal(signal.SIGKILL)
        self.procs[fe].communicate(timeout=30)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()


@pytest.fixture
def fronts(pg_dsn, tmp_path):
    with closing(ledger.connect(pg_dsn)) as conn:
        conn.execute("BEGIN")
        insert(conn, packaged_tariffs(), [
            Customer(cust_of(i), f"用户{i}", f"四川省仪陇县石佛乡桂花村{i}号", "B1", "桂花村", f"C{i:06d}",
                     f"{800000000000 + i:012d}", "2007", False, "sichuan-residential") for i in range(N_TERMINALS)],
            [Bill(cust_of(i), "2026-10", 100_000, 0, "2026-11-15") for i in range(N_TERMINALS)], [])
        conn.execute("COMMIT")
    fe = FrontEnds(pg_dsn, tmp_path)
    yield fe
    fe.close()


def exchange_raw(port: int, frame: bytes, go: threading.Barrier, out: list, idx: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        go.wait()
        s.sendall(frame)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            try:
                out[idx] = decode_frame(data)
                return
            except Exception:  # noqa: BLE001 - not whole yet
                continue


def both_at_once(fronts: FrontEnds, frames: tuple[bytes, bytes]) -> list[dict]:
    go = threading.Barrier(2)
    out: list = [None, None]
    threads = [threading.Thread(target=exchange_raw, args=(fronts.ports[fe], frames[k], go, out, k))
               for k, fe in enumerate((1, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return [open_frame(key_of(0), f) for f in out]


def pay_body(k: int, amount: int) -> dict:
    return {"txn": f"{tid_of(0)}-{k}", "cust": cust_of(0), "amount": amount, "method": "cash", "at": iso(now())}


def test_the_same_frame_to_two_front_ends_at_once_is_applied_once(fronts):
    for k in range(1, 16):
        frame = seal(key_of(0), Suite.AES_GCM, tid_of(0), k, MsgType.PAYMENT, pay_body(k, 100 + k))
        answers = both_at_once(fronts, (frame, frame))  # the same txn AND the same seq
        codes = sorted(a.get("code", "ok") for a in answers)
        assert codes == ["E_REPLAY", "ok"], answers
    got = rows(fronts.dsn, "SELECT count(*), sum(amount) FROM payments")
    assert got == [(15, sum(100 + k for k in range(1, 16)))]
    assert rows(fronts.dsn, "SELECT count(*) FROM txns") == [(15,)]


def test_the_same_txn_under_two_seqs_at_two_front_ends_is_applied_once(fronts):
    seq = 100
    for k in range(1, 16):
        body = pay_body(k, 200 + k)
        frames = (seal(key_of(0), Suite.AES_GCM, tid_of(0), seq + 1, MsgType.PAYMENT, body),
                  seal(key_of(0), Suite.AES_GCM, tid_of(0), seq + 2, MsgType.PAYMENT, body))
        seq += 2
        answers = both_at_once(fronts, frames)
        ok = [a for a in answers if a["ok"]]
        # the later seq may reach the ledger first: then the earlier is a replay; otherwise both are
        # answered, the second with the FIRST's stored answer (same receipt) — never a second payment
        assert ok and all(a == ok[0] for a in ok), answers
        assert all(a["ok"] or a["code"] == "E_REPLAY" for a in answers), answers
    assert rows(fronts.dsn, "SELECT count(*), count(DISTINCT receipt), sum(amount) FROM payments") == [
        (15, 15, sum(200 + k for k in range(1, 16)))]


def test_killing_a_front_end_mid_run_leaves_the_ledger_exact(fronts):
    """Eight terminals pay through either front end at random; front end 1 is killed (SIGKILL)
    while they do.  Each payment whose answer did not come is resolved as a terminal's journal
    does — TXN_STATUS first, resent only when unknown — through the surviving front end."""
    payments = 12
    told: dict[str, int] = {}
    unsure: dict[str, tuple[int, dict]] = {}
    lock = threading.Lock()
    rng = random.Random(21)
    choices = [[rng.choice((1, 2)) for _ in range(payments)] for _ in range(N_TERMINALS)]
    seqs = [iter(range(1, 10_000)) for _ in range(N_TERMINALS)]

    class Seq:
        def __init__(self, i: int) -> None:
            self.i = i

        def reserve(self, n: int = 1) -> range:
            first = next(seqs[self.i])
            for _ in range(n - 1):
                next(seqs[self.i])
            return range(first, first + n)

        def move_past(self, last: int) -> None:
            while next(seqs[self.i]) < last:
                pass

    def client(i: int, fe: int) -> StationClient:
        return StationClient(terminal_id=tid_of(i), key=key_of(i), suite=Suite.AES_GCM, transport=SocketTransport(),
                             seq=Seq(i), host="127.0.0.1", port=fronts.ports[fe], connect_timeout=5,
                             response_timeout=30)

    def terminal(i: int) -> None:
        for k in range(1, payments + 1):
            body = {"txn": f"{tid_of(i)}-{k}", "cust": cust_of(i), "amount": 1000 + k, "method": "cash",
                    "at": iso(now())}
            fe = choices[i][k - 1]
            if fronts.procs[1].poll() is not None:
                fe = 2
            res = client(i, fe).exchange([Request(MsgType.PAYMENT, body)])[0]
            with lock:
                if res.outcome is Outcome.OK:
                    told[body["txn"]] = body["amount"]
                else:
                    assert res.outcome in (Outcome.UNKNOWN, Outcome.NOT_SENT), res
                    unsure[body["txn"]] = (i, body)

    threads = [threading.Thread(target=terminal, args=(i,)) for i in range(N_TERMINALS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while rows(fronts.dsn, "SELECT count(*) FROM payments")[0][0] < N_TERMINALS * payments // 3:
        assert time.monotonic() < deadline, "the run never got a third of the way"
        time.sleep(0.01)  # polling the ledger's count, the condition to kill at
    fronts.kill(1)
    for t in threads:
        t.join(120)
    # resolve every unsure payment through front end 2, as the journal's sync would
    for txn, (i, body) in sorted(unsure.items()):
        c = client(i, 2)
        status = c.call(Request(MsgType.TXN_STATUS, {"txns": [txn]}))["status"][txn]
        if status == "unknown":
            res = c.exchange([Request(MsgType.PAYMENT, body)])[0]
            assert res.outcome is Outcome.OK, res
        else:
            assert status == "applied"
            assert c.exchange([Request(MsgType.PAYMENT, body)])[0].outcome is Outcome.OK  # its stored answer
        told[txn] = body["amount"]
    ledger_rows = rows(fronts.dsn, "SELECT txn, amount FROM payments")
    assert len(ledger_rows) == N_TERMINALS * payments == len(told)
    assert dict(ledger_rows) == told  # nothing lost, nothing twice, every amount as paid
    # every customer's bill and balance add up to what it paid (allocation exact under the kill)
    for i in range(N_TERMINALS):
        paid = sum(1000 + k for k in range(1, payments + 1))
        (bal, pa, pp) = rows(fronts.dsn, "SELECT c.balance, b.paid_amount, b.paid_penalty FROM customers c"
                             " JOIN bills b ON b.cust = c.cust WHERE c.cust = ?", cust_of(i))[0]
        assert bal + pa + pp == paid
    verify = subprocess.run([sys.executable, "-m", "hw_mocks.cli", "station", "--verify-audit", "--db", fronts.dsn],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    verdict = json.loads(verify.stdout.strip().splitlines()[-1])
    assert verify.returncode == 0 and verdict["ok"], verdict  # both front ends' audit chains hold
