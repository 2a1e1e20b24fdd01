"""Shared fixtures, and the lifecycle check every test runs under.

After each test no thread, socket or pseudo-terminal it opened may still be alive (pymodbus's
``system_health_check`` idea): a leaked driver or mock fails the test that leaked it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _open_resources() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:") or target.startswith("/dev/pts/") or target == "/dev/ptmx":
            found.add(f"{fd}->{target}")
    return found


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive() and not t.name.startswith("pytest_timeout")}


@pytest.fixture(autouse=True)
def system_health_check(request):
    threads_before = _threads()
    fds_before = _open_resources()
    yield
    if request.node.get_closest_marker("allow_leaks"):
        return
    deadline = time.monotonic() + 15.0  # a thread still winding down on a busy machine is not a leak
    while True:
        leaked_threads = _threads() - threads_before
        leaked_fds = _open_resources() - fds_before
        if not leaked_threads and not leaked_fds:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    problems = []
    if leaked_threads:
        problems.append("threads: " + ", ".join(sorted(t.name for t in leaked_threads)))
    if leaked_fds:
        problems.append("sockets/ptys: " + ", ".join(sorted(leaked_fds)))
    pytest.fail("test leaked " + "; ".join(problems), pytrace=False)


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_leaks: the test deliberately leaves resources (explain why)")


# ---------------------------------------------------------------------- PostgreSQL (issue 21)

@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory):
    """A real throwaway PostgreSQL cluster for the session (initdb, Unix socket, a free port);
    skipped, with the reason, only where PostgreSQL's server binaries are not installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError as e:  # it is in the lock (the station extra): a venv without it is out of date
        pytest.fail(f"psycopg is not installed ({e}): bash packaging/bootstrap.sh setup")
    from tests.rigs import pgcluster

    why = pgcluster.missing()
    if why:
        if os.environ.get("HANDHELD_REQUIRE_PG"):  # CI installs PostgreSQL: not finding it is a failure
            pytest.fail(f"HANDHELD_REQUIRE_PG is set but {why}")
        pytest.skip(why)
    with pgcluster.ThrowawayCluster(tmp_path_factory.mktemp("pgcluster")) as cluster:
        yield cluster


@pytest.fixture
def pg_dsn(pg_cluster):
    """A PostgreSQL URL of a fresh, empty schema of the session's cluster (one per test)."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {name}")
    return pg_cluster.dsn() + f"&options=-csearch_path%3D{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_target(request, tmp_path):
    """Where a test's station ledger lives: an SQLite file, then a PostgreSQL schema — the same
    test on both databases."""
    if request.param == "sqlite":
        return str(tmp_path / "station.sqlite")
    return request.getfixturevalue("pg_dsn")
