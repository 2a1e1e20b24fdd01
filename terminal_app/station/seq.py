"""A durable GT/1 message counter kept in one small file (diagnostics, tests, single-app use).

GT/1 forbids using a seq twice with one key, even across a crash or a pulled battery
(station-protocol.md, "Sequence numbers and replay").  So :meth:`FileSeqCounter.reserve`
writes the new high-water mark to a temporary file, fsyncs it, atomically renames it over the
counter file and fsyncs the directory — only then does it hand out the numbers.  A crash can
lose reserved-but-unused numbers (a gap the station accepts) but never reuse one.

The file holds the last reserved seq as decimal ASCII.  An ``fcntl`` lock on a sibling
``.lock`` file serialises processes sharing the file (the app and ``handheld diag link``).
The journal provides its own SeqCounter inside its database later.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from terminal_app.errors import StorageError

MAX_SEQ = 0xFFFFFFFF  # seq is a uint32 on the wire


class FileSeqCounter:
    """SeqCounter backed by a file; safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._mutex = threading.Lock()

    def _read(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as e:
            raise StorageError("The message counter file {path} cannot be read.",
                               "Do not take money now; call the technician.", path=str(self.path)) from e
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_SEQ:
            raise StorageError("The message counter file {path} is corrupt.",
                               "Do not take money now; call the technician (re-provision the terminal).",
                               path=str(self.path))
        return int(text)

    def _write(self, value: int) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, f"{value}\n".encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)  # the rename itself must survive power loss
            finally:
                os.close(dfd)
        except OSError as e:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            raise StorageError("The message counter file {path} cannot be written ({error}).",
                               "Do not take money now; check free space, then call the technician.",
                               path=str(self.path), error=e) from e

    def _locked(self) -> _FileLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StorageError("The message counter lock {path} cannot be opened ({error}).",
                               "Check that {dir} exists and is writable.", path=str(self._lock_path),
                               dir=str(self.path.parent), error=e) from e
        return _FileLock(fd)

    def current(self) -> int:
        """The last seq handed out (0 when none yet)."""
        with self._mutex, self._locked():
            return self._read()

    def reserve(self, n: int = 1) -> range:
        """``n`` fresh seqs, durable on disk before this returns."""
        if n < 1:
            raise ValueError("reserve at least one seq")
        with self._mutex, self._locked():
            last = self._read()
            if last + n > MAX_SEQ:
                raise StorageError("The GT/1 message counter is exhausted.",
                                   "Call the technician to re-key the terminal (handheld provision --key enter).")
            self._write(last + n)
            return range(last + 1, last + n + 1)

    def restart(self) -> None:
        """Start again at 1 — only for a NEW terminal key (re-key): seqs are unique per key."""
        with self._mutex, self._locked():
            self._write(0)

    def move_past(self, last_seq: int) -> None:
        """Make the next seq greater than ``last_seq`` (the station's E_REPLAY hint)."""
        if not 0 <= last_seq <= MAX_SEQ:
            raise ValueError("last_seq out of range")
        with self._mutex, self._locked():
            if self._read() < last_seq:
                self._write(last_seq)


class _FileLock:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> _FileLock:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
