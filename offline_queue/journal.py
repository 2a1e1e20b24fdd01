"""The durable journal: every state-changing operation, committed before anything is printed or sent.

One SQLite file in WAL mode with ``synchronous=FULL`` (one fsync of the WAL per commit, durable
across power loss — field-facts "SQLite durability").  Single-writer rule: the journal owns ONE
connection, and every statement runs under the instance's lock, so use cases, the sync engine
and the UI may call it from any thread.  Never open the file with a second writer.

Lifecycle of an entry and what each step costs on disk::

    capture      pending              1 durable commit: ONE autocommit INSERT (the txn counter is
                                        the entry id; a trigger keeps ids unique forever)
    mark_in_flight  in_flight          1 commit for the WHOLE batch, fsynced only when it moves a
                                        high-water mark: the send mark or the GT/1 seq mark, each
                                        moved a block ahead (SEND_BLOCK, SEQ_BLOCK)
    settle       applied / rejected / pending (not sent) / unknown
                                        1 commit for the whole batch, NOT fsynced on its own

The capture — the money record — is always durable before anything is printed or sent.  The
bookkeeping commits after it may skip their own fsync because nothing they say is lost for good:
each is written to the WAL at once (a crash of the program loses nothing), and the next durable
commit's fsync covers it.  Only a power cut in between can undo them, and then:

* a lost in-flight mark: the entry reads ``pending`` again — but its id is below the durable send
  mark ``send_hw`` ("every entry below may have reached the station"), which is moved past the
  batch in the same commit whenever the batch reaches it, so always before the send.  At open,
  such entries are made ``unknown`` (:meth:`Journal.recover_in_flight`) and resolved with
  TXN_STATUS before anything is resent;
* a lost settlement: the entry reads ``in_flight`` (or ``pending`` below the send mark) and is
  resolved the same way; the station returns the original response for the repeated txn.

Nothing is lost or applied twice; at worst one extra TXN_STATUS round trip after a power cut.
A lifecycle costs one fsync, plus 1/SEND_BLOCK for the send mark and the amortised WAL
checkpoints — counted by :class:`JournalStats` and measured with strace in tests/bench/queue.py.

Entries never change content (a trigger refuses it): a resend is byte-for-byte the same body.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from offline_queue import migrations
from offline_queue.lifecycle import OPEN, SETTLE_EVENT, EntryState, Event, illegal, sources
from offline_queue.state import QueueStatus, Signal
from terminal_app.errors import LocalProtocolError, StorageError
from terminal_app.timeutil import SHANGHAI, Clock

#: bodies are sealed into one GT/1 frame (body ≤ 65535 bytes after padding / tag)
MAX_BODY_BYTES = 60000
#: GT/1 seq is a uint32
MAX_SEQ = 2**32 - 1
#: seqs reserved ahead in one durable write, so most sends need no extra fsync
SEQ_BLOCK = 256
#: entry ids the durable send mark is moved beyond the batch being sent: one fsync per this many
#: sends; after a power cut at most this many never-sent entries are asked about (TXN_STATUS)
SEND_BLOCK = 256
#: seconds between two free-space checks (os.statvfs) on the capture path
FREE_SPACE_CHECK_S = 0.5
#: bytes of WAL: cut back to this after a checkpoint, and laid out (zero-filled) at open, see
#: Journal._presize_wal; SQLite's default checkpoint every 1000 pages stays just below it
WAL_BYTES = 4 << 20


#: how the journal stores a settlement's reply (the body the station sent, decoded): compact JSON
_ENCODE_REPLY = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _check_body(body: bytes) -> bytes:
    """The journal stores the bytes it is given (the caller encodes: the core's GT/1 codec,
    ``terminal_app.station.protocol.encode_body_fast``); it only checks that they are one JSON
    object without a txn of its own, since the journal splices the txn in front."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise LocalProtocolError("A GT/1 body must be a JSON object, not {type}.", type=type(body).__name__)
    body = bytes(body)
    if body[:1] != b"{" or body[-1:] != b"}":
        raise LocalProtocolError("A GT/1 body must be a JSON object, not {type}.", type="bytes")
    if b'"txn"' in body:
        try:
            carries_txn = "txn" in json.loads(body)
        except ValueError as e:
            raise LocalProtocolError("A GT/1 body must be a JSON object, not {type}.", type="bytes") from e
        if carries_txn:
            raise LocalProtocolError("The operation already carries a txn; the journal assigns it.")
    return body


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    txn: str
    kind: str
    msg_type: int
    body: bytes
    depends_on: str | None
    state: EntryState
    captured_at: dt.datetime
    attempts: int
    reply: dict[str, Any] | None
    reject_code: str | None
    reject_msg: str | None
    settled_at: dt.datetime | None

    def body_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.body)
        return body


@dataclass(frozen=True, slots=True)
class Settlement:
    """What one exchange decided about one entry (input to :meth:`Journal.settle`)."""

    txn: str
    state: EntryState
    reply: Mapping[str, Any] | None = None
    code: str | None = None
    msg: str | None = None


