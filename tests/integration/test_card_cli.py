"""``handheld-mocks card --link PATH`` as a process: the production driver reads its card, the
stdin commands move the card, SIGTERM ends it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.ic_card.card import PrepaidCard, SgccUserCard
from drivers.ic_card.protocol import CardPresence
from drivers.ic_card.reader import SerialCardReader
from tests.util import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("scheme", ["sgcc", "gt1"])
def test_mock_card_cli_serves_a_card_and_takes_commands(tmp_path, scheme):
    link = tmp_path / "ttyCard"
    proc = subprocess.Popen([sys.executable, "-m", "hw_mocks.cli", "card", "--link", str(link), "--count", "7",
                             "--amount", "12345", "--scheme", scheme], stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        wait_for(link.exists, 20, what="the mock's pty link")
        with SerialCardReader(str(link), timeout_s=2.0) as reader:
            contents = (SgccUserCard if scheme == "sgcc" else PrepaidCard)(reader).read()
            cust = "000000001003" if scheme == "sgcc" else "1003"  # a State Grid card: 12 digits
            assert (contents.params.cust, contents.purchase.count, contents.purchase.amount) == (cust, 7, 12345)
            proc.stdin.write(b"remove\n")
            proc.stdin.flush()
            wait_for(lambda: reader.presence() is CardPresence.ABSENT, 10, what="the card leaving the slot")
            proc.stdin.write(b"insert\n")
            proc.stdin.flush()
            wait_for(lambda: reader.presence() is CardPresence.PRESENT, 10, what="the card back in the slot")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert not link.exists()  # the mock removed its link
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(20)
        proc.stdin.close()
        proc.stderr.close()
