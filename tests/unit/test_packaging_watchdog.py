"""terminal_app.watchdog speaks sd_notify to a real unix datagram socket, like systemd's."""

from __future__ import annotations

import os
import socket

import pytest

from terminal_app.watchdog import IDLE_INTERVAL_S, Watchdog


@pytest.fixture
def notify_socket(tmp_path):
    """A listening NOTIFY_SOCKET, as systemd binds it; yields (path, receive)."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)

    def receive() -> list[str]:
        return sock.recv(4096).decode("utf-8").split("\n")

    try:
        yield path, receive
    finally:
        sock.close()


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_ready_status_and_watchdog_reach_the_socket(notify_socket):
    path, receive = notify_socket
    dog = Watchdog.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"})
    assert dog.enabled and dog.watchdog_enabled and dog.interval == 15.0
    assert dog.ready("抄表  ready\nnow")
    assert receive() == ["READY=1", "STATUS=抄表 ready now", "WATCHDOG=1"]  # one line, no newline injection
    assert dog.ping(force=True)
    assert receive() == ["WATCHDOG=1"]
    assert dog.stopping()
    assert receive() == ["STOPPING=1"]


def test_pings_are_throttled_to_half_the_timeout(notify_socket):
    path, receive = notify_socket
    clock = FakeClock()
    dog = Watchdog(path, 2_000_000, clock=clock)  # WatchdogSec=2 → ping every 1 s
    assert dog.ping()
    assert not dog.ping()  # at once again: nothing sent
    clock.t += 0.99
    assert not dog.ping()
    clock.t += 0.02
    assert dog.ping()
    assert receive() == ["WATCHDOG=1"] and receive() == ["WATCHDOG=1"]
    assert dog.sent == 2


def test_abstract_namespace_socket():
    name = f"handheld-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        assert Watchdog.from_env({"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


@pytest.mark.parametrize("env, enabled, watchdog", [
    ({}, False, False),  # a technician's shell, the tests, --simulate
    ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "0"}, True, False),
    ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}, True, False),  # for another pid
    ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "42"}, True, True),
    ({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "junk"}, True, False),
    ({"NOTIFY_SOCKET": "localhost:9", "WATCHDOG_USEC": "5000000"}, False, False),  # not a unix socket
])
def test_what_the_environment_asks_for(env, enabled, watchdog):
    dog = Watchdog.from_env(env, pid=42)
    assert (dog.enabled, dog.watchdog_enabled) == (enabled, watchdog)


def test_without_systemd_everything_is_a_quiet_no_op():
    dog = Watchdog.from_env({})
    assert not dog.ready("x") and not dog.ping(force=True) and not dog.status("x") and not dog.stopping()
    assert dog.interval == IDLE_INTERVAL_S and dog.sent == 0


def test_a_vanished_socket_never_raises(tmp_path):
    dog = Watchdog(str(tmp_path / "gone"), 1_000_000)
    assert dog.ready() is False and dog.ping(force=True) is False


def test_attach_pings_from_the_loop_and_rearms(notify_socket):
    """The alarm runs in the loop: each tick pings and re-arms, so a hung loop stops the pings."""
    path, receive = notify_socket

    class Loop:  # urwid.MainLoop's alarm interface
        def __init__(self) -> None:
            self.alarms: list[tuple[float, object]] = []

        def set_alarm_in(self, sec, callback, user_data=None):
            self.alarms.append((sec, callback))
            return len(self.alarms)

    loop = Loop()
    dog = Watchdog(path, 4_000_000)
    dog.attach(loop)
    assert loop.alarms[0][0] == 2.0
    for n in range(3):  # the loop fires its alarms
        sec, callback = loop.alarms[-1]
        callback(loop, None)
        assert receive() == ["WATCHDOG=1"]
        assert len(loop.alarms) == n + 2 and loop.alarms[-1][0] == 2.0