@dataclass
class JournalStats:
    """Commits by durability: ``durable_commits`` each cost one WAL fsync (plus the rare
    checkpoint); ``relaxed_commits`` are written but ride on the next durable commit's fsync."""

    durable_commits: int = 0
    relaxed_commits: int = 0


_COLUMNS = ("id, kind, msg_type, body, depends_on, state, captured_at, attempts, reply, "
            "reject_code, reject_msg, settled_at")

def _sql_in(states: Sequence[EntryState]) -> str:
    return "(" + ", ".join(f"'{s.value}'" for s in states) + ")"


_OPEN_SQL = _sql_in(OPEN)
#: each event's guard, from the lifecycle table: the entry must be in one of these states
_GUARD_SQL = {event: _sql_in(sources(event)) for event in Event}
# recovery's SQL names the two states it moves (pending only below the send mark)
assert set(sources(Event.RECOVER)) == {EntryState.PENDING, EntryState.IN_FLIGHT}


def _row_to_entry(terminal_id: str, row: tuple[Any, ...]) -> Entry:
    (id_, kind, msg_type, body, depends_on, state, captured_at, attempts, reply,
     code, msg, settled_at) = row
    return Entry(id=id_, txn=f"{terminal_id}-{id_}", kind=kind, msg_type=msg_type, body=bytes(body),
                 depends_on=depends_on,
                 state=EntryState(state), captured_at=dt.datetime.fromisoformat(captured_at),
                 attempts=attempts, reply=json.loads(reply) if reply is not None else None,
                 reject_code=code, reject_msg=msg,
                 settled_at=dt.datetime.fromisoformat(settled_at) if settled_at else None)


