"""Terminals for the console: provision, re-key and revoke in the provisioning file (TOML, mode 600).

A new key is 16 random bytes (``secrets``), written to the file and shown to the administrator
once, on the answer to the request that made it; it is never logged (the action trail keeps its
public key_id) and never shown again.  The file is rewritten whole: a temporary file of mode 600
beside it, fsynced, then renamed over it, so a crash leaves the old file or the new one.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from hw_mocks.station.provisioning import TerminalKey, load_terminals
from terminal_app.station.protocol import check_key


def read(path: str | os.PathLike[str]) -> dict[str, TerminalKey]:
    return load_terminals(path) if Path(path).exists() else {}


def write(path: str | os.PathLike[str], terminals: Mapping[str, TerminalKey]) -> None:
    p = Path(path)
    lines = ["# written by the station console; keys are secret: mode 600", ""]
    for t in sorted(terminals.values(), key=lambda t: t.id):
        lines += ["[[terminal]]", f'id = "{t.id}"', f"suite = {t.suite}", f'key = "{t.key.hex()}"', ""]
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".terminals-", suffix=".toml")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def new_key(suite: int) -> bytes:
    while True:
        key = secrets.token_bytes(16)
        try:
            check_key(key, suite)
            return key
        except Exception:  # noqa: BLE001 — a 3DES key with equal halves (never in practice): draw again
            continue


def change(path: str | os.PathLike[str], tid: str, suite: int | None,
           on_change: Callable[[dict[str, TerminalKey]], None] | None = None) -> TerminalKey | None:
    """Provision or re-key ``tid`` (``suite`` given) or revoke it (``suite`` None); returns the new key."""
    terms = read(path)
    made = None
    if suite is None:
        if tid not in terms:
            raise KeyError(tid)
        del terms[tid]
    else:
        made = TerminalKey(tid, suite, new_key(suite))
        terms[tid] = made
    write(path, terms)
    if on_change:
        on_change(terms)
    return made
