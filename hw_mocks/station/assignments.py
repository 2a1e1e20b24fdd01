"""Segment assignments (表段分配): which operator (操作员) reads which segment (表段).

ROUTE_DOWNLOAD answers a segment only to the operator it is assigned to now (docs/protocol.md);
a segment never assigned is answered to nobody.  The ``segment_assignments`` table is
append-only (the console's triggers refuse UPDATE and DELETE): the latest row per segment
holds, so the history of who read what, assigned by whom and when, is never edited away.

Three ways to assign, all ending in :func:`assign`: the console's 抄表段 page, the station CLI
(``handheld-mocks station assign --segment S --operator O``) and an assignments file
(``handheld-mocks station assign --file F``, format in docs/station.md)::

    # 表段号 = 操作员号
    [assignments]
    "010101" = "1001"
    "010201" = "1002"

A file is checked whole before anything is written (every segment known, every operator 1–8
digits, at most MAX_FILE_BYTES); then all of it is written in one transaction.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tomllib
from collections.abc import Iterable
from pathlib import Path

from terminal_app.errors import ConfigurationError
from terminal_app.timeutil import Clock, iso

OPERATOR_RE = re.compile(r"[0-9]{1,8}")  # ASCII digits only (a bare \d also matches other scripts' digits)
SEGMENT_RE = re.compile(r"[0-9A-Za-z]{1,16}")
#: an assignments file is a few lines per segment; anything larger is not one
MAX_FILE_BYTES = 256 * 1024


def operator_of(conn: sqlite3.Connection, segment: str) -> str | None:
    """The operator ``segment`` is assigned to now, or None."""
    row = conn.execute("SELECT operator FROM segment_assignments WHERE segment = ? ORDER BY id DESC LIMIT 1",
                       (segment,)).fetchone()
    return None if row is None else str(row[0])


def current(conn: sqlite3.Connection) -> dict[str, str | None]:
    """Every segment with the operator it is assigned to now (None: not assigned)."""
    return {seg: operator_of(conn, seg) for (seg,) in conn.execute("SELECT segment FROM segments ORDER BY segment")}


def check(conn: sqlite3.Connection, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``pairs`` validated (raises ConfigurationError naming the first bad one)."""
    out = []
    for segment, operator in pairs:
        if not isinstance(segment, str) or not SEGMENT_RE.fullmatch(segment):
            raise ConfigurationError("Segment {segment!r} is not a segment number (1–16 letters or digits).",
                                     "Correct it and run again.", segment=str(segment)[:40])
        if not isinstance(operator, str) or not OPERATOR_RE.fullmatch(operator):
            raise ConfigurationError("Operator {operator!r} of segment {segment} is not 1–8 digits.",
                                     "Correct it and run again.", operator=str(operator)[:40], segment=segment)
        if conn.execute("SELECT 1 FROM segments WHERE segment = ?", (segment,)).fetchone() is None:
            raise ConfigurationError("Segment {segment} is not known at the station.",
                                     "Check the segment number (handheld-mocks station assignments lists them).",
                                     segment=segment)
        out.append((segment, operator))
    return out


def assign(conn: sqlite3.Connection, pairs: Iterable[tuple[str, str]], *, by: str,
           clock: Clock | None = None) -> int:
    """Assign each (segment, operator) in one transaction; returns how many rows were written.
    A pair that is already the current assignment is not written again."""
    now = iso((clock or Clock()).now())
    checked = check(conn, pairs)
    conn.execute("BEGIN IMMEDIATE")
    try:
        n = 0
        for segment, operator in checked:
            if operator_of(conn, segment) == operator:
                continue
            conn.execute("INSERT INTO segment_assignments (segment, operator, by_user, at) VALUES (?, ?, ?, ?)",
                         (segment, operator, by, now))
            n += 1
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    return n


def read_file(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """The (segment, operator) pairs of an assignments file (module docstring), in file order."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ConfigurationError("The assignments file {path} is larger than {max} bytes.",
                                     "Check that it is the right file.", path=str(p), max=MAX_FILE_BYTES)
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigurationError("The assignments file {path} cannot be read ({error}).", "Check the path.",
                                 path=str(p), error=os.strerror(e.errno or 0)) from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigurationError("The assignments file {path} is not valid TOML ({error}).",
                                 "Correct it (docs/station.md, segment assignments).", path=str(p),
                                 error=str(e)[:200]) from e
    table = data.get("assignments")
    if not isinstance(table, dict) or set(data) - {"assignments"}:
        raise ConfigurationError("The assignments file {path} needs one [assignments] table and nothing else.",
                                 "Write it as docs/station.md shows: [assignments] then \"segment\" = \"operator\".",
                                 path=str(p))
    return [(k, v) for k, v in table.items()]
