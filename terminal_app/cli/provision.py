"""``handheld provision``: give the terminal its identity, key, suite, APN and station; check with HELLO.

    handheld [--config FILE] provision [--terminal-id ID] [--suite 1|2] [--station HOST:PORT]
        [--apn APN] [--apn-user U] [--apn-password]
        [--key keep|enter|generate] [--station-file FILE] [--operator OP] [--no-check]

* The settings are written into the configuration file (``--config``, ``$HANDHELD_CONFIG`` or
  /etc/handheld/config.toml) in place: only the lines of the changed keys are touched, every
  other setting and comment stays.  The new file is validated (it must parse and load, and
  read back exactly the values given) before it atomically replaces the old one.
* The terminal master key goes to ``[station] key_file`` (root-only, mode 0600, written
  atomically) and is NEVER printed.  ``--key enter`` reads 32 hex digits without echo (twice,
  to catch a typo) or, when stdin is not a terminal, one line from stdin.  ``--key generate``
  makes a random key and writes the station's ``[[terminal]]`` entry (id, suite, key — the
  format of the station's provisioning file) to ``--station-file`` (mode 0600) for the
  utility's key custodian.  ``--key keep`` (the default) keeps the key file as it is.
* ``--apn-password`` (no value: a secret never goes on the command line, where ``ps`` shows it to
  every user) reads the APN password without echo, twice, or — when stdin is not a terminal —
  one line from stdin (after the key's line when ``--key enter`` reads one too).
* A new key (``--key enter`` with another key, or ``--key generate``) restarts the message counter
  (GT/1 seq) in the counter file and in the journal: seqs are unique per key, and a re-key is
  how a terminal whose seq neared 2**32 − 1 goes on (docs/operations.md, "Re-key a terminal").
* Then one HELLO checks it all with the master station (``--no-check`` skips it, e.g. in the
  workshop without coverage).  Exit status: 0 saved and checked; 1 refused (nothing written)
  or saved but the HELLO failed (the message says what to check); 2 the station refused.

Changing the terminal id is refused while the journal at ``[journal] path`` belongs to another
id: its entries must be synced and the file moved aside first (docs/operations.md).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import secrets
import sqlite3
import sys
import tempfile
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Table

from terminal_app.domain.ids import TerminalId
from terminal_app.errors import ConfigurationError

#: APN: 3GPP TS 23.003 §9 labels (letters, digits, hyphen) joined by dots, at most 100 octets;
#: a quote would break the AT+CSTT="…" / AT+QICSGP command line it is sent in.
APN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,98}[A-Za-z0-9])?$")
CREDENTIAL_RE = re.compile(r'^[\x20-\x7e]{0,64}$')
HOST_RE = re.compile(r"^[A-Za-z0-9.\-]{1,253}$|^\[[0-9A-Fa-f:.]{2,45}\]$")
#: --apn-password given alone: ask for it
ASK = object()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("provision", help="set terminal id, key, suite, APN and station; check with HELLO",
                              description="Set the terminal id, key, suite, APN and station address in the "
                                          "configuration file (other settings are kept) and check them with "
                                          "one HELLO to the master station.  The key is never printed.")
    p.add_argument("--terminal-id", help="the 8-digit terminal id the utility issued")
    p.add_argument("--suite", type=int, choices=(1, 2), help="GT/1 cipher suite: 1 = 3DES, 2 = AES-GCM")
    p.add_argument("--station", metavar="HOST:PORT", help="master station address, e.g. 10.8.0.5:7600")
    p.add_argument("--apn", help="the private APN of the utility's SIM cards")
    p.add_argument("--apn-user", help="APN user name (if the APN needs one)")
    p.add_argument("--apn-password", nargs="?", const=ASK, default=None, metavar="",
                   help="ask for the APN password (typed without echo, or one line from stdin); never give it"
                        " on the command line")
    p.add_argument("--key", choices=("keep", "enter", "generate"), default="keep",
                   help="keep the key file (default), enter 32 hex digits, or generate a random key")
    p.add_argument("--station-file", metavar="FILE",
                   help="with --key generate: where to write the station's [[terminal]] entry (mode 0600)")
    p.add_argument("--operator", default="0000", help="operator id sent in the checking HELLO (default 0000)")
    p.add_argument("--no-check", action="store_true", help="do not check with a HELLO")
    p.add_argument("--restart-seq", action="store_true",
                   help="restart the message counter at 1 although the key did not change: only to finish a re-key"
                        " that was interrupted (docs/operations.md)")
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------- validation

def parse_station(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) → (host, port), or ConfigurationError."""
    host, sep, port_s = text.strip().rpartition(":")
    if not sep or not HOST_RE.match(host) or not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ConfigurationError("The station address {value!r} is not HOST:PORT.",
                                 "Give it like 10.8.0.5:7600 (the utility's master station).", value=text[:80])
    return host.strip("[]"), int(port_s)


