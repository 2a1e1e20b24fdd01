"""``handheld-mocks station`` as a process: demo seed, provisioning file, a client's session, Ctrl-C,
then ``--verify-audit`` on what it recorded."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from terminal_app.station.client import Request, StationClient
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import Suite
from terminal_app.station.seq import FileSeqCounter
from terminal_app.station.transport import SocketTransport
from terminal_app.timeutil import iso, now

ROOT = Path(__file__).resolve().parents[2]
KEY = "2b7e151628aed2a6abf7158809cf4f3c"


def test_station_cli_with_demo_seed(tmp_path):
    terms = tmp_path / "terminals.toml"
    terms.write_text(f'[[terminal]]\nid = "00000042"\nsuite = 2\nkey = "{KEY}"\n')
    os.chmod(terms, 0o600)
    db = tmp_path / "station.sqlite"
    cmd = [sys.executable, "-m", "hw_mocks.cli", "station", "--port", "0", "--db", str(db), "--terminals", str(terms),
           "--seed", "demo", "--seed-number", "5"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while True:  # blocking reads: the process prints the seed summary, then the bound port
            line = proc.stdout.readline()
            assert line, f"station exited early: {proc.stderr.read()}"
            lines.append(line)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                break
        assert "'customers': 600" in "".join(lines)
        c = StationClient(terminal_id="00000042", key=bytes.fromhex(KEY), suite=Suite.AES_GCM,
                          transport=SocketTransport(), seq=FileSeqCounter(tmp_path / "seq"), host="127.0.0.1",
                          port=int(m.group(1)), connect_timeout=5, response_timeout=10)
        assert c.hello("op1", "test")["params"]["tz"] == "Asia/Shanghai"
        segs = c.call(Request(MsgType.SEGMENT_LIST, {}))["segments"]
        assert len(segs) == 6 and sum(s["customers"] for s in segs) == 600
        route = c.call(Request(MsgType.ROUTE_DOWNLOAD, {"segment": segs[0]["segment"], "page": 1, "page_size": 100,
                                                        "op": "1001"}))  # the demo operator of every demo segment
        cust = next(i for i in route["items"] if i["arrears"])
        owed = sum(a["amount"] + a["penalty"] for a in cust["arrears"])
        paid = c.call(Request(MsgType.PAYMENT, {"txn": "00000042-1", "cust": cust["cust"], "amount": owed,
                                                "method": "cash", "at": iso(now())}))
        assert paid["arrears"] == 0 and paid["to_balance"] == 0
        assert c.call(Request(MsgType.BILL_QUERY, {"cust": cust["cust"]}))["arrears"] == []
        rev = c.call(Request(MsgType.REVERSAL, {"txn": "00000042-2", "orig": "00000042-1", "reason": "wrong amount",
                                                "at": iso(now())}))
        assert rev["arrears"] == owed
        c.call(Request(MsgType.PAYMENT, {"txn": "00000042-3", "cust": cust["cust"], "amount": 100, "method": "cash",
                                         "at": iso(now())}))
        status = c.call(Request(MsgType.TXN_STATUS, {"txns": ["00000042-1", "00000042-3", "00000042-4"]}))["status"]
        assert status == {"00000042-1": "applied", "00000042-3": "applied", "00000042-4": "unknown"}
        rec = c.call(Request(MsgType.RECONCILE, {"day": now().date().isoformat(), "count": 1, "amount": 100,
                                                 "txns": ["00000042-3"]}))
        assert rec["match"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # the station dumps its threads' stacks, then we stop it
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                pass
            proc.kill()
            pytest.fail("the station did not stop on SIGINT; its stacks:\n" + proc.stderr.read()[-6000:])
        finally:
            proc.stdout.close()
            proc.stderr.close()
    assert proc.returncode == 0
    out = subprocess.run([sys.executable, "-m", "hw_mocks.cli", "station", "--verify-audit", "--db", str(db)],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and '"rows": 18' in out.stdout, out.stdout + out.stderr
