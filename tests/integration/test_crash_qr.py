"""CRASH TEST (issue 17): QR payments (付款码) with random SIGKILLs of the terminal AND the station.

Three processes: the mock acquirer (``handheld-mocks acquirer``), the reference station
(``handheld-mocks station serve --acquirer …``, its ledger an SQLite file) and a terminal child (this
file run as a script) that takes QR payments with the production use case
(:func:`terminal_app.services.qr_payment.take_qr_payment`: journal first, code redacted; the whole
code only in the encrypted frame; a lost answer resolved by TXN_STATUS through the sync engine).
The parent kills the child and/or the station with SIGKILL at random moments and starts them again,
until N payments (``CRASH_QR_N``, default 300) are journaled and every one is settled.

Payment k (k = the journal's entry count + 1) has a customer, an amount, a channel and a scenario
fixed by k: the code's last four digits pick the acquirer's behaviour — paid at once, USERPAYING for
0.3 s, a system error or a lost pay answer (charged, found by query), no answer at all (reversed),
paying "forever" (reversed), refused.  A station that cannot be reached refuses the payment on the
spot (never queued): the child then exits and is started again once the station listens.

At the end: every customer charged once or not at all (the mock's books, ``/_mock/orders``); every
charge on the station's ledger (with the acquirer's id) and APPLIED in the terminal's journal; every
journal entry settled; nothing held by the acquirer that the station does not count (nothing charged
left unreversed).  And no log line, audit body, journal row or receipt holds a whole payment code.

No time budget: the guard against a hang is progress (``STALL_S`` without a new line from the child).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TID = "30000017"
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
N = int(os.environ.get("CRASH_QR_N", "300"))
FILLERS = 23  # customers 2000 … 2022 of the tiny area (segment S2)
#: the scenario digits (docs/acquirer.md "Scenarios"), one per k in turn
DIGITS = ("0000", "0001", "0004", "0005", "0003", "0006", "0001", "0007", "0000", "0002", "0004", "0008")
POLICY = {"query_interval": 0.15, "query_limit": 4, "unknown_wait": 0.05, "reverse_interval": 0.05,
          "reverse_limit": 4}
STALL_S = 90.0


def customer(k: int) -> str:
    return f"2{k % FILLERS:03d}"


def amount(k: int) -> int:
    return 100 + (k * 37) % 900


def code(k: int) -> str:
    from terminal_app.domain.paycode import PayChannel
    from tests.rigs.acquirer import code_for

    return code_for(PayChannel.WECHAT if k % 2 else PayChannel.ALIPAY, 60_000_000 + k, DIGITS[k % len(DIGITS)])


# --------------------------------------------------------------------------- the terminal child

class PaperRoll:
    """The receipts as printed text, one after another in a file (the printer is not under test here;
    what it would put on paper is what the grep reads)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def print_ticket(self, ticket, already_printed: bool, mark_printed) -> str:  # noqa: ANN001
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(ticket.lines) + "\n\f\n")
        mark_printed(ticket.identity)
        return "printed"


def child(args: argparse.Namespace) -> int:
    from offline_queue.journal import Journal
    from offline_queue.sync import SyncEngine
    from terminal_app.errors import LinkError
    from terminal_app.services.common import Operator
    from terminal_app.services.ports import UseCaseContext
    from terminal_app.services.qr_payment import (
        QrOfflineError,
        QrOutcomeUnknownError,
        QrRefusedError,
        take_qr_payment,
    )
    from terminal_app.services.route import download_route
    from terminal_app.services.store import LocalStore
    from terminal_app.station.client import StationClient
    from terminal_app.station.protocol import Suite
    from terminal_app.station.transport import SocketTransport
    from terminal_app.timeutil import Clock

    out = sys.stdout.fileno()

    def say(line: str) -> None:
        os.write(out, (line + "\n").encode())

    journal = Journal.open(args.journal, TID)
    store = LocalStore.beside(journal.path)
    client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=SocketTransport(),
                           seq=journal.seq_counter(), host="127.0.0.1", port=args.port, connect_timeout=2.0,
                           response_timeout=5.0)
    engine = SyncEngine(journal, client)
    clock = Clock()
    ctx = UseCaseContext(journal=journal, store=store, link=client, printer=PaperRoll(args.paper),  # type: ignore[arg-type]
                         clock=clock, operator=Operator(TID, "0007"), tariffs=None, sync=engine)  # type: ignore[arg-type]
    st = journal.status()
    say(f"R {st.unknown}")
    if store.customer(customer(1)) is None:
        try:
            download_route(client, store, "S2", clock=clock)
        except LinkError:
            say("O route")
            return 4
    engine.sync_now()  # what a killed run left in doubt: TXN_STATUS first
    while True:
        count = journal.count()
        if count >= args.n:
            report = engine.sync_now()
            if journal.status().depth == 0:
                say("D")
                return 0
            if report.exchanges == 0 or not report.ok:
                say(f"W {report.error}")
                return 4
            continue
        k = count + 1
        try:
            r = take_qr_payment(ctx, cust=customer(k), amount=amount(k), code_text=code(k), response_timeout=4.0)
            say(f"P {k} {r.txn}")
        except QrRefusedError as e:
            say(f"N {k} {e.params.get('reason', '')}")
        except QrOutcomeUnknownError:
            say(f"U {k}")
        except QrOfflineError:
            say(f"O {k}")
            return 4