def check_terminal_id(value: str) -> str:
    return str(TerminalId(value, "Give the 8-digit id the utility issued, e.g. 00000001."))


def check_apn(value: str) -> str:
    if not APN_RE.match(value):
        raise ConfigurationError("The APN {value!r} is not a valid APN name.",
                                 "Use letters, digits, dots and hyphens only, as on the SIM's paperwork.",
                                 value=value[:40])
    return value


def check_credential(value: str, what: str) -> str:
    if not CREDENTIAL_RE.match(value) or '"' in value:
        raise ConfigurationError("The {field} has characters the modem cannot take.",
                                 "Use at most 64 printable ASCII characters, no double quote.", field=what)
    return value


def parse_key_hex(text: str) -> bytes:
    """32 hex digits (spaces, dashes and colons between groups allowed) → 16 bytes.  The key never
    appears in the error."""
    digits = re.sub(r"[\s:\-]", "", text)
    if len(digits) != 32 or not re.fullmatch(r"[0-9A-Fa-f]{32}", digits):
        raise ConfigurationError("The key entered is not 32 hex digits (it had {n} characters after removing "
                                 "spaces).", "Enter the 32 hex digits of the terminal key again.", n=len(digits))
    return bytes.fromhex(digits)


# ----------------------------------------------------------------------------- TOML editing

def set_value(doc: tomlkit.TOMLDocument, table: str, key: str, value: str | int) -> None:
    """Set ``[table] key = value`` in ``doc`` (tomlkit keeps every other line, comment and blank as
    it was), adding the table when it is missing.  Only standard ``[a.b]`` tables are edited: a
    table written inline (``b = { … }``) or an array of tables is left to a person (ConfigurationError)."""
    node: Any = doc
    parts = table.split(".")
    for i, part in enumerate(parts):
        if part not in node:
            node.add(part, tomlkit.table(is_super_table=i < len(parts) - 1))
        node = node[part]
        if not isinstance(node, Table):
            raise ConfigurationError("[{table}] is not a plain table in the configuration.",
                                     "Set the values by hand in the file, then run provision again.", table=table)
    node[key] = value


def _lookup(data: Mapping[str, Any], table: str, key: str) -> Any:
    node: Any = data
    for part in table.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node.get(key) if isinstance(node, Mapping) else None


def edit_config(text: str, changes: list[tuple[str, str, str | int]], source: str) -> str:
    """Apply ``changes`` ((table, key, value)…) and prove the result reads back as intended."""
    try:
        doc = tomlkit.parse(text)
        for table, key, value in changes:
            set_value(doc, table, key, value)
        new = tomlkit.dumps(doc)
    except (tomlkit.exceptions.TOMLKitError, ConfigurationError) as e:
        raise ConfigurationError("The configuration {path} could not be edited safely ({error}).",
                                 "Set the values by hand in the file, then run provision with --key only.",
                                 path=source, error=str(e)) from e
    try:
        data = tomllib.loads(new)
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError("The configuration {path} could not be edited safely ({error}).",
                                 "Set the values by hand in the file, then run provision with --key only.",
                                 path=source, error=str(e)) from e
    for table, key, value in changes:
        if _lookup(data, table, key) != value:
            raise ConfigurationError("The configuration {path} could not be edited safely ([{table}] {key}).",
                                     "Set the values by hand in the file, then run provision again.",
                                     path=source, table=table, key=key)
    return new


# ----------------------------------------------------------------------------- files