def _storage_error(e: sqlite3.Error, path: Path) -> StorageError:
    code = getattr(e, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "full" in str(e):
        return StorageError("The journal {path} is full: the operation was NOT recorded.",
                            "Do not take money now; call the technician to free storage.", path=str(path))
    return StorageError("The journal {path} could not record the operation ({error}).",
                        "Do not take money now; call the technician.", path=str(path), error=e)


class JournalConfig(Protocol):
    """The ``[journal]`` values the queue reads (the core's JournalSettings is one)."""

    @property
    def path(self) -> str: ...
    @property
    def keep_days(self) -> int: ...
    @property
    def min_free_mb(self) -> int: ...
    @property
    def sync_batch_max(self) -> int: ...
    @property
    def backoff_base_s(self) -> float: ...
    @property
    def backoff_cap_s(self) -> float: ...


class TerminalConfig(Protocol):
    @property
    def id(self) -> str: ...


class QueueSettings(Protocol):
    """What :meth:`Journal.from_settings` and :meth:`SyncEngine.from_settings` read of the
    core's Settings: its ``journal`` and ``terminal`` tables."""

    @property
    def journal(self) -> JournalConfig: ...
    @property
    def terminal(self) -> TerminalConfig: ...


class Journal:
    """The terminal's journal.  Open with :meth:`open`; a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path, terminal_id: str, clock: Clock,
                 keep_days: int, min_free_bytes: int) -> None:
        self._conn = conn
        self.path = path
        self._dir = str(path.parent)
        self._space_ok_until = 0.0
        self.terminal_id = terminal_id
        self.clock = clock
        self.keep_days = keep_days
        self.min_free_bytes = min_free_bytes
        self._lock = threading.RLock()
        self._lock_fd: int | None = None  # set by open(): the held <journal>.lock
        self.stats = JournalStats()
        #: emitted after every committed change, with a short reason ("capture", "settle", ...)
        self.changed: Signal[str] = Signal()
        owner = self._meta("terminal_id")
        if owner is None:
            with self._write("open") as c:
                self._set_meta_on(c, "terminal_id", terminal_id)
        elif owner != terminal_id:
            raise StorageError("The journal {path} belongs to terminal {owner}, not {tid}.",
                               "Check [terminal] id and [journal] path; call the technician.",
                               path=str(path), owner=owner, tid=terminal_id)
        self._seq_next = int(self._meta("seq_hw"))
        self._seq_hw = self._seq_next
        self._send_hw = int(self._meta("send_hw"))
        # single writer: the txn counter lives in memory between commits (= next entries.id)
        top = conn.execute("SELECT max(id) FROM entries").fetchone()[0] or 0
        self._txn_next = max(int(top), int(self._meta("txn_floor"))) + 1
        # no entry below this id is open: open entries are found by an id range from here (one
        # full scan now, at open).  Only ever raised — a settled entry never reopens, and new
        # entries get ids from _txn_next up — by open_entries(), which sees where they start.
        low = conn.execute(f"SELECT min(id) FROM entries WHERE state IN {_OPEN_SQL}").fetchone()[0]
        self._open_floor = self._txn_next if low is None else int(low)
        self.recover_in_flight()

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike[str], terminal_id: str, *, clock: Clock | None = None,
             keep_days: int = 90, min_free_bytes: int = 1 << 20,
             allow_after_corruption: bool = False) -> Journal:
        """Open (or create) the journal at ``path`` and bring its schema up to date.

        A damaged file is renamed aside (``<name>.corrupt-<time>``) and StorageError raised; it is
        never silently replaced.  While such a file lies next to ``path`` no fresh journal is
        created either (a fresh counter would reuse txns) unless a technician passes
        ``allow_after_corruption=True`` after recovering what it held.
        """
        p = Path(path)
        if not (len(terminal_id) == 8 and terminal_id.isascii() and terminal_id.isdigit()):
            raise StorageError("The terminal id {value!r} is not 8 digits.", value=terminal_id)
        if keep_days < 90:
            raise StorageError("Journal keep_days {value} is below the 90 days audit requires.",
                               "Set [journal] keep_days to 90 or more.", value=keep_days)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # a file where the folder should be, a read-only card, no permission
            raise StorageError("The journal's folder {dir} cannot be created ({error}).",
                               "Check the storage card and [journal] path; call the technician.",
                               dir=str(p.parent), error=e.strerror or type(e).__name__) from e
        if not p.exists() and not allow_after_corruption:
            aside = sorted(p.parent.glob(p.name + ".corrupt-*"))
            if aside:
                raise StorageError("A damaged journal was set aside as {aside}; no new journal is started.",
                                   "Call the technician to recover it before taking money.",
                                   aside=str(aside[-1]))
        with ExitStack() as undo:  # on any failure: the connection closed, then the lock released
            lock_fd = cls._lock_file(p)
            undo.callback(os.close, lock_fd)
            if not p.exists():
                # a new journal is made, closed and opened again, so that even its first session
                # starts as every later one does: with the WAL laid out (_presize_wal)
                cls._create(p)
            cls._presize_wal(p, min_free_bytes)
            conn = cls._connect(p)
            undo.callback(conn.close)
            cls._check_and_prepare(conn, p)
            journal = cls(conn, p, terminal_id, clock or Clock(), keep_days, min_free_bytes)
            undo.pop_all()  # opened: the journal owns both now
        journal._lock_fd = lock_fd
        return journal

    @staticmethod
    def _connect(p: Path) -> sqlite3.Connection:
        try:
            return sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=5.0)
        except sqlite3.Error as e:
            raise StorageError("The journal {path} cannot be opened ({error}).",
                               "Check the storage card; call the technician.", path=str(p),
                               error=e) from e

    @classmethod
    def _create(cls, p: Path) -> None:
        conn = cls._connect(p)
        try:
            cls._check_and_prepare(conn, p)
        finally:
            conn.close()

    @staticmethod
    def _lock_file(p: Path) -> int:
        """Hold ``<journal>.lock`` (flock, exclusive) while the journal is open: the single-writer
        rule, enforced.  A second program on the same journal would reuse txn numbers; it is
        refused here with a clear error instead.  (A separate file: closing any descriptor of the
        database file itself would drop SQLite's own POSIX locks on it.)"""
        lock_path = p.with_name(p.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise StorageError("The journal lock {path} cannot be opened ({error}).",
                               "Check the storage card; call the technician.", path=str(lock_path),
                               error=e) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StorageError("The journal {path} is in use by another program (process {pid}).",
                                   "Only one terminal program may run: close the other one, or restart "
                                   "the terminal.", path=str(p), pid=holder) from e
            raise StorageError("The journal lock {path} cannot be taken ({error}).",
                               "Check the storage card; call the technician.", path=str(lock_path),
                               error=e) from e
        try:  # for the message above, in the program that finds it taken
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        return fd

    @staticmethod
    def _presize_wal(p: Path, min_free_bytes: int) -> bool:
        """Lay out the WAL file (zeros, fsynced) before SQLite opens it; True when it did.

        Why: a clean close deletes the WAL, and SQLite then grows it again commit by commit; a
        commit that grows the file makes fdatasync also push the file's new size through the
        file system's journal — on ext4 here ~210 µs per such commit against ~137 µs for one
        that overwrites blocks already there (the "limit" and "floor" rows of
        tests/bench/queue.py are the same bare INSERT without and with the lay-out).  A field day is fewer captures than the
        WAL holds, so without this every capture of the day would pay it.  (PostgreSQL
        zero-fills its WAL segments for the same reason.)

        Why it is safe: SQLite reads a WAL whose header is invalid — all zeros — as empty, writes
        its own header at offset 0 and trusts frames only up to the first whose salt and
        checksum fail.  It is done only when there is no WAL at all (after a clean close every
        commit is in the main file; a WAL left by a crash holds commits and is never touched),
        only for a file already in WAL mode, only under the journal lock (no other writer), and
        only with room to spare; the file is created O_EXCL and removed again if anything fails.
        """
        wal = Path(str(p) + "-wal")
        try:
            # (reading the header opens and closes the file: harmless here, as no connection of
            # this process has it open — closing would drop that connection's POSIX locks)
            with p.open("rb") as fh:
                header = fh.read(100)
            if len(header) < 100 or header[18:20] != b"\x02\x02" or wal.exists():
                return False
            st = os.statvfs(p.parent)
            if st.f_bavail * st.f_frsize < WAL_BYTES + min_free_bytes + (16 << 20):
                return False
            fd = os.open(wal, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                         os.stat(p).st_mode & 0o666)
        except OSError:
            return False
        try:
            zeros = memoryview(bytes(1 << 20))
            done = 0
            while done < WAL_BYTES:
                done += os.pwrite(fd, zeros[:WAL_BYTES - done], done)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            wal.unlink(missing_ok=True)
            return False
        os.close(fd)
        return True

    @classmethod
    def from_settings(cls, settings: QueueSettings, *, clock: Clock | None = None) -> Journal:
        """The journal named by :class:`terminal_app.config.Settings` ([journal], [terminal] id)."""
        js = settings.journal
        return cls.open(js.path, settings.terminal.id, clock=clock, keep_days=js.keep_days,
                        min_free_bytes=js.min_free_mb * 1024 * 1024)

    @classmethod
    def _check_and_prepare(cls, conn: sqlite3.Connection, p: Path) -> None:
        try:
            # quick_check reads every page: a torn or overwritten file is caught here, at start,
            # not in the middle of a payment.
            verdict = conn.execute("PRAGMA quick_check").fetchall()
            if verdict != [("ok",)]:
                raise sqlite3.DatabaseError("quick_check: " + "; ".join(str(r[0]) for r in verdict[:3]))
            version = migrations.user_version(conn)
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError as e:
            conn.close()
            aside = cls._set_aside(p)
            raise StorageError("The journal {path} is damaged ({error}); it was kept aside as {aside}.",
                               "Do not take money; call the technician to recover it.",
                               path=str(p), error=e, aside=str(aside)) from e
        if version and app_id != migrations.APPLICATION_ID:
            raise StorageError("The file {path} is not a terminal journal.",
                               "Check [journal] path in the configuration.", path=str(p))
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StorageError("The journal {path} cannot use write-ahead logging (mode {mode}).",
                                   "Check the storage card's file system.", path=str(p), mode=mode)
            conn.execute("PRAGMA synchronous = FULL")
            # after a checkpoint the WAL is truncated back to this size: it never grows without bound
            conn.execute(f"PRAGMA journal_size_limit = {WAL_BYTES}")
            migrations.migrate(conn)
        except ValueError as e:
            raise StorageError("The journal {path} was written by a newer program version ({error}).",
                               "Install the newer version again; do not downgrade.",
                               path=str(p), error=e) from e
        except sqlite3.Error as e:
            raise _storage_error(e, p) from e

    @staticmethod
    def _set_aside(p: Path) -> Path:
        stamp = dt.datetime.now(SHANGHAI).strftime("%Y%m%dT%H%M%S%f")
        aside = p.with_name(f"{p.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(p) + suffix)
            if src.exists():
                os.replace(src, str(aside) + suffix)
        return aside

    def close(self) -> None:
        with self._lock:
            if self._send_hw:
                # a clean stop: every state is exact and becomes durable with this commit, so no
                # pending entry may have left — the next start need not ask about any of them
                try:
                    with self._write("close") as conn:
                        conn.execute("UPDATE meta SET value = 0 WHERE key = 'send_hw'")
                    self._send_hw = 0
                except (StorageError, sqlite3.Error):
                    pass  # the mark stays: the next start asks (TXN_STATUS) a little more
            self._conn.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers
    def pragma(self, name: str) -> Any:
        """Read a PRAGMA on the live connection (tests and diagnostics)."""
        if not name.replace("_", "").isalpha():
            raise ValueError(name)
        with self._lock:
            return self._conn.execute(f"PRAGMA {name}").fetchone()[0]

    def _id(self, txn: str) -> int:
        """The entry id a txn of this terminal names (txn = '<terminal id>-<id>'); 0 for a foreign one."""
        prefix, _, counter = txn.rpartition("-")
        if prefix != self.terminal_id or not counter.isascii() or not counter.isdigit() or len(counter) > 18:
            return 0
        return int(counter)

    def _meta(self, key: str) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: Any) -> None:
        self._set_meta_on(self._conn, key, value)

    @staticmethod
    def _set_meta_on(conn: sqlite3.Connection, key: str, value: Any) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    @contextmanager
    def _write(self, reason: str, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; durable=False commits without its own fsync."""
        with self._lock:
            try:
                if not durable:
                    self._conn.execute("PRAGMA synchronous = NORMAL")
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    yield self._conn
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                finally:
                    if not durable:
                        self._conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as e:
                raise _storage_error(e, self.path) from e
            if durable:
                self.stats.durable_commits += 1
            else:
                self.stats.relaxed_commits += 1
        self.changed.emit(reason)

    def _check_free_space(self) -> None:
        # at most every FREE_SPACE_CHECK_S: a card does not fill by a megabyte between two
        # payments, and a write that does hit a full card is refused by SQLite (SQLITE_FULL) anyway
        now = time.monotonic()
        if now < self._space_ok_until:
            return
        try:
            st = os.statvfs(self._dir)
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        if free < self.min_free_bytes:
            raise StorageError("Storage is almost full ({free} bytes left): the operation was NOT recorded.",
                               "Do not take money now; call the technician to free storage.", free=free)
        self._space_ok_until = now + FREE_SPACE_CHECK_S

    # ------------------------------------------------------------------ capture
    def capture(self, kind: str, msg_type: int, body: bytes, depends_on: str | None = None) -> Entry:
        """Journal one operation and return it, committed and fsynced.

        ``body`` is the operation's encoded body, one JSON object (the caller encodes it with the
        core's codec, which refuses floats and whatever else GT/1 cannot carry).  Assigns the txn
        ``<terminal id>-<counter>`` and stores the body with ``"txn"`` first.
        Call this BEFORE taking money, printing or sending: if it raises, nothing happened.
        """
        rest = _check_body(body)
        if not kind or not 0 <= int(msg_type) <= 0xFFFF:
            raise LocalProtocolError("Journal kind {kind!r} / message type {msg_type} is not valid.",
                                     kind=kind, msg_type=msg_type)
        if len(rest) + 40 > MAX_BODY_BYTES:
            raise LocalProtocolError("The operation is too large to send ({size} bytes).", size=len(rest))
        self._check_free_space()
        with self._lock:  # the hot path, written out: it is the one every payment waits for
            conn = self._conn
            counter = self._txn_next
            txn = f"{self.terminal_id}-{counter}"
            # == encode_body({"txn": txn, **body}): compact JSON of an object is its members joined,
            # and the txn needs no escaping (digits and "-"); the unit tests pin the equality
            data = b'{"txn":"' + txn.encode("ascii") + (b'"}' if rest == b"{}" else b'",' + rest[1:])
            at = self.clock.now().astimezone(SHANGHAI)
            try:
                # the dependency cannot vanish before the INSERT: we hold the only writer's lock
                if depends_on is not None and conn.execute(
                        "SELECT 1 FROM entries WHERE id = ?", (self._id(depends_on),)).fetchone() is None:
                    raise LocalProtocolError("Operation {txn} depends on {dep}, which is not in the journal.",
                                             txn=txn, dep=depends_on)
                # one statement in autocommit mode is its own transaction: all or nothing, and
                # committed (WAL fsynced, synchronous=FULL) before execute() returns
                conn.execute("INSERT INTO entries (id, kind, msg_type, body, depends_on, captured_at) "
                             "VALUES (?,?,?,?,?,?)", (counter, kind, int(msg_type), data, depends_on, at.isoformat()))
            except sqlite3.Error as e:
                raise _storage_error(e, self.path) from e
            self._txn_next = counter + 1  # only once committed
            self.stats.durable_commits += 1
        self.changed.emit("capture")
        return Entry(id=counter, txn=txn, kind=kind, msg_type=int(msg_type), body=data,
                     depends_on=depends_on, state=EntryState.PENDING, captured_at=at, attempts=0,
                     reply=None, reject_code=None, reject_msg=None, settled_at=None)

    def capture_group(self, kind: str, msg_type: int, bodies: Sequence[bytes],
                      depends_on: str | None = None) -> list[Entry]:
        """Journal several operations in ONE transaction (all or none), in order, each with its own
        txn — the chunks of a photo (terminal_app.services.photo): a crash never leaves part of
        them journaled.  Each body as for :meth:`capture`."""
        return self._capture_many(None, kind, msg_type, lambda _head: bodies, depends_on)[1]

    def capture_with(self, head_kind: str, head_type: int, head_body: bytes, kind: str, msg_type: int,
                     bodies: Callable[[str], Sequence[bytes]]) -> tuple[Entry, list[Entry]]:
        """Journal one operation and those that belong to it in ONE transaction: ``bodies(txn)``
        gives theirs once the head's txn is known, and each ``depends_on`` it — a reading and the
        chunks of its photo: a crash never keeps the reading without its photo, nor the reverse."""
        head, rest = self._capture_many((head_kind, head_type, head_body), kind, msg_type, bodies, None)
        assert head is not None
        return head, rest

    def _capture_many(self, head: tuple[str, int, bytes] | None, kind: str, msg_type: int,
                      bodies: Callable[[str], Sequence[bytes]], depends_on: str | None
                      ) -> tuple[Entry | None, list[Entry]]:
        for k, t in ((kind, msg_type), *(((head[0], head[1]),) if head else ())):
            if not k or not 0 <= int(t) <= 0xFFFF:
                raise LocalProtocolError("Journal kind {kind!r} / message type {msg_type} is not valid.",
                                         kind=k, msg_type=t)
        head_rest = _check_body(head[2]) if head else None
        self._check_free_space()
        at = self.clock.now().astimezone(SHANGHAI)
        rows: list[tuple[int, str, str, int, bytes, str | None]] = []
        with self._lock:  # (an RLock) held until _txn_next has moved past the committed ids
            counter = self._txn_next
            specs: list[tuple[str, int, bytes, str | None]] = []
            if head is not None and head_rest is not None:
                specs.append((head[0], int(head[1]), head_rest, None))
                depends_on = f"{self.terminal_id}-{counter}"
            specs += [(kind, int(msg_type), _check_body(b), depends_on) for b in bodies(depends_on or "")]
            if len(specs) == (1 if head else 0):
                raise LocalProtocolError("Journal kind {kind!r} / message type {msg_type} is not valid.",
                                         kind=kind, msg_type=msg_type)
            for _k, _t, rest, _d in specs:
                if len(rest) + 40 > MAX_BODY_BYTES:
                    raise LocalProtocolError("The operation is too large to send ({size} bytes).", size=len(rest))
            with self._write("capture") as conn:
                if head is None and depends_on is not None and conn.execute(
                        "SELECT 1 FROM entries WHERE id = ?", (self._id(depends_on),)).fetchone() is None:
                    raise LocalProtocolError("Operation {txn} depends on {dep}, which is not in the journal.",
                                             txn=f"{self.terminal_id}-{self._txn_next}", dep=depends_on)
                for k, t, rest, dep in specs:
                    txn = f"{self.terminal_id}-{counter}"
                    data = b'{"txn":"' + txn.encode("ascii") + (b'"}' if rest == b"{}" else b'",' + rest[1:])
                    conn.execute("INSERT INTO entries (id, kind, msg_type, body, depends_on, captured_at) "
                                 "VALUES (?,?,?,?,?,?)", (counter, k, t, data, dep, at.isoformat()))
                    rows.append((counter, txn, k, t, data, dep))
                    counter += 1
            self._txn_next = counter  # only once committed
        entries = [Entry(id=id_, txn=txn, kind=k, msg_type=t, body=data, depends_on=dep, state=EntryState.PENDING,
                         captured_at=at, attempts=0, reply=None, reject_code=None, reject_msg=None, settled_at=None)
                   for id_, txn, k, t, data, dep in rows]
        return (entries[0], entries[1:]) if head is not None else (None, entries)

    # ------------------------------------------------------------------ reading
    def get(self, txn: str) -> Entry | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE id = ?", (self._id(txn),)).fetchone()
        return None if row is None else _row_to_entry(self.terminal_id, row)

    def open_entries(self, limit: int | None = None, *, kind: str | None = None, not_kind: str | None = None,
                     doubtful: bool = False) -> list[Entry]:
        """Entries not yet settled, in capture order; only those of ``kind``, or all but ``not_kind``
        (the sync engine's photo lane keeps its many large chunks out of the money lane's reads), or
        only the doubtful ones (in flight or unknown)."""
        sql = f"SELECT {_COLUMNS} FROM entries WHERE id >= ? AND state IN {_OPEN_SQL}"
        params: list[Any] = [self._open_floor]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if not_kind is not None:
            sql += " AND kind != ?"
            params.append(not_kind)
        if doubtful:
            sql += f" AND state IN ('{EntryState.IN_FLIGHT.value}', '{EntryState.UNKNOWN.value}')"
        sql += " ORDER BY id"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        filtered = kind is not None or not_kind is not None or doubtful
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
            if not filtered:  # what was found is where the open entries start now
                self._open_floor = rows[0][0] if rows else self._txn_next
        return [_row_to_entry(self.terminal_id, r) for r in rows]

    def entries(self, states: Iterable[EntryState] | None = None) -> list[Entry]:
        with self._lock:
            if states is None:
                rows = self._conn.execute(f"SELECT {_COLUMNS} FROM entries ORDER BY id").fetchall()
            else:
                wanted = [EntryState(s).value for s in states]
                marks = ",".join("?" * len(wanted))
                rows = self._conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE state IN ({marks}) ORDER BY id",
                                          wanted).fetchall()
        return [_row_to_entry(self.terminal_id, r) for r in rows]

    def count(self) -> int:
        """How many entries the journal holds (any state)."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM entries").fetchone()[0])

    def states_of(self, txns: Iterable[str]) -> dict[str, EntryState]:
        txns = list(txns)
        out: dict[str, EntryState] = {}
        with self._lock:
            for i in range(0, len(txns), 500):
                chunk = txns[i:i + 500]
                marks = ",".join("?" * len(chunk))
                for id_, state in self._conn.execute(
                        f"SELECT id, state FROM entries WHERE id IN ({marks})", [self._id(t) for t in chunk]):
                    out[f"{self.terminal_id}-{id_}"] = EntryState(state)
        return out

    def status(self) -> QueueStatus:
        with self._lock:
            counts = dict(self._conn.execute(
                f"SELECT state, count(*) FROM entries WHERE id >= ? AND state IN {_OPEN_SQL} GROUP BY state",
                (self._open_floor,)).fetchall())
            parked = self._conn.execute("SELECT count(*) FROM entries WHERE state = 'rejected'").fetchone()[0]
            oldest = self._conn.execute(
                f"SELECT captured_at FROM entries WHERE id >= ? AND state IN {_OPEN_SQL} ORDER BY id LIMIT 1",
                (self._open_floor,)).fetchone()
            last_ok = self._meta("last_success_at")
            last_err = self._meta("last_error")
            last_err_at = self._meta("last_error_at")
        oldest_at = dt.datetime.fromisoformat(oldest[0]) if oldest else None
        return QueueStatus(
            depth=sum(counts.get(s.value, 0) for s in OPEN),
            unknown=counts.get("unknown", 0) + counts.get("in_flight", 0),
            parked=int(parked),
            oldest_pending_at=oldest_at,
            oldest_pending_age=(self.clock.now() - oldest_at) if oldest_at else None,
            last_success_at=dt.datetime.fromisoformat(last_ok) if last_ok else None,
            last_error=last_err,
            last_error_at=dt.datetime.fromisoformat(last_err_at) if last_err_at else None,
        )

    # ------------------------------------------------------------------ sync steps
    def mark_in_flight(self, txns: Sequence[str], seqs_needed: int = 0) -> None:
        """Before the send: the batch becomes in_flight (so a crash or a lost reply makes it
        "outcome unknown", resolved with TXN_STATUS), in one transaction that also moves the
        durable marks when the batch reaches them — the send mark past its last entry, the seq
        mark past the next ``seqs_needed`` messages (so the client's reserve() needs no fsync).
        Fsynced only when a mark moves (see the module docstring)."""
        ids = [self._id(t) for t in txns]
        # (read without the lock: only the sync engine sends, one drain at a time; should another
        # thread reserve seqs meanwhile, reserve() moves the seq mark itself, durably)
        need_send = max(ids, default=0) + 1
        send_moves = need_send > self._send_hw
        seq_moves = seqs_needed > 0 and self._seq_next + seqs_needed > self._seq_hw
        new_seq = new_send = None
        with self._write("in_flight", durable=send_moves or seq_moves) as conn:
            sql = (f"UPDATE entries SET state = '{EntryState.IN_FLIGHT.value}', attempts = attempts + 1 "
                   f"WHERE id = ? AND state IN {_GUARD_SQL[Event.SEND]}")
            for txn, id_ in zip(txns, ids, strict=True):
                if conn.execute(sql, (id_,)).rowcount != 1:
                    raise illegal(txn, self._state_on(conn, id_), Event.SEND)
            if seq_moves:
                new_seq = self._raise_seq_hw(conn, self._seq_next + seqs_needed)
            if send_moves:
                new_send = need_send + SEND_BLOCK
                conn.execute("UPDATE meta SET value = ? WHERE key = 'send_hw'", (new_send,))
        # live only once committed
        if new_seq is not None:
            self._seq_hw = new_seq
        if new_send is not None:
            self._send_hw = new_send

    def settle(self, settlements: Sequence[Settlement], *, success: bool | None = None,
               error: str | None = None) -> None:
        """Record an exchange's outcomes in ONE transaction (relaxed durability, see the module
        docstring).  ``success`` True stamps the last successful sync; ``error`` the last error."""
        now = self.clock.now().astimezone(SHANGHAI)
        with self._write("settle", durable=False) as conn:
            for s in settlements:
                state = EntryState(s.state)
                event = SETTLE_EVENT[state]
                reply = _ENCODE_REPLY(s.reply).encode("utf-8") if s.reply is not None else None
                id_ = self._id(s.txn)
                if state in (EntryState.APPLIED, EntryState.REJECTED):
                    cur = conn.execute(
                        "UPDATE entries SET state = ?, reply = ?, reject_code = ?, reject_msg = ?, "
                        f"settled_at = ?, settled_epoch = ? WHERE id = ? AND state IN {_GUARD_SQL[event]}",
                        (state.value, reply, s.code, s.msg, now.isoformat(), int(now.timestamp()), id_))
                else:
                    cur = conn.execute(f"UPDATE entries SET state = ? WHERE id = ? AND state IN {_GUARD_SQL[event]}",
                                       (state.value, id_))
                if cur.rowcount != 1:
                    raise illegal(s.txn, self._state_on(conn, id_), event)
            if success:
                self._set_meta("last_success_at", now.isoformat())
            if error is not None:
                self._set_meta("last_error", error[:500])
                self._set_meta("last_error_at", now.isoformat())

    @staticmethod
    def _state_on(conn: sqlite3.Connection, id_: int) -> EntryState | None:
        row = conn.execute("SELECT state FROM entries WHERE id = ?", (id_,)).fetchone()
        return None if row is None else EntryState(row[0])

    def record_error(self, error: str) -> None:
        self.settle([], error=error)

    def recover_in_flight(self) -> int:
        """Entries an earlier run may have sent become ``unknown`` — TXN_STATUS decides before
        anything is resent: those left ``in_flight``, and those ``pending`` below the durable send
        mark (their in-flight mark was lost to a power cut).  Runs at open; returns how many.
        Afterwards no pending entry can have left, so the send mark starts again from 0."""
        with self._lock:
            doubtful = self._conn.execute(
                "SELECT EXISTS (SELECT 1 FROM entries WHERE id >= ? AND (state = 'in_flight' "
                "OR (state = 'pending' AND id < ?)))", (self._open_floor, self._send_hw)).fetchone()[0]
            if not doubtful and not self._send_hw:
                return 0
            with self._write("recover") as conn:
                n = conn.execute("UPDATE entries SET state = 'unknown' WHERE id >= ? AND (state = 'in_flight' "
                                 "OR (state = 'pending' AND id < ?))", (self._open_floor, self._send_hw)).rowcount
                conn.execute("UPDATE meta SET value = 0 WHERE key = 'send_hw'")
            self._send_hw = 0
        return n

    # ------------------------------------------------------------------ seq counter
    def _raise_seq_hw(self, conn: sqlite3.Connection, needed: int) -> int | None:
        """Within a write transaction: move the durable mark past ``needed``; returns the new mark
        (the caller makes it live after the commit) or None when the mark already covers it."""
        if needed <= self._seq_hw:
            return None
        if needed > MAX_SEQ + 1:
            raise StorageError("The message counter is exhausted.",
                               "Call the technician to re-key the terminal (handheld provision --key enter).")
        hw = min(needed + SEQ_BLOCK, MAX_SEQ + 1)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'seq_hw'", (hw,))
        return hw

    def seq_counter(self) -> JournalSeqCounter:
        return JournalSeqCounter(self)

    def _reserve_seq(self, n: int) -> range:
        with self._lock:
            start = self._seq_next
            if start + n > self._seq_hw:
                with self._write("seq") as conn:
                    hw = self._raise_seq_hw(conn, start + n)
                if hw is not None:
                    self._seq_hw = hw
            self._seq_next = start + n
            return range(start, start + n)

    def restart_seq(self) -> None:
        """Start the GT/1 message counter again at 1 — only for a NEW terminal key (re-key): a seq
        is unique per key, and a terminal whose counter neared 2**32 − 1 goes on this way
        (docs/operations.md, "Re-key a terminal"; ``handheld provision`` calls it)."""
        with self._lock:
            with self._write("seq") as conn:
                conn.execute("UPDATE meta SET value = 1 WHERE key = 'seq_hw'")
            self._seq_next = self._seq_hw = 1

    def _move_seq_past(self, last_seq: int) -> None:
        with self._lock:
            nxt = max(self._seq_next, last_seq + 1)
            if nxt > self._seq_hw:
                with self._write("seq") as conn:
                    hw = self._raise_seq_hw(conn, nxt)
                if hw is not None:
                    self._seq_hw = hw
            self._seq_next = nxt

    # ------------------------------------------------------------------ pruning
    def prune(self) -> int:
        """Delete settled entries older than ``keep_days``; returns how many."""
        cutoff = int((self.clock.now() - dt.timedelta(days=self.keep_days)).timestamp())
        with self._write("prune", durable=False) as conn:
            n = conn.execute("DELETE FROM entries WHERE settled_epoch IS NOT NULL AND settled_epoch < ? "
                             "AND state IN ('applied', 'rejected')", (cutoff,)).rowcount
            self._set_meta("last_prune_at", self.clock.now().astimezone(SHANGHAI).isoformat())
        if n:
            # the freed pages go on SQLite's free list and are reused by the next captures, so the
            # file settles at about keep_days of work (no auto_vacuum: its pointer-map pages would
            # cost every capture an extra WAL frame); the WAL is cut back to zero here
            with self._lock:
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as e:
                    raise _storage_error(e, self.path) from e
        return n

    def prune_if_due(self, every: dt.timedelta = dt.timedelta(days=1)) -> int:
        with self._lock:
            last = self._meta("last_prune_at")
        if last and self.clock.now() - dt.datetime.fromisoformat(last) < every:
            return 0
        return self.prune()


@dataclass
class JournalSeqCounter:
    """The GT/1 message counter kept in the journal (terminal_app.station.transport.SeqCounter).

    The durable value is a high-water mark: every seq below it may have been used.  reserve()
    hands out seqs below the mark without touching the disk, and moves the mark (one fsync,
    ``SEQ_BLOCK`` ahead) only when it runs out — so a seq is never used twice, even after a
    power cut, and a restart merely skips the unused rest of the block.
    """

    journal: Journal

    def reserve(self, n: int = 1) -> range:
        if n < 1:
            raise ValueError("reserve at least one seq")
        return self.journal._reserve_seq(n)

    def move_past(self, last_seq: int) -> None:
        self.journal._move_seq_past(int(last_seq))
