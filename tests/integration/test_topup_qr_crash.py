"""CRASH TEST (issue 17): card top-ups (购电) paid by payment code with random SIGKILLs of the terminal
AND the station, acquirer delays and lost answers, and cards pulled mid-write.

Processes: the mock acquirer (``handheld-mocks acquirer``), the reference station (``handheld-mocks
station serve --acquirer … --card-master-key …``, an SQLite ledger) and a terminal child (this file
run as a script) with the production CardService (topup_qr, abandon), SerialCardReader, journal,
sync engine and StationClient.  The parent holds the mock card reader (pty) with customer 1003's
card and the card meter.  Top-up k has an amount and a code whose last four digits pick the
acquirer's behaviour (paid at once, USERPAYING, a system error or a lost pay answer, no answer at
all → reversed, refused).  Each attempt may be interrupted: the card pulled at a random APDU or at
the write, the terminal SIGKILLed, the station SIGKILLed.  A card left unwritten after the charge
is either put back (the next attempt finishes it: a fresh MAC, no second charge) or given up
(CARD_CANCEL: refunded).

The verdict, from the acquirer's books, the station's ledger, the card meter and the journal:
every order charged at most once; every order still charged is a confirmed purchase on the ledger
that the meter loaded exactly once with its amount; every purchase given up is refunded whole;
nothing loaded by the meter without a charge; every journal entry settled; no whole code in any log,
audit body, journal row or voucher.

No time budget: the guard against a hang is progress (``STALL_S`` without a line from the child).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N = int(os.environ.get("CRASH_TOPUP_QR_N", "100"))
STALL_S = 90.0
#: the acquirer's scenarios by the code's last four digits (docs/acquirer.md), one per attempt in turn
DIGITS = ("0000", "0001", "0004", "0005", "0003", "0006", "0000", "0007", "0002", "0001", "0010", "0000")
POLICY = {"query_interval": 0.15, "query_limit": 4, "unknown_wait": 0.05, "reverse_interval": 0.05,
          "reverse_limit": 4, "refund_interval": 0.05, "refund_limit": 4}


def amount(k: int) -> int:
    return 1_000 + (k * 7919) % 9_000


# --------------------------------------------------------------------------- the terminal child

class PaperRoll:
    def __init__(self, path: str) -> None:
        self.path = path

    def print_ticket(self, ticket: Any, already_printed: bool) -> str:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(ticket.lines) + "\n\f\n")
        return "printed"


def child(args: argparse.Namespace) -> int:
    from terminal_app.errors import HandheldError
    from terminal_app.services.qr_payment import QrOfflineError, QrOutcomeUnknownError, QrRefusedError
    from terminal_app.services.topup import PaidNotWrittenError
    from tests.rigs.card import open_terminal

    out = sys.stdout.fileno()

    def say(line: str) -> None:
        os.write(out, (line + "\n").encode())

    term = open_terminal(Path(args.journal), args.port, args.reader, printer=PaperRoll(args.paper), timeout=3.0)
    say("R")
    for line in sys.stdin:
        cmd, *rest = line.split()
        try:
            if cmd == "T":
                k, code = int(rest[0]), rest[1]
                res = term.service.topup_qr(amount(k), code, response_timeout=6.0)
                say(f"OK {res.auth_txn} {int(res.recovered)} {res.purchase_count} {res.amount}")
            elif cmd == "G":
                g = term.service.abandon(reason="crash test")
                say(f"G {g.auth_txn} {int(g.confirmed is not None)} {int(g.pending)}")
            elif cmd == "F":
                r = term.service.finish_unfinished()
                say(f"F {r.purchase_count if r else '-'}")
            elif cmd == "S":
                report = term.sync.sync_now()
                say(f"S {term.journal.status().depth} {report.error or '-'}")
            elif cmd == "Q":
                break
        except PaidNotWrittenError:
            say("W")
        except QrRefusedError as e:
            say(f"N {e.params.get('reason', '-')}")
        except QrOutcomeUnknownError:
            say("U")
        except QrOfflineError:
            say("O")
        except HandheldError as e:
            say(f"E {type(e).__name__} {getattr(getattr(e, 'reason', None), 'name', '-')} {str(e)[:160]}")
    term.close()
    return 0


# --------------------------------------------------------------------------- the parent

class Proc:
    """A child process whose stdout lines are read with timeouts (never a blind sleep)."""

    def __init__(self, argv: list[str], stderr: Path, stdin: bool = False) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self._err = open(stderr, "ab")  # noqa: SIM115 (closed in finish)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._err, cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE if stdin else None)
        self._buf = b""
        self.lines: list[str] = []

    def line(self, timeout: float) -> str | None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\n", 1)
        self.lines.append(raw.decode())
        return self.lines[-1]

    def until(self, want: str, timeout: float = STALL_S) -> bool:
        deadline = time.monotonic() + timeout
        while (text := self.line(max(0.0, deadline - time.monotonic()))) is not None:
            if text.startswith(want):
                return True
        return False

    def send(self, text: str) -> bool:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((text + "\n").encode())
            self.proc.stdin.flush()
            return True
        except BrokenPipeError:
            return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(60)  # reaped: alive() is False from here on

    def finish(self, sig: int = signal.SIGKILL) -> int:
        if self.alive():
            if self.proc.stdin is not None and sig == signal.SIGTERM:
                self.send("Q")
            else:
                self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(60)
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                try:
                    f.close()
                except BrokenPipeError:
                    pass
        self._err.close()
        return rc


def run_crash(tmp: Path, n: int, seed: int) -> dict[str, int]:
    from hw_mocks.card.device import MockCardReader
    from hw_mocks.card.meter import Insertion, MockCardMeter
    from hw_mocks.station.acquirer import give_back_no, order_number
    from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
    from offline_queue.journal import EntryState, Journal
    from terminal_app.domain.paycode import PayChannel
    from terminal_app.services.topup import KIND_PURCHASE
    from tests.rigs.acquirer import WHOLE_CODE, code_for, make_keys, running_acquirer
    from tests.rigs.card import CUST, KEY, METER, SERIAL, START_COUNT, TID, issue_card
    from tests.rigs.station import tiny_ledger
    from tests.util import free_port, wait_for

    rng = random.Random(seed)
    keys = make_keys(tmp / "acq-keys")
    db = tmp / "station.sqlite"
    tiny_ledger(db, fillers=0)
    master = tmp / "card-master.key"
    master.write_text(DEMO_MASTER_KEY.hex())
    master.chmod(0o600)
    terms = tmp / "terminals.toml"
    terms.write_text(f'[[terminal]]\nid = "{TID}"\nsuite = 2\nkey = "{KEY.hex()}"\n')
    terms.chmod(0o600)
    port = free_port()
    journal_path, paper = tmp / "journal.sqlite", tmp / "paper.txt"
    holder = CardKeyHolder(DEMO_MASTER_KEY)
    card = issue_card(holder)
    meter = MockCardMeter(CUST, METER, count=START_COUNT, remaining=2000, bound_serial=SERIAL)
    stats: Counter[str] = Counter()
    serial = iter(range(90_000_000, 99_999_999))
    outcome: dict[int, str] = {}
    with running_acquirer(keys, hang_seconds=0.5, log_file=tmp / "acquirer.log") as acq, \
            MockCardReader.on_pty(os.fspath(tmp / "ttyCard")) as dev:
        dev.insert(card)

        def station() -> Proc:
            s = Proc([sys.executable, "-m", "hw_mocks.cli", "station", "serve", "--db", str(db), "--port", str(port),
                      "--terminals", str(terms), "--acquirer", acq["url"], "--acquirer-keys", str(keys),
                      "--acquirer-timeout", "0.3", "--acquirer-policy", json.dumps(POLICY),
                      "--card-master-key", str(master), "-v"], tmp / "station.log")
            assert s.until("station listening"), "the station did not start"
            return s

        def terminal() -> Proc:
            t = Proc([sys.executable, __file__, "--child", "--journal", str(journal_path), "--port", str(port),
                      "--reader", dev.url, "--paper", str(paper)], tmp / "terminal.log", stdin=True)
            assert t.line(STALL_S) == "R", t.lines
            return t

        st = station()
        term = terminal()
        try:
            for k in range(1, n + 1):
                for attempt in range(1, 41):
                    if dev.card is None:
                        dev.insert(card)  # the customer puts the same card back
                    if not st.alive():
                        st.finish()
                        st = station()
                    if not term.alive():
                        term.finish()
                        term = terminal()
                    fault = rng.choices(("pull", "pull_write", "kill_term", "kill_station", "none"),
                                        (15, 15, 15, 15, 40))[0] if attempt < 30 else "none"
                    if fault == "pull":
                        dev.pull_after(rng.randrange(8), executed=rng.random() < 0.5)
                    elif fault == "pull_write":
                        dev.pull_at_write(executed=rng.random() < 0.3)
                    digits = DIGITS[(k + attempt) % len(DIGITS)]
                    code = code_for(PayChannel.WECHAT if (k + attempt) % 2 else PayChannel.ALIPAY, next(serial),
                                    digits)
                    assert term.send(f"T {k} {code}"), term.lines[-3:]
                    if fault in ("kill_term", "kill_station"):
                        answer = term.line(rng.uniform(0.0, 1.5))
                        if answer is None:
                            (term if fault == "kill_term" else st).kill()
                            stats[fault] += 1
                            if fault == "kill_station":
                                answer = term.line(STALL_S)  # the terminal's answer to the lost link
                    else:
                        t0 = time.monotonic()
                        answer = term.line(STALL_S)
                        assert answer is not None or not term.alive(), \
                            f"child silent for {time.monotonic() - t0:.1f} s: {term.lines[-5:]} {term.proc.poll()}"
                    dev.disarm()
                    if dev.pulled.is_set():
                        stats["pulled"] += 1
                        dev.pulled.clear()
                    if answer is None:
                        assert not term.alive() or fault == "kill_term", f"child silent: {term.lines[-5:]}"
                        term.kill()
                        continue
                    tag, *rest = answer.split(" ")
                    if tag == "OK":
                        if int(rest[2]) != START_COUNT + stats["credited"] + 1:
                            raise AssertionError(f"top-up {k}: count {rest[2]} after {stats['credited']} credited")
                        stats["recovered" if rest[1] == "1" else "clean"] += 1
                        stats["credited"] += 1
                        outcome[k] = "credited"
                        assert meter.insert(card) is Insertion.LOADED, (k, card.purchase, meter)
                        break
                    if tag == "N":
                        stats["refused_" + rest[0]] += 1
                        outcome[k] = "not charged"
                        break
                    if tag == "W" or (tag == "E" and rest[0] in ("CardRemovedError", "DeviceError")):
                        stats["unwritten" if tag == "W" else "card_error"] += 1
                        if tag == "W" and rng.random() < 0.5:
                            # the customer leaves: the card back in, the purchase given up (refunded)
                            if dev.card is None:
                                dev.insert(card)
                            assert term.send("G")
                            g = term.line(STALL_S) or ""
                            if g.startswith("G ") and g.split(" ")[2] == "0" and g.split(" ")[3] == "0":
                                stats["given_up"] += 1
                                outcome[k] = "given up"
                                break
                            if g.startswith("G ") and g.split(" ")[2] == "1":
                                stats["give_up_found_it_written"] += 1  # confirmed instead: then credited
                                stats["credited"] += 1
                                outcome[k] = "credited"
                                assert meter.insert(card) is Insertion.LOADED, (k, card.purchase, meter)
                                break
                            stats["give_up_deferred"] += 1
                        continue  # the same card again finishes it
                    if tag in ("U", "O"):
                        stats["unknown" if tag == "U" else "offline"] += 1
                        continue
                    assert tag == "E" and rest[0] in ("AuthorizationPending", "TopupRefused", "LinkDownError",
                                                      "LinkError", "RemoteProtocolError"), answer
                    if rest[0] == "TopupRefused":
                        assert rest[1] in ("NOT_LOADED", "NOTHING_TO_GIVE_UP"), answer
                        if rest[1] == "NOT_LOADED":  # an earlier purchase reached the card: to the meter
                            assert meter.insert(card) is Insertion.LOADED
                            stats["credited"] += 1
                    stats["retry_" + rest[0]] += 1
                else:
                    raise AssertionError(f"top-up {k} does not converge: {term.lines[-8:]}")
            # what the last attempts left in the journal: finished, then drained
            if not st.alive():
                st.finish()
                st = station()
            if not term.alive():
                term.finish()
                term = terminal()
            if dev.card is None:
                dev.insert(card)
            for _ in range(10):
                term.send("F")
                f = term.line(STALL_S) or ""
                if f.startswith("F ") and f != "F -":
                    stats["credited"] += 1
                    assert meter.insert(card) is Insertion.LOADED
                term.send("S")
                if (term.line(STALL_S) or "") == "S 0 -":
                    break
            else:
                raise AssertionError(f"the journal does not drain: {term.lines[-6:]}")
            # the station's give-back sweep runs in the background: every charge it refused given back
            wait_for(lambda: not _refund_pending(db), timeout=STALL_S, what="the station's give-backs")
        finally:
            term.finish(signal.SIGTERM)
            st_rc = st.finish(signal.SIGTERM)
        assert st_rc in (0, -signal.SIGTERM), st_rc
        with urllib.request.urlopen(acq["url"] + "/_mock/orders", timeout=10) as r:
            books = {(o["channel"], o["out_trade_no"]): o for o in json.loads(r.read())}

    # ---- the verdict
    with sqlite3.connect(db) as c:
        rows = {t: (a, n_, s, m, aid, cx) for t, a, n_, s, m, aid, cx in c.execute(
            "SELECT txn, amount, purchase_count, state, method, acquirer_id, cancelled_at FROM card_purchases")}
        refunds = {r: (t, a, o) for r, t, a, o in c.execute("SELECT refund_no, txn, amount, outcome FROM qr_refunds")}
        audit_bodies = [b for (b,) in c.execute("SELECT body FROM audit WHERE body IS NOT NULL")]
        order_codes = [x for (x,) in c.execute("SELECT code FROM qr_orders")]
    with Journal.open(journal_path, TID) as journal:
        entries = journal.entries()
    auths = {e.txn: e for e in entries if e.kind == KIND_PURCHASE}
    assert all(e.state in (EntryState.APPLIED, EntryState.REJECTED) for e in entries), \
        Counter((e.kind, e.state.name) for e in entries)
    credited: dict[int, int] = {}
    for txn, e in auths.items():
        body = e.body_dict()
        assert "*" in body["auth_code"], body
        channel = PayChannel(body["method"])
        o = books.get((channel.value, order_number(txn, channel)))
        assert o is None or o["charges"] <= 1, (txn, o)  # never charged twice
        row = rows.get(txn)
        if e.state is EntryState.REJECTED:
            assert row is None, (txn, row)
            assert o is None or o["held"] == 0, (txn, o)  # not charged, or given back
            continue
        assert row is not None and o is not None and o["charges"] == 1, (txn, row, o)
        amt, count, state, method, aid, cancelled = row
        assert (method, aid) == (channel.value, o["transaction_id"]), (txn, row, o)
        if cancelled is not None:  # given up: refunded whole, never confirmed
            assert state == "authorized" and o["held"] == 0 and o["refunded"] == amt, (txn, row, o)
            assert refunds[give_back_no(txn)][2] == "REFUNDED", refunds.get(give_back_no(txn))
        else:  # credited: confirmed, the money kept
            assert state == "confirmed" and o["held"] == amt and o["refunded"] == 0, (txn, row, o)
            credited[count] = amt
    # the meter loaded exactly the confirmed purchases, each once; nothing without a charge
    assert dict(meter.loaded) == credited and len(meter.loaded) == len(credited), (meter.loaded, credited)
    assert sorted(credited) == list(range(START_COUNT + 1, START_COUNT + 1 + len(credited)))
    held = sum(o["held"] for o in books.values())
    assert held == sum(credited.values()), (held, credited)  # every charge kept is credited on the card
    assert len(credited) == stats["credited"], (len(credited), dict(stats))
    # ---- no whole payment code anywhere it could be read
    texts = {"station log": (tmp / "station.log").read_text(encoding="utf-8", errors="replace"),
             "terminal log": (tmp / "terminal.log").read_text(encoding="utf-8", errors="replace"),
             "acquirer log": (tmp / "acquirer.log").read_text(encoding="utf-8", errors="replace"),
             "vouchers": paper.read_text(encoding="utf-8") if paper.exists() else "",
             "audit bodies": "\n".join(audit_bodies), "qr_orders": "\n".join(order_codes),
             "journal": "\n".join(bytes(e.body).decode() + json.dumps(e.reply or {}) for e in entries)}
    for name, text in texts.items():
        # the card's challenge and MACs are hex that may happen to be all digits: not codes
        text = re.sub(r'"(challenge|mac|macs|ext_auth|inauth|incrypt)": ?("[0-9A-Fa-f]*"|\[[^]]*\])', "", text)
        m = WHOLE_CODE.search(text)
        assert m is None, f"a whole payment code in the {name}: …{text[max(0, m.start() - 80):m.end() + 20]}"
    stats["top_ups"] = n
    stats["orders"] = len(auths)
    stats["charged_and_kept"] = len(credited)
    stats["refunds"] = sum(1 for o in books.values() if o["refunded"])
    return dict(stats)


def _refund_pending(db: Path) -> bool:
    """A charge the station refused after the acquirer paid it and not given back yet, or a refund
    begun and not finished."""
    with sqlite3.connect(db, timeout=10) as c:
        return bool(c.execute("SELECT count(*) FROM qr_refunds WHERE outcome IS NULL").fetchone()[0]) or bool(
            c.execute("SELECT count(*) FROM qr_orders o JOIN txns t ON t.txn = o.txn WHERE o.outcome = 'PAID'"
                      " AND t.error = 1 AND NOT EXISTS (SELECT 1 FROM qr_refunds r WHERE r.txn = o.txn"
                      " AND r.outcome IN ('REFUNDED', 'REFUND_REFUSED'))").fetchone()[0])


def test_qr_topups_survive_sigkills_pulled_cards_and_lost_answers(tmp_path):
    stats = run_crash(tmp_path, N, seed=int(os.environ.get("CRASH_TOPUP_QR_SEED", "1717")))
    print("crash-topup-qr", json.dumps(stats))
    # it really crashed, in proportion to the run
    assert stats.get("kill_term", 0) >= min(5, N // 20), stats
    assert stats.get("kill_station", 0) >= min(5, N // 20), stats
    assert stats.get("pulled", 0) >= min(10, N // 10), stats
    assert stats.get("unwritten", 0) >= 1 and stats.get("given_up", 0) >= 1, stats
    assert 0 < stats["charged_and_kept"] < stats["orders"], stats


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--child", action="store_true")
    p.add_argument("--journal")
    p.add_argument("--port", type=int)
    p.add_argument("--reader")
    p.add_argument("--paper")
    return child(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
