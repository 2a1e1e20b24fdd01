"""CRASH TEST: killed while an original waits for the printer — nothing lost, nothing printed twice.

A child process (this file run as a script) takes cash payments with the production use case
(``payment.take_payment``: journal commit, receipt document saved, ``print_once`` through the
production ThermalPrinter to the mock printer on a pty that this process keeps powered).  The
child stops at a point of the receipt's way to paper, says so, and waits; the parent kills it
with SIGKILL right then (it waits on its stdin: no timing, no sleep):

    captured    the payment is journaled, its receipt document not yet saved
    documented  the document is saved, the printer not yet asked
    marked      the durable "original may be on paper" mark is written, no byte sent yet
    printed     (no kill) the original printed; the child exits normally

Every second payment a recovery child starts, as the terminal does after a restart: it prints
each original the history says never reached paper (``history.unprinted_originals`` →
``history.print_document``) — and it too is killed at the same points one time in two.

At the end (after a last recovery) the journal holds every payment once with its amount; the
mock printer cut exactly ONE original of every receipt, except a receipt killed after its mark
(``marked``): that one may be on paper as far as the terminal knows, so it never prints as an
original again — only as a copy (副本), and the history lists it as printed.  A second recovery
prints nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N = int(os.environ.get("PRINT_CRASH_N", "8"))
TID = "40000001"  # tests/integration/test_usecase_rig.py: TID, MORNING
MORNING_ISO = "2026-11-24T09:00:00+08:00"
POINTS = ("captured", "documented", "marked", "printed")
CUSTOMERS = ("1001", "1002", "1003")
STALL_S = 60.0  # a child that says nothing for this long is stuck (progress guard, not a budget)


def amount(k: int) -> int:
    return 100 + k  # unique per payment: the journal's entry says which k it is


# --------------------------------------------------------------------------- the child

def child(args: argparse.Namespace) -> int:
    import datetime as dt

    from drivers.printer import ThermalPrinter
    from offline_queue.journal import Journal
    from terminal_app.services import history, payment
    from terminal_app.services.common import Operator, TariffBook
    from terminal_app.services.ports import UseCaseContext
    from terminal_app.services.store import LocalStore
    from terminal_app.timeutil import FixedClock
    out = sys.stdout.fileno()

    def say(line: str) -> None:
        os.write(out, (line + "\n").encode())  # unbuffered: what the parent reads was really done

    def stop(point: str, identity: str) -> None:
        if args.point == point and not stopped:
            say(f"W {point} {identity}")
            stopped.append(point)
            sys.stdin.read()  # the parent kills us here; EOF (parent gone) ends the run as a crash
            os._exit(70)

    stopped: list[str] = []

    class CrashStore(LocalStore):
        def save_document(self, identity, kind, data):  # type: ignore[no-untyped-def]
            stop("captured", identity)
            super().save_document(identity, kind, data)

    class CrashPrinter:
        def __init__(self, inner: ThermalPrinter) -> None:
            self.inner = inner

        def open(self) -> None:
            self.inner.open()

        def print_ticket(self, ticket, *, already_printed, mark_printed=None):  # type: ignore[no-untyped-def]
            stop("documented", ticket.identity)

            def mark(identity: str) -> None:
                assert mark_printed is not None
                mark_printed(identity)
                stop("marked", identity)
            return self.inner.print_ticket(ticket, already_printed=already_printed, mark_printed=mark)

    class NoLink:
        def call(self, request):  # type: ignore[no-untyped-def]
            raise AssertionError("a payment in cash needs no link")

    morning = dt.datetime.fromisoformat(MORNING_ISO)  # the rig's MORNING (not imported: a child starts lean)
    clock = FixedClock(at=morning + dt.timedelta(minutes=args.k))
    journal = Journal.open(Path(args.dir) / "journal.sqlite", TID, clock=clock)
    store = CrashStore.beside(journal.path)
    printer = ThermalPrinter(args.printer, status_timeout=0.5)
    ctx = UseCaseContext(journal=journal, store=store, link=NoLink(), printer=CrashPrinter(printer),  # type: ignore[arg-type]
                         clock=clock, operator=Operator(TID, "0007"), tariffs=TariffBook(store))
    try:
        if args.recover:
            for d in history.unprinted_originals(journal, store):
                r = history.print_document(ctx, d.identity)
                say(f"O {d.identity} {r.outcome.name}")
        else:
            r = payment.take_payment(ctx, cust=CUSTOMERS[args.k % len(CUSTOMERS)], amount=amount(args.k),
                                     tendered=amount(args.k))
            assert r.print_error is None, r.print_error
            say(f"P {r.txn} {r.printed.outcome.name}")
    finally:
        printer.close()
        store.close()
        journal.close()
    say("D")
    return 0


# --------------------------------------------------------------------------- the parent

class Child:
    """One child process; its stdout read line by line with select (never a blind sleep)."""

    def __init__(self, tmp: Path, printer: str, k: int, point: str, recover: bool = False) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "--dir", str(tmp), "--printer", printer, "--k", str(k),
             "--point", point, *(["--recover"] if recover else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
        self._buf = b""
        self.lines: list[str] = []

    def line(self) -> str:
        """The child's next line; fails the test (with its stderr) when it says nothing for STALL_S."""
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while b"\n" not in self._buf:
            r, _, _ = select.select([fd], [], [], STALL_S)
            chunk = os.read(fd, 65536) if r else b""
            if not chunk:
                self.proc.kill()
                err = self.proc.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
                raise AssertionError(f"the child stopped talking; it said {self.lines}\n{err}")
            self._buf += chunk
        text, self._buf = self._buf.split(b"\n", 1)
        self.lines.append(text.decode())
        return self.lines[-1]

    def run(self) -> list[str]:
        """Read until it says D (done) or W (waiting: then SIGKILL it); its lines."""
        while True:
            ln = self.line()
            if ln.startswith("W "):
                self.proc.send_signal(signal.SIGKILL)
                break
            if ln == "D":
                break
        self.proc.wait(STALL_S)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()  # type: ignore[union-attr]
        return self.lines