def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` so that a crash leaves the old file or the new one, never a mix.

    The temporary file is created with ``mode`` from the start (a key is never readable by
    others, not even for a moment), fsynced, renamed over ``path``, and the directory fsynced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def journal_owner(path: str) -> str | None:
    """The terminal id a journal file belongs to (read-only), or None when there is none yet."""
    p = Path(path)
    if not p.exists():
        return None
    uri = "file:" + urllib.parse.quote(str(p.resolve())) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'terminal_id'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise ConfigurationError("The journal {path} cannot be read to check its terminal id ({error}).",
                                 "Run handheld selftest and see docs/operations.md.", path=str(p),
                                 error=str(e)) from e
    return None if row is None else str(row[0])


def _read_key_interactively() -> bytes:
    if sys.stdin is not None and sys.stdin.isatty():
        first = parse_key_hex(getpass.getpass("终端密钥 terminal key (32 hex): "))
        again = parse_key_hex(getpass.getpass("再输一遍 again: "))
        if not secrets.compare_digest(first, again):
            raise ConfigurationError("The two keys entered differ.", "Enter the key again, carefully.")
        return first
    line = sys.stdin.readline(200) if sys.stdin is not None else ""
    return parse_key_hex(line)


def _read_secret_interactively(prompt: str) -> str:
    """A secret typed twice without echo, or one line from stdin when it is not a terminal."""
    if sys.stdin is not None and sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if not secrets.compare_digest(first.encode(), getpass.getpass("再输一遍 again: ").encode()):
            raise ConfigurationError("The two entries differ.", "Enter it again, carefully.")
        return first
    line = sys.stdin.readline(200) if sys.stdin is not None else ""
    return line.rstrip("\r\n")


def _config_path(args: argparse.Namespace) -> Path:
    from terminal_app.config import DEFAULT_CONFIG_PATH

    return Path(getattr(args, "config", None) or os.environ.get("HANDHELD_CONFIG") or DEFAULT_CONFIG_PATH)


# ----------------------------------------------------------------------------- the command

def run(args: argparse.Namespace) -> int:
    from terminal_app.config import load_settings, read_key_file
    from terminal_app.station.protocol import Suite, check_key

    cfg = _config_path(args)
    # 1. everything is validated before anything is written
    changes: list[tuple[str, str, str | int]] = []
    if args.terminal_id is not None:
        changes.append(("terminal", "id", check_terminal_id(args.terminal_id)))
    if args.suite is not None:
        changes.append(("station", "suite", args.suite))
    if args.station is not None:
        host, port = parse_station(args.station)
        changes += [("station", "host", host), ("station", "port", port)]
    if args.apn is not None:
        changes.append(("devices.modem", "apn", check_apn(args.apn)))
    if args.apn_user is not None:
        changes.append(("devices.modem", "apn_user", check_credential(args.apn_user, "APN user name")))
    if args.apn_password is not None and args.apn_password is not ASK:
        # never echo it back: it was typed where everyone can read it, not here too
        raise ConfigurationError("The APN password is not taken on the command line: every user of the terminal "
                                 "can read a command line (ps).",
                                 "Give --apn-password alone and type the password when asked (or pipe it in).")
    if args.key == "generate" and not args.station_file:
        raise ConfigurationError("A generated key must also reach the master station.",
                                 "Add --station-file FILE: the station's [[terminal]] entry is written there.")
    if args.station_file and args.key != "generate":
        raise ConfigurationError("--station-file is only written with --key generate.",
                                 "Add --key generate, or leave --station-file out.")
    if not changes and args.key == "keep" and args.no_check and args.apn_password is not ASK \
            and not args.restart_seq:
        raise ConfigurationError("Nothing to provision.", "Give at least one setting, a key, or drop --no-check.")

    try:
        old_text = cfg.read_text(encoding="utf-8")
        old_mode = cfg.stat().st_mode & 0o777
    except FileNotFoundError:
        old_text, old_mode = "", 0o644
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigurationError("The configuration {path} cannot be read ({error}).",
                                 "Run as root and check the file.", path=str(cfg), error=str(e)) from e
    try:
        old_settings = load_settings(cfg, env={}) if old_text else _load_text("", cfg)
    except ConfigurationError as e:
        raise ConfigurationError("The configuration {path} is not valid now: {error}",
                                 "Correct it by hand first (provision keeps every other setting).",
                                 path=str(cfg), error=str(e)) from e
    new_text = edit_config(old_text, changes, str(cfg)) if changes else old_text
    new_settings = _load_text(new_text, cfg)
    suite = Suite(new_settings.station.suite)
    key_path = Path(new_settings.station.key_file)

    old_key = _current_key(key_path)
    key: bytes | None = None
    if args.key == "enter":
        key = _read_key_interactively()
    if args.apn_password is ASK:
        password = check_credential(_read_secret_interactively("APN 密码 APN password: "), "APN password")
        new_text = edit_config(new_text, [("devices.modem", "apn_password", password)], str(cfg))
        changes.append(("devices.modem", "apn_password", "***"))
    elif args.key == "generate":
        key = secrets.token_bytes(16)
        while suite == Suite.TDES and key[:8] == key[8:]:  # vanishingly rare; never hand out single DES
            key = secrets.token_bytes(16)
    if key is not None:
        check_key(key, suite)
    elif not args.no_check:
        check_key(read_key_file(key_path), suite)  # the kept key must exist, be root-only, suit the suite

    if new_settings.terminal.id != old_settings.terminal.id or not old_text:
        owner = journal_owner(new_settings.journal.path)
        if owner is not None and owner != new_settings.terminal.id:
            raise ConfigurationError(
                "The journal {path} belongs to terminal {owner}; the id cannot change under it.",
                "Sync every entry, then move the journal aside as docs/operations.md says, and run again.",
                path=new_settings.journal.path, owner=owner)

    # 2. write: the station file first (a generated key is useless if it is lost), then key, config
    writes: list[tuple[Path, bytes, int]] = []
    if key is not None and args.key == "generate":
        entry = (f'# station provisioning entry for terminal {new_settings.terminal.id} '
                 f'(hw_mocks.station / the utility\'s key custodian)\n[[terminal]]\n'
                 f'id = "{new_settings.terminal.id}"\nsuite = {int(suite)}\nkey = "{key.hex()}"\n')
        writes.append((Path(args.station_file), entry.encode("ascii"), 0o600))
    if key is not None:
        writes.append((key_path, (key.hex() + "\n").encode("ascii"), 0o600))
    if new_text != old_text:
        # a config holding the APN password is not for other users' eyes
        mode = old_mode & ~0o007 if args.apn_password is ASK else old_mode
        writes.append((cfg, new_text.encode("utf-8"), mode))
    for path, data, mode in writes:
        try:
            write_atomic(path, data, mode)
        except OSError as e:
            raise ConfigurationError("Cannot write {path} ({error}).",
                                     "Run provision as root (sudo handheld provision …); files written before "
                                     "it are complete, run it again.", path=str(path), error=e.strerror or str(e)) from e

    # 3. a new key restarts the message counters (after the key is safely on disk: a crash in
    # between leaves the new key with the old, higher counters — never an old key with low ones)
    rekeyed = args.restart_seq or key is not None and (old_key is None or not secrets.compare_digest(old_key, key))
    if rekeyed:
        _restart_seq(new_settings)

    said = [f"{t}.{k}" if t != "devices.modem" else f"modem.{k}" for t, k, _ in changes]
    summary = {"config": str(cfg), "changed": said,
               "key": {"keep": "kept", "enter": "entered", "generate": "generated"}[args.key],
               "key_file": str(key_path), "seq": "restarted" if rekeyed else "kept"}
    if args.key == "generate":
        summary["station_file"] = args.station_file
    if args.no_check:
        print(json.dumps({"ok": True, "checked": False, **summary}, ensure_ascii=False))
        return 0
    return _check(cfg, args.operator, summary)


def _current_key(path: Path) -> bytes | None:
    """The key the file holds now (whatever its mode), or None: to tell a new key from the same one."""
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return key if len(key) == 16 else None


def _restart_seq(settings: Any) -> None:
    """GT/1 seqs are unique per key: under a new key the counter file and the journal start at 1."""
    from offline_queue.journal import Journal
    from terminal_app.errors import HandheldError
    from terminal_app.station.seq import FileSeqCounter

    try:
        FileSeqCounter(settings.station.seq_file).restart()
        if Path(settings.journal.path).exists():
            with Journal.open(settings.journal.path, settings.terminal.id) as journal:
                journal.restart_seq()
    except HandheldError as e:
        raise ConfigurationError("The new key is saved, but the message counter could not be restarted: {error}",
                                 "Stop the terminal (systemctl stop handheld), then run: handheld provision"
                                 " --restart-seq.", error=str(e)) from e


def _load_text(text: str, cfg: Path) -> Any:
    """The settings ``text`` would give (file layer only), without writing it anywhere."""
    from terminal_app.config import load_settings

    with tempfile.TemporaryDirectory(prefix="handheld-provision-") as d:
        tmp = Path(d) / "config.toml"
        tmp.write_text(text, encoding="utf-8")
        try:
            return load_settings(tmp, env={})
        except ConfigurationError as e:
            raise ConfigurationError("The new settings are not valid: {error}", "Nothing was written; correct them.",
                                     error=str(e).replace(str(tmp), str(cfg))) from e


def _check(cfg: Path, operator: str, summary: dict[str, Any]) -> int:
    from terminal_app import __version__
    from terminal_app.config import load_settings
    from terminal_app.errors import HandheldError
    from terminal_app.station.client import StationRefusedError, client_from_settings

    settings = load_settings(cfg)
    try:
        client = client_from_settings(settings)
        body = client.hello(operator, __version__)
    except HandheldError as e:
        print(json.dumps({"ok": False, "checked": True, "error": str(e), **summary}, ensure_ascii=False))
        print(f"handheld: provisioning saved, but the check with the master station failed: {e}", file=sys.stderr)
        print("handheld: 设置已保存，但与主站的核对失败：请核对终端号、密钥、加密套件、APN 和主站地址，"
              "或到有信号的地方再运行 handheld provision。", file=sys.stderr)
        return 2 if isinstance(e, StationRefusedError) else 1
    print(json.dumps({"ok": True, "checked": True, "station_time": body.get("time"),
                      "round_trip_s": round(client.last_round_trip or 0.0, 3), **summary}, ensure_ascii=False))
    return 0
