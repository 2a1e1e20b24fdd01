"""Byte links a simulated device is reached over: the device side of a pty, or a TCP port.

A client opens the pty's stable symlink (or ``socket://127.0.0.1:PORT``) exactly as it opens a
real device, so the production driver and its pyserial URL handling are what get exercised.

Also: :class:`WirePacer`, which releases bytes no faster than a serial line at a given baud
rate would carry them, and :class:`DeviceThread`, the start/stop lifecycle every mock shares.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pty
import select
import socket
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Self


class LinkClosed(Exception):
    """The peer went away (TCP) or the link was closed locally."""


class _OpenWatch:
    """Wakes a thread when a client opens a device file: inotify ``IN_OPEN`` on Linux (through
    libc), else a short sleep.  ``wait`` returns on an open, on :meth:`wake`, or at ``fallback_s``
    when inotify is not available."""

    IN_OPEN = 0x20

    def __init__(self, path: str) -> None:
        self._fd = -1
        self._wake_r, self._wake_w = os.pipe()
        try:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd >= 0 and libc.inotify_add_watch(fd, os.fsencode(path), self.IN_OPEN) < 0:
                os.close(fd)
                fd = -1
            self._fd = fd
        except (OSError, AttributeError):
            self._fd = -1

    def wait(self, stop: threading.Event, fallback_s: float) -> None:
        if self._fd < 0:
            stop.wait(fallback_s)
            return
        r, _, _ = select.select([self._fd, self._wake_r], [], [], 1.0)
        if self._fd in r:
            with contextlib.suppress(BlockingIOError):
                os.read(self._fd, 4096)  # the events themselves say nothing more

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def close(self) -> None:
        for fd in (self._fd, self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._wake_r = self._wake_w = -1


class PtyLink:
    """The device side (master) of a pseudo-terminal; clients open :attr:`path`.

    Like a real serial port, the pty can be opened, configured (1200 8E1 …), closed and opened
    again any number of times.  That takes care on Linux: a pty whose slave a client configured
    and closed keeps the client's line settings, and current kernels then refuse to set even
    parity again at an unchanged speed (``termios.error`` 22 on the next open — field-facts,
    "Learned the hard way").  So the link restores its own line settings (raw, the pty's default
    speed) after every client close: a watcher thread waits for the hang-up the master sees when
    the last client closes the slave and puts the settings back through the master (on Linux a
    master's termios calls act on its slave).  Nothing a client wrote is lost by the close: the
    master still reads it before the hang-up shows.  The slave is not held open here, or no
    close could ever be seen.
    """

    #: how often the watcher looks for a client while none has the port open (without inotify)
    IDLE_POLL_S = 0.01

    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        self.master, slave = pty.openpty()
        try:
            tty.setraw(slave)  # no echo or line editing before a client sets its own mode
            self._line = termios.tcgetattr(slave)  # what every client finds on open
            self.slave_name = os.ttyname(slave)
        finally:
            os.close(slave)
        os.set_blocking(self.master, False)
        self.link = Path(link) if link is not None else None
        if self.link is not None:
            tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(self.slave_name, tmp)
            os.replace(tmp, self.link)  # atomic: a client never sees a half-made link
        self._closed = False
        self.restores = 0  # line settings put back after a client close (for tests)
        self._stop = threading.Event()
        self._opens = _OpenWatch(self.slave_name)  # wakes the watcher when a client opens the port
        self._watcher = threading.Thread(target=self._watch, name=f"pty-line-{self.slave_name}", daemon=True)
        self._watcher.start()

    @property
    def path(self) -> str:
        return str(self.link) if self.link is not None else self.slave_name

    def fileno(self) -> int:
        return self.master

    def _hung_up(self, timeout: float) -> bool:
        """True when no client has the slave open (the master sees POLLHUP); waits up to
        ``timeout`` seconds for that."""
        p = select.poll()
        p.register(self.master, 0)  # hang-up and errors are always reported
        return any(ev & (select.POLLHUP | select.POLLERR) for _fd, ev in p.poll(timeout * 1000))

    def _watch(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._hung_up(0.1):
                    continue  # a client has the port open: wait for its close
                if termios.tcgetattr(self.master) != self._line:
                    termios.tcsetattr(self.master, termios.TCSANOW, self._line)
                    self.restores += 1
                # no client: sleep until one opens the port (nothing to block on in the master)
                self._opens.wait(self._stop, self.IDLE_POLL_S)
        except (OSError, termios.error, ValueError):
            if not self._closed:
                raise
        finally:
            self._opens.close()

    def read(self, size: int = 4096, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes; ``b""`` when nothing arrived within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._closed:
                raise LinkClosed()
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            r, _, _ = select.select([self.master], [], [], left)
            if not r:
                return b""
            try:
                return os.read(self.master, size)
            except BlockingIOError:
                return b""
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
            # EIO: no client has the port open (and everything it wrote was read): wait for one
            if deadline is not None and time.monotonic() >= deadline:
                return b""
            self._stop.wait(self.IDLE_POLL_S if left is None else min(self.IDLE_POLL_S, left))

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._closed:
                raise LinkClosed()
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                select.select([], [self.master], [], 0.05)
                continue
            view = view[n:]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._opens.wake()
        if self._watcher is not threading.current_thread():
            self._watcher.join(5)
        if self.link is not None and self.link.is_symlink() and os.readlink(self.link) == self.slave_name:
            self.link.unlink()
        try:
            os.close(self.master)
        except OSError:
            pass


class TcpLink:
    """A device reachable at ``socket://127.0.0.1:PORT``: one client at a time, like a cable."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.05)
        self.port = self._server.getsockname()[1]
        self.host = host
        self._conn: socket.socket | None = None
        self._closed = False

    @property
    def path(self) -> str:
        return f"socket://{self.host}:{self.port}"

    def _accept(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._conn is None:
            if self._closed:
                raise LinkClosed()
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, BlockingIOError):
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conn = conn
        return True

    def read(self, size: int = 4096, timeout: float | None = None) -> bytes:
        if not self._accept(timeout):
            return b""
        assert self._conn is not None
        r, _, _ = select.select([self._conn], [], [], timeout)
        if not r:
            return b""
        try:
            data = self._conn.recv(size)
        except OSError:
            data = b""
        if not data:  # the client hung up: wait for the next one
            self._drop()
        return data

    def write(self, data: bytes) -> None:
        if self._conn is None:
            return  # nobody listening: bytes on an unplugged cable are lost
        try:
            self._conn.sendall(data)
        except OSError:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._closed = True
        self._drop()
        self._server.close()


Link = PtyLink | TcpLink


def serial_byte_time(baudrate: int, bits_per_byte: int = 11) -> float:
    """Seconds one byte takes on the line (8E1 = start + 8 + parity + stop = 11 bits)."""
    return bits_per_byte / baudrate


class WirePacer:
    """Writes bytes no faster than the serial line would carry them."""

    def __init__(self, link: Link, baudrate: int | None, bits_per_byte: int = 11) -> None:
        self.link = link
        self.byte_time = serial_byte_time(baudrate, bits_per_byte) if baudrate else 0.0

    def write(self, data: bytes, stop: threading.Event | None = None) -> None:
        if not self.byte_time:
            self.link.write(data)
            return
        start = time.monotonic()
        # small bursts, each released when the line would have finished carrying its last byte:
        # the receiver never has a byte earlier than a real serial line could deliver it
        burst = max(1, int(0.02 / self.byte_time))
        for i in range(0, len(data), burst):
            chunk = data[i:i + burst]
            delay = start + (i + len(chunk)) * self.byte_time - time.monotonic()
            if delay > 0:
                if stop is not None:
                    if stop.wait(delay):
                        return
                else:
                    time.sleep(delay)
            self.link.write(chunk)


class DeviceThread:
    """Runs a mock's ``step(stop_event)`` loop in a daemon thread; a context manager.

    ``step`` should return within ~50 ms when nothing happens so :meth:`stop` is prompt.
    """

    def __init__(self, name: str, step: Callable[[threading.Event], None],
                 on_close: Callable[[], None] | None = None) -> None:
        self._stop = threading.Event()
        self._step = step
        self._on_close = on_close
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._step(self._stop)
        except LinkClosed:
            pass
        except BaseException as e:  # surfaced by stop() so tests see mock crashes
            self.error = e

    def start(self) -> DeviceThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self._on_close is not None:
            self._on_close()
        if self.error is not None:
            err, self.error = self.error, None
            raise RuntimeError(f"mock {self._thread.name} crashed") from err

    def __enter__(self) -> DeviceThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PtyDevice:
    """A mock device on a pseudo-terminal run by a :class:`DeviceThread`: ``start()`` opens the pty
    (at ``link``, a symlink path, or anywhere) and runs ``_step``; ``stop()`` ends it (``_shutdown``
    after); a context manager.  Subclasses set ``thread_name`` and write ``_step`` / ``_shutdown``;
    ``_starting`` runs once the pty exists, before the thread."""

    thread_name = "mock"

    def __init__(self, link: str | os.PathLike[str] | None = None) -> None:
        self._link_path = link
        self._link: PtyLink | None = None
        self._thread: DeviceThread | None = None

    @property
    def path(self) -> str:
        assert self._link is not None, "start the mock first"
        return self._link.path

    def _starting(self) -> None:
        pass

    def _step(self, stop: threading.Event) -> None:
        raise NotImplementedError

    def _shutdown(self) -> None:
        pass

    def start(self) -> Self:
        self._link = PtyLink(self._link_path)
        self._starting()
        self._thread = DeviceThread(self.thread_name, self._step, self._shutdown)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            thread, self._thread = self._thread, None
            thread.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
