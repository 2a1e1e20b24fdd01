"""The station's QR client killed (SIGKILL) mid-flight, again and again, against the mock acquirer as a
process: after every restart it finishes from its journal, and in the end every customer is charged
once or not at all, and the station's record says which."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

from hw_mocks.acquirer.codes import customer_code
from hw_mocks.station.acquirer import OrderJournal, QrPayments, load_channels, order_number
from hw_mocks.station.acquirer_policy import Outcome, Params
from terminal_app.domain.paycode import PayChannel, parse_paycode
from tests.integration.test_acquirer_mock import running_acquirer
from tests.util import wait_for

ROOT = Path(__file__).resolve().parents[2]
PARAMS = dict(query_interval=0.15, query_limit=3, unknown_wait=0.05, reverse_interval=0.05, reverse_limit=4)
SCENARIOS = ["success", "user_paying_then_success", "system_error_then_success", "timeout_then_success",
             "timeout_no_answer", "insufficient_funds", "user_cancels", "reverse_fails_twice"]

CHILD = """
import json, sys
from pathlib import Path
from hw_mocks.station.acquirer import OrderJournal, QrPayments, load_channels
from hw_mocks.station.acquirer_policy import Params
from terminal_app.domain.paycode import parse_paycode
url, keys, db, work, params = sys.argv[1:6]
journal = OrderJournal(Path(db))
qr = QrPayments(journal, load_channels(url, Path(keys), timeout=0.5), Params(**json.loads(params)))
for t, code, amount in json.loads(Path(work).read_text()):
    r = qr.charge(t, parse_paycode(code), amount)
    print(t, r.outcome.value, flush=True)
"""


def in_flight(db: Path) -> int:
    with sqlite3.connect(db, timeout=5) as c:
        return c.execute("SELECT count(*) FROM qr_orders WHERE outcome IS NULL").fetchone()[0]


def rows(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT count(*) FROM qr_orders").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_sigkills_of_the_station_client_never_charge_twice_nor_lose_a_charge(tmp_path):
    keys = tmp_path / "keys"
    subprocess.run([sys.executable, "-m", "hw_mocks.cli", "acquirer", "--make-keys", str(keys)], cwd=ROOT,
                   check=True, capture_output=True)
    rng = random.Random(1717)
    work = []
    for i in range(40):
        channel = rng.choice(list(PayChannel))
        work.append((f"10000017-{i + 1}", customer_code(channel, rng.choice(SCENARIOS), rng=rng),
                     rng.randint(1, 50_000)))
    (tmp_path / "work.json").write_text(json.dumps(work))
    db = tmp_path / "qr.sqlite"
    with running_acquirer(keys) as acq:
        kills = caught_mid_flight = 0
        for target in (3, 9, 16, 24, 31, 37):  # kill when the journal holds this many orders: mid-flight
            with (tmp_path / f"child-{target}.log").open("w") as log:
                child = subprocess.Popen([sys.executable, "-c", CHILD, acq["url"], str(keys), str(db),
                                          str(tmp_path / "work.json"), json.dumps(PARAMS)], cwd=ROOT,
                                         stdout=log, stderr=subprocess.STDOUT)
                try:
                    wait_for(lambda t=target, c=child: rows(db) >= t or c.poll() is not None, timeout=120,
                             what=f"{target} orders journaled")
                    if child.poll() is None:
                        child.send_signal(signal.SIGKILL)
                        kills += 1
                finally:
                    child.wait(30)
                caught_mid_flight += in_flight(db)
        assert kills >= 3 and caught_mid_flight >= 1  # some kill left an order without an outcome
        # the last restart finishes everything (in-process, so the outcomes can be read)
        journal = OrderJournal(db)
        try:
            qr = QrPayments(journal, load_channels(acq["url"], keys, timeout=0.5), Params(**PARAMS))
            outcomes = {t: qr.charge(t, parse_paycode(code), amount) for t, code, amount in work}
            with urllib.request.urlopen(acq["url"] + "/_mock/orders", timeout=5) as r:
                books = {o["out_trade_no"]: o for o in json.loads(r.read())}
        finally:
            journal.close()
    for t, code, amount in work:
        channel = parse_paycode(code).channel
        o = books.get(order_number(t, channel))
        res = outcomes[t]
        assert res.outcome in (Outcome.PAID, Outcome.NOT_PAID, Outcome.REVERSED), (t, res)
        held = o["held"] if o else 0
        assert o is None or o["charges"] <= 1, (t, o)
        if res.outcome is Outcome.PAID:  # charged once, and the station knows it, with the acquirer's id
            assert held == amount and res.acquirer_id == o["transaction_id"], (t, res, o)
        else:  # not charged, or charged and given back: nothing left unreversed
            assert held == 0, (t, res, o)
