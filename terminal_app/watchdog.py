"""Tell systemd the terminal is up and still alive: ``sd_notify`` over ``$NOTIFY_SOCKET``.

The packaged unit (packaging/systemd/handheld.service) is ``Type=notify`` with ``WatchdogSec=``: systemd
waits for ``READY=1`` before it counts the service as started, and restarts it when no
``WATCHDOG=1`` arrives for WatchdogSec.  The ping must come from the UI's EVENT LOOP (not from a
helper thread): a loop hung on a blocking call then stops pinging, and systemd restarts it.

The protocol is a few lines (sd_notify(3)): one datagram of ``KEY=VALUE`` lines to the unix socket
named by ``$NOTIFY_SOCKET`` (``@`` first = abstract namespace).  ``$WATCHDOG_USEC`` gives the
timeout; when ``$WATCHDOG_PID`` is set the watchdog is meant for that process only
(sd_watchdog_enabled(3)).  The console launcher unsets it, because the main PID systemd knows is
fbterm's, and the unit says ``NotifyAccess=all``.  Without ``$NOTIFY_SOCKET`` (a technician's
shell, the tests, --simulate) every call is a cheap no-op.

How the UI hooks it (urwid's MainLoop, duck-typed: this module never imports urwid)::

    from terminal_app.watchdog import Watchdog
    dog = Watchdog.from_env()
    dog.attach(loop)                 # re-arming loop.set_alarm_in(dog.interval, …) that pings
    dog.ready("抄表 ready")           # once the first screen is drawn
    loop.run()
    dog.stopping()                   # on an orderly exit

Any other loop calls :meth:`Watchdog.ping` at least every :attr:`Watchdog.interval` seconds
(calls in between are throttled, so calling it on every key press is fine).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: the interval used when systemd asks for no watchdog (attach() still re-arms, cheaply)
IDLE_INTERVAL_S = 10.0
#: longest text sent in STATUS= (the status line of ``systemctl status``)
MAX_STATUS = 200


class _AlarmLoop(Protocol):
    def set_alarm_in(self, sec: float, callback: Callable[..., Any], user_data: Any = None) -> Any: ...


class Watchdog:
    """sd_notify for one process; every method is a no-op when systemd did not ask for it."""

    def __init__(self, notify_socket: str | None, watchdog_usec: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.address: str | None = None
        if notify_socket:
            # '@' = Linux abstract namespace (sd_notify(3)); only unix sockets are accepted here
            self.address = "\0" + notify_socket[1:] if notify_socket.startswith("@") else notify_socket
            if not (notify_socket.startswith("/") or notify_socket.startswith("@")):
                log.warning("NOTIFY_SOCKET %r is not a unix socket path; systemd notifications are off",
                            notify_socket)
                self.address = None
        self.watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._clock = clock
        self._last_ping: float | None = None
        self.sent: int = 0  # datagrams sent (tests and diagnostics)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, pid: int | None = None) -> Watchdog:
        """The watchdog systemd configured for this process (see the module docstring)."""
        env = os.environ if env is None else env
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC", "")
        wd_pid = env.get("WATCHDOG_PID", "")
        mine = not wd_pid or (wd_pid.isdigit() and int(wd_pid) == (os.getpid() if pid is None else pid))
        if raw.isdigit() and mine:
            usec = int(raw)
        return cls(env.get("NOTIFY_SOCKET") or None, usec)

    # ------------------------------------------------------------------ state
    @property
    def enabled(self) -> bool:
        """True when systemd listens (READY/STATUS are delivered)."""
        return self.address is not None

    @property
    def watchdog_enabled(self) -> bool:
        return self.address is not None and self.watchdog_usec is not None

    @property
    def interval(self) -> float:
        """Seconds between pings: half the watchdog timeout, as sd_watchdog_enabled(3) advises."""
        if self.watchdog_usec is None:
            return IDLE_INTERVAL_S
        return max(0.05, self.watchdog_usec / 2_000_000)

    # ------------------------------------------------------------------ messages
    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``KEY=VALUE``) as one datagram; False when nobody listens or it failed.

        Never raises: a lost notification must not take the terminal down (systemd then restarts
        it, which is the watchdog doing its job).
        """
        if self.address is None:
            return False
        payload = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.settimeout(1.0)
                s.connect(self.address)
                s.sendall(payload)
        except OSError as e:
            log.warning("systemd notification failed (%s): %s", fields[0].split("=")[0], e)
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1 (and the first ping): the unit counts as started from now."""
        fields = ["READY=1"]
        if status:
            fields.append("STATUS=" + _one_line(status))
        if self.watchdog_enabled:
            fields.append("WATCHDOG=1")
        ok = self.notify(*fields)
        if ok and self.watchdog_enabled:
            self._last_ping = self._clock()
        return ok

    def ping(self, force: bool = False) -> bool:
        """WATCHDOG=1, at most once per :attr:`interval` unless ``force``; True when one was sent."""
        if not self.watchdog_enabled:
            return False
        now = self._clock()
        if not force and self._last_ping is not None and now - self._last_ping < self.interval:
            return False
        if self.notify("WATCHDOG=1"):
            self._last_ping = now
            return True
        return False

    def status(self, text: str) -> bool:
        """STATUS=… — the line ``systemctl status handheld`` shows (no secrets in it)."""
        return self.notify("STATUS=" + _one_line(text))

    def stopping(self) -> bool:
        """STOPPING=1: an orderly exit has begun."""
        return self.notify("STOPPING=1")

    # ------------------------------------------------------------------ event loops
    def attach(self, loop: _AlarmLoop) -> None:
        """Ping from ``loop`` (anything with urwid's ``set_alarm_in(sec, callback)``), forever.

        The alarm runs inside the loop, so a loop stuck in a callback stops the pings.
        """
        def tick(loop_: Any = None, _data: Any = None) -> None:
            self.ping(force=True)
            loop.set_alarm_in(self.interval, tick)

        loop.set_alarm_in(self.interval if self.watchdog_enabled else IDLE_INTERVAL_S, tick)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:MAX_STATUS]


__all__ = ["IDLE_INTERVAL_S", "Watchdog"]
