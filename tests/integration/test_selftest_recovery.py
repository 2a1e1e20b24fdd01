"""docs/operations.md "Recover from a corrupt journal", run as written, ends with a journal that passes selftest.

The commands are taken from the document itself (placeholders filled in), so the procedure a
technician follows is the one tested.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from offline_queue import migrations
from terminal_app.cli import main
from terminal_app.station.protocol import encode_body_fast

ROOT = Path(__file__).resolve().parents[2]
TID = "00000007"
N = 300


def doc_commands(workdir: Path, aside_name: str, floor: int) -> str:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("## Recover from a corrupt journal", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    script = "\n".join(re.sub(r"^ {3}", "", line) for block in blocks for line in block.splitlines())
    keep = [line for line in script.splitlines()
            if not any(skip in line for skip in ("systemctl", "/media/usb", "handheld selftest"))]
    script = "\n".join(keep)
    return (script.replace("/var/lib/handheld", str(workdir)).replace("journal.sqlite.corrupt-<time>", aside_name)
            .replace("<terminal id>", TID).replace("<n>", str(floor))
            .replace("<version>", str(migrations.LATEST)))  # what the damaged file was written with


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 command is not installed")
def test_the_documented_recovery_gives_a_journal_that_passes_selftest(tmp_path, capsys, monkeypatch):
    from offline_queue.journal import Journal
    from terminal_app.errors import StorageError

    for name in ("HANDHELD_CONFIG", "HANDHELD_JOURNAL__PATH", "HANDHELD_TERMINAL__ID"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "journal.sqlite"
    with Journal.open(path, TID) as j:
        for i in range(N):
            j.capture("payment", 0x0202, encode_body_fast({"cust": "1001", "amount": 100 + i, "method": "cash", "note": "收费" * 60}))
        originals = {e.id: e.body for e in j.entries()}
    with open(path, "r+b") as f:  # a torn write in the middle of the entries
        f.seek(4096 * 5)
        f.write(b"\xde\xad" * 2048)
    with pytest.raises(StorageError, match="damaged"):
        Journal.open(path, TID)
    aside = next(tmp_path.glob("journal.sqlite.corrupt-*"))

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[terminal]\nid = "{TID}"\n[journal]\npath = "{path}"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "selftest", "--only", "journal"]) == 1
    assert "运维手册" in capsys.readouterr().out

    script = doc_commands(tmp_path, aside.name, floor=N)  # the station says its highest txn is N
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout.splitlines()  # PRAGMA integrity_check of the recovered file
    assert (tmp_path / "aside" / aside.name).exists()  # kept, out of the journal's directory

    assert main(["--config", str(cfg), "selftest", "--only", "journal", "--json"]) == 0
    journal_check = [c for c in json.loads(capsys.readouterr().out)["checks"] if c["key"] == "journal"]
    with Journal.open(path, TID) as j:
        recovered = {e.id: e.body for e in j.entries()}
        # nobody knows which had left: every one is asked about (TXN_STATUS) before any resend
        assert {e.state.value for e in j.entries()} == {"unknown"}
        assert f"unsynced {len(recovered)}" in journal_check[0]["detail"]
        fresh = j.capture("payment", 0x0202, encode_body_fast({"cust": "1001", "amount": 1, "method": "cash"}))
    assert N * 0.8 < len(recovered) < N  # most of it back; the torn page's entries are not
    assert all(originals[i] == body for i, body in recovered.items())  # byte for byte
    assert fresh.id == N + 1  # no transaction number reused