def test_killed_while_an_original_waits_for_the_printer_nothing_lost_nothing_printed_twice(tmp_path):
    from drivers.printer import COPY_MARK
    from hw_mocks.printer import MockPrinter
    from offline_queue.journal import Journal
    from terminal_app.services import history
    from terminal_app.services.store import LocalStore
    from terminal_app.timeutil import FixedClock
    from tests.integration.test_usecase_rig import MORNING, Rig
    from tests.integration.test_usecase_rig import TID as RIG_TID

    assert (RIG_TID, MORNING.isoformat()) == (TID, MORNING_ISO)

    with Rig(tmp_path) as rig:  # the route (customers 1001–1003) downloaded into the store
        rig.terminal.download_route("S1")
    rng = random.Random(int(os.environ.get("PRINT_CRASH_SEED", "18")))
    killed_at: dict[str, str] = {}  # txn -> the point its payment run was killed at
    with MockPrinter(link=tmp_path / "ttyPrinterCrash") as mock:
        printer = str(mock.path)
        for k in range(1, N + 1):
            point = POINTS[k % len(POINTS)]
            lines = Child(tmp_path, printer, k, point).run()
            if lines[-1].startswith("W "):
                killed_at[lines[-1].split()[2]] = point
            else:
                assert lines[-1] == "D" and lines[-2].split()[2] == "ORIGINAL_PRINTED", lines
            if k % 2 == 0:  # the terminal restarts: originals offered, the run itself killed at times
                lines = Child(tmp_path, printer, k, rng.choice(("documented", "marked", "none")), recover=True).run()
                if lines[-1].startswith("W marked"):
                    killed_at[lines[-1].split()[2]] = "marked"
        last = Child(tmp_path, printer, N, "none", recover=True).run()
        assert last[-1] == "D"
        again = Child(tmp_path, printer, N, "none", recover=True).run()
        assert again == ["D"]  # nothing left to print: no original twice

        journal = Journal.open(tmp_path / "journal.sqlite", TID, clock=FixedClock(at=MORNING))
        store = LocalStore.beside(journal.path)
        try:
            pays = [e for e in journal.entries() if e.kind == "payment"]
            assert sorted(e.body_dict()["amount"] for e in pays) == [amount(k) for k in range(1, N + 1)]
            assert set(killed_at) <= {e.txn for e in pays}
            tickets = list(mock.tickets)
            for e in pays:
                mine = [t for t in tickets if t.qr_codes == [e.txn]]
                originals = [t for t in mine if COPY_MARK not in t.text]
                if killed_at.get(e.txn) == "marked":  # killed after the mark, before any byte of it
                    assert originals == [] and store.was_printed(e.txn)  # a copy from now on, never an original
                else:
                    assert len(originals) == 1, (e.txn, killed_at.get(e.txn), [t.text for t in mine])
                assert all(COPY_MARK in t.text for t in mine if t not in originals)
            assert history.unprinted_originals(journal, store) == []
            listed = {d.identity for d in history.history(journal, store, journal.clock)}
            assert listed == {e.txn for e in pays}  # every receipt in the history, none lost
            assert "marked" in killed_at.values() and "captured" in killed_at.values()
        finally:
            store.close()
            journal.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--printer", required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--point", default="none")
    ap.add_argument("--recover", action="store_true")
    sys.exit(child(ap.parse_args()))
