"""The mock acquirer (``handheld-mocks acquirer``) as a process for tests, and customers' codes whose
last four digits pick its scenario (docs/acquirer.md "Scenarios")."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hw_mocks.station.acquirer import order_number
from terminal_app.domain.paycode import PayChannel

ROOT = Path(__file__).resolve().parents[2]
#: a whole WeChat Pay or Alipay code anywhere in a text (paycode's published formats)
WHOLE_CODE = re.compile(r"(?<![0-9])(1[0-5][0-9]{16}|(2[5-9]|30)[0-9]{14,22})(?![0-9])")


def make_keys(keys: Path) -> Path:
    subprocess.run([sys.executable, "-m", "hw_mocks.cli", "acquirer", "--make-keys", str(keys)], cwd=ROOT,
                   check=True, capture_output=True)
    return keys


@contextlib.contextmanager
def running_acquirer(keys: Path, hang_seconds: float = 1.0, log_file: Path | None = None) -> Iterator[dict[str, Any]]:
    """The mock as a process on a free port: ``{"url", "keys", "proc"}``; its log (``-v``) goes to
    ``log_file`` (a test greps it for whole codes)."""
    log_file = log_file or keys.parent / f"{keys.name}-acquirer.log"
    with open(log_file, "a", encoding="utf-8") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hw_mocks.cli", "acquirer", "--port", "0", "--keys", str(keys),
                                 "--hang-seconds", str(hang_seconds), "-v"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=err, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocking: the process prints the bound port once listening
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, f"acquirer did not start: {line!r}"
        yield {"url": f"http://127.0.0.1:{m.group(1)}", "keys": keys, "proc": proc, "log": log_file}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def code_for(channel: PayChannel, serial: int, scenario_digits: str) -> str:
    """A code of the channel's format: 18 digits (WeChat) / 18 digits (Alipay), the last four pick the scenario."""
    return (f"1345{serial:010d}" if channel is PayChannel.WECHAT else f"2876{serial:010d}") + scenario_digits


def books(url: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The mock's own books (``/_mock/orders``, codes redacted) by (channel, merchant order number)."""
    with urllib.request.urlopen(url + "/_mock/orders", timeout=10) as r:
        return {(o["channel"], o["out_trade_no"]): o for o in json.loads(r.read())}


def order_of(url: str, channel: PayChannel, txn: str) -> dict[str, Any] | None:
    return books(url).get((channel.value, order_number(txn, channel)))