# --------------------------------------------------------------------------- the parent

class Proc:
    """A child process whose stdout lines are read with timeouts (never a blind sleep)."""

    def __init__(self, argv: list[str], stderr: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self._err = open(stderr, "ab")  # noqa: SIM115 (closed in finish)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._err, cwd=ROOT, env=env)
        self._buf = b""
        self.lines: list[str] = []

    def read_until(self, deadline: float, want: str | None = None) -> bool:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        seen = len(self.lines)
        while True:
            if want is not None and any(x.startswith(want) for x in self.lines[seen:]):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return False
            chunk = os.read(fd, 65536)
            if not chunk:
                return False
            self._buf += chunk
            *done, self._buf = self._buf.split(b"\n")
            self.lines += [d.decode() for d in done]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)

    def finish(self, sig: int = signal.SIGKILL) -> int:
        if self.alive():
            self.proc.send_signal(sig)
        rc = self.proc.wait(60)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._err.close()
        return rc


def unfinished_orders(db: Path) -> int:
    with sqlite3.connect(db, timeout=10) as c:
        return c.execute("SELECT count(*) FROM qr_orders WHERE outcome IS NULL").fetchone()[0]


def run_crash(tmp: Path, n: int, seed: int) -> dict[str, int]:
    from hw_mocks.station.acquirer import order_number
    from offline_queue.journal import EntryState, Journal
    from terminal_app.domain.paycode import PayChannel
    from tests.rigs.acquirer import WHOLE_CODE, make_keys, running_acquirer
    from tests.rigs.station import tiny_ledger
    from tests.util import free_port

    rng = random.Random(seed)
    keys = make_keys(tmp / "acq-keys")
    db = tmp / "station.sqlite"
    tiny_ledger(db)
    terms = tmp / "terminals.toml"
    terms.write_text(f'[[terminal]]\nid = "{TID}"\nsuite = 2\nkey = "{KEY.hex()}"\n')
    terms.chmod(0o600)
    port = free_port()
    journal_path, paper = tmp / "journal.sqlite", tmp / "paper.txt"
    stats = {"terminal_sigkills": 0, "station_sigkills": 0, "restarts_with_txns_in_doubt": 0,
             "station_kills_mid_order": 0, "offline_refusals": 0, "unknown_outcomes": 0}
    with running_acquirer(keys, hang_seconds=0.5, log_file=tmp / "acquirer.log") as acq:
        def station() -> Proc:
            s = Proc([sys.executable, "-m", "hw_mocks.cli", "station", "serve", "--db", str(db), "--port", str(port),
                      "--terminals", str(terms), "--acquirer", acq["url"], "--acquirer-keys", str(keys),
                      "--acquirer-timeout", "0.3", "--acquirer-policy", json.dumps(POLICY), "-v"],
                     tmp / "station.log")
            assert s.read_until(time.monotonic() + STALL_S, want="station listening"), "the station did not start"
            return s

        def terminal() -> Proc:
            return Proc([sys.executable, __file__, "--child", "--journal", str(journal_path), "--port", str(port),
                         "--paper", str(paper), "--n", str(n)], tmp / "terminal.log")

        st = station()
        term = terminal()
        try:
            while True:
                # run for a random while (waiting on the child's output, never a blind sleep) …
                said = term.read_until(time.monotonic() + rng.uniform(0.05, 1.5), want="D")
                if said or not term.alive():
                    done = any(x.startswith("D") for x in term.lines)
                    stats["offline_refusals"] += sum(x.startswith("O") for x in term.lines)
                    stats["unknown_outcomes"] += sum(x.startswith("U") for x in term.lines)
                    rc = term.finish()
                    if done:
                        break
                    assert rc == 4, f"the terminal child failed (exit {rc}): {term.lines[-5:]}"
                    if not st.alive():
                        st.finish()
                        st = station()
                    term = terminal()
                    continue
                # … then kill the terminal, the station, or both
                what = rng.random()
                if what < 0.5 or what >= 0.85:
                    term.kill()
                    term.finish()
                    stats["terminal_sigkills"] += 1
                    stats["offline_refusals"] += sum(x.startswith("O") for x in term.lines)
                    stats["unknown_outcomes"] += sum(x.startswith("U") for x in term.lines)
                if what >= 0.5:
                    st.kill()
                    st.finish()
                    stats["station_sigkills"] += 1
                    stats["station_kills_mid_order"] += unfinished_orders(db) > 0
                    st = station()
                if not term.alive():
                    term = terminal()
                    term.read_until(time.monotonic() + STALL_S, want="R")
                    doubt = [x for x in term.lines if x.startswith("R ")]
                    stats["restarts_with_txns_in_doubt"] += bool(doubt and doubt[-1] != "R 0")
        finally:
            term.finish()
            st_rc = st.finish(signal.SIGTERM)
        assert st_rc in (0, -signal.SIGTERM), st_rc
        with urllib.request.urlopen(acq["url"] + "/_mock/orders", timeout=10) as r:
            books = {(o["channel"], o["out_trade_no"]): o for o in json.loads(r.read())}

    # ---- every payment: charged once or not at all, and every charge on the ledger and in the journal
    with Journal.open(journal_path, TID) as journal:
        entries = journal.entries()
    with sqlite3.connect(db) as c:
        ledger = {t: (a, m, aid) for t, a, m, aid in c.execute(
            "SELECT txn, amount, method, acquirer_id FROM payments WHERE reversed_by IS NULL")}
        audit_bodies = [b for (b,) in c.execute("SELECT body FROM audit WHERE body IS NOT NULL")]
        order_codes = [x for (x,) in c.execute("SELECT code FROM qr_orders")]
    assert len(entries) == n
    ours: set[tuple[str, str]] = set()
    paid = 0
    for k, e in enumerate(entries, 1):
        body = e.body_dict()
        assert (body["cust"], body["amount"]) == (customer(k), amount(k)), (k, body)
        assert "*" in body["auth_code"], body
        channel = PayChannel(body["method"])
        key = (channel.value, order_number(e.txn, channel))
        ours.add(key)
        o = books.get(key)
        assert o is None or o["charges"] <= 1, (k, e.txn, o)
        assert e.state in (EntryState.APPLIED, EntryState.REJECTED), (k, e.txn, e.state)
        if e.state is EntryState.APPLIED:
            paid += 1
            assert o is not None and o["held"] == amount(k), (k, e.txn, o)
            assert ledger.get(e.txn) == (amount(k), channel.value, o["transaction_id"]), (k, e.txn, ledger.get(e.txn))
            assert e.reply["acquirer_id"] == o["transaction_id"]
        else:
            assert o is None or o["held"] == 0, (k, e.txn, e.reject_code, o)  # not charged, or given back
            assert e.txn not in ledger, (k, e.txn)
    # nothing the acquirer holds that is not one of these payments, counted by the station
    assert all(key in ours for key, o in books.items() if o["held"]), "a charge the terminal never journaled"
    assert sum(o["held"] for o in books.values()) == sum(a for a, _m, _i in ledger.values())
    # ---- no whole payment code anywhere it could be read
    logs = {"station log": (tmp / "station.log").read_text(encoding="utf-8", errors="replace"),
            "terminal log": (tmp / "terminal.log").read_text(encoding="utf-8", errors="replace"),
            "acquirer log": (tmp / "acquirer.log").read_text(encoding="utf-8", errors="replace"),
            "receipts": paper.read_text(encoding="utf-8") if paper.exists() else "",
            "audit bodies": "\n".join(audit_bodies), "qr_orders": "\n".join(order_codes),
            "journal": "\n".join(bytes(e.body).decode() + json.dumps(e.reply or {}) for e in entries)}
    for name, text in logs.items():
        m = WHOLE_CODE.search(text)
        assert m is None, f"a whole payment code in the {name}: …{text[max(0, m.start() - 80):m.end() + 20]}"
    assert "qr " in logs["station log"] and "auth_code" in logs["audit bodies"]  # the grep had something to read
    stats["paid"] = paid
    return stats


def test_qr_payments_survive_sigkills_of_terminal_and_station(tmp_path):
    n = N
    stats = run_crash(tmp_path, n, seed=int(os.environ.get("CRASH_QR_SEED", "17")))
    print("crash-qr", json.dumps(stats))
    # it really crashed, in proportion to the run (the floors scale with n, as in test_crash_journal)
    assert stats["terminal_sigkills"] >= min(20, n // 10), stats
    assert stats["station_sigkills"] >= min(20, n // 10), stats
    assert stats["restarts_with_txns_in_doubt"] >= min(5, n // 30), stats
    assert stats["station_kills_mid_order"] >= min(5, n // 30), stats
    assert 0 < stats["paid"] < n, stats  # both outcomes occurred


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--child", action="store_true")
    p.add_argument("--journal")
    p.add_argument("--port", type=int)
    p.add_argument("--paper")
    p.add_argument("--n", type=int, default=N)
    args = p.parse_args()
    return child(args)


if __name__ == "__main__":
    sys.exit(main())
