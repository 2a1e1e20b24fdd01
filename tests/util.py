"""Test helpers: wait on a condition (never sleep to synchronise), free ports, key files."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(cond: Callable[[], T], timeout: float = 5.0, interval: float = 0.01, what: str = "") -> T:
    """Poll ``cond`` until it returns a truthy value; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or cond!r}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_key_file(path: Path, key: bytes) -> Path:
    path.write_text(key.hex() + "\n", encoding="ascii")
    os.chmod(path, 0o600)
    return path
