"""Which terminals the station knows: id, cipher suite and terminal master key (TMK).

The file is TOML with one ``[[terminal]]`` table per terminal::

    [[terminal]]
    id = "00000001"      # 8 ASCII digits
    suite = 2            # 1 = 3DES + retail MAC, 2 = AES-128-GCM
    key = "00112233445566778899aabbccddeeff"   # 32 hex digits

Keys never appear in messages or reprs (``TerminalKey.__repr__`` hides them).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terminal_app.errors import ConfigurationError
from terminal_app.station.protocol import check_key


@dataclass(frozen=True, slots=True)
class TerminalKey:
    id: str
    suite: int
    key: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return key_id(self.key)


def key_id(key: bytes) -> str:
    """A public name of a key (16 hex digits of a domain-separated SHA-256): the ledger keeps it
    with the terminal's last seq, so that a new key — a re-keyed terminal — restarts the seq.
    It reveals nothing usable about a 128-bit random key."""
    return hashlib.sha256(b"GT/1 key id\x00" + bytes(key)).hexdigest()[:16]


def parse_terminals(data: Mapping[str, Any], source: str = "provisioning") -> dict[str, TerminalKey]:
    """Validate a parsed provisioning document; return the terminals by id."""
    tables = data.get("terminal", [])
    if not isinstance(tables, list):
        raise ConfigurationError("{source}: 'terminal' must be an array of tables ([[terminal]]).",
                                 "Write one [[terminal]] table per terminal.", source=source)
    unknown = set(data) - {"terminal"}
    if unknown:
        raise ConfigurationError("{source}: unknown key(s) {names}.", "Remove them.", source=source,
                                 names=", ".join(sorted(unknown)))
    out: dict[str, TerminalKey] = {}
    for n, t in enumerate(tables, 1):
        if not isinstance(t, Mapping) or set(t) != {"id", "suite", "key"}:
            raise ConfigurationError("{source}: terminal #{n} must have exactly id, suite and key.",
                                     "Correct that [[terminal]] table.", source=source, n=n)
        tid, suite, key_hex = t["id"], t["suite"], t["key"]
        if not (isinstance(tid, str) and len(tid) == 8 and tid.isascii() and tid.isdigit()):
            raise ConfigurationError("{source}: terminal #{n} id is not 8 digits.",
                                     'Write the id as a quoted string of 8 digits, e.g. "00000001".',
                                     source=source, n=n)
        if suite not in (1, 2) or isinstance(suite, bool):
            raise ConfigurationError("{source}: terminal {tid} suite must be 1 or 2.",
                                     "Use 1 (3DES) or 2 (AES-GCM).", source=source, tid=tid)
        try:
            key = bytes.fromhex(key_hex) if isinstance(key_hex, str) else b""
        except ValueError:
            key = b""
        if len(key) != 16:
            # never echo the key text: it may be a real key with a typo
            raise ConfigurationError("{source}: terminal {tid} key is not 32 hex digits.",
                                     "Provision the key again.", source=source, tid=tid)
        try:
            check_key(key, suite)  # the codec's own rules (e.g. 3DES halves must differ)
        except ConfigurationError as e:
            raise ConfigurationError("{source}: terminal {tid} key is unusable: {problem}",
                                     "Provision a proper key.", source=source, tid=tid, problem=e.what) from e
        if tid in out:
            raise ConfigurationError("{source}: terminal {tid} is listed twice.", "Keep one entry.",
                                     source=source, tid=tid)
        out[tid] = TerminalKey(tid, suite, key)
    return out


def load_terminals(path: str | os.PathLike[str]) -> dict[str, TerminalKey]:
    """Read the provisioning file; refuse one that group or others may read."""
    p = Path(path)
    try:
        st = p.stat()
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as e:
        raise ConfigurationError("Provisioning file {path} does not exist.",
                                 "Give the terminals file with --terminals.", path=str(p)) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError("Provisioning file {path} is not valid TOML: {error}.", "Fix the line it names.",
                                 path=str(p), error=str(e)) from e
    except OSError as e:
        raise ConfigurationError("Provisioning file {path} cannot be read.", "Check its permissions.",
                                 path=str(p)) from e
    if st.st_mode & 0o077:
        raise ConfigurationError("Provisioning file {path} is readable by other users (mode {mode:o}).",
                                 "Run: chmod 600 {path}.", path=str(p), mode=st.st_mode & 0o777)
    return parse_terminals(data, str(p))
